"""The document schema every stage reads and writes (DESIGN.md, "Document schema").

One row per document. Stages add score columns (``gopher_*``, ``c4_*``, ``fineweb_*``, ...)
and set ``reason`` when they reject a document; a row whose ``reason`` is null is alive.
Rows whose ``skip`` is set are WARC records that never became documents (requests,
metadata, revisits, non-HTML responses): they are counted, never written.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute.coalesce)

ID = "id"
URL = "url"
DOMAIN = "domain"
TEXT = "text"
LANGUAGE = "language"
LANGUAGE_SCORE = "language_score"
SOURCE = "source"
WARC_DATE = "warc_date"
REASON = "reason"
SKIP = "skip"

DOCUMENT_FIELDS: tuple[pa.Field, ...] = (
    pa.field(ID, pa.string()),
    pa.field(URL, pa.string()),
    pa.field(DOMAIN, pa.string()),
    pa.field(TEXT, pa.string()),
    pa.field(LANGUAGE, pa.string()),
    pa.field(LANGUAGE_SCORE, pa.float64()),
    pa.field(SOURCE, pa.string()),
    pa.field(WARC_DATE, pa.timestamp("us", tz="UTC")),
)
DOCUMENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in DOCUMENT_FIELDS)
DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS)


def put_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``table`` with column ``name`` set to ``values``: replaced where it exists, else appended.

    >>> put_column(pa.table({"a": [1]}), "a", pa.array([2])).column("a").to_pylist()
    [2]
    """
    if name in table.column_names:
        return table.set_column(table.schema.get_field_index(name), name, values)
    return table.append_column(name, values)


def replace_text(table: pa.Table, texts: list[str | None]) -> pa.Table:
    """``table`` with its ``text`` column replaced by ``texts`` (same type): the stages that rewrite text."""
    idx = table.schema.get_field_index(TEXT)
    field = table.schema.field(idx)
    return table.set_column(idx, field, pa.array(texts, type=field.type))


def with_reason(table: pa.Table, reasons: list[str | None] | pa.Array | pa.ChunkedArray) -> pa.Table:
    """Set ``reason`` where it is null (the first stage to reject a document names it)."""
    new = reasons if isinstance(reasons, (pa.Array, pa.ChunkedArray)) else pa.array(reasons, type=pa.string())
    if REASON in table.column_names:
        old = table.column(REASON)
        if old.type != pa.string():
            old = old.cast(pa.string())
        merged = pa.compute.coalesce(old, new)
        return table.set_column(table.schema.get_field_index(REASON), REASON, merged)
    return table.append_column(REASON, new)


def alive_mask(table: pa.Table) -> list[bool]:
    """True for rows that are documents and not yet rejected."""
    n = table.num_rows
    reason = table.column(REASON).to_pylist() if REASON in table.column_names else [None] * n
    skip = table.column(SKIP).to_pylist() if SKIP in table.column_names else [None] * n
    return [r is None and s is None for r, s in zip(reason, skip)]
