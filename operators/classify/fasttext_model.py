"""fastText math classifier: training, loading (local or s3://) and scoring (DeepSeekMath, Shao et al. 2024, Sec. 2.1).

DeepSeekMath trains fastText on 500k positives (OpenWebMath) and 500k negatives (Common Crawl)
with dim 256, lr 0.1, word n-grams 3, minCount 3 and 3 epochs. Those settings assume a large
seed; on a few thousand examples minCount 3 drops most LaTeX tokens and 3 epochs underfit, so
below ``small_seed_examples`` the trainer switches to the ``small_*`` settings (minCount 1,
30 epochs, dim 64, 100k hash buckets) and says so in the :class:`TrainReport`. Measured on 250
StackMathQA positives vs 250 web negatives: with 10 epochs every score stays within 0.50 +- 0.01
(underfit: each long page is one update), with 30 epochs math scores 0.63-0.77 and web pages
0.16-0.35. fastText can diverge ("Encountered NaN") on small sets, not reproducibly; training
then retries with another seed, then with half the learning rate and twice the epochs (up to ``nan_retries`` times; halving the rate
alone left every score at 0.50 +- 0.01) and reports the settings used.

Text is normalised the same way for training and scoring (:func:`preprocess`): lowercased,
newlines to spaces, LaTeX punctuation (``$ { } ^ _ \\`` ...) split off so ``\\frac{a}{b}`` gives
the tokens ``\\frac { a } { b }``, and truncated to ``max_chars``. Unicode math symbols become
the LaTeX a TeX writer would type (:data:`UNICODE_MATH`: ``x²`` -> ``x ^ 2``, ``√`` -> ``\\sqrt``,
``≤`` -> ``\\leq``), so a solver page written in Unicode shares its tokens with a LaTeX seed.

Other published fastText classifiers (:data:`PRESETS`, ``raysift train-classifier --kind``) keep
these math defaults untouched and differ in three fields: the two labels, the line format
(:func:`format_line`: ``math`` above, ``dclm`` = DCLM/RedPajama's ``" ".join(text.splitlines())``
without lowercasing, ``dolma`` = Dolma's ``text.replace("\\n", " ")``) and the published
hyper-parameters. The small-set scaling above applies to every preset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

MATH_LABEL = "__label__math"
OTHER_LABEL = "__label__other"

TextFormat = Literal["math", "dclm", "dolma"]
"""How a text becomes one fastText line (:func:`format_line`)."""

# Characters split off as their own tokens; a backslash starts a token (\\frac stays whole).
# A chain of str.replace calls (C memchr loops) is about 3x faster than one str.translate with
# multi-character replacements on 2 KB pages.
_SPLIT_CHARS = tuple("{}$^_()[]=+-*/|,.;:!?\"<>&%~")
_WHITESPACE = str.maketrans("\n\r\t\v\f\x00", "      ")


# Unicode math symbols -> the LaTeX a TeX writer types for them (Unicode blocks "Superscripts and
# Subscripts", "Mathematical Operators", "Arrows", Greek letters, vulgar fractions). The standard
# symbol set, not a list tuned to pages. Applied after lowercasing (capital Greek letters arrive as
# small ones, as ``\Delta`` arrives as ``\delta`` from a LaTeX seed), only to the characters of this
# table (one regex pass, nothing else touched). Greek-script prose would turn into LaTeX letters:
# math pools are language-filtered (README "Math mining": English). Not mapped: the degree sign
# (``180°C`` in recipes), the micro sign, prose dashes.
UNICODE_MATH: dict[str, str] = {
    **{c: f" ^{d} " for c, d in zip("⁰¹²³⁴⁵⁶⁷⁸⁹ⁿⁱ⁺⁻⁼⁽⁾", "0123456789ni+-=()")},
    **{c: f" _{d} " for c, d in zip("₀₁₂₃₄₅₆₇₈₉ₙᵢⱼₖₘ₊₋₌₍₎", "0123456789nijkm+-=()")},
    **{c: f" {v} " for c, v in zip("½⅓⅔¼¾⅛⅜⅝⅞", ("1/2", "1/3", "2/3", "1/4", "3/4", "1/8", "3/8", "5/8", "7/8"))},
    "√": r" \sqrt ", "∛": r" \sqrt ", "∫": r" \int ", "∬": r" \iint ", "∮": r" \oint ", "∑": r" \sum ",
    "∏": r" \prod ", "∂": r" \partial ", "∇": r" \nabla ", "∞": r" \infty ", "∀": r" \forall ",
    "∃": r" \exists ", "∅": r" \emptyset ", "ℝ": r" \mathbb{r} ", "ℕ": r" \mathbb{n} ", "ℤ": r" \mathbb{z} ",
    "ℚ": r" \mathbb{q} ", "ℂ": r" \mathbb{c} ",
    "≤": r" \leq ", "≥": r" \geq ", "≠": r" \neq ", "≈": r" \approx ", "≡": r" \equiv ", "≅": r" \cong ",
    "∼": r" \sim ", "∝": r" \propto ", "∈": r" \in ", "∉": r" \notin ", "⊂": r" \subset ", "⊆": r" \subseteq ",
    "⊃": r" \supset ", "⊇": r" \supseteq ", "∪": r" \cup ", "∩": r" \cap ", "∧": r" \wedge ", "∨": r" \vee ",
    "→": r" \to ", "⇒": r" \implies ", "⟹": r" \implies ", "⇔": r" \iff ", "⟺": r" \iff ", "↦": r" \mapsto ",
    "×": r" \times ", "÷": r" \div ", "±": r" \pm ", "∓": r" \mp ", "·": r" \cdot ", "⋅": r" \cdot ",
    "∘": r" \circ ", "−": "-", "…": r" \ldots ", "⋯": r" \cdots ",
    **{c: f" \\{n} " for c, n in zip("αβγδεζηθικλμνξπρστυφχψωϕϵϑς", (
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
        "phi chi psi omega phi epsilon theta sigma").split())},
}
_UNICODE_MATH_RE = re.compile("[" + re.escape("".join(UNICODE_MATH)) + "]")


def _latex_for(m: re.Match) -> str:
    return UNICODE_MATH[m.group()]


@dataclass(frozen=True)
class ClassifierConfig:
    """fastText supervised training settings (defaults: DeepSeekMath, Sec. 2.1).

    dim, lr, word_ngrams, min_count, epoch: fastText ``dim``, ``lr``, ``wordNgrams``,
        ``minCount``, ``epoch``.
    bucket: hash buckets for word n-grams (fastText default 2M; the model file is about
        ``bucket * dim * 4`` bytes).
    max_positives, max_negatives: random subsample caps (DeepSeekMath: 500k each).
    max_chars: texts are truncated to this many characters for training and scoring.
    threads: fastText threads; None = all cores of the machine.
    seed: subsampling and shuffling seed.
    small_seed_examples: below this many training examples use the ``small_*`` settings;
        None never scales down.
    small_min_count, small_epoch, small_dim, small_bucket: the scaled-down settings.
    nan_retries: on fastText's "Encountered NaN", retry this many times (another seed, then
        half the lr and twice the epochs).
    positive_label, negative_label: the fastText labels of the two classes (``__label__...``).
    text_format: how a text becomes a training line (:func:`format_line`); the classifier
        filter must score with the same format.
    """

    dim: int = 256
    lr: float = 0.1
    word_ngrams: int = 3
    min_count: int = 3
    epoch: int = 3
    bucket: int = 2_000_000
    max_positives: int = 500_000
    max_negatives: int = 500_000
    max_chars: int = 20_000
    threads: int | None = None
    seed: int = 0
    small_seed_examples: int | None = 10_000
    small_min_count: int = 1
    small_epoch: int = 30
    small_dim: int = 64
    small_bucket: int = 100_000
    nan_retries: int = 3
    positive_label: str = MATH_LABEL
    negative_label: str = OTHER_LABEL
    text_format: TextFormat = "math"

    def __post_init__(self) -> None:
        for name in ("positive_label", "negative_label"):
            label = getattr(self, name)
            if not label.startswith("__label__") or len(label) == len("__label__") or any(c.isspace() for c in label):
                raise ValueError(f"ClassifierConfig.{name} must look like __label__NAME (no spaces), got {label!r}")
        if self.positive_label == self.negative_label:
            raise ValueError(f"ClassifierConfig: positive and negative labels are both {self.positive_label!r}")
        if self.text_format not in ("math", "dclm", "dolma"):
            raise ValueError(f"ClassifierConfig.text_format must be math, dclm or dolma, got {self.text_format!r}")
        for name in ("dim", "word_ngrams", "min_count", "epoch", "bucket", "max_positives",
                     "max_negatives", "max_chars", "small_min_count", "small_epoch", "small_dim",
                     "small_bucket"):
            if getattr(self, name) < 1:
                raise ValueError(f"ClassifierConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.lr <= 10:
            raise ValueError(f"ClassifierConfig.lr must be in (0, 10], got {self.lr}")

    def effective(self, n_examples: int) -> dict[str, Any]:
        """fastText keyword arguments for ``n_examples`` training lines (scaled down when small).

        >>> ClassifierConfig().effective(2_000)["minCount"], ClassifierConfig().effective(10**6)["minCount"]
        (1, 3)
        """
        small = self.small_seed_examples is not None and n_examples < self.small_seed_examples
        return {
            "dim": self.small_dim if small else self.dim,
            "lr": self.lr,
            "wordNgrams": self.word_ngrams,
            "minCount": self.small_min_count if small else self.min_count,
            "epoch": max(self.epoch, self.small_epoch) if small else self.epoch,
            "bucket": min(self.bucket, self.small_bucket) if small else self.bucket,
            # one thread for small sets: deterministic for a seed, and no Hogwild races (a source of NaN)
            "thread": 1 if small else (self.threads or os.cpu_count() or 1),
            "seed": self.seed,
        }


# fastText's own supervised defaults (fasttext.cc "options"): what a publisher used when it
# published no other value.
_FASTTEXT_DEFAULTS = dict(dim=100, lr=0.1, word_ngrams=1, min_count=1, epoch=5, bucket=2_000_000)

PRESETS: dict[str, ClassifierConfig] = {
    # DeepSeekMath (Shao et al. 2024, Sec. 2.1): the ClassifierConfig defaults.
    "math": ClassifierConfig(),
    # DCLM OH-2.5+ELI5 (Li et al. 2024, Sec. 4.4; mlfoundations/dclm baselines/README.md: "we add
    # --wordNgrams 2 ... did not deviate from [the] default values" of train_fasttext_classifier.py,
    # which are fastText's: lr 0.1, dim 100, epoch 5, minCount 1). Labels from that README.
    "dclm": ClassifierConfig(**{**_FASTTEXT_DEFAULTS, "word_ngrams": 2}, positive_label="__label__hq",
                             negative_label="__label__cc", text_format="dclm", max_chars=10**9),
    # Llama 3 (Dubey et al. 2024, Sec. 3.1.1): "fasttext ... trained to recognize if a given text
    # would be referenced by Wikipedia (Touvron et al., 2023a)"; no hyper-parameters, labels or
    # sizes published. RedPajama-1T's open reproduction of that LLaMA classifier
    # (togethercomputer/RedPajama-Data data_prep/cc/README.md, classifier/create_corpus.py): labels
    # __label__wiki vs __label__cc, lines joined by spaces, `fasttext supervised` with its defaults.
    "llama3": ClassifierConfig(**_FASTTEXT_DEFAULTS, positive_label="__label__wiki",
                               negative_label="__label__cc", text_format="dclm", max_chars=10**9),
    # Dolma's Jigsaw classifiers (Soldaini et al. 2024; dolma taggers/jigsaw.py): labels as the
    # released models (__label__toxic / __label__non-toxic, __label__nsfw / __label__non-nsfw),
    # bigrams as their file names (jigsaw_fasttext_bigrams_*); nothing else published: fastText
    # defaults.
    "toxicity": ClassifierConfig(**{**_FASTTEXT_DEFAULTS, "word_ngrams": 2}, positive_label="__label__toxic",
                                 negative_label="__label__non-toxic", text_format="dolma", max_chars=10**9),
    "nsfw": ClassifierConfig(**{**_FASTTEXT_DEFAULTS, "word_ngrams": 2}, positive_label="__label__nsfw",
                             negative_label="__label__non-nsfw", text_format="dolma", max_chars=10**9),
}
"""Published settings per classifier kind (``raysift train-classifier --kind``). Every preset
keeps the small-training-set scaling of :meth:`ClassifierConfig.effective`; ``max_chars`` 10^9
means whole documents, as DCLM, RedPajama and Dolma fed them."""


@dataclass(frozen=True)
class TrainReport:
    """What :func:`train` did: sizes, the fastText settings used, time and file size."""

    model_path: str
    n_positives: int
    n_negatives: int
    scaled_down: bool
    settings: dict[str, Any]
    seconds: float
    model_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def preprocess(text: str | None, max_chars: int = 20_000) -> str:
    """fastText input line: truncated, lowercased, one line, LaTeX punctuation split off.

    >>> preprocess("Let $\\\\frac{a}{b}$ be\\nPositive.")
    'let  $  \\\\frac { a }  { b }  $  be positive . '
    >>> preprocess("x² ≤ √2·π").split()
    ['x', '^', '2', '\\\\leq', '\\\\sqrt', '2', '\\\\cdot', '\\\\pi']
    """
    if not text:
        return ""
    text = text[:max_chars].lower().translate(_WHITESPACE)
    if not text.isascii():
        text = _UNICODE_MATH_RE.sub(_latex_for, text)
    for c in _SPLIT_CHARS:
        if c in text:
            text = text.replace(c, f" {c} ")
    return text.replace("\\", " \\")


def format_line(text: str | None, text_format: TextFormat, max_chars: int | None = None) -> str:
    """``text`` as one fastText line, the way each publisher fed its classifier.

    * ``math``: :func:`preprocess` (raysift's math classifier; ``max_chars`` None = 20,000);
    * ``dclm``: ``" ".join(text.strip().splitlines())``, case kept (DCLM,
      ``baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py``; RedPajama-V2's
      ``preprocess_quality_classifier`` strips after joining, which gives the same line);
    * ``dolma``: ``text.replace("\\n", " ").strip()`` (Dolma ``taggers/jigsaw.py``): only ``\\n``
      is replaced, other line breaks stay (fastText splits on ``\\r`` anyway).

    ``max_chars`` truncates the raw text first (None: whole text, except for ``math``).

    >>> format_line("  Line one\\r\\nLine Two\\n", "dclm")
    'Line one Line Two'
    >>> format_line("Line one\\r\\nLine Two\\n", "dolma")
    'Line one\\r Line Two'
    """
    if not text:
        return ""
    if text_format == "math":
        return preprocess(text, 20_000 if max_chars is None else max_chars)
    if max_chars is not None:
        text = text[:max_chars]
    if text_format == "dclm":
        return " ".join(text.strip().splitlines())
    if text_format == "dolma":
        return text.replace("\n", " ").strip()
    raise ValueError(f"unknown text format {text_format!r}; use math, dclm or dolma")


def _sample(texts: list[str], cap: int, rng: random.Random) -> list[str]:
    texts = [t for t in texts if t and t.strip()]
    if len(texts) > cap:
        texts = rng.sample(texts, cap)
    return texts


def _storage_resolve(uri: str):
    try:
        from operators.storage import resolve
    except ImportError:  # storage module absent: plain pyarrow
        import pyarrow.fs as pafs

        return pafs.FileSystem.from_uri(uri)
    return resolve(uri)


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def train(positives: list[str], negatives: list[str], cfg: ClassifierConfig | None, out_path: str) -> TrainReport:
    """Train a two-class fastText model (``cfg``'s labels, math-vs-other by default) and write it
    to ``out_path`` (local path or s3://).

    The model appears atomically: written to a temporary file, then renamed (or uploaded).
    """
    import fasttext

    cfg = cfg or ClassifierConfig()
    rng = random.Random(cfg.seed)
    pos = _sample(list(positives), cfg.max_positives, rng)
    neg = _sample(list(negatives), cfg.max_negatives, rng)
    if not pos or not neg:
        raise ValueError(
            f"training needs non-empty positives and negatives, got {len(pos)} and {len(neg)}; "
            "check that the seed and the pool have a non-empty 'text' column"
        )
    lines = [f"{cfg.positive_label} {format_line(t, cfg.text_format, cfg.max_chars)}" for t in pos]
    lines += [f"{cfg.negative_label} {format_line(t, cfg.text_format, cfg.max_chars)}" for t in neg]
    rng.shuffle(lines)
    settings = cfg.effective(len(lines))
    scaled = settings["minCount"] != cfg.min_count or settings["dim"] != cfg.dim
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="raysift-ft-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
            fh.write("\n")
        for attempt in range(cfg.nan_retries + 1):
            try:
                model = fasttext.train_supervised(input=train_file, verbose=0, loss="softmax", **settings)
                break
            except RuntimeError as exc:
                if "NaN" not in str(exc) or attempt == cfg.nan_retries:
                    raise
                # first retry: another seed (the divergence is not reproducible run to run);
                # then the same total step size in smaller steps: half the rate, twice the epochs
                settings = {**settings, "seed": settings["seed"] + 1}
                if attempt >= 1:
                    settings.update(lr=settings["lr"] / 2, epoch=settings["epoch"] * 2)
        if _is_remote(out_path):
            local = os.path.join(tmp, "model.bin")
            model.save_model(local)
            size = os.path.getsize(local)
            import pyarrow.fs as pafs

            fs, path = _storage_resolve(out_path)
            pafs.copy_files(local, path, destination_filesystem=fs)
        else:
            out_path = out_path[len("file://"):] if out_path.startswith("file://") else out_path
            directory = os.path.dirname(os.path.abspath(out_path))
            os.makedirs(directory, exist_ok=True)
            partial = os.path.join(directory, f".{os.path.basename(out_path)}.tmp-{uuid.uuid4().hex}")
            try:
                model.save_model(partial)
                size = os.path.getsize(partial)
                os.replace(partial, out_path)
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)
    return TrainReport(
        model_path=out_path, n_positives=len(pos), n_negatives=len(neg), scaled_down=scaled,
        settings=settings, seconds=round(time.perf_counter() - start, 3), model_bytes=size,
    )


def local_model_path(uri: str, cache_dir: str | None = None) -> str:
    """A local file holding the model at ``uri``; remote models are downloaded once into a cache
    (per user, mode 0700; an entry is reused only for the same object: URI, size and mtime)."""
    if not _is_remote(uri):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        if not os.path.exists(path):
            raise FileNotFoundError(f"model file {path!r} not found; train one with `raysift train-classifier`")
        return path
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), f"raysift-models-{os.getuid()}")
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    if os.stat(cache_dir).st_uid != os.getuid():
        raise PermissionError(f"model cache {cache_dir!r} belongs to another user; set a cache_dir of your own")
    fs, path = _storage_resolve(uri)
    info = fs.get_file_info(path)
    if info.type.name != "File":
        raise FileNotFoundError(f"model {uri!r} not found")
    # keyed by the object's size and mtime too: a model replaced at the same URI is fetched again
    key = hashlib.sha1(f"{uri}\0{info.size}\0{info.mtime_ns}".encode()).hexdigest()[:16]
    local = os.path.join(cache_dir, f"{key}-{os.path.basename(uri.rstrip('/')) or 'model.bin'}")
    if os.path.exists(local) and os.path.getsize(local) == info.size:
        return local
    partial = f"{local}.tmp-{uuid.uuid4().hex}"
    try:
        with fs.open_input_stream(path) as src, open(partial, "wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
        os.replace(partial, local)  # concurrent actors on one node: last rename wins, same bytes
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return local


def load_model(uri: str, cache_dir: str | None = None):
    """Load a fastText model from a local path, ``file://`` or ``s3://`` URI (cached locally)."""
    import fasttext

    return fasttext.load_model(local_model_path(uri, cache_dir))


def score_texts(model, texts: list[str | None], max_chars: int = 20_000) -> np.ndarray:
    """Math probability per text (float32); empty or missing texts score 0.0.

    Huge texts are truncated to ``max_chars`` before tokenising, so one 10 MB page costs
    no more than a normal one.
    """
    out = np.zeros(len(texts), dtype=np.float32)
    lines, where = [], []
    for i, t in enumerate(texts):
        line = preprocess(t, max_chars)
        if line.strip():
            lines.append(line)
            where.append(i)
    if not lines:
        return out
    labels, probs = model.predict(lines, k=2)
    for j, (labs, ps) in enumerate(zip(labels, probs)):
        p = 0.0
        for lab, pr in zip(labs, ps):
            if lab == MATH_LABEL:
                p = float(pr)
                break
        else:
            if len(labs) == 1:  # only the other label returned: P(math) = 1 - P(other)
                p = 1.0 - float(ps[0])
        out[where[j]] = min(max(p, 0.0), 1.0)
    return out


def evaluate(model, positives: list[str], negatives: list[str], threshold: float = 0.5,
             max_chars: int = 20_000) -> dict[str, float]:
    """Precision, recall and F1 of ``score >= threshold`` on labelled texts."""
    sp = score_texts(model, positives, max_chars) >= threshold
    sn = score_texts(model, negatives, max_chars) >= threshold
    tp, fp = int(sp.sum()), int(sn.sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(positives) if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "threshold": threshold,
            "n_positives": len(positives), "n_negatives": len(negatives)}
