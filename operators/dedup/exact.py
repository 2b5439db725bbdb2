"""Exact dedup by normalised URL, then by normalised text hash (DESIGN.md, "Also: exact dedup").

Keys (128-bit BLAKE2b): the URL after :func:`normalize_url`, and the text after
:func:`normalize_for_text_key` (whitespace collapsed, Unicode case-folded). In each key group the
smallest id survives. URL dedup runs first; text dedup then runs over the URL survivors only, so
a document that is both is counted once, as ``exact_duplicate_url``, and every text keeps a
surviving copy. Documents with a null URL skip the URL key. Two hash shuffles (by URL key, by text
key), nothing collected on the driver.

>>> normalize_url("HTTP://Example.COM:80/a/b/?utm_source=x&b=2&a=1#top")
'http://example.com/a/b?a=1&b=2'
>>> normalize_url("https://example.com")
'https://example.com/'
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.config import ConfigError
from operators.dedup.components import num_partitions, shuffle_map

EXACT_DUPLICATE_URL = "exact_duplicate_url"
EXACT_DUPLICATE_TEXT = "exact_duplicate_text"

REASON = "reason"
DUPLICATE_OF = "duplicate_of"
_URL_KEY = "url_key"
_TEXT_KEY = "text_key"
_PART_KEY = "part_key"
_URL_DUP_OF = "url_duplicate_of"
_ID = "id"

DEFAULT_TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*", "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid", "_ga", "_gl",
)
_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21"}


@dataclass(frozen=True)
class ExactDedupConfig:
    """Exact dedup settings.

    Attributes:
        by_url: drop documents whose normalised URL an earlier (smaller) id already has.
        by_text: drop documents whose normalised text an earlier id already has.
        tracking_params: query parameters removed before URL comparison (``*`` globs allowed).
        id_column, url_column, text_column: input column names.
        rows_per_partition, min_partitions: shuffle partitioning (rows per task bound memory).
    """

    by_url: bool = True
    by_text: bool = True
    tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS
    id_column: str = "id"
    url_column: str = "url"
    text_column: str = "text"
    rows_per_partition: int = 2_000_000
    min_partitions: int = 2

    def __post_init__(self) -> None:
        if self.rows_per_partition < 1 or self.min_partitions < 1:
            raise ConfigError("ExactDedupConfig.rows_per_partition and min_partitions must be >= 1")


def normalize_url(url: str | None, tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> str | None:
    """Canonical form of a URL for exact dedup; ``None`` for null or empty input.

    Lowercase scheme and host, drop the fragment, default ports (80/443/21), tracking query
    parameters and a trailing slash (the root path stays ``/``), sort the query parameters.
    """
    if url is None:
        return None
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url  # unparseable: compare verbatim
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    netloc = host
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != str(port):
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    params = [p for p in parts.query.split("&") if p]
    kept = [p for p in params if not any(fnmatch.fnmatchcase(p.split("=", 1)[0].lower(), pat) for pat in tracking_params)]
    return urlunsplit((scheme, netloc, path, "&".join(sorted(kept)), ""))


def normalize_for_text_key(text: str | None) -> str:
    """Whitespace collapsed and case-folded text (the text dedup key's input)."""
    return " ".join((text or "").split()).casefold()


def text_key(text: str | None) -> bytes:
    """128-bit key of a document's normalised text.

    >>> text_key("Hello   World\\n") == text_key("hello world")
    True
    """
    return hashlib.blake2b(normalize_for_text_key(text).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def url_key(url: str | None, tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> bytes | None:
    """128-bit key of a normalised URL, ``None`` when there is no URL."""
    norm = normalize_url(url, tracking_params)
    if norm is None:
        return None
    return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# ------------------------------------------------------------------ Ray-free kernels


def key_table(table: pa.Table, cfg: ExactDedupConfig) -> pa.Table:
    """Documents -> ``(id, url_key, text_key, part_key)``; ``part_key`` routes the URL shuffle."""
    if cfg.id_column not in table.column_names:
        raise ConfigError(f"exact dedup needs column {cfg.id_column!r}; input has {', '.join(table.column_names)}")
    ids = pc.cast(table.column(cfg.id_column), pa.string())
    n = table.num_rows
    if cfg.by_url and cfg.url_column in table.column_names:
        ukeys = [url_key(u, cfg.tracking_params) for u in table.column(cfg.url_column).to_pylist()]
    else:
        ukeys = [None] * n
    if cfg.by_text:
        if cfg.text_column not in table.column_names:
            raise ConfigError(f"exact dedup by text needs column {cfg.text_column!r}; set ExactDedupConfig.text_column")
        tkeys = [text_key(t) for t in table.column(cfg.text_column).to_pylist()]
    else:
        tkeys = [None] * n
    part = [u if u is not None else (t if t is not None else b"") for u, t in zip(ukeys, tkeys)]
    return pa.table(
        {
            _ID: ids,
            _URL_KEY: pa.array(ukeys, pa.binary(16)),
            _TEXT_KEY: pa.array(tkeys, pa.binary(16)),
            _PART_KEY: pa.array(part, pa.binary()),
        }
    )


def _first_per_key(keys: pa.Array, ids: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """For rows with a key: (row indices sorted by key then id, smallest id of each row's key)."""
    t = pa.table({"k": keys, "i": ids})
    order = pc.sort_indices(t, [("k", "ascending"), ("i", "ascending")]).to_numpy()
    sk = t.column("k").take(pa.array(order)).combine_chunks()
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = pc.not_equal(sk.slice(1), sk.slice(0, len(sk) - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(new)
    seg = np.cumsum(new) - 1
    first_ids = t.column("i").take(pa.array(order[starts[seg]]))
    return order, first_ids


def mark_url_duplicates(table: pa.Table) -> pa.Table:
    """URL step on rows sharing URL keys: every row with ``url_duplicate_of`` (null = survivor)."""
    n = table.num_rows
    dup_of: list[str | None] = [None] * n
    has = pc.is_valid(table.column(_URL_KEY)).to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(has)
    if len(idx):
        sub = table.take(pa.array(idx))
        order, first = _first_per_key(sub.column(_URL_KEY).combine_chunks(), sub.column(_ID).combine_chunks())
        ids = sub.column(_ID).to_pylist()
        for pos, first_id in zip(order.tolist(), first.to_pylist()):
            if ids[pos] != first_id:
                dup_of[idx[pos]] = first_id
    return pa.table({_ID: table.column(_ID), _TEXT_KEY: table.column(_TEXT_KEY), _URL_DUP_OF: pa.array(dup_of, pa.string())})


_DROP_SCHEMA = pa.schema([pa.field(_ID, pa.string()), pa.field(REASON, pa.string()), pa.field(DUPLICATE_OF, pa.string())])


def mark_text_duplicates(table: pa.Table) -> pa.Table:
    """Text step on rows sharing text keys: the rows to drop, ``(id, reason, duplicate_of)``."""
    url_dup = pc.is_valid(table.column(_URL_DUP_OF)).to_numpy(zero_copy_only=False)
    out_ids: list[str] = []
    reasons: list[str] = []
    dup_of: list[str] = []
    ids = table.column(_ID).to_pylist()
    url_of = table.column(_URL_DUP_OF).to_pylist()
    for i in np.flatnonzero(url_dup).tolist():
        out_ids.append(ids[i])
        reasons.append(EXACT_DUPLICATE_URL)
        dup_of.append(url_of[i])
    alive = np.flatnonzero(~url_dup & pc.is_valid(table.column(_TEXT_KEY)).to_numpy(zero_copy_only=False))
    if len(alive):
        sub = table.take(pa.array(alive))
        order, first = _first_per_key(sub.column(_TEXT_KEY).combine_chunks(), sub.column(_ID).combine_chunks())
        sub_ids = sub.column(_ID).to_pylist()
        for pos, first_id in zip(order.tolist(), first.to_pylist()):
            if sub_ids[pos] != first_id:
                out_ids.append(sub_ids[pos])
                reasons.append(EXACT_DUPLICATE_TEXT)
                dup_of.append(first_id)
    return pa.table([pa.array(out_ids, pa.string()), pa.array(reasons, pa.string()), pa.array(dup_of, pa.string())], schema=_DROP_SCHEMA)


def exact_duplicates_table(table: pa.Table, cfg: ExactDedupConfig) -> pa.Table:
    """Ray-free reference of :func:`exact_dedup` on one table."""
    return mark_text_duplicates(mark_url_duplicates(key_table(table, cfg)))


def exact_dedup(ds, cfg: ExactDedupConfig):
    """Ray Data stage: the rows to drop, ``(id, reason, duplicate_of)`` (ids as strings).

    ``reason`` is ``exact_duplicate_url`` or ``exact_duplicate_text``; ``duplicate_of`` is the
    smallest id sharing the key (which survives this stage).
    """
    columns = [c for c in (cfg.id_column, cfg.url_column, cfg.text_column) if c in ds.columns()]
    keys = ds.select_columns(columns).map_batches(key_table, fn_args=(cfg,), batch_format="pyarrow").materialize()
    rows = keys.count()
    if rows == 0:  # every document was rejected before dedup: nothing to drop (and no key columns)
        import ray

        return ray.data.from_arrow(_DROP_SCHEMA.empty_table())
    partitions = num_partitions(rows, cfg.rows_per_partition, cfg.min_partitions)
    if cfg.by_url:
        marked = shuffle_map(keys, [_PART_KEY], partitions, mark_url_duplicates)
    else:
        marked = keys.map_batches(mark_url_duplicates, batch_format="pyarrow")
    if not cfg.by_text:  # only URL drops are emitted: no grouping by text needed
        return marked.map_batches(mark_text_duplicates, batch_format="pyarrow")
    return shuffle_map(marked, [_TEXT_KEY], partitions, mark_text_duplicates)
