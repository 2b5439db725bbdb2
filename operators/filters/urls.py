"""URL rules: blocked domains and banned words in the URL (after datatrove's ``URLFilter``).

Measured on the document's ``url`` (documents without a URL are kept):

* blocked domain: the URL's host, or any parent domain of it, is on the blocklist
  (``example.com`` blocks ``example.com``, ``www.example.com`` and ``a.b.example.com``, not
  ``notexample.com``) -> ``url_blocked_domain``;
* hard banned word: a URL token (the lower-cased URL split on non-alphanumerics) is a banned
  word -> ``url_banned_word``;
* soft banned words: at least ``soft_banned_threshold`` (2) distinct URL tokens are soft
  banned words -> ``url_soft_banned_words``;
* banned subword: a banned subword occurs in the URL with every non-alphanumeric removed ->
  ``url_banned_subword``.

datatrove downloads the UT1 adult blocklist and ships its own word lists; raysift bundles
none of these (lists are empty by default; give inline lists or one-entry-per-line files,
``#`` starts a comment). datatrove splits the URL without lower-casing it (so ``PORN`` escapes
a ``porn`` ban); we lower-case.

>>> cfg = Config(blocked_domains=("example.com",), banned_words=("casino",))
>>> decide(measure("https://www.example.com/a", cfg), cfg)
'url_blocked_domain'
>>> decide(measure("https://ok.org/best-Casino-2024", cfg), cfg)
'url_banned_word'
>>> decide(measure("https://notexample.com/", cfg), cfg) is None
True
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from operators.config import ConfigError
from operators.filters.base import apply_filter
from operators.schema import TEXT, URL

STAGE = "url"
PREFIX = "url"

BLOCKED_DOMAIN = "url_blocked_domain"
BANNED_WORD = "url_banned_word"
SOFT_BANNED_WORDS = "url_soft_banned_words"
BANNED_SUBWORD = "url_banned_subword"

REASONS: tuple[str, ...] = (BLOCKED_DOMAIN, BANNED_WORD, SOFT_BANNED_WORDS, BANNED_SUBWORD)

_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Config:
    """URL blocklists; empty lists (and a None threshold) disable a rule.

    Attributes:
        blocked_domains: domains blocked with all their subdomains.
        blocked_domains_file: file with one blocked domain per line (added to the inline list).
        banned_words: a URL token equal to one of these drops the document.
        banned_words_file: file with more banned words.
        soft_banned_words: tokens that drop the document when ``soft_banned_threshold`` of them appear.
        soft_banned_words_file: file with more soft banned words.
        soft_banned_threshold: distinct soft banned tokens needed to drop (2, as datatrove).
        banned_subwords: substrings of the URL (non-alphanumerics removed) that drop the document.
    """

    blocked_domains: tuple[str, ...] = ()
    blocked_domains_file: str | None = None
    banned_words: tuple[str, ...] = ()
    banned_words_file: str | None = None
    soft_banned_words: tuple[str, ...] = ()
    soft_banned_words_file: str | None = None
    soft_banned_threshold: int | None = 2
    banned_subwords: tuple[str, ...] = ()


@dataclass
class Stats:
    """What :func:`measure` found; one ``url_<field>`` column each."""

    blocked_domain: bool
    banned_words: int
    soft_banned_words: int
    banned_subword: bool


@functools.lru_cache(maxsize=32)
def _read_list(path: str | None) -> frozenset[str]:
    if not path:
        return frozenset()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"URL filter list file {path!r} does not exist; fix the path or remove the key")
    entries = (line.split("#", 1)[0].strip().lower() for line in file.read_text(encoding="utf-8").splitlines())
    return frozenset(e for e in entries if e)


@functools.lru_cache(maxsize=32)
def _lists(cfg: Config) -> tuple[frozenset[str], frozenset[str], frozenset[str], tuple[str, ...]]:
    """(domains, banned words, soft banned words, subwords), normalised, built once per config."""
    domains = frozenset(d.strip().lower().lstrip(".") for d in cfg.blocked_domains) | _read_list(cfg.blocked_domains_file)
    banned = frozenset(w.strip().lower() for w in cfg.banned_words) | _read_list(cfg.banned_words_file)
    soft = frozenset(w.strip().lower() for w in cfg.soft_banned_words) | _read_list(cfg.soft_banned_words_file)
    subwords = tuple(_NON_ALNUM_RE.sub("", w.lower()) for w in cfg.banned_subwords)
    return domains, banned, soft, tuple(s for s in subwords if s)


def host_of(url: str) -> str:
    """Lower-case host of ``url`` (no port, no trailing dot); ``""`` if it has none.

    >>> host_of("HTTPS://Www.Example.COM.:8080/x")
    'www.example.com'
    """
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def domain_blocked(host: str, domains: frozenset[str]) -> bool:
    """True if ``host`` or one of its parent domains is in ``domains``."""
    if not host or not domains:
        return False
    parts = host.split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts)))


def measure(url: str, cfg: Config) -> Stats:
    """Measure the URL rules on ``url`` (the empty string for documents without one)."""
    domains, banned, soft, subwords = _lists(cfg)
    lowered = url.lower()
    tokens = set(_NON_ALNUM_RE.split(lowered)) - {""}
    squashed = _NON_ALNUM_RE.sub("", lowered)
    return Stats(
        blocked_domain=domain_blocked(host_of(url), domains) if url else False,
        banned_words=len(tokens & banned),
        soft_banned_words=len(tokens & soft),
        banned_subword=any(s in squashed for s in subwords),
    )


def decide(stats: Stats, cfg: Config) -> str | None:
    """The first URL rule ``stats`` breaks, or None."""
    if stats.blocked_domain:
        return BLOCKED_DOMAIN
    if stats.banned_words:
        return BANNED_WORD
    if cfg.soft_banned_threshold is not None and stats.soft_banned_words >= cfg.soft_banned_threshold > 0:
        return SOFT_BANNED_WORDS
    if stats.banned_subword:
        return BANNED_SUBWORD
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``url_*`` columns to the alive rows of ``table`` and name rejects in ``reason``."""
    if URL not in table.column_names:
        raise ValueError(f"the URL filter needs a {URL!r} column; disable the url stage for inputs without URLs")
    # apply_filter measures the text column: hand it the URLs, then put the texts back.
    idx = table.schema.get_field_index(TEXT)
    texts = table.column(TEXT)
    swapped = table.set_column(idx, TEXT, table.column(URL).cast(pa.string()))
    out = apply_filter(swapped, PREFIX, measure, decide, cfg, Stats)
    return out.set_column(idx, table.schema.field(idx), texts)
