"""Shard writers: kept documents to ``documents/``, rejected ones to ``rejected/``.

Each batch becomes at most one shard in each folder. Shard names derive from the input
file of the batch's first row plus a digest of the batch's ids, so a rerun over the same
input produces the same names (it overwrites, never duplicates). A shard is written in one
atomic step (local: temp file + rename; S3: a single PUT), so it is visible only when
complete. The writer returns the batch's counts (:class:`operators.stats.BatchStats`).
"""

from __future__ import annotations

import hashlib
import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators import storage
from operators.schema import DOCUMENT_SCHEMA, ID, REASON, SKIP, SOURCE
from operators.stats import BatchStats, stats_table

# Columns that exist only between stages and never reach an output file.
INTERNAL_COLUMNS = frozenset({"html", "http_charset", SKIP})



def shard_name(table: pa.Table) -> str:
    """``<input stem>-<digest of ids>``: stable for the same batch of the same input
    (the stem: :func:`operators.resume.stem`, sanitised, never hidden).

    >>> t = pa.table({"id": ["a", "b"], "source": ["s3://b/CC-MAIN-1.warc.gz", "x"]})
    >>> shard_name(t)
    'CC-MAIN-1-...'
    """
    from operators.resume import stem

    sources = table.column(SOURCE) if SOURCE in table.column_names else None
    first = next((s for s in (sources.to_pylist() if sources is not None else []) if s), "documents")
    digest = hashlib.sha1()
    for value in table.column(ID).to_pylist():
        digest.update((value or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return f"{stem(first)}-{digest.hexdigest()[:12]}"


def stats_rows(table: pa.Table) -> pa.Table:
    """The batch's counts, one row per input file (``stats``, ``source``): the driver merges
    them for the run and, for a resumable run, per input (``operators.resume``).

    >>> t = pa.table({"id": ["a", "b", "c"], "source": ["x", "y", "x"], "text": ["1", "2", "3"]})
    >>> stats_rows(t).column("source").to_pylist()
    ['x', 'y']
    """
    if SOURCE not in table.column_names or table.num_rows == 0:
        return stats_table(BatchStats.of_table(table)).append_column("source", pa.array([None], pa.string()))
    sources = table.column(SOURCE)
    distinct = pc.unique(sources).to_pylist()
    if len(distinct) == 1:
        return stats_table(BatchStats.of_table(table)).append_column("source", pa.array(distinct, pa.string()))
    rows, names = [], []
    for source in distinct:
        mask = pc.is_null(sources) if source is None else pc.fill_null(pc.equal(sources, source), False)
        rows.append(BatchStats.of_table(table.filter(mask)).to_json())
        names.append(source)
    return pa.table({"stats": rows, "source": pa.array(names, pa.string())})


def conform(table: pa.Table) -> pa.Table:
    """Cast schema columns to their declared types (a batch of all nulls has type null)."""
    for field in DOCUMENT_SCHEMA:
        if field.name in table.column_names:
            i = table.schema.get_field_index(field.name)
            if table.schema.field(i).type != field.type:
                table = table.set_column(i, field.name, table.column(i).cast(field.type))
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write_shards(
    table: pa.Table,
    output: str,
    storage_cfg: storage.StorageConfig | None = None,
    kept_dir: str = "documents",
    rejected_dir: str = "rejected",
    rejected_columns: list[str] | None = None,
) -> pa.Table:
    """Write one batch's kept and rejected documents; return its stats row.

    ``rejected_columns`` narrows the rejected shards (``raysift dedup`` writes only
    ``id, cluster_id, kept_id, reason`` to ``duplicates/``).
    """
    stats = stats_rows(table)
    if table.num_rows == 0:
        return stats
    name = shard_name(table)
    is_doc = pc.is_null(table.column(SKIP)) if SKIP in table.column_names else pa.array([True] * table.num_rows)
    reason = table.column(REASON) if REASON in table.column_names else pa.nulls(table.num_rows, pa.string())
    drop = [c for c in table.column_names if c in INTERNAL_COLUMNS or c.startswith("_")]
    docs = conform(table.drop_columns(drop))
    kept = docs.filter(pc.and_(is_doc, pc.is_null(reason)))
    rejected = docs.filter(pc.and_(is_doc, pc.is_valid(reason)))
    if kept.num_rows:
        storage.write_bytes_atomic(
            storage.join(output, kept_dir, f"{name}.parquet"),
            _parquet_bytes(kept.drop_columns([REASON]) if REASON in kept.column_names else kept),
            storage_cfg,
        )
    if rejected_columns is not None:
        rejected = rejected.select([c for c in rejected_columns if c in rejected.column_names])
    if rejected.num_rows:
        storage.write_bytes_atomic(storage.join(output, rejected_dir, f"{name}.parquet"), _parquet_bytes(rejected), storage_cfg)
    return stats


def write_work_shard(table: pa.Table, work_dir: str, storage_cfg: storage.StorageConfig | None = None) -> pa.Table:
    """Write a whole annotated batch (documents only) to the work folder; return its stats rows."""
    stats = stats_rows(table)
    if SKIP in table.column_names:
        table = table.filter(pc.is_null(table.column(SKIP)))
    if table.num_rows:
        drop = [c for c in table.column_names if c in INTERNAL_COLUMNS]
        storage.write_bytes_atomic(
            storage.join(work_dir, f"{shard_name(table)}.parquet"), _parquet_bytes(conform(table.drop_columns(drop))), storage_cfg
        )
    return stats
