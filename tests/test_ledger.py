"""Ledger of processed inputs: exclusive claims, leases, done markers; local and real S3 (Ceph RGW)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from operators.ledger import Ledger, LedgerError, input_key
from operators.storage import StorageConfig
from tests.infra import S3Endpoint

REPO = Path(__file__).resolve().parents[1]
INPUTS = [f"s3://commoncrawl/crawl-data/CC-MAIN-2099-01/segments/1/warc/part-{i:05d}.warc.gz" for i in range(20)]


@pytest.fixture(params=["local", "ceph", "moto"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path, s3_env) -> tuple[str, StorageConfig | None, dict]:
    """(ledger URI, storage config, env for subprocesses) on a local dir, Ceph RGW, or moto."""
    if request.param == "local":
        return str(tmp_path / "ledger"), None, {}
    endpoint: S3Endpoint = request.getfixturevalue("ceph_s3" if request.param == "ceph" else "moto_s3")
    env = s3_env(endpoint)
    bucket = endpoint.new_bucket("ledger")
    return f"s3://{bucket}/nightly/ledger", StorageConfig(endpoint_url=endpoint.endpoint_url), env


def test_claim_is_exclusive_and_done_is_final(ledger_target) -> None:
    uri, cfg, _ = ledger_target
    a, b = Ledger(uri, cfg), Ledger(uri, cfg)
    x = INPUTS[0]
    assert a.claim(x, "run-a", lease_seconds=600) is True
    assert b.claim(x, "run-b", lease_seconds=600) is False
    assert a.claim(x, "run-a", lease_seconds=600) is True  # the holder may re-claim (resumed run)
    a.mark_done(x, {"documents_out": 3}, run_id="run-a")
    assert b.claim(x, "run-b", lease_seconds=600) is False  # done inputs are never claimed again
    assert a.claim(x, "run-a", lease_seconds=600) is False
    assert b.done() == {x}


def test_nightly_manifest_with_15_done_processes_exactly_the_other_5(ledger_target) -> None:
    """Issue target: a manifest of 20 WARC files with a ledger showing 15 done -> exactly 5."""
    uri, cfg, _ = ledger_target
    first = Ledger(uri, cfg)
    got = first.claim_next(INPUTS, "night-1", max_files=15, lease_seconds=600)
    assert got == INPUTS[:15]
    for x in got:
        first.mark_done(x, {"documents_out": 1}, run_id="night-1")
    second = Ledger(uri, cfg)
    assert second.pending(INPUTS) == INPUTS[15:]
    assert second.pending(INPUTS, max_files=2) == INPUTS[15:17]
    assert second.claim_next(INPUTS, "night-2", max_files=100, lease_seconds=600) == INPUTS[15:]
    assert second.done() == set(INPUTS[:15])


def test_expired_lease_is_taken_over_once_and_release_frees_at_once(ledger_target) -> None:
    uri, cfg, _ = ledger_target
    crashed, b, c = Ledger(uri, cfg), Ledger(uri, cfg), Ledger(uri, cfg)
    x, y = INPUTS[1], INPUTS[2]
    assert crashed.claim(x, "crashed", lease_seconds=1)
    assert not b.claim(x, "run-b", lease_seconds=600)
    time.sleep(2.5)  # S3 Last-Modified has one-second resolution
    assert b.claim(x, "run-b", lease_seconds=600)  # the crashed run's lease expired
    assert not c.claim(x, "run-c", lease_seconds=600)  # b's fresh lease holds
    assert not crashed.renew(x, "crashed", lease_seconds=600)  # the crashed run lost it
    assert b.renew(x, "run-b", lease_seconds=600)
    assert b.claim(y, "run-b", lease_seconds=600)
    b.release(y)
    assert c.claim(y, "run-c", lease_seconds=600)


def test_first_completion_wins(ledger_target) -> None:
    uri, cfg, _ = ledger_target
    ledger = Ledger(uri, cfg)
    x = INPUTS[3]
    ledger.mark_done(x, {"documents_out": 5}, run_id="first")
    ledger.mark_done(x, {"documents_out": 9}, run_id="second")
    assert ledger.done() == {x}
    if cfg is None:
        marker = json.loads((Path(uri) / "done" / f"{input_key(x)}.json").read_text())
        assert marker["run_id"] == "first" and marker["stats"] == {"documents_out": 5}


def test_threads_racing_for_one_input_exactly_one_wins(ledger_target) -> None:
    uri, cfg, _ = ledger_target
    n = 8
    barrier = threading.Barrier(n)
    results: list[bool] = [False] * n
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        ledger = Ledger(uri, cfg)
        ledger.pending([])  # warm up the client outside the race
        barrier.wait()
        try:
            results[i] = ledger.claim(INPUTS[4], f"run-{i}", lease_seconds=600)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(results) == 1


RACER = """
import json, sys, time
from operators.ledger import Ledger
from operators.storage import StorageConfig
uri, endpoint, run_id, start_at = sys.argv[1], sys.argv[2] or None, sys.argv[3], float(sys.argv[4])
inputs = json.loads(sys.stdin.read())
ledger = Ledger(uri, StorageConfig(endpoint_url=endpoint) if endpoint else None)
ledger.pending([])
time.sleep(max(0.0, start_at - time.time()))
got = []
while True:
    batch = ledger.claim_next(inputs, run_id, max_files=3, lease_seconds=600)
    if not batch:
        break
    for x in batch:  # "process", then mark done
        ledger.mark_done(x, {"run": run_id}, run_id=run_id)
        got.append(x)
print(json.dumps(got))
"""


def test_two_concurrent_runs_never_process_the_same_file(ledger_target) -> None:
    """Two processes loop claim -> process -> mark_done over one manifest, started together."""
    uri, cfg, env = ledger_target
    endpoint = cfg.endpoint_url if cfg else ""
    start_at = time.time() + 4.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, endpoint or "", f"run-{k}", str(start_at)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        )
        for k in range(2)
    ]
    outs = [p.communicate(json.dumps(INPUTS), timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    got = [json.loads(out) for out, _ in outs]
    assert not set(got[0]) & set(got[1]), "an input was processed by both runs"
    assert sorted(got[0] + got[1]) == sorted(INPUTS), "every input processed exactly once"
    assert Ledger(uri, cfg).done() == set(INPUTS)


def test_unsupported_uri_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="s3://BUCKET/PREFIX or a local directory"):
        Ledger("gs://bucket/ledger")
    with pytest.raises(ValueError, match="lease_seconds"):
        Ledger(str(tmp_path)).claim("x", "r", lease_seconds=0)
    with pytest.raises(ValueError, match="max_files"):
        Ledger(str(tmp_path)).pending(["x"], max_files=-1)
