"""Classifier filter: score documents with fastText models; keep by value or the corpus's top p %.

One stage runs any number of classifier specs (a name, a fastText ``.bin``, the label to score).
Each spec scores every alive document with fastText's ``predict(lines, k=-1)`` (one call per
batch) and keeps ``<name>_score``, the probability of its ``label``. The published recipes:

* **DCLM** (Li et al. 2024, Sec. 4.4; mlfoundations/dclm ``baselines/mappers/enrichers/
  quality_prediction_enrichers_calc_fasttext.py``, ``baselines_configs/fasttext_filter.yaml``): the
  OH-2.5+ELI5 model, label ``__label__hq``, one line per document
  (``" ".join(text.strip().splitlines())``, case kept: ``text_format: dclm``), keep the top 10 % of
  the pool (``top_percent: 10``; DCLM-Baseline's fixed threshold 0.018112 was that percentile of
  their pool).
* **Dolma toxicity** (Soldaini et al. 2024; dolma ``taggers/jigsaw.py``, ``taggers/models/ft.py``,
  ``core/utils.py`` and the v1.5 mixer configs ``configs/dolma-v1_5/mixing/cc-*.yaml``): split the
  document into sentences with blingfire, score each ``sentence.replace("\\n", " ").strip()``
  (``text_format: dolma``) with the Jigsaw hate-speech (``__label__toxic``) and NSFW
  (``__label__nsfw``) models, and delete every sentence scoring at least 0.4 (the mixer's
  ``span_replacement`` with ``min_score: 0.4`` and an empty replacement; the spaces around it
  stay). The document is kept. ``level: sentence``, ``max_score: 0.4``; every sentence-level spec
  scores the same sentences of the text as the stage received it, and the union of their masks
  is removed once, as Dolma tags first and mixes after. ``sentence_action: drop`` drops the
  document instead when its worst sentence reaches ``max_score``. ``<name>_score`` is then the
  largest sentence probability (null for a text without sentences), ``<name>_sentences`` the
  sentence count and ``<name>_masked`` the sentences removed.
* **Llama 3** (Dubey et al. 2024, Sec. 3.1.1): a fastText classifier of pages referenced by
  Wikipedia; Meta published neither model nor threshold. RedPajama-1T reproduced LLaMA's version
  (``__label__wiki``, ``text_format: dclm``, documents kept at ``min_score: 0.25``;
  togethercomputer/RedPajama-Data ``data_prep/cc``), or train one
  (``raysift train-classifier --kind llama3``) and choose ``min_score`` or ``top_percent``.
* Models from ``raysift train-classifier`` (math by default): ``text_format: math``.

Thresholds: ``min_score`` keeps a score >= it (DCLM's ``quality_filter``), ``max_score`` keeps a
score < it (Dolma's ``score >= 0.4`` removes); ``top_percent`` is a corpus rule
(:func:`corpus_rules`, computed by :mod:`operators.filters.corpus`).

Reasons are fixed names (``classifier_low_score``, ``classifier_high_score``,
``classifier_below_top_percent``), not ``<name>_low_score``: the registry collects every stage's
``REASONS`` at import time for the stats and the report, before any config names a classifier.
Which spec rejected a document reads off its ``<name>_score`` column (the first failing spec, in
config order, names the reason; a recipe usually runs one classifier per kind of rejection).

Deviations:

* fastText returns ``p + 1e-5`` for every probability (``log(p + 1e-5)`` inside), so scores reach
  1.00001. We score a label by its own probability from ``k=-1`` (as Dolma does) for every
  model; DCLM takes ``1 - P(__label__cc)`` when ``cc`` ranks first, 2e-5 below ours.
* Dolma predicts one slice at a time; we predict a batch of lines per call (the same numbers).
* Sentences: blingfire's ``TextToSentencesWithOffsets`` (what Dolma uses when blingfire is
  installed, its fallback is NLTK punkt), called through ctypes with the byte-to-character offset
  mapping vectorised (the package's own wrapper walks the bytes in Python: ~0.45 µs per byte).
  A whitespace-only text has no sentences here; blingfire (through Dolma) returns one bogus
  1-character sentence for it and raises on the empty string.
* A document whose every sentence is masked is kept with the remaining whitespace, as Dolma's
  mixer writes it; a length rule later in the recipe drops it.
* Models load once per worker process (cached by URI), from a path, ``file://`` or ``s3://``
  (fetched once into a local cache); raysift never downloads a published model itself.

>>> spec = ClassifierSpec(name="dclm", model="m.bin", label="__label__hq", top_percent=10)
>>> (rule,) = corpus_rules(Config(classifiers=(spec,)))
>>> rule.column, rule.cuts, rule.reject
('dclm_score', (0.9,), {'below': 'classifier_below_top_percent'})
>>> cfg = Config(classifiers=(ClassifierSpec(name="q", model="m.bin", label="__label__hq", min_score=0.5),))
>>> decide(Stats(scores={"q": 0.2}, sentences={}, masked={}, text="t"), cfg)
'classifier_low_score'
>>> mask_spans("Fine one. Bad one. Fine two.", [(10, 18)])
'Fine one.  Fine two.'
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from operators.classify.fasttext_model import format_line, local_model_path
from operators.config import ConfigError
from operators.filters.corpus import CorpusRule
from operators.schema import DOCUMENT_COLUMNS, REASON, SKIP, TEXT, alive_mask, with_reason

STAGE = "classifier"
PREFIX = "classifier"
DEFAULT_ON = False
LOADS_MODEL = True  # scores with a model: may run in a pool of Ray actors (resources.model_actors)

LOW_SCORE = "classifier_low_score"
HIGH_SCORE = "classifier_high_score"
BELOW_TOP_PERCENT = "classifier_below_top_percent"

REASONS: tuple[str, ...] = (LOW_SCORE, HIGH_SCORE, BELOW_TOP_PERCENT)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED_COLUMNS = frozenset(DOCUMENT_COLUMNS) | {REASON, SKIP}

PUBLISHED_MODELS: dict[str, str] = {
    "__label__hq": "DCLM's OH-2.5+ELI5 quality classifier is the .bin in the Hugging Face hub repository "
                   "mlfoundations/fasttext-oh-eli5 (text_format: dclm, top_percent: 10)",
    "__label__toxic": "Dolma's Jigsaw hate-speech classifier is jigsaw_fasttext_bigrams_hatespeech_final.bin, published "
                      "at dolma-artifacts.org/fasttext_models/jigsaw_fasttext_bigrams_20230515/ (text_format: dolma, "
                      "level: sentence, max_score: 0.4)",
    "__label__nsfw": "Dolma's Jigsaw NSFW classifier is jigsaw_fasttext_bigrams_nsfw_final.bin, published at "
                     "dolma-artifacts.org/fasttext_models/jigsaw_fasttext_bigrams_20230515/ (text_format: dolma, "
                     "level: sentence, max_score: 0.4)",
    "__label__wiki": "Llama 3's Wikipedia-reference classifier was not published; RedPajama-1T's reproduction of "
                     "LLaMA's is the model.bin linked from togethercomputer/RedPajama-Data data_prep/cc/README.md "
                     "(text_format: dclm; RedPajama kept min_score: 0.25), or train one with "
                     "`raysift train-classifier --kind llama3` on pages cited by Wikipedia against random pages",
    "__label__math": "raysift's math classifier: train one with `raysift train-classifier --kind math`",
}
"""Where the model of each known label is published (for the missing-model error)."""


@dataclass(frozen=True)
class ClassifierSpec:
    """One fastText classifier of the stage.

    Attributes:
        name: column prefix (``<name>_score``); lower-case letters, digits, ``_``.
        model: the fastText ``.bin``: a local path, ``file://`` or ``s3://`` URI.
        label: the label whose probability is the score (``__label__hq``, ``__label__toxic``).
        level: ``document`` (one line per document) or ``sentence`` (Dolma's toxicity rule).
        min_score: drop documents scoring below this (document level).
        max_score: drop documents scoring at least this; at sentence level the threshold a
            sentence's score must reach to be masked (or to drop the document).
        top_percent: keep the top p % of the corpus by score (a corpus rule; document level).
        text_format: how a text becomes a fastText line, as its publisher trained: ``dclm``,
            ``dolma`` or ``math`` (:func:`operators.classify.fasttext_model.format_line`).
        sentence_action: sentence level only: ``mask`` removes the sentences reaching
            ``max_score`` (Dolma), ``drop`` drops the document instead.
        max_chars: truncate each text (or sentence) to this many characters before scoring;
            None scores it whole (``math`` then truncates at 20,000, as it trained).
    """

    name: str
    model: str
    label: str
    level: Literal["document", "sentence"] = "document"
    min_score: float | None = None
    max_score: float | None = None
    top_percent: float | None = None
    text_format: Literal["dclm", "dolma", "math"] = "dclm"
    sentence_action: Literal["mask", "drop"] = "mask"
    max_chars: int | None = None

    def __post_init__(self) -> None:
        where = f"classifier {self.name!r}"
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(f"classifier name {self.name!r} must be lower-case letters, digits and _ "
                              "(it prefixes the score column, e.g. dclm -> dclm_score)")
        if f"{self.name}_score" in _RESERVED_COLUMNS:
            raise ConfigError(f"{where}: the column {self.name}_score is a document column; choose another name")
        if not self.model:
            raise ConfigError(f"{where}: model is empty; give the fastText .bin as a path, file:// or s3:// URI")
        if not self.label.startswith("__label__") or len(self.label) == len("__label__"):
            raise ConfigError(f"{where}: label must look like __label__NAME (e.g. __label__hq), got {self.label!r}")
        if self.level not in ("document", "sentence"):
            raise ConfigError(f"{where}: level must be document or sentence, got {self.level!r}")
        if self.text_format not in ("dclm", "dolma", "math"):
            raise ConfigError(f"{where}: text_format must be dclm, dolma or math, got {self.text_format!r}")
        if self.sentence_action not in ("mask", "drop"):
            raise ConfigError(f"{where}: sentence_action must be mask or drop, got {self.sentence_action!r}")
        for key in ("min_score", "max_score"):
            value = getattr(self, key)
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"{where}: {key} must be a probability in [0, 1], got {value}")
        if self.min_score is not None and self.max_score is not None and self.min_score >= self.max_score:
            raise ConfigError(f"{where}: min_score ({self.min_score}) must be below max_score ({self.max_score})")
        if self.top_percent is not None and not 0 < self.top_percent < 100:
            raise ConfigError(f"{where}: top_percent must be in (0, 100), got {self.top_percent}")
        if self.max_chars is not None and self.max_chars < 1:
            raise ConfigError(f"{where}: max_chars must be >= 1 or null, got {self.max_chars}")
        if self.level == "sentence":
            if self.max_score is None:
                raise ConfigError(f"{where}: level sentence needs max_score, the sentence score that masks a "
                                  "sentence (Dolma: 0.4)")
            if self.min_score is not None or self.top_percent is not None:
                raise ConfigError(f"{where}: min_score and top_percent apply to level document only; at level "
                                  "sentence use max_score")


@dataclass(frozen=True)
class Config:
    """The classifier stage.

    Attributes:
        classifiers: the specs, applied in this order (the first failing one names the reason).
        model_cache_dir: local directory for models fetched from s3:// (None: the system temp dir).
    """

    classifiers: tuple[ClassifierSpec, ...] = ()
    model_cache_dir: str | None = None

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.classifiers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"classifier names must be unique (they name the score columns); "
                              f"{duplicates[0]!r} appears twice")


@dataclass
class Stats:
    """What the classifiers found in one document, keyed by spec name.

    ``scores``: label probability (sentence level: the largest over the sentences; None when the
    text has none); ``sentences`` / ``masked``: sentence count and sentences removed (sentence
    level); ``text``: the text after masking.
    """

    scores: dict[str, float | None]
    sentences: dict[str, int]
    masked: dict[str, int]
    text: str


# ---------------------------------------------------------------------------- models

_MODELS: dict[tuple[str, str | None], tuple[Any, frozenset[str]]] = {}
_MODELS_LOCK = threading.Lock()


def load_model(spec: ClassifierSpec, cache_dir: str | None = None) -> Any:
    """The fastText model of ``spec``, loaded once per process and URI; checks its labels."""
    key = (spec.model, cache_dir)
    with _MODELS_LOCK:
        entry = _MODELS.get(key)
        if entry is None:
            import fasttext

            try:
                path = local_model_path(spec.model, cache_dir)
            except FileNotFoundError as exc:
                raise ConfigError(_missing_message(spec)) from exc
            model = fasttext.load_model(path)
            entry = (model, frozenset(model.get_labels()))
            _MODELS[key] = entry
    model, labels = entry
    if spec.label not in labels:
        raise ConfigError(f"classifier {spec.name!r}: model {spec.model!r} has no label {spec.label!r}; "
                          f"its labels: {', '.join(sorted(labels))}")
    return model


def _missing_message(spec: ClassifierSpec) -> str:
    known = PUBLISHED_MODELS.get(spec.label)
    others = "; ".join(text for label, text in PUBLISHED_MODELS.items() if label != spec.label)
    return (f"classifier {spec.name!r}: model {spec.model!r} not found. Supply the fastText .bin as a local path, "
            "file:// or s3:// URI in filters.classifier.classifiers[].model (raysift never downloads models). "
            + (f"{known}. " if known else "")
            + f"Other published models: {others}.")


def check_models(cfg: Config, storage_cfg: Any = None) -> None:
    """Raise :class:`ConfigError` at run start for a model that is missing or cannot be read.

    Checks existence only (models can be gigabytes: workers load them). ``storage_cfg`` is the
    :class:`operators.storage.StorageConfig` used for ``s3://`` models.
    """
    from operators import storage

    if not cfg.classifiers:
        raise ConfigError("the classifier stage is on but lists no classifiers; add filters.classifier.classifiers "
                          "(name, model, label, thresholds) or set filters.classifier to null")
    for spec in cfg.classifiers:
        if spec.model.startswith(("http://", "https://")):
            raise ConfigError(f"classifier {spec.name!r}: model {spec.model!r} is a web URL; raysift never downloads "
                              "models: download it once and give its local path or an s3:// copy")
        if storage.is_s3(spec.model):
            found = storage.exists(spec.model, storage_cfg)
        else:
            path = spec.model[len("file://"):] if spec.model.startswith("file://") else spec.model
            found = os.path.isfile(os.path.expanduser(path))
        if not found:
            raise ConfigError(_missing_message(spec))
    if any(spec.level == "sentence" for spec in cfg.classifiers):
        _blingfire_lib()


# ---------------------------------------------------------------------------- sentences

_BLINGFIRE: Any = None


def _blingfire_lib() -> Any:
    global _BLINGFIRE
    if _BLINGFIRE is None:
        try:
            import blingfire
        except ImportError as exc:
            raise ConfigError("level: sentence needs the blingfire package (Dolma's sentence splitter): "
                              "pip install blingfire") from exc
        lib = blingfire.blingfire
        lib.TextToSentencesWithOffsets.restype = ctypes.c_int
        _BLINGFIRE = lib
    return _BLINGFIRE


def sentence_offsets(text: str) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of each sentence, as ``blingfire.text_to_sentences_and_offsets``.

    >>> sentence_offsets("Hello there Mr. Smith. How are you?")
    [(0, 22), (23, 35)]
    >>> sentence_offsets("   ")
    []
    """
    if not text or text.isspace():
        return []
    lib = _blingfire_lib()
    data = text.encode("utf-8")
    size = len(data) * 2
    out = ctypes.create_string_buffer(size)
    starts = (ctypes.c_int32 * size)()
    ends = (ctypes.c_int32 * size)()
    n_out = lib.TextToSentencesWithOffsets(ctypes.c_char_p(data), ctypes.c_int(len(data)), ctypes.byref(out),
                                           ctypes.byref(starts), ctypes.byref(ends), ctypes.c_int(size))
    if n_out == -1 or n_out > size:
        return []
    n = out.value.count(b"\n") + 1
    b_start = np.frombuffer(starts, dtype=np.int32, count=n).astype(np.int64)
    b_end = np.frombuffer(ends, dtype=np.int32, count=n).astype(np.int64) + 1  # blingfire's ends are inclusive
    # character index of every byte offset: the number of UTF-8 lead bytes before it
    raw = np.frombuffer(data, dtype=np.uint8)
    char_at = np.concatenate(([0], np.cumsum((raw & 0xC0) != 0x80)))
    c_start = char_at[np.clip(b_start, 0, len(data))]
    c_end = char_at[np.clip(b_end, 0, len(data))]
    return list(zip(c_start.tolist(), c_end.tolist()))


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the character ``spans`` (sorted, non-overlapping), the rest untouched."""
    if not spans:
        return text
    parts, pos = [], 0
    for start, end in spans:
        parts.append(text[pos:start])
        pos = max(pos, end)
    parts.append(text[pos:])
    return "".join(parts)


# ---------------------------------------------------------------------------- scoring

def label_probabilities(model: Any, lines: list[str], label: str) -> np.ndarray:
    """``P(label)`` of each line from one batched ``predict(lines, k=-1)`` (float64)."""
    out = np.zeros(len(lines), dtype=np.float64)
    if not lines:
        return out
    labels, probs = model.predict(lines, k=-1)
    for j, (labs, ps) in enumerate(zip(labels, probs)):
        for lab, p in zip(labs, ps):
            if lab == label:
                out[j] = p
                break
    return out


def score_texts(texts: list[str], cfg: Config) -> list[Stats]:
    """Run every classifier of ``cfg`` on ``texts`` (batched per classifier)."""
    n = len(texts)
    stats = [Stats(scores={}, sentences={}, masked={}, text=t) for t in texts]
    sentence_specs = [s for s in cfg.classifiers if s.level == "sentence"]
    offsets = [sentence_offsets(t) for t in texts] if sentence_specs else []
    masks: list[set[int]] = [set() for _ in range(n)]
    for spec in cfg.classifiers:
        model = load_model(spec, cfg.model_cache_dir)
        if spec.level == "document":
            lines = [format_line(t, spec.text_format, spec.max_chars) for t in texts]
            for st, p in zip(stats, label_probabilities(model, lines, spec.label).tolist()):
                st.scores[spec.name] = p
            continue
        lines, owner = [], []
        for i, (t, spans) in enumerate(zip(texts, offsets)):
            for start, end in spans:
                lines.append(format_line(t[start:end], spec.text_format, spec.max_chars))
                owner.append(i)
        probs = label_probabilities(model, lines, spec.label)
        per_doc: list[list[float]] = [[] for _ in range(n)]
        for i, p in zip(owner, probs.tolist()):
            per_doc[i].append(p)
        for i, (st, ps) in enumerate(zip(stats, per_doc)):
            st.scores[spec.name] = max(ps) if ps else None
            st.sentences[spec.name] = len(ps)
            if spec.sentence_action == "mask":
                hit = [k for k, p in enumerate(ps) if p >= spec.max_score]
                st.masked[spec.name] = len(hit)
                masks[i].update(hit)
    for i, st in enumerate(stats):
        if masks[i]:
            st.text = mask_spans(texts[i], [offsets[i][k] for k in sorted(masks[i])])
    return stats


def measure(text: str, cfg: Config) -> Stats:
    """Score one document with every classifier (loads the models on first use)."""
    return score_texts([text or ""], cfg)[0]


def decide(stats: Stats, cfg: Config) -> str | None:
    """The reason of the first classifier whose thresholds ``stats`` fails, or None.

    Corpus rules (``top_percent``) are decided later, over the whole corpus.
    """
    for spec in cfg.classifiers:
        score = stats.scores.get(spec.name)
        if score is None:
            continue
        if spec.level == "sentence":
            if spec.sentence_action == "drop" and score >= spec.max_score:
                return HIGH_SCORE
            continue
        if spec.min_score is not None and score < spec.min_score:
            return LOW_SCORE
        if spec.max_score is not None and score >= spec.max_score:
            return HIGH_SCORE
    return None


def _set_column(table: pa.Table, name: str, arr: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.schema.get_field_index(name), name, arr)
    return table.append_column(name, arr)


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Score the alive rows of ``table``: ``<name>_score`` (and ``<name>_sentences`` /
    ``<name>_masked`` at sentence level) columns, masked texts, reasons."""
    if not cfg.classifiers:
        return table
    alive = alive_mask(table)
    rows = [i for i, ok in enumerate(alive) if ok]
    texts = table.column(TEXT).to_pylist()
    results = score_texts([texts[i] or "" for i in rows], cfg)
    n = table.num_rows
    reasons: list[str | None] = [None] * n
    new_texts = list(texts)
    for i, st in zip(rows, results):
        reasons[i] = decide(st, cfg)
        new_texts[i] = st.text if st.text != (texts[i] or "") else texts[i]
    for spec in cfg.classifiers:
        scores: list[float | None] = [None] * n
        for i, st in zip(rows, results):
            scores[i] = st.scores[spec.name]
        table = _set_column(table, f"{spec.name}_score", pa.array(scores, type=pa.float64()))
        if spec.level == "sentence":
            counts: list[int | None] = [None] * n
            for i, st in zip(rows, results):
                counts[i] = st.sentences[spec.name]
            table = _set_column(table, f"{spec.name}_sentences", pa.array(counts, type=pa.int64()))
            if spec.sentence_action == "mask":
                masked: list[int | None] = [None] * n
                for i, st in zip(rows, results):
                    masked[i] = st.masked[spec.name]
                table = _set_column(table, f"{spec.name}_masked", pa.array(masked, type=pa.int64()))
    if any(new is not old for new, old in zip(new_texts, texts)):
        idx = table.schema.get_field_index(TEXT)
        table = table.set_column(idx, table.schema.field(idx), pa.array(new_texts, type=table.schema.field(idx).type))
    return with_reason(table, reasons)


def corpus_rules(cfg: Config) -> tuple[CorpusRule, ...]:
    """A corpus-wide cut on ``<name>_score`` at ``1 - top_percent / 100`` for each spec with
    ``top_percent`` (the rows below it get :data:`BELOW_TOP_PERCENT`)."""
    return tuple(
        CorpusRule(column=f"{spec.name}_score", cuts=(1 - spec.top_percent / 100,), labels=("below", "top"),
                   reject={"below": BELOW_TOP_PERCENT})
        for spec in cfg.classifiers if spec.top_percent is not None
    )
