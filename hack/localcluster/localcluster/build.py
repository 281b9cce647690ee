"""Build the cluster's Go programs once and cache them outside the checkout.

The cache key covers the Go version, the ldflags and every source file of
the module, so a second cluster-up, or one in a fresh clone on the same
machine, finds the binaries and builds nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # hack/localcluster

K8S_VERSION = "v1.36.3"
HELM_VERSION = "v3.22.0"


def _version_ldflags() -> str:
    # Without these, binaries report v0.0.0-master+$Format:%H$ and kubectl
    # (and helm) fail to parse the server version.
    major, minor = K8S_VERSION[1:].split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={K8S_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
            f"-X {pkg}.buildDate=2026-01-01T00:00:00Z",
        ]
    return " ".join(flags)


@dataclass(frozen=True)
class GoModule:
    """A Go module of ours and the commands it builds."""

    name: str
    packages: tuple[str, ...]
    ldflags: str = ""
    cold_estimate: str = ""

    @property
    def dir(self) -> Path:
        return HERE / self.name

    def key(self) -> str:
        digest = hashlib.sha256()
        digest.update(
            subprocess.run(["go", "version"], capture_output=True, text=True).stdout.encode()
        )
        digest.update(self.ldflags.encode())
        digest.update(" ".join(self.packages).encode())
        for path in sorted(self.dir.rglob("*")):
            if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
                digest.update(str(path.relative_to(self.dir)).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


CONTROL_PLANE = GoModule(
    name="controlplane",
    packages=(
        "./cmd/etcd",
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        "k8s.io/kubernetes/cmd/kubectl",
        "sigs.k8s.io/kwok/cmd/kwok",
    ),
    ldflags=_version_ldflags(),
    cold_estimate="about 8 minutes on 2 cores",
)
NODE_AGENT = GoModule(
    name="nodeagent",
    packages=("./cmd/modelplane-node",),
    cold_estimate="about 3 minutes on 2 cores",
)
TOOLS = GoModule(
    name="tools",
    packages=("helm.sh/helm/v3/cmd/helm", "github.com/yannh/kubeconform/cmd/kubeconform"),
    # helm assumes Kubernetes v1.20 for `template` and `lint` unless told.
    ldflags=(
        f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"
        f" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor={K8S_VERSION[1:].split('.')[0]}"
        f" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={K8S_VERSION.split('.')[1]}"
    ),
    cold_estimate="about 2 minutes on 2 cores",
)
MODULES = (CONTROL_PLANE, NODE_AGENT, TOOLS)


def cache_root() -> Path:
    if env := os.environ.get("MODELPLANE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelplane"


def bin_dir(module: GoModule) -> Path:
    return cache_root() / "localcluster" / f"{module.name}-{module.key()}"


def _progress(label: str, done: threading.Event) -> None:
    start = time.monotonic()
    while not done.wait(20):
        print(f"  … still building {label} ({time.monotonic() - start:.0f} s)", flush=True)


def ensure_built(module: GoModule) -> Path:
    """Return the module's binary directory, building it first if not cached."""
    target = bin_dir(module)
    if target.is_dir():
        return target
    print(f"building {module.name} ({module.cold_estimate} when cold) -> {target}", flush=True)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.monotonic()
    done = threading.Event()
    ticker = threading.Thread(target=_progress, args=(module.name, done), daemon=True)
    ticker.start()
    try:
        result = subprocess.run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                f"-s -w {module.ldflags}".strip(),
                "-o",
                f"{staging}/",
                *module.packages,
            ],
            cwd=module.dir,
            capture_output=True,
            text=True,
        )
    finally:
        done.set()
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"building {module.name} failed (exit {result.returncode})")
    staging.rename(target)
    for stale in target.parent.glob(f"{module.name}-*"):
        if stale != target and not stale.name.endswith(".partial"):
            shutil.rmtree(stale, ignore_errors=True)  # older sources: never used again
    print(f"built {module.name} in {time.monotonic() - started:.0f} s", flush=True)
    return target


def ensure_all() -> dict[str, Path]:
    """Build every module; return a map of binary name -> path."""
    binaries: dict[str, Path] = {}
    for module in MODULES:
        directory = ensure_built(module)
        binaries |= {p.name: p for p in directory.iterdir()}
    return binaries
