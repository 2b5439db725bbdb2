"""Token-distribution outliers: documents whose words are distributed unlike the corpus's (Llama 3).

Llama 3 (Dubey et al. 2024, "The Llama 3 Herd of Models", §3.1.1, heuristic filtering): "we use a
token-distribution Kullback-Leibler divergence to filter out documents containing excessive numbers
of outlier tokens compared to the training corpus distribution". Meta published neither the
tokenisation, the smoothing nor the threshold; raysift's reading, each choice a deviation:

* tokens are the lower-cased ``\\w+`` runs of the text, hashed (CRC-32) into ``buckets`` bins so the
  corpus distribution is a fixed-size vector whatever the vocabulary (Meta used its own tokenizer);
* the corpus distribution ``p`` is the token count of every bin over all documents alive after the
  per-batch stages, add-``smoothing`` smoothed; a document's distribution ``q`` is its own relative
  token frequencies; the score is ``KL(q || p) = sum_t q_t ln(q_t / p_t)`` in nats
  (``token_outliers_kl``);
* documents with fewer than ``min_tokens`` tokens are not scored (a short text's ``q`` is too coarse
  to compare); they keep a null score and are never rejected here;
* the rule drops the documents whose divergence is in the top ``outlier_percent`` % of the corpus
  (default 1 %: a corpus-level quantile, :mod:`operators.filters.corpus`) and/or above
  ``max_kl`` nats (off by default).

The corpus distribution is a global statistic: each batch's bin counts are summed over the
cluster and only the ``buckets``-long vector reaches the driver (:func:`corpus_summary`,
:func:`merge_summaries`); :func:`apply_summary` then scores every batch with it.

>>> cfg = Config(min_tokens=3)
>>> import pyarrow as pa
>>> t = pa.table({"text": ["the cat sat on the mat", "the dog sat on the mat", "zzz qqq xxx yyy"]})
>>> s = corpus_summary(t, cfg)
>>> kl = apply_summary(t, cfg, s).column("token_outliers_kl").to_pylist()
>>> kl[2] > kl[0] > 0
True
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from operators.config import ConfigError
from operators.filters.corpus import CorpusRule
from operators.schema import TEXT, alive_mask, put_column, with_reason

STAGE = "token_outliers"
PREFIX = "token_outliers"
DEFAULT_ON = False

TOP_OUTLIER = "token_outliers_top_percent"
HIGH_KL = "token_outliers_high_kl"

REASONS: tuple[str, ...] = (TOP_OUTLIER, HIGH_KL)

KL_COLUMN = f"{PREFIX}_kl"
TOKENS_COLUMN = f"{PREFIX}_tokens"

_TOKEN_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Config:
    """Token-distribution outlier rule (Llama 3 §3.1.1); see the module docstring for each choice.

    Attributes:
        outlier_percent: drop the documents in the top this-% of divergence over the corpus
            (None: no corpus-level cut).
        max_kl: drop documents whose divergence exceeds this many nats (None: no fixed cut).
        min_tokens: documents with fewer tokens are not scored.
        buckets: hash bins of the corpus distribution (a power of two).
        smoothing: added to every bin's count before normalising (Laplace smoothing).
    """

    outlier_percent: float | None = 1.0
    max_kl: float | None = None
    min_tokens: int = 50
    buckets: int = 1 << 18
    smoothing: float = 1.0

    def __post_init__(self) -> None:
        if self.outlier_percent is not None and not 0 < self.outlier_percent < 100:
            raise ConfigError(f"filters.token_outliers.outlier_percent must be in (0, 100), got {self.outlier_percent}")
        if self.buckets < 2 or self.buckets & (self.buckets - 1):
            raise ConfigError(f"filters.token_outliers.buckets must be a power of two, got {self.buckets}")
        if self.smoothing <= 0:
            raise ConfigError(f"filters.token_outliers.smoothing must be > 0, got {self.smoothing}")
        if self.min_tokens < 1:
            raise ConfigError(f"filters.token_outliers.min_tokens must be >= 1, got {self.min_tokens}")


def _token_counts(texts: list[str], buckets: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per text: (bins, counts) of its tokens. Each distinct token of the batch is hashed once."""
    per_text = [_TOKEN_RE.findall(t.lower()) for t in texts]
    vocab: dict[str, int] = {}
    for tokens in per_text:
        for tok in tokens:
            if tok not in vocab:
                vocab[tok] = zlib.crc32(tok.encode("utf-8", "surrogatepass")) & (buckets - 1)
    out = []
    for tokens in per_text:
        if not tokens:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
            continue
        bins = np.fromiter((vocab[t] for t in tokens), dtype=np.int64, count=len(tokens))
        uniq, counts = np.unique(bins, return_counts=True)
        out.append((uniq, counts))
    return out


def _alive_texts(table: pa.Table) -> tuple[list[int], list[str]]:
    rows = [i for i, ok in enumerate(alive_mask(table)) if ok]
    texts = table.column(TEXT).to_pylist() if rows else []
    return rows, [texts[i] or "" for i in rows]


def corpus_summary(table: pa.Table, cfg: Config) -> dict[int, int]:
    """Token counts per hash bin over the alive documents of one batch (sparse)."""
    _, texts = _alive_texts(table)
    total = np.zeros(cfg.buckets, dtype=np.int64)
    for bins, counts in _token_counts(texts, cfg.buckets):
        if bins.size:
            total[bins] += counts
    nz = np.flatnonzero(total)
    return dict(zip(nz.tolist(), total[nz].tolist()))


def merge_summaries(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    """Sum two sparse bin counts."""
    out = dict(a)
    for k, v in b.items():
        out[int(k)] = out.get(int(k), 0) + int(v)
    return out


def _log_corpus(summary: dict[int, int], cfg: Config) -> np.ndarray:
    counts = np.full(cfg.buckets, cfg.smoothing, dtype=np.float64)
    if summary:
        keys = np.fromiter((int(k) for k in summary), dtype=np.int64, count=len(summary))
        counts[keys] += np.fromiter(summary.values(), dtype=np.float64, count=len(summary))
    return np.log(counts / counts.sum())


def apply_summary(table: pa.Table, cfg: Config, summary: dict[int, int]) -> pa.Table:
    """Score every alive document against the corpus distribution; apply ``max_kl``."""
    log_p = _log_corpus(summary, cfg)
    rows, texts = _alive_texts(table)
    kl: list[float | None] = [None] * table.num_rows
    n_tokens: list[int | None] = [None] * table.num_rows
    reasons: list[str | None] = [None] * table.num_rows
    for i, (bins, counts) in zip(rows, _token_counts(texts, cfg.buckets)):
        n = int(counts.sum())
        n_tokens[i] = n
        if n < cfg.min_tokens:
            continue
        q = counts / n
        kl[i] = float(np.sum(q * (np.log(q) - log_p[bins])))
        if cfg.max_kl is not None and kl[i] > cfg.max_kl:
            reasons[i] = HIGH_KL
    for name, values, tp in ((KL_COLUMN, kl, pa.float64()), (TOKENS_COLUMN, n_tokens, pa.int64())):
        arr = pa.array(values, type=tp)
        table = put_column(table, name, arr)
    return with_reason(table, reasons)


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Per batch there is nothing to do: the score needs the corpus distribution (the pipeline
    calls :func:`corpus_summary`, :func:`merge_summaries` and :func:`apply_summary`)."""
    return table


def corpus_rules(cfg: Config) -> tuple[CorpusRule, ...]:
    """The top-``outlier_percent`` cut on the divergence, corpus-wide."""
    if cfg.outlier_percent is None:
        return ()
    return (CorpusRule(column=KL_COLUMN, cuts=(1 - cfg.outlier_percent / 100,), labels=("typical", "outlier"),
                       reject={"outlier": TOP_OUTLIER}),)
