"""``raysift expand`` and ``raysift train-classifier`` as library calls (the drivers stay thin).

The seed is read onto the driver (it is the small side: DeepSeekMath's 500k OpenWebMath
documents are a few GB of text; sample it with ``classifier.max_positives``). The pool stays
a Ray dataset; only (id, url, score) columns come back per iteration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from operators import io, storage
from operators.classify.decontam import DecontamConfig
from operators.classify.expand import ExpansionConfig
from operators.classify.scoring import ScoringConfig
from operators.config import ConfigError, from_dict


@dataclass(frozen=True)
class ExpandJobConfig:
    """The ``deepseekmath`` recipe: the loop, its scoring actors, decontamination, inputs.

    seed_input / pool_input: how seed and pool files are read (``text_column: "Q,A"`` joins
        question and answer fields of Q&A corpora such as StackMathQA).
    """

    expansion: ExpansionConfig = field(default_factory=ExpansionConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    decontamination: DecontamConfig = field(default_factory=DecontamConfig)
    seed_input: io.InputConfig = field(default_factory=io.InputConfig)
    pool_input: io.InputConfig = field(default_factory=io.InputConfig)
    storage: storage.StorageConfig = field(default_factory=storage.StorageConfig)


def load_expand_config(data: dict[str, Any]) -> ExpandJobConfig:
    data = dict(data or {})
    data.pop("job", None)
    return from_dict(ExpandJobConfig, data, "deepseekmath")


def _document_files(srcs: list[str], cfg: io.InputConfig, storage_cfg: storage.StorageConfig, what: str) -> list[str]:
    plan = io.expand_inputs(srcs, storage_cfg, cfg)
    if plan.warc_files:
        raise io.InputError(
            f"{what} must be document files (Parquet/JSONL with text), got WARC files such as {plan.warc_files[0]!r}; "
            "extract them first with `raysift run --recipe extract` (or `openwebmath`) and pass its documents/ folder"
        )
    return plan.document_files


def _read_table(srcs: list[str], cfg: io.InputConfig, storage_cfg: storage.StorageConfig, what: str,
                files: list[str] | None = None) -> pa.Table:
    """id, url and text of the documents in ``srcs`` (``files``: ``srcs`` already expanded)."""
    files = _document_files(srcs, cfg, storage_cfg, what) if files is None else files
    tables = [t for f in files for t in io.iter_document_tables(f, cfg, storage_cfg)]
    if not tables:
        raise io.InputError(f"{what} {srcs!r} holds no documents")
    return pa.concat_tables(tables).select(["id", "url", "text"])


def read_texts(srcs: list[str], cfg: io.InputConfig | None = None, storage_cfg: storage.StorageConfig | None = None) -> list[str]:
    """Non-empty texts of document files (for training)."""
    table = _read_table(srcs, cfg or io.InputConfig(), storage_cfg or storage.StorageConfig(), "input")
    return [t for t in table.column("text").to_pylist() if t and t.strip()]


def run_expand(
    seed: list[str],
    pool: list[str],
    output: str,
    cfg: ExpandJobConfig,
    approved_paths: str | None = None,
    decontaminate: list[str] | None = None,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The DeepSeekMath loop over ``pool`` starting from ``seed``; writes DST, returns stats.

    Resumable (:mod:`operators.resume`; the unit is an iteration, :mod:`operators.classify.expand`):
    DST records the seed, pool, approved-paths and decontamination files and the config it was
    started with. Rerunning the same command after an interruption keeps the finished iterations
    and continues; after a finished run it does nothing and returns the stats it wrote; another
    config, other inputs or other approved prefixes are refused unless ``overwrite``.
    """
    from operators import resume
    from operators.classify import decontam
    from operators.classify.expand import RUN_DIR, RayPool, load_approved_prefixes, run_expansion
    from operators.report import render_expansion_report

    seed_files = _document_files(seed, cfg.seed_input, cfg.storage, "--seed")
    plan = io.expand_inputs(pool, cfg.storage, cfg.pool_input)
    if plan.warc_files:
        raise io.InputError(
            f"--pool must be document files with id, url and text, got WARC files such as {plan.warc_files[0]!r}; "
            "extract them first with `raysift run --recipe extract --input ... --output POOL` and pass POOL/documents"
        )
    if not plan.document_files:
        raise io.InputError(f"--pool {pool!r} holds no document files")
    approved = load_approved_prefixes(approved_paths) if approved_paths else None
    inputs = ([f"seed:{f}" for f in seed_files] + [f"pool:{f}" for f in plan.document_files]
              + ([f"approved-paths:{approved_paths}"] if approved_paths else [])
              + [f"decontaminate:{f}" for f in decontaminate or []])
    state = resume.open_run(output, {"expand": cfg, "approved_prefixes": approved}, inputs, cfg.storage,
                            overwrite=overwrite, clear=("recalled", "iterations", "rejected", "stats.json", "report.html"),
                            log=lambda _: None)
    if state.complete:
        log(f"raysift: {output} already holds this finished expansion; nothing to do "
            f"(give --overwrite to run it again)")
        return json.loads(storage.read_bytes(storage.join(output, "stats.json"), cfg.storage))

    seed_table = _read_table(seed, cfg.seed_input, cfg.storage, "--seed", seed_files)
    pool_ds = io.read_documents(plan.document_files, cfg.pool_input, cfg.storage).select_columns(["id", "url", "text"])
    contaminated = 0
    storage.delete_dir(storage.join(output, "rejected"), cfg.storage)  # a Ray write adds files, never replaces
    if decontaminate:
        index = decontam.build_ngram_index(decontam.load_benchmarks(decontaminate, cfg.decontamination), cfg.decontamination)
        marked = decontam.decontaminate_dataset(pool_ds, index).materialize()
        from ray.data.expressions import col

        dropped = marked.filter(expr=col("reason").is_not_null())
        contaminated = dropped.count()
        if contaminated:
            fs, path = storage.resolve(storage.join(output, "rejected"), cfg.storage)
            dropped.write_parquet(path, filesystem=fs)
        pool_ds = marked.filter(expr=col("reason").is_null()).select_columns(["id", "url", "text"])
    result = run_expansion(seed_table, RayPool(pool_ds, cfg.scoring), cfg.expansion, output, approved,
                           resume=state.resumed, log=log)
    stats = dict(result.stats)
    if contaminated:
        stats["documents_in"] += contaminated
        stats["rejected"] = {**stats["rejected"], decontam.CONTAMINATED: contaminated}
    from operators.stats import check_accounting

    check_accounting(stats["documents_in"], stats["documents_out"], stats["rejected"])
    stats["math_domains"] = sorted({d for d in result.recalled.column("domain").to_pylist() if d})[:200]
    storage.write_bytes_atomic(storage.join(output, "stats.json"), json.dumps(stats, indent=2, default=str).encode(), cfg.storage)
    storage.write_bytes_atomic(storage.join(output, "report.html"), render_expansion_report(stats, result.iterations).encode(), cfg.storage)
    resume.finish(output, cfg.storage)
    storage.delete_dir(storage.join(output, RUN_DIR, "expand"), cfg.storage)  # the loop state: no longer needed
    return stats


def check_iterations(k: int | None) -> int | None:
    if k is not None and k < 1:
        raise ConfigError(f"--iterations must be >= 1, got {k}")
    return k
