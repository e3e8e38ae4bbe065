"""A real single-node Kubernetes cluster with real pods, for the `realcluster` test level.

Everything is the real thing, built from package registries only (no Docker, no container
registry): etcd, kube-apiserver and kube-controller-manager (all controllers) from
scripts/controlplane-build; kube-scheduler, a kubelet speaking CRI to containerd 2.x, runc from
Debian, a bridge CNI network, kube-proxy (nftables mode) and CoreDNS from scripts/node-build.
Images come from scripts/images-build as docker-archive tarballs and are imported into
containerd's `k8s.io` namespace (pods use IfNotPresent; nothing is ever pulled).

Node-level names, ports and addresses are fixed (one node, one bridge), so there is ONE cluster
per machine at a time: tests share one per session (tests/realcluster/conftest.py) and take a
namespace each. It needs root and the host network namespace. `RealCluster.stop()` leaves the
host as it was: host nftables/iptables rulesets, net.ipv4.ip_forward, the bridge and every mount
under the cluster's directory are checked against a snapshot taken before start
(`HostState`), and a difference raises. containerd's image store persists between runs
(warm start), everything else under the state directory is removed.

Quirks of our CI machines and their fixes (docs/real-cluster.md has the list): the bounding set
lacks CAP_SYS_RESOURCE (containerd `restrict_oom_score_adj`), cgroup v1 (kubelet
`failCgroupV1: false`, cgroupfs driver), the kubelet must not touch the host's iptables
(`makeIPTablesUtilChains: false`), pods cannot reach services on the host's 127.0.0.1 (the
apiserver binds 0.0.0.0 and advertises the node IP).

Command line (outside pytest): `python -m tests.support.realcluster run` starts the cluster and
keeps it up until Ctrl-C, printing the KUBECONFIG to use.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.controlplane import (
    Child,
    ControlPlaneError,
    KubectlError,
    _b64,
    _https_get,
    _issue_cert,
    _openssl,
    advertise_address,
    find_bin_dir,
    tail,
    wait_for,
    write_kubeconfig,
)

__all__ = [
    "HostState",
    "RealCluster",
    "RealClusterUnavailable",
    "find_images_dir",
    "find_node_bin",
    "unavailable_reason",
]

STATE_DIR = Path(os.environ.get("CAPPUCCINO_REALCLUSTER_DIR", "/var/tmp/cappuccino-realcluster"))
CACHE = Path(os.environ.get("CAPPUCCINO_CACHE", str(Path.home() / ".cache" / "cappuccino")))
NODE_NAME = "cappuccino-node"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
CLUSTER_DNS = "10.96.0.10"
BRIDGE = "cappbr0"
API_PORT = 16443
ETCD_PORT = 23790
ETCD_PEER_PORT = 23800
CNI_BIN_DIR = Path("/usr/lib/cni")
STORAGE_CLASS = "local-hostpath"
PERSISTENT_VOLUMES = 12
START_TIMEOUT_S = float(os.environ.get("CAPPUCCINO_REALCLUSTER_START_TIMEOUT", "180"))
NODE_BINARIES = ("kubelet", "kube-scheduler", "kube-proxy", "containerd", "ctr", "coredns")
HOST_TOOLS = ("runc", "nft", "ip", "mount", "umount")


class RealClusterUnavailable(RuntimeError):
    """This machine cannot run the real cluster; the message says why and how to fix it."""


# --------------------------------------------------------------------------------------------
# Finding what the cluster is made of


def _script_output_dir(env_var: str, cache_glob: str, script: str) -> Path | None:
    if env := os.environ.get(env_var):
        return Path(env)
    found = sorted(CACHE.glob(cache_glob))
    return found[-1] if found else None


def find_node_bin() -> Path | None:
    """$CAPPUCCINO_NODE_BIN, else the newest scripts/node-build output in the cache."""
    return _script_output_dir("CAPPUCCINO_NODE_BIN", "node/k8s-*/bin", "node-build")


def find_images_dir() -> Path | None:
    """$CAPPUCCINO_IMAGES_DIR, else scripts/images-build's output directory in the cache."""
    if env := os.environ.get("CAPPUCCINO_IMAGES_DIR"):
        return Path(env)
    out = CACHE / "images" / "out"
    return out if out.is_dir() else None


def unavailable_reason() -> str | None:
    """Why this machine cannot run the real cluster (None when it can)."""
    if sys.platform != "linux":
        return f"the real cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return (
            "the real cluster needs root (kubelet, containerd, CNI and kube-proxy change the "
            "host's network and mounts); run the realcluster tests as root"
        )
    missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
    missing += [f"{CNI_BIN_DIR}/{p}" for p in ("bridge", "host-local", "loopback")]
    missing = [m for m in missing if not (Path(m).exists() or shutil.which(m))]
    if missing:
        return (
            f"missing {', '.join(missing)}: run scripts/node-build (apt: runc "
            "containernetworking-plugins nftables iproute2)"
        )
    node_bin = find_node_bin()
    if node_bin is None or any(not (node_bin / b).is_file() for b in NODE_BINARIES):
        return f"node binaries not built ({node_bin or CACHE / 'node'}): run scripts/node-build"
    images = find_images_dir()
    if images is None or not (images / "images.json").is_file():
        return "images not built: run scripts/images-build"
    if not Path("/proc/sys/net/ipv4/ip_forward").exists():
        return "no /proc/sys/net/ipv4/ip_forward: not in a network namespace that can route pods"
    return None


def node_ip() -> str:
    """The node's IPv4 address (first global one): pods reach the apiserver and host services
    there, since a pod's 127.0.0.1 is its own."""
    ip = advertise_address()
    if f"inet {ip}/" not in _run_text(["ip", "-4", "-o", "addr", "show", "scope", "global"]):
        raise RealClusterUnavailable("this host has no global IPv4 address for the node")
    return ip


# --------------------------------------------------------------------------------------------
# What the cluster must leave as it found it


def _run_text(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


@dataclass(frozen=True)
class HostState:
    """The host settings a cluster run touches, to compare before and after."""

    ip_forward: str
    nft_tables: tuple[str, ...]
    iptables: str
    links: tuple[str, ...]
    mounts: tuple[str, ...]

    @classmethod
    def capture(cls, state_dir: Path) -> HostState:
        tables = tuple(
            line.strip()
            for line in _run_text(["nft", "list", "tables"]).splitlines()
            if line.strip()
        )
        # iptables-save prints comments with timestamps and packet counters: drop both
        rules = "\n".join(
            line.split("[")[0] if line.startswith(":") else line
            for line in _run_text(["iptables-save"]).splitlines()
            if not line.startswith("#")
        )
        links = tuple(
            sorted(
                line.split(":")[1].strip().split("@")[0]
                for line in _run_text(["ip", "-o", "link", "show"]).splitlines()
                if line.count(":") >= 2
            )
        )
        mounts = tuple(
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(state_dir))
        )
        return cls(
            ip_forward=Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
            nft_tables=tables,
            iptables=rules,
            links=links,
            mounts=mounts,
        )

    def differences(self, after: HostState) -> list[str]:
        """One line per setting that differs."""
        out = []
        for name in ("ip_forward", "nft_tables", "iptables", "links", "mounts"):
            before_v, after_v = getattr(self, name), getattr(after, name)
            if before_v != after_v:
                out.append(f"{name}: before {before_v!r}, after {after_v!r}")
        return out


# --------------------------------------------------------------------------------------------
# The cluster


def _client_ext() -> str:
    return (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )


MACHINE_LOCK = Path(
    os.environ.get("CAPPUCCINO_REALCLUSTER_LOCK", "/run/cappuccino-realcluster.lock")
)
MACHINE_LOCK_WAIT_S = 3600.0


def machine_lock(path: Path = MACHINE_LOCK, wait_s: float = MACHINE_LOCK_WAIT_S) -> int:
    """Takes the machine-wide real-cluster lock and returns its fd (closing it releases it).

    A cluster changes the host (iptables, the bridge, ip_forward, mounts): two at once on one
    machine (two checkouts, two sessions) break each other and each one's host check. A second
    one waits here, saying for whom, and fails after `wait_s` with the holder's pid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline, said = time.monotonic() + wait_s, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            if time.monotonic() > deadline:
                os.close(fd)
                raise RealClusterUnavailable(
                    f"another real cluster (pid {holder}) has held {path} for over {wait_s:.0f}"
                    " s; stop it (or wait for it) and run again."
                ) from None
            if not said:
                print(f"another real cluster runs on this machine (pid {holder}); waiting",
                      file=sys.stderr, flush=True)  # fmt: skip
                said = True
            time.sleep(2.0)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd


@dataclass
class RealCluster:
    """One real node; see the module docstring. Use `RealCluster.start()` and `stop()`."""

    cp_bin: Path
    node_bin: Path
    images_dir: Path
    state_dir: Path = STATE_DIR
    node_ip: str = ""
    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    host_before: HostState | None = None
    children: dict[str, Child] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    lock_fd: int | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def var_dir(self) -> Path:
        return self.state_dir / "var"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def containerd_sock(self) -> Path:
        return self.run_dir / "containerd" / "containerd.sock"

    @property
    def containerd_root(self) -> Path:
        """Persists between runs: the imported images (warm starts skip the import)."""
        return self.state_dir / "containerd-root"

    @property
    def volumes_dir(self) -> Path:
        return self.state_dir / "volumes"

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(cls, state_dir: Path = STATE_DIR) -> RealCluster:
        """Starts the whole cluster and waits until the node is Ready and CoreDNS is Available.
        Raises RealClusterUnavailable when the machine cannot run it."""
        if reason := unavailable_reason():
            raise RealClusterUnavailable(reason)
        node_bin, images_dir = find_node_bin(), find_images_dir()
        assert node_bin is not None and images_dir is not None
        cluster = cls(
            cp_bin=find_bin_dir(), node_bin=node_bin, images_dir=images_dir, state_dir=state_dir
        )
        cluster.lock_fd = machine_lock()
        try:
            cluster._start()
        except BaseException:
            cluster.stop(check_host=False)
            raise
        return cluster

    def _timed(self, name: str, fn: Any, *args: Any) -> Any:
        t0 = time.monotonic()
        result = fn(*args)
        self.timings[name] = round(time.monotonic() - t0, 1)
        return result

    def _start(self) -> None:
        self._clean_leftovers()
        self.host_before = HostState.capture(self.state_dir)
        self.node_ip = node_ip()
        for d in (self.run_dir, self.var_dir, self.logs_dir, self.volumes_dir):
            d.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        self._timed("pki", self._make_pki)
        self._timed("containerd", self._start_containerd)
        self._timed("images import", self._import_images)
        self._timed("control plane", self._start_control_plane)
        self._timed("node", self._start_node)
        self._timed("cluster addons", self._start_addons)
        self.timings["total"] = round(time.monotonic() - t0, 1)

    def _clean_leftovers(self) -> None:
        """A previous run killed before its teardown (SIGKILLed pytest) leaves pods' mounts,
        the bridge and kube-proxy's tables behind: remove them before the snapshot."""
        pid_files = list((self.run_dir).glob("*.pid")) if self.run_dir.exists() else []
        for pid_file in pid_files:
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        self._kill_shims()
        self._clean_host(restore_ip_forward=True)

    def _spawn(
        self, name: str, argv: Sequence[str | Path], env: dict[str, str] | None = None
    ) -> Child:
        child = Child(name, [str(a) for a in argv], self.logs_dir / f"{name}.log", env=env)
        child.start()
        (self.run_dir / f"{name}.pid").write_text(str(child.pid))
        self.children[name] = child
        return child

    def _wait(self, what: str, predicate: Any, child: Child | None = None) -> Any:
        def check() -> Any:
            if child is not None:
                child.check_alive(f"wait for {what}")
            return predicate()

        return wait_for(
            check,
            START_TIMEOUT_S,
            what,
            interval=0.2,
            diagnostics=(lambda: child.log_tail()) if child is not None else None,
        )

    # -- PKI -------------------------------------------------------------------------------

    def _make_pki(self) -> None:
        pki = self.pki
        shutil.rmtree(pki, ignore_errors=True)
        pki.mkdir(parents=True)
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "7",
            "-subj", "/CN=cappuccino-realcluster-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=pki,
        )  # fmt: skip
        sans = ",".join(
            [
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
                "IP:127.0.0.1",
                f"IP:{self.node_ip}",
                f"IP:{KUBERNETES_SERVICE_IP}",
            ]
        )
        _issue_cert(
            pki, "apiserver", "/CN=kube-apiserver",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
        )  # fmt: skip
        users = {
            "admin": "/O=system:masters/CN=admin",
            "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
            "kcm": "/CN=system:kube-controller-manager",
            "scheduler": "/CN=system:kube-scheduler",
            "proxy": "/CN=system:kube-proxy",
            "node": f"/O=system:nodes/CN=system:node:{NODE_NAME}",
        }
        for name, subject in users.items():
            _issue_cert(pki, name, subject, _client_ext())
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        self.server = f"https://127.0.0.1:{API_PORT}"
        for name, subject in users.items():
            if name == "apiserver-kubelet-client":
                continue
            write_kubeconfig(
                self.state_dir / f"{name}.kubeconfig",
                self.server,
                pki / "ca.crt",
                subject.rsplit("CN=", 1)[1],
                {
                    "client-certificate-data": _b64(pki / f"{name}.crt"),
                    "client-key-data": _b64(pki / f"{name}.key"),
                },
            )
        self.kubeconfig = self.state_dir / "admin.kubeconfig"

    # -- containerd ------------------------------------------------------------------------

    def _containerd_config(self) -> str:
        return f"""version = 3
root = "{self.containerd_root}"
state = "{self.run_dir / "containerd" / "state"}"
[grpc]
  address = "{self.containerd_sock}"
[ttrpc]
  address = "{self.containerd_sock}.ttrpc"
[metrics]
  address = ""
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "registry.k8s.io/pause:3.10"
[plugins.'io.containerd.cri.v1.runtime']
  enable_cdi = false
  # the bounding set lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj, so clamp it
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{self.state_dir / "cni" / "net.d"}"
"""

    def _start_containerd(self) -> None:
        (self.run_dir / "containerd").mkdir(parents=True, exist_ok=True)
        net_d = self.state_dir / "cni" / "net.d"
        net_d.mkdir(parents=True, exist_ok=True)
        (self.var_dir / "cni").mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "containerd-config.toml"
        config.write_text(self._containerd_config())
        conflist = {
            "cniVersion": "1.0.0",
            "name": "cappuccino",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,  # no NAT rules in the host's tables; nothing outside to reach
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.var_dir / "cni"),
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        }
        (net_d / "10-cappuccino.conflist").write_text(json.dumps(conflist, indent=2))
        # the bridge plugin (isGateway) turns net.ipv4.ip_forward on: keep the host's value
        orig = self.state_dir / "ip_forward.orig"
        if not orig.is_file():
            orig.write_text(Path("/proc/sys/net/ipv4/ip_forward").read_text())
        env = {**os.environ, "PATH": f"{self.node_bin}:{os.environ.get('PATH', '')}"}
        child = self._spawn(
            "containerd", [self.node_bin / "containerd", "--config", config], env=env
        )
        self._wait("containerd socket", lambda: self.ctr("version", check=False) == 0, child)

    def _ctr_base(self) -> list[str]:
        return [str(self.node_bin / "ctr"), "--address", str(self.containerd_sock), "-n", "k8s.io"]

    def ctr(self, *args: str, check: bool = True) -> int:
        proc = subprocess.run(
            [*self._ctr_base(), *args],
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"ctr {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.returncode

    def _import_images(self) -> None:
        """Imports every tarball named in images.json (scripts/images-build), skipping those
        whose stamp (size + mtime) says containerd holds them already."""
        index = json.loads((self.images_dir / "images.json").read_text())
        stamps = self.containerd_root / ".cappuccino-imported"
        stamps.mkdir(parents=True, exist_ok=True)
        for name, entry in index["images"].items():
            tarball = self.images_dir / entry["file"]
            st = tarball.stat()
            stamp = f"{st.st_size}-{int(st.st_mtime)}-{entry['ref']}"
            stamp_file = stamps / f"{name}.stamp"
            if not stamp_file.is_file() or stamp_file.read_text() != stamp:
                self.ctr("images", "import", str(tarball))
                stamp_file.write_text(stamp)
                self._remove_superseded(entry["ref"])
            self.images[name] = entry["ref"]

    def _remove_superseded(self, ref: str) -> None:
        """The store persists between runs and each source change imports a new multi-GB tag
        of the same repository: drop the older ones (containerd then collects their layers)."""
        repo = ref.rsplit(":", 1)[0]
        listed = subprocess.run(
            [*self._ctr_base(), "images", "list", "-q"],
            capture_output=True,
            text=True,
        ).stdout.split()
        stale = [
            r
            for r in listed
            if r.rsplit(":", 1)[0] in (repo, f"docker.io/library/{repo}", f"localhost/{repo}")
            and r.rsplit(":", 1)[1] != ref.rsplit(":", 1)[1]
        ]
        if stale:
            self.ctr("images", "rm", "--sync", *stale, check=False)

    # -- control plane ---------------------------------------------------------------------

    def _start_control_plane(self) -> None:
        pki = self.pki
        etcd = self._spawn(
            "etcd",
            [
                self.cp_bin / "etcd",
                "--name=default",
                f"--data-dir={self.var_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{ETCD_PORT}",
                f"--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}",
                f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                f"--initial-cluster=default=http://127.0.0.1:{ETCD_PEER_PORT}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        import ssl

        plain = ssl.create_default_context()
        self._wait(
            "etcd /health",
            lambda: _https_get(f"http://127.0.0.1:{ETCD_PORT}/health", plain)[0] == 200,
            etcd,
        )
        api = self._spawn(
            "kube-apiserver",
            [
                self.cp_bin / "kube-apiserver",
                f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--secure-port={API_PORT}",
                "--bind-address=0.0.0.0",
                f"--advertise-address={self.node_ip}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.key'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
            ],
        )
        admin = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        admin.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        self._wait(
            "kube-apiserver /readyz",
            lambda: _https_get(f"{self.server}/readyz", admin)[0] == 200,
            api,
        )
        kcm_cfg = self.state_dir / "kcm.kubeconfig"
        self._spawn(
            "kube-controller-manager",
            [
                self.cp_bin / "kube-controller-manager",
                f"--kubeconfig={kcm_cfg}",
                f"--authentication-kubeconfig={kcm_cfg}",
                f"--authorization-kubeconfig={kcm_cfg}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=10357",
                f"--cert-dir={self.var_dir / 'kcm-certs'}",
                "--controllers=*,-cloud-node-lifecycle-controller,-service-lb-controller,"
                "-node-route-controller",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
        )
        sched_cfg = self.state_dir / "scheduler.kubeconfig"
        self._spawn(
            "kube-scheduler",
            [
                self.node_bin / "kube-scheduler",
                f"--kubeconfig={sched_cfg}",
                f"--authentication-kubeconfig={sched_cfg}",
                f"--authorization-kubeconfig={sched_cfg}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=10359",
            ],
        )

    # -- node ------------------------------------------------------------------------------

    def _kubelet_config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,  # our machines run cgroup v1; kubelet 1.36 refuses it otherwise
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            "address": self.node_ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDomain": "cluster.local",
            "clusterDNS": [CLUSTER_DNS],
            "resolvConf": "/etc/resolv.conf",
            "registerNode": True,
            "makeIPTablesUtilChains": False,  # no KUBE-FIREWALL chains in the host's iptables
            "serializeImagePulls": False,
            # imported images are never garbage-collected (nothing could pull them back)
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "evictionPressureTransitionPeriod": "10s",
            "maxPods": 110,
            "podPidsLimit": -1,
            "nodeStatusReportFrequency": "10s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "enableServer": True,
        }

    def _start_node(self) -> None:
        (self.var_dir / "kubelet").mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "kubelet-config.yaml"
        config.write_text(yaml.safe_dump(self._kubelet_config(), sort_keys=False))
        kubelet = self._spawn(
            "kubelet",
            [
                self.node_bin / "kubelet",
                f"--config={config}",
                f"--kubeconfig={self.state_dir / 'node.kubeconfig'}",
                f"--root-dir={self.var_dir / 'kubelet'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={self.node_ip}",
                "--v=1",
            ],
        )
        self._wait(
            f"node {NODE_NAME} registered",
            lambda: self.kubectl("get", "node", NODE_NAME, check=False).returncode == 0,
            kubelet,
        )
        self._spawn(
            "kube-proxy",
            [
                self.node_bin / "kube-proxy",
                f"--kubeconfig={self.state_dir / 'proxy.kubeconfig'}",
                "--proxy-mode=nftables",
                f"--hostname-override={NODE_NAME}",
                f"--cluster-cidr={POD_CIDR}",
                "--healthz-bind-address=127.0.0.1:10356",
                "--metrics-bind-address=127.0.0.1:10349",
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0s",
                "--conntrack-tcp-timeout-close-wait=0s",
                f"--nodeport-addresses={self.node_ip}/32",
            ],
        )
        self._wait(
            "node Ready",
            lambda: (
                self.kubectl(
                    "wait",
                    "--for=condition=Ready",
                    f"node/{NODE_NAME}",
                    "--timeout=1s",
                    check=False,
                ).returncode
                == 0
            ),
            kubelet,
        )

    # -- addons: DNS and storage -----------------------------------------------------------

    def _start_addons(self) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(self._addon_manifests()))
        self._wait(
            "CoreDNS Available",
            lambda: self.kubectl(
                "-n", "kube-system", "wait", "--for=condition=Available", "deploy/coredns",
                "--timeout=1s", check=False,
            ).returncode
            == 0,
            self.children["kubelet"],
        )  # fmt: skip

    def _addon_manifests(self) -> list[dict[str, Any]]:
        docs = list(yaml.safe_load_all(COREDNS_MANIFEST))
        for doc in docs:
            if doc["kind"] == "Deployment":
                doc["spec"]["template"]["spec"]["containers"][0]["image"] = self.images["coredns"]
        docs.append(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Retain",
            }
        )
        # Static hostPath volumes, one directory each, that any PVC of the default class binds
        # (RWO or RWX: one node). World-writable like /tmp: the kubelet does not apply fsGroup
        # to hostPath volumes, and pods run as uid 10001 (runtime) or 70 (PostgreSQL).
        for i in range(PERSISTENT_VOLUMES):
            path = self.volumes_dir / f"pv-{i:02d}"
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o1777)
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {
                        "name": f"local-pv-{i:02d}",
                        "labels": {"cappuccino.dev/pv": "local"},
                    },
                    "spec": {
                        "capacity": {"storage": "100Gi"},
                        "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": STORAGE_CLASS,
                        "hostPath": {"path": str(path), "type": "Directory"},
                    },
                }
            )
        return docs

    # -- clients ---------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 180,
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.cp_bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def helm(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.state_dir / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.state_dir / "helm" / "config"),
            "HELM_DATA_HOME": str(self.state_dir / "helm" / "data"),
        }
        argv = [str(self.cp_bin / "helm"), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def logs(self, name: str, lines: int = 40) -> str:
        return tail(self.logs_dir / f"{name}.log", lines)

    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "CONTAINERD_ADDRESS": str(self.containerd_sock),
            "CONTAINERD_NAMESPACE": "k8s.io",
        }

    # -- teardown --------------------------------------------------------------------------

    def stop(self, check_host: bool = True) -> list[str]:
        """Deletes every pod, stops every component, removes the bridge, kube-proxy's tables,
        mounts and state (containerd's image store stays), restores ip_forward. With check_host,
        raises ControlPlaneError when the host differs from before start()."""
        t0 = time.monotonic()
        # no controller may recreate, and no scheduler place, the pods deleted below
        for name in ("kube-controller-manager", "kube-scheduler"):
            if name in self.children:
                self.children[name].stop(timeout=5)
        if "kubelet" in self.children and self.children["kubelet"].running():
            # the kubelet tears every sandbox down through CNI (veth, IP) before it stops
            self.kubectl(
                "delete", "pods", "--all", "-A", "--grace-period=1", "--wait=false", check=False
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self._sandboxes_left():
                time.sleep(0.5)
        for name in ("kube-proxy", "kubelet"):
            if name in self.children:
                self.children[name].stop(timeout=10)
        for name in ("kube-apiserver", "etcd"):
            if name in self.children:
                self.children[name].stop(timeout=5)
        self._kill_shims()
        if "containerd" in self.children:
            self.children["containerd"].stop(timeout=10)
        self._kill_shims()
        self.children.clear()
        self._clean_host(restore_ip_forward=True)
        self.timings["stop"] = round(time.monotonic() - t0, 1)
        self._release_machine_lock()
        if not check_host or self.host_before is None:
            return []
        diffs = self.host_before.differences(HostState.capture(self.state_dir))
        if diffs:
            raise ControlPlaneError(
                "the real cluster's teardown left the host changed:\n" + "\n".join(diffs)
            )
        return diffs

    def _release_machine_lock(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def _sandboxes_left(self) -> bool:
        """Pods still in the API, or pod network namespaces not yet torn down."""
        pods = self.kubectl("get", "pods", "-A", "-o", "name", check=False, timeout=10)
        return bool(pods.returncode != 0 or pods.stdout.strip() or our_pod_netns())

    def _kill_shims(self) -> None:
        """containerd-shim-runc-v2 processes (and their containers) of this cluster's containerd
        outlive it; kill them by their -address argument, which names our socket."""
        sock = str(self.containerd_sock)
        for proc_dir in Path("/proc").iterdir():
            if not proc_dir.name.isdigit():
                continue
            try:
                cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                cmdline
                and cmdline[0].endswith(b"containerd-shim-runc-v2")
                and sock.encode() in cmdline
            ):
                pid = int(proc_dir.name)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _clean_host(self, restore_ip_forward: bool) -> None:
        # pod network namespaces (containerd pins them in /run/netns) still holding a pod IP:
        # a sandbox the kubelet did not tear down through CNI; removing one frees its veth
        for netns in our_pod_netns():
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
        for family in ("ip", "ip6"):
            subprocess.run(
                ["nft", "delete", "table", family, "kube-proxy"], capture_output=True, check=False
            )
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(self.state_dir) + "/")
        ]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        orig = self.state_dir / "ip_forward.orig"
        if restore_ip_forward and orig.is_file():
            Path("/proc/sys/net/ipv4/ip_forward").write_text(orig.read_text())
            orig.unlink()
        # volumes_dir: the hostPath PVs' data (PVs live in etcd, which is thrown away too)
        for d in (
            self.var_dir,
            self.run_dir / "containerd",
            self.state_dir / "cni",
            self.volumes_dir,
        ):
            shutil.rmtree(d, ignore_errors=True)
        for pid_file in self.run_dir.glob("*.pid") if self.run_dir.exists() else []:
            pid_file.unlink()
        # the kubelet's (now empty) kubepods cgroups in every v1 hierarchy
        for hierarchy in Path("/sys/fs/cgroup").glob("*/kubepods"):
            for d in sorted(hierarchy.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if d.is_dir():
                    with contextlib.suppress(OSError):
                        d.rmdir()
            with contextlib.suppress(OSError):
                hierarchy.rmdir()


def our_pod_netns() -> list[str]:
    """Names in /run/netns of CNI network namespaces holding an address of our pod CIDR."""
    prefix = POD_CIDR.rsplit(".", 1)[0] + "."
    out = []
    for path in sorted(Path("/run/netns").glob("cni-*")):
        addrs = _run_text(["ip", "-n", path.name, "-4", "-o", "addr", "show"])
        if f"inet {prefix}" in addrs:
            out.append(path.name)
    return out


COREDNS_MANIFEST = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        cache 30
        reload
        # no upstream resolver for pods: every name outside the cluster is NXDOMAIN at once
        template ANY ANY {
            rcode NXDOMAIN
        }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      containers:
      - name: coredns
        image: IMAGE
        imagePullPolicy: IfNotPresent
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
        securityContext:
          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
          readOnlyRootFilesystem: true
        livenessProbe:
          httpGet: {path: /health, port: 8080}
        readinessProbe:
          httpGet: {path: /ready, port: 8181}
          periodSeconds: 2
        resources:
          requests: {cpu: 50m, memory: 30Mi}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes:
      - name: config
        configMap: {name: coredns}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  selector: {k8s-app: kube-dns}
  clusterIP: 10.96.0.10
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
"""


def main(argv: Sequence[str] | None = None) -> int:
    """`run`: start, print the environment, keep the cluster up until Ctrl-C/SIGTERM."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["run"]:
        print("usage: python -m tests.support.realcluster run", file=sys.stderr)
        return 2
    try:
        cluster = RealCluster.start()
    except RealClusterUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for k, v in cluster.env().items():
        print(f"export {k}={v}")
    print(f"export PATH={cluster.cp_bin}:{cluster.node_bin}:$PATH")
    print(f"# up in {cluster.timings}; Ctrl-C stops it", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print(f"# down: {cluster.timings['stop']} s, host as before", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
