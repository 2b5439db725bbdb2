"""Scheduled incremental runs through the main job: a crawl manifest plus a ledger (issue 5).

The nightly command is ``raysift run --input .../warc.paths.gz --ledger URI --max-files N``: only
inputs the ledger does not list as done are processed, a rerun processes nothing, and two runs
started together split the work and never process the same file. The crawl is the bundled
sample generator's, 20 WARC files listed by relative path in a Common Crawl style manifest
(``crawl-data/CC-MAIN-.../warc.paths.gz``) resolved against ``input.manifest_base`` from a config
file (``base: fineweb``).

- Local ledger, in-process ``run_pipeline`` on a module Ray: needs no infrastructure.
- Ceph RGW (``ceph_s3``): manifest, WARC files and ledger on S3, two concurrent
  ``python -m jobs.pipeline`` processes.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from operators.ledger import Ledger
from operators.recipe import load_config_file
from operators.samplegen import generate_sample, load_truth
from operators.storage import StorageConfig
from tests.infra import REPO, S3Endpoint, local_ray_with_env

pytestmark = pytest.mark.ray

CRAWL = "crawl-data/CC-MAIN-2099-01"
WARC_DIR = f"{CRAWL}/segments/1/warc"
MANIFEST = f"{CRAWL}/warc.paths.gz"
N_FILES, N_PAGES = 20, 100
PENDING = (2, 7, 11, 16, 19)
"""Manifest positions not yet done: the ledger is seeded with the other 15 (scattered, not a prefix)."""


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict]:
    """(crawl root, manifest lines, sample truth): 20 small WARC files and a relative-path manifest."""
    root = tmp_path_factory.mktemp("crawl")
    paths = generate_sample(root / WARC_DIR, n_pages=N_PAGES, n_files=N_FILES, seed=2)
    lines = [f"{WARC_DIR}/{p.name}" for p in paths]
    (root / MANIFEST).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return root, lines, load_truth(root / WARC_DIR)


def _config_file(path: Path, manifest_base: str) -> Path:
    path.write_text(f"base: fineweb\ninput:\n  manifest_base: {json.dumps(manifest_base)}\n")
    return path


def _pages_per_file(truth: dict) -> Counter:
    return Counter(p["file"] for p in truth["pages"])


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    with local_ray_with_env({}, object_store_mb=150):  # single node on 127.0.0.1 (ENVIRONMENT.md)
        yield


def test_nightly_run_processes_exactly_the_inputs_not_done(ray_local, crawl, tmp_path: Path) -> None:
    from operators.pipeline import run_pipeline

    root, lines, truth = crawl
    cfg = load_config_file(_config_file(tmp_path / "nightly.yaml", f"{root}/"))
    uris = [str(root / line) for line in lines]
    pending = [uris[i] for i in PENDING]
    ledger_uri = str(tmp_path / "ledger")
    seed = Ledger(ledger_uri)
    for uri in uris:
        if uri not in pending:
            seed.mark_done(uri, {"documents_out": 1}, run_id="run-earlier-night")

    stats = run_pipeline(cfg, [str(root / MANIFEST)], str(tmp_path / "night-1"), ledger=ledger_uri,
                         max_files=100, log=lambda _: None)

    assert stats["inputs"]["files"] == pending
    on_disk = json.loads((tmp_path / "night-1" / "stats.json").read_text())
    assert on_disk["inputs"]["files"] == pending
    per_file = _pages_per_file(truth)
    assert stats["documents_in"] == sum(per_file[Path(u).name] for u in pending) > 0
    sources = set()
    for sub in ("documents", "rejected"):
        for f in (tmp_path / "night-1" / sub).glob("*.parquet"):
            sources |= set(pq.read_table(f, columns=["source"]).column("source").to_pylist())
    assert sources == set(pending)
    assert Ledger(ledger_uri).done() == set(uris)

    # the next night: nothing left, nothing read, an empty report is still written
    again = run_pipeline(cfg, [str(root / MANIFEST)], str(tmp_path / "night-2"), ledger=ledger_uri,
                         max_files=100, log=lambda _: None)
    assert again["inputs"]["warc_files"] == 0 and again["documents_in"] == 0
    assert json.loads((tmp_path / "night-2" / "stats.json").read_text())["documents_in"] == 0
    assert not (tmp_path / "night-2" / "documents").exists()


def test_two_concurrent_runs_on_ceph_never_process_the_same_file(ceph_s3: S3Endpoint, s3_env, crawl,
                                                                 tmp_path: Path) -> None:
    root, lines, truth = crawl
    s3_env(ceph_s3)  # this process reads the ledger at the end
    client = ceph_s3.client()
    bucket = ceph_s3.new_bucket("nightly")
    for line in lines:
        client.put_object(Bucket=bucket, Key=line, Body=(root / line).read_bytes())
    client.put_object(Bucket=bucket, Key=MANIFEST, Body=(root / MANIFEST).read_bytes())
    uris = [f"s3://{bucket}/{line}" for line in lines]
    ledger_uri = f"s3://{bucket}/raysift/ledger"
    config = _config_file(tmp_path / "nightly.yaml", f"s3://{bucket}/")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(ceph_s3.env(), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", PYTHONPATH=str(REPO))

    procs, logs = [], []
    for k in range(2):
        cmd = [sys.executable, "-m", "jobs.pipeline", "--config", str(config), "--input", f"s3://{bucket}/{MANIFEST}",
               "--output", str(tmp_path / f"run-{k}"), "--ledger", ledger_uri, "--max-files", "3", "--quiet"]
        logs.append((tmp_path / f"run-{k}.log").open("w+"))
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=logs[k], stderr=subprocess.STDOUT, text=True))
    ended: dict[int, float] = {}
    deadline = time.time() + 300
    while len(ended) < 2 and time.time() < deadline:
        for k, p in enumerate(procs):
            if k not in ended and p.poll() is not None:
                ended[k] = time.time()
        time.sleep(0.2)
    for k, p in enumerate(procs):
        if k not in ended:
            p.kill()
        p.wait()
        logs[k].seek(0)
        assert p.returncode == 0, f"run {k} failed (exit {p.returncode}):\n{logs[k].read()[-4000:]}"
        logs[k].close()

    files = [json.loads((tmp_path / f"run-{k}" / "stats.json").read_text())["inputs"]["files"] for k in range(2)]
    assert [len(f) for f in files] == [3, 3], files
    assert not set(files[0]) & set(files[1]), f"both runs processed {set(files[0]) & set(files[1])}"
    assert set(files[0]) | set(files[1]) <= set(uris)
    assert Ledger(ledger_uri, StorageConfig(endpoint_url=ceph_s3.endpoint_url)).done() == set(files[0]) | set(files[1])
    per_file = _pages_per_file(truth)
    for k in range(2):
        stats = json.loads((tmp_path / f"run-{k}" / "stats.json").read_text())
        assert stats["documents_in"] == sum(per_file[Path(u).name] for u in files[k])
    # The runs were concurrent: each claims its files at the start of its pipeline and marks them
    # done at the end, so overlapping pipelines mean one run claimed while the other held claims.
    spans = [(ended[k] - json.loads((tmp_path / f"run-{k}" / "stats.json").read_text())["wall_time_s"], ended[k])
             for k in range(2)]
    overlap = min(e for _, e in spans) - max(s for s, _ in spans)
    assert overlap > 0, f"the two runs did not overlap in time ({overlap:.1f} s): concurrency was not exercised"
    # claims are released once a file is done
    claims = client.list_objects_v2(Bucket=bucket, Prefix="raysift/ledger/claims/").get("KeyCount", 0)
    assert claims == 0
