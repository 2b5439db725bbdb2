"""URL and language filters: reasons, lists from files, disabling, apply() on Arrow tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.config import ConfigError
from operators.filters import language as lang
from operators.filters import urls
from operators.filters.registry import ALL_REASONS, FILTER_STAGES


def url_reason(url: str, cfg: urls.Config) -> str | None:
    return urls.decide(urls.measure(url, cfg), cfg)


def test_domain_blocklist_matches_subdomains_only():
    cfg = urls.Config(blocked_domains=("Example.com",))
    assert url_reason("http://example.com", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://a.b.EXAMPLE.com:443/x?y=1", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://notexample.com/", cfg) is None
    assert url_reason("https://example.com.evil.org/", cfg) is None
    assert url_reason("", cfg) is None
    assert url_reason("not a url at all", cfg) is None


def test_banned_soft_and_subwords():
    cfg = urls.Config(banned_words=("casino",), soft_banned_words=("hot", "deals"), banned_subwords=("badstuff",))
    assert url_reason("https://x.org/Casino/", cfg) == urls.BANNED_WORD
    assert url_reason("https://x.org/casinos", cfg) is None  # whole tokens only
    assert url_reason("https://x.org/hot-weather", cfg) is None
    assert url_reason("https://x.org/hot-deals", cfg) == urls.SOFT_BANNED_WORDS
    assert url_reason("https://bad-stuff.org/", cfg) == urls.BANNED_SUBWORD
    no_soft = urls.Config(soft_banned_words=("hot", "deals"), soft_banned_threshold=None)
    assert url_reason("https://x.org/hot-deals", no_soft) is None


def test_lists_from_files(tmp_path):
    f = tmp_path / "domains.txt"
    f.write_text("# blocked\nspam.example  # comment\n\n", encoding="utf-8")
    cfg = urls.Config(blocked_domains_file=str(f))
    assert url_reason("http://www.spam.example/", cfg) == urls.BLOCKED_DOMAIN
    with pytest.raises(ConfigError, match="does not exist"):
        urls.measure("http://x", urls.Config(banned_words_file=str(tmp_path / "missing.txt")))


def test_url_apply_keeps_text_and_dead_rows():
    table = pa.table(
        {
            "url": ["https://spam.example/a", None, "https://ok.org/", "https://spam.example/b"],
            "text": ["t0", "t1", "t2", "t3"],
            "reason": pa.array([None, None, None, "earlier"], pa.string()),
        }
    )
    out = urls.apply(table, urls.Config(blocked_domains=("spam.example",)))
    assert out.column("text").to_pylist() == ["t0", "t1", "t2", "t3"]
    assert out.column("reason").to_pylist() == [urls.BLOCKED_DOMAIN, None, None, "earlier"]
    assert out.column("url_blocked_domain").to_pylist() == [True, False, False, None]


def test_language_rules_and_boundary():
    cfg = lang.Config()
    assert lang.decide(lang.measure("en", 0.65, cfg), cfg) is None  # >= 0.65 kept
    assert lang.decide(lang.measure("en", 0.6499, cfg), cfg) == lang.LOW_SCORE
    assert lang.decide(lang.measure(None, 0.99, cfg), cfg) == lang.NOT_ALLOWED
    assert lang.decide(lang.measure("en", None, cfg), cfg) == lang.LOW_SCORE
    anything = lang.Config(languages=None, min_score=None)
    assert lang.decide(lang.measure(None, None, anything), anything) is None
    owm = lang.Config(languages=("en", "de"), min_score=0.5)
    assert lang.decide(lang.measure("de", 0.5, owm), owm) is None


def test_language_apply():
    table = pa.table(
        {
            "text": ["a", "b", "c", "d"],
            "language": ["en", "fr", "en", None],
            "language_score": [0.9, 0.9, 0.3, None],
            "reason": pa.array([None, None, None, "gone"], pa.string()),
        }
    )
    out = lang.apply(table, lang.Config())
    assert out.column("reason").to_pylist() == [None, lang.NOT_ALLOWED, lang.LOW_SCORE, "gone"]
    assert out.column("lang_allowed").to_pylist() == [True, False, True, None]
    with pytest.raises(ValueError, match="language_score"):
        lang.apply(table.drop_columns(["language_score"]), lang.Config())


def test_registry_order_and_interface():
    assert list(FILTER_STAGES) == ["url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb"]
    for name, mod in FILTER_STAGES.items():
        assert mod.STAGE == name
        assert mod.REASONS and all(isinstance(r, str) for r in mod.REASONS)
        for attr in ("Config", "Stats", "measure", "decide", "apply"):
            assert hasattr(mod, attr), (name, attr)
    assert len(ALL_REASONS) == len(set(ALL_REASONS))
