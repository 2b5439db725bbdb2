"""CCNet perplexity (Wenzek et al. 2020, "CCNet", §3.3; facebookresearch/cc_net ``perplexity.py``, ``mine.py``).

CCNet scores each document with a per-language 5-gram KenLM model over the pieces of a
per-language SentencePiece model (65,536 pieces), both trained on the CCNet-normalised openings
of Wikipedia articles (cc_net ``Makefile``, ``get_wiki_cirrus.py``), and splits every language
into head, middle and tail at the 30th and 60th percentiles of that language's perplexities.
Steps here:

1. each line (paragraph) of the text is normalised as CCNet does
   (:func:`operators.filters.ccnet_normalize.normalize`: lower-case, accents stripped, digits
   to 0, Unicode punctuation to ASCII, non-printing characters deleted); empty lines are skipped;
2. each paragraph is cut into SentencePiece pieces and scored by KenLM as a sentence:
   ``log10 p(pieces </s> | <s>)``;
3. the document perplexity is ``10 ** (-sum of the paragraph log10 scores / total tokens)``,
   tokens being each paragraph's pieces plus one for ``</s>`` (CCNet's ``DocLM``); a paragraph's
   perplexity is the same ratio over that paragraph alone;
4. ``max_perplexity`` (and per language ``max_perplexity_by_language``) drops documents above
   it (``perplexity_too_high``); CCNet's head/middle/tail buckets are a corpus statistic:
   :func:`corpus_rules` declares them for :mod:`operators.filters.corpus`, which cuts each
   language at its ``bucket_cuts`` quantiles (0.3, 0.6) over the whole corpus.

Columns: ``perplexity`` (null when not scored), ``perplexity_n_paragraphs``,
``perplexity_n_tokens``, ``perplexity_scored`` (False for an alive document whose language has
no model, or whose normalised text is empty: it is kept, never rejected, and takes no part in
the buckets) and, with ``paragraph_perplexities``, ``perplexity_paragraphs`` (a list per
document; off by default to keep shards small). The corpus pass adds ``perplexity_bucket``.

Models: per language a SentencePiece model and a KenLM model (ARPA or KenLM binary), from a
local path, ``file://`` or ``s3://`` (``models``, or ``sp_model_template``/``lm_model_template``
with ``{lang}`` for each of ``languages``). CCNet publishes its models for 48 languages at
``http://dl.fbaipublicfiles.com/cc_net/lm/{lang}.arpa.bin`` and ``{lang}.sp.model``. Remote
files are downloaded once per node (``operators.classify.fasttext_model.local_model_path``);
each worker process loads a model once and keeps it (Ray reuses worker processes). A KenLM
binary is memory-mapped (``lm_load_method``, CCNet's default ``populate_or_read``), so the
worker processes of a node share one copy through the page cache; an ARPA file is parsed into
each process's memory. :func:`check_models` checks at start that every file exists.

Deviations from CCNet:

* CCNet's ``mine.py`` normalises the *whole document* before SentencePiece, and the
  normaliser deletes control characters, newlines included: its lines are glued together
  (without a space) and ``DocLM`` then scores the document as a single sentence. We normalise
  and score each line, which is what ``DocLM``'s per-line loop intends and gives paragraph
  perplexities; ``paragraphs: false`` reproduces ``mine.py`` (one sentence per document; the
  values CCNet published, e.g. the ``perplexity`` field of its corpus, were computed this way).
* ``DocLM`` also scores empty lines (each adds ``log10 p(</s> | <s>)`` and one token); we skip
  them, so blank-line layout does not move a score.
* ``DocLM`` rounds the document perplexity to one decimal; we keep the full value.
* CCNet puts a perplexity equal to a cut in the upper bucket; :mod:`operators.filters.corpus`
  puts it in the lower one (ties at a float32 cut are rare).
* Token counts are SentencePiece pieces plus one; CCNet counts the whitespace-separated tokens
  of the joined pieces, the same number (pieces never contain whitespace).

>>> cfg = Config(models={"en": LanguageModels("en.sp.model", "en.arpa")}, max_perplexity=1000.0)
>>> decide(Stats(perplexity=1500.0, n_paragraphs=2, n_tokens=40, scored=True, language="en"), cfg)
'perplexity_too_high'
>>> document_perplexity([-20.0, -10.0], [10, 5])
100.0
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from operators.config import ConfigError
from operators.filters.ccnet_normalize import Punct, normalize
from operators.filters.corpus import CorpusRule
from operators.schema import LANGUAGE, TEXT, alive_mask, put_column, with_reason

STAGE = "perplexity"
PREFIX = "perplexity"
DEFAULT_ON = False
LOADS_MODEL = True  # scores with a model: may run in a pool of Ray actors (resources.model_actors)

TOO_HIGH = "perplexity_too_high"
BUCKETS: tuple[str, ...] = ("head", "middle", "tail")
BUCKET_REASONS: dict[str, str] = {b: f"perplexity_bucket_{b}" for b in BUCKETS}
REASONS: tuple[str, ...] = (TOO_HIGH, *BUCKET_REASONS.values())

PERPLEXITY = "perplexity"
"""The document perplexity column (the column CCNet's buckets cut)."""
BUCKET_COLUMN = "perplexity_bucket"
PARAGRAPHS_COLUMN = "perplexity_paragraphs"

CCNET_MODELS = "http://dl.fbaipublicfiles.com/cc_net/lm"
"""Where CCNet publishes ``{lang}.arpa.bin`` and ``{lang}.sp.model`` for its 48 languages."""

LoadMethod = Literal["lazy", "populate_or_lazy", "populate_or_read", "read", "parallel_read"]


@dataclass(frozen=True)
class LanguageModels:
    """The two model files of one language: local paths, ``file://`` or ``s3://`` URIs.

    Attributes:
        sp_model: the SentencePiece model (CCNet: ``{lang}.sp.model``).
        lm_model: the KenLM model, ARPA or KenLM binary (CCNet: ``{lang}.arpa.bin``).
    """

    sp_model: str
    lm_model: str

    def __post_init__(self) -> None:
        for name in ("sp_model", "lm_model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"perplexity model {name} must be a path or URI, got {value!r}")


@dataclass(frozen=True)
class Config:
    """CCNet perplexity scoring; ``None`` disables a threshold.

    Attributes:
        models: language -> :class:`LanguageModels` (``{en: {sp_model: ..., lm_model: ...}}``);
            these win over the templates.
        sp_model_template, lm_model_template: URIs with ``{lang}``
            (``s3://bucket/cc_net/lm/{lang}.sp.model``, ``.../{lang}.arpa.bin``), expanded for
            each of ``languages``. Set both or neither.
        languages: the languages the templates cover (CCNet's ``lm_languages``).
        max_perplexity: drop documents with a higher perplexity (``perplexity_too_high``).
        max_perplexity_by_language: per-language thresholds, instead of ``max_perplexity``
            (perplexities of different languages' models are not comparable).
        keep_buckets: None (default) computes no buckets; a list turns on CCNet's per-language
            head/middle/tail buckets and drops the documents of the other buckets
            (``[head, middle]`` drops the tail: ``perplexity_bucket_tail``; all three keep all).
        bucket_cuts: the quantiles that separate head | middle | tail (CCNet: 30th and 60th).
        paragraphs: score each line (default); False scores the whole document as one sentence
            after whole-document normalisation, exactly as CCNet's ``mine.py`` (module docstring).
        paragraph_perplexities: also keep ``perplexity_paragraphs`` (a list column).
        lowercase, accents, digits, punct: CCNet's normalisation switches (all on, ``replace``);
            change them only for models trained on text normalised otherwise.
        lm_load_method: KenLM's load method; ``populate_or_read`` (CCNet's) memory-maps a binary.
        cache_dir: folder for downloaded remote models (None: the system temporary folder).
    """

    models: dict[str, LanguageModels] = field(default_factory=dict)
    sp_model_template: str | None = None
    lm_model_template: str | None = None
    languages: tuple[str, ...] = ()
    max_perplexity: float | None = None
    max_perplexity_by_language: dict[str, float] = field(default_factory=dict)
    keep_buckets: tuple[str, ...] | None = None
    bucket_cuts: tuple[float, ...] = (0.3, 0.6)
    paragraphs: bool = True
    paragraph_perplexities: bool = False
    lowercase: bool = True
    accents: bool = True
    digits: bool = True
    punct: Punct = "replace"
    lm_load_method: LoadMethod = "populate_or_read"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        models = {}
        for lang, spec in dict(self.models).items():
            if isinstance(spec, dict):
                unknown = sorted(set(spec) - {"sp_model", "lm_model"})
                if unknown or len(spec) != 2:
                    raise ConfigError(
                        f"perplexity.models.{lang} must have exactly the keys sp_model and lm_model, got {sorted(spec)}"
                    )
                spec = LanguageModels(**spec)
            if not isinstance(spec, LanguageModels):
                raise ConfigError(f"perplexity.models.{lang} must be {{sp_model: URI, lm_model: URI}}, got {spec!r}")
            models[_lang(lang, "perplexity.models")] = spec
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "languages", tuple(_lang(x, "perplexity.languages") for x in self.languages))
        templates = (self.sp_model_template, self.lm_model_template)
        if (templates[0] is None) != (templates[1] is None):
            raise ConfigError("perplexity: set both sp_model_template and lm_model_template, or neither")
        if templates[0] is not None:
            for name, value in zip(("sp_model_template", "lm_model_template"), templates):
                if "{lang}" not in value:
                    raise ConfigError(f"perplexity.{name} must contain {{lang}}, got {value!r}")
            if not self.languages:
                raise ConfigError(
                    "perplexity.languages must list the languages the model templates cover, e.g. [en, de]"
                )
        elif self.languages:
            raise ConfigError(
                "perplexity.languages is only used with sp_model_template and lm_model_template; "
                "set both templates, or give each language under perplexity.models"
            )
        if self.max_perplexity is not None and not self.max_perplexity > 0:
            raise ConfigError(f"perplexity.max_perplexity must be > 0 (or null), got {self.max_perplexity}")
        by_lang = {}
        for lang, value in dict(self.max_perplexity_by_language).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"perplexity.max_perplexity_by_language.{lang} must be a number > 0, got {value!r}")
            by_lang[_lang(lang, "perplexity.max_perplexity_by_language")] = float(value)
        object.__setattr__(self, "max_perplexity_by_language", by_lang)
        cuts = tuple(self.bucket_cuts)
        if len(cuts) != len(BUCKETS) - 1 or not all(0 < c < 1 for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise ConfigError(
                f"perplexity.bucket_cuts must be two increasing quantiles in (0, 1) (CCNet: [0.3, 0.6]), got {list(cuts)}"
            )
        if self.keep_buckets is not None:
            unknown = sorted(set(self.keep_buckets) - set(BUCKETS))
            if unknown or not self.keep_buckets:
                raise ConfigError(
                    f"perplexity.keep_buckets must name buckets among {', '.join(BUCKETS)} "
                    f"(or be null for no buckets), got {list(self.keep_buckets)}"
                )
        if self.punct not in ("replace", "remove", "keep"):
            raise ConfigError(f"perplexity.punct = {self.punct!r} is not valid; choose one of: replace, remove, keep")
        if self.lm_load_method not in _LOAD_METHODS:
            raise ConfigError(
                f"perplexity.lm_load_method = {self.lm_load_method!r} is not valid; choose one of: {', '.join(_LOAD_METHODS)}"
            )


_LOAD_METHODS: tuple[str, ...] = ("lazy", "populate_or_lazy", "populate_or_read", "read", "parallel_read")


def _lang(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: a language must be a non-empty code such as 'en', got {value!r}")
    return value.strip().lower()


@dataclass
class Stats:
    """What :func:`measure` found; ``perplexity`` is None when the document was not scored."""

    perplexity: float | None
    n_paragraphs: int
    n_tokens: int
    scored: bool
    language: str | None = None
    paragraph_perplexities: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------- models


def model_uris(cfg: Config) -> dict[str, LanguageModels]:
    """Language -> model files: the templates expanded for ``languages``, then ``models``.

    >>> model_uris(Config(sp_model_template="m/{lang}.sp.model", lm_model_template="m/{lang}.arpa.bin",
    ...                   languages=("de",)))["de"].lm_model
    'm/de.arpa.bin'
    """
    out: dict[str, LanguageModels] = {}
    if cfg.sp_model_template is not None and cfg.lm_model_template is not None:
        for lang in cfg.languages:
            out[lang] = LanguageModels(cfg.sp_model_template.replace("{lang}", lang),
                                       cfg.lm_model_template.replace("{lang}", lang))
    out.update(cfg.models)
    return out


def _published(lang: str) -> str:
    return f"CCNet publishes its models at {CCNET_MODELS}/{lang}.arpa.bin and {CCNET_MODELS}/{lang}.sp.model"


def _no_models_error() -> ConfigError:
    return ConfigError(
        "perplexity: no language models configured; set perplexity.models (e.g. "
        "{en: {sp_model: PATH, lm_model: PATH}}) or sp_model_template and lm_model_template with languages. "
        + _published("{lang}")
    )


def _missing_error(lang: str, kind: str, uri: str) -> ConfigError:
    return ConfigError(
        f"perplexity: the {kind} model of language {lang!r} is missing: {uri} not found. {_published(lang)}"
    )


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _local_path(uri: str) -> str:
    return os.path.expanduser(uri[len("file://"):] if uri.startswith("file://") else uri)


def check_models(cfg: Config, storage_cfg: Any = None) -> None:
    """Raise :class:`ConfigError` unless kenlm and sentencepiece import and every model file
    exists (local or ``s3://``, reached with ``storage_cfg``); call it when a run starts."""
    from operators import storage

    for package in ("kenlm", "sentencepiece"):
        try:
            __import__(package)
        except ImportError as exc:
            raise ConfigError(f"the perplexity stage needs the {package} package: pip install kenlm sentencepiece") from exc
    uris = model_uris(cfg)
    if not uris:
        raise _no_models_error()
    missing = []
    for lang, spec in sorted(uris.items()):
        for kind, uri in (("SentencePiece", spec.sp_model), ("KenLM", spec.lm_model)):
            try:
                found = os.path.isfile(_local_path(uri)) if _is_local(uri) else storage.exists(uri, storage_cfg)
            except storage.StorageError as exc:
                raise ConfigError(f"perplexity: the {kind} model of language {lang!r}: {exc}") from exc
            if not found:
                missing.append(_missing_error(lang, kind, uri))
    if len(missing) == 1:
        raise missing[0]
    if missing:
        raise ConfigError("\n".join(str(e) for e in missing))


@functools.lru_cache(maxsize=None)
def _local_copy(uri: str, cache_dir: str | None) -> str:
    """A local file holding ``uri``; remote files are downloaded once per node into the cache.
    Raises FileNotFoundError when there is no such file (a failure is not cached)."""
    if _is_local(uri):
        path = _local_path(uri)
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
        return path
    from operators.classify.fasttext_model import local_model_path

    return local_model_path(uri, cache_dir)


def _fetch(uri: str, cache_dir: str | None, lang: str, kind: str) -> str:
    try:
        return _local_copy(uri, cache_dir)
    except FileNotFoundError as exc:
        raise _missing_error(lang, kind, uri) from exc


@functools.lru_cache(maxsize=None)
def _sentencepiece(path: str) -> Any:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=path)


@functools.lru_cache(maxsize=None)
def _kenlm(path: str, load_method: str) -> Any:
    import kenlm

    config = kenlm.Config()
    config.load_method = getattr(kenlm.LoadMethod, load_method.upper())
    config.show_progress = False
    return kenlm.Model(path, config)


def load_models(lang: str, cfg: Config) -> tuple[Any, Any] | None:
    """The (SentencePiece, KenLM) models of ``lang``, or None when it has none. Each file is
    fetched and loaded once per process (cached by URI and by local path)."""
    spec = model_uris(cfg).get(lang)
    if spec is None:
        return None
    return (_sentencepiece(_fetch(spec.sp_model, cfg.cache_dir, lang, "SentencePiece")),
            _kenlm(_fetch(spec.lm_model, cfg.cache_dir, lang, "KenLM"), cfg.lm_load_method))


# ----------------------------------------------------------------------------- scoring


def normalized_paragraphs(text: str, cfg: Config) -> list[str]:
    """The CCNet-normalised, non-empty paragraphs of ``text`` (its lines, or the whole document
    as one when ``cfg.paragraphs`` is False).

    >>> normalized_paragraphs("Ünïcode  2024\\n\\n  Second line…", Config())
    ['unicode  0000', 'second line...']
    >>> normalized_paragraphs("One\\nTwo", Config(paragraphs=False))
    ['onetwo']
    """
    opts = {"lowercase": cfg.lowercase, "accents": cfg.accents, "digits": cfg.digits, "punct": cfg.punct}
    if not cfg.paragraphs:
        whole = normalize(text, **opts)
        return [whole] if whole else []
    return [p for line in text.split("\n") if (p := normalize(line, **opts))]


def score_pieces(pieces: Sequence[Sequence[str]], lm: Any) -> tuple[list[float], list[int]]:
    """KenLM log10 score and token count (pieces + ``</s>``) of each tokenised paragraph."""
    scores = [lm.score(" ".join(p), bos=True, eos=True) for p in pieces]
    return scores, [len(p) + 1 for p in pieces]


def document_perplexity(log10_scores: Sequence[float], n_tokens: Sequence[int]) -> float:
    """CCNet's document perplexity: ``10 ** (-sum(log10 scores) / sum(tokens))``."""
    return 10.0 ** (-sum(log10_scores) / sum(n_tokens))


def _stats(scores: list[float], lengths: list[int], lang: str, keep_paragraphs: bool) -> Stats:
    if not scores:
        return Stats(perplexity=None, n_paragraphs=0, n_tokens=0, scored=False, language=lang)
    paragraphs = [10.0 ** (-s / n) for s, n in zip(scores, lengths)] if keep_paragraphs else []
    return Stats(perplexity=document_perplexity(scores, lengths), n_paragraphs=len(scores),
                 n_tokens=sum(lengths), scored=True, language=lang, paragraph_perplexities=paragraphs)


def measure(text: str, cfg: Config, language: str | None = None) -> Stats:
    """Perplexity of ``text`` under the models of ``language`` (not scored without models)."""
    lang = (language or "").strip().lower()
    models = load_models(lang, cfg) if lang else None
    if models is None:
        return Stats(perplexity=None, n_paragraphs=0, n_tokens=0, scored=False)
    sp, lm = models
    paragraphs = normalized_paragraphs(text, cfg)
    pieces = sp.encode(paragraphs, out_type=str, num_threads=1) if paragraphs else []
    scores, lengths = score_pieces(pieces, lm)
    return _stats(scores, lengths, lang, True)


def decide(stats: Stats, cfg: Config) -> str | None:
    """``perplexity_too_high`` above the language's threshold; unscored documents are kept."""
    if stats.perplexity is None:
        return None
    limit = cfg.max_perplexity_by_language.get(stats.language or "", cfg.max_perplexity)
    if limit is not None and stats.perplexity > limit:
        return TOO_HIGH
    return None


def corpus_rules(cfg: Config) -> tuple[CorpusRule, ...]:
    """CCNet's per-language head/middle/tail buckets on ``perplexity`` (empty without ``keep_buckets``).

    >>> corpus_rules(Config(keep_buckets=("head", "middle")))[0].reject
    {'tail': 'perplexity_bucket_tail'}
    """
    if cfg.keep_buckets is None:
        return ()
    reject = {b: BUCKET_REASONS[b] for b in BUCKETS if b not in cfg.keep_buckets}
    return (CorpusRule(column=PERPLEXITY, cuts=tuple(cfg.bucket_cuts), labels=BUCKETS, reject=reject,
                       by_language=True, bucket_column=BUCKET_COLUMN),)


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Score the alive rows of ``table`` (batched per language), add the ``perplexity*`` columns
    and name ``perplexity_too_high`` rejects."""
    if not model_uris(cfg):
        raise _no_models_error()
    n = table.num_rows
    alive = alive_mask(table)
    texts = table.column(TEXT).to_pylist()
    langs = table.column(LANGUAGE).to_pylist() if LANGUAGE in table.column_names else [None] * n
    stats: list[Stats | None] = [None] * n
    rows_by_lang: dict[str, list[int]] = {}
    for i in range(n):
        if alive[i]:
            lang = (langs[i] or "").strip().lower()
            rows_by_lang.setdefault(lang, []).append(i)
    for lang, rows in rows_by_lang.items():
        models = load_models(lang, cfg) if lang else None
        if models is None:
            for i in rows:
                stats[i] = Stats(perplexity=None, n_paragraphs=0, n_tokens=0, scored=False)
            continue
        sp, lm = models
        per_doc = [normalized_paragraphs(texts[i] or "", cfg) for i in rows]
        flat = [p for paragraphs in per_doc for p in paragraphs]
        pieces = sp.encode(flat, out_type=str, num_threads=1) if flat else []  # one call per language
        scores, lengths = score_pieces(pieces, lm)
        start = 0
        for i, paragraphs in zip(rows, per_doc):
            end = start + len(paragraphs)
            stats[i] = _stats(scores[start:end], lengths[start:end], lang, cfg.paragraph_perplexities)
            start = end
    columns: dict[str, pa.Array] = {
        PERPLEXITY: pa.array([s.perplexity if s else None for s in stats], type=pa.float64()),
        f"{PREFIX}_n_paragraphs": pa.array([s.n_paragraphs if s else None for s in stats], type=pa.int64()),
        f"{PREFIX}_n_tokens": pa.array([s.n_tokens if s else None for s in stats], type=pa.int64()),
        f"{PREFIX}_scored": pa.array([s.scored if s else None for s in stats], type=pa.bool_()),
    }
    if cfg.paragraph_perplexities:
        columns[PARAGRAPHS_COLUMN] = pa.array(
            [s.paragraph_perplexities if s and s.scored else None for s in stats], type=pa.list_(pa.float64())
        )
    for name, arr in columns.items():
        table = put_column(table, name, arr)
    return with_reason(table, [decide(s, cfg) if s else None for s in stats])
