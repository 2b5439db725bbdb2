"""URL rules: blocked domains (inline lists, the UT1 blocklist) and banned words in the URL.

Measured on the document's ``url`` (documents without a URL are kept):

* blocked domain: the URL's host, or any parent domain of it, is on a blocklist
  (``example.com`` blocks ``example.com``, ``www.example.com`` and ``a.b.example.com``, not
  ``notexample.com``) -> ``url_blocked_domain``;
* hard banned word: a URL token (the lower-cased URL split on non-alphanumerics) is a banned
  word -> ``url_banned_word``;
* soft banned words: at least ``soft_banned_threshold`` (2) distinct URL tokens are soft
  banned words -> ``url_soft_banned_words``;
* banned subword: a banned subword occurs in the URL with every non-alphanumeric removed ->
  ``url_banned_subword``.

RefinedWeb's URL filter (Penedo et al. 2023, Sec. 3.1, App. G.1) is these rules with its lists:
a blocklist of 4.6M domains from UT1 (Université Toulouse 1 Capitole; squidGuard format: a
directory per category, ``adult/domains``, ``gambling/domains``, ..., distributed as a
``.tar.gz``) and a URL score from curated words weighted by severity, in three groups: *strict*
subwords (anywhere in the URL: ``banned_subwords``), *hard* words (one whole URL token:
``banned_words``) and *soft* words (two distinct tokens: ``soft_banned_words`` with
``soft_banned_threshold: 2``), the thresholds of DCLM's reproduction
(``baselines/baselines_configs/refinedweb.yaml``) and of datatrove's ``URLFilter``. RefinedWeb
did not publish the word lists; DCLM publishes reverse-engineered ones
(``baselines/mappers/banlists/refinedweb_banned_words_{strict,hard,soft}_reverse_engineered.txt``:
give them as ``*_file``). :data:`REFINEDWEB_CURATED_DOMAINS` are the curated sources RefinedWeb
keeps out of its web data, as DCLM lists them.

``blocklist`` reads a UT1 list from a local path, ``file://``, ``s3://`` or ``https://`` URL
(plain ``http://`` from a loopback host only: a list fetched in clear text can be altered on the
way): a plain file of domains, or the ``.tar.gz`` of which the ``blocklist_categories`` are read
(``adult`` by default, the category datatrove fetches). Remote lists are fetched once into
``blocklist_cache_dir``; the domains become a sorted array of 64-bit BLAKE2b hashes saved beside
the download and memory-mapped by every worker process (4.6M domains: 37 MB, shared through the
page cache, where a Python set takes several hundred MB in each process). A host suffix that is
not listed matches by accident with probability 4.6M / 2^64 = 2.5e-13.

Deviations: datatrove and DCLM download the UT1 list and ship word lists; raysift bundles none
(lists are empty by default; give inline lists or one-entry-per-line files, ``#`` starts a
comment). UT1's per-category ``urls`` files (single pages) are not read. datatrove splits the
URL without lower-casing it (so ``PORN`` escapes a ``porn`` ban); we lower-case. DCLM removes
only ``-`` and ``.`` before matching strict subwords; we remove every non-alphanumeric (as
datatrove).

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
import hashlib
import io
import ipaddress
import os
import re
import tarfile
import tempfile
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
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

REFINEDWEB_CURATED_DOMAINS: tuple[str, ...] = (
    "arxiv.org", "askubuntu.com", "stackoverflow.com", "stackapps.com", "stackexchange.com", "mathoverflow.net",
    "exporter.nih.gov", "ncbi.nlm.nih.gov", "github.com", "irclogs.ubuntu.com", "news.ycombinator.com",
    "courtlistener.com", "reddit.com", "statmt.org", "uspto.gov", "wikipedia.org",
)
"""Curated sources RefinedWeb excludes from its web data (as DCLM's ``refinedweb.yaml`` lists them);
use as ``blocked_domains``."""


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
        blocklist: a UT1 blocklist: plain domains file or ``.tar.gz`` of categories, as a local
            path, ``file://``, ``s3://`` or ``https://`` URL (``http://`` from loopback only).
        blocklist_categories: the categories read from a ``.tar.gz`` blocklist.
        blocklist_cache_dir: where remote blocklists and their hash index are kept (None: a
            ``raysift-blocklists`` folder in the system temp dir).
    """

    blocked_domains: tuple[str, ...] = ()
    blocked_domains_file: str | None = None
    banned_words: tuple[str, ...] = ()
    banned_words_file: str | None = None
    soft_banned_words: tuple[str, ...] = ()
    soft_banned_words_file: str | None = None
    soft_banned_threshold: int | None = 2
    banned_subwords: tuple[str, ...] = ()
    blocklist: str | None = None
    blocklist_categories: tuple[str, ...] = ("adult",)
    blocklist_cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.blocklist is not None:
            check_blocklist_uri(self.blocklist)
            if not self.blocklist_categories:
                raise ConfigError("url.blocklist_categories is empty; name the UT1 categories to read (e.g. [adult])")


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


# ------------------------------------------------------------------------------ UT1 blocklist

_LOOPBACK_NAMES = frozenset({"localhost"})


def check_blocklist_uri(uri: str) -> None:
    """Raise :class:`ConfigError` unless ``uri`` is a path, ``file://``, ``s3://``, ``https://``
    or a loopback ``http://`` URL.

    >>> check_blocklist_uri("http://127.0.0.1:8000/blacklists.tar.gz")
    >>> check_blocklist_uri("http://dsi.ut-capitole.fr/blacklists/download/adult.tar.gz")
    Traceback (most recent call last):
    ...
    operators.config.ConfigError: url.blocklist 'http://dsi.ut-capitole.fr/blacklists/download/adult.tar.gz' is plain http; use https:// (http:// is accepted from loopback only), or download it and give a path or s3:// URI
    """
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("", "file", "s3", "s3a", "https"):
        return
    if scheme == "http":
        host = urlsplit(uri).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host in _LOOPBACK_NAMES
        if loopback:
            return
        raise ConfigError(f"url.blocklist {uri!r} is plain http; use https:// (http:// is accepted from loopback "
                          "only), or download it and give a path or s3:// URI")
    raise ConfigError(f"url.blocklist {uri!r}: unsupported scheme {scheme!r}; use a path, file://, s3:// or https://")


UT1_URL = "https://dsi.ut-capitole.fr/blacklists/download/blacklists.tar.gz"
"""Where the Université Toulouse 1 Capitole publishes its blocklist (RefinedWeb's URL filter)."""


def check_models(cfg: Config, storage_cfg=None) -> None:
    """Fail at run start when a configured list file is missing (before any worker needs it).

    Remote ``https://`` blocklists are checked for their scheme only: they are fetched once,
    into the cache, by the first worker that needs them.
    """
    from operators import storage

    if cfg.blocklist:
        check_blocklist_uri(cfg.blocklist)
        scheme = cfg.blocklist.split("://", 1)[0].lower() if "://" in cfg.blocklist else ""
        if scheme in ("", "file", "s3", "s3a"):
            path = cfg.blocklist[len("file://"):] if scheme == "file" else cfg.blocklist
            found = storage.exists(cfg.blocklist, storage_cfg) if scheme.startswith("s3") else os.path.isfile(
                os.path.expanduser(path))
            if not found:
                raise ConfigError(
                    f"url.blocklist {cfg.blocklist!r} does not exist: download the UT1 blocklist ({UT1_URL}) once "
                    f"and put it there, or set filters.url.blocklist to that https:// URL (fetched once, cached)")
    for key in ("blocked_domains_file", "banned_words_file", "soft_banned_words_file"):
        path = getattr(cfg, key)
        if path and not os.path.isfile(os.path.expanduser(path)):
            raise ConfigError(f"url.{key} {path!r} does not exist")


def _cache_dir(cache_dir: str | None) -> str:
    path = cache_dir or os.path.join(tempfile.gettempdir(), "raysift-blocklists")
    os.makedirs(path, exist_ok=True)
    return path


def _write_atomic(path: str, data: bytes) -> None:
    partial = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(partial, "wb") as fh:
            fh.write(data)
        os.replace(partial, path)  # concurrent workers: the last rename wins, same bytes
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def fetch_blocklist(uri: str, cache_dir: str | None = None) -> str:
    """A local file holding the blocklist at ``uri``; remote lists are fetched once into the cache."""
    check_blocklist_uri(uri)
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("", "file"):
        path = os.path.expanduser(uri[len("file://"):] if scheme == "file" else uri)
        if not os.path.isfile(path):
            raise ConfigError(f"url.blocklist {uri!r} does not exist; give the UT1 domains file or .tar.gz")
        return path
    key = hashlib.sha1(uri.encode()).hexdigest()[:16]
    local = os.path.join(_cache_dir(cache_dir), f"{key}-{os.path.basename(urlsplit(uri).path) or 'blocklist'}")
    if os.path.exists(local):
        return local
    if scheme in ("s3", "s3a"):
        from operators import storage

        data = storage.read_bytes(uri)
    else:
        with urllib.request.urlopen(uri, timeout=120) as response:  # noqa: S310 - scheme checked above
            data = response.read()
    _write_atomic(local, data)
    return local


def _domains_in(stream: Any) -> Iterator[str]:
    """The entries of one domains file (lower-cased; blank lines and ``#`` comments skipped), streamed."""
    for line in io.TextIOWrapper(stream, encoding="utf-8", errors="replace"):
        entry = line.split("#", 1)[0].strip().lower().lstrip(".")
        if entry:
            yield entry


def iter_blocklist(path: str, categories: tuple[str, ...]) -> Iterator[str]:
    """The domains of a UT1 list: every line of a plain file, or ``<category>/domains`` of each
    of ``categories`` in a tar archive (at any depth: ``blacklists/adult/domains`` or
    ``adult/domains``). Streamed: 4.6M domains never sit in memory as strings."""
    if not tarfile.is_tarfile(path):
        with open(path, "rb") as fh:
            yield from _domains_in(fh)
        return
    found: set[str] = set()
    available: set[str] = set()
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            parts = member.name.strip("/").split("/")
            if not member.isfile() or len(parts) < 2 or parts[-1] != "domains":
                continue
            available.add(parts[-2])
            if parts[-2] in categories:
                found.add(parts[-2])
                fh = tar.extractfile(member)
                if fh is not None:
                    yield from _domains_in(fh)
    missing = [c for c in categories if c not in found]
    if missing:
        raise ConfigError(f"url.blocklist_categories: {', '.join(missing)} not in the blocklist archive; "
                          f"it has: {', '.join(sorted(available)) or 'no <category>/domains files'}")


def domain_hashes(domains: Iterable[str]) -> np.ndarray:
    """Sorted unique 64-bit BLAKE2b hashes of ``domains`` (stable across processes)."""
    values = np.fromiter((int.from_bytes(hashlib.blake2b(d.encode(), digest_size=8).digest(), "little")
                          for d in domains), dtype=np.uint64)
    return np.unique(values)


@functools.lru_cache(maxsize=8)
def blocklist_index(uri: str, categories: tuple[str, ...], cache_dir: str | None = None) -> np.ndarray:
    """The hash index of a blocklist, built once and memory-mapped (per process, per list)."""
    path = fetch_blocklist(uri, cache_dir)
    stat = os.stat(path)
    tag = hashlib.sha1(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{','.join(sorted(categories))}"
                       .encode()).hexdigest()[:16]
    index_path = os.path.join(_cache_dir(cache_dir), f"index-{tag}.npy")
    if not os.path.exists(index_path):
        hashes = domain_hashes(iter_blocklist(path, categories))
        partial = f"{index_path}.tmp-{uuid.uuid4().hex}.npy"
        try:
            np.save(partial, hashes)
            os.replace(partial, index_path)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return np.load(index_path, mmap_mode="r")


def in_blocklist(host: str, index: np.ndarray) -> bool:
    """True if ``host`` or one of its parent domains hashes into ``index``."""
    if not host or index.size == 0:
        return False
    parts = host.split(".")
    keys = domain_hashes([".".join(parts[i:]) for i in range(len(parts))])
    pos = np.searchsorted(index, keys)
    pos[pos == index.size] = 0
    return bool((index[pos] == keys).any())


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
    host = host_of(url) if url else ""
    blocked = domain_blocked(host, domains)
    if not blocked and cfg.blocklist is not None and host:
        blocked = in_blocklist(host, blocklist_index(cfg.blocklist, cfg.blocklist_categories, cfg.blocklist_cache_dir))
    return Stats(
        blocked_domain=blocked,
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
