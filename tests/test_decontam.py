"""Decontamination: planted benchmark leaks are removed, nothing else is."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pyarrow as pa
import pytest

from operators.classify.decontam import (
    CONTAMINATED,
    CONTAMINATED_BY,
    DecontamConfig,
    build_ngram_index,
    decontaminate_table,
    find_contamination,
    load_benchmarks,
    ngram_hashes,
    normalize_words,
)

BENCH = [
    {"id": "gsm-1", "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
                                "clips in May. How many clips did Natalia sell altogether in April and May?",
     "answer": "72"},
    {"id": "math-7", "problem": "Find the number of ordered pairs $(a,b)$ of positive integers such that "
                                "$a + b = 1000$ and neither $a$ nor $b$ has a zero digit.", "solution": "738"},
    {"id": "short-3", "question": "Compute $\\binom{17}{9}$ exactly."},  # 5 words after normalisation
    {"id": "tiny", "question": "Why?"},
]

WORDS = ("the river town market bridge school garden winter morning people story music science "
         "history coffee train window paper road light water city summer family friend").split()


def _filler(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture()
def bench_file(tmp_path):
    p = tmp_path / "bench.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in BENCH) + "\n")
    return p


def test_load_benchmarks_reads_fields_and_ids(bench_file):
    items = load_benchmarks([bench_file])
    ids = [i for i, _ in items]
    assert "gsm-1#question" in ids and "gsm-1#answer" in ids and "math-7#problem" in ids
    index = build_ngram_index(items)
    # "72", "738", "Why?" are below 3 words
    assert index.ignored_short == 3
    assert "tiny#question" not in index.ids


def test_load_benchmarks_error_names_fix(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"id": 1, "prompt": "x y z"}\n')
    with pytest.raises(ValueError, match="text_fields"):
        load_benchmarks([p])


def test_ngram_hashes_match_python_windows():
    words = normalize_words("a b c d e f g a b c d")
    from operators.classify.decontam import _word_hashes

    h = ngram_hashes(_word_hashes(words), 3)
    assert len(h) == len(words) - 2
    assert h[0] == h[7]  # "a b c" twice
    assert len(set(h.tolist())) == 7


def test_planted_leaks_removed_and_nothing_else(bench_file):
    index = build_ngram_index(load_benchmarks([bench_file]))
    rng = random.Random(1)
    docs, expected = [], []
    # clean documents, including near-misses: 9 consecutive words of a long question, and the
    # short question with one word changed
    q = BENCH[0]["question"]
    nine = " ".join(normalize_words(q)[5:14])
    for i in range(300):
        docs.append(_filler(rng, 200))
        expected.append(None)
    docs += [f"{_filler(rng, 50)} {nine} {_filler(rng, 50)}",
             f"{_filler(rng, 50)} Compute binom 17 8 exactly {_filler(rng, 50)}",
             f"Natalia sold clips. {_filler(rng, 80)} 72 of them."]
    expected += [None, None, None]
    # leaks: a 10-word window with different punctuation/case, the whole short item, a solution copy
    window = " ".join(normalize_words(q)[10:20]).upper()
    docs += [f"{_filler(rng, 80)} -- {window}!! {_filler(rng, 80)}",
             f"{_filler(rng, 30)} compute $\\binom{{17}}{{9}}$ EXACTLY. {_filler(rng, 30)}",
             f"Forum: {BENCH[1]['problem']} Any hints?"]
    expected += ["gsm-1#question", "short-3#question", "math-7#problem"]
    t = pa.table({"id": [str(i) for i in range(len(docs))], "text": docs,
                  "reason": pa.array([None] * len(docs), pa.string())})
    out = decontaminate_table(t, index)
    assert out[CONTAMINATED_BY].to_pylist() == expected
    reasons = out["reason"].to_pylist()
    assert reasons.count(CONTAMINATED) == 3
    assert all(r == CONTAMINATED for r, e in zip(reasons, expected) if e)


def test_dead_rows_untouched_and_empty_text(bench_file):
    index = build_ngram_index(load_benchmarks([bench_file]))
    t = pa.table({"id": ["a", "b", "c"], "text": [BENCH[1]["problem"], None, ""],
                  "reason": pa.array(["fuzzy_duplicate", None, None], pa.string())})
    out = decontaminate_table(t, index)
    assert out["reason"].to_pylist() == ["fuzzy_duplicate", None, None]
    assert out[CONTAMINATED_BY].to_pylist() == [None, None, None]
    assert find_contamination("anything at all here", build_ngram_index([])) is None


def test_config_validation():
    with pytest.raises(ValueError):
        DecontamConfig(ngram=10, min_words=11)


@pytest.mark.ray
def test_ray_adapter_shares_index(bench_file):
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    import ray.data

    from operators.classify.decontam import decontaminate_dataset

    index = build_ngram_index(load_benchmarks([bench_file]))
    rng = random.Random(2)
    texts = [_filler(rng, 100) for _ in range(60)] + [f"see: {BENCH[0]['question']}"]
    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False)
    try:
        ds = ray.data.from_arrow(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}))
        out = decontaminate_dataset(ds.repartition(4), index).take_all()
    finally:
        ray.shutdown()
    hits = {r["id"]: r[CONTAMINATED_BY] for r in out}
    assert len(hits) == len(texts)
    assert hits["60"] == "gsm-1#question"
    assert sum(v is not None for v in hits.values()) == 1
    assert np.all([r["reason"] in (None, CONTAMINATED) for r in out])
