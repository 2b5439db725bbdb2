"""Property tests (hypothesis): every text normaliser, tokenizer and filter takes any string
without raising, and its scores stay in their range.

Covered: ``operators/filters/{text,c4,gopher_quality,gopher_repetition,fineweb,urls,language}.py``
(measure, decide and the Arrow ``apply`` adapter), ``operators/dedup/normalize.py``, the
shingling and signatures of ``operators/dedup/minhash.py``, ``operators/langid.py``
(``detect_language`` with both backends, ``prose_text``) and the fastText line formats of
``operators/classify/fasttext_model.py``. Strings come from all of Unicode (hypothesis'
``text()``, which leaves out lone surrogates: Arrow and UTF-8 cannot hold them) and from
text-like mixtures of words, punctuation, markup, LaTeX, CJK, RTL scripts, emoji, control
characters and odd line breaks. 200 examples per property (100 for the Arrow-heavy dedup
ones), no deadline, derandomized unless ``RAYSIFT_HYPOTHESIS_RANDOM=1``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fault_case("property tests", "any string into every normaliser, tokenizer and filter",
                                     "no exception; scores in their documented range")

from operators.classify.fasttext_model import format_line, preprocess
from operators.dedup import minhash, normalize
from operators.filters import c4, fineweb, gopher_quality, gopher_repetition, language, text, urls
from operators.langid import LanguageIdConfig, detect_language, prose_text

# Derandomized: CI sees the same examples every run; RAYSIFT_HYPOTHESIS_RANDOM=1 explores anew.
settings.register_profile("raysift", max_examples=200, deadline=None,
                          derandomize=os.environ.get("RAYSIFT_HYPOTHESIS_RANDOM", "") in ("", "0"),
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("raysift")

_PIECES = [
    "the", "of", "and", "The", "committee", "met", "on", "Tuesday", "e-mail", "don't", "U.S.", "Mr.",
    "3.14", "1,000", "10km", "$5", "#", "##", "...", "…", "•", "-", "—", ".", "!", "?", ",", ";", ":",
    "(", ")", "[12]", "[edit]", "{", "}", "\"", "'", "’", "«", "»", "http://example.com/a?b=c", "www.x.org",
    "lorem ipsum", "javascript", "cookie policy", "<p>", "</div>", "&amp;", "$x^2$", "\\frac{a}{b}", "\\[",
    "\\]", "$$", "日本語", "中文", "한국어", "ありがとう", "العربية", "עברית", "Ελληνικά", "русский", "😀",
    "\u200b", "\u00ad", "\ufeff", "\x00", "\x07", "\t", " ", "  ", "\n", "\n\n", "\r\n", "\r", "\x0b", "\x0c",
    "\x85", "\u2028", "\u2029", "\ufffd", "ﬁ", "Ⅻ", "٣", "𝔘", "x²", "≤", "√", "·", "π", "a" * 300,
]
texty = st.lists(st.sampled_from(_PIECES) | st.text(max_size=8), max_size=120).map(" ".join) | \
    st.lists(st.sampled_from(_PIECES), max_size=200).map("".join)
any_text = st.text() | texty
urls_like = st.text() | st.builds(lambda s, h, p: f"{s}://{h}/{p}", st.sampled_from(["http", "https", "ftp", ""]),
                                  st.text(max_size=30), st.text(max_size=30))


def _unit(x: float | None, *, none_ok: bool = False) -> None:
    if x is None:
        assert none_ok
        return
    assert math.isfinite(x) and 0.0 <= x <= 1.0, x


def _nonneg(x: float) -> None:
    assert math.isfinite(x) and x >= 0.0, x


def _table(texts: list[str], urls_: list[str | None] | None = None) -> pa.Table:
    n = len(texts)
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": texts,
                     "url": urls_ if urls_ is not None else [None] * n,
                     "language": ["en"] * n, "language_score": [0.9] * n})


def _apply_names_only_known_reasons(module, texts: list[str], cfg, urls_=None) -> pa.Table:
    out = module.apply(_table(texts, urls_), cfg)
    assert out.num_rows == len(texts)
    assert set(out.column("reason").to_pylist()) <= set(module.REASONS) | {None}
    assert any(name.startswith(module.PREFIX + "_") for name in out.column_names)
    return out


# ----------------------------------------------------------------------------- text.py


@given(any_text)
def test_split_words_only_splits(s):
    tokens = text.split_words(s)
    assert all(tokens) and all(not any(c.isspace() for c in t) for t in tokens)
    assert "".join(tokens) == "".join(s.split())  # nothing dropped, nothing invented
    assert text.split_words(s) == tokens  # the memo returns the same


@given(any_text)
def test_token_classes_lines_and_paragraphs(s):
    for token in text.split_words(s):
        assert isinstance(text.is_symbol_token(token), bool) and isinstance(text.has_alpha(token), bool)
        # has_alpha is [^\W\d_]: letters, and also numerals that are not decimal digits
        # (No/Nl: "⅐", "²", "Ⅻ"), which str.isalpha does not count
        if any(c.isalpha() for c in token):
            assert text.has_alpha(token)
        if text.has_alpha(token):
            assert any(c.isalnum() for c in token)
    assert "".join(text.word_lines(s)) == s.replace("\n", "")
    assert all("\n\n" not in p for p in text.paragraphs(s))


@given(st.lists(st.text(st.characters(blacklist_characters="\n"), max_size=5), max_size=60))
def test_find_duplicates_and_encode_words(items):
    # encode_words takes tokens (split_words never yields one holding whitespace): it joins
    # them with "\n" to hand them to Arrow in one piece
    n_dup, dup_chars = text.find_duplicates(items)
    assert n_dup == len(items) - len(set(items))
    assert 0 <= dup_chars <= sum(map(len, items))
    ids, lens = text.encode_words(items)
    assert ids.tolist() == [sorted(set(items), key=items.index).index(w) for w in items]
    assert lens.tolist() == [len(w) for w in items]


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_ratio_never_divides_by_zero(a, b):
    r = text.ratio(a, b)
    assert r == (a / b if b else 0.0)


# ----------------------------------------------------------------------------- gopher


@given(any_text)
def test_gopher_quality_measure_and_decide(s):
    cfg = gopher_quality.Config()
    stats = gopher_quality.measure(s, cfg)
    assert 0 <= stats.n_words <= stats.n_tokens == len(text.split_words(s))
    assert stats.mean_word_length is None or stats.mean_word_length >= 1
    assert (stats.mean_word_length is None) == (stats.n_words == 0)
    for value in (stats.hash_ratio, stats.ellipsis_ratio):  # per token: may exceed 1 ("####")
        _nonneg(value)
    _unit(stats.bullet_lines_ratio)
    _unit(stats.ellipsis_lines_ratio)
    _unit(stats.alpha_words_ratio, none_ok=stats.n_tokens == 0)
    assert 0 <= stats.stop_words <= min(len(set(cfg.stop_words)), stats.stop_word_occurrences)
    assert gopher_quality.decide(stats, cfg) in set(gopher_quality.REASONS) | {None}


@given(any_text)
def test_gopher_repetition_measure_and_decide(s):
    cfg = gopher_repetition.Config()
    stats = gopher_repetition.measure(s, cfg)
    for name in ("duplicate_paragraphs", "duplicate_paragraph_chars", "duplicate_lines", "duplicate_line_chars",
                 *(f"duplicate_{n}gram_share" for n in range(5, 11))):
        _unit(getattr(stats, name))
    for n in (2, 3, 4):  # overlapping occurrences of the top n-gram: may exceed 1 ("((((((")
        _nonneg(getattr(stats, f"top_{n}gram_share"))
    assert gopher_repetition.decide(stats, cfg) in set(gopher_repetition.REASONS) | {None}


@given(st.lists(any_text, min_size=1, max_size=4))
def test_gopher_apply(texts):
    _apply_names_only_known_reasons(gopher_quality, texts, gopher_quality.Config())
    _apply_names_only_known_reasons(gopher_repetition, texts, gopher_repetition.Config())


# ----------------------------------------------------------------------------- c4, fineweb


@given(any_text, st.none() | st.sampled_from(["en", "EN-us", "de_Latn", "ja", "zh", "xx"]) | st.text(max_size=12))
def test_c4_measure_clean_and_decide(s, lang):
    cfg = c4.Config()
    stats, cleaned = c4.measure_and_clean(s, cfg, lang)
    assert stats.n_lines == len(s.splitlines())
    assert 0 <= stats.n_kept_lines <= stats.n_lines
    removed = (stats.removed_too_long_word + stats.removed_no_terminal_punct + stats.removed_too_few_words
               + stats.removed_javascript + stats.removed_policy)
    assert 0 <= removed <= stats.n_lines - stats.n_kept_lines
    assert stats.n_sentences >= stats.n_kept_lines
    kept = cleaned.split("\n") if cleaned else []
    assert len(kept) == stats.n_kept_lines
    candidates = {c4._CITATION_RE.sub("", line.strip()) for line in s.splitlines()}  # citations ([12]) go
    assert all(line in candidates for line in kept)
    assert c4.decide(stats, cfg) in set(c4.REASONS) | {None}
    assert isinstance(c4.normalize_language(lang, "en"), str)


@given(any_text)
def test_fineweb_measure_and_decide(s):
    cfg = fineweb.Config()
    stats = fineweb.measure(s, cfg)
    assert stats.n_lines == sum(1 for line in s.split("\n") if line.strip())
    for value in (stats.terminal_punct_lines, stats.short_lines, stats.duplicate_line_chars):
        _unit(value)
    _nonneg(stats.newlines_per_word)
    reason = fineweb.decide(stats, cfg)
    assert reason in set(fineweb.REASONS) | {None}
    assert (reason == fineweb.EMPTY) == (stats.n_lines == 0)


@given(st.lists(any_text, min_size=1, max_size=4))
def test_c4_and_fineweb_apply(texts):
    _apply_names_only_known_reasons(c4, texts, c4.Config())
    _apply_names_only_known_reasons(fineweb, texts, fineweb.Config())


# ----------------------------------------------------------------------------- urls, language

_URL_CFG = urls.Config(blocked_domains=("example.com", "bad.test"), banned_words=("casino", "porn"),
                       soft_banned_words=("free", "win", "cash"), banned_subwords=("xxx",))


@given(urls_like)
def test_url_measure_and_decide(url):
    stats = urls.measure(url, _URL_CFG)
    assert 0 <= stats.banned_words <= 2 and 0 <= stats.soft_banned_words <= 3
    assert urls.decide(stats, _URL_CFG) in set(urls.REASONS) | {None}
    host = urls.host_of(url)
    assert not host.endswith(".")
    assert host.partition("%")[0] == host.partition("%")[0].lower()  # urlsplit keeps an IPv6 zone's case


@given(st.lists(st.none() | urls_like, min_size=1, max_size=4))
def test_url_apply(url_list):
    _apply_names_only_known_reasons(urls, ["some text"] * len(url_list), _URL_CFG, url_list)


@given(st.none() | st.text(max_size=12), st.none() | st.floats(allow_nan=True, allow_infinity=True))
def test_language_measure_and_decide(lang, score):
    cfg = language.Config()
    stats = language.measure(lang, score, cfg)
    assert stats.allowed == (lang == "en")
    assert stats.confident == (score is not None and score >= 0.65)
    assert language.decide(stats, cfg) in set(language.REASONS) | {None}


# ----------------------------------------------------------------------------- dedup


@given(any_text)
def test_normalize_text_is_idempotent_and_canonical(s):
    out = normalize.normalize_text(s)
    assert normalize.normalize_text(out) == out
    assert out == out.strip() and "  " not in out
    assert all(c in "abcdefghijklmnopqrstuvwxyz0 " for c in out if c.isascii())
    assert not any(c.isspace() and c != " " for c in out)


@settings(max_examples=100)  # Arrow kernels per call: the slow ones
@given(st.lists(st.none() | any_text, max_size=6))
def test_normalize_texts_keeps_rows(texts):
    out = normalize.normalize_texts(texts).to_pylist()
    assert len(out) == len(texts)
    assert out == [normalize.normalize_text(t) if t is not None else "" for t in texts]


@settings(max_examples=100)  # Arrow kernels per call: the slow ones
@given(st.lists(st.none() | any_text, min_size=1, max_size=5), st.integers(1, 7))
def test_shingles_and_signatures(texts, ngram):
    hashes, off = minhash.shingle_hashes(texts, ngram)
    assert hashes.dtype == np.uint64 and off.shape == (len(texts) + 1,)
    assert off[0] == 0 and (np.diff(off) >= 0).all() and off[-1] == hashes.size
    for i, t in enumerate(texts):
        words = normalize.normalize_text(t or "").split()
        assert off[i + 1] - off[i] == (max(len(words) - ngram + 1, 1) if words else 0)
    cfg = minhash.MinHashConfig(ngram=ngram)
    sig, has = minhash.signatures(texts, cfg)
    assert sig.shape == (len(texts), cfg.num_perm) and has.tolist() == (np.diff(off) > 0).tolist()


@settings(max_examples=100)  # Arrow kernels per call: the slow ones
@given(any_text, any_text)
def test_exact_jaccard_is_a_similarity(a, b):
    j = minhash.exact_jaccard(a, b)
    _unit(j)
    assert minhash.exact_jaccard(a, a) == 1.0
    assert j == minhash.exact_jaccard(b, a)


# ----------------------------------------------------------------------------- langid, fastText lines


@pytest.mark.parametrize("backend", ["fasttext", "resiliparse"])
def test_detect_language_any_string(backend):
    cfg = LanguageIdConfig(backend=backend)

    @given(any_text)
    def check(s):
        lang, score = detect_language(s, cfg)
        _unit(score)
        assert lang is None or (isinstance(lang, str) and lang)
        if lang is None:
            assert score == 0.0

    check()


@given(any_text, st.integers(1, 500))
def test_prose_text_is_one_short_line(s, max_chars):
    out = prose_text(s, max_chars)
    assert len(out) <= max_chars and out == out.lstrip()  # the cut may end on a space
    assert not any(c in out for c in "\n\r")


@given(st.none() | any_text, st.none() | st.integers(1, 1000))
def test_fasttext_lines_are_one_line(s, max_chars):
    line = preprocess(s) if max_chars is None else preprocess(s, max_chars)
    assert not any(c in line for c in "\n\r\t\v\f\x00")
    assert line == line.lower()
    for fmt in ("math", "dclm", "dolma"):
        assert "\n" not in format_line(s, fmt, max_chars)
