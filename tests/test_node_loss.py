"""A worker node dies mid-run on a real multi-node Ray cluster; the job still finishes, with the
output of an undisturbed local run (issue 13, item 2).

The cluster (module fixture): ``ray start --head --num-cpus 0`` plus three one-CPU worker nodes
on 127.0.0.1 of a loopback-only network namespace, each worker started with a recorded
``--node-manager-port`` so that :meth:`RayCluster.kill_worker_node` finds its raylet and SIGKILLs
the raylet, every process under it (task and actor workers, agents) and the node's log monitor:
the node is gone as when a machine disappears. Jobs go in as users submit them (``ray job
submit --working-dir <repo> -- python -m jobs.<command> ...``); the driver runs on the head.

Two jobs, each compared with the same command run locally (its own single-node Ray):

* ``raysift run --recipe default`` on a generated crawl, with ``--set
  dedup.fuzzy.local_fast_path_max_edges=0`` so that connected components run on the cluster
  (large-star/small-star rounds) instead of on the driver, and 12 shuffle partitions for exact
  and fuzzy dedup (more partitions than CPUs, as on any real cluster). One worker node is
  killed in each of four phases, in pipeline order: read/extract/filter, the exact-dedup
  shuffles, the fuzzy-dedup shuffles (LSH buckets, the two verification joins), connected
  components. After each kill a replacement node joins (as an autoscaler would), so later
  phases have CPUs; at least one worker node survives every kill.
* ``raysift expand --iterations 1`` (StackMathQA seed and a pool of math Q&A and web pages from
  ../shared/data): the node that hosts the fastText scoring actor is killed.

Aiming a kill: Ray's state API reports task events in batches about a second apart, and a
shuffle task of a test-sized corpus runs for milliseconds, so the state API sees most of them
only after they ended. A Ray worker names its process ``ray::<task name>`` while it runs a task
(the state API's task name), so the test reads the process titles of each worker node's
workers every few milliseconds and kills the first node whose worker runs a task of the
awaited phase (that worker and the raylet first). The state API then proves it after the job:
an attempt of a task of that phase ended ``FAILED`` (``NODE_DIED``) on the killed node and a
later attempt of the same task finished on another node (for the scoring actor: it was
restarted elsewhere), and the node is ``DEAD``.

What this found (fixed in operators/): Ray Data's keyed shuffles and joins hung after a node
loss (their reducers wait for lost shards while holding every CPU; dedup now uses its own
shuffle, ``operators.dedup.components.shuffle_inputs``); Ray Data's Parquet DataSourceV2 failed
the read when the node of a footer-reading actor died (``stage.read_parquet_dir`` reads with
the task-based datasource); ``expand`` trained another model when the pool's blocks arrived in
another order (negatives are now sampled by a stable hash rank).

Run inside a loopback-only namespace (as root)::

    .ci/netns.sh run raysift-nl -- python -m pytest -q tests/test_node_loss.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from operators.samplegen import generate_sample, load_truth
from tests.infra import (
    _UNSET_FOR_CLUSTER,
    RayCluster,
    in_loopback_only_netns,
    infra_skip,
    parquet_rows,
    patched_environ,
    stable_stats,
    start_ray_cluster,
    stop_ray_cluster,
    write_expand_job_inputs,
)

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[1]

# Node death is noticed after `health_check_failure_threshold` missed checks `health_check_period_ms`
# apart (Ray's defaults: 5 x 3 s); 1 s apart keeps each kill's stall short. A check still waits
# Ray's default 10 s for an answer, so a live raylet on a busy machine is not declared dead.
NODE_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "5"}
WORKERS = 3
JOB_TIMEOUT = 900.0
POLL_SECONDS = 0.005  # between two reads of the workers' process titles (a dedup shuffle task runs ~10 ms here)

# A phase is recognised by the names of its Ray tasks (process title ``ray::<name>``, the same
# name as in the state API); any of these substrings marks a task of the phase.
RUN_PHASES: dict[str, tuple[str, ...]] = {
    # Ray Data's fused task ReadWarc->MapBatches(annotate_slices)->MapBatches(write_work_shard)
    "read/extract/filter": ("annotate_slices",),
    # dedup shuffles (operators/dedup/components.shuffle_inputs) are named
    # HashShuffleMap(keys=(...), partitions=N)->fn and HashShuffleReduce(keys=(...), partitions=N)->fn:
    # exact dedup by URL key, then by text key (mark_url_duplicates, mark_text_duplicates)
    "exact-dedup shuffle": ("keys=('part_key',)", "keys=('text_key',)"),
    # the LSH bucket shuffle, then the two verification joins (attach_source, score_pairs)
    "fuzzy-dedup shuffle": ("keys=('band', 'band_hash')", "keys=('key',)"),
    # large-star / small-star rounds: shuffles by edge endpoint
    "connected components": ("keys=('u',)",),
}
EXPAND_PHASES: dict[str, tuple[str, ...]] = {
    # the actor pool's workers: MapWorker(MapBatches(MathScorer)) and its .__init__ / .submit
    "classifier scoring": ("MapBatches(MathScorer)",),
}


# --------------------------------------------------------------------------------- the cluster


@pytest.fixture(scope="module")
def cluster():
    if not in_loopback_only_netns():
        infra_skip(
            "multi-node Ray needs a loopback-only network namespace (ENVIRONMENT.md); run the tests "
            "with: .ci/netns.sh run raysift-nl -- python -m pytest tests/test_node_loss.py"
        )
    c = start_ray_cluster(num_workers=WORKERS, record_worker_ports=True, node_env=NODE_ENV)
    with patched_environ(c.env, unset=_UNSET_FOR_CLUSTER):
        try:
            yield c
        finally:
            stop_ray_cluster(c)


# ------------------------------------------------------------------------- kills during a job


@dataclass
class Kill:
    phase: str
    node: int  # index in RayCluster.worker_ports
    node_id: str
    titles: list[str]  # what the node's workers were running when it was killed
    at: float  # seconds after the job was submitted
    survivors: int  # worker nodes alive right after the kill


@dataclass
class ClusterRun:
    submission_id: str
    job_id: str
    status: str
    logs: str
    seconds: float
    kills: dict[str, Kill] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)  # phases passed before a kill could land

    def failure(self) -> str:
        kills = "; ".join(f"{k.phase}: node {k.node_id[:12]} at {k.at:.1f} s" for k in self.kills.values())
        return f"job {self.submission_id} {self.status} after kills [{kills}]\n{self.logs[-4000:]}"


def _matching(titles: list[str], patterns: tuple[str, ...]) -> list[str]:
    return [t for t in titles if any(p in t for p in patterns)]


def run_with_kills(cluster: RayCluster, entrypoint: list[str], phases: dict[str, tuple[str, ...]],
                   replace: bool) -> ClusterRun:
    """Submit ``entrypoint``; kill one worker node in each of ``phases`` (in order) as soon as one
    of its workers runs a task of that phase, keeping at least one worker node alive; with
    ``replace``, start a replacement node after each kill. Returns when the job has ended."""
    lock = threading.Lock()
    alive = [i for i in range(len(cluster.worker_ports)) if cluster.worker_node_alive(i)]
    node_ids = {i: cluster.worker_node_id(i) for i in alive}
    for i in alive:
        cluster.arm_kill(i)
    errors: list[BaseException] = []

    def add_replacement() -> None:
        try:
            i = cluster.add_worker_node()
            node_id = cluster.worker_node_id(i)
            cluster.arm_kill(i)
        except BaseException as exc:  # reported after the job: a failed start must not pass silently
            errors.append(exc)
            return
        with lock:
            node_ids[i] = node_id
            alive.append(i)

    submission_id = cluster.job_start(*entrypoint, working_dir=REPO)
    started = time.monotonic()
    pending = list(phases)
    run = ClusterRun(submission_id, "", "", "", 0.0)
    threads: list[threading.Thread] = []
    ended = threading.Event()

    def watch_job() -> None:  # in a thread: an HTTP round trip must not pause the polling below
        while not ended.is_set():
            try:
                if cluster.job_status(submission_id) in ("SUCCEEDED", "FAILED", "STOPPED"):
                    break
            except Exception:  # the dashboard is busy; ask again
                pass
            if time.monotonic() - started > JOB_TIMEOUT:
                break  # job_wait stops it and reports the timeout
            time.sleep(0.5)
        ended.set()

    watcher = threading.Thread(target=watch_job, daemon=True)
    watcher.start()
    while not ended.is_set():
        with lock:
            candidates = list(alive) if pending and len(alive) >= 2 else []
        for i in candidates:
            tasks = cluster.worker_tasks(i)
            hit = next((n for n, phase in enumerate(pending) if _matching([t for _, t in tasks], phases[phase])), None)
            if hit is None:
                continue
            phase = pending[hit]
            running = [(pid, t) for pid, t in tasks if _matching([t], phases[phase])]
            cluster.kill_worker_node(i, first=tuple(pid for pid, _ in running))
            with lock:
                alive.remove(i)
                survivors = len(alive)
            run.kills[phase] = Kill(phase, i, node_ids[i], [t for _, t in running],
                                    round(time.monotonic() - started, 2), survivors)
            run.missed += pending[:hit]
            del pending[: hit + 1]
            if replace:
                threads.append(threading.Thread(target=add_replacement, daemon=True))
                threads[-1].start()
            break
        time.sleep(POLL_SECONDS)
    watcher.join(timeout=10)
    run.status, run.logs = cluster.job_wait(submission_id, timeout=max(60.0, JOB_TIMEOUT - (time.monotonic() - started)))
    run.seconds = round(time.monotonic() - started, 1)
    run.missed += pending
    for t in threads:
        t.join(timeout=240)
    assert not errors, f"a replacement worker node did not start: {errors[0]!r}"
    from ray.job_submission import JobSubmissionClient

    run.job_id = JobSubmissionClient(cluster.dashboard_url).get_job_info(submission_id).job_id or ""
    return run


def _job_tasks(cluster: RayCluster, job_id: str) -> list[Any]:
    from ray.util.state import list_tasks

    return list_tasks(address=cluster.dashboard_url, filters=[("job_id", "=", job_id)], detail=True,
                      limit=10_000, raise_on_missing_output=False)


def _node_state(cluster: RayCluster, node_id: str) -> str:
    from ray.util.state import list_nodes

    nodes = list_nodes(address=cluster.dashboard_url, filters=[("node_id", "=", node_id)], detail=True,
                       raise_on_missing_output=False)
    return nodes[0].state if nodes else "unknown"


def _same_task(name: str, titles: list[str]) -> bool:
    """``name`` is the task a process title read at the kill shows (titles may be cut short)."""
    return any(name and (title.startswith(name) or name.startswith(title)) for title in titles)


def assert_kill_landed(cluster: RayCluster, run: ClusterRun, phase: str, patterns: tuple[str, ...]) -> None:
    """The node was killed while a task of ``phase`` ran on it, the node is dead, and the phase's
    work on it was redone elsewhere: an attempt failed with the node and a later attempt of the same
    task finished on another node, or (the task returned in the instant before its worker died) an
    attempt that had finished on the node was re-run on another by lineage reconstruction.

    A task's process title is read from ``/proc`` just before the kill, so a task of a few
    milliseconds can return in between; Ray then reports that attempt FINISHED on the dead node.
    When nothing of it had to be redone either, the phase must still have finished tasks on the
    surviving nodes after the loss (the run went on without the node)."""
    assert phase not in run.missed, (
        f"no task of phase {phase!r} ({' / '.join(patterns)}) was seen running on a worker node while "
        f"another one was alive; kills: {run.kills}"
    )
    kill = run.kills[phase]
    assert kill.titles and kill.survivors >= 1, kill
    tasks = _job_tasks(cluster, run.job_id)
    of_phase = [t for t in tasks if any(p in (t.name or "") for p in patterns)]
    lost = [t for t in of_phase if t.state == "FAILED" and t.error_type in ("NODE_DIED", "WORKER_DIED")
            and kill.node_id in f"{t.node_id} {t.error_message}"]
    on_node = [t for t in of_phase if t.state == "FINISHED" and t.node_id == kill.node_id]
    redone = {t.task_id for t in tasks if t.state == "FINISHED" and t.attempt_number > 0 and t.node_id != kill.node_id}
    if lost:
        assert {t.task_id for t in lost} & redone, (
            f"phase {phase!r}: tasks lost with node {kill.node_id} were not re-run to completion elsewhere: "
            f"{[(t.name, t.task_id, t.attempt_number) for t in lost]}"
        )
    elif not {t.task_id for t in on_node} & redone:
        finished_at_kill = [t for t in on_node if _same_task(t.name or "", kill.titles)]
        last_there = max((t.end_time_ms or 0 for t in finished_at_kill), default=0)
        elsewhere = [t for t in of_phase if t.state == "FINISHED" and t.node_id != kill.node_id
                     and (t.end_time_ms or 0) > last_there]
        assert finished_at_kill and elsewhere, (
            f"phase {phase!r}: no task attempt of the phase failed with node {kill.node_id} (running there at the "
            f"kill: {kill.titles}), none that finished there was redone, and the phase did not go on elsewhere; "
            f"the phase's attempts: "
            f"{[(t.name, t.attempt_number, t.state, (t.node_id or '')[:8], t.error_type) for t in of_phase][:40]}"
        )
    assert _node_state(cluster, kill.node_id) == "DEAD"


# ------------------------------------------------------------------------------------ outputs


VOLATILE = {"wall_time_s", "documents_per_s", "wall_seconds", "ray", "final_model", "model_path", "seconds"}
"""Keys of stats.json that differ between the cluster run and the local one (timings, cluster size, model paths)."""


def _local_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _UNSET_FOR_CLUSTER}


def _start_local(argv: list[str]) -> subprocess.Popen[str]:
    """The same command without a cluster address: it starts its own single-node Ray."""
    return subprocess.Popen(argv, cwd=REPO, env=_local_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish_local(proc: subprocess.Popen[str]) -> None:
    out, err = proc.communicate(timeout=JOB_TIMEOUT)
    assert proc.returncode == 0, f"local reference run failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}"


# ----------------------------------------------------------------- raysift run, four phases


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> tuple[list[str], dict]:
    out = tmp_path_factory.mktemp("crawl")
    paths = generate_sample(out, n_pages=2400, n_files=12, seed=13)
    return [str(p) for p in paths], load_truth(out)


@pytest.fixture(scope="module")
def default_run(cluster, crawl, tmp_path_factory):
    """The default recipe on the cluster with a node killed in each phase, and the same run locally."""
    paths, _ = crawl
    root = tmp_path_factory.mktemp("default-run")
    # more shuffle partitions than CPUs, as on any real cluster (and more, shorter tasks to aim at)
    cmd = [sys.executable, "-m", "jobs.pipeline", "--recipe", "default", "--quiet",
           "--set", "dedup.fuzzy.local_fast_path_max_edges=0", "--set", "dedup.exact.min_partitions=12",
           "--set", "dedup.fuzzy.min_partitions=12", "--input", *paths]
    local = _start_local([*cmd, "--output", str(root / "local")])
    try:
        run = run_with_kills(cluster, [*cmd, "--output", str(root / "cluster")], RUN_PHASES, replace=True)
    finally:
        _finish_local(local)
    return run, root


def _check_phase(cluster: RayCluster, default_run, phase: str) -> None:
    run, _ = default_run
    assert run.status == "SUCCEEDED", run.failure()
    assert_kill_landed(cluster, run, phase, RUN_PHASES[phase])


@pytest.mark.fault_case('driver and node loss', 'worker node SIGKILLed during read/extract/filter (raysift run)', 'the job finishes on the surviving nodes')
def test_node_lost_during_read_extract_filter(cluster, default_run):
    _check_phase(cluster, default_run, "read/extract/filter")


@pytest.mark.fault_case('driver and node loss', 'worker node SIGKILLed during the exact-dedup shuffle', 'the job finishes on the surviving nodes')
def test_node_lost_during_exact_dedup_shuffle(cluster, default_run):
    _check_phase(cluster, default_run, "exact-dedup shuffle")


@pytest.mark.fault_case('driver and node loss', 'worker node SIGKILLed during the fuzzy-dedup shuffle', 'the job finishes on the surviving nodes')
def test_node_lost_during_fuzzy_dedup_shuffle(cluster, default_run):
    _check_phase(cluster, default_run, "fuzzy-dedup shuffle")


@pytest.mark.fault_case('driver and node loss', 'worker node SIGKILLed during connected components', 'the job finishes on the surviving nodes')
def test_node_lost_during_connected_components(cluster, default_run):
    _check_phase(cluster, default_run, "connected components")


@pytest.mark.fault_case('driver and node loss', 'the run that lost a node in each phase', 'documents, rejected and stats counts equal an undisturbed local run')
def test_run_after_node_losses_equals_local_run(default_run, crawl):
    run, root = default_run
    assert run.status == "SUCCEEDED", run.failure()
    cluster_out, local_out = root / "cluster", root / "local"
    kept, rejected = parquet_rows(cluster_out / "documents"), parquet_rows(cluster_out / "rejected")
    assert kept == parquet_rows(local_out / "documents")
    assert rejected == parquet_rows(local_out / "rejected")
    _, truth = crawl
    assert set(kept) | set(rejected) == {p["id"] for p in truth["pages"]}
    reasons = {json.loads(r)["reason"] for r in rejected.values()}
    assert {"exact_duplicate_url", "exact_duplicate_text", "fuzzy_duplicate"} <= reasons
    cluster_stats = json.loads((cluster_out / "stats.json").read_text())
    local_stats = json.loads((local_out / "stats.json").read_text())
    assert stable_stats(cluster_stats, cluster_out, VOLATILE) == stable_stats(local_stats, local_out, VOLATILE)
    assert cluster_stats["fuzzy_dedup"]["components_path"] == "distributed"
    print(f"\ncluster run with {len(run.kills)} node kills: {run.seconds} s; kills at "
          + ", ".join(f"{k.phase} {k.at} s" for k in run.kills.values()))


# ----------------------------------------------------------------------- raysift expand


@pytest.mark.fault_case('driver and node loss', 'worker node SIGKILLed during classifier scoring (raysift expand)', 'the job finishes; output equals a local run')
@pytest.mark.shared_data
def test_expand_survives_node_lost_during_classifier_scoring(cluster, tmp_path):
    seed, pool = write_expand_job_inputs(tmp_path, 300, 250, 500)
    cmd = [sys.executable, "-m", "jobs.expand", "--quiet", "--seed", str(seed), "--pool", str(pool),
           "--iterations", "1"]
    cluster_out, local_out = tmp_path / "cluster", tmp_path / "local"
    local = _start_local([*cmd, "--output", str(local_out)])
    try:
        run = run_with_kills(cluster, [*cmd, "--output", str(cluster_out)], EXPAND_PHASES, replace=False)
    finally:
        _finish_local(local)
    assert run.status == "SUCCEEDED", run.failure()

    # the kill landed on the node of a scoring actor, which Ray restarted on another node
    phase = "classifier scoring"
    assert phase not in run.missed, f"the scoring actor was never seen on a worker node; kills: {run.kills}"
    kill = run.kills[phase]
    from ray.util.state import list_actors

    scorers = [a for a in list_actors(address=cluster.dashboard_url, filters=[("job_id", "=", run.job_id)],
                                      detail=True, limit=1000, raise_on_missing_output=False)
               if "MathScorer" in a.class_name]
    restarted = [a for a in scorers if a.num_restarts >= 1]
    assert restarted and all(a.node_id != kill.node_id for a in restarted), (kill, scorers)
    assert _node_state(cluster, kill.node_id) == "DEAD"

    # and the output is the local run's: recalled rows, scores, both fastText models, per-iteration stats
    recalled = parquet_rows(cluster_out / "recalled")
    assert len(recalled) > 100 and recalled == parquet_rows(local_out / "recalled")
    for name in ("model.bin", "model-fold1.bin"):
        assert (cluster_out / "iterations" / "1" / name).read_bytes() == (local_out / "iterations" / "1" / name).read_bytes()
    for rel in ("stats.json", "iterations/1/stats.json"):
        c = json.loads((cluster_out / rel).read_text())
        loc = json.loads((local_out / rel).read_text())
        assert stable_stats(c, cluster_out, VOLATILE) == stable_stats(loc, local_out, VOLATILE), rel
    print(f"\nexpand with the scoring node killed at {kill.at} s ({kill.titles[0]}): {run.seconds} s")
