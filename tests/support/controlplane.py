"""A real Kubernetes control plane on loopback for tests and benchmarks, started like envtest.

etcd, kube-apiserver and (optionally) kube-controller-manager are the real binaries built by
scripts/controlplane-build from the Kubernetes Go modules. Nothing is mocked: RBAC, CEL, schema
pruning, the TokenRequest API and (with the controller-manager) ownerReference garbage
collection and namespace deletion all behave as in a cluster. There is no scheduler or kubelet,
so Pods are never scheduled; tests simulate workload outcomes by patching status.

Also here: `OperatorProcess`, the operator run as a subprocess (as its ServiceAccount), shared by
the pytest fixtures in tests/controlplane/conftest.py and by benchmarks/operator_scale.py.
See docs/controlplane.md.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml

__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "KubectlError",
    "OperatorDeployment",
    "OperatorProcess",
    "find_bin_dir",
    "install_operator",
    "wait_for",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = float(os.environ.get("CAPPUCCINO_CONTROLPLANE_START_TIMEOUT", "60"))
STOP_TIMEOUT_S = float(os.environ.get("CAPPUCCINO_CONTROLPLANE_STOP_TIMEOUT", "60"))
LOG_TAIL_LINES = 40
OPERATOR_NAMESPACE = "cappuccino-system"
OPERATOR_SERVICE_ACCOUNT = "cappuccino-operator"
CRDS_DIR = REPO_ROOT / "crds"
RBAC_FILE = REPO_ROOT / "operator" / "deploy" / "rbac.yaml"
T = TypeVar("T")


class ControlPlaneError(RuntimeError):
    """A control-plane process failed to start, died, or a wait timed out."""


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; str() includes its stderr so test failures say why."""

    def __str__(self) -> str:
        return (
            f"{' '.join(map(str, self.cmd))} exited with code {self.returncode}: "
            f"{(self.stderr or '').strip() or (self.output or '').strip()}"
        )


# --------------------------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks; a tiny race remains, as in envtest)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file ('' if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.1,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Polls `predicate` until it returns a truthy value and returns that value.

    On timeout raises ControlPlaneError naming `what` plus `diagnostics()` (e.g. log lines).
    Kubernetes 404s raised by the predicate count as "not yet", so `lambda: api.read_x(...)`
    works as a predicate for "x exists".
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except ControlPlaneError:
            raise
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                last_error = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error!r}" if last_error else ""
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise ControlPlaneError(
                f"timed out after {timeout:g} s waiting for {what}{detail}{extra}"
            )
        time.sleep(interval)


def find_bin_dir() -> Path:
    """Directory with etcd, kube-apiserver, kubectl (and kube-controller-manager, helm).

    $CAPPUCCINO_CONTROLPLANE_BIN (scripts/test sets it) wins; otherwise scripts/controlplane-build
    is run, which builds the binaries once and afterwards just prints the cached directory.
    """
    if env := os.environ.get("CAPPUCCINO_CONTROLPLANE_BIN"):
        bin_dir = Path(env)
    else:
        script = REPO_ROOT / "scripts" / "controlplane-build"
        proc = subprocess.run([str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ControlPlaneError(
                f"{script} exited with code {proc.returncode}; last output:\n"
                + "\n".join(proc.stderr.splitlines()[-LOG_TAIL_LINES:])
            )
        bin_dir = Path(proc.stdout.strip().splitlines()[-1])
    missing = [b for b in ("etcd", "kube-apiserver", "kubectl") if not (bin_dir / b).is_file()]
    if missing:
        raise ControlPlaneError(
            f"{bin_dir} lacks {', '.join(missing)}; run scripts/controlplane-build"
        )
    return bin_dir


def has_default_route() -> bool:
    """True when the host has an IPv4 or IPv6 default route (kube-apiserver then picks its own
    advertise address; without one it exits with "Unable to find suitable network address")."""
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) > 1 and parts[1] == "00000000":
                return True
        for line in Path("/proc/net/ipv6_route").read_text().splitlines():
            parts = line.split()
            if parts and parts[0] == "0" * 32 and parts[1] == "00":
                return True
    except OSError:
        pass
    return False


def advertise_address() -> str:
    """A non-loopback IPv4 address of this host for --advertise-address (no default route).

    The apiserver only publishes it in the `kubernetes` Service endpoints, which nothing here
    dials, so any non-loopback address will do; a documentation address is the last resort.
    """
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
        ).stdout
        for line in out.splitlines():
            fields = line.split()
            if "inet" in fields:
                return fields[fields.index("inet") + 1].split("/")[0]
    except OSError:
        pass
    return "192.0.2.10"


# --------------------------------------------------------------------------------------------
# Certificates (openssl CLI: the `cryptography` package is not a dependency)


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise ControlPlaneError(
            "the openssl CLI is needed for the test PKI but is not on PATH "
            "(Debian: apt-get install openssl; PostgreSQL's packages already pull it in)"
        )
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def _issue_cert(pki: Path, name: str, subject: str, extensions: str) -> None:
    """Writes <name>.key (ECDSA P-256) and <name>.crt signed by pki/ca.{crt,key}, valid 7 days."""
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "7", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
        cwd=pki,
    )  # fmt: skip


def make_pki(pki: Path) -> None:
    """A per-run CA, the apiserver's serving cert (localhost, 127.0.0.1), the admin client cert
    (CN=admin, O=system:masters) and the ServiceAccount signing key, as envtest makes them."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-subj", "/CN=cappuccino-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=pki,
    )  # fmt: skip
    _issue_cert(
        pki, "apiserver", "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )  # fmt: skip
    _issue_cert(
        pki, "admin", "/O=system:masters/CN=admin",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n",
    )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path, server: str, ca: Path, user: str, credentials: Mapping[str, str]
) -> Path:
    """A single-context kubeconfig with every credential embedded (portable across processes)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cappuccino-test",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [{"name": user, "user": dict(credentials)}],
        "contexts": [{"name": user, "context": {"cluster": "cappuccino-test", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------------------------
# Child processes


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a killed pytest never leaves an apiserver eating the CI's 2 cores."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    """One long-running binary in its own process group, logging to `log`."""

    name: str
    argv: list[str]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log_handle: IO[bytes] | None = None

    def start(self) -> None:
        self._log_handle = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
        )

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ControlPlaneError(f"{self.name} was never started")
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log, lines)

    def check_alive(self, during: str) -> None:
        """Raises with the log tail if the process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise ControlPlaneError(
                f"{self.name} exited with code {self.proc.returncode} during {during}; "
                f"last log lines ({self.log}):\n{self.log_tail()}"
            )

    def started_and(self, probe: Callable[[], bool]) -> Callable[[], bool]:
        """A `wait_for` condition: raises with the log tail once the process exited, else
        answers `probe()`."""

        def condition() -> bool:
            self.check_alive("start")
            return probe()

        return condition

    def signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM to the whole group, SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait(10)
        self.signal_group(signal.SIGKILL)  # stragglers left in the group
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the group at once (a crash, not a shutdown)."""
        if self.proc is None:
            return None
        self.signal_group(signal.SIGKILL)
        self.proc.wait(10)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        return self.proc.returncode


def _https_get(url: str, context: ssl.SSLContext, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


# --------------------------------------------------------------------------------------------
# The control plane


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver (+ kube-controller-manager); see module docstring.

    Attributes: `server` (https URL), `kubeconfig` (admin, CN=admin O=system:masters),
    `bin_dir`, `workdir` (certs, logs, etcd data; removed by stop() unless keep_workdir),
    `has_garbage_collector` (True when kube-controller-manager runs the garbage-collector and
    namespace controllers, so ownerReference cascades and namespace deletion really happen).
    """

    bin_dir: Path
    workdir: Path
    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    has_garbage_collector: bool = False
    keep_workdir: bool = False
    children: list[Child] = field(default_factory=list)

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        bin_dir: Path | None = None,
        *,
        controller_manager: bool = True,
        timeout: float = START_TIMEOUT_S,
        attempts: int = 3,
    ) -> ControlPlane:
        """Starts etcd, then kube-apiserver (then kube-controller-manager) on free loopback
        ports and waits until /healthz is ok and namespace `default` exists.

        Retries with fresh ports when a port was taken between choosing and binding it.
        """
        bin_dir = bin_dir or find_bin_dir()
        for attempt in range(1, attempts + 1):
            plane = cls(
                bin_dir=bin_dir,
                workdir=Path(tempfile.mkdtemp(prefix="cappuccino-cp-")),
                keep_workdir=os.environ.get("CAPPUCCINO_CONTROLPLANE_KEEP") == "1",
            )
            try:
                plane._start(controller_manager=controller_manager, timeout=timeout)
                return plane
            except ControlPlaneError as exc:
                plane.keep_workdir = True  # keep the logs the error points at
                plane.stop()
                if attempt == attempts or "address already in use" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def _start(self, *, controller_manager: bool, timeout: float) -> None:
        pki = self.workdir / "pki"
        make_pki(pki)
        admin_ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        admin_ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn(
            "etcd",
            [
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        wait_for(
            etcd.started_and(lambda: _https_get(f"{etcd_url}/health", admin_ctx)[0] == 200),
            timeout,
            "etcd /health",
            diagnostics=etcd.log_tail,
        )

        self.server = f"https://127.0.0.1:{api_port}"
        args = [
            f"--etcd-servers={etcd_url}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            # As on OpenShift and hardened clusters: setting blockOwnerDeletion on a child
            # needs `update` on the owner's finalizers subresource (issue 10.6).
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
            "--authorization-mode=RBAC",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={self.server}/",
            f"--service-account-key-file={pki / 'sa.key'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
        ]
        if not has_default_route():
            args.append(f"--advertise-address={advertise_address()}")
        api = self._spawn("kube-apiserver", args)
        wait_for(
            api.started_and(lambda: _https_get(f"{self.server}/healthz", admin_ctx)[0] == 200),
            timeout,
            "kube-apiserver /healthz",
            diagnostics=api.log_tail,
        )
        wait_for(
            api.started_and(
                lambda: _https_get(f"{self.server}/api/v1/namespaces/default", admin_ctx)[0] == 200
            ),
            timeout,
            "namespace default",
            diagnostics=api.log_tail,
        )
        self.kubeconfig = write_kubeconfig(
            self.workdir / "admin.kubeconfig",
            self.server,
            pki / "ca.crt",
            "admin",
            {
                "client-certificate-data": _b64(pki / "admin.crt"),
                "client-key-data": _b64(pki / "admin.key"),
            },
        )
        if controller_manager and (self.bin_dir / "kube-controller-manager").is_file():
            self._start_controller_manager(timeout)

    def _start_controller_manager(self, timeout: float) -> None:
        """kube-controller-manager with only the garbage-collector, namespace and ClusterRole
        aggregation controllers (the last fills the built-in view/edit/admin roles)."""
        port = free_port()
        kcm = self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--controllers=garbage-collector-controller,namespace-controller,"
                "clusterrole-aggregation-controller",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
            ],
        )
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        wait_for(
            kcm.started_and(lambda: _https_get(f"https://127.0.0.1:{port}/healthz", ctx)[0] == 200),
            timeout,
            "kube-controller-manager /healthz",
            diagnostics=kcm.log_tail,
        )
        self.has_garbage_collector = True

    def _spawn(self, name: str, args: Sequence[str]) -> Child:
        child = Child(name, [str(self.bin_dir / name), *args], self.workdir / f"{name}.log")
        self.children.append(child)
        child.start()
        return child

    def stop(self) -> None:
        """Stops the children in reverse start order (SIGTERM, then SIGKILL), removes workdir."""
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self, name: str = "kube-apiserver", lines: int = LOG_TAIL_LINES) -> str:
        """Last log lines of one component (etcd, kube-apiserver, kube-controller-manager)."""
        return tail(self.workdir / f"{name}.log", lines)

    # -- clients -----------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        as_user: str | None = None,
        check: bool = True,
        input: str | None = None,
        kubeconfig: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Runs the real kubectl (admin kubeconfig unless `kubeconfig` is given).

        `as_user` adds --as (impersonation, e.g. "system:serviceaccount:ns:name"). With
        check=True a non-zero exit raises KubectlError, whose message includes stderr.
        """
        argv = [str(self.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}"]
        if as_user:
            argv.append(f"--as={as_user}")
        argv.extend(args)
        proc = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        """A kubernetes.client.ApiClient for the admin (or the given kubeconfig)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    def service_account_kubeconfig(
        self, namespace: str, name: str, *, create: bool = False, duration: str = "24h"
    ) -> Path:
        """A kubeconfig that authenticates AS ServiceAccount namespace/name (bearer token from
        the TokenRequest API via `kubectl create token`), so RBAC applies to its holder.

        The ServiceAccount must exist (e.g. from operator/deploy/rbac.yaml) unless create=True.
        """
        if create:
            found = self.kubectl("get", "serviceaccount", name, "-n", namespace, check=False)
            if found.returncode != 0:
                self.kubectl("create", "serviceaccount", name, "-n", namespace)
        token = self.kubectl(
            "create", "token", name, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        path = self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        user = f"system:serviceaccount:{namespace}:{name}"
        return write_kubeconfig(
            path, self.server, self.workdir / "pki" / "ca.crt", user, {"token": token}
        )


# --------------------------------------------------------------------------------------------
# The operator as a subprocess


class OperatorProcess:
    """`python -m cappuccino_operator run ...` as a child process with its own kubeconfig.

    Output of every (re)start is appended to one log file; `logs()` returns it all. The process
    runs in its own group, so `kill()` (SIGKILL) also takes any helper processes down.
    """

    def __init__(
        self,
        kubeconfig: Path,
        storage_url: str,
        log_path: Path,
        args: Sequence[str] = ("run", "--all-namespaces", "--standalone"),
        extra_env: Mapping[str, str] | None = None,
        module: str = "cappuccino_operator",
    ) -> None:
        self.module = module
        self.kubeconfig = kubeconfig
        self.storage_url = storage_url
        self.log_path = log_path
        self.args = list(args)
        self.metrics_port: int | None = None
        if self.args and self.args[0] == "run" and "--metrics-port" not in self.args:
            # Several operators may run at once (HA tests): each gets its own metrics port.
            self.metrics_port = free_port()
            self.args += ["--metrics-port", str(self.metrics_port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(
            KUBECONFIG=str(kubeconfig),
            CAPPUCCINO_STORAGE=storage_url,
            PYTHONUNBUFFERED="1",
            **(extra_env or {}),
        )
        self.env = env
        self.child: Child | None = None

    def start(self) -> OperatorProcess:
        """Starts the process (returns at once; wait on effects with wait_until)."""
        if self.child is not None and self.child.running():
            raise ControlPlaneError("operator is already running")
        self.child = Child(
            "operator",
            [sys.executable, "-m", self.module, *self.args],
            self.log_path,
            env=self.env,
            cwd=REPO_ROOT,
        )
        self.child.start()
        return self

    @property
    def pid(self) -> int:
        if self.child is None:
            raise ControlPlaneError("operator was never started")
        return self.child.pid

    def running(self) -> bool:
        return self.child is not None and self.child.running()

    def logs(self) -> str:
        """Everything the operator printed, across restarts."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return f"last operator log lines ({self.log_path}):\n{tail(self.log_path, lines)}"

    def stop(self, timeout: float = 30) -> int | None:
        """Graceful stop: SIGTERM (kopf finishes its handlers), SIGKILL after `timeout`."""
        return self.child.stop(timeout) if self.child else None

    def kill(self) -> int | None:
        """SIGKILL, to simulate a crash mid-reconcile."""
        return self.child.kill() if self.child else None

    def restart(self) -> OperatorProcess:
        """stop() if still running, then start() again with the same settings."""
        if self.running():
            self.stop()
        return self.start()

    def wait_until(
        self,
        predicate: Callable[[], T],
        timeout: float = 60,
        what: str = "condition",
        interval: float = 0.25,
    ) -> T:
        """Polls `predicate` (every `interval` s) until truthy and returns its value. Raises
        ControlPlaneError with the operator's last log lines on timeout, or at once if the
        operator exits meanwhile. Kubernetes 404s count as "not yet"."""

        def check() -> T:
            if self.child is not None:
                self.child.check_alive(f"wait for {what}")
            return predicate()

        return wait_for(check, timeout, what, interval=interval, diagnostics=self.log_tail)


# --------------------------------------------------------------------------------------------
# Installing the operator's CRDs and RBAC


@dataclass(frozen=True)
class OperatorDeployment:
    """What install_operator() applied, and a kubeconfig that authenticates AS the operator."""

    namespace: str
    service_account: str
    crds: tuple[str, ...]
    kubeconfig: Path


def crd_names(files: Sequence[Path]) -> tuple[str, ...]:
    """metadata.name (`<plural>.<group>`) of every CustomResourceDefinition in the files."""
    names = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
    return tuple(names)


def wait_until_listable(plane: ControlPlane, crds: Sequence[str], timeout: float = 60) -> None:
    """Waits until every CRD's resources can be listed. `Established` comes before the
    apiserver's watch cache for the new resource is ready; until then lists answer 429
    "storage is (re)initializing", which a just-started operator would log as errors."""

    def listable() -> bool:
        args = ("get", ",".join(crds), "-A", "-o", "name", "--request-timeout=5s")
        return plane.kubectl(*args, check=False, timeout=30).returncode == 0

    wait_for(listable, timeout, f"{', '.join(crds)} to be listable", interval=0.2)


def install_operator(plane: ControlPlane) -> OperatorDeployment:
    """Applies crds/*.yaml (waits until Established) and operator/deploy/rbac.yaml with
    `kubectl apply --server-side`, after creating namespace cappuccino-system, exactly as a
    user would; returns the ServiceAccount's kubeconfig with it."""
    crd_files = sorted(CRDS_DIR.glob("*.yaml"))
    if not crd_files:
        raise ControlPlaneError(f"{CRDS_DIR} holds no *.yaml CustomResourceDefinitions")
    if not RBAC_FILE.is_file():
        raise ControlPlaneError(f"{RBAC_FILE} is missing")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
    plane.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(namespace))
    plane.kubectl("apply", "--server-side", "-f", str(CRDS_DIR))
    crds = crd_names(crd_files)
    plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in crds]
    )
    wait_until_listable(plane, crds)
    plane.kubectl("apply", "--server-side", "-f", str(RBAC_FILE))
    kubeconfig = plane.service_account_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)
    return OperatorDeployment(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, crds, kubeconfig)
