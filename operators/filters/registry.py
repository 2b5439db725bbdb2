"""The quality-filter stages in pipeline order: cheap metadata rules first, then text rules.

``for name, mod in FILTER_STAGES.items(): table = mod.apply(table, cfg_for(name))``; each
module has ``STAGE``, ``REASONS``, a frozen ``Config``, ``Stats``, ``measure``, ``decide`` and
``apply(table, cfg)``. A module may set ``DEFAULT_ON = False``: its stage is then off unless a
recipe or config names it (stages that need a model, or that rewrite text).

Order: the published heuristic rules first (cheap, and they see the text as extracted), then
RefinedWeb's line corrections (which rewrite it), the count- and corpus-based rules, the
model-based stages (they score only what survived), and PII masking last (as Dolma's mixer
masks after every tagger has seen the original text).

>>> list(FILTER_STAGES)
['url', 'language', 'gopher_repetition', 'gopher_quality', 'c4', 'fineweb', 'refinedweb_lines', 'dirty_words', 'token_outliers', 'perplexity', 'classifier', 'pii']
"""

from __future__ import annotations

from types import ModuleType

from operators.filters import (
    c4,
    classifier,
    dirty_words,
    fineweb,
    gopher_quality,
    gopher_repetition,
    language,
    perplexity,
    pii,
    refinedweb,
    token_outliers,
    urls,
)

FILTER_STAGES: dict[str, ModuleType] = {
    urls.STAGE: urls,
    language.STAGE: language,
    gopher_repetition.STAGE: gopher_repetition,
    gopher_quality.STAGE: gopher_quality,
    c4.STAGE: c4,
    fineweb.STAGE: fineweb,
    refinedweb.STAGE: refinedweb,
    dirty_words.STAGE: dirty_words,
    token_outliers.STAGE: token_outliers,
    perplexity.STAGE: perplexity,
    classifier.STAGE: classifier,
    pii.STAGE: pii,
}

ALL_REASONS: tuple[str, ...] = tuple(r for mod in FILTER_STAGES.values() for r in mod.REASONS)
"""Every reject reason the filter stages can emit (for stats and the report)."""
