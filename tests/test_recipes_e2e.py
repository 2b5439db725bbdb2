"""Every published-recipe file runs end to end on the bundled sample (issue 12).

The models the recipes need are the stand-ins of ``raysift recipes demo-models`` (trained from
the bundled sample: operators/demo_models.py), found through ``--set models_dir=...`` as a user
would. Each run must account for every document, write the stage's columns, and show the
stage's published behaviour (buckets at the configured quantiles, a top-p % keep, masks).
"""

from __future__ import annotations

import glob
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from operators.recipe import load_recipe
from operators.samplegen import sample_path

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    from operators.demo_models import build_demo_models

    folder = tmp_path_factory.mktemp("models")
    build_demo_models(folder)
    return folder


def _rows(folder: Path, columns=None) -> list[dict]:
    return [r for f in sorted(glob.glob(str(folder / "*.parquet"))) for r in pq.read_table(f, columns=columns).to_pylist()]


def _run(name: str, models: Path, out: Path, *overrides: str) -> tuple[dict, list[dict], list[dict]]:
    from operators.pipeline import run_pipeline

    cfg = load_recipe(name, [f"models_dir={models}", *overrides])
    stats = run_pipeline(cfg, [str(p) for p in sample_path()], str(out), log=lambda _: None)
    kept, rejected = _rows(out / "documents"), _rows(out / "rejected")
    assert stats["documents_in"] == len(kept) + len(rejected) == stats["documents_out"] + sum(stats["rejected"].values())
    assert kept, f"recipe {name} kept nothing"
    assert json.loads((out / "stats.json").read_text())["documents_out"] == len(kept)
    return stats, kept, rejected


def test_ccnet_buckets_each_language_at_its_30th_and_60th_percentile(ray_local, models, tmp_path):
    stats, kept, rejected = _run("ccnet", models, tmp_path)
    cuts = stats["corpus_cuts"]["perplexity"]
    assert cuts["quantiles"] == [0.3, 0.6] and set(cuts["cuts"]) == {"en"}
    low, high = cuts["cuts"]["en"]
    assert 0 < low < high
    scored = [r for r in kept + rejected if r.get("perplexity") is not None and r.get("perplexity_bucket")]
    buckets = Counter(r["perplexity_bucket"] for r in scored)
    n = len(scored)
    assert n > 100
    # buckets are cut over the documents alive before dedup; dedup may then empty a few of them
    assert abs(buckets["head"] / n - 0.3) < 0.05 and abs(buckets["middle"] / n - 0.3) < 0.05
    for r in scored:  # a score equal to a cut stays below it (scores compared as float32)
        p = float(np.float32(r["perplexity"]))
        assert r["perplexity_bucket"] == ("head" if p <= low else "middle" if p <= high else "tail")
    # other languages are kept unscored; every English document has a perplexity
    assert all(r["perplexity"] is not None for r in kept if r["language"] == "en")
    assert {r["language"] for r in kept if r["perplexity"] is None} <= {r["language"] for r in kept} - {"en"}
    assert set(stats["rejected"]) <= {"paragraph_dedup_empty", "language_low_score", "empty_text"}


# ---------------------------------------------------------------- documents the stages must act on
# The bundled sample holds no PII, toxic sentences or dirty words, so the runs below add a small
# JSONL file of real page texts (../shared/data) with such content inserted, whose fate is known.

def _extra_documents(tmp: Path) -> Path:
    from tests.lm_fixtures import shared_texts

    texts = [t for t in shared_texts(200) if 3_000 <= len(t) <= 8_000 and t.isascii()][:5]
    if len(texts) < 5:
        pytest.skip("../shared/data is absent: the PII / toxicity / dirty-word documents are built from it")
    pii_few = texts[0] + "\nWrite to jane.doe@example.com or call 555-123-4567 for the full report.\n"
    pii_many = texts[1] + "\n" + "\n".join(f"Reviewer {i}: reviewer{i}@example.org." for i in range(7)) + "\n"
    flagged = texts[2] + "\nThat last comment was porn, nude sex and xxx spam, so the moderators removed it.\n"
    dirty = texts[3] + "\n" + " ".join(["porn sex xxx nude"] * 30) + ".\n"
    rows = [{"id": "pii-few", "text": pii_few, "url": "https://example.com/a"},
            {"id": "pii-many", "text": pii_many, "url": "https://example.com/b"},
            {"id": "flagged", "text": flagged, "url": "https://example.com/c"},
            {"id": "dirty", "text": dirty, "url": "https://example.com/d"},
            {"id": "plain", "text": texts[4], "url": "https://example.com/e"}]
    path = tmp / "extra.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run_with_extra(name: str, models: Path, out: Path, tmp: Path):
    from operators.pipeline import run_pipeline

    cfg = load_recipe(name, [f"models_dir={models}"])
    inputs = [str(p) for p in sample_path()] + [str(_extra_documents(tmp))]
    stats = run_pipeline(cfg, inputs, str(out), log=lambda _: None)
    kept, rejected = _rows(out / "documents"), _rows(out / "rejected")
    assert stats["documents_in"] == len(kept) + len(rejected) == stats["documents_out"] + sum(stats["rejected"].values())
    assert kept, f"recipe {name} kept nothing"
    return stats, {r["id"]: r for r in kept}, {r["id"]: r for r in rejected}


def test_refinedweb_blocklist_and_line_corrections(ray_local, models, tmp_path):
    stats, kept, rejected = _run("refinedweb", models, tmp_path)
    from operators.demo_models import DEMO_FILES
    from operators.filters.urls import host_of, iter_blocklist

    blocked = set(iter_blocklist(str(models / DEMO_FILES["ut1"]), ("adult",)))
    assert blocked
    for r in rejected:  # every page of a listed host is rejected by the URL stage (or earlier)
        if host_of(r["url"]) in blocked:
            assert r["reason"] == "url_blocked_domain"
    assert stats["rejected"]["url_blocked_domain"] == sum(host_of(r["url"]) in blocked for r in rejected)
    assert all(host_of(r["url"]) not in blocked for r in kept)
    assert any(r["refinedweb_removed_words"] for r in kept), "line corrections removed nothing"
    assert all(r["refinedweb_removed_ratio"] <= 0.05 for r in kept)
    assert all(r["reason"] == "refinedweb_too_much_removed" for r in rejected if (r.get("refinedweb_removed_ratio") or 0) > 0.05)
    assert stats["rejected"].get("fuzzy_duplicate", 0) > 0 and stats["rejected"].get("exact_duplicate_url", 0) > 0


def test_dclm_keeps_the_top_ten_percent_by_the_classifier(ray_local, models, tmp_path):
    stats, kept, rejected = _run("dclm", models, tmp_path)
    (cut,) = stats["corpus_cuts"]["dclm_score"]["cuts"]["*"]
    below = [r for r in rejected if r["reason"] == "classifier_below_top_percent"]
    assert any(r["reason"] in ("exact_duplicate_text", "fuzzy_duplicate", "paragraph_dedup_empty") for r in rejected)
    # the cut is taken over the documents dedup keeps (DCLM scores the deduplicated pool)
    assert abs(len(below) / (len(below) + len(kept)) - 0.9) < 0.01
    assert all(r["dclm_score"] > cut for r in kept) and all(r["dclm_score"] <= cut for r in below)


def test_dolma_masks_pii_removes_flagged_sentences_and_buckets(ray_local, models, tmp_path):
    stats, kept, rejected = _run_with_extra("dolma", models, tmp_path / "out", tmp_path)
    few = kept["pii-few"]
    assert few["pii_emails"] == 1 and few["pii_phones"] == 1
    assert "jane.doe@example.com" not in few["text"] and "|||EMAIL_ADDRESS|||" in few["text"]
    assert "|||PHONE_NUMBER|||" in few["text"]
    assert rejected["pii-many"]["reason"] == "pii_too_many" and rejected["pii-many"]["pii_total"] > 5
    flagged = kept["flagged"]
    assert flagged["dolma_toxic_masked"] + flagged["dolma_nsfw_masked"] >= 1
    assert "moderators removed it" not in flagged["text"]
    assert kept["plain"]["dolma_toxic_masked"] == 0 and kept["plain"]["pii_total"] == 0
    assert set(stats["corpus_cuts"]["perplexity"]["cuts"]) == {"en"}
    assert {r.get("perplexity_bucket") for r in kept.values() if r["language"] == "en"} == {"head", "middle", "tail"}


def test_llama3_web_dirty_words_outliers_and_quality_classifier(ray_local, models, tmp_path):
    stats, kept, rejected = _run_with_extra("llama3-web", models, tmp_path / "out", tmp_path)
    assert rejected["dirty"]["reason"] in ("dirty_words_too_many", "dirty_words_too_dense")
    assert rejected["dirty"]["dirty_words_count"] >= 30
    assert stats["rejected"].get("token_outliers_top_percent", 0) >= 1
    (cut,) = stats["corpus_cuts"]["token_outliers_kl"]["cuts"]["*"]
    assert all(r["token_outliers_kl"] is None or r["token_outliers_kl"] <= cut for r in kept.values())
    assert all(r["llama3_quality_score"] >= 0.25 for r in kept.values())
    low = [r for r in rejected.values() if r["reason"] == "classifier_low_score"]
    assert low and all(r["llama3_quality_score"] < 0.25 for r in low)


def test_arctic_drops_the_perplexity_tail(ray_local, models, tmp_path):
    stats, kept, rejected = _run("arctic", models, tmp_path)
    assert {r["perplexity_bucket"] for r in kept if r["perplexity_bucket"]} == {"head", "middle"}
    tail = [r for r in rejected if r["reason"] == "perplexity_bucket_tail"]
    high = stats["corpus_cuts"]["perplexity"]["cuts"]["en"][1]
    assert tail and all(float(np.float32(r["perplexity"])) > high for r in tail)


def test_model_stages_in_an_actor_pool_give_the_same_output(ray_local, models, tmp_path, capsys):
    """``resources.model_actors``: Dolma's perplexity and sentence-level classifiers run in a pool
    of Ray actors after the read tasks; the output is the run without actors, row for row."""
    from operators import io
    from operators.pipeline import model_stage_index, read_inputs, stream
    from operators.recipe import enabled_filter_stages
    from operators.writer import write_shards

    cfg = load_recipe("dolma", [f"models_dir={models}", "resources.model_actors=1"])
    names = [name for name, *_ in enabled_filter_stages(cfg)]
    split = model_stage_index(cfg)
    assert names[split] in ("perplexity", "classifier") and "perplexity" not in names[:split]
    plan = io.expand_inputs([str(p) for p in sample_path()], cfg.storage, cfg.input)
    stream(read_inputs(plan, cfg), cfg, write_shards, {"output": str(tmp_path / "plan")}).explain()
    assert "MapBatches(annotate_slices)->MapBatches(ModelStages)" in capsys.readouterr().out.replace("\n", "")

    _, kept_pool, rejected_pool = _run("dolma", models, tmp_path / "pool", "resources.model_actors=1")
    _, kept_tasks, rejected_tasks = _run("dolma", models, tmp_path / "tasks")

    def by_id(rows):
        return {r["id"]: json.dumps(r, sort_keys=True, default=str) for r in rows}

    assert by_id(kept_pool) == by_id(kept_tasks)
    assert by_id(rejected_pool) == by_id(rejected_tasks)
    assert sum(r.get("perplexity") is not None for r in kept_pool) > 100


def test_model_actors_must_be_positive():
    from operators.config import ConfigError

    with pytest.raises(ConfigError, match="resources.model_actors must be >= 1"):
        load_recipe("dolma", ["resources.model_actors=0"])
