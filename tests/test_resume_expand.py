"""Resumable ``raysift expand`` (issue 13, item 1): the unit is an iteration.

Units without Ray: the loop state's round trip, a loop interrupted mid-iteration and resumed
(an in-memory pool), and the job's resume wiring (finished run kept, other config refused,
``--overwrite`` restarts) through ``jobs.expand.main`` with the Ray pool replaced by an
in-memory one. Then a real kill: ``python -m jobs.expand`` runs in its own process group with a
private marker in its environment (inherited by the local Ray it starts); once iteration 1 is
recorded done, the driver and every process of its Ray get SIGKILL and the same command is run
again; its output must equal an undisturbed run's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators import resume
from operators.classify import expand as expand_mod
from operators.classify.expand import (
    ExpansionConfig,
    LoopState,
    TablePool,
    load_state,
    run_expansion,
    save_state,
)
from operators.classify.fasttext_model import ClassifierConfig
from tests.infra import (
    REPO,
    expand_job_rows,
    kill_driver_when,
    kill_processes_mentioning,
    marked_env,
    parquet_rows,
    run_marked,
    stable_stats,
    write_expand_job_inputs,
)

VOLATILE = {"wall_seconds", "seconds", "resumed"}
"""Keys of stats.json and iterations/<k>/stats.json that differ between two identical runs
(timings) or say that the run was resumed."""


def _assert_same_output(out: Path, ref: Path, iterations: int) -> None:
    """recalled/ rows, every per-iteration file and stats.json (without timings) equal."""
    recalled = parquet_rows(out / "recalled")
    assert recalled and recalled == parquet_rows(ref / "recalled")
    assert sorted(p.name for p in (out / "iterations").iterdir()) == [str(k) for k in range(1, iterations + 1)]
    for k in range(1, iterations + 1):
        a, b = out / "iterations" / str(k), ref / "iterations" / str(k)
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()), k
        for name in ("model.bin", "model-fold1.bin", "proposed_paths.txt"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), (k, name)
        assert pq.read_table(a / "domains.parquet").equals(pq.read_table(b / "domains.parquet")), k
        assert (stable_stats(json.loads((a / "stats.json").read_text()), out, VOLATILE)
                == stable_stats(json.loads((b / "stats.json").read_text()), ref, VOLATILE)), k
    assert (stable_stats(json.loads((out / "stats.json").read_text()), out, VOLATILE)
            == stable_stats(json.loads((ref / "stats.json").read_text()), ref, VOLATILE))


# ---------------------------------------------------------------- the loop state (no Ray)


def _state(k: int) -> LoopState:
    scored = pa.table({"id": ["a", "b", "c"], "url": ["https://x.org/m/1", None, "https://y.org/2"],
                       "tokens": pa.array([5, 0, 7], pa.int32()),
                       "math_score": pa.array([0.9, 0.1, 0.5], pa.float32()),
                       "formulas": pa.array([3, 0, 1], pa.int64())})
    return LoopState(iteration=k, iterations=[{"iteration": j, "recalled": 2, "new_fraction": 1 / 3} for j in range(1, k + 1)],
                     scored=scored, recalled=np.array([True, False, True]), grown_ids=["c", "a"],
                     approved_union={"x.org/m/", "y.org/"}, first_iteration={"a": 1, "c": k},
                     model_uri=f"/out/iterations/{k}/model.bin", stopped_because=None)


def test_loop_state_round_trip_and_a_torn_marker_falls_back(tmp_path):
    out = str(tmp_path)
    assert load_state(out, 4) is None
    save_state(out, _state(1))
    saved = _state(2)
    saved.stopped_because = "new_fraction<0.02"
    save_state(out, saved)
    assert not (tmp_path / "_run" / "expand" / "1").exists()  # the previous iteration's state is dropped
    got = load_state(out, 4)
    assert got is not None and got.iteration == 2
    assert got.scored.equals(saved.scored) and got.recalled.tolist() == [True, False, True]
    assert got.grown_ids == ["c", "a"]  # the order the seed grew in
    assert got.approved_union == {"x.org/m/", "y.org/"} and got.first_iteration == {"a": 1, "c": 2}
    assert got.iterations == saved.iterations and got.model_uri == "/out/iterations/2/model.bin"
    assert got.stopped_because == "new_fraction<0.02"
    assert load_state(out, 1) is None  # iteration 2 is beyond a 1-iteration run; iteration 1's state is gone

    save_state(out, _state(3))
    (tmp_path / "_run" / "done" / "iteration-4.json").write_text('{"iteration": 4, "model_u')  # torn by a crash
    assert load_state(out, 4).iteration == 3
    (tmp_path / "_run" / "expand" / "3" / "grown.parquet").unlink()  # state of 3 lost: nothing usable
    assert load_state(out, 4) is None


class _Crash(RuntimeError):
    pass


class _CountingPool:
    """A TablePool that counts score calls and can fail the n-th one (a crash mid-iteration)."""

    def __init__(self, table: pa.Table, fail_at: int | None = None) -> None:
        self.inner, self.fail_at, self.scores = TablePool(table), fail_at, 0

    def score(self, model_uri: str, max_chars: int) -> pa.Table:
        self.scores += 1
        if self.scores == self.fail_at:
            raise _Crash(f"driver lost while scoring with {model_uri}")
        return self.inner.score(model_uri, max_chars)

    def texts(self, ids):
        return self.inner.texts(ids)

    def sample_texts(self, n, exclude, seed, fold=None):
        return self.inner.sample_texts(n, exclude, seed, fold)

    def write_documents(self, keep, dir_uri):
        return self.inner.write_documents(keep, dir_uri)


FAST = ClassifierConfig(threads=1, small_epoch=5, small_dim=16, max_chars=2_000)
"""A quick classifier: the tests are about resuming, not about its quality."""
FAST_YAML = "expansion:\n  max_chars: 2000\n  classifier: {threads: 1, small_epoch: 5, small_dim: 16, max_chars: 2000}\n"
LOOP_CFG = ExpansionConfig(iterations=3, stop_new_fraction=None, max_chars=2_000, classifier=FAST)


@pytest.mark.shared_data
def test_loop_interrupted_mid_iteration_resumes_after_the_last_finished_one(tmp_path):
    seed_rows, pool_rows = expand_job_rows(60, 50, 70)
    seed = pa.Table.from_pylist(seed_rows)
    pool = pa.Table.from_pylist(pool_rows)
    ref, out = tmp_path / "ref", tmp_path / "out"
    run_expansion(seed, _CountingPool(pool), LOOP_CFG, str(ref))

    early = _CountingPool(pool, fail_at=1)  # lost in iteration 1: nothing to keep
    with pytest.raises(_Crash):
        run_expansion(seed, early, LOOP_CFG, str(out))
    logs: list[str] = []
    with pytest.raises(_Crash):
        run_expansion(seed, _CountingPool(pool, fail_at=1), LOOP_CFG, str(out), resume=True, log=logs.append)
    assert logs == [f"raysift: resuming the expansion in {out}: no iteration had finished, starting at iteration 1"]

    crashing = _CountingPool(pool, fail_at=3)  # cross-fitting scores twice per iteration: 3 = iteration 2
    with pytest.raises(_Crash):
        run_expansion(seed, crashing, LOOP_CFG, str(out))
    assert (out / "_run" / "done" / "iteration-1.json").exists()
    assert not (out / "_run" / "done" / "iteration-2.json").exists()
    assert (out / "iterations" / "2" / "model.bin").exists()  # iteration 2 had begun
    (out / "iterations" / "3").mkdir()
    (out / "iterations" / "3" / "stale.txt").write_text("left by an earlier attempt")
    first_model = (out / "iterations" / "1" / "model.bin").stat().st_mtime_ns

    logs.clear()
    rerun = _CountingPool(pool)
    result = run_expansion(seed, rerun, LOOP_CFG, str(out), resume=True, log=logs.append)
    assert logs == [f"raysift: resuming the expansion in {out}: iterations 1-1 already done, continuing with iteration 2"]
    assert rerun.scores == 4  # iterations 2 and 3 only
    assert (out / "iterations" / "1" / "model.bin").stat().st_mtime_ns == first_model
    assert result.stats["resumed"] == {"iterations_already_done": 1}
    _assert_same_output(out, ref, 3)

    # every iteration done but the final corpus not written: only the final write is redone
    (out / "recalled" / "part-00000.parquet").unlink()
    again = _CountingPool(pool)
    logs.clear()
    run_expansion(seed, again, LOOP_CFG, str(out), resume=True, log=logs.append)
    assert again.scores == 0 and logs[0].endswith("iterations 1-3 already done; writing the final corpus")
    _assert_same_output(out, ref, 3)

    # without resume the loop starts over and leaves no record of the earlier run
    fresh = _CountingPool(pool)
    run_expansion(seed, fresh, LOOP_CFG, str(out))
    assert fresh.scores == 6
    assert sorted(p.name for p in (out / "_run" / "done").iterdir()) == [f"iteration-{k}.json" for k in (1, 2, 3)]
    _assert_same_output(out, ref, 3)


@pytest.mark.shared_data
def test_loop_on_s3_resumes_to_the_local_output(moto_s3, s3_env, tmp_path):
    """The same interruption with DST on S3 (moto): markers, state and models are objects."""
    from operators import storage

    s3_env(moto_s3)
    bucket = moto_s3.new_bucket("expand-resume")
    seed_rows, pool_rows = expand_job_rows(40, 30, 40)
    seed, pool = pa.Table.from_pylist(seed_rows), pa.Table.from_pylist(pool_rows)
    cfg = ExpansionConfig(iterations=2, stop_new_fraction=None, max_chars=2_000, classifier=FAST)
    ref, out = tmp_path / "ref", f"s3://{bucket}/out"
    run_expansion(seed, _CountingPool(pool), cfg, str(ref))
    with pytest.raises(_Crash):
        run_expansion(seed, _CountingPool(pool, fail_at=3), cfg, out)
    assert storage.exists(f"{out}/_run/done/iteration-1.json") and storage.exists(f"{out}/iterations/2/model.bin")
    assert not storage.exists(f"{out}/_run/done/iteration-2.json")

    rerun = _CountingPool(pool)
    run_expansion(seed, rerun, cfg, out, resume=True, log=lambda _: None)
    assert rerun.scores == 2  # iteration 2 only

    def parquet(uri: str) -> pa.Table:
        return pq.read_table(pa.BufferReader(storage.read_bytes(uri)))

    assert parquet(f"{out}/recalled/part-00000.parquet").equals(pq.read_table(ref / "recalled" / "part-00000.parquet"))
    for rel in ("iterations/1/model.bin", "iterations/2/model-fold1.bin", "iterations/2/proposed_paths.txt"):
        assert storage.read_bytes(f"{out}/{rel}") == (ref / rel).read_bytes(), rel
    for rel in ("iterations/2/stats.json", "stats.json"):
        got = stable_stats(json.loads(storage.read_bytes(f"{out}/{rel}")), out, VOLATILE)
        assert got == stable_stats(json.loads((ref / rel).read_text()), ref, VOLATILE), rel


# ---------------------------------------------------------------- the job's resume wiring (no Ray)


class _Docs:
    """Stands in for the pool's Ray dataset: ``run_expand`` only selects columns of it."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def select_columns(self, cols: list[str]) -> _Docs:
        return _Docs(self.table.select(cols))


@pytest.fixture
def job_without_ray(monkeypatch, tmp_path):
    """``jobs.expand.main`` with the pool read into memory and scored by a :class:`TablePool`."""
    from operators import io, runtime

    def read_documents(files, cfg, storage_cfg):
        return _Docs(pa.concat_tables([t for f in files for t in io.iter_document_tables(f, cfg, storage_cfg)]))

    runs: list[int] = []

    def table_pool(docs, scoring_cfg=None):
        runs.append(1)
        return TablePool(docs.table)

    monkeypatch.setattr(runtime, "init_ray", lambda *a, **k: None)
    monkeypatch.setattr(io, "read_documents", read_documents)
    monkeypatch.setattr(expand_mod, "RayPool", table_pool)
    seed, pool = write_expand_job_inputs(tmp_path, 40, 30, 40)
    config = tmp_path / "expand.yaml"
    config.write_text(FAST_YAML)
    return ["--quiet", "--seed", str(seed), "--pool", str(pool), "--iterations", "2", "--config", str(config)], runs


@pytest.mark.shared_data
def test_job_keeps_a_finished_run_refuses_another_config_and_overwrite_restarts(job_without_ray, tmp_path, capsys):
    from jobs.expand import main

    argv, runs = job_without_ray
    out = tmp_path / "out"
    argv = [*argv, "--output", str(out)]
    assert main(argv) == 0 and len(runs) == 1
    manifest = json.loads((out / "_run" / "manifest.json").read_text())
    assert manifest["finished"] is True and manifest["config"]["expand"]["expansion"]["iterations"] == 2
    assert any(i.startswith("seed:") for i in manifest["inputs"]) and any(i.startswith("pool:") for i in manifest["inputs"])
    assert not (out / "_run" / "expand").exists()  # the loop state goes once the run is finished
    stats = json.loads((out / "stats.json").read_text())
    capsys.readouterr()

    assert main(argv) == 0 and len(runs) == 1  # finished: nothing done, its stats printed again
    printed = capsys.readouterr().out
    assert "already holds this finished expansion; nothing to do" in printed
    assert f"recalled {stats['documents_out']:,} after {stats['iterations_run']} iterations" in printed
    assert json.loads((out / "stats.json").read_text()) == stats

    assert main([*argv, "--threshold", "0.6"]) == 2 and len(runs) == 1
    err = capsys.readouterr().err
    assert "different setting 'expand.expansion.threshold'" in err and "--overwrite" in err and "Traceback" not in err
    approved = tmp_path / "approved.txt"
    approved.write_text("mathforum.example/questions/\n")
    assert main([*argv, "--approved-paths", str(approved)]) == 2 and len(runs) == 1
    assert "different setting 'approved_prefixes'" in capsys.readouterr().err

    (out / "iterations" / "2" / "stale.txt").write_text("x")
    assert main([*argv, "--iterations", "1", "--overwrite"]) == 0 and len(runs) == 2
    assert "resuming" not in capsys.readouterr().out
    assert sorted(p.name for p in (out / "iterations").iterdir()) == ["1"]  # a fresh start: iteration 2 cleared
    assert sorted(p.name for p in (out / "_run" / "done").iterdir()) == ["iteration-1.json"]
    redone = json.loads((out / "stats.json").read_text())
    assert redone["iterations_run"] == 1 and "resumed" not in redone
    assert json.loads((out / "_run" / "manifest.json").read_text())["config"]["expand"]["expansion"]["iterations"] == 1


# ---------------------------------------------------------------- a real killed driver


@pytest.mark.fault_case('driver and node loss', '`raysift expand` driver and its Ray SIGKILLed after iteration 1, same command rerun',
                        'resumes at iteration 2; recalled rows, per-iteration files and stats identical to an undisturbed run')
@pytest.mark.ray
@pytest.mark.shared_data
def test_killed_expand_driver_rerun_resumes_to_the_undisturbed_output(tmp_path):
    seed, pool = write_expand_job_inputs(tmp_path, 60, 50, 70)
    config = tmp_path / "expand.yaml"
    config.write_text(FAST_YAML)
    ref, out = tmp_path / "ref", tmp_path / "out"

    def command(dst: Path) -> list[str]:
        return [sys.executable, "-m", "jobs.expand", "--quiet", "--seed", str(seed), "--pool", str(pool),
                "--iterations", "2", "--config", str(config), "--output", str(dst)]

    # the undisturbed run beside the one to be killed (each starts its own Ray)
    ref_marker, marker = f"{tmp_path}-ref", f"{tmp_path}-killed"
    undisturbed = subprocess.Popen(command(ref), cwd=REPO, env=marked_env(ref_marker), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
    try:
        first_done = out / "_run" / "done" / "iteration-1.json"
        kill_driver_when(command(out), marker, first_done.exists)
        _, err = undisturbed.communicate(timeout=600)
        assert undisturbed.returncode == 0, err[-3000:]
    finally:
        undisturbed.kill()
        kill_processes_mentioning(ref_marker, grace_seconds=2)
    assert json.loads((ref / "stats.json").read_text())["iterations_run"] == 2
    assert first_done.exists()
    assert json.loads((out / "_run" / "manifest.json").read_text())["finished"] is False
    first_files = {p.name: p.stat().st_mtime_ns for p in (out / "iterations" / "1").iterdir()}

    again = run_marked(command(out), f"{tmp_path}-rerun")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming the expansion in {out}: iterations 1-1 already done" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / "iterations" / "1").iterdir()} == first_files
    assert json.loads((out / "stats.json").read_text())["resumed"] == {"iterations_already_done": 1}
    assert resume.read_manifest(str(out))["finished"] is True
    _assert_same_output(out, ref, 2)
