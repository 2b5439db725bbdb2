"""URL and language filters: reasons, lists from files, disabling, apply() on Arrow tables."""

from __future__ import annotations

import numpy as np
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
    assert list(FILTER_STAGES)[:6] == ["url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb"]
    for name, mod in FILTER_STAGES.items():
        assert mod.STAGE == name
        assert mod.REASONS and all(isinstance(r, str) for r in mod.REASONS)
        # a stage scored against the whole corpus (corpus_summary) has no per-document measure
        per_document = ("Stats", "measure", "decide") if not hasattr(mod, "corpus_summary") else ("apply_summary",)
        for attr in ("Config", "apply", *per_document):
            assert hasattr(mod, attr), (name, attr)
    # the published stages are on by default; model-based and text-rewriting ones only when named
    defaults = {name for name, mod in FILTER_STAGES.items() if getattr(mod, "DEFAULT_ON", True)}
    assert defaults == {"url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb"}
    assert len(ALL_REASONS) == len(set(ALL_REASONS))


# ------------------------------------------------------------------ UT1 blocklist (RefinedWeb)


class _CountingServer:
    """A static file server on 127.0.0.1 that counts GET requests (never reaches the network)."""

    def __init__(self, directory):
        import functools
        import http.server
        import threading

        self.gets = 0
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.gets += 1
                super().do_GET()

            def log_message(self, *args):  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = _CountingServer(root)
    try:
        yield root, server
    finally:
        server.close()


def write_ut1_tarball(path, categories: dict[str, str], urls_files: dict[str, str] | None = None) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for files, name in ((categories, "domains"), (urls_files or {}, "urls")):
            for category, body in files.items():
                data = body.encode("utf-8")
                info = tarfile.TarInfo(f"blacklists/{category}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def clear_caches() -> None:
    urls.blocklist_index.cache_clear()
    urls._lists.cache_clear()


def test_ut1_tarball_categories_served_on_loopback_and_cached(served, tmp_path):
    root, server = served
    write_ut1_tarball(root / "blacklists.tar.gz",
                      {"adult": "porn.example\nAdult.Example  # listed in capitals\n", "gambling": "casino.example\n",
                       "news": "news.example\n"},
                      urls_files={"adult": "ok.example/page\n"})
    clear_caches()
    cache = tmp_path / "cache"
    cfg = urls.Config(blocklist=server.url("blacklists.tar.gz"), blocklist_categories=("adult", "gambling"),
                      blocklist_cache_dir=str(cache))
    assert url_reason("https://www.porn.example/x", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("http://adult.example", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://a.b.casino.example/", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://news.example/", cfg) is None  # a category not chosen
    assert url_reason("https://ok.example/page", cfg) is None  # UT1's urls files are not read
    assert url_reason("https://notporn.example/", cfg) is None
    table = pa.table({"url": ["https://casino.example/a", "https://fine.org/"], "text": ["t0", "t1"]})
    out = urls.apply(table, cfg)
    assert out.column("reason").to_pylist() == [urls.BLOCKED_DOMAIN, None]
    assert server.gets == 1  # fetched once
    assert len(list(cache.glob("index-*.npy"))) == 1
    # a new process (caches cleared) with the server gone still reads the cached copy
    server.close()
    clear_caches()
    assert url_reason("https://porn.example/", cfg) == urls.BLOCKED_DOMAIN


def test_plain_domains_file_from_path_file_uri_and_loopback_http(served, tmp_path):
    root, server = served
    (root / "domains").write_text("# UT1 adult\nspam.example\n\n", encoding="utf-8")
    clear_caches()
    for uri in (str(root / "domains"), "file://" + str(root / "domains"), server.url("domains")):
        cfg = urls.Config(blocklist=uri, blocklist_cache_dir=str(tmp_path / "cache"))
        assert url_reason("https://x.spam.example/", cfg) == urls.BLOCKED_DOMAIN, uri
        assert url_reason("https://spam.example.org/", cfg) is None, uri
    assert server.gets == 1


def test_blocklist_errors_say_the_fix(served, tmp_path):
    root, server = served
    with pytest.raises(ConfigError, match="plain http; use https://"):
        urls.Config(blocklist="http://dsi.ut-capitole.fr/blacklists/download/blacklists.tar.gz")
    with pytest.raises(ConfigError, match="unsupported scheme 'ftp'"):
        urls.Config(blocklist="ftp://ftp.ut-capitole.fr/pub/reseau/cache/squidguard_contrib/adult.tar.gz")
    urls.Config(blocklist="https://dsi.ut-capitole.fr/blacklists/download/adult.tar.gz")  # accepted, not fetched
    urls.Config(blocklist="http://localhost:1/list")
    with pytest.raises(ConfigError, match="blocklist_categories is empty"):
        urls.Config(blocklist=str(root / "x"), blocklist_categories=())
    clear_caches()
    with pytest.raises(ConfigError, match="does not exist"):
        urls.measure("https://a.org/", urls.Config(blocklist=str(tmp_path / "missing.tar.gz")))
    write_ut1_tarball(root / "bl.tar.gz", {"adult": "a.example\n", "phishing": "p.example\n"})
    cfg = urls.Config(blocklist=server.url("bl.tar.gz"), blocklist_categories=("adult", "dating"),
                      blocklist_cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="dating not in the blocklist archive; it has: adult, phishing"):
        urls.measure("https://a.org/", cfg)


def test_blocklist_from_s3(moto_s3, s3_env, tmp_path):
    s3_env(moto_s3)
    client = moto_s3.client()
    client.create_bucket(Bucket="lists")
    client.put_object(Bucket="lists", Key="ut1/adult/domains", Body=b"spam.example\n")
    clear_caches()
    cfg = urls.Config(blocklist="s3://lists/ut1/adult/domains", blocklist_cache_dir=str(tmp_path / "cache"))
    assert url_reason("https://www.spam.example/", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://ham.example/", cfg) is None


def test_hash_index_matches_host_and_parents_only():
    index = urls.domain_hashes(["example.com", "b.org", "example.com"])
    assert index.dtype == np.uint64 and index.size == 2
    assert urls.in_blocklist("a.b.example.com", index) and urls.in_blocklist("b.org", index)
    assert not urls.in_blocklist("example.com.evil.net", index)
    assert not urls.in_blocklist("notexample.com", index)
    assert not urls.in_blocklist("", index)
    assert not urls.in_blocklist("example.com", urls.domain_hashes([]))


def test_refinedweb_curated_domains_as_inline_blocklist():
    cfg = urls.Config(blocked_domains=urls.REFINEDWEB_CURATED_DOMAINS)
    assert url_reason("https://en.wikipedia.org/wiki/Falcon", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://math.stackexchange.com/q/1", cfg) == urls.BLOCKED_DOMAIN
    assert url_reason("https://wikipedia.org.example/", cfg) is None
