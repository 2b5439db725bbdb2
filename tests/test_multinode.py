"""The main job submitted to a real multi-node Ray cluster on loopback equals local mode (issue 5).

The cluster is ``ray_multinode`` (tests/infra.py): ``ray start --head --num-cpus 0`` plus two
``ray start --address ... --num-cpus 1`` worker nodes inside a loopback-only network namespace,
and the job goes in the way users submit it: ``ray job submit --working-dir <repo> -- python -m
jobs.pipeline ...``. The local-mode reference is the same command in a subprocess without
``RAY_ADDRESS`` (it starts its own single-node Ray), so this module never calls ``ray.init``.
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is not set here: it would stop worker nodes from joining.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from operators.samplegen import generate_sample, load_truth
from tests.infra import REPO, RayCluster, _ray_bin, parquet_rows

pytestmark = pytest.mark.ray

N_PAGES, N_FILES = 240, 4
JOB = [sys.executable, "-m", "jobs.pipeline", "--recipe", "fineweb", "--quiet"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict]:
    out = tmp_path_factory.mktemp("sample")
    paths = generate_sample(out, n_pages=N_PAGES, n_files=N_FILES, seed=1)
    return [str(p) for p in paths], load_truth(out)


def _finished_task_nodes(cluster: RayCluster) -> dict[str, set[str]]:
    """Ray Data task name -> ids of the nodes that finished one (state API, via the CLI)."""
    proc = subprocess.run(
        [_ray_bin(), "list", "tasks", "--address", cluster.address, "--detail", "--format", "json",
         "--limit", "10000", "--filter", "state=FINISHED"],
        capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **cluster.env},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    nodes: dict[str, set[str]] = {}
    for task in json.loads(proc.stdout):
        if task.get("type") == "NORMAL_TASK":
            nodes.setdefault(task["name"], set()).add(task["node_id"])
    return nodes


def test_job_submitted_to_two_worker_nodes_equals_local_mode(ray_multinode: RayCluster, sample, tmp_path: Path) -> None:
    paths, truth = sample
    cluster_out, local_out = tmp_path / "cluster", tmp_path / "local"

    started = time.monotonic()
    job = ray_multinode.job_submit(*JOB, "--input", *paths, "--output", str(cluster_out), working_dir=REPO, timeout=420)
    cluster_seconds = time.monotonic() - started
    assert job.returncode == 0 and "succeeded" in job.stdout, (job.stdout[-3000:], job.stderr[-3000:])

    local_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    started = time.monotonic()
    local = subprocess.run([*JOB, "--input", *paths, "--output", str(local_out)], cwd=REPO, env=local_env,
                           capture_output=True, text=True, timeout=420)
    local_seconds = time.monotonic() - started
    assert local.returncode == 0, local.stderr[-3000:]

    cluster_stats = json.loads((cluster_out / "stats.json").read_text())
    local_stats = json.loads((local_out / "stats.json").read_text())
    # the job really ran on the 3-node cluster (2 CPUs, all on the workers), the reference did not
    assert cluster_stats["ray"] == {"nodes": 3, "cpus": 2.0}
    assert local_stats["ray"]["nodes"] == 1

    kept, rejected = parquet_rows(cluster_out / "documents"), parquet_rows(cluster_out / "rejected")
    assert kept and rejected
    assert kept == parquet_rows(local_out / "documents")
    assert rejected == parquet_rows(local_out / "rejected")
    assert set(kept) | set(rejected) == {p["id"] for p in truth["pages"]}
    for key in ("documents_in", "documents_out", "rejected", "records_skipped", "languages", "chars_out"):
        assert cluster_stats[key] == local_stats[key], key
    assert sorted(cluster_stats["inputs"]["files"]) == sorted(paths)

    # both worker nodes read and processed part of the crawl (Ray Data spreads tasks)
    by_name = _finished_task_nodes(ray_multinode)
    workers = set().union(*(nodes for name, nodes in by_name.items() if "ReadWarc" in name or "annotate" in name))
    assert len(workers) == 2, by_name
    print(f"\nwall time: cluster job {cluster_seconds:.1f} s (pipeline {cluster_stats['wall_time_s']} s), "
          f"local {local_seconds:.1f} s (pipeline {local_stats['wall_time_s']} s)")
