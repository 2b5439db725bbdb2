"""Global dedup stages of ``raysift run`` / ``raysift dedup``, chained on Ray Data.

Order: line dedup and paragraph dedup (they rewrite text), then exact dedup (normalized
URL, then normalized text hash), then fuzzy dedup (MinHash-LSH + distributed connected
components) on what exact dedup kept. Each stage yields a table of ids to drop; the drops
are joined back onto the documents (a Ray Data hash join, nothing collected on the driver)
and become the ``reason`` of those rows, with ``duplicate_of`` / ``cluster_id`` /
``kept_id`` saying which document was kept instead.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from operators import storage
from operators.schema import ID, REASON

DROP_REASON = "_dedup_reason"
DROP_COLUMNS: dict[str, pa.DataType] = {
    ID: pa.string(),
    DROP_REASON: pa.string(),
    "duplicate_of": pa.string(),
    "cluster_id": pa.string(),
    "kept_id": pa.string(),
}


def read_parquet_dir(uri: str, storage_cfg: storage.StorageConfig | None = None):
    """A folder of Parquet shards (local or s3://) as a Ray dataset.

    Read with Ray Data's first Parquet datasource (read tasks only), not DataSourceV2: V2 lists
    the files through ``FooterReader`` actors that are not restarted, so losing the node of one
    of them fails the whole read (``ActorDiedError``; tests/test_node_loss.py), while a lost
    read task is simply re-run.
    """
    import ray
    from ray.data import DataContext

    fs, path = storage.resolve(uri, storage_cfg)
    ctx = DataContext.get_current()
    v2 = getattr(ctx, "use_datasource_v2", False)
    ctx.use_datasource_v2 = False
    try:
        return ray.data.read_parquet(path, filesystem=fs)
    finally:
        ctx.use_datasource_v2 = v2


def _exact_to_drops(table: pa.Table) -> pa.Table:
    n = table.num_rows
    dup_of = table.column("duplicate_of")
    return pa.table(
        {ID: table.column(ID), DROP_REASON: table.column(REASON), "duplicate_of": dup_of,
         "cluster_id": dup_of, "kept_id": dup_of},
        schema=pa.schema(DROP_COLUMNS.items()),
    ) if n else pa.table({k: pa.array([], t) for k, t in DROP_COLUMNS.items()})


def _fuzzy_to_drops(table: pa.Table, reason: str) -> pa.Table:
    n = table.num_rows
    kept = table.column("kept_id").cast(pa.string())
    return pa.table(
        {ID: table.column(ID), DROP_REASON: pa.array([reason] * n, pa.string()), "duplicate_of": kept,
         "cluster_id": table.column("cluster_id").cast(pa.string()), "kept_id": kept},
        schema=pa.schema(DROP_COLUMNS.items()),
    )


def _anti_join(docs: pa.Table, drops: pa.Table) -> pa.Table:
    """The rows of ``docs`` whose id is not in ``drops`` (one partition of a left anti join)."""
    if docs.num_rows == 0 or drops.num_rows == 0:
        return docs
    gone = pc.cast(drops.column(ID), pa.string()).combine_chunks()
    return docs.filter(pc.invert(pc.is_in(pc.cast(docs.column(ID), pa.string()), value_set=gone)))


def _attach_drops(docs: pa.Table, drops: pa.Table) -> pa.Table:
    """``docs`` with the drop columns of the ``drops`` row of the same id, null where there is
    none (one partition of a left outer join; an id is dropped at most once).

    >>> d = pa.table({ID: ["a", "b"], "text": ["x", "y"]})
    >>> r = pa.table({k: pa.array(v, DROP_COLUMNS[k]) for k, v in
    ...               {ID: ["b"], DROP_REASON: ["fuzzy_duplicate"], "duplicate_of": ["a"], "cluster_id": ["a"], "kept_id": ["a"]}.items()})
    >>> _attach_drops(d, r).column(DROP_REASON).to_pylist()
    [None, 'fuzzy_duplicate']
    """
    ids = pc.cast(docs.column(ID), pa.string())
    idx = pc.index_in(ids, value_set=pc.cast(drops.column(ID), pa.string()).combine_chunks())
    for name, dtype in DROP_COLUMNS.items():
        if name == ID:
            continue
        values = drops.column(name).cast(dtype).take(idx) if drops.num_rows else pa.nulls(docs.num_rows, dtype)
        if name in docs.column_names:
            docs = docs.set_column(docs.schema.get_field_index(name), name, values)
        else:
            docs = docs.append_column(name, values)
    return docs


def _apply_drops(table: pa.Table) -> pa.Table:
    """After the join: the dedup reason becomes ``reason`` unless an earlier stage set one."""
    if DROP_REASON not in table.column_names:
        return table
    dedup = table.column(DROP_REASON)
    if REASON in table.column_names:
        merged = pc.coalesce(table.column(REASON), dedup)
        table = table.set_column(table.schema.get_field_index(REASON), REASON, merged)
    else:
        table = table.append_column(REASON, dedup)
    return table.drop_columns([DROP_REASON])


JOIN_PARTITION_BYTES = 128 * 1024**2
"""Target size of one partition of the final documents-with-drops join: the join carries the
text, so its partition count grows with the corpus and worker memory does not."""


def input_bytes(files: list[str], storage_cfg: storage.StorageConfig | None = None) -> int:
    """Approximate in-memory size of document files (compressed JSONL counted 4x)."""
    import pyarrow.fs as pafs

    total = 0
    for uri in files:
        fs, path = storage.resolve(uri, storage_cfg)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            sizes = [i.size or 0 for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))]
        else:
            sizes = [info.size or 0]
        factor = 4 if uri.endswith((".gz", ".zst", ".zstd", ".parquet")) or info.type == pafs.FileType.Directory else 1
        total += factor * sum(sizes)
    return total


def shuffle_partitions(cfg_partitions: int | None, data_bytes: int = 0) -> int:
    """Partitions for joins/shuffles: configured, else the larger of 2 x cluster CPUs (at least 4)
    and one per ``JOIN_PARTITION_BYTES`` of data."""
    import ray

    if cfg_partitions:
        return cfg_partitions
    by_size = -(-data_bytes // JOIN_PARTITION_BYTES)
    return max(4, 2 * int(ray.cluster_resources().get("CPU", 1)), by_size)


def check_fuzzy_columns(columns: list[str], cfg) -> None:
    """Fail before any work when ``cfg.keep`` needs a column the documents lack.

    Without this the signature stage's column projection fails inside a Ray task and the
    user sees a ``KeyError`` traceback instead of a configuration error.
    """
    from operators.config import ConfigError
    from operators.dedup.minhash import KEEP_RULES

    needed = cfg.date_column if cfg.keep == "newest" else (None if cfg.keep in KEEP_RULES else cfg.keep)
    if needed is not None and needed not in columns:
        what = "date column for keep='newest'" if cfg.keep == "newest" else "score column"
        raise ConfigError(
            f"--keep / MinHashConfig.keep = {cfg.keep!r}: {what} {needed!r} is not in the documents "
            f"(columns: {', '.join(columns)}); use one of {', '.join(KEEP_RULES)} or a numeric column "
            "the documents carry"
        )


def dedup_documents(ds, dedup_cfg, partitions: int) -> tuple[Any, dict[str, Any]]:
    """Run the enabled dedup stages on ``ds`` (documents with ``reason``; null = alive).

    Returns the documents with ``reason`` set on duplicates (plus ``duplicate_of``,
    ``cluster_id``, ``kept_id`` columns) and the stages' statistics.
    """
    from operators.dedup import exact, fuzzy, lines
    from operators.dedup.components import bound_block_size, bound_shuffle_inputs, shuffle_join

    # a task's memory stays the same however large the corpus: bounded blocks, bounded shuffle inputs
    bound_block_size(ds)
    bound_shuffle_inputs(ds)
    stats: dict[str, Any] = {}
    if dedup_cfg.lines is not None:
        ds = lines.line_dedup(ds, dedup_cfg.lines)
    if dedup_cfg.paragraphs is not None:
        ds = lines.paragraph_dedup(ds, dedup_cfg.paragraphs)
    if dedup_cfg.lines is not None or dedup_cfg.paragraphs is not None:
        ds = ds.materialize()
    from ray.data.expressions import col

    columns = ds.columns()
    if dedup_cfg.fuzzy is not None:
        check_fuzzy_columns(columns, dedup_cfg.fuzzy)
    alive = ds.filter(expr=col(REASON).is_null()) if REASON in columns else ds
    drops = []
    if dedup_cfg.exact is not None:
        exact_drops = exact.exact_dedup(alive, dedup_cfg.exact).materialize()
        stats["exact_dedup"] = {"dropped": exact_drops.count()}
        if stats["exact_dedup"]["dropped"]:
            drops.append(exact_drops.map_batches(_exact_to_drops, batch_format="pyarrow"))
            alive = shuffle_join(alive, exact_drops.select_columns([ID]), [ID], partitions, _anti_join)
    if dedup_cfg.fuzzy is not None:
        fuzzy_drops, fuzzy_stats = fuzzy.fuzzy_dedup(alive, dedup_cfg.fuzzy)
        fuzzy_drops = fuzzy_drops.materialize()
        stats["fuzzy_dedup"] = fuzzy_stats
        if fuzzy_drops.count():
            drops.append(
                fuzzy_drops.map_batches(_fuzzy_to_drops, fn_kwargs={"reason": fuzzy.FUZZY_DUPLICATE}, batch_format="pyarrow")
            )
    if not drops:
        return ds, stats
    all_drops = drops[0] if len(drops) == 1 else drops[0].union(*drops[1:])
    joined = shuffle_join(ds, all_drops, [ID], partitions, _attach_drops)
    return joined.map_batches(_apply_drops, batch_format="pyarrow"), stats


def apply_dedup(work_uri: str, cfg, scratch_uri: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The global part of ``raysift run``: annotated shards in, final documents out.

    Dedup comes first, then the filter stages' corpus-level cuts (``pipeline.apply_corpus_stages``)
    over the documents dedup keeps, as the published recipes order them: DCLM takes its top
    10 % of the deduplicated pool (Li et al. 2024, §4), Llama 3 filters by quality after its
    URL, document and line dedup (Dubey et al. 2024, §3.1.1), CCNet buckets by perplexity after
    its line dedup (Wenzek et al. 2020, §3). A cut needs two passes over its input (the
    corpus summary, then the cut), so with both, dedup's result is written once to
    ``scratch_uri`` (default: ``deduped`` beside ``work_uri``) and read back rather than computed
    twice.
    """
    from operators.pipeline import apply_corpus_stages, corpus_stages
    from operators.writer import write_work_shard

    ds = read_parquet_dir(work_uri, cfg.storage)
    size = input_bytes([work_uri], cfg.storage)
    d = cfg.dedup
    if all(x is None for x in (d.exact, d.fuzzy, d.lines, d.paragraphs)):
        return apply_corpus_stages(ds, cfg)
    ds, dedup_stats = dedup_documents(ds, cfg.dedup, shuffle_partitions(cfg.resources.shuffle_partitions, size))
    if not corpus_stages(cfg):
        return ds, dedup_stats
    scratch = scratch_uri or storage.join(work_uri.rstrip("/").rsplit("/", 1)[0], "deduped")
    storage.delete_dir(scratch, cfg.storage)
    ds.map_batches(write_work_shard, fn_kwargs={"work_dir": scratch, "storage_cfg": cfg.storage},
                   batch_format="pyarrow", batch_size=cfg.resources.batch_size,
                   num_cpus=cfg.resources.cpus_per_task).materialize()
    ds, stats = apply_corpus_stages(read_parquet_dir(scratch, cfg.storage), cfg)
    return ds, {**dedup_stats, **stats}


def run_dedup(
    inputs: list[str],
    output: str,
    dedup_cfg,
    input_cfg,
    storage_cfg: storage.StorageConfig | None = None,
    partitions: int | None = None,
    *,
    overwrite: bool = False,
    log=print,
) -> dict[str, Any]:
    """``raysift dedup``: a document corpus in, ``documents/`` + ``duplicates/`` + stats out.

    The output records what it was started with (:mod:`operators.resume`): rerunning the same
    command after it finished does nothing; after an interruption the dedup is redone whole (its
    stages are global: nothing of an unfinished one can be kept); another config or other inputs
    are refused unless ``overwrite``.
    """
    import json
    import time

    from operators import io
    from operators.config import to_dict
    from operators.report import render_report
    from operators.stats import BatchStats, check_accounting
    from operators.writer import write_shards

    start = time.time()
    storage.start_retry_sink()  # every S3 retry of the job (driver and workers) is counted from here
    plan = io.expand_inputs(inputs, storage_cfg, input_cfg)
    if plan.warc_files:
        raise io.InputError(
            f"raysift dedup reads document files (Parquet/JSONL with id and text), got WARC files such as "
            f"{plan.warc_files[0]!r}; run `raysift run` on crawls (fuzzy dedup is part of its default recipe)"
        )
    from operators import resume

    state = resume.open_run(output, {"dedup": dedup_cfg, "input": input_cfg}, plan.document_files, storage_cfg,
                            overwrite=overwrite, clear=("documents", "duplicates"), log=lambda _: None)
    if state.complete:
        log(f"raysift: {output} already holds this finished dedup; nothing to do (give --overwrite to run it again)")
        return json.loads(storage.read_bytes(storage.join(output, "stats.json"), storage_cfg))
    for sub in ("documents", "duplicates"):  # an interrupted dedup is redone whole
        storage.delete_dir(storage.join(output, sub), storage_cfg)
    ds = io.read_documents(plan.document_files, input_cfg, storage_cfg)
    size = input_bytes(plan.document_files, storage_cfg)
    final, stage_stats = dedup_documents(ds, dedup_cfg, shuffle_partitions(partitions, size))
    written = final.map_batches(
        write_shards,
        fn_kwargs={"output": output, "storage_cfg": storage_cfg, "rejected_dir": "duplicates",
                   "rejected_columns": [ID, "cluster_id", "kept_id", REASON]},
        batch_format="pyarrow",
    )
    totals = BatchStats()
    for batch in written.iter_batches(batch_format="pyarrow", batch_size=None):
        for text in batch.column("stats").to_pylist():
            totals.merge(BatchStats.from_json(text))
    rejected = dict(totals.rejected)
    check_accounting(totals.documents_in, totals.documents_out, rejected)
    wall = time.time() - start
    stats = {
        "documents_in": totals.documents_in,
        "documents_out": totals.documents_out,
        "rejected": rejected,
        "stages": [],
        "languages": dict(totals.languages),
        "length_histogram": totals.length_histogram,
        "wall_time_s": round(wall, 3),
        "documents_per_s": round(totals.documents_in / wall, 2) if wall else None,
        "config": to_dict(dedup_cfg),
        **stage_stats,
        "retries": storage.collect_retry_counts(),
    }
    storage.write_bytes_atomic(storage.join(output, "stats.json"), json.dumps(stats, indent=2, default=str).encode(), storage_cfg)
    storage.write_bytes_atomic(storage.join(output, "report.html"), render_report(stats, "raysift dedup").encode(), storage_cfg)
    resume.finish(output, storage_cfg)
    return stats
