"""fastText math classifier: held-out precision/recall on real data, edge cases, Ray actor-pool scoring."""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from operators.classify.fasttext_model import (
    ClassifierConfig,
    evaluate,
    load_model,
    local_model_path,
    preprocess,
    score_texts,
    train,
)
from operators.classify.scoring import MATH_SCORE, MATH_SCORE_TOO_LOW, MathScorer, ScoringConfig, score_table

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Held-out floors on real data (StackMathQA vs Common Crawl / readability / WARC pages). Stated
# below the 0.9/0.9 target so that a noisy 2-core machine never flakes; measured 1.0/1.0.
PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.95


def load_seed() -> list[str]:
    root = DATA / "math-seed" / "stackmathqa"
    if not root.is_dir():
        pytest.skip(f"../shared/data not found: {root} (StackMathQA seed)")
    out = []
    for p in sorted(root.glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            out.append(r["Q"] + "\n" + r["A"])
    return out


def load_web_negatives() -> list[str]:
    """Real non-math web text: Dolma CC documents and readability pages (minus the math ones)."""
    from resiliparse.extract.html2text import extract_plain_text

    dolma = DATA / "text" / "dolma-cc-samples"
    pages = DATA / "extraction-dev" / "mozilla-readability" / "test-pages"
    if not dolma.is_dir() or not pages.is_dir():
        pytest.skip(f"../shared/data not found: {dolma} / {pages}")
    out = []
    for p in sorted(dolma.glob("*.json*")):
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        out += [json.loads(line)["text"] for line in raw.decode("utf-8").splitlines() if line.strip()]
    for p in sorted(pages.glob("*/source.html.gz")):
        if p.parent.name in ("mathjax", "quanta-1"):
            continue
        text = extract_plain_text(gzip.decompress(p.read_bytes()).decode("utf-8", "replace"), main_content=True)
        if len(text.split()) >= 30:
            out.append(text)
    return out


def lookalike_texts(n: int, seed: int = 0) -> list[str]:
    """Generated non-math pages that share surface features with math: prices, percentages, code."""
    rng = random.Random(seed)
    items = ["jacket", "laptop", "coffee maker", "running shoes", "headphones", "garden hose", "backpack"]
    shops = ["Our store", "The outlet", "This week's flyer", "The summer sale"]
    code = ["const total = items.reduce((a, b) => a + b, 0);", "if (x > 10) { return y; }",
            "for (let i = 0; i < n; i++) { sum += price[i]; }", "body { margin: 0; padding: 0; }"]
    out = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(6, 14)):
            kind = rng.random()
            if kind < 0.5:
                lines.append(f"{rng.choice(shops)} has the {rng.choice(items)} for ${rng.randint(5, 300)}.{rng.randint(10, 99)}"
                             f", down {rng.randint(5, 70)}% from last month, with free shipping over ${rng.randint(25, 99)}.")
            elif kind < 0.8:
                lines.append(f"Customers rated it {rng.randint(1, 5)} out of 5 stars and {rng.randint(2, 900)} people"
                             " said they would recommend it to a friend.")
            else:
                lines.append(f"Developer note: {rng.choice(code)}")
        out.append("\n".join(lines))
    return out


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    seed = load_seed()
    neg = load_web_negatives() + lookalike_texts(150)
    rng = random.Random(0)
    rng.shuffle(seed)
    rng.shuffle(neg)
    cut_p, cut_n = int(0.6 * len(seed)), int(0.6 * len(neg))
    model_path = str(tmp_path_factory.mktemp("clf") / "math.bin")
    report = train(seed[:cut_p], neg[:cut_n], ClassifierConfig(threads=1), model_path)
    return {"report": report, "model_path": model_path, "test_pos": seed[cut_p:], "test_neg": neg[cut_n:]}


@pytest.mark.shared_data
def test_held_out_precision_and_recall_above_floors(split):
    model = load_model(split["model_path"])
    m = evaluate(model, split["test_pos"], split["test_neg"], threshold=0.5)
    assert m["n_positives"] > 300 and m["n_negatives"] > 80
    assert m["precision"] >= PRECISION_FLOOR, m
    assert m["recall"] >= RECALL_FLOOR, m


@pytest.mark.shared_data
def test_small_seed_scales_down_and_model_written_atomically(split):
    r = split["report"]
    assert r.scaled_down
    assert r.settings["minCount"] == 1 and r.settings["epoch"] == 30 and r.settings["dim"] == 64
    assert r.settings["wordNgrams"] == 3 and r.settings["lr"] <= 0.1
    assert os.path.getsize(split["model_path"]) == r.model_bytes
    leftovers = [p for p in os.listdir(os.path.dirname(split["model_path"])) if ".tmp-" in p]
    assert leftovers == []


def test_deepseekmath_defaults_for_large_seeds():
    cfg = ClassifierConfig()
    big = cfg.effective(1_000_000)
    assert (big["dim"], big["lr"], big["wordNgrams"], big["minCount"], big["epoch"]) == (256, 0.1, 3, 3, 3)
    assert (cfg.max_positives, cfg.max_negatives) == (500_000, 500_000)
    assert ClassifierConfig(small_seed_examples=None).effective(100)["minCount"] == 3
    with pytest.raises(ValueError, match="lr"):
        ClassifierConfig(lr=0)


def test_preprocess_keeps_latex_tokens_and_one_line():
    line = preprocess("Let $\\frac{a}{b}$\nand \\alpha^2.", max_chars=1000)
    assert "\n" not in line
    toks = line.split()
    assert "\\frac" in toks and "\\alpha" in toks and "$" in toks and "^" in toks
    assert preprocess("x" * 100, max_chars=10) == "x" * 10
    assert preprocess(None) == "" and preprocess("") == ""


@pytest.mark.shared_data
def test_scores_empty_huge_and_ordering(split):
    model = load_model(split["model_path"])
    huge = split["test_pos"][0] * 5000  # several MB
    s = score_texts(model, ["", None, "   ", huge, split["test_neg"][0]], max_chars=20_000)
    assert s.dtype == np.float32 and s.shape == (5,)
    assert s[0] == 0.0 and s[1] == 0.0 and s[2] == 0.0
    assert s[3] > 0.5 > s[4]
    assert ((s >= 0) & (s <= 1)).all()


def test_train_rejects_empty_classes(tmp_path):
    with pytest.raises(ValueError, match="non-empty positives and negatives"):
        train(["a b c"], ["", "  "], ClassifierConfig(threads=1), str(tmp_path / "m.bin"))


def test_missing_model_error_says_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-classifier"):
        local_model_path(str(tmp_path / "nope.bin"))


@pytest.mark.shared_data
def test_score_table_nulls_dead_rows_and_min_score_rejects(split):
    model = load_model(split["model_path"])
    t = pa.table({
        "id": ["a", "b", "c"],
        "text": [split["test_pos"][1], split["test_neg"][1], split["test_pos"][2]],
        "reason": [None, None, "gopher_too_few_words"],
    })
    out = score_table(t, model, ScoringConfig(min_score=0.5))
    scores = out[MATH_SCORE].to_pylist()
    assert scores[0] > 0.5 and scores[1] < 0.5 and scores[2] is None
    assert out["reason"].to_pylist() == [None, MATH_SCORE_TOO_LOW, "gopher_too_few_words"]
    # the callable class loads lazily, once
    scorer = MathScorer(split["model_path"])
    assert scorer._model is None
    scorer(t)
    first = scorer._model
    scorer(t)
    assert scorer._model is first


def test_scoring_config_rejects_whole_cpu_zero():
    with pytest.raises(ValueError, match="num_cpus"):
        ScoringConfig(num_cpus=0)


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.shared_data
def test_actor_pool_scoring_on_ray(split, ray_cluster):
    import ray.data

    from operators.classify.scoring import score_dataset

    texts = split["test_pos"][:40] + split["test_neg"][:40] + ["", None]
    ds = ray.data.from_arrow(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}))
    out = score_dataset(ds.repartition(4), split["model_path"], ScoringConfig(actors=1, num_cpus=0.5, batch_size=16))
    rows = {r["id"]: r[MATH_SCORE] for r in out.take_all()}
    assert len(rows) == len(texts)
    pos = np.array([rows[str(i)] for i in range(40)])
    neg = np.array([rows[str(i)] for i in range(40, 80)])
    assert (pos >= 0.5).mean() >= 0.95 and (neg < 0.5).mean() >= 0.95
    assert rows[str(80)] == 0.0 and rows[str(81)] == 0.0
    local = score_texts(load_model(split["model_path"]), texts[:5])
    assert np.allclose([rows[str(i)] for i in range(5)], local, atol=1e-6)
