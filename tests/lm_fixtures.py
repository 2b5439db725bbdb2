"""Text for the language-model tests, and the builders of operators/ngram_lm.py re-exported.

:func:`generated_lines` (a seeded synthetic English-like corpus, always available) and
:func:`shared_texts` (real page texts from ``../shared/data``, empty when absent) feed
:func:`train_sentencepiece`, :func:`write_arpa` and :func:`build_models`
(:mod:`operators.ngram_lm`: a SentencePiece model and a KenLM-readable ARPA model, CCNet's file
names).
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from operators.filters.ccnet_normalize import normalize  # noqa: F401  (re-exported for tests)
from operators.ngram_lm import (  # noqa: F401  (the builders live in the product: raysift recipes demo-models)
    BOS,
    EOS,
    UNK,
    build_models,
    normalized_lines,
    sp_vocabulary,
    tokenize,
    train_sentencepiece,
    write_arpa,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WCEB_TRUTH = SHARED_DATA / "extraction-dev" / "modern-wceb-2026" / "ground-truth"

_SUBJECTS = ("the farmer", "a teacher", "my neighbour", "the city council", "our team", "the old doctor",
             "a young writer", "the company", "this museum", "the small village", "every student", "the river")
_VERBS = ("visited", "built", "described", "opened", "repaired", "painted", "studied", "sold", "found",
          "cleaned", "protected", "changed")
_OBJECTS = ("a new bridge", "the market", "an old house", "the garden", "a long report", "the library",
            "the harbour", "a wooden boat", "the school", "a quiet street", "the mountain road", "the station")
_ENDINGS = ("last summer", "in the morning", "after the storm", "with great care", "for the first time",
            "before the winter", "during the festival", "near the coast", "every weekend", "in 1998")


def generated_lines(n: int, seed: int = 0) -> list[str]:
    """``n`` English-like sentences from a small grammar (seeded: the same lines every run).

    >>> generated_lines(1, seed=3)[0][-1]
    '.'
    """
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        if rng.random() < 0.6:
            words.append(rng.choice(_ENDINGS))
        sentence = " ".join(words)
        lines.append(sentence[0].upper() + sentence[1:] + ".")
    return lines


def shared_texts(limit: int | None = None) -> list[str]:
    """Main-content texts of real pages (modern-wceb-2026 reference texts, sorted by file name);
    empty when ``../shared/data`` is absent."""
    if not WCEB_TRUTH.is_dir():
        return []
    files = sorted(WCEB_TRUTH.glob("*.json.gz"))[:limit]
    texts = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            text = json.load(fh)["ground_truth"].get("main_content") or ""
        if text.strip():
            texts.append(text)
    return texts
