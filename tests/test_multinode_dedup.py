"""``raysift dedup`` submitted to a real multi-node Ray cluster gives the same output as a local run.

The cluster (``ray_multinode`` in tests/infra.py: head with 0 CPUs + two 1-CPU worker nodes, all
on 127.0.0.1 of a loopback-only network namespace) runs ``python -m jobs.dedup`` through
``ray job submit --working-dir REPO``, so signatures, the band shuffle, the pair verification and
the components run in tasks spread over both worker nodes. The local run is the same command
in a subprocess that starts its own Ray. Kept ids and the duplicates table must be equal, and
both must match the planted groups.

Run inside a loopback-only namespace (as root)::

    .ci/netns.sh run raysift-t2 -- env CI=1 .venv/bin/python -m pytest -q tests/test_multinode_dedup.py

Outside one the fixture skips with an ``INFRA:`` reason. This module never sets
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``: it would stop worker nodes from joining.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.infra import write_jsonl
from tests.test_dedup_cli import expected_kept, make_planted_corpus

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.ray


def _read_dir(path: Path) -> pa.Table:
    files = sorted(path.glob("*.parquet"))
    assert files, f"no Parquet shards in {path}"
    return pa.concat_tables([pq.read_table(f) for f in files])


def _outputs(out: Path) -> tuple[list[str], list[tuple[str, str, str]], dict]:
    """(sorted kept ids, sorted duplicates rows (id, cluster_id, kept_id), stats)."""
    docs = _read_dir(out / "documents")
    dups = _read_dir(out / "duplicates")
    rows = sorted(zip(*(dups.column(c).to_pylist() for c in ("id", "cluster_id", "kept_id"))))
    return sorted(docs.column("id").to_pylist()), rows, json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    records, groups, distinct = make_planted_corpus(n_groups=40, n_distinct=360, seed=11)
    path = write_jsonl(tmp_path_factory.mktemp("mn-dedup") / "corpus.jsonl", records)
    return path, records, groups


def test_cluster_job_equals_local_run(ray_multinode, corpus, tmp_path):
    path, records, groups = corpus
    cluster_out, local_out = tmp_path / "cluster", tmp_path / "local"

    job = ray_multinode.job_submit(sys.executable, "-m", "jobs.dedup", "--quiet", "--input", str(path),
                                   "--output", str(cluster_out), working_dir=REPO, timeout=900)
    assert job.returncode == 0, (job.stdout[-3000:], job.stderr[-3000:])
    assert "succeeded" in job.stdout + job.stderr

    # local: the same command, its own Ray (no RAY_ADDRESS: the fixture removed it from os.environ)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    local = subprocess.run([sys.executable, "-m", "jobs.dedup", "--quiet", "--input", str(path),
                            "--output", str(local_out)], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]

    c_kept, c_dups, c_stats = _outputs(cluster_out)
    l_kept, l_dups, l_stats = _outputs(local_out)
    assert c_kept == l_kept
    assert c_dups == l_dups
    for key in ("bands", "rows", "candidate_pairs", "verified_pairs", "components", "duplicates",
                "cluster_size_histogram"):
        assert c_stats["fuzzy_dedup"][key] == l_stats["fuzzy_dedup"][key], key
    assert c_stats["documents_in"] == l_stats["documents_in"] == len(records)

    # and both are right, not just equal
    texts = {r["id"]: r["text"] for r in records}
    expected = expected_kept(groups, texts, "first")
    want_dups = sorted((i, min(g), expected[i]) for g in groups for i in g if i != expected[i])
    assert c_dups == want_dups
    assert sorted(set(texts) - {row[0] for row in want_dups}) == c_kept
