"""Golden end-to-end runs of ``raysift run`` on the bundled sample and on real crawls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from operators.recipe import load_recipe
from operators.samplegen import generate_sample, load_truth

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    paths = generate_sample(out, n_pages=600, n_files=6, seed=0)
    return [str(p) for p in paths], load_truth(out)


def _read_dir(path: Path) -> list[dict]:
    rows = []
    for f in sorted(path.glob("*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def _same_output(a: Path, b: Path) -> None:
    for sub in ("documents", "rejected"):
        rows_a = sorted(_read_dir(a / sub), key=lambda r: r["id"])
        rows_b = sorted(_read_dir(b / sub), key=lambda r: r["id"])
        assert rows_a == rows_b and rows_a, sub


@pytest.fixture(scope="module")
def default_run(ray_local, sample, tmp_path_factory):
    from operators.pipeline import run_pipeline

    paths, truth = sample
    out = tmp_path_factory.mktemp("out")
    stats = run_pipeline(load_recipe("default"), paths, str(out), log=lambda _: None)
    return out, stats, truth


@pytest.mark.ray
def test_default_run_accounts_for_every_planted_page(default_run):
    out, stats, truth = default_run
    kept = _read_dir(out / "documents")
    rejected = _read_dir(out / "rejected")
    pages = {p["id"]: p for p in truth["pages"]}
    seen = [r["id"] for r in kept] + [r["id"] for r in rejected]
    assert len(seen) == len(set(seen)), "a document was written twice"
    assert set(seen) == set(pages), "documents lost or invented"
    assert stats["documents_in"] == len(pages)
    assert stats["documents_out"] == len(kept)
    assert sum(stats["rejected"].values()) == len(rejected)
    assert Counter(r["reason"] for r in rejected) == Counter(stats["rejected"])
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk["documents_in"] == stats["documents_in"]
    assert (out / "report.html").read_text().count("<svg") >= 3
    # non-documents are counted, not written
    assert stats["records_skipped"]["request"] > 0
    assert {"non_html", "http_not_ok", "revisit", "metadata"} <= set(stats["records_skipped"])


@pytest.mark.ray
def test_default_run_rejects_what_was_planted(default_run):
    out, _, truth = default_run
    kept = {r["id"]: r for r in _read_dir(out / "documents")}
    reasons = {r["id"]: r["reason"] for r in _read_dir(out / "rejected")}
    by_kind: dict[str, list[dict]] = {}
    for p in truth["pages"]:
        by_kind.setdefault(p["kind"], []).append(p)
    # articles that are not the original of a planted duplicate (of a pair, dedup keeps the
    # smallest id, which may be the copy) pass every filter
    originals = {p.get("duplicate_of") for p in truth["pages"]} | {p.get("near_duplicate_of") for p in truth["pages"]}
    articles = [p for p in by_kind["article"] if p["id"] not in originals]
    assert sum(p["id"] in kept for p in articles) >= 0.95 * len(articles)
    for p in by_kind["non_english"]:
        assert reasons.get(p["id"], "").startswith("language_"), p["url"]
    # keyword-stuffed spam: some of it already fails language id (it runs first)
    for p in by_kind["spam"]:
        assert reasons.get(p["id"], "").startswith(("gopher_rep_", "language_")), p["url"]
    from operators.filters import gopher_repetition as rep

    texts = {r["id"]: r["text"] for r in _read_dir(out / "rejected")}
    for p in by_kind["spam"]:  # and the repetition rules would have caught every one
        assert rep.decide(rep.measure(texts[p["id"]], rep.Config()), rep.Config()) is not None
    for p in by_kind["lorem"]:
        assert reasons.get(p["id"]) == "c4_lorem_ipsum"
    # exactly one page of each exact-duplicate group survives
    for kind, reason in (("exact_duplicate", "exact_duplicate_text"), ("url_duplicate", "exact_duplicate_url")):
        for p in by_kind[kind]:
            original = p["duplicate_of"]
            pair = {original, p["id"]}
            assert len(pair & set(kept)) == 1, p["url"]
            dropped = (pair - set(kept)).pop()
            assert reasons[dropped].startswith("exact_duplicate"), reasons[dropped]
    near = by_kind["near_duplicate"]
    found = sum(reasons.get(p["id"]) == "fuzzy_duplicate" or reasons.get(p["near_duplicate_of"]) == "fuzzy_duplicate"
                for p in near if p["jaccard"] >= 0.85)
    planted = sum(p["jaccard"] >= 0.85 for p in near)
    assert found >= 0.9 * planted
    assert kept, "nothing kept"
    row = next(iter(kept.values()))
    for column in ("id", "url", "domain", "text", "language", "language_score", "source", "warc_date"):
        assert column in row
    assert any(c.startswith("gopher_") for c in row) and any(c.startswith("fineweb_") for c in row)


@pytest.mark.ray
def test_rerun_with_overwrite_replaces_and_never_duplicates(ray_local, sample, tmp_path):
    from operators.pipeline import run_pipeline

    paths, _ = sample
    cfg = load_recipe("fineweb")
    first = run_pipeline(cfg, paths[:2], str(tmp_path), log=lambda _: None)
    names = sorted(p.name for p in (tmp_path / "documents").glob("*.parquet"))
    second = run_pipeline(cfg, paths[:2], str(tmp_path), overwrite=True, log=lambda _: None)
    assert sorted(p.name for p in (tmp_path / "documents").glob("*.parquet")) == names
    assert all(n.startswith("sample-0000") for n in names), "shard names derive from input names"
    assert first["documents_out"] == second["documents_out"] == len(_read_dir(tmp_path / "documents"))


@pytest.mark.ray
def test_ray_keeps_what_the_plain_loop_keeps_and_fuses_the_read(ray_local, sample, tmp_path, capsys):
    """Ray and the Ray-free loop (the benchmark's ceiling) write the same documents, and the
    read is fused with the per-batch operators so raw HTML never enters the object store."""
    from operators import io, warc
    from operators.pipeline import annotate_batch, read_inputs, run_pipeline, stream
    from operators.writer import write_shards

    paths, _ = sample
    cfg = load_recipe("fineweb")
    run_pipeline(cfg, paths[:3], str(tmp_path / "ray"), log=lambda _: None)
    for path in paths[:3]:
        with open(path, "rb") as f:
            for table in warc.iter_warc_tables(f, path, cfg.warc):
                write_shards(annotate_batch(table, cfg), str(tmp_path / "loop"), cfg.storage)
    _same_output(tmp_path / "ray", tmp_path / "loop")
    plan = io.expand_inputs(paths[:3], cfg.storage, cfg.input)
    stream(read_inputs(plan, cfg), cfg, write_shards, {"output": str(tmp_path / "plan")}).explain()
    assert "ReadWarc->MapBatches(annotate_slices)->MapBatches(write_shards)" in capsys.readouterr().out


@pytest.mark.ray
def test_crawls_and_document_files_in_one_run_stay_fused_and_are_all_accounted(ray_local, sample, tmp_path, capsys):
    """A folder holding WARC and JSONL files: each read keeps its own fused chain (a union
    before the maps would push raw HTML through the object store), and every JSONL line is
    kept or named: a line that is no JSON object is ``malformed_record``, a blank text is
    ``empty_text`` (not a language reject)."""
    from operators import io
    from operators.pipeline import read_inputs, run_pipeline, stream
    from operators.writer import write_shards

    paths, _ = sample
    cfg = load_recipe("fineweb")
    warc_only = run_pipeline(cfg, [paths[0]], str(tmp_path / "warc"), log=lambda _: None)
    good = _read_dir(tmp_path / "warc" / "documents")[0]["text"]  # a text these filters keep
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "d1", "text": good}) + "\n" + json.dumps({"id": "d2", "text": "   "})
                    + "\n" + '{"pages": 3,\n' + json.dumps({"id": "d4"}) + "\n")
    plan = io.expand_inputs([paths[0], str(docs)], cfg.storage, cfg.input)
    stream(read_inputs(plan, cfg), cfg, write_shards, {"output": str(tmp_path / "plan")}).explain()
    assert "ReadWarc->MapBatches(annotate_slices)->MapBatches(write_shards)" in capsys.readouterr().out
    stats = run_pipeline(cfg, [paths[0], str(docs)], str(tmp_path / "out"), log=lambda _: None)
    assert stats["documents_in"] == warc_only["documents_in"] + 4
    extra = {k: v - warc_only["rejected"].get(k, 0) for k, v in stats["rejected"].items()}
    assert extra.get(io.MALFORMED_RECORD) == 1 and extra.get("empty_text") == 2, extra
    rejected = {r["id"]: r["reason"] for r in _read_dir(tmp_path / "out" / "rejected")}
    assert rejected["d2"] == rejected["d4"] == "empty_text" and rejected[f"{docs}#3"] == io.MALFORMED_RECORD
    kept = {r["id"] for r in _read_dir(tmp_path / "out" / "documents")}
    assert "d1" in kept and stats["documents_out"] == warc_only["documents_out"] + 1


@pytest.mark.ray
def test_one_gzip_file_is_cut_into_fused_byte_ranges_with_the_same_documents(ray_local, sample, tmp_path, capsys):
    """Fewer files than 16 per CPU: a .warc.gz file is read in byte ranges, each range one
    fused read -> annotate -> write task, and the output is what the whole-file run writes."""
    from dataclasses import replace

    from operators import io, warc
    from operators.pipeline import read_inputs, run_pipeline, stream, task_slots
    from operators.writer import write_shards

    paths, _ = sample
    base = load_recipe("fineweb")
    cfg = replace(base, warc=replace(base.warc, split_min_bytes=4096))
    assert task_slots(cfg) == 2
    assert len(warc.plan_ranges([(paths[0], os.path.getsize(paths[0]))], 2, 4096)) >= 4
    stats = run_pipeline(cfg, paths[:1], str(tmp_path / "ranges"), log=lambda _: None)
    plan = io.expand_inputs(paths[:1], cfg.storage, cfg.input)
    stream(read_inputs(plan, cfg), cfg, write_shards, {"output": str(tmp_path / "whole")}).materialize()
    _same_output(tmp_path / "ranges", tmp_path / "whole")
    assert stats["documents_in"] == len(_read_dir(tmp_path / "ranges" / "documents")) + sum(stats["rejected"].values())
    stream(read_inputs(plan, cfg, slots=2), cfg, write_shards, {"output": str(tmp_path / "plan")}).explain()
    assert "ReadWarc->MapBatches(annotate_slices)->MapBatches(write_shards)" in capsys.readouterr().out


@pytest.mark.ray
def test_one_plain_warc_file_is_split_over_the_cpus_with_the_same_documents(ray_local, sample, tmp_path, capsys):
    """An uncompressed WARC cannot be cut at member boundaries: with fewer files than CPUs
    each read block is split (not fused) so every CPU works, and the output is unchanged."""
    import gzip

    from operators import io, warc
    from operators.pipeline import read_inputs, run_pipeline, stream
    from operators.writer import write_shards

    paths, _ = sample
    plain = tmp_path / "one.warc"
    plain.write_bytes(gzip.decompress(Path(paths[0]).read_bytes()))
    cfg = load_recipe("fineweb")
    assert warc.split_blocks(1, 2) == 4
    run_pipeline(cfg, [str(plain)], str(tmp_path / "split"), log=lambda _: None)
    plan = io.expand_inputs([str(plain)], cfg.storage, cfg.input)
    stream(read_inputs(plan, cfg), cfg, write_shards, {"output": str(tmp_path / "whole")}).materialize()
    _same_output(tmp_path / "split", tmp_path / "whole")
    stream(read_inputs(plan, cfg, slots=2), cfg, write_shards, {"output": str(tmp_path / "plan")}).explain()
    out = capsys.readouterr().out
    assert "TaskPoolMapOperator[ReadWarc]" in out and "ReadWarc->MapBatches" not in out, out  # not fused


@pytest.mark.ray
@pytest.mark.shared_data
def test_every_shared_warc_runs_end_to_end(ray_local, tmp_path):
    from operators.pipeline import run_pipeline
    from operators.warc import iter_warc_rows

    warcs = sorted((SHARED / "warc").glob("*.gz")) if SHARED.is_dir() else []
    if not warcs:
        pytest.skip(f"../shared/data not found: {SHARED} holds the real WARC files this test reads")
    expected = 0
    for path in warcs:
        with open(path, "rb") as f:
            expected += sum(row["skip"] is None for row in iter_warc_rows(f, str(path)))
    stats = run_pipeline(load_recipe("default"), [str(p) for p in warcs], str(tmp_path), log=lambda _: None)
    assert stats["documents_in"] == expected > 100
    assert stats["documents_out"] + sum(stats["rejected"].values()) == expected
    assert stats["documents_out"] > 0
    assert len(_read_dir(tmp_path / "documents")) == stats["documents_out"]


@pytest.mark.ray
@pytest.mark.shared_data
def test_document_files_run_through_the_filters(ray_local, tmp_path):
    from operators.pipeline import run_pipeline

    docs = SHARED / "text" / "dolma-cc-samples"
    if not docs.is_dir():
        pytest.skip(f"../shared/data not found: {docs} holds the Dolma documents this test reads")
    stats = run_pipeline(load_recipe("gopher"), [str(docs)], str(tmp_path), log=lambda _: None)
    assert stats["documents_in"] == 30
    kept = _read_dir(tmp_path / "documents")
    assert len(kept) == stats["documents_out"]
    assert all(r["gopher_rep_duplicate_lines"] is not None for r in kept) if kept else True
    assert set(stats["rejected"]) <= {r for r in stats["rejected"] if r.startswith("gopher")}


def test_cli_rejects_unknown_config_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: default\nfilters:\n  gopher_quality:\n    min_wrods: 10\n")
    proc = subprocess.run([sys.executable, "-m", "jobs.pipeline", "--config", str(bad), "--output", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2
    assert "min_wrods" in proc.stderr and "min_words" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_rejects_unknown_recipe_and_missing_input(tmp_path):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "jobs.pipeline", "--recipe", "nope", "--output", str(tmp_path)],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 2 and "available recipes" in proc.stderr and "fineweb" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "jobs.pipeline", "--input", str(tmp_path / "missing.warc.gz"),
                           "--output", str(tmp_path / "o")], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 2 and "missing.warc.gz" in proc.stderr
