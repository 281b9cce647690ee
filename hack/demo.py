"""`make demo`: the local cluster, the operator, the examples on simulated GPU
nodes, and the tiny model on real vLLM (CPU) on the process node, ending with
a real completion printed on the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "hack" / "localcluster"), str(ROOT)]

from openai import OpenAI  # noqa: E402
from tests.runtime.models import ensure_tiny_model, vllmenv  # noqa: E402

from localcluster.cluster import Cluster  # noqa: E402

TINY = "tiny-chat"


GATEWAY_PORT = 18000


def tiny_modelservice(model: Path) -> dict[str, object]:
    """The tiny Llama the tests generate, served for real on the process node."""
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": TINY, "namespace": "default"},
        "spec": {
            "model": {"uri": f"file://{model}", "servedName": "tiny"},
            "runtime": {"maxModelLen": 512, "dtype": "float32", "extraArgs": ["--enforce-eager"]},
            "resources": {
                "gpus": 0,
                "nodeSelector": {"modelplane.io/node-kind": "local"},
                "tolerations": [
                    {"key": "modelplane.io/local", "operator": "Exists", "effect": "NoSchedule"}
                ],
            },
        },
    }


def main() -> int:
    cluster = Cluster()
    cluster.up()
    kubectl = [
        str(cluster.layout.bin_link / "kubectl"),
        f"--kubeconfig={cluster.layout.kubeconfig}",
    ]

    def run(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [*kubectl, *args], input=stdin, capture_output=True, text=True, check=True
        ).stdout

    run("apply", "--server-side", "-f", str(ROOT / "crds"))
    run("wait", "--for=condition=Established", "crd/modelservices.modelplane.io")
    gateway = cluster.component("gateway")
    if not gateway.running():
        gateway.start(
            [sys.executable, "-m", "modelplane.cli", "gateway"],
            env={
                "KUBECONFIG": str(cluster.layout.kubeconfig),
                "MODELPLANE_GATEWAY_HOST": "127.0.0.1",
                "MODELPLANE_GATEWAY_PORT": str(GATEWAY_PORT),
                "MODELPLANE_GATEWAY_ADMIN_PORT": "19091",
            },
        )
        print(f"gateway started on 127.0.0.1:{GATEWAY_PORT} (log: {gateway.log_file})")
    operator = cluster.component("operator")
    if not operator.running():
        operator.start(
            [sys.executable, "-m", "modelplane.cli", "operator"],
            env={
                "KUBECONFIG": str(cluster.layout.kubeconfig),
                "MODELPLANE_HEALTH_PORT": "18080",
                "MODELPLANE_METRICS_PORT": "19090",
                "MODELPLANE_GATEWAY_METRICS_URLS": "http://127.0.0.1:19091/metrics",
            },
        )
        print(f"operator started (log: {operator.log_file})")
    print(run("apply", "-f", str(ROOT / "examples")), end="")
    model = ensure_tiny_model(Path(vllmenv.venv_dir()) / "bin" / "python")
    print(run("apply", "-f", "-", stdin=json.dumps(tiny_modelservice(model))), end="")

    print("\nwaiting for every ModelService to be Ready (real vLLM takes a minute or two):\n")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        print(run("get", "ms", "-A"), flush=True)
        done = subprocess.run(
            [*kubectl, "wait", "ms", "-A", "--all", "--for=condition=Ready", "--timeout=1s"],
            capture_output=True,
        )
        if done.returncode == 0:
            break
        time.sleep(10)
    else:
        print("not every ModelService became Ready; see `kubectl describe ms`", file=sys.stderr)
        return 1
    print(run("get", "ms", "-A"))

    ms = json.loads(run("get", "ms", TINY, "-o", "json"))
    slices = json.loads(
        run(
            "get",
            "endpointslices",
            "-l",
            f"kubernetes.io/service-name={TINY}-{ms['status']['revision']}",
            "-o",
            "json",
        )
    )
    ip = slices["items"][0]["endpoints"][0]["addresses"][0]
    client = OpenAI(base_url=f"http://127.0.0.1:{GATEWAY_PORT}/v1", api_key="unused", timeout=60)
    for _ in range(30):  # the gateway's watch may be a moment behind `kubectl wait`
        if "tiny" in [m.id for m in client.models.list().data]:
            break
        time.sleep(1)
    reply = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Hello, who are you?"}], max_tokens=24
    )
    print(
        f"A real completion from the tiny model, through the gateway at 127.0.0.1:{GATEWAY_PORT} "
        f"to vLLM at {ip}:8000 (pod of {TINY}):"
    )
    print(f"  > Hello, who are you?\n  < {reply.choices[0].message.content!r}")
    print("  (the tiny model's weights are random: the words are noise, the serving is real)\n")
    print(
        "Try next:\n"
        f"  export KUBECONFIG={cluster.layout.kubeconfig} PATH={cluster.layout.bin_link}:$PATH\n"
        "  kubectl scale ms/chat --replicas=3   # a third L4 replica: Unschedulable\n"
        f"  curl 127.0.0.1:{GATEWAY_PORT}/v1/models   # every model, one endpoint\n"
        "  kubectl modelplane rollout history chat-canary\n"
        f"  kubectl describe ms {TINY}\n"
        f"  kubectl logs deploy/{TINY}-{ms['status']['revision']}\n"
        "  make cluster-down   # when done"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
