"""The main job's flow: read -> extract -> filter -> dedup -> write, with accounting.

Kept Ray-free where possible: :func:`annotate_batch` is the per-batch chain (extraction,
optional math extraction, the filter stages) and runs without Ray on a pyarrow Table;
:func:`run_pipeline` wires it into Ray Data. Global stages (exact and fuzzy dedup) need
the whole corpus, so when they are on, annotated documents are first written to
``<output>/_work/annotated/`` and read back; without them (recipes ``extract``, ``gopher``,
``c4``, ``fineweb``) batches stream straight from the crawl to the output shards.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pyarrow as pa

from operators import storage
from operators.config import to_dict
from operators.recipe import PipelineConfig, check_models, enabled_filter_stages, stage_reasons
from operators.schema import LANGUAGE, TEXT, alive_mask, put_column, with_reason
from operators.stats import BatchStats, check_accounting, check_readable, funnel
from operators.writer import write_shards, write_work_shard

WORK_DIR = "_work"


def model_stage_index(cfg: PipelineConfig) -> int | None:
    """Position, among the enabled filter stages, of the first one that scores with a model
    (its module sets ``LOADS_MODEL``: perplexity, classifier), or None when none does.

    >>> from operators.recipe import load_recipe
    >>> model_stage_index(load_recipe("fineweb")) is None
    True
    """
    return next((i for i, (_, module, _) in enumerate(enabled_filter_stages(cfg)) if getattr(module, "LOADS_MODEL", False)),
                None)


def apply_filter_stages(table: pa.Table, cfg: PipelineConfig, start: int = 0, stop: int | None = None) -> pa.Table:
    """The enabled filter stages ``[start:stop]``, in pipeline order, on one batch."""
    for _, module, stage_cfg in enabled_filter_stages(cfg)[start:stop]:
        table = module.apply(table, stage_cfg)
    return table


def annotate_batch(table: pa.Table, cfg: PipelineConfig, stop: int | None = None) -> pa.Table:
    """Extraction (for crawl rows) plus the enabled filter stages before ``stop`` (all of them
    by default), on one batch."""
    from operators import extract

    if "html" in table.column_names:
        if cfg.math is not None:
            from operators.math_pages import rewrite_math_html

            table = rewrite_math_html(table, cfg.math)
        table = extract.extract_batch(table, cfg.extract)
    else:
        table = reject_empty_texts(table, cfg.extract.min_text_chars)
        if cfg.filters.language is not None:
            table = _ensure_language(table, cfg)
    return apply_filter_stages(table, cfg, 0, stop)


def annotate_slices(table: pa.Table, cfg: PipelineConfig, rows: int, stop: int | None = None) -> Iterator[pa.Table]:
    """:func:`annotate_batch` over consecutive ``rows``-row slices of a (possibly large) block.

    >>> import pyarrow as pa
    >>> from operators.recipe import load_recipe
    >>> t = pa.table({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    >>> [s.num_rows for s in annotate_slices(t, load_recipe("gopher"), 2)]
    [2, 1]
    """
    for start in range(0, table.num_rows, rows):
        yield annotate_batch(table.slice(start, rows), cfg, stop)
    if table.num_rows == 0:
        yield annotate_batch(table, cfg, stop)


def model_pool(actors: int, cpus_per_task: float, slots: int) -> tuple[int, float]:
    """(pool size, CPUs per actor) for ``resources.model_actors``: the pool leaves the read
    tasks at least one task slot, since reads that Ray Data does not fuse into the actors
    (document files) would otherwise wait for CPUs the pool never frees (ENVIRONMENT.md: a
    pool that takes every CPU deadlocks); on a one-slot cluster the actor takes half a slot.

    >>> model_pool(4, 1.0, 64), model_pool(2, 1.0, 2), model_pool(1, 1.0, 1)
    ((4, 1.0), (1, 1.0), (1, 0.5))
    """
    if not slots:  # Ray not started yet: nothing to size against
        return actors, cpus_per_task
    size = min(actors, max(1, slots - 1))
    return size, cpus_per_task if size < slots else cpus_per_task / 2


class ModelStages:
    """A Ray actor that runs the model-based filter stages and those after them, and writes.

    Each actor loads a stage's model on first use and keeps it for the run (the stages cache
    models per process), so a pool of ``resources.model_actors`` actors holds exactly that many
    copies of each model: the memory bound that matters for multi-gigabyte KenLM models, which
    read tasks would otherwise load in every worker process they run in.
    """

    def __init__(self, cfg: PipelineConfig, start: int, writer: Callable[..., pa.Table],
                 writer_kwargs: dict[str, Any]) -> None:
        self.cfg, self.start, self.writer, self.writer_kwargs = cfg, start, writer, writer_kwargs

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.writer(apply_filter_stages(table, self.cfg, self.start), **self.writer_kwargs)


def reject_empty_texts(table: pa.Table, min_chars: int) -> pa.Table:
    """Name ``empty_text`` on document-file rows whose text is missing or, stripped, shorter
    than ``min_chars`` (at least 1): the rule extraction applies to crawled pages.

    >>> import pyarrow as pa
    >>> t = pa.table({"id": ["a", "b", "c"], "text": ["ok", "  ", None]})
    >>> reject_empty_texts(t, 1).column("reason").to_pylist()
    [None, 'empty_text', 'empty_text']
    """
    import pyarrow.compute as pc

    from operators.extract import EMPTY_TEXT

    if table.num_rows == 0:
        return table
    length = pc.utf8_length(pc.utf8_trim_whitespace(table.column(TEXT)))
    short = pc.fill_null(pc.less(length, max(1, min_chars)), True)
    return with_reason(table, pc.if_else(short, pa.scalar(EMPTY_TEXT), pa.scalar(None, pa.string())))


def _ensure_language(table: pa.Table, cfg: PipelineConfig) -> pa.Table:
    """Detect the language of document-file input that has no ``language`` column (the same
    :func:`operators.langid.detect_language` and settings as crawled pages)."""
    from operators.langid import detect_language

    if LANGUAGE in table.column_names and table.column(LANGUAGE).null_count < table.num_rows:
        return table
    langs: list[str | None] = []
    scores: list[float | None] = []
    for ok, text in zip(alive_mask(table), table.column(TEXT).to_pylist()):
        if ok and text:
            lang, score = detect_language(text, cfg.extract.language)
        else:
            lang, score = None, None
        langs.append(lang)
        scores.append(score)
    for name, values, tp in ((LANGUAGE, langs, pa.string()), ("language_score", scores, pa.float64())):
        arr = pa.array(values, type=tp)
        table = put_column(table, name, arr)
    return table


def _select_inputs(plan, cfg: PipelineConfig, ledger_uri: str | None, max_files: int | None, run_id: str):
    """Apply ``--max-files`` and the ledger: keep only inputs not done and claimed by this run."""
    files = list(plan.warc_files) + list(plan.document_files)
    ledger = None
    if ledger_uri:
        from operators.ledger import Ledger

        ledger = Ledger(ledger_uri, cfg.storage)
        files = ledger.claim_next(files, run_id=run_id, max_files=max_files,
                                  lease_seconds=cfg.resources.ledger_lease_seconds)
    elif max_files is not None:
        files = files[:max_files]
    keep = set(files)
    plan.warc_files[:] = [f for f in plan.warc_files if f in keep]
    plan.document_files[:] = [f for f in plan.document_files if f in keep]
    return plan, ledger


def task_slots(cfg: PipelineConfig) -> int:
    """Per-batch tasks the connected Ray cluster can run at once (its CPUs / CPUs per task);
    0 before Ray is started (Ray Data then starts a local one on first use)."""
    import ray

    if not ray.is_initialized():
        return 0
    return int(ray.cluster_resources().get("CPU", 0) // cfg.resources.cpus_per_task)


def read_inputs(plan, cfg: PipelineConfig, slots: int = 0) -> list:
    """Ray Datasets over the WARC and the document files of an input plan
    (``io.expand_inputs``): one per kind present, for :func:`stream` to map each on its own
    (a union before the per-batch operators would stop Ray Data from fusing them with either
    read). ``slots``: :func:`task_slots`, for how WARC files are cut into read tasks
    (``warc.read_warc``)."""
    from operators import io, warc

    parts = []
    if plan.warc_files:
        parts.append(warc.read_warc(plan.warc_files, cfg.warc, cfg.storage, num_cpus=cfg.resources.cpus_per_task,
                                    task_slots=slots))
    if plan.document_files:
        parts.append(io.read_documents(plan.document_files, cfg.input, cfg.storage))
    return parts


def _merge_stats(ds) -> BatchStats:
    total = BatchStats()
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        for text in batch.column("stats").to_pylist():
            total.merge(BatchStats.from_json(text))
    return total


def _needs_global_stage(cfg: PipelineConfig) -> bool:
    d = cfg.dedup
    return bool(corpus_stages(cfg)) or any(x is not None for x in (d.exact, d.fuzzy, d.lines, d.paragraphs))


def corpus_stages(cfg: PipelineConfig) -> list[tuple[str, ModuleType, Any]]:
    """The enabled filter stages with corpus-level work: a global summary their scores need
    (``corpus_summary``, e.g. the corpus token distribution) or cuts at corpus quantiles
    (``corpus_rules``: CCNet buckets, top-p % keeps)."""
    return [(name, module, stage_cfg) for name, module, stage_cfg in enabled_filter_stages(cfg)
            if hasattr(module, "corpus_summary") or (hasattr(module, "corpus_rules") and module.corpus_rules(stage_cfg))]


def _summary_rows(table: pa.Table, summarize: Callable[[pa.Table], Any]) -> pa.Table:
    return pa.table({"summary": [pickle.dumps(summarize(table))]})


def _collect(ds, summarize: Callable[[pa.Table], Any], merge: Callable[[Any, Any], Any], empty: Any) -> Any:
    """Summarise every block of ``ds`` on the cluster and merge the (small) summaries here."""
    total = empty
    parts = ds.map_batches(_summary_rows, fn_kwargs={"summarize": summarize}, batch_format="pyarrow", batch_size=None)
    for batch in parts.iter_batches(batch_format="pyarrow", batch_size=None):
        for blob in batch.column("summary").to_pylist():
            total = merge(total, pickle.loads(blob))
    return total


def _apply_summary(table: pa.Table, module: ModuleType, stage_cfg: Any, summary: Any) -> pa.Table:
    return module.apply_summary(table, stage_cfg, summary)


def _apply_cuts(table: pa.Table, rules: tuple, cuts: dict) -> pa.Table:
    from operators.filters import corpus

    return corpus.apply_rules(table, rules, cuts)


def apply_corpus_stages(ds, cfg: PipelineConfig) -> tuple[Any, dict[str, Any]]:
    """The corpus-level part of the filter stages, on the annotated documents ``ds``.

    First each stage that needs a global summary gets it (summarised per block on the cluster,
    merged on the driver) and scores every document with it; then the cuts of every stage's
    ``corpus_rules`` are computed together, over the documents alive after all per-batch stages,
    and applied. Returns the documents (lazy) and the cut values for ``stats.json``.
    """
    from operators.filters import corpus

    stages = corpus_stages(cfg)
    for _, module, stage_cfg in stages:
        if hasattr(module, "corpus_summary"):
            summary = _collect(ds, functools.partial(module.corpus_summary, cfg=stage_cfg), module.merge_summaries, {})
            ds = ds.map_batches(_apply_summary, fn_kwargs={"module": module, "stage_cfg": stage_cfg, "summary": summary},
                                batch_format="pyarrow", batch_size=cfg.resources.batch_size)
    rules = tuple(rule for _, module, stage_cfg in stages if hasattr(module, "corpus_rules")
                  for rule in module.corpus_rules(stage_cfg))
    if not rules:
        return ds, {}
    ds = ds.materialize()  # read twice below: summarise, then cut
    sketch = _collect(ds, functools.partial(corpus.summarize, rules=rules), corpus.merge, {})
    cuts = corpus.cut_values(sketch, rules)
    ds = ds.map_batches(_apply_cuts, fn_kwargs={"rules": rules, "cuts": cuts}, batch_format="pyarrow",
                        batch_size=cfg.resources.batch_size)
    report = {rule.column: {"quantiles": list(rule.cuts), "labels": list(rule.labels), "cuts": cuts.get(rule.key, {})}
              for rule in rules}
    return ds, {"corpus_cuts": report}


def stream(parts: list, cfg: PipelineConfig, writer: Callable[..., pa.Table], writer_kwargs: dict[str, Any]):
    """The per-batch part of the job: annotate each block of the ``parts`` (from
    :func:`read_inputs`) and write it with ``writer``; one Dataset of the writer's small
    per-block results.

    Read -> annotate -> write fuse into one Ray task per read unit (a file, or a byte range
    of one: ``warc.read_warc``), so raw HTML never passes through the object store. A
    ``batch_size`` on these maps would stop Ray Data from fusing them with the read, so they
    take whole read blocks (annotated in ``resources.batch_size``-row slices; each slice
    becomes a shard). Each part is mapped on its own and only the results are unioned, so
    WARC and document inputs in one run both stay fused.

    With ``resources.model_actors`` set and a model-based stage on, the chain is cut before
    that stage and a pool of at most ``model_actors`` :class:`ModelStages` actors runs the
    rest. Ray Data fuses the read and the stages before the cut into the actors' operator
    (``ReadWarc->MapBatches(annotate_slices)->MapBatches(ModelStages)``), so the actors read
    too and the raw HTML still never enters the object store; where it does not fuse, the
    annotated text (not the HTML) passes between the read tasks and the actors.
    """
    import ray

    res = cfg.resources
    args: dict[str, Any] = {"batch_format": "pyarrow", "batch_size": None, "num_cpus": res.cpus_per_task}
    split = model_stage_index(cfg) if res.model_actors else None
    written = []
    for ds in parts:
        annotated = ds.map_batches(annotate_slices, fn_kwargs={"cfg": cfg, "rows": res.batch_size, "stop": split}, **args)
        if split is None:
            written.append(annotated.map_batches(writer, fn_kwargs=writer_kwargs, **args))
        else:  # the actors write too: a write task after them would wait for CPUs the pool holds
            size, cpus = model_pool(res.model_actors, res.cpus_per_task, task_slots(cfg))
            written.append(annotated.map_batches(
                ModelStages, fn_constructor_kwargs={"cfg": cfg, "start": split, "writer": writer,
                                                    "writer_kwargs": writer_kwargs},
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size),
                **{**args, "num_cpus": cpus}))
    return written[0].union(*written[1:]) if len(written) > 1 else written[0]


def run_pipeline(
    cfg: PipelineConfig,
    inputs: list[str],
    output: str,
    *,
    ledger: str | None = None,
    max_files: int | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    start_ray: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the whole job and return the ``stats.json`` it wrote.

    ``start_ray``: called once the run is planned and checked (inputs listed, models found,
    the output's earlier run resumed or refused), before the first Ray work; the CLI passes
    :func:`operators.runtime.init_ray` there, so a refused or already finished rerun answers at
    once instead of after Ray's start. Without it Ray must be running or Ray Data starts it.

    Without a ledger the run is resumable (:mod:`operators.resume`): inputs are processed in
    waves, each finished group of inputs is recorded, and rerunning the same command over the
    same output finishes an interrupted run (or does nothing after a finished one); a rerun with
    another config or other inputs is refused unless ``overwrite``. With a ledger (scheduled
    incremental runs) only inputs not yet done are processed, new shards are added beside
    earlier runs' shards, and each input is marked done at the end; global dedup then covers the
    inputs of this run.
    """
    import ray

    from operators import io, resume

    start = time.time()
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    storage.start_retry_sink()  # every S3 retry of the job (driver and workers) is counted from here
    check_models(cfg)
    plan = io.expand_inputs(inputs, cfg.storage, cfg.input)
    plan, ledger_obj = _select_inputs(plan, cfg, ledger, max_files, run_id)
    files = plan.warc_files + plan.document_files
    if not files:
        log("raysift: nothing to do: every input is already done in the ledger")
        stats = _empty_stats(cfg, time.time() - start)
        write_outputs(stats, output, cfg.storage)
        return stats
    global_stage = _needs_global_stage(cfg)
    work = storage.join(output, WORK_DIR, "annotated")
    if ledger_obj is None:
        state = resume.open_run(output, cfg, files, cfg.storage, overwrite=overwrite,
                                clear=("documents", "rejected", "duplicates", WORK_DIR), log=log)
        if state.complete:
            log(f"raysift: {output} already holds this finished run; nothing to do "
                f"(give --overwrite to run it again)")
            return json.loads(storage.read_bytes(storage.join(output, "stats.json"), cfg.storage))
    else:
        state = resume.RunState(output)
        storage.delete_dir(storage.join(output, WORK_DIR), cfg.storage)
    if start_ray is not None:
        start_ray()
        storage.start_retry_sink(carry=True)  # the retries of the planning above stay counted
    todo = resume.pending_groups(state, files)
    if state.resumed:
        shard_dirs = (storage.join(WORK_DIR, "annotated"),) if global_stage else ("documents", "rejected")
        resume.delete_partial_shards(output, shard_dirs, todo, cfg.storage)
    if global_stage:
        writer, writer_kwargs = write_work_shard, {"work_dir": work, "storage_cfg": cfg.storage}
    else:
        writer, writer_kwargs = write_shards, {"output": output, "storage_cfg": cfg.storage}
    slots = task_slots(cfg)
    per_wave = cfg.resources.files_per_wave or max(8, 4 * slots)
    for wave in resume.waves(todo, per_wave):
        wave_files = set(uri for group in wave for uri in group)
        sub = dataclasses.replace(plan, warc_files=[f for f in plan.warc_files if f in wave_files],
                                  document_files=[f for f in plan.document_files if f in wave_files])
        by_source = _merge_stats_by_source(stream(read_inputs(sub, cfg, slots), cfg, writer, writer_kwargs))
        for group in wave:
            group_stats = {uri: by_source.pop(uri, BatchStats()) for uri in group}
            if ledger_obj is None:
                resume.mark_done(output, group_stats, cfg.storage)
            state.done.update(group_stats)
        for leftover in by_source.values():  # rows whose source is not an input name (never expected)
            state.done.setdefault("", BatchStats()).merge(leftover)
    first = BatchStats()
    for stats_of_input in state.done.values():
        first.merge(stats_of_input)
    documents_in = first.documents_in
    extra: dict[str, Any] = {}
    if not global_stage:
        totals = first
    else:
        from operators.dedup.stage import apply_dedup

        for sub_dir in ("documents", "rejected"):  # a resumed run may have begun the final write
            storage.delete_dir(storage.join(output, sub_dir), cfg.storage)
        if first.documents_in:
            res = cfg.resources
            final, extra = apply_dedup(work, cfg)
            written = final.map_batches(write_shards, fn_kwargs={"output": output, "storage_cfg": cfg.storage},
                                        batch_format="pyarrow", batch_size=res.batch_size, num_cpus=res.cpus_per_task)
            totals = _merge_stats(written)
        else:
            totals = BatchStats()
        totals.skipped = first.skipped
        totals.file_problems = first.file_problems
        storage.delete_dir(storage.join(output, WORK_DIR), cfg.storage)
    wall = time.time() - start
    rejected = dict(sorted(totals.rejected.items(), key=lambda kv: -kv[1]))
    check_accounting(documents_in, totals.documents_out, rejected)
    stats: dict[str, Any] = {
        "documents_in": documents_in,
        "documents_out": totals.documents_out,
        "rejected": rejected,
        "records_skipped": dict(totals.skipped),
        "file_problems": totals.files_with_problems(),
        "stages": funnel(documents_in, rejected, stage_reasons(cfg)),
        "languages": dict(totals.languages.most_common()),
        "length_histogram": totals.length_histogram,
        "chars_out": totals.chars_out,
        "wall_time_s": round(wall, 3),
        "documents_per_s": round(documents_in / wall, 2) if wall > 0 else None,
        "inputs": {"warc_files": len(plan.warc_files), "document_files": len(plan.document_files),
                   "files": files},
        **({"resumed": {"inputs_already_done": len(files) - sum(len(g) for g in todo)}} if state.resumed else {}),
        "ray": {"nodes": len([n for n in ray.nodes() if n.get("Alive")]), "cpus": ray.cluster_resources().get("CPU", 0)},
        "config": to_dict(cfg),
        **extra,
    }
    stats["retries"] = storage.collect_retry_counts()  # S3 retries by kind (throttle, server_error, ...)
    write_outputs(stats, output, cfg.storage)
    # before the run is marked finished: a rerun must not report "nothing to do" and exit 0
    check_readable(documents_in, stats["records_skipped"], stats["file_problems"], len(files))
    if ledger_obj is None:
        resume.finish(output, cfg.storage)
    else:
        for uri in files:
            ledger_obj.mark_done(uri, {"run_id": run_id, "output": output}, run_id=run_id)
    return stats


def _merge_stats_by_source(ds) -> dict[str, BatchStats]:
    """The writer's stats rows merged per input file (``source``)."""
    out: dict[str, BatchStats] = {}
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        sources = batch.column("source").to_pylist() if "source" in batch.column_names else [None] * batch.num_rows
        for text, source in zip(batch.column("stats").to_pylist(), sources):
            out.setdefault(source or "", BatchStats()).merge(BatchStats.from_json(text))
    return out


def _empty_stats(cfg: PipelineConfig, wall: float) -> dict[str, Any]:
    return {
        "documents_in": 0, "documents_out": 0, "rejected": {}, "records_skipped": {}, "file_problems": {}, "retries": {}, "stages": [],
        "languages": {}, "length_histogram": [], "wall_time_s": round(wall, 3), "documents_per_s": 0.0,
        "inputs": {"warc_files": 0, "document_files": 0}, "config": to_dict(cfg),
    }


def write_outputs(stats: dict[str, Any], output: str, storage_cfg: storage.StorageConfig | None, title: str = "raysift run") -> None:
    """Write ``stats.json`` and ``report.html`` next to the shards."""
    from operators.report import render_report

    storage.write_bytes_atomic(
        storage.join(output, "stats.json"), json.dumps(stats, indent=2, default=str).encode(), storage_cfg
    )
    storage.write_bytes_atomic(storage.join(output, "report.html"), render_report(stats, title).encode(), storage_cfg)

