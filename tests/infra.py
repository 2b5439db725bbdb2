"""Real servers on loopback for tests: Ceph RGW (S3), moto (S3 emulator), a multi-node Ray cluster.

Fixtures (registered in tests/conftest.py):

- ``ceph_s3`` (session): an :class:`S3Endpoint` on Ceph's RADOS Gateway. Uses the endpoint given
  by ``RAYSIFT_TEST_S3_ENDPOINT`` / ``RAYSIFT_TEST_S3_KEY`` / ``RAYSIFT_TEST_S3_SECRET`` when set
  (e.g. ``. DIR/env`` after ``.ci/ceph.sh start DIR PORT``), else starts one with
  ``.ci/ceph.sh`` (root + Debian packages) and stops it after the session.
- ``moto_s3`` (function; one server per session, state reset per test): an :class:`S3Endpoint`
  on moto's ``ThreadedMotoServer`` (an emulator: for error paths a real store cannot produce).
- ``ray_multinode`` (module): a :class:`RayCluster`: ``ray start --head --num-cpus 0`` plus two
  ``ray start --address ... --num-cpus 1`` worker nodes, dashboard on, all on 127.0.0.1. Needs the
  test process to run inside a loopback-only network namespace (``.ci/netns.sh run NAME --
  pytest ...``; ENVIRONMENT.md: outside one, Ray's agents bind the machine's address).

Every skip for missing infrastructure starts with :data:`INFRA`, so that under ``CI`` (or with
``--require-infra``) conftest turns it into a failed session: a CI run that silently skipped the
real-server tests is not a pass.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

INFRA = "INFRA:"
"""Prefix of every skip reason that means "test infrastructure unavailable"."""

SHARED_DATA = "../shared/data"
"""Prefix of skip reasons for missing shared test data (COMMON.md)."""

REPO = Path(__file__).resolve().parents[1]
CEPH_SH = REPO / ".ci" / "ceph.sh"
NETNS_SH = REPO / ".ci" / "netns.sh"

# RGW rejects the flexible checksums new AWS SDKs send by default (HTTP 411; ENVIRONMENT.md).
CHECKSUM_ENV = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
}


def infra_skip(reason: str) -> None:
    """``pytest.skip`` with the :data:`INFRA` prefix (fails the session under CI)."""
    pytest.skip(f"{INFRA} {reason}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 endpoint on loopback and the credentials for it (``repr`` hides the secret)."""

    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    kind: str = "ceph"
    workdir: str | None = None  # .ci/ceph.sh DIR when this session started the server

    def client(self) -> Any:
        """A boto3 S3 client (path-style addressing, checksums only when required)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def filesystem(self) -> Any:
        """A ``pyarrow.fs.S3FileSystem`` on this endpoint."""
        from pyarrow import fs as pafs

        host = self.endpoint_url.split("://", 1)[1]
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=host,
            scheme="http",
            region=self.region,
        )

    def env(self) -> dict[str, str]:
        """Environment for a subprocess / Ray job that must reach this endpoint through the
        standard AWS credential chain and raysift's endpoint setting (operators/storage.py)."""
        return {
            "RAYSIFT_S3_ENDPOINT": self.endpoint_url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            **CHECKSUM_ENV,
        }

    def new_bucket(self, prefix: str = "raysift-test") -> str:
        """Create a fresh, uniquely named bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}".lower()
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``s3_env(endpoint)`` puts ``endpoint.env()`` into ``os.environ`` for this test only."""

    def apply(endpoint: S3Endpoint) -> dict[str, str]:
        env = endpoint.env()
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return env

    return apply


def _reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=3).read()
    except urllib.error.HTTPError:
        return True  # the server answered (e.g. 403)
    except OSError:
        return False
    return True


def _parse_env_file(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export ") :].split("=", 1)
            out[k] = v
    return out


@pytest.fixture(scope="session")
def ceph_s3() -> Iterator[S3Endpoint]:
    """Ceph RGW on loopback: the one named by ``RAYSIFT_TEST_S3_*`` or one started for the session."""
    for k, v in CHECKSUM_ENV.items():
        os.environ.setdefault(k, v)
    given = os.environ.get("RAYSIFT_TEST_S3_ENDPOINT")
    if given:
        key, secret = os.environ.get("RAYSIFT_TEST_S3_KEY"), os.environ.get("RAYSIFT_TEST_S3_SECRET")
        if not (key and secret):
            infra_skip("RAYSIFT_TEST_S3_ENDPOINT is set but RAYSIFT_TEST_S3_KEY / RAYSIFT_TEST_S3_SECRET are not")
        if not _reachable(given):
            infra_skip(f"RAYSIFT_TEST_S3_ENDPOINT={given} does not answer (inside another network namespace?)")
        yield S3Endpoint(given, key, secret, os.environ.get("RAYSIFT_TEST_S3_REGION", "us-east-1"), "ceph")
        return
    if os.geteuid() != 0:
        infra_skip("Ceph RGW needs root to start (or set RAYSIFT_TEST_S3_ENDPOINT/KEY/SECRET to a running one)")
    missing = [b for b in ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin") if shutil.which(b) is None]
    if missing:
        infra_skip(
            f"{', '.join(missing)} not installed; run: apt-get install -y --no-install-recommends "
            "radosgw ceph-mon ceph-osd ceph-common"
        )
    for attempt in range(2):  # one retry with a fresh directory and port: a start can fail transiently
        workdir = tempfile.mkdtemp(prefix="raysift-ceph-")
        proc = subprocess.run(
            ["bash", str(CEPH_SH), "start", workdir, str(free_port())], capture_output=True, text=True, timeout=180
        )
        if proc.returncode == 0 or attempt == 1:
            break
        subprocess.run(["bash", str(CEPH_SH), "stop", workdir], capture_output=True, timeout=60)
    try:
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-5:]
            infra_skip(f".ci/ceph.sh start failed (exit {proc.returncode}): {' | '.join(tail)}")
        env = _parse_env_file(proc.stdout)
        yield S3Endpoint(
            env["RAYSIFT_TEST_S3_ENDPOINT"], env["RAYSIFT_TEST_S3_KEY"], env["RAYSIFT_TEST_S3_SECRET"],
            env.get("RAYSIFT_TEST_S3_REGION", "us-east-1"), "ceph", workdir,
        )
    finally:
        subprocess.run(["bash", str(CEPH_SH), "stop", workdir], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[S3Endpoint]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        infra_skip("moto[server] not installed; pip install 'moto[server]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(f"http://{host}:{port}", "testing", "testing", "us-east-1", "moto")
    finally:
        server.stop()


@pytest.fixture
def moto_s3(_moto_server: S3Endpoint) -> S3Endpoint:
    """moto's S3 server on 127.0.0.1, emptied before each test."""
    for k, v in CHECKSUM_ENV.items():
        os.environ.setdefault(k, v)
    req = urllib.request.Request(f"{_moto_server.endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    return _moto_server


# ------------------------------------------------------------------------ process environment


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str], unset: Collection[str] = ()) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``unset`` removed inside the block, restored after."""
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    for k in unset:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -------------------------------------------------------------------------------- multi-node Ray


def in_loopback_only_netns() -> bool:
    """True when this process's network namespace has no interface but ``lo``."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def _listening_addresses() -> set[str]:
    """Local addresses of listening TCP sockets in this network namespace (from /proc/net/tcp*)."""
    addrs = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] != "0A":  # LISTEN
                continue
            hex_ip = parts[1].split(":")[0]
            if width == 8:
                addrs.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_ip)[::-1]))
            else:
                raw = bytes.fromhex(hex_ip)
                addrs.add(socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))))
    return addrs


def _has_file_under(proc: Path, marker: str) -> bool:
    """The process has a file open under the path ``marker`` (a Ray process its session logs)."""
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(marker):
                return True
        except OSError:
            continue
    return False


def processes_mentioning(marker: str) -> list[int]:
    """PIDs (not ours, not zombies) whose command line or environment contains ``marker``, or
    that hold a file open under it.

    A cluster's private temp dir is in the arguments of GCS, raylet, dashboard and agents,
    and in the environment (``RAYSIFT_RAY_CLUSTER``) of everything they spawn, job drivers
    included. An agent whose raylet was killed (node loss tests) outlives it under a new
    process title (``ray::...``) and an environment without the marker; its log files under
    the temp dir still name it.
    """
    needle = marker.encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            found = needle in (entry / "cmdline").read_bytes()
            if not found:
                try:
                    found = needle in (entry / "environ").read_bytes()
                except PermissionError:
                    found = False
            if not found and marker.startswith("/"):
                found = _has_file_under(entry, marker)
        except OSError:
            continue
        if found and ") Z" not in stat:
            pids.append(int(entry.name))
    return pids


def kill_processes_mentioning(marker: str, grace_seconds: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, exactly the processes whose command line contains ``marker``.

    ``ray stop`` would kill every Ray process on the machine, including other people's
    clusters; a cluster started with a private ``--temp-dir`` is identified by that path
    (GCS, raylet, dashboard, agents and workers all carry it in their arguments).
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_mentioning(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_seconds
        while processes_mentioning(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not processes_mentioning(marker):
            return


@dataclass
class RayCluster:
    """A multi-node Ray cluster on loopback started by :func:`start_ray_cluster`."""

    address: str  # GCS address for ray.init / `ray start --address`
    dashboard_url: str  # for `ray job submit --address`
    temp_dir: str
    env: dict[str, str]  # environment the cluster was started with (auth mode, token path)
    num_workers: int
    # node-manager port of each worker node, in start order (``record_worker_ports=True`` only;
    # nodes added by :meth:`add_worker_node` are appended): how :meth:`kill_worker_node` finds one
    worker_ports: list[int] = field(default_factory=list)
    _worker_args: list[str] = field(default_factory=list, repr=False)  # `ray start` args of a worker node
    _raylet_cache: dict[int, int] = field(default_factory=dict, repr=False)
    _monitor_cache: dict[int, int] = field(default_factory=dict, repr=False)
    _node_env: dict[str, str] = field(default_factory=dict, repr=False)  # start_ray_cluster(node_env=...)

    def job_submit(self, *entrypoint: str, working_dir: str | Path = REPO, timeout: float = 600,
                   env: dict[str, str] | None = None, runtime_env_vars: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:
        """``ray job submit --address DASHBOARD --working-dir DIR -- ENTRYPOINT...`` (waits for the job).

        runtime_env_vars: environment for the job's driver and workers (``--runtime-env-json``),
        e.g. ``S3Endpoint.env()``.
        """
        cmd = [_ray_bin(), "job", "submit", "--address", self.dashboard_url, "--working-dir", str(working_dir)]
        if runtime_env_vars:
            cmd += ["--runtime-env-json", json.dumps({"env_vars": runtime_env_vars})]
        cmd += ["--", *entrypoint]
        run_env = {k: v for k, v in os.environ.items() if k not in _UNSET_FOR_CLUSTER}
        deadline = time.monotonic() + 90
        while True:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**run_env, **self.env, **(env or {})}, cwd=str(working_dir))
            # The job server refuses a submission until a node's agent has registered with it
            # (seen minutes after `ray start` on a loaded machine); the job never started, so retry.
            if done.returncode == 0 or _NO_AGENT not in done.stderr + done.stdout:
                return done
            if time.monotonic() > deadline:
                done.stderr += self._agent_log_tail()
                return done
            time.sleep(3)

    def job_start(self, *entrypoint: str, working_dir: str | Path = REPO, submission_id: str | None = None,
                  runtime_env_vars: dict[str, str] | None = None) -> str:
        """``ray job submit --no-wait --submission-id ID ...``: start a job and return its id at
        once (for tests that act on the cluster while the job runs; see :meth:`job_wait`)."""
        submission_id = submission_id or f"raysift-{uuid.uuid4().hex[:10]}"
        cmd = [_ray_bin(), "job", "submit", "--address", self.dashboard_url, "--working-dir", str(working_dir),
               "--no-wait", "--submission-id", submission_id]
        if runtime_env_vars:
            cmd += ["--runtime-env-json", json.dumps({"env_vars": runtime_env_vars})]
        cmd += ["--", *entrypoint]
        run_env = {k: v for k, v in os.environ.items() if k not in _UNSET_FOR_CLUSTER} | self.env
        deadline = time.monotonic() + 90
        while True:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=run_env, cwd=str(working_dir))
            if done.returncode == 0:
                return submission_id
            if _NO_AGENT not in done.stderr + done.stdout or time.monotonic() > deadline:
                raise RuntimeError(f"ray job submit failed: {done.stderr[-2000:]}{self._agent_log_tail()}")
            time.sleep(3)

    def job_status(self, submission_id: str) -> str:
        """``SUCCEEDED``, ``FAILED``, ``RUNNING``, ... of a submitted job (job REST API)."""
        from ray.job_submission import JobSubmissionClient

        return str(JobSubmissionClient(self.dashboard_url).get_job_status(submission_id).value)

    def job_wait(self, submission_id: str, timeout: float = 600) -> tuple[str, str]:
        """Wait for a job started with :meth:`job_start` to end: ``(status, driver log)``."""
        from ray.job_submission import JobStatus, JobSubmissionClient

        client = JobSubmissionClient(self.dashboard_url)
        deadline = time.monotonic() + timeout
        while True:
            status = client.get_job_status(submission_id)
            if status.is_terminal():
                return str(status.value), client.get_job_logs(submission_id)
            if time.monotonic() > deadline:
                client.stop_job(submission_id)
                return f"TIMEOUT ({status.value} after {timeout} s)", client.get_job_logs(submission_id)
            time.sleep(0.5 if status == JobStatus.RUNNING else 1.0)

    def _agent_log_tail(self, lines: int = 20) -> str:
        """The last lines of the head's dashboard agent log, to explain a missing agent."""
        log = Path(self.temp_dir) / "session_latest" / "logs" / "dashboard_agent.log"
        try:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
        except OSError as exc:
            return f"\n(no head agent log: {exc})"
        return "\n--- head dashboard_agent.log (tail) ---\n" + "\n".join(tail)

    def alive_nodes(self) -> int:
        import ray

        return sum(1 for n in ray.nodes() if n["Alive"])

    # ------------------------------------------------------------------ node loss (issue 13)

    def _run_env(self) -> dict[str, str]:
        return ({k: v for k, v in os.environ.items() if k not in _UNSET_FOR_CLUSTER} | self.env
                | {"RAYSIFT_RAY_CLUSTER": self.temp_dir} | self._node_env)

    def add_worker_node(self, num_cpus: int = 1) -> int:
        """``ray start --address ...`` one more worker node with a recorded node-manager port
        (e.g. a replacement after :meth:`kill_worker_node`); returns its index in ``worker_ports``."""
        if not self._worker_args:
            raise RuntimeError("add_worker_node needs a cluster from start_ray_cluster(record_worker_ports=True)")
        port = free_port()
        subprocess.run([_ray_bin(), "start", "--address", self.address, "--num-cpus", str(num_cpus),
                        *self._worker_args, "--node-manager-port", str(port), *_node_ports()],
                       check=True, capture_output=True, text=True, env=self._run_env(), timeout=180)
        self.worker_ports.append(port)
        self.num_workers += 1
        return len(self.worker_ports) - 1

    def _raylet_pid(self, i: int) -> int | None:
        """PID of worker node ``i``'s raylet: this cluster's raylet started with its port."""
        flag = f"--node_manager_port={self.worker_ports[i]}".encode()
        for pid in processes_mentioning(self.temp_dir):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"/raylet") and flag in argv:
                return pid
        return None

    def worker_node_alive(self, i: int) -> bool:
        """True while worker node ``i``'s raylet runs."""
        return self._raylet_pid(i) is not None

    def worker_node_id(self, i: int) -> str:
        """Ray node id (hex) of worker node ``i`` (its raylet's ``--node_id``), while it runs."""
        pid = self._raylet_pid(i)
        if pid is None:
            raise RuntimeError(f"worker node {i} (node-manager port {self.worker_ports[i]}) has no raylet")
        for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            if arg.startswith(b"--node_id="):
                return arg.split(b"=", 1)[1].decode()
        raise RuntimeError(f"raylet {pid} of worker node {i} has no --node_id argument")

    def worker_tasks(self, i: int) -> list[tuple[int, str]]:
        """``(pid, title)`` of the Ray workers of node ``i``, from their process titles: a worker
        renames itself ``ray::<task name>`` while it runs a task (the state API's task name;
        ``ray::IDLE`` between tasks, ``ray::<Actor>.<method>`` in an actor). Reads only /proc,
        so it is cheap enough to poll every few milliseconds. Empty when the node is gone."""
        raylet = self._raylet_cache.get(i) or self._raylet_pid(i)
        if raylet is None or not _running(raylet):
            self._raylet_cache.pop(i, None)
            return []
        self._raylet_cache[i] = raylet
        out = []
        for kid in _children(raylet):
            try:
                title = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::"):
                out.append((kid, title[len("ray::"):].strip()))
        return out

    def worker_task_titles(self, i: int) -> list[str]:
        """What the workers of node ``i`` are executing now (:meth:`worker_tasks`)."""
        return [title for _, title in self.worker_tasks(i)]

    def _log_monitor_pid(self, raylet: int) -> int | None:
        """The log monitor ``ray start`` started beside ``raylet``: it writes ``log_monitor.N.out``
        where the raylet's socket is ``raylet.N``."""
        argv = Path(f"/proc/{raylet}/cmdline").read_bytes().split(b"\0")
        socket_arg = next((a for a in argv if a.startswith(b"--raylet_socket_name=")), b"")
        suffix = socket_arg.rsplit(b"/raylet", 1)[-1].decode()  # "" for a session's first node, else ".N"
        for pid in processes_mentioning(self.temp_dir):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"log_monitor.py" in cmd and f"/log_monitor{suffix}.out".encode() in cmd:
                return pid
        return None

    def worker_node_pids(self, i: int) -> list[int]:
        """Every process of worker node ``i``: its raylet, the raylet's descendants (task and
        actor workers, dashboard and runtime-env agents) and the node's log monitor. Empty when
        the raylet is gone."""
        raylet = self._raylet_pid(i)
        if raylet is None:
            return []
        monitor = self._log_monitor_pid(raylet)
        return [raylet, *_descendants(raylet), *([monitor] if monitor else [])]

    def kill_worker_node(self, i: int, first: tuple[int, ...] = (), timeout: float = 10.0) -> list[int]:
        """SIGKILL every process of worker node ``i`` (:meth:`worker_node_pids`), as when a
        machine disappears, and wait until they are gone. Returns the PIDs killed.

        Quick enough to land inside a task that runs for milliseconds: ``first`` (e.g. the worker
        running the task, from :meth:`worker_tasks`) and then the raylet die before anything else is
        looked up (the raylet's PID is cached, its log monitor found by :meth:`arm_kill` ahead
        of time), then the raylet's other children and their descendants."""
        raylet = self._raylet_cache.get(i) or self._raylet_pid(i)
        if raylet is None or not _running(raylet):
            raise RuntimeError(f"worker node {i} (node-manager port {self.worker_ports[i]}) is not running")
        monitor = self._monitor_cache.pop(i, None) or self._log_monitor_pid(raylet)
        kids = [k for k in _children(raylet) if k not in first]
        for pid in (*first, raylet):  # the task's worker first: it must not get to report a result
            _sigkill(pid)
        rest = [d for k in kids for d in _descendants(k)] + kids + ([monitor] if monitor else [])
        for pid in rest:
            _sigkill(pid)
        self._raylet_cache.pop(i, None)
        pids = [raylet, *first, *rest]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [p for p in pids if _running(p)]
            if not alive:
                return pids
            time.sleep(0.05)
        raise RuntimeError(f"worker node {i}: processes {alive} survived SIGKILL for {timeout} s")

    def arm_kill(self, i: int) -> None:
        """Find worker node ``i``'s raylet and log monitor now, so :meth:`kill_worker_node` only
        has to walk the raylet's children when it is called."""
        raylet = self._raylet_pid(i)
        if raylet is not None:
            self._raylet_cache[i] = raylet
            monitor = self._log_monitor_pid(raylet)
            if monitor:
                self._monitor_cache[i] = monitor


_NO_AGENT = "No available agent to submit job"


def _children(pid: int) -> list[int]:
    """PIDs of the children of ``pid`` (``/proc/PID/task/TID/children`` of each of its threads)."""
    out = []
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for thread in threads:
        try:
            out += [int(k) for k in (thread / "children").read_text().split()]
        except OSError:
            continue
    return out


def _descendants(pid: int) -> list[int]:
    """PIDs of every descendant of ``pid``."""
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _ray_env(temp_dir: str) -> dict[str, str]:
    """Token auth off, explicitly. Ray 2.60 turns token auth on for a new head when
    RAY_AUTH_MODE is unset and, for joining nodes and drivers, only when ~/.ray/auth_token exists
    (ENVIRONMENT.md), and a driver reads the mode once at ``import ray``. An explicit
    ``disabled`` works for every process whatever the test process imported; the cluster is
    reachable only from inside its loopback-only network namespace."""
    return {
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


# `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (what single-node tests set to bind loopback) makes
# `ray start --address` refuse to join (ENVIRONMENT.md); the netns already confines the cluster.
_UNSET_FOR_CLUSTER = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")


def _ray_bin() -> str:
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    if ray_bin is None:
        raise RuntimeError("the `ray` command is not installed next to this Python; pip install 'ray[default]'")
    return ray_bin


def _node_ports() -> list[str]:
    """Fresh ports for one node's agents. Ray's fixed defaults (dashboard agent HTTP 52365,
    ...) collide when several nodes share one loopback, and with the agents of a cluster that
    is still shutting down: the head's agent then never registers and every ``ray job submit``
    fails with "No available agent to submit job"."""
    return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]


def start_ray_cluster(num_workers: int = 2, cpus_per_worker: int = 1,
                      object_store_bytes: int = 150 * 1024**2, record_worker_ports: bool = False,
                      node_env: dict[str, str] | None = None) -> RayCluster:
    """``ray start --head --num-cpus 0`` + ``num_workers`` worker nodes on 127.0.0.1, private temp dir.

    Call inside a loopback-only network namespace. Stop with :func:`stop_ray_cluster`.
    ``record_worker_ports``: give each worker node a chosen ``--node-manager-port`` and record
    it (``RayCluster.worker_ports``), so a test can kill one node (``kill_worker_node``) and
    start more (``add_worker_node``); off, worker nodes start exactly as before.
    ``node_env``: extra environment for every node's ``ray start`` (Ray system settings such as
    ``RAY_health_check_period_ms``), kept for nodes added later.
    """
    ray_bin = _ray_bin()
    temp_dir = tempfile.mkdtemp(prefix="rsr-", dir="/tmp")  # short: Ray's unix socket paths must fit 107 bytes
    env = _ray_env(temp_dir)
    marker_env = {"RAYSIFT_RAY_CLUSTER": temp_dir}  # inherited by every process of the cluster
    run_env = {k: v for k, v in os.environ.items() if k not in _UNSET_FOR_CLUSTER} | env | marker_env | (node_env or {})
    port, dash_port = free_port(), free_port()
    common = ["--temp-dir", temp_dir, "--node-ip-address", "127.0.0.1", "--object-store-memory",
              str(object_store_bytes), "--disable-usage-stats"]
    cluster = RayCluster(f"127.0.0.1:{port}", f"http://127.0.0.1:{dash_port}", temp_dir, env, num_workers)
    try:
        subprocess.run([ray_bin, "start", "--head", "--num-cpus", "0", "--port", str(port),
                        "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
                        "--dashboard-port", str(dash_port), *common, *_node_ports()],
                       check=True, capture_output=True, text=True, env=run_env, timeout=180)
        if record_worker_ports:
            cluster._worker_args = list(common)
            cluster._node_env = dict(node_env or {})
            cluster.num_workers = 0
            for _ in range(num_workers):
                cluster.add_worker_node(cpus_per_worker)
        for _ in range(0 if record_worker_ports else num_workers):
            subprocess.run([ray_bin, "start", "--address", cluster.address, "--num-cpus", str(cpus_per_worker),
                            *common, *_node_ports()], check=True, capture_output=True, text=True, env=run_env,
                           timeout=180)
    except subprocess.CalledProcessError as exc:
        stop_ray_cluster(cluster)
        raise RuntimeError(f"ray start failed: {exc.stderr[-2000:]}") from exc
    return cluster


def stop_ray_cluster(cluster: RayCluster) -> None:
    """Kill exactly this cluster's processes (never ``ray stop``) and remove its temp dir."""
    kill_processes_mentioning(cluster.temp_dir)
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_multinode() -> Iterator[RayCluster]:
    """Head (0 CPUs) + 2 one-CPU worker nodes + dashboard, all on 127.0.0.1 of a loopback-only netns.

    The test process's environment gets the cluster's auth settings for the module, so
    ``ray.init(address=cluster.address)`` works; the fixture does not call ``ray.init`` itself.
    """
    if not in_loopback_only_netns():
        infra_skip(
            "multi-node Ray needs a loopback-only network namespace (ENVIRONMENT.md); run the tests "
            "with: .ci/netns.sh run raysift-test -- python -m pytest ..."
        )
    cluster = start_ray_cluster()
    with patched_environ(cluster.env, unset=_UNSET_FOR_CLUSTER):
        try:
            yield cluster
        finally:
            import ray

            if ray.is_initialized():
                ray.shutdown()
            stop_ray_cluster(cluster)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A single-node Ray for a test module: 2 CPUs, a small object store, on 127.0.0.1
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, ENVIRONMENT.md), shut down after the module."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=300 * 1024**2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@contextlib.contextmanager
def local_ray_with_env(env: dict[str, str], object_store_mb: int = 300) -> Iterator[None]:
    """A single-node Ray (2 CPUs, small object store, 127.0.0.1) started with ``env`` set in this
    process, so its workers inherit it (S3 endpoint and credentials); ``env`` is restored after."""
    with patched_environ({**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}):
        import ray

        ray.init(num_cpus=2, object_store_memory=object_store_mb * 1024**2, include_dashboard=False,
                 log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            yield
        finally:
            ray.shutdown()


def read_request_body(handler) -> bytes:
    """The body of the request a ``BaseHTTPRequestHandler`` is serving: chunked transfer
    encoding (as boto3 and pyarrow's S3 client stream uploads) or ``Content-Length`` bytes."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline().strip():  # trailers, then the blank line
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


# ------------------------------------------------------------------ job drivers in a subprocess


def marked_env(marker: str) -> dict[str, str]:
    """This process's environment for a job driver starting its own local Ray, tagged with ``marker``."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAYSIFT_TEST_MARKER"] = marker  # inherited by the local Ray the driver starts
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return env


def run_marked(cmd: list[str], marker: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in the repo with :func:`marked_env`, then kill what still carries ``marker``."""
    try:
        return subprocess.run(cmd, cwd=REPO, env=marked_env(marker), capture_output=True, text=True, timeout=600)
    finally:
        kill_processes_mentioning(marker, grace_seconds=2)


def kill_driver_when(cmd: list[str], marker: str, ready: Callable[[], bool], timeout: float = 400.0) -> None:
    """Start ``cmd`` as :func:`run_marked` does, in its own session; once ``ready()``, SIGKILL it and its Ray."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=marked_env(marker), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill_processes_mentioning(marker, grace_seconds=2)


# ------------------------------------------------------------------------- shared test data


def expand_job_rows(n_seed: int, n_math: int, n_web: int) -> tuple[list[dict], list[dict]]:
    """Seed and pool rows for ``raysift expand`` from ../shared/data (skips the test without it)."""
    # seed: StackMathQA Q&A texts; pool: the next n_math of them under a math forum's URLs, then
    # the first n_web pages' main text (modern-wceb-2026 ground truth, >= 50 words) under their own URLs
    data = REPO.parent / "shared" / "data"
    stack = data / "math-seed" / "stackmathqa"
    web_dir = data / "extraction-dev" / "modern-wceb-2026" / "ground-truth"
    if not stack.is_dir() or not web_dir.is_dir():
        pytest.skip(f"{SHARED_DATA} not found: {stack} / {web_dir} (seed and pool of the expand job)")
    math = []
    for p in sorted(stack.glob("*.jsonl"), key=lambda p: int(p.stem)):
        for line in p.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            math.append(r["Q"] + "\n" + r["A"])
    web = []
    for p in sorted(web_dir.glob("*.json.gz")):
        r = json.loads(gzip.decompress(p.read_bytes()))
        text = (r.get("ground_truth") or {}).get("main_content") or ""
        if len(text.split()) >= 50:
            web.append((r["url"], text))
        if len(web) == n_web:
            break
    seed = [{"id": f"seed-{i:04d}", "text": t} for i, t in enumerate(math[:n_seed])]
    pool = [{"id": f"m-{i:04d}", "url": f"https://mathforum.example/questions/{i}/q", "text": t}
            for i, t in enumerate(math[n_seed:n_seed + n_math])]
    pool += [{"id": f"w-{i:04d}", "url": u, "text": t} for i, (u, t) in enumerate(web)]
    return seed, pool


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` to ``path`` as JSON lines (creating its folder) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_expand_job_inputs(root: Path, n_seed: int, n_math: int, n_web: int) -> tuple[Path, Path]:
    """:func:`expand_job_rows` written to ``root``/seed.jsonl and ``root``/pool.jsonl; the two paths."""
    seed_rows, pool_rows = expand_job_rows(n_seed, n_math, n_web)
    return write_jsonl(root / "seed.jsonl", seed_rows), write_jsonl(root / "pool.jsonl", pool_rows)


# ------------------------------------------------------------------------ comparing outputs


def parquet_rows(folder: Path) -> dict[str, str]:
    """id -> whole row as canonical JSON (NaN-safe) from ``folder``'s Parquet files; fails on an id written twice."""
    import pyarrow.parquet as pq

    out: dict[str, str] = {}
    for f in sorted(folder.glob("*.parquet")):
        for row in pq.read_table(f).to_pylist():
            assert row["id"] not in out, f"document {row['id']} written twice in {folder}"
            out[row["id"]] = json.dumps(row, sort_keys=True, default=str)
    return out


def stable_stats(value: Any, root: Path | str, volatile: Collection[str]) -> Any:
    """A parsed stats.json without the keys in ``volatile`` (any depth); strings under ``root`` start ``<out>``."""
    if isinstance(value, dict):
        return {k: stable_stats(v, root, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [stable_stats(v, root, volatile) for v in value]
    if isinstance(value, str) and value.startswith(str(root)):
        return "<out>" + value[len(str(root)):]
    return value
