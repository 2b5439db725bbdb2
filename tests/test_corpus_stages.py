"""Corpus-level cuts (operators/filters/corpus.py) and the Llama 3 token-outlier stage."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from operators.config import ConfigError
from operators.filters import corpus
from operators.filters import token_outliers as tok
from operators.filters.corpus import CorpusRule


def _table(scores, langs=None, reasons=None):
    n = len(scores)
    cols = {"id": [str(i) for i in range(n)], "text": ["x"] * n, "s": scores}
    if langs is not None:
        cols["language"] = langs
    if reasons is not None:
        cols["reason"] = pa.array(reasons, type=pa.string())
    return pa.table(cols)


def _run(tables, rules):
    sketch = {}
    for t in tables:  # batch summaries merged in any grouping give the same cuts
        sketch = corpus.merge(sketch, corpus.from_json(corpus.to_json(corpus.summarize(t, rules))))
    cuts = corpus.cut_values(sketch, rules)
    return [corpus.apply_rules(t, rules, cuts) for t in tables], cuts


def test_quantile_cut_matches_numpy_over_batches():
    rng = random.Random(0)
    scores = [rng.lognormvariate(5, 1) for _ in range(10_000)]
    rule = CorpusRule(column="s", cuts=(0.3, 0.6), labels=("head", "middle", "tail"), bucket_column="b")
    out, cuts = _run([_table(scores[i:i + 997]) for i in range(0, len(scores), 997)], (rule,))
    labels = [x for t in out for x in t.column("b").to_pylist()]
    assert abs(labels.count("head") - 3000) <= 2 and abs(labels.count("tail") - 4000) <= 2
    exact = np.quantile(np.asarray(scores, dtype=np.float32), [0.3, 0.6], method="inverted_cdf")
    got = cuts[rule.key][corpus.ALL]
    assert np.allclose(got, exact, rtol=1e-4)


def test_cuts_per_language_and_rejects_named():
    en = [float(i) for i in range(100)]
    de = [1000.0 + i for i in range(10)]
    t = _table(en + de, langs=["en"] * 100 + ["de"] * 10)
    rule = CorpusRule(column="s", cuts=(0.5,), labels=("low", "high"), reject={"high": "s_high"}, by_language=True)
    (out,), cuts = _run([t], (rule,))
    reasons = out.column("reason").to_pylist()
    assert reasons[:50] == [None] * 50 and reasons[50:100] == ["s_high"] * 50
    assert reasons[100:105] == [None] * 5 and reasons[105:] == ["s_high"] * 5
    assert cuts[rule.key]["en"] == [pytest.approx(49.0, rel=2**-15)]
    assert cuts[rule.key]["de"] == [pytest.approx(1004.0, rel=2**-15)]


def test_dead_and_null_rows_take_no_part_and_keep_their_reason():
    t = _table([1.0, 2.0, 3.0, None, 100.0], reasons=[None, None, None, None, "earlier"])
    rule = CorpusRule(column="s", cuts=(0.5,), labels=("low", "high"), reject={"low": "s_low"}, bucket_column="b")
    (out,), _ = _run([t], (rule,))
    # the median of the alive scores 1, 2, 3 is 2; a score equal to the cut is below it
    assert out.column("b").to_pylist() == ["low", "low", "high", None, None]
    assert out.column("reason").to_pylist() == ["s_low", "s_low", None, None, "earlier"]


def test_negative_scores_and_ties():
    t = _table([-3.0, -3.0, -3.0, -1.0, 2.0, 2.0])
    rule = CorpusRule(column="s", cuts=(0.5,), labels=("low", "high"), bucket_column="b")
    (out,), cuts = _run([t], (rule,))
    assert cuts[rule.key][corpus.ALL] == [-3.0]  # exact: -3.0's low mantissa bits are zero
    assert out.column("b").to_pylist() == ["low"] * 3 + ["high"] * 3


@pytest.mark.parametrize("kwargs, match", [
    ({"cuts": (0.6, 0.3), "labels": ("a", "b", "c")}, "increase"),
    ({"cuts": (1.0,), "labels": ("a", "b")}, "within"),
    ({"cuts": (0.5,), "labels": ("a",)}, "2 bucket labels"),
    ({"cuts": (0.5,), "labels": ("a", "b"), "reject": {"c": "r"}}, "unknown bucket 'c'"),
])
def test_rule_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        CorpusRule(column="s", **kwargs)


# ---------------------------------------------------------------- token outliers (Llama 3)

def test_kl_equals_direct_formula():
    cfg = tok.Config(min_tokens=1, buckets=1 << 20)
    docs = ["a b b c", "a a a a", "c d"]
    t = pa.table({"text": docs})
    summary = tok.corpus_summary(t, cfg)
    assert sum(summary.values()) == 10
    kl = tok.apply_summary(t, cfg, summary).column(tok.KL_COLUMN).to_pylist()
    # direct: corpus counts a=5 b=2 c=2 d=1 plus 1 smoothing in each of 2**20 bins
    denom = 10 + (1 << 20)
    p = {w: (c + 1) / denom for w, c in {"a": 5, "b": 2, "c": 2, "d": 1}.items()}
    expected = [
        0.25 * np.log(0.25 / p["a"]) + 0.5 * np.log(0.5 / p["b"]) + 0.25 * np.log(0.25 / p["c"]),
        np.log(1 / p["a"]),
        0.5 * np.log(0.5 / p["c"]) + 0.5 * np.log(0.5 / p["d"]),
    ]
    assert np.allclose(kl, expected, rtol=1e-12)


def test_outlier_is_the_odd_document_and_short_texts_unscored():
    rng = random.Random(1)
    common = "the of and to in is that for it as with was on be by this are from at".split()
    docs = [" ".join(rng.choice(common) for _ in range(80)) for _ in range(99)]
    docs.append(" ".join(f"q{rng.randrange(10**6)}x" for _ in range(80)))  # tokens the corpus never uses
    docs.append("too short")
    t = pa.table({"text": docs})
    cfg = tok.Config()
    out = tok.apply_summary(t, cfg, tok.corpus_summary(t, cfg))
    kl = out.column(tok.KL_COLUMN).to_pylist()
    assert kl[-1] is None and out.column(tok.TOKENS_COLUMN).to_pylist()[-1] == 2
    assert int(np.argmax(kl[:-1])) == 99
    (cut,) = tok.corpus_rules(cfg)
    (final,), _ = _run([out], (cut,))
    reasons = final.column("reason").to_pylist()
    assert reasons[99] == tok.TOP_OUTLIER and reasons.count(tok.TOP_OUTLIER) == 1


def test_max_kl_and_dead_rows():
    cfg = tok.Config(min_tokens=1, max_kl=1.0, outlier_percent=None)
    t = pa.table({"text": ["a a a", "zz yy", "b"], "reason": pa.array([None, None, "dead"], type=pa.string())})
    out = tok.apply_summary(t, cfg, {})  # an empty corpus: every bin has only the smoothing
    assert out.column("reason").to_pylist() == [tok.HIGH_KL, tok.HIGH_KL, "dead"]
    assert out.column(tok.KL_COLUMN).to_pylist()[2] is None
    assert tok.corpus_rules(cfg) == ()


@pytest.mark.parametrize("kwargs, match", [
    ({"outlier_percent": 0}, "outlier_percent"), ({"buckets": 1000}, "power of two"),
    ({"smoothing": 0}, "smoothing"), ({"min_tokens": 0}, "min_tokens"),
])
def test_token_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        tok.Config(**kwargs)


def test_summaries_merge_like_one_batch():
    cfg = tok.Config(min_tokens=1)
    a, b = pa.table({"text": ["x y z", "x"]}), pa.table({"text": ["y y", "w"]})
    both = pa.concat_tables([a, b])
    assert tok.merge_summaries(tok.corpus_summary(a, cfg), tok.corpus_summary(b, cfg)) == tok.corpus_summary(both, cfg)
