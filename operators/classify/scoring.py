"""Math scoring as a Ray Data actor-pool operator (DeepSeekMath, Shao et al. 2024, Sec. 2.1).

Each actor loads the fastText model once (lazily, on its first batch; from a local path or
``s3://``, cached on the node) and adds a ``math_score`` column to every batch. Rows already
rejected or skipped get a null score. With ``min_score`` set, alive rows below it are rejected
with reason ``math_score_too_low`` (the OpenWebMath recipe's classifier filter).

Actors take ``num_cpus`` (default 0.5) so an actor pool never holds every CPU of a small machine
and starves the read tasks (ENVIRONMENT.md: ``ActorPoolStrategy(size=2)`` with 1 CPU each hangs
on 2 cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from operators.classify.fasttext_model import load_model, score_texts
from operators.schema import TEXT, alive_mask, with_reason

MATH_SCORE = "math_score"
MATH_SCORE_TOO_LOW = "math_score_too_low"


@dataclass(frozen=True)
class ScoringConfig:
    """Math scoring settings.

    actors: actor-pool size (one model copy per actor).
    num_cpus: CPUs reserved per actor; keep it fractional on small machines.
    batch_size: rows per batch handed to an actor.
    max_chars: texts are truncated to this many characters before scoring.
    min_score: reject alive documents scoring below this (reason ``math_score_too_low``);
        None only adds the column.
    cache_dir: local directory for models downloaded from s3:// (default: the temp dir).
    """

    actors: int = 1
    num_cpus: float = 0.5
    batch_size: int = 1024
    max_chars: int = 20_000
    min_score: float | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ValueError(f"ScoringConfig.actors must be >= 1, got {self.actors}")
        if self.num_cpus <= 0:
            raise ValueError(f"ScoringConfig.num_cpus must be > 0 (e.g. 0.5), got {self.num_cpus}")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"ScoringConfig.min_score must be in [0, 1] or null, got {self.min_score}")


def score_table(table: pa.Table, model, cfg: ScoringConfig | None = None) -> pa.Table:
    """Add ``math_score`` (null for dead rows) and, with ``min_score``, the reject reason."""
    cfg = cfg or ScoringConfig()
    alive = np.asarray(alive_mask(table), dtype=bool)
    texts = table.column(TEXT).to_pylist()
    scores = np.zeros(table.num_rows, dtype=np.float32)
    idx = np.flatnonzero(alive)
    if len(idx):
        scores[idx] = score_texts(model, [texts[i] for i in idx], cfg.max_chars)
    column = pa.array(scores, type=pa.float32(), mask=~alive)
    if MATH_SCORE in table.column_names:
        table = table.set_column(table.schema.get_field_index(MATH_SCORE), MATH_SCORE, column)
    else:
        table = table.append_column(MATH_SCORE, column)
    if cfg.min_score is not None:
        low = alive & (scores < cfg.min_score)
        table = with_reason(table, [MATH_SCORE_TOO_LOW if x else None for x in low])
    return table


class MathScorer:
    """Callable class for ``map_batches``: the model is loaded on the first batch, once per actor."""

    def __init__(self, model_uri: str, cfg: ScoringConfig | None = None) -> None:
        self.model_uri = model_uri
        self.cfg = cfg or ScoringConfig()
        self._model = None

    def __call__(self, table: pa.Table) -> pa.Table:
        if self._model is None:
            self._model = load_model(self.model_uri, self.cfg.cache_dir)
        return score_table(table, self._model, self.cfg)


def score_dataset(ds, model_uri: str, cfg: ScoringConfig | None = None):
    """``ds`` with a ``math_score`` column, scored by an actor pool of ``cfg.actors`` actors."""
    import ray.data

    cfg = cfg or ScoringConfig()
    return ds.map_batches(
        MathScorer,
        fn_constructor_kwargs={"model_uri": model_uri, "cfg": cfg},
        batch_format="pyarrow",
        batch_size=cfg.batch_size,
        compute=ray.data.ActorPoolStrategy(size=cfg.actors),
        num_cpus=cfg.num_cpus,
    )
