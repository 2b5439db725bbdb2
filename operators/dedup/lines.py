"""Line-level and paragraph-level dedup across the corpus (two separate stages).

**Line dedup** (CCNet, Wenzek et al. 2019, section 3.1; Llama 3, Dubey et al. 2024, section 3.1.1):
lines are compared after the fuzzy-dedup normalisation (:func:`~operators.dedup.normalize.normalize_texts`:
lowercase, no accents, digits -> 0, punctuation -> space). CCNet removes every paragraph already
seen in its shard (so the first occurrence stays, and which one is "first" depends on processing
order); Llama 3 removes "lines that appeared more than 6 times in each bucket of 30M documents",
*every* occurrence, which is order-free and drops boilerplate (menus, cookie notices) from every
page. We follow Llama 3: a line found in more than ``max_occurrences`` distinct documents is
removed from all of them; ``max_occurrences = 6`` by default. Counting is a Ray Data hash
shuffle keyed by the line hash, so no line table is ever held by one task or by the driver.
Lines that normalise to nothing (blank, pure punctuation) are never counted or removed.

**Paragraph dedup** (Dolma, Soldaini et al. 2024, "paragraph deduplication"; Dolma's ``dedupe``
splits on ``"\\n"`` and hashes each paragraph's exact text): each exact paragraph (surrounding
whitespace stripped) is kept in one place only, its occurrence in the smallest document id (the
first occurrence inside that document); every other occurrence is removed. Dolma keeps the first
occurrence its Bloom filter happens to see; ordering by id makes the result deterministic.

Both stages rewrite ``text`` and set ``reason`` to :data:`LINE_DEDUP_EMPTY` /
:data:`PARAGRAPH_DEDUP_EMPTY` when nothing but whitespace is left. Rejected rows pass through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.config import ConfigError
from operators.dedup.components import num_partitions, shuffle_join, shuffle_map
from operators.dedup.normalize import hash64_strings, normalize_texts
from operators.schema import alive_mask, with_reason

LINE_DEDUP_EMPTY = "line_dedup_empty"
PARAGRAPH_DEDUP_EMPTY = "paragraph_dedup_empty"

_H = "unit_hash"
_IDX = "unit_index"
_DROP = "drop_units"


@dataclass(frozen=True)
class LineDedupConfig:
    """Line dedup (Llama 3 / CCNet).

    Attributes:
        max_occurrences: a normalised line in more than this many distinct documents is removed
            from all of them (Llama 3: 6). 1 removes every line shared by two documents.
        id_column, text_column: input column names (ids must be unique).
        rows_per_partition, min_partitions: shuffle partitioning.
    """

    max_occurrences: int = 6
    id_column: str = "id"
    text_column: str = "text"
    rows_per_partition: int = 4_000_000
    min_partitions: int = 2

    def __post_init__(self) -> None:
        if self.max_occurrences < 1:
            raise ConfigError(f"LineDedupConfig.max_occurrences = {self.max_occurrences}; use an integer >= 1 (Llama 3: 6)")


@dataclass(frozen=True)
class ParagraphDedupConfig:
    """Paragraph exact dedup (Dolma).

    Attributes:
        separator: paragraph separator (Dolma's default ``"\\n"``; ``"\\n\\n"`` for blank-line paragraphs).
        id_column, text_column: input column names (ids must be unique).
        rows_per_partition, min_partitions: shuffle partitioning.
    """

    separator: str = "\n"
    id_column: str = "id"
    text_column: str = "text"
    rows_per_partition: int = 4_000_000
    min_partitions: int = 2

    def __post_init__(self) -> None:
        if not self.separator:
            raise ConfigError("ParagraphDedupConfig.separator is empty; use '\\n' (Dolma) or '\\n\\n'")


# ------------------------------------------------------------------ Ray-free kernels


def _units(table: pa.Table, text_column: str, separator: str) -> tuple[pa.Array, np.ndarray]:
    texts = pc.fill_null(table.column(text_column), "")
    lists = pc.split_pattern(texts, separator)
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks() if lists.num_chunks else pa.array([], pa.list_(pa.string()))
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.list_flatten(lists), counts


def line_unit_hashes(units: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 hash, countable) per line: hash of the normalised line; blank lines not countable."""
    norm = normalize_texts(units)
    countable = pc.not_equal(norm, "").to_numpy(zero_copy_only=False) if len(norm) else np.zeros(0, bool)
    return hash64_strings(norm, b"raysift-line").view(np.int64), countable


def paragraph_unit_hashes(units: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 hash, countable) per paragraph: hash of the exact stripped text; blank ones not countable."""
    stripped = pc.utf8_trim_whitespace(units)
    countable = pc.not_equal(stripped, "").to_numpy(zero_copy_only=False) if len(stripped) else np.zeros(0, bool)
    return hash64_strings(stripped, b"raysift-para").view(np.int64), countable


def occurrences(table: pa.Table, id_column: str, text_column: str, separator: str, hasher) -> pa.Table:
    """``(id, unit_index, unit_hash)`` for every countable unit of every alive document."""
    alive = np.array(alive_mask(table), dtype=bool)
    units, counts = _units(table, text_column, separator)
    hashes, countable = hasher(units)
    doc = np.repeat(np.arange(table.num_rows), counts)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    index = np.arange(len(doc)) - offsets[doc] if len(doc) else np.zeros(0, np.int64)
    keep = countable & alive[doc] if len(doc) else np.zeros(0, bool)
    ids = pc.cast(table.column(id_column), pa.string()).take(pa.array(doc[keep], pa.int64()))
    return pa.table({id_column: ids, _IDX: pa.array(index[keep], pa.int32()), _H: pa.array(hashes[keep], pa.int64())})


def _sorted(occ: pa.Table, id_column: str) -> pa.Table:
    return occ.take(pc.sort_indices(occ, [(_H, "ascending"), (id_column, "ascending"), (_IDX, "ascending")]))


def frequent_line_drops(occ: pa.Table, id_column: str, max_occurrences: int) -> pa.Table:
    """Occurrences of hashes found in more than ``max_occurrences`` distinct documents (all of them)."""
    if occ.num_rows == 0:
        return occ.select([id_column, _IDX])
    occ = _sorted(occ, id_column)
    h = occ.column(_H).to_numpy()
    ids = occ.column(id_column).combine_chunks()
    new_h = np.ones(len(h), dtype=bool)
    new_h[1:] = h[1:] != h[:-1]
    new_doc = new_h.copy()
    if len(h) > 1:
        new_doc[1:] |= pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(zero_copy_only=False)
    seg = np.cumsum(new_h) - 1
    docs_per_hash = np.bincount(seg, weights=new_doc).astype(np.int64)
    drop = docs_per_hash[seg] > max_occurrences
    return occ.filter(pa.array(drop)).select([id_column, _IDX])


def repeated_paragraph_drops(occ: pa.Table, id_column: str) -> pa.Table:
    """Every occurrence of a hash except the first by (id, index)."""
    if occ.num_rows == 0:
        return occ.select([id_column, _IDX])
    occ = _sorted(occ, id_column)
    h = occ.column(_H).to_numpy()
    later = np.zeros(len(h), dtype=bool)
    later[1:] = h[1:] == h[:-1]
    return occ.filter(pa.array(later)).select([id_column, _IDX])


def drop_lists(drops: pa.Table, id_column: str) -> pa.Table:
    """``(id, unit_index)`` rows -> one ``(id, drop_units)`` row per document (int32 indices as bytes)."""
    if drops.num_rows == 0:
        return pa.table({id_column: pa.array([], pa.string()), _DROP: pa.array([], pa.binary())})
    drops = drops.take(pc.sort_indices(drops, [(id_column, "ascending"), (_IDX, "ascending")]))
    ids = drops.column(id_column).to_pylist()
    idx = drops.column(_IDX).to_numpy().astype("<i4")
    out_ids: list[str] = []
    out_drop: list[bytes] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[start]:
            out_ids.append(ids[start])
            out_drop.append(idx[start:i].tobytes())
            start = i
    return pa.table({id_column: pa.array(out_ids, pa.string()), _DROP: pa.array(out_drop, pa.binary())})


def apply_drops(table: pa.Table, text_column: str, separator: str, empty_reason: str) -> pa.Table:
    """Remove the listed units from each text; set ``empty_reason`` on documents left blank."""
    drops = table.column(_DROP).to_pylist() if _DROP in table.column_names else [None] * table.num_rows
    texts = table.column(text_column).to_pylist()
    reasons: list[str | None] = [None] * table.num_rows
    changed = False
    for i, blob in enumerate(drops):
        if not blob or texts[i] is None:
            continue
        gone = set(np.frombuffer(blob, dtype="<i4").tolist())
        parts = texts[i].split(separator)
        texts[i] = separator.join(p for j, p in enumerate(parts) if j not in gone)
        changed = True
        if not texts[i].strip():
            reasons[i] = empty_reason
    if _DROP in table.column_names:
        table = table.drop_columns([_DROP])
    if not changed:
        return table
    pos = table.schema.get_field_index(text_column)
    table = table.set_column(pos, table.schema.field(text_column), pa.array(texts, table.schema.field(text_column).type))
    return with_reason(table, reasons)


def _attach_local(table: pa.Table, lists: pa.Table, id_column: str) -> pa.Table:
    lookup = dict(zip(lists.column(id_column).to_pylist(), lists.column(_DROP).to_pylist()))
    ids = pc.cast(table.column(id_column), pa.string()).to_pylist()
    return table.append_column(_DROP, pa.array([lookup.get(i) for i in ids], pa.binary()))


def line_dedup_table(table: pa.Table, cfg: LineDedupConfig) -> pa.Table:
    """Ray-free reference of :func:`line_dedup` on one table."""
    occ = occurrences(table, cfg.id_column, cfg.text_column, "\n", line_unit_hashes)
    lists = drop_lists(frequent_line_drops(occ, cfg.id_column, cfg.max_occurrences), cfg.id_column)
    return apply_drops(_attach_local(table, lists, cfg.id_column), cfg.text_column, "\n", LINE_DEDUP_EMPTY)


def paragraph_dedup_table(table: pa.Table, cfg: ParagraphDedupConfig) -> pa.Table:
    """Ray-free reference of :func:`paragraph_dedup` on one table."""
    occ = occurrences(table, cfg.id_column, cfg.text_column, cfg.separator, paragraph_unit_hashes)
    lists = drop_lists(repeated_paragraph_drops(occ, cfg.id_column), cfg.id_column)
    return apply_drops(_attach_local(table, lists, cfg.id_column), cfg.text_column, cfg.separator, PARAGRAPH_DEDUP_EMPTY)


# ------------------------------------------------------------------ Ray Data stages


def _dedup_units(ds, id_column, text_column, separator, hasher, marker, marker_args, reason, rows_per_partition, min_partitions):
    if id_column not in ds.columns() or text_column not in ds.columns():
        raise ConfigError(f"line/paragraph dedup needs columns {id_column!r} and {text_column!r}; input has {ds.columns()}")
    occ = ds.map_batches(
        occurrences, fn_args=(id_column, text_column, separator, hasher), batch_format="pyarrow"
    ).materialize()
    partitions = num_partitions(occ.count(), rows_per_partition, min_partitions)
    drops = shuffle_map(occ, [_H], partitions, marker, marker_args).materialize()
    if drops.count() == 0:
        return ds
    lists = shuffle_map(drops, [id_column], partitions, drop_lists, (id_column,))
    joined = shuffle_join(ds, lists, [id_column], partitions, _attach_local, (id_column,))
    return joined.map_batches(apply_drops, fn_args=(text_column, separator, reason), batch_format="pyarrow")


def line_dedup(ds, cfg: LineDedupConfig):
    """Ray Data stage: documents with corpus-frequent lines removed (see the module docstring)."""
    return _dedup_units(
        ds, cfg.id_column, cfg.text_column, "\n", line_unit_hashes, frequent_line_drops,
        (cfg.id_column, cfg.max_occurrences), LINE_DEDUP_EMPTY, cfg.rows_per_partition, cfg.min_partitions,
    )


def paragraph_dedup(ds, cfg: ParagraphDedupConfig):
    """Ray Data stage: documents with repeated paragraphs removed (see the module docstring)."""
    return _dedup_units(
        ds, cfg.id_column, cfg.text_column, cfg.separator, paragraph_unit_hashes, repeated_paragraph_drops,
        (cfg.id_column,), PARAGRAPH_DEDUP_EMPTY, cfg.rows_per_partition, cfg.min_partitions,
    )
