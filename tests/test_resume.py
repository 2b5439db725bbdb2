"""Resumable runs (issue 13, item 1): a killed driver, rerun, gives an undisturbed run's output.

The kill is real: ``raysift run`` runs in its own process group with a private marker in its
environment (inherited by the local Ray it starts); once it has recorded a finished wave, the
driver and every process of its Ray get SIGKILL, and the same command is run again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from operators import resume
from operators.config import ConfigError
from operators.recipe import load_recipe
from operators.samplegen import generate_sample
from operators.stats import BatchStats
from tests.infra import kill_driver_when, parquet_rows, run_marked

COUNTS = ("documents_in", "documents_out", "rejected", "records_skipped", "languages", "chars_out", "length_histogram")


# ---------------------------------------------------------------- units (no Ray)

def test_groups_keep_inputs_of_one_shard_stem_together_and_waves_never_split_them():
    files = ["a/x.warc.gz", "b/y.warc.gz", "c/x.warc.gz", "d/z.jsonl.zst", "e/w.parquet"]
    gs = resume.groups(files)
    assert gs == [["a/x.warc.gz", "c/x.warc.gz"], ["b/y.warc.gz"], ["d/z.jsonl.zst"], ["e/w.parquet"]]
    assert list(resume.waves(gs, 2)) == [[gs[0]], [gs[1], gs[2]], [gs[3]]]
    assert list(resume.waves(gs, 100)) == [gs]


def test_a_partly_done_group_is_redone_whole():
    state = resume.RunState("out", done={"a/x.warc.gz": BatchStats(documents_in=3), "b/y.warc.gz": BatchStats()})
    todo = resume.pending_groups(state, ["a/x.warc.gz", "b/y.warc.gz", "c/x.warc.gz"])
    assert todo == [["a/x.warc.gz", "c/x.warc.gz"]]
    assert set(state.done) == {"b/y.warc.gz"}


def test_open_run_refuses_other_config_or_inputs_and_overwrite_replaces(tmp_path):
    out = str(tmp_path)
    cfg = load_recipe("fineweb")
    state = resume.open_run(out, cfg, ["a.warc.gz"], None, overwrite=False, clear=("documents",), log=lambda _: None)
    assert not state.resumed and not state.complete
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "a-0123456789ab.parquet").write_bytes(b"x")
    resume.mark_done(out, {"a.warc.gz": BatchStats(documents_in=5)}, None)
    again = resume.open_run(out, cfg, ["a.warc.gz"], None, overwrite=False, clear=("documents",), log=lambda _: None)
    assert again.resumed and again.done["a.warc.gz"].documents_in == 5
    other = load_recipe("fineweb", ["filters.language.min_score=0.5"])
    with pytest.raises(ConfigError, match=r"different setting 'filters.language.min_score'.*--overwrite"):
        resume.open_run(out, other, ["a.warc.gz"], None, overwrite=False, clear=("documents",))
    with pytest.raises(ConfigError, match="different inputs"):
        resume.open_run(out, cfg, ["a.warc.gz", "b.warc.gz"], None, overwrite=False, clear=("documents",))
    fresh = resume.open_run(out, other, ["a.warc.gz"], None, overwrite=True, clear=("documents",))
    assert not fresh.resumed and not (tmp_path / "documents").exists() and not fresh.done
    resume.finish(out, None)
    assert resume.open_run(out, other, ["a.warc.gz"], None, overwrite=False, clear=()).complete


def test_torn_marker_is_ignored_and_its_group_redone(tmp_path):
    out = str(tmp_path)
    cfg = load_recipe("gopher")
    resume.open_run(out, cfg, ["a.jsonl", "b.jsonl"], None, overwrite=False, clear=())
    resume.mark_done(out, {"a.jsonl": BatchStats(documents_in=2)}, None)
    (tmp_path / "_run" / "done" / "torn.json").write_text('{"inputs": [{"input": "b.jsonl", "st')
    state = resume.open_run(out, cfg, ["a.jsonl", "b.jsonl"], None, overwrite=False, clear=(), log=lambda _: None)
    assert set(state.done) == {"a.jsonl"}
    assert resume.pending_groups(state, ["a.jsonl", "b.jsonl"]) == [["b.jsonl"]]


def test_partial_shards_of_unfinished_groups_are_deleted_exactly(tmp_path):
    docs = tmp_path / "documents"
    docs.mkdir()
    for name in ("x-0123456789ab", "x-2-0123456789ab", "y-ba9876543210", "x-notashard"):
        (docs / f"{name}.parquet").write_bytes(b"")
    removed = resume.delete_partial_shards(str(tmp_path), ("documents", "rejected"), [["s/x.warc.gz"]], None)
    assert removed == 1
    assert sorted(p.name for p in docs.iterdir()) == ["x-2-0123456789ab.parquet", "x-notashard.parquet",
                                                      "y-ba9876543210.parquet"]


# ---------------------------------------------------------------- a real killed driver

@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    out = tmp_path_factory.mktemp("crawl")
    return [str(p) for p in generate_sample(out, n_pages=240, n_files=6, seed=5)]


def _command(recipe: str, paths: list[str], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jobs.pipeline", "--recipe", recipe, "--input", *paths, "--output", str(out),
            "--quiet", "--set", "resources.files_per_wave=2", *extra]


def _kill_after_first_wave(cmd: list[str], out: Path, marker: str) -> int:
    """Start ``cmd``, SIGKILL it and its Ray once a group of inputs is recorded done; the number
    of groups recorded (one marker per group; here each group is one file)."""
    done_dir = out / "_run" / "done"
    kill_driver_when(cmd, marker, lambda: done_dir.is_dir() and len(list(done_dir.glob("*.json"))) >= 1)
    manifest = json.loads((out / "_run" / "manifest.json").read_text())
    assert manifest["finished"] is False
    assert not (out / "stats.json").exists()
    return len(list(done_dir.glob("*.json")))


@pytest.mark.fault_case('driver and node loss', 'driver and its Ray SIGKILLed mid-run ({param} recipe), same command rerun', 'resumes; documents, rejected and stats counts identical to an undisturbed run')
@pytest.mark.ray
@pytest.mark.parametrize("recipe", ["fineweb", "default"])  # streamed shards; annotated shards + global dedup
def test_killed_driver_rerun_resumes_to_the_undisturbed_output(crawl, tmp_path, recipe):
    ref, out = tmp_path / "ref", tmp_path / "out"
    done = run_marked(_command(recipe, crawl, ref), f"{tmp_path}-ref")
    assert done.returncode == 0, done.stderr[-3000:]

    files_done = _kill_after_first_wave(_command(recipe, crawl, out), out, f"{tmp_path}-killed")
    assert 1 <= files_done < 6  # the kill landed mid-run

    again = run_marked(_command(recipe, crawl, out), f"{tmp_path}-rerun")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming the run in {out}: " in again.stdout + again.stderr

    assert parquet_rows(out / "documents") == parquet_rows(ref / "documents") and parquet_rows(ref / "documents")
    assert parquet_rows(out / "rejected") == parquet_rows(ref / "rejected")
    stats, ref_stats = (json.loads((d / "stats.json").read_text()) for d in (out, ref))
    for key in COUNTS:
        assert stats[key] == ref_stats[key], key
    assert stats["resumed"]["inputs_already_done"] == files_done
    assert not (out / "_work").exists()

    if recipe != "fineweb":
        return
    # a finished run: the same command does nothing; another config is refused. Both answer
    # before Ray would start: the Ray address they are given (nothing listens there) is never joined.
    nowhere = ("--address", "127.0.0.1:9")
    noop = run_marked(_command(recipe, crawl, out, *nowhere), f"{tmp_path}-noop")
    assert noop.returncode == 0 and "already holds this finished run" in noop.stdout + noop.stderr
    refused = run_marked(_command(recipe, crawl, out, "--set", "filters.language.min_score=0.5", *nowhere),
                         f"{tmp_path}-refused")
    assert refused.returncode == 2 and "--overwrite" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.ray
@pytest.mark.fault_case("driver and node loss", "`raysift dedup` rerun over its own output",
                        "a finished dedup is kept, another config refused, --overwrite redoes it")
def test_dedup_rerun_is_kept_refused_or_overwritten(tmp_path):
    docs = tmp_path / "docs.jsonl"
    base = "the quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun " * 3
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": base + ("" if i % 2 else f"extra words {i}")}) + "\n"
                            for i in range(20)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "jobs.dedup", "--input", str(docs), "--output", str(out), "--quiet"]
    first = run_marked(cmd, f"{tmp_path}-1")
    assert first.returncode == 0, first.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())
    again = run_marked(cmd, f"{tmp_path}-2")
    assert again.returncode == 0 and "already holds this finished dedup" in again.stdout + again.stderr
    assert json.loads((out / "stats.json").read_text()) == stats
    refused = run_marked([*cmd, "--threshold", "0.5"], f"{tmp_path}-3")
    assert refused.returncode == 2 and "different setting 'dedup.fuzzy.threshold'" in refused.stderr
    redone = run_marked([*cmd, "--threshold", "0.5", "--overwrite"], f"{tmp_path}-4")
    assert redone.returncode == 0, redone.stderr[-2000:]
    assert json.loads((out / "stats.json").read_text())["config"]["fuzzy"]["threshold"] == 0.5
