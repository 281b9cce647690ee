"""`make demo`: the local cluster, the operator, the examples, and a live view
of `kubectl get ms` until every ModelService is Ready."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack" / "localcluster"))

from localcluster.cluster import Cluster  # noqa: E402


def main() -> int:
    cluster = Cluster()
    cluster.up()
    kubectl = [
        str(cluster.layout.bin_link / "kubectl"),
        f"--kubeconfig={cluster.layout.kubeconfig}",
    ]
    subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "crd/modelservices.modelplane.io"],
        check=True,
    )

    operator = cluster.component("operator")
    if not operator.running():
        operator.start(
            [sys.executable, "-m", "modelplane.cli", "operator"],
            env={
                "KUBECONFIG": str(cluster.layout.kubeconfig),
                "MODELPLANE_HEALTH_PORT": "18080",
                "MODELPLANE_METRICS_PORT": "19090",
            },
        )
        print(f"operator started (log: {operator.log_file})")
    subprocess.run([*kubectl, "apply", "-f", str(ROOT / "examples")], check=True)

    print("\nwaiting for every ModelService to be Ready:\n")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        out = subprocess.run([*kubectl, "get", "ms"], capture_output=True, text=True).stdout
        print(out, flush=True)
        wait = subprocess.run(
            [*kubectl, "wait", "ms", "--all", "--for=condition=Ready", "--timeout=1s"],
            capture_output=True,
        )
        if wait.returncode == 0:
            print(subprocess.run([*kubectl, "get", "ms"], capture_output=True, text=True).stdout)
            break
        time.sleep(2)
    else:
        print("not every ModelService became Ready; see `kubectl describe ms`", file=sys.stderr)
        return 1
    print(
        "All Ready. Try next:\n"
        f"  export KUBECONFIG={cluster.layout.kubeconfig} PATH={cluster.layout.bin_link}:$PATH\n"
        "  kubectl scale ms/chat --replicas=3 && kubectl get ms -w\n"
        "  kubectl describe ms chat\n"
        "  make cluster-down   # when done"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
