"""Parity of raysift's PII, Gopher and C4 stages with dolma's own taggers and mixer, on real text.

Run it with the Python of a virtualenv that has dolma 1.2.1 (and pyarrow, for raysift's stages); it
imports raysift from this checkout. dolma runs its real pipeline, ``dolma tag`` then ``dolma mix``,
and raysift its stages on the same texts; ``--parts`` picks what is compared.

``pii``: for each variant (``pii_regex_with_counts_v2`` and ``pii_regex_with_counts_fast_v2``) the
PII filter and span replacement of Dolma's Common Crawl mixer config (exclude ``doc_count > 5``,
replace spans by `` |||EMAIL_ADDRESS||| `` etc.) against ``operators.filters.pii.apply``
(``variant="v2"`` / ``"fast_v2"``), per rule:

* ``email`` / ``phone`` / ``ip``: documents whose spans of that kind are identical (start, end);
* ``doc_count``: documents with the same number of PII spans;
* ``decision``: documents kept by both or dropped by both;
* ``masked_text``: documents kept by both whose output text is identical.

Each disagreeing document is put in a class (``backspace_url``: the text holds U+0008, where dolma
v2's URL rule can fire, see ``operators/filters/pii.py``; ``unexplained`` otherwise, with examples).

``quality``: ``gopher_v1`` and ``c4_v1`` with the mixer's Gopher filter of Dolma's Common Crawl
(``configs/dolma-v1_5/mixing/cc-head.yaml``) and the C4 filter of dolma's C4 replication
(``configs/c4-replication/mixer.yaml``), against ``gopher_quality`` + ``gopher_repetition`` and
``c4`` configured to the same thresholds (``quality_setup``). Per rule the same outcome (fires or
not; for the C4 line rules the same number of lines), the Gopher and C4 keep/drop, and the C4 text
of documents kept by both. dolma's taggers count differently from the Gopher and C4 papers in
places where raysift follows the papers and datatrove (whitespace words, median word length,
first occurrences counted as duplicates, ...): each disagreeing document is put in a class by a
chain of re-computations from dolma's counting to raysift's, one difference at a time
(``Rule``, ``bridge``, ``CLASSES``); the first link re-computes dolma's own value from the text, so
an unfaithful re-computation shows up as ``reimplementation`` (unexplained). Then the same rules
and keep/drop with the three stages set to ``count: dolma`` (``dolma_mode_rules``), which counts
as dolma's taggers: there every disagreement is unexplained (``count_dolma``).

Texts: every distinct text with at least one word under ``--data`` (the shared real-data folder):
Dolma's own Common Crawl samples, StackMathQA questions and answers, the reference main texts of the
extraction benchmarks and the visible text of their HTML pages (whole pages: footers, contact
blocks); plus the constructed edge cases of ``tests/test_filters_pii.py`` (ties, overlaps, context
window boundaries), so the mixer's handling of them is checked too. dolma's v2 tagger raises on a
text without words, so those are left out.

Exit status 1 when a PII rule, a Gopher/C4 rule with the same definition on both sides, or any
Gopher/C4 rule or the Gopher keep/drop with ``count: dolma`` agrees on fewer than
``--min-agreement`` (0.99) of the documents, or a disagreement is unexplained; 2 when
there are fewer than ``--min-texts`` texts or dolma fails. ``--section-out FILE`` writes the
markdown section for ``benchmarks/RESULTS.md``.

    benchmarks/_work/dolma-venv/bin/python benchmarks/parity_dolma.py --json benchmarks/_work/parity_dolma.json \\
        --section-out benchmarks/_work/parity_dolma.md
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import html
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from operators.filters import c4, pii  # noqa: E402
from operators.filters import gopher_quality as gq  # noqa: E402
from operators.filters import gopher_repetition as gr  # noqa: E402
from operators.filters.text import is_symbol_token  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
TAGGERS = {"v2": "pii_regex_with_counts_v2", "fast_v2": "pii_regex_with_counts_fast_v2"}
KIND_NAMES = {pii.EMAIL: "EMAIL_ADDRESS", pii.PHONE: "PHONE_NUMBER", pii.IP: "IP_ADDRESS"}
RULES = ("email", "phone", "ip", "doc_count", "decision", "masked_text")
CONSTRUCTED: tuple[str, ...] = (
    # the edge cases of tests/test_filters_pii.py, checked here against dolma's tagger and mixer
    "Mail me at john@doe.com now",
    "see (@example.com here",
    "mail me@localhost now",
    "write to a@b.com",
    "x @john@doe.com y",
    "Call (555) 123-4567 or 555.123.4567 or 5551234567 today.",
    "x\n555-123-4567 is the line",
    "isbn: 555 123 4567 ok",
    "ISBN 555 123 4567 ok",
    "doi 10.1000/182 and 10.0.0.1 here",
    "#" + "x" * 99 + " 555 123 4567 z",
    "#" + "x" * 100 + " 555 123 4567 z",
    "server 999.1.1.1 down and 1.2.3.4.5 up",
    "john 555-123-4567@mail.com rest",
    "x 1 192.168.1001.5 y 10.0.0.1 z",
    "联系 test@example.com 谢谢",
    "tel 555 123 4567 see https://example.com/x ok",
    " ".join(["a@b.co"] * 5) + " end",
    " ".join(["a@b.co"] * 6) + " end",
    "@ " * 50 + " a@b.com ",
    # not "?" * 10_001 + ...: dolma's v2 search is cubic in such a run (it hangs for minutes)
)


_SKIP_RE = re.compile(r"(?is)<(script|style|noscript|template|svg|head)\b.*?</\1\s*>|<!--.*?-->")
_BLOCK_RE = re.compile(
    r"(?i)</?(?:p|div|br|li|tr|td|dd|dt|h[1-6]|section|article|header|footer|nav|ul|ol|table|blockquote|pre|form|address)\b[^>]*>"
)
_TAG_RE = re.compile(r"<[^>]*>")
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r" ?\n\s*")


def page_text(raw: bytes) -> str:
    """The visible text of an HTML page, one line per block element (regular expressions, stdlib only)."""
    doc = _SKIP_RE.sub(" ", raw.decode("utf-8", errors="replace"))
    doc = html.unescape(_TAG_RE.sub("", _BLOCK_RE.sub("\n", doc)))
    return _BLANK_LINES_RE.sub("\n", _SPACES_RE.sub(" ", doc)).strip()


def load_texts(data: Path) -> list[tuple[str, str]]:
    """(source, text) for every distinct text with a word, in a fixed order."""
    found: list[tuple[str, str]] = []
    cc = data / "text" / "dolma-cc-samples"
    for path in sorted(cc.glob("*.jsonl")) + sorted(cc.glob("*.json.gz")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            found += [("dolma-cc", json.loads(line)["text"]) for line in f if line.strip()]
    for path in sorted((data / "math-seed" / "stackmathqa").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                found += [("stackmathqa", row["Q"]), ("stackmathqa", row["A"])]
    wceb = data / "extraction-dev" / "modern-wceb-2026"
    for path in sorted((wceb / "ground-truth").glob("*.json.gz")):
        truth = json.loads(gzip.decompress(path.read_bytes()))["ground_truth"]
        found.append(("wceb-main", truth.get("main_content") or ""))
    for path in sorted((wceb / "html").glob("*.html.gz")):
        found.append(("wceb-page", page_text(gzip.decompress(path.read_bytes()))))
    for part in ("article", "forum"):
        folder = data / "extraction-dev" / "magic-html-bench" / part
        if (folder / "base.json").is_file():
            base = json.loads((folder / "base.json").read_text(encoding="utf-8"))
            found += [("magic-main", row.get("content") or "") for _, row in sorted(base.items())]
        for path in sorted((folder / "htmls").glob("*.html.gz")):
            found.append(("magic-page", page_text(gzip.decompress(path.read_bytes()))))
    for path in sorted((data / "extraction-dev" / "mozilla-readability" / "test-pages").glob("*/source.html.gz")):
        found.append(("readability-page", page_text(gzip.decompress(path.read_bytes()))))
    found += [("constructed", text) for text in CONSTRUCTED]
    seen: set[str] = set()
    texts = []
    for source, text in found:
        if text and text.split() and text not in seen:
            seen.add(text)
            texts.append((source, text))
    return texts


def _dolma_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dolma")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "dolma"]


def run_dolma(texts: list[str], variants: list[str], root: Path, processes: int) -> dict[str, tuple[list[dict], dict[str, str]]]:
    """One ``dolma tag`` (every variant's tagger) and one ``dolma mix`` (a stream per variant).

    Per variant: each document's attributes of that tagger, and the kept documents' output text by id.
    """
    (root / "documents").mkdir(parents=True)
    with gzip.open(root / "documents" / "part-0.jsonl.gz", "wt", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": text, "source": "parity"}) + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    quiet = {"check": True, "cwd": root, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    subprocess.run(
        [*_dolma_cli(), "tag", "--documents", str(root / "documents" / "*.jsonl.gz"),
         "--taggers", *(TAGGERS[v] for v in variants), "--experiment", "pii", "--processes", str(processes)],
        **quiet,
    )
    with gzip.open(root / "attributes" / "pii" / "part-0.jsonl.gz", "rt", encoding="utf-8") as f:
        attributes = [json.loads(line)["attributes"] for line in f]
    streams = []
    for variant in variants:
        prefix = f"pii__{TAGGERS[variant]}__"
        streams.append({
            "name": variant,
            "documents": [str(root / "documents" / "*.jsonl.gz")],
            "attributes": ["pii"],
            "output": {"path": str(root / "out" / variant), "max_size_in_bytes": 1 << 40, "discard_fields": ["attributes"]},
            "filter": {"include": [], "exclude": [
                f"$.attributes[?(@.{prefix}doc_count && @.{prefix}doc_count[0] && @.{prefix}doc_count[0][2] > 5)]"
            ]},
            "span_replacement": [
                {"span": f"$.attributes.{prefix}{name}", "min_score": 0.5, "replacement": f" |||{name}||| "}
                for name in ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS")
            ],
        })
    mix = {"streams": streams, "work_dir": {"input": str(root / "work-in"), "output": str(root / "work-out")}, "processes": 1}
    (root / "mix.json").write_text(json.dumps(mix), encoding="utf-8")
    subprocess.run([*_dolma_cli(), "-c", str(root / "mix.json"), "mix"], **quiet)
    out = {}
    for variant in variants:
        kept: dict[str, str] = {}
        for path in sorted((root / "out" / variant).glob("*.json.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    kept[row["id"]] = row["text"]
        prefix = f"pii__{TAGGERS[variant]}__"
        out[variant] = ([{k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)} for a in attributes], kept)
    return out


def compare(texts: list[tuple[str, str]], variant: str, dolma: tuple[list[dict], dict[str, str]], examples: int) -> dict:
    """Per-rule agreement of raysift's ``variant`` with dolma's tagger + mixer output ``dolma``."""
    plain = [t for _, t in texts]
    attributes, dolma_kept = dolma
    cfg = pii.Config(variant=variant)
    t0 = time.process_time()
    spans = [pii.find_spans(t, cfg) for t in plain]
    measure_seconds = time.process_time() - t0
    table = pii.apply(pa.table({"id": [str(i) for i in range(len(plain))], "text": plain}), cfg)
    ours_text = table.column("text").to_pylist()
    ours_reason = table.column("reason").to_pylist()

    agree = Counter()
    classes: Counter = Counter()
    samples: list[dict] = []
    for i, (source, text) in enumerate(texts):
        attrs = attributes[i]
        differs = []
        for kind, rule in ((pii.EMAIL, "email"), (pii.PHONE, "phone"), (pii.IP, "ip")):
            theirs = sorted((s, e) for s, e, _ in attrs.get(KIND_NAMES[kind], []))
            ours = sorted((s.start, s.end) for s in spans[i] if s.kind == kind)
            if theirs == ours:
                agree[rule] += 1
            else:
                differs.append(rule)
        count = int(attrs["doc_count"][0][2])
        if count == len(spans[i]):
            agree["doc_count"] += 1
        else:
            differs.append("doc_count")
        theirs_kept, ours_kept = str(i) in dolma_kept, ours_reason[i] is None
        if theirs_kept == ours_kept:
            agree["decision"] += 1
        else:
            differs.append("decision")
        if theirs_kept and ours_kept:
            agree["masked_text_n"] += 1
            if dolma_kept[str(i)] == ours_text[i]:
                agree["masked_text"] += 1
            else:
                differs.append("masked_text")
        if differs:
            cls = "backspace_url" if "\x08" in text else "unexplained"
            classes[cls] += 1
            if cls == "unexplained" and len(samples) < examples:
                samples.append({"source": source, "rules": differs, "dolma": attrs, "raysift": [list(s) for s in spans[i]],
                                "text": text[:400]})
    n = len(texts)
    rates = {r: agree[r] / n for r in RULES if r != "masked_text"}
    rates["masked_text"] = agree["masked_text"] / agree["masked_text_n"] if agree["masked_text_n"] else 1.0
    return {
        "variant": variant,
        "tagger": TAGGERS[variant],
        "documents": n,
        "documents_with_pii_dolma": sum(1 for a in attributes if a["doc_count"][0][2] > 0),
        "spans_dolma": sum(len(a.get(k, [])) for a in attributes for k in KIND_NAMES.values()),
        "spans_raysift": sum(len(s) for s in spans),
        "dropped_dolma": n - len(dolma_kept),
        "dropped_raysift": sum(r is not None for r in ours_reason),
        "agreement": rates,
        "disagreement_classes": dict(classes),
        "examples": samples,
        "raysift_measure_ms_per_doc": round(1000 * measure_seconds / n, 4),
    }


# ----------------------------------------------------------- Gopher and C4: gopher_v1, c4_v1

QUALITY_EXPERIMENT = "quality"
GOPHER_TAGGER, C4_TAGGER = "gopher_v1", "c4_v1"
ATTR = f"{QUALITY_EXPERIMENT}__{{tagger}}__{{name}}"

# The mixer's Gopher filter of Dolma's Common Crawl (configs/dolma-v1_5/mixing/cc-head.yaml):
# (rule, gopher_v1 attribute, comparison, threshold), a document is excluded when one holds.
# cc-head.yaml names the top n-gram attributes "..._most_common_2gram" (singular), which the
# tagger never writes ("..._2grams"), so there those three rules never fire; here they use the
# tagger's names (the published config's effect is counted apart: ``verbatim_config_keeps``).
GOPHER_FILTERS: tuple[tuple[str, str, str, float], ...] = (
    ("word_count", "word_count", "<", 50),
    ("word_count", "word_count", ">", 100_000),
    ("word_length", "median_word_length", "<", 3),
    ("word_length", "median_word_length", ">", 10),
    ("symbol_ratio", "symbol_to_word_ratio", ">", 0.1),
    ("alpha_words", "fraction_of_words_with_alpha_character", "<", 0.8),
    ("stop_words", "required_word_count", "<", 2),
    ("bullet_lines", "fraction_of_lines_starting_with_bullet_point", ">", 0.9),
    ("ellipsis_lines", "fraction_of_lines_ending_with_ellipsis", ">", 0.3),
    ("duplicate_lines", "fraction_of_duplicate_lines", ">", 0.3),
    ("duplicate_line_chars", "fraction_of_characters_in_duplicate_lines", ">", 0.3),
    ("top_2gram", "fraction_of_characters_in_most_common_2grams", ">", 0.20),
    ("top_3gram", "fraction_of_characters_in_most_common_3grams", ">", 0.18),
    ("top_4gram", "fraction_of_characters_in_most_common_4grams", ">", 0.16),
    ("duplicate_5grams", "fraction_of_characters_in_duplicate_5grams", ">", 0.15),
    ("duplicate_6grams", "fraction_of_characters_in_duplicate_6grams", ">", 0.14),
    ("duplicate_7grams", "fraction_of_characters_in_duplicate_7grams", ">", 0.13),
    ("duplicate_8grams", "fraction_of_characters_in_duplicate_8grams", ">", 0.12),
    ("duplicate_9grams", "fraction_of_characters_in_duplicate_9grams", ">", 0.11),
    ("duplicate_10grams", "fraction_of_characters_in_duplicate_10grams", ">", 0.10),
)
# The mixer's C4 filter (configs/c4-replication/mixer.yaml, there with c4_v2's same attributes):
# exclude on these flags, remove the flagged lines.
C4_EXCLUDE = ("has_curly_brace", "has_lorem_ipsum", "has_javascript", "has_naughty_word")
C4_REMOVE_LINES = ("lines_with_no_ending_punctuation", "lines_with_too_few_words")

# What each disagreement class means: the difference between dolma's and raysift's counting
# that, undone in the re-computation, flips the decision (``bridge`` below).
CLASSES: dict[str, str] = {
    "spacy_tokens": "raysift (like datatrove) splits words with spaCy's English rules: punctuation, "
    "contractions and hyphens are tokens of their own (`end.` -> `end` `.`, `don't` -> `do` `n't`); dolma "
    "splits on whitespace. The Gopher paper does not name a tokenizer.",
    "non_symbol_words": "the Gopher paper's word count and mean length use non-symbol words: raysift leaves "
    "out tokens made only of punctuation or symbols (`—`, `|`, `...`); dolma counts every whitespace word.",
    "mean_not_median": "the Gopher paper (and datatrove, raysift) bound the *mean* word length; dolma's "
    "tagger computes the *median* (`median_word_length`).",
    "per_symbol": "the Gopher paper bounds the ratio of the hash symbol *or* of the ellipsis (two ratios); "
    "dolma adds both up in one ratio (`symbol_to_word_ratio`).",
    "symbol_occurrences": "raysift (datatrove) counts symbol occurrences (`###` is 3); dolma counts words "
    "containing one.",
    "three_dot_ellipsis": "an ellipsis typed as three dots `...` counts for raysift (datatrove); dolma only "
    "knows `…` (U+2026).",
    "splitlines": "raysift splits lines with `str.splitlines()` (datatrove's Gopher and C4 filters do the "
    "same): no empty last line after a final newline, and `\\r`, `\\v`, `\\f`, `\\x1c`-`\\x1e`, `\\x85`, "
    "U+2028, U+2029 end lines too; dolma splits on `\\n` only.",
    "leading_whitespace": "raysift (datatrove) looks for the bullet after the line's leading whitespace; dolma "
    "at the line's first character.",
    "trailing_whitespace": "raysift (datatrove) looks for the ellipsis before the line's trailing whitespace; "
    "dolma at the line's last character.",
    "first_occurrence": "Gopher (datatrove, raysift): a duplicate is an element equal to an *earlier* one; "
    "dolma also counts the first occurrence (two equal lines are 100 % duplicated, not 50 %).",
    "empty_lines": "raysift (datatrove) splits the text on runs of newlines for the duplicate-line rule, so "
    "blank lines are not lines; dolma's gopher_v1 counts every blank line, and all blank lines of a text "
    "are duplicates of each other (dolma's gopher_v2 drops them).",
    "text_length": "raysift (datatrove) divides the duplicate-line characters by the text's length, "
    "whitespace included; dolma by the characters of its whitespace words.",
    "spaces_and_text_length": "raysift (datatrove) counts the top n-gram's characters with the spaces "
    "joining its words and divides by the text's length; dolma counts neither the spaces between the "
    "n-gram's words nor the whitespace of the text.",
    "non_overlapping_repeats": "raysift (datatrove) walks the words: an n-gram seen earlier adds its "
    "characters once and the walk jumps n words, so first occurrences and overlapping repeats do not count, "
    "over the text's length; dolma adds every occurrence of every repeated n-gram, overlapping ones "
    "included, over the characters of all n-grams.",
    "javascript_substring": "C4 (TFDS, datatrove, raysift) looks for the substring `javascript` in the "
    "lower-cased line (`JavaScript.`, `javascript:void(0)` count); dolma for a whitespace word equal to "
    "`javascript`.",
    "word_boundaries": "raysift (datatrove's C4BadWordsFilter) finds list entries in the lower-cased text "
    "between non-word characters, so `word,` matches; dolma matches whitespace words exactly (attached "
    "punctuation hides a word) and multi-word entries anywhere in a line, inside longer words too.",
    "javascript_removes_lines": "C4 removes *lines* mentioning javascript (Raffel et al. 2020, TFDS, "
    "datatrove, raysift); the dolma mixer config excludes the *document* on c4_v1's `has_javascript`.",
    "checks_on_kept_lines": "raysift (TFDS, datatrove) looks for `lorem ipsum`, `{` and bad words only in the "
    "lines left after the punctuation, word-count and javascript line rules; dolma's c4_v1 flags them on "
    "every line.",
    "count_dolma": "unexplained: raysift's `count: dolma` differs from dolma's tagger and mixer.",
    "reimplementation": "unexplained: the re-computation of dolma's rule differs from dolma's tagger or mixer.",
    "unexplained": "unexplained: no known difference accounts for it.",
}


def _round(x: float) -> float:
    """dolma writes tagger scores rounded to 5 decimals (``TAGGER_SCORE_PRECISION``)."""
    return round(float(x), 5)


def _cmp(value: float, op: str, threshold: float) -> bool:
    return value < threshold if op == "<" else value > threshold


@dataclass(frozen=True)
class QualitySetup:
    """raysift's configurations matched to dolma's thresholds, and dolma's constants."""

    gq: gq.Config
    gr: gr.Config
    c4_full: c4.Config
    c4_only: dict[str, c4.Config]
    stop_words: frozenset[str]
    symbols: tuple[str, ...]
    bullets: tuple[str, ...]
    eol: tuple[str, ...]
    min_words_per_line: int
    naughty_words: frozenset[str]
    naughty_phrases: tuple[str, ...]
    # the same configurations with ``count: dolma`` (raysift reproducing dolma's taggers)
    gq_dolma: gq.Config | None = None
    gr_dolma: gr.Config | None = None
    c4_full_dolma: c4.Config | None = None
    c4_only_dolma: dict[str, c4.Config] | None = None


def quality_setup(badwords_dir: Path) -> QualitySetup:
    """:func:`make_setup` with the constants of the installed dolma's ``gopher`` and ``c4`` taggers."""
    from dolma.taggers import c4 as dc
    from dolma.taggers import gopher as dg

    return make_setup(
        badwords_dir, stop_words=dg.REQUIRED_ENGLISH_WORDS, symbols=dg.SYMBOLS, bullets=dg.BULLET_POINTS,
        eol=dc.EOL_PUNCTUATION, min_words_per_line=dc.MIN_WORDS_PER_LINE, naughty_lines=dc.NAUGHTY_LINES,
    )


def make_setup(badwords_dir: Path, *, stop_words: Iterable[str], symbols: Iterable[str], bullets: Iterable[str],
               eol: Iterable[str], min_words_per_line: int, naughty_lines: Iterable[str]) -> QualitySetup:
    """raysift's Gopher/C4 configs at dolma's thresholds; writes dolma's bad-words list to ``badwords_dir``."""
    naughty_lines = list(naughty_lines)
    thresholds = {(attr, op): thr for _, attr, op, thr in GOPHER_FILTERS}
    bullets = tuple(sorted(bullets))
    gq_cfg = gq.Config(
        min_words=thresholds["word_count", "<"],
        max_words=thresholds["word_count", ">"],
        min_mean_word_length=thresholds["median_word_length", "<"],
        max_mean_word_length=thresholds["median_word_length", ">"],
        max_hash_ratio=thresholds["symbol_to_word_ratio", ">"],
        max_ellipsis_ratio=thresholds["symbol_to_word_ratio", ">"],
        max_bullet_lines_ratio=thresholds["fraction_of_lines_starting_with_bullet_point", ">"],
        max_ellipsis_lines_ratio=thresholds["fraction_of_lines_ending_with_ellipsis", ">"],
        min_alpha_words_ratio=thresholds["fraction_of_words_with_alpha_character", "<"],
        min_stop_words=thresholds["required_word_count", "<"],
        stop_words=tuple(sorted(stop_words)),
        stop_word_count="occurrences",  # dolma counts occurrences (raysift's default: distinct words)
        bullets=bullets,  # dolma: "*" and "-" (raysift's default: "•" and "-", as datatrove)
    )
    gr_cfg = gr.Config(
        max_duplicate_lines=thresholds["fraction_of_duplicate_lines", ">"],
        max_duplicate_line_chars=thresholds["fraction_of_characters_in_duplicate_lines", ">"],
        max_duplicate_paragraphs=None,  # dolma has no paragraph rules
        max_duplicate_paragraph_chars=None,
        **{f"max_top_{n}gram_share": thresholds[f"fraction_of_characters_in_most_common_{n}grams", ">"] for n in (2, 3, 4)},
        **{f"max_duplicate_{n}gram_share": thresholds[f"fraction_of_characters_in_duplicate_{n}grams", ">"]
           for n in range(5, 11)},
    )
    badwords_dir.mkdir(parents=True, exist_ok=True)
    (badwords_dir / "en.txt").write_text("\n".join(naughty_lines) + "\n", encoding="utf-8")
    off = c4.Config(
        remove_citations=False, terminal_punct=None, drop_ellipsis_lines=False, min_words_per_line=None,
        max_word_length=None, drop_javascript_lines=False, policy_phrases=(), drop_lorem_ipsum=False,
        drop_curly_bracket=False, min_sentences=None, drop_no_lines_left=False, bad_words=False,
        badwords_dir=str(badwords_dir),
    )
    eol = tuple(sorted(eol))
    only = {
        "no_punct_lines": dataclasses.replace(off, terminal_punct=eol),
        "few_words_lines": dataclasses.replace(off, min_words_per_line=min_words_per_line),
        "lorem_ipsum": dataclasses.replace(off, drop_lorem_ipsum=True),
        "curly_bracket": dataclasses.replace(off, drop_curly_bracket=True),
        "javascript": dataclasses.replace(off, drop_javascript_lines=True),
        "bad_words": dataclasses.replace(off, bad_words=True),
    }
    # The mixer keeps a document whose every line was removed (as an empty text): no_lines_left off.
    full = dataclasses.replace(
        off, terminal_punct=eol, min_words_per_line=min_words_per_line, drop_lorem_ipsum=True,
        drop_curly_bracket=True, drop_javascript_lines=True, bad_words=True,
    )
    return QualitySetup(
        gq=gq_cfg, gr=gr_cfg, c4_full=full, c4_only=only, stop_words=frozenset(stop_words),
        symbols=tuple(sorted(symbols)), bullets=bullets, eol=eol, min_words_per_line=min_words_per_line,
        # as c4_v1 splits its list: single words are matched as words, entries with a space as substrings
        naughty_words=frozenset(w for w in naughty_lines if " " not in w),
        naughty_phrases=tuple(sorted(w for w in naughty_lines if " " in w)),
        gq_dolma=dataclasses.replace(gq_cfg, count="dolma"), gr_dolma=dataclasses.replace(gr_cfg, count="dolma"),
        c4_full_dolma=dataclasses.replace(full, count="dolma"),
        c4_only_dolma={k: dataclasses.replace(v, count="dolma") for k, v in only.items()},
    )


class Doc:
    """One text, its dolma attributes and mixer outcome, and raysift's measurements (computed once)."""

    def __init__(self, index: int, source: str, text: str, setup: QualitySetup, attrs: dict, kept: dict[str, str | None]):
        self.index, self.source, self.text, self.setup = index, source, text, setup
        self.attrs = attrs  # dolma tagger output of this document, keyed without the experiment prefix
        self.kept = kept  # per mixer stream: the output text, or None when the mixer dropped the document
        self._c4_only: dict[str, tuple[c4.Stats, str]] = {}

    def attr(self, tagger: str, name: str) -> list | None:
        return self.attrs.get(f"{tagger}__{name}")

    @functools.cached_property
    def ws(self) -> list[str]:
        return self.text.split()

    @functools.cached_property
    def ws_chars(self) -> int:
        return sum(len(w) for w in self.ws)

    @functools.cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @functools.cached_property
    def gq(self) -> gq.Stats:
        return gq.measure(self.text, self.setup.gq)

    @functools.cached_property
    def gr(self) -> gr.Stats:
        return gr.measure(self.text, self.setup.gr)

    @functools.cached_property
    def c4_full(self) -> tuple[c4.Stats, str]:
        return c4.measure_and_clean(self.text, self.setup.c4_full)

    @functools.cached_property
    def gq_dolma(self) -> gq.Stats:
        return gq.measure(self.text, self.setup.gq_dolma)

    @functools.cached_property
    def gr_dolma(self) -> gr.Stats:
        return gr.measure(self.text, self.setup.gr_dolma)

    @functools.cached_property
    def c4_full_dolma(self) -> tuple[c4.Stats, str]:
        return c4.measure_and_clean(self.text, self.setup.c4_full_dolma)

    def c4_only_dolma(self, rule: str) -> tuple[c4.Stats, str]:
        """raysift's ``count: dolma`` C4 measurement with only ``rule`` on."""
        key = f"dolma:{rule}"
        if key not in self._c4_only:
            self._c4_only[key] = c4.measure_and_clean(self.text, self.setup.c4_only_dolma[rule])
        return self._c4_only[key]

    def c4_only(self, rule: str) -> tuple[c4.Stats, str]:
        """raysift's C4 measurement and cleaned text with only ``rule`` on (``QualitySetup.c4_only``)."""
        if rule not in self._c4_only:
            self._c4_only[rule] = c4.measure_and_clean(self.text, self.setup.c4_only[rule])
        return self._c4_only[rule]


Value = tuple[Any, Any]  # (what is compared, what is shown in examples)
Step = tuple[str, Callable[[Doc], Value]]


@dataclass(frozen=True)
class Rule:
    """One rule both implement: dolma's outcome, then a chain from dolma's counting to raysift's.

    ``steps[0]`` re-computes dolma's outcome from the text; each later step undoes one named
    difference (a key of :data:`CLASSES`); the last step is raysift's own outcome. A disagreement
    is put in the class(es) of the steps where the outcome changes along the chain.
    """

    name: str
    tagger: str
    dolma_rule: str
    raysift_rule: str
    same_definition: bool
    dolma: Callable[[Doc], Value]
    steps: tuple[Step, ...]
    applies: Callable[[Doc], bool] = lambda d: True
    outcome_words: tuple[str, str] = ("fires", "does not fire")


def _fmt(x: Any) -> Any:
    return round(x, 4) if isinstance(x, float) else x


def _show(x: Any) -> Any:
    """A compared or measured value as examples show it (a tuple of lines by its length)."""
    return f"{len(x)} lines" if isinstance(x, tuple) else _fmt(x)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _gopher_attr(name: str, *conds: tuple[str, float]) -> Callable[[Doc], Value]:
    """dolma's decision from the tagger's attribute, as the mixer applies the filter."""

    def get(d: Doc) -> Value:
        spans = d.attr(GOPHER_TAGGER, name)
        if not spans:
            return False, None
        value = spans[0][2]
        return any(_cmp(value, op, thr) for op, thr in conds), _fmt(value)

    return get


def _gopher_conds(rule: str) -> list[tuple[str, float]]:
    return [(op, thr) for r, _, op, thr in GOPHER_FILTERS if r == rule]


def _attr_name(rule: str) -> str:
    return next(attr for r, attr, _, _ in GOPHER_FILTERS if r == rule)


def _decide(rule: str, value: float | None) -> Value:
    """dolma's thresholds of ``rule`` applied to a re-computed ``value`` (rounded as dolma writes it)."""
    if value is None:
        return False, None
    value = _round(value)
    return any(_cmp(value, op, thr) for op, thr in _gopher_conds(rule)), _fmt(value)


def _ngrams(words: list[str] | tuple[str, ...], n: int) -> Counter:
    return Counter(zip(*[words[i:] for i in range(n)]))


def _walk_chars(words: list[str] | tuple[str, ...], n: int) -> int:
    """datatrove's duplicate n-gram walk: a seen n-gram adds its characters and jumps n words."""
    seen: set[tuple[str, ...]] = set()
    total = i = 0
    while i <= len(words) - n:
        gram = tuple(words[i : i + n])
        if gram in seen:
            total += sum(len(w) for w in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return total


def gopher_rules(s: QualitySetup) -> list[Rule]:
    """The gopher_v1 rules of the mixer filter, each with its chain from dolma's to raysift's counting."""
    q, r = s.gq, s.gr

    def rule(name: str, raysift_rule: str, same: bool, steps: list[Step]) -> Rule:
        conds = _gopher_conds(name)
        dolma_rule = f"`{_attr_name(name)}` " + " or ".join(f"{op} {thr:g}" for op, thr in conds)
        return Rule(name, GOPHER_TAGGER, dolma_rule, raysift_rule, same, _gopher_attr(_attr_name(name), *conds),
                    tuple(steps))

    def share(count: Callable[[str], bool], words: list[str] | tuple[str, ...]) -> float:
        return _ratio(sum(1 for w in words if count(w)), len(words))

    def mean_len(words: list[str]) -> float | None:
        return sum(map(len, words)) / len(words) if words else None  # raysift: no rule without words

    rules = [
        rule("word_count", f"non-symbol words < {q.min_words} or > {q.max_words}", False, [
            ("reimplementation", lambda d: _decide("word_count", len(d.ws))),
            ("non_symbol_words", lambda d: _decide("word_count", sum(1 for w in d.ws if not is_symbol_token(w)))),
            ("spacy_tokens", lambda d: (d.gq.n_words < q.min_words or d.gq.n_words > q.max_words, d.gq.n_words)),
        ]),
        rule("word_length", f"mean non-symbol word length < {q.min_mean_word_length:g} or > "
             f"{q.max_mean_word_length:g}", False, [
            ("reimplementation", lambda d: _decide("word_length", statistics.median(map(len, d.ws)) if d.ws else 0.0)),
            ("mean_not_median", lambda d: _decide("word_length", _ratio(d.ws_chars, len(d.ws)))),
            ("non_symbol_words", lambda d: _decide("word_length",
                                                   mean_len([w for w in d.ws if not is_symbol_token(w)]))),
            ("spacy_tokens", lambda d: (
                d.gq.mean_word_length is not None
                and not q.min_mean_word_length <= d.gq.mean_word_length <= q.max_mean_word_length,
                _fmt(d.gq.mean_word_length))),
        ]),
        rule("symbol_ratio", f"`#` / tokens > {q.max_hash_ratio:g} or (`...` + `…`) / tokens > "
             f"{q.max_ellipsis_ratio:g}", False, [
            ("reimplementation", lambda d: _decide("symbol_ratio", share(lambda w: any(c in w for c in s.symbols), d.ws))),
            ("per_symbol", lambda d: _decide("symbol_ratio", max(share(lambda w: c in w, d.ws) for c in s.symbols))),
            ("symbol_occurrences", lambda d: _decide("symbol_ratio", max(_ratio(d.text.count(c), len(d.ws))
                                                                          for c in s.symbols))),
            ("three_dot_ellipsis", lambda d: _decide("symbol_ratio", max(
                _ratio(d.text.count("#"), len(d.ws)), _ratio(d.text.count("...") + d.text.count("…"), len(d.ws))))),
            ("spacy_tokens", lambda d: (d.gq.hash_ratio > q.max_hash_ratio or d.gq.ellipsis_ratio > q.max_ellipsis_ratio,
                                        _fmt(max(d.gq.hash_ratio, d.gq.ellipsis_ratio)))),
        ]),
        rule("alpha_words", f"tokens with a letter / tokens < {q.min_alpha_words_ratio:g}", False, [
            ("reimplementation", lambda d: _decide("alpha_words", share(lambda w: any(c.isalpha() for c in w), d.ws))),
            ("spacy_tokens", lambda d: (d.gq.alpha_words_ratio is not None
                                        and d.gq.alpha_words_ratio < q.min_alpha_words_ratio,
                                        _fmt(d.gq.alpha_words_ratio))),
        ]),
        rule("stop_words", f"stop-word occurrences < {q.min_stop_words} (`stop_word_count: occurrences`)", False, [
            ("reimplementation", lambda d: _decide("stop_words", sum(1 for w in d.ws if w in s.stop_words))),
            ("spacy_tokens", lambda d: (d.gq.stop_word_occurrences < q.min_stop_words, d.gq.stop_word_occurrences)),
        ]),
        rule("bullet_lines", f"lines starting with {' or '.join(f'`{b}`' for b in q.bullets)} (after leading "
             f"whitespace) / lines > {q.max_bullet_lines_ratio:g} (`bullets` set to dolma's)", True, [
            ("reimplementation", lambda d: _decide("bullet_lines", share(lambda ln: ln.startswith(s.bullets), d.lines))),
            ("splitlines", lambda d: _decide("bullet_lines", share(lambda ln: ln.startswith(s.bullets),
                                                                   d.text.splitlines()))),
            ("leading_whitespace", lambda d: (d.gq.bullet_lines_ratio > q.max_bullet_lines_ratio,
                                              _fmt(d.gq.bullet_lines_ratio))),
        ]),
        rule("ellipsis_lines", f"lines ending with `...` or `…` / lines > {q.max_ellipsis_lines_ratio:g}", False, [
            ("reimplementation", lambda d: _decide("ellipsis_lines", share(lambda ln: ln.endswith("…"), d.lines))),
            ("three_dot_ellipsis", lambda d: _decide("ellipsis_lines", share(lambda ln: ln.endswith(("...", "…")),
                                                                             d.lines))),
            ("splitlines", lambda d: _decide("ellipsis_lines", share(lambda ln: ln.endswith(("...", "…")),
                                                                     d.text.splitlines()))),
            ("trailing_whitespace", lambda d: (d.gq.ellipsis_lines_ratio > q.max_ellipsis_lines_ratio,
                                               _fmt(d.gq.ellipsis_lines_ratio))),
        ]),
    ]

    def dup_lines_dolma(d: Doc) -> float:
        counts = Counter(d.lines)
        return _ratio(sum(c for c in counts.values() if c > 1), len(d.lines))

    def dup_line_chars(d: Doc, first: bool) -> float:
        counts = Counter(d.lines)
        return _ratio(sum(len(ln) * (c if first else c - 1) for ln, c in counts.items() if c > 1), d.ws_chars)

    rules += [
        rule("duplicate_lines", f"lines equal to an earlier line / lines > {r.max_duplicate_lines:g} (lines: split "
             "on runs of newlines)", False, [
            ("reimplementation", lambda d: _decide("duplicate_lines", dup_lines_dolma(d))),
            ("first_occurrence", lambda d: _decide("duplicate_lines", _ratio(len(d.lines) - len(set(d.lines)),
                                                                             len(d.lines)))),
            ("empty_lines", lambda d: (d.gr.duplicate_lines > r.max_duplicate_lines, _fmt(d.gr.duplicate_lines))),
        ]),
        rule("duplicate_line_chars", f"characters of lines equal to an earlier line / text length > "
             f"{r.max_duplicate_line_chars:g} (`max_duplicate_line_chars` set to dolma's)", False, [
            ("reimplementation", lambda d: _decide("duplicate_line_chars", dup_line_chars(d, True))),
            ("first_occurrence", lambda d: _decide("duplicate_line_chars", dup_line_chars(d, False))),
            ("text_length", lambda d: (d.gr.duplicate_line_chars > r.max_duplicate_line_chars,
                                       _fmt(d.gr.duplicate_line_chars))),
        ]),
    ]

    def top_dolma(d: Doc, n: int) -> float | None:
        grams = _ngrams(d.ws, n)
        if not grams:
            return None  # dolma writes no attribute: the rule cannot fire
        gram, count = grams.most_common(1)[0]
        return count * sum(len(w) for w in gram) / max(d.ws_chars, 1)

    def top_spaced(d: Doc, n: int) -> float | None:
        grams = _ngrams(d.ws, n)
        if not grams:
            return None
        gram, count = grams.most_common(1)[0]
        return _ratio(count * (sum(len(w) for w in gram) + n - 1), len(d.text))

    for n in (2, 3, 4):
        limit = getattr(r, f"max_top_{n}gram_share")
        rules.append(rule(f"top_{n}gram", f"top {n}-gram's characters (with spaces) x count / text length > "
                          f"{limit:g}", False, [
            ("reimplementation", lambda d, n=n: _decide(f"top_{n}gram", top_dolma(d, n))),
            ("spaces_and_text_length", lambda d, n=n: _decide(f"top_{n}gram", top_spaced(d, n))),
            ("spacy_tokens", lambda d, n=n, limit=limit: (getattr(d.gr, f"top_{n}gram_share") > limit,
                                                          _fmt(getattr(d.gr, f"top_{n}gram_share")))),
        ]))

    def dup_dolma(d: Doc, n: int) -> float | None:
        grams = _ngrams(d.ws, n)
        if not grams:
            return None
        chars = {g: sum(len(w) for w in g) for g in grams}
        total = sum(c * chars[g] for g, c in grams.items())
        return sum(c * chars[g] for g, c in grams.items() if c > 1) / max(total, 1)

    for n in range(5, 11):
        limit = getattr(r, f"max_duplicate_{n}gram_share")
        rules.append(rule(f"duplicate_{n}grams", f"characters of repeated {n}-grams (datatrove's walk) / text "
                          f"length > {limit:g}", False, [
            ("reimplementation", lambda d, n=n: _decide(f"duplicate_{n}grams", dup_dolma(d, n))),
            ("non_overlapping_repeats", lambda d, n=n: _decide(f"duplicate_{n}grams",
                                                               _ratio(_walk_chars(d.ws, n), len(d.text))
                                                               if len(d.ws) >= n else None)),
            ("spacy_tokens", lambda d, n=n, limit=limit: (getattr(d.gr, f"duplicate_{n}gram_share") > limit,
                                                          _fmt(getattr(d.gr, f"duplicate_{n}gram_share")))),
        ]))
    return rules


def _dolma_line_ok(line: str, s: QualitySetup) -> tuple[bool, bool]:
    """c4_v1's two line checks: (ends with its punctuation, has enough words)."""
    low = line.lower().strip()
    return low.endswith(s.eol), len(low.split()) >= s.min_words_per_line


def _dolma_naughty(lines: list[str], s: QualitySetup) -> str | None:
    """c4_v1's naughty-word check on ``lines``: the first word or phrase found, or None."""
    for line in lines:
        low = line.lower().strip()
        word = next((w for w in low.split() if w in s.naughty_words), None)
        if word is None:
            word = next((p for p in s.naughty_phrases if p in low), None)
        if word is not None:
            return word
    return None


def _raysift_naughty(text: str, s: QualitySetup) -> str | None:
    pattern = c4.badwords_regex("en", s.c4_full.badwords_dir)
    found = pattern.search(text.lower()) if pattern else None
    return found.group() if found else None


def _c4_keep_chain(d: Doc, *, js_lines: bool, kept_scope: bool, boundaries: bool) -> Value:
    """C4 keep/drop from the text, dolma's way or raysift's way per difference (lines split on ``\\n``)."""
    s = d.setup
    kept: list[str] = []
    flags = {"lorem": False, "curly": False, "javascript": False}
    for raw in d.lines:
        line = raw.strip()
        low = line.lower()
        punct, words = _dolma_line_ok(raw, s)
        if not kept_scope:  # dolma: flags on every line
            flags["lorem"] |= "lorem ipsum" in low
            flags["curly"] |= "{" in low
            flags["javascript"] |= not js_lines and "javascript" in low.split()
        if not (punct and words):
            continue
        if kept_scope and "lorem ipsum" in low:
            flags["lorem"] = True
            continue
        if js_lines and "javascript" in low:
            continue
        if kept_scope and "{" in line:
            flags["curly"] = True
            continue
        kept.append(line)
    scope = kept if kept_scope else d.lines
    bad = _raysift_naughty("\n".join(scope).strip(), s) if boundaries else _dolma_naughty(scope, s)
    drop = any(flags.values()) or bad is not None
    shown = [k for k, v in flags.items() if v] + ([f"bad word {bad!r}"] if bad else [])
    return not drop, ", ".join(shown) or "-"


def _c4_kept_lines(d: Doc, *, js_lines: bool) -> Value:
    s = d.setup
    out = []
    for raw in d.lines:
        punct, words = _dolma_line_ok(raw, s)
        if punct and words and not (js_lines and "javascript" in raw.lower()):
            out.append(raw.strip())
    return tuple(out), len(out)


def _normal_lines(text: str) -> tuple[str, ...]:
    return tuple(ln.strip() for ln in text.split("\n") if ln.strip())


def c4_rules(s: QualitySetup) -> list[Rule]:
    """The c4_v1 attributes the mixer uses, each rule with its chain; then the keep/drop and the text."""

    def flag(name: str) -> Callable[[Doc], Value]:
        return lambda d: (bool(d.attr(C4_TAGGER, name)), bool(d.attr(C4_TAGGER, name)))

    def lines_left(name: str) -> Callable[[Doc], Value]:
        """The text's lines (stripped, blank ones left out) once the tagger's spans of ``name`` are cut out."""
        def get(d: Doc) -> Value:
            pieces, at = [], 0
            for start, end, _ in sorted(d.attr(C4_TAGGER, name) or []):
                pieces.append(d.text[at:start])
                at = max(at, end)
            left = _normal_lines("".join(pieces) + d.text[at:])
            return left, left
        return get

    def dolma_lines_left(d: Doc, check: int) -> Value:
        left = tuple(ln.strip() for ln in d.lines if ln.strip() and _dolma_line_ok(ln, s)[check])
        return left, left

    def raysift_lines_left(d: Doc, rule: str) -> Value:
        left = _normal_lines(d.c4_only(rule)[1])
        return left, left

    def any_line(test: Callable[[str], bool]) -> Callable[[Doc], Value]:
        def get(d: Doc, split: bool = False) -> Value:
            hit = any(test(ln.lower().strip()) for ln in (d.text.splitlines() if split else d.lines))
            return hit, hit
        return get

    def both(v: Any) -> Value:
        return v, v

    punct = " ".join(f"`{p}`" for p in s.eol)
    return [
        Rule("no_punct_lines", C4_TAGGER, f"`lines_with_no_ending_punctuation` (lines not ending with {punct}) "
             "removed", f"`terminal_punct` = ({punct}), `drop_ellipsis_lines: false` (the rule alone)", True,
             lines_left("lines_with_no_ending_punctuation"), (
                 ("reimplementation", lambda d: dolma_lines_left(d, 0)),
                 ("splitlines", lambda d: raysift_lines_left(d, "no_punct_lines")),
             )),
        Rule("few_words_lines", C4_TAGGER, f"`lines_with_too_few_words` (< {s.min_words_per_line} words) removed",
             f"`min_words_per_line: {s.c4_full.min_words_per_line}` (the rule alone)", True,
             lines_left("lines_with_too_few_words"), (
                 ("reimplementation", lambda d: dolma_lines_left(d, 1)),
                 ("splitlines", lambda d: raysift_lines_left(d, "few_words_lines")),
             )),
        Rule("lorem_ipsum", C4_TAGGER, "`has_lorem_ipsum` (a line contains `lorem ipsum`)",
             "a line contains `lorem ipsum` (the rule alone, every line)", True, flag("has_lorem_ipsum"), (
                 ("reimplementation", any_line(lambda ln: "lorem ipsum" in ln)),
                 ("splitlines", lambda d: both(d.c4_only("lorem_ipsum")[0].lorem_ipsum)),
             )),
        Rule("curly_bracket", C4_TAGGER, "`has_curly_brace` (a line contains `{`)",
             "a line contains `{` (the rule alone, every line)", True, flag("has_curly_brace"), (
                 ("reimplementation", any_line(lambda ln: "{" in ln)),
                 ("splitlines", lambda d: both(d.c4_only("curly_bracket")[0].curly_bracket)),
             )),
        Rule("javascript", C4_TAGGER, "`has_javascript` (a line has the word `javascript`)",
             "a line contains `javascript` (the rule alone, every line)", False, flag("has_javascript"), (
                 ("reimplementation", any_line(lambda ln: "javascript" in ln.split())),
                 ("javascript_substring", any_line(lambda ln: "javascript" in ln)),
                 ("splitlines", lambda d: both(d.c4_only("javascript")[0].removed_javascript > 0)),
             )),
        Rule("bad_words", C4_TAGGER, "`has_naughty_word` (dolma's `naughty_words_en.txt`)",
             "a bad word in the text (the rule alone, with `badwords_dir` = dolma's list)", False,
             flag("has_naughty_word"), (
                 ("reimplementation", lambda d: (_dolma_naughty(d.lines, s) is not None, _dolma_naughty(d.lines, s))),
                 ("word_boundaries", lambda d: (d.c4_only("bad_words")[0].bad_words,
                                                _raysift_naughty("\n".join(ln.strip() for ln in d.text.splitlines()),
                                                                 s))),
             )),
        Rule("decision", C4_TAGGER, "kept by the mixer: no `has_curly_brace`, `has_lorem_ipsum`, `has_javascript` or "
             "`has_naughty_word`", "`c4.decide` is None with the line rules above, `drop_no_lines_left: false`, "
             "`min_sentences: null`, no citation, policy or long-word rules", False,
             lambda d: (d.kept["c4"] is not None, "kept" if d.kept["c4"] is not None else "dropped"), (
                 ("reimplementation", lambda d: _c4_keep_chain(d, js_lines=False, kept_scope=False, boundaries=False)),
                 ("javascript_removes_lines", lambda d: _c4_keep_chain(d, js_lines=True, kept_scope=False,
                                                                       boundaries=False)),
                 ("checks_on_kept_lines", lambda d: _c4_keep_chain(d, js_lines=True, kept_scope=True, boundaries=False)),
                 ("word_boundaries", lambda d: _c4_keep_chain(d, js_lines=True, kept_scope=True, boundaries=True)),
                 ("splitlines", lambda d: (c4.decide(d.c4_full[0], s.c4_full) is None,
                                           c4.decide(d.c4_full[0], s.c4_full) or "-")),
             ), outcome_words=("keeps", "drops")),
        Rule("cleaned_text", C4_TAGGER, "the mixer's output text (lines flagged by either line rule removed), "
             "lines stripped", "`c4.clean`'s text, lines stripped", False,
             lambda d: (_normal_lines(d.kept["c4"]), len(_normal_lines(d.kept["c4"]))), (
                 ("reimplementation", lambda d: _c4_kept_lines(d, js_lines=False)),
                 ("javascript_removes_lines", lambda d: _c4_kept_lines(d, js_lines=True)),
                 ("splitlines", lambda d: (_normal_lines(d.c4_full[1]), len(_normal_lines(d.c4_full[1])))),
             ),
             applies=lambda d: d.kept["c4"] is not None and c4.decide(d.c4_full[0], d.setup.c4_full) is None),
    ]


def dolma_mode_rules(s: QualitySetup, paper: list[Rule]) -> list[Rule]:
    """The rules of ``paper`` with raysift's ``count: dolma`` outcome as the one step (dolma's side unchanged).

    Any disagreement is then ``count_dolma``: unexplained, as this mode is meant to count exactly as dolma.
    """
    q, r = s.gq_dolma, s.gr_dolma

    def out(fires: bool, value: Any) -> Value:
        return bool(fires), _fmt(value)

    def over(stats: str, field: str, limit: float) -> Callable[[Doc], Value]:
        return lambda d: out(getattr(getattr(d, stats), field) > limit, getattr(getattr(d, stats), field))

    def lines(rule: str) -> Callable[[Doc], Value]:
        def get(d: Doc) -> Value:
            left = _normal_lines(d.c4_only_dolma(rule)[1])
            return left, left
        return get

    def flag(rule: str, field: str) -> Callable[[Doc], Value]:
        return lambda d: out(getattr(d.c4_only_dolma(rule)[0], field), getattr(d.c4_only_dolma(rule)[0], field))

    def c4_keeps(d: Doc) -> bool:
        return c4.decide(d.c4_full_dolma[0], s.c4_full_dolma) is None

    ours: dict[str, Callable[[Doc], Value]] = {
        "word_count": lambda d: out(not q.min_words <= d.gq_dolma.n_words <= q.max_words, d.gq_dolma.n_words),
        "word_length": lambda d: out(not q.min_mean_word_length <= d.gq_dolma.mean_word_length <= q.max_mean_word_length,
                                     d.gq_dolma.mean_word_length),
        "symbol_ratio": over("gq_dolma", "hash_ratio", q.max_hash_ratio),
        "alpha_words": lambda d: out(d.gq_dolma.alpha_words_ratio < q.min_alpha_words_ratio, d.gq_dolma.alpha_words_ratio),
        "stop_words": lambda d: out(d.gq_dolma.stop_word_occurrences < q.min_stop_words, d.gq_dolma.stop_word_occurrences),
        "bullet_lines": over("gq_dolma", "bullet_lines_ratio", q.max_bullet_lines_ratio),
        "ellipsis_lines": over("gq_dolma", "ellipsis_lines_ratio", q.max_ellipsis_lines_ratio),
        "duplicate_lines": over("gr_dolma", "duplicate_lines", r.max_duplicate_lines),
        "duplicate_line_chars": over("gr_dolma", "duplicate_line_chars", r.max_duplicate_line_chars),
        **{f"top_{n}gram": over("gr_dolma", f"top_{n}gram_share", getattr(r, f"max_top_{n}gram_share")) for n in (2, 3, 4)},
        **{f"duplicate_{n}grams": over("gr_dolma", f"duplicate_{n}gram_share", getattr(r, f"max_duplicate_{n}gram_share"))
           for n in range(5, 11)},
        "no_punct_lines": lines("no_punct_lines"),
        "few_words_lines": lines("few_words_lines"),
        "lorem_ipsum": flag("lorem_ipsum", "lorem_ipsum"),
        "curly_bracket": flag("curly_bracket", "curly_bracket"),
        "javascript": flag("javascript", "removed_javascript"),
        "bad_words": flag("bad_words", "bad_words"),
        "decision": lambda d: (c4_keeps(d), c4.decide(d.c4_full_dolma[0], s.c4_full_dolma) or "-"),
        "cleaned_text": lambda d: (_normal_lines(d.c4_full_dolma[1]), len(_normal_lines(d.c4_full_dolma[1]))),
    }
    modes = []
    for rule in paper:
        applies = rule.applies
        if rule.name == "cleaned_text":
            applies = lambda d: d.kept["c4"] is not None and c4_keeps(d)  # noqa: E731
        modes.append(dataclasses.replace(rule, raysift_rule="`count: dolma`", same_definition=True,
                                         steps=(("count_dolma", ours[rule.name]),), applies=applies))
    return modes


def gopher_keeps_dolma_mode(d: Doc) -> bool:
    """raysift's Gopher keep/drop with ``count: dolma``."""
    s = d.setup
    return gq.decide(d.gq_dolma, s.gq_dolma) is None and gr.decide(d.gr_dolma, s.gr_dolma) is None


def bridge(rule: Rule, doc: Doc) -> tuple[bool, str | None, list]:
    """(agree, class, chain): the class names the steps where the outcome changes from dolma's to raysift's."""
    theirs = rule.dolma(doc)
    ours = rule.steps[-1][1](doc)
    if theirs[0] == ours[0]:
        return True, None, []
    chain = [("dolma", *theirs)] + [(name, *fn(doc)) for name, fn in rule.steps[:-1]] + [(rule.steps[-1][0], *ours)]
    changed = [chain[k][0] for k in range(1, len(chain)) if chain[k][1] != chain[k - 1][1]]
    cls = "reimplementation" if "reimplementation" in changed else "+".join(changed)
    shown = [(name, _show_lines(outcome, chain[0][1]) if isinstance(outcome, tuple) else _show(outcome), _show(value))
             for name, outcome, value in chain]
    return False, cls, shown


def _show_lines(lines: tuple[str, ...], dolma: tuple[str, ...]) -> str:
    """Lines left, with one line that dolma's side lacks (+) or has (-), for the examples."""
    mine, theirs = set(lines), set(dolma)
    extra = next((ln for ln in lines if ln not in theirs), None)
    missing = next((ln for ln in dolma if ln not in mine), None)
    diff = f" +{extra[:50]!r}" if extra is not None else ""
    diff += f" -{missing[:50]!r}" if missing is not None else ""
    return f"{len(lines)} lines{diff}"


def run_dolma_quality(texts: list[str], root: Path, processes: int) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """``dolma tag`` with gopher_v1 and c4_v1, and ``dolma mix`` with Dolma's Gopher and C4 filters.

    Returns each document's attributes (without the experiment prefix) and, per stream, the kept
    documents' output text by id.
    """
    docs = root / "documents" / "*.jsonl.gz"
    if not (root / "documents").is_dir():
        (root / "documents").mkdir(parents=True)
        with gzip.open(root / "documents" / "part-0.jsonl.gz", "wt", encoding="utf-8") as f:
            for i, text in enumerate(texts):
                f.write(json.dumps({"id": str(i), "text": text, "source": "parity"}) + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    quiet = {"check": True, "cwd": root, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    subprocess.run([*_dolma_cli(), "tag", "--documents", str(docs), "--taggers", GOPHER_TAGGER, C4_TAGGER,
                    "--experiment", QUALITY_EXPERIMENT, "--processes", str(processes)], **quiet)
    prefix = f"{QUALITY_EXPERIMENT}__"
    with gzip.open(root / "attributes" / QUALITY_EXPERIMENT / "part-0.jsonl.gz", "rt", encoding="utf-8") as f:
        attributes = [{k[len(prefix):]: v for k, v in json.loads(line)["attributes"].items()} for line in f]

    def expr(tagger: str, name: str, op: str, thr: float) -> str:
        a = ATTR.format(tagger=tagger, name=name)
        return f"$.attributes[?(@.{a} && @.{a}[0] && @.{a}[0][2] {op} {thr})]"

    def stream(name: str, exclude: list[str], replace: tuple[str, ...] = ()) -> dict:
        return {
            "name": name, "documents": [str(docs)], "attributes": [QUALITY_EXPERIMENT],
            "output": {"path": str(root / "out" / name), "max_size_in_bytes": 1 << 40, "discard_fields": ["attributes"]},
            "filter": {"include": [], "exclude": exclude},
            "span_replacement": [{"span": f"$.attributes.{ATTR.format(tagger=C4_TAGGER, name=n)}", "min_score": 0.5,
                                  "replacement": ""} for n in replace],
        }

    streams = [
        stream("gopher", [expr(GOPHER_TAGGER, attr, op, thr) for _, attr, op, thr in GOPHER_FILTERS]),
        stream("c4", [expr(C4_TAGGER, flag, ">", 0.5) for flag in C4_EXCLUDE], C4_REMOVE_LINES),
    ]
    mix = {"streams": streams, "work_dir": {"input": str(root / "work-in-q"), "output": str(root / "work-out-q")},
           "processes": 1}
    (root / "mix-quality.json").write_text(json.dumps(mix), encoding="utf-8")
    subprocess.run([*_dolma_cli(), "-c", str(root / "mix-quality.json"), "mix"], **quiet)
    kept: dict[str, dict[str, str]] = {}
    for s in streams:
        kept[s["name"]] = {}
        for path in sorted((root / "out" / s["name"]).glob("*.json.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    kept[s["name"]][row["id"]] = row["text"]
    return attributes, kept


def _summarise_rule(rule: Rule, docs: list[Doc], examples: int) -> dict:
    """Agreement of one rule over ``docs``, its disagreements by class, and examples of each class.

    ``dolma_fires`` / ``raysift_fires``: documents with the outcome ``outcome_words[0]`` on each
    side (None for rules compared as texts).
    """
    agree = total = 0
    dolma_fires: int | None = 0
    raysift_fires: int | None = 0
    classes: Counter = Counter()
    samples: dict[str, list] = {}
    disagreeing: list[int] = []
    for d in docs:
        if not rule.applies(d):
            continue
        total += 1
        ok, cls, chain = bridge(rule, d)
        theirs = rule.dolma(d)[0]
        if isinstance(theirs, bool) and dolma_fires is not None and raysift_fires is not None:
            dolma_fires += theirs
            raysift_fires += bool(rule.steps[-1][1](d)[0])
        else:
            dolma_fires = raysift_fires = None
        if ok:
            agree += 1
            continue
        disagreeing.append(d.index)
        classes[cls] += 1
        if len(samples.setdefault(cls, [])) < examples:
            samples[cls].append({"doc": d.index, "source": d.source, "chain": chain})
    return {
        "rule": rule.name,
        "tagger": rule.tagger,
        "dolma_rule": rule.dolma_rule,
        "raysift_rule": rule.raysift_rule,
        "same_definition": rule.same_definition,
        "outcome_words": list(rule.outcome_words),
        "documents": total,
        "agree": agree,
        "agreement": agree / total if total else 1.0,
        "dolma_fires": dolma_fires,
        "raysift_fires": raysift_fires,
        "disagreement_classes": dict(classes.most_common()),
        "unexplained": sum(c for k, c in classes.items()
                           if k in ("reimplementation", "unexplained", "count_dolma") or not k),
        "examples": samples,
        "disagreeing_docs": disagreeing,
    }


def compare_quality(texts: list[tuple[str, str]], attributes: list[dict], kept: dict[str, dict[str, str]],
                    setup: QualitySetup, examples: int) -> dict:
    """Per-rule agreement of raysift's Gopher and C4 stages with dolma's gopher_v1 and c4_v1 (tagger + mixer)."""
    docs = [Doc(i, src, text, setup, attributes[i], {k: v.get(str(i)) for k, v in kept.items()})
            for i, (src, text) in enumerate(texts)]
    t0 = time.process_time()
    for d in docs:
        _ = d.gq, d.gr
    gopher_seconds = time.process_time() - t0
    t0 = time.process_time()
    for d in docs:
        _ = d.c4_full
    c4_seconds = time.process_time() - t0
    g_rules, c_rules = gopher_rules(setup), c4_rules(setup)
    gopher = [_summarise_rule(rule, docs, examples) for rule in g_rules]
    c4_res = [_summarise_rule(rule, docs, examples) for rule in c_rules]

    # The Gopher keep/drop: dolma's mixer vs raysift's two stages; every disagreement must come with
    # a disagreement of a rule the dropping side applies.
    by_rule = {res["rule"]: set(res["disagreeing_docs"]) for res in gopher}
    fired = {rule.name: rule for rule in g_rules}
    agree, combos, mixer_mismatch, verbatim_keeps = 0, Counter(), 0, 0
    for d in docs:
        dolma_kept = d.kept["gopher"] is not None
        dolma_rules = [name for name, rule in fired.items() if rule.dolma(d)[0]]
        if dolma_kept == (not dolma_rules):
            if dolma_rules and all(name.startswith("top_") for name in dolma_rules):
                verbatim_keeps += 1
        else:
            mixer_mismatch += 1
        ours_kept = gq.decide(d.gq, setup.gq) is None and gr.decide(d.gr, setup.gr) is None
        if dolma_kept == ours_kept:
            agree += 1
            continue
        dropping = dolma_rules if not dolma_kept else [name for name, rule in fired.items() if rule.steps[-1][1](d)[0]]
        explained = [name for name in dropping if d.index in by_rule[name]]
        combos["+".join(explained) if explained else "unexplained"] += 1
    n = len(docs)
    decision = {
        "documents": n,
        "agree": agree,
        "agreement": agree / n,
        "dolma_drops": sum(d.kept["gopher"] is None for d in docs),
        "raysift_drops": sum(not (gq.decide(d.gq, setup.gq) is None and gr.decide(d.gr, setup.gr) is None) for d in docs),
        "disagreements_by_rules": dict(combos.most_common()),
        "unexplained": combos["unexplained"] + mixer_mismatch,
        "mixer_mismatch": mixer_mismatch,
        "verbatim_config_keeps": verbatim_keeps,
    }
    # raysift with count: dolma, against the same dolma outputs
    t0 = time.process_time()
    for d in docs:
        _ = d.gq_dolma, d.gr_dolma
    gopher_dolma_seconds = time.process_time() - t0
    t0 = time.process_time()
    for d in docs:
        _ = d.c4_full_dolma
    c4_dolma_seconds = time.process_time() - t0
    gopher_dm = [_summarise_rule(rule, docs, examples) for rule in dolma_mode_rules(setup, g_rules)]
    c4_dm = [_summarise_rule(rule, docs, examples) for rule in dolma_mode_rules(setup, c_rules)]
    dm_agree = sum((d.kept["gopher"] is not None) == gopher_keeps_dolma_mode(d) for d in docs)
    dolma_mode = {
        "gopher": gopher_dm,
        "c4": c4_dm,
        "gopher_decision": {
            "documents": n, "agree": dm_agree, "agreement": dm_agree / n,
            "dolma_drops": decision["dolma_drops"],
            "raysift_drops": sum(not gopher_keeps_dolma_mode(d) for d in docs),
            "disagreeing_docs": [d.index for d in docs if (d.kept["gopher"] is not None) != gopher_keeps_dolma_mode(d)][:20],
        },
        "raysift_gopher_ms_per_doc": round(1000 * gopher_dolma_seconds / n, 2),
        "raysift_c4_ms_per_doc": round(1000 * c4_dolma_seconds / n, 2),
    }
    for res in gopher + c4_res + gopher_dm + c4_dm:
        del res["disagreeing_docs"]
    named = {c for res in gopher + c4_res for k in res["disagreement_classes"] for c in k.split("+")}
    return {
        "documents": n,
        "classes": {c: CLASSES.get(c, CLASSES["unexplained"]) for c in sorted(named)},
        "gopher": gopher,
        "gopher_decision": decision,
        "c4": c4_res,
        "raysift_gopher_ms_per_doc": round(1000 * gopher_seconds / n, 2),
        "raysift_c4_ms_per_doc": round(1000 * c4_seconds / n, 2),
        "dolma_mode": dolma_mode,
    }


# ------------------------------------------------------------------------------- report

SECTION_START, SECTION_END = "<!-- parity-dolma:start -->", "<!-- parity-dolma:end -->"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _chain_text(ex: dict, words: tuple[str, str]) -> str:
    """An example's chain, one step after the other (the re-computation of dolma's value left out when equal)."""
    parts = []
    chain = ex["chain"]
    for k, (name, outcome, value) in enumerate(chain):
        if name == "reimplementation" and k and chain[k - 1][1] == outcome:
            continue
        if isinstance(outcome, bool):
            said = words[0] if outcome else words[1]
            parts.append(f"{name}: {said}" if value is None or isinstance(value, bool) else f"{name} {value} ({said})")
        else:
            parts.append(f"{name} {outcome}")
    return f"{ex['source']} #{ex['doc']}: " + " → ".join(parts)


def render_section(summary: dict) -> str:
    """The markdown section of RESULTS.md, from the JSON summary."""
    out = [SECTION_START, "## Parity with dolma's taggers and mixer", "",
           "_Generated by `benchmarks/parity_dolma.py --section-out FILE` (under dolma's virtualenv); do not edit "
           "by hand._", "",
           f"- Date (UTC): {summary['date']}; dolma {summary['dolma_version']}; {summary['machine']}.",
           f"- Texts: {summary['texts']} distinct texts with a word: " + ", ".join(
               f"{k} {v}" for k, v in summary["sources"].items()) + ". dolma runs its real pipeline on them "
           "(`dolma tag`, then `dolma mix` with the filters named below); raysift runs its stages' "
           "`measure`/`decide` (PII: `apply`) on the same texts.", ""]
    if summary.get("pii"):
        out += ["### PII (`pii_regex_with_counts_v2`, `pii_regex_with_counts_fast_v2`)", "",
                "Mixer: exclude `doc_count > 5`, replace spans by ` |||EMAIL_ADDRESS||| ` etc. (Dolma's CC mixer). "
                "Rules: spans of each kind identical, same span count, same keep/drop, same masked text (kept by both).",
                "", "| tagger | documents | with PII (dolma) | spans dolma / raysift | dropped dolma / raysift | "
                + " | ".join(RULES) + " | disagreement classes |",
                "|---|---:|---:|---:|---:|" + "---:|" * len(RULES) + "---|"]
        for res in summary["pii"]:
            out.append(f"| `{res['tagger']}` | {res['documents']} | {res['documents_with_pii_dolma']} | "
                       f"{res['spans_dolma']} / {res['spans_raysift']} | {res['dropped_dolma']} / {res['dropped_raysift']} | "
                       + " | ".join(_pct(res["agreement"][r]) for r in RULES) + " | "
                       + (", ".join(f"{k} {v}" for k, v in res["disagreement_classes"].items()) or "none") + " |")
        out.append("")
    q = summary.get("quality")
    if q:
        dec = q["gopher_decision"]
        out += ["### Gopher (`gopher_v1`) and C4 (`c4_v1`)", "",
                "dolma's mixer filters: Gopher, the exclusions of Dolma's Common Crawl mixer "
                "(`configs/dolma-v1_5/mixing/cc-head.yaml`; thresholds in the table, top n-gram attribute names "
                "corrected, see below); C4, the filter of dolma's C4 replication (`configs/c4-replication/mixer.yaml`): "
                "exclude on `has_curly_brace`, `has_lorem_ipsum`, `has_javascript`, `has_naughty_word`; remove "
                "`lines_with_no_ending_punctuation` and `lines_with_too_few_words`. raysift: `gopher_quality` and "
                "`gopher_repetition` at the same thresholds (paragraph rules off: dolma has none; "
                "`max_duplicate_line_chars: 0.3`; `stop_word_count: occurrences`; `bullets: ['*', '-']`), `c4` with "
                "dolma's line rules and flags (other rules off, bad words from dolma's list). Agreement per rule: the "
                "same outcome; for the two line rules and `cleaned_text`, the same lines left (stripped, blank lines "
                "ignored).", "",
                "Same definition: the two count the same way once configured alike (lines may still be split "
                "differently). Documents: all texts, except for `cleaned_text` (the documents both keep).", "",
                "| tagger | rule | dolma | raysift | same definition | documents | agreement | outcome: dolma / raysift | "
                "disagreements by class |", "|---|---|---|---|---|---:|---:|---:|---|"]
        for res in q["gopher"] + q["c4"]:
            fires = (f"{res['outcome_words'][0]} {res['dolma_fires']} / {res['raysift_fires']}"
                     if res["dolma_fires"] is not None else "")
            out.append(f"| `{res['tagger']}` | {res['rule']} | {res['dolma_rule']} | {res['raysift_rule']} | "
                       f"{'yes' if res['same_definition'] else 'no'} | {res['documents']} | {_pct(res['agreement'])} | "
                       f"{fires} | " + (", ".join(f"{k} {v}" for k, v in res["disagreement_classes"].items()) or "none")
                       + " |")
        out.append(f"| `gopher_v1` | keep/drop (all rules) | kept by the mixer | `gopher_quality` and "
                   f"`gopher_repetition` keep | no | {dec['documents']} | {_pct(dec['agreement'])} | "
                   f"drops {dec['dolma_drops']} / {dec['raysift_drops']} | by rules that disagree: " + ", ".join(
                       f"{k} {v}" for k, v in list(dec["disagreements_by_rules"].items())[:8])
                   + (", ..." if len(dec["disagreements_by_rules"]) > 8 else "") + " |")
        out += ["", f"Every disagreement is put in a class by re-computing dolma's statistic from the text and then "
                "undoing one difference at a time, in the order shown in the examples, until it is raysift's own "
                "measurement; the class names the step(s) where the outcome changes (`a+b`: it changes at both). "
                "`reimplementation` would mean the re-computation does not reproduce dolma's tagger or mixer; "
                f"unexplained disagreements: {sum(r['unexplained'] for r in q['gopher'] + q['c4']) + dec['unexplained']}. "
                "A Gopher keep/drop disagreement is listed by the rules, applied by the side that drops, that "
                "disagree (each already classed above).", "",
                "| rule | class | count | example (source #doc: value at each step, outcome) |", "|---|---|---:|---|"]
        for res in q["gopher"] + q["c4"]:
            words = tuple(res["outcome_words"])
            for cls, count in res["disagreement_classes"].items():
                ex = res["examples"].get(cls, [])
                out.append(f"| {res['rule']} | {cls} | {count} | " + "<br>".join(_chain_text(e, words) for e in ex[:2])
                           + " |")
        seen = sorted({c for res in q["gopher"] + q["c4"] for k in res["disagreement_classes"] for c in k.split("+")})
        out += ["", "Causes:", ""] + [f"- `{c}`: {CLASSES.get(c, CLASSES['unexplained'])}" for c in seen]
        out += ["", f"- dolma's published `cc-head.yaml` spells the top n-gram attributes `..._most_common_2gram` "
                f"(singular); `gopher_v1` writes `..._2grams`, so with the config as published those three rules "
                f"never fire: here that would keep {dec['verbatim_config_keeps']} more documents (dropped by a top "
                "n-gram rule and by no other).",
                f"- raysift CPU per document on these texts: `gopher_quality` + `gopher_repetition` "
                f"{q['raysift_gopher_ms_per_doc']} ms, `c4` {q['raysift_c4_ms_per_doc']} ms (the whole text, one "
                "core, measured inside this run)."]
        dm = q.get("dolma_mode")
        if dm:
            ddec = dm["gopher_decision"]
            out += ["", "#### raysift `count: dolma`", "",
                    "The same stages and thresholds with `count: dolma` (each stage's Config), which counts as dolma's "
                    "`gopher_v1` / `c4_v1` taggers do (whitespace words, median word length, every copy and blank line "
                    "a duplicate line, overlapping n-gram repeats, C4 flags on every line, `javascript` drops the "
                    "document, bad words as exact whitespace words), against the same dolma outputs. A disagreement "
                    "here is unexplained (`count_dolma`).", "",
                    "| raysift | tagger | rule | documents | agreement | outcome: dolma / raysift | disagreements |",
                    "|---|---|---|---:|---:|---:|---|"]
            for res in dm["gopher"] + dm["c4"]:
                fires = (f"{res['outcome_words'][0]} {res['dolma_fires']} / {res['raysift_fires']}"
                         if res["dolma_fires"] is not None else "")
                out.append(f"| `count: dolma` | `{res['tagger']}` | {res['rule']} | {res['documents']} | "
                           f"{_pct(res['agreement'])} | {fires} | {res['documents'] - res['agree'] or 'none'} |")
            out.append(f"| `count: dolma` | `gopher_v1` | keep/drop (all rules) | {ddec['documents']} | {_pct(ddec['agreement'])} | "
                       f"drops {ddec['dolma_drops']} / {ddec['raysift_drops']} | "
                       f"{ddec['documents'] - ddec['agree'] or 'none'} |")
            out += ["", f"- raysift CPU per document with `count: dolma`: `gopher_quality` + `gopher_repetition` "
                    f"{dm['raysift_gopher_ms_per_doc']} ms, `c4` {dm['raysift_c4_ms_per_doc']} ms."]
    out += ["", SECTION_END]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared real-data folder")
    ap.add_argument("--json", type=Path, help="write the result as JSON here")
    ap.add_argument("--section-out", type=Path, help="write the RESULTS.md section (markdown) to this file")
    ap.add_argument("--render-only", action="store_true",
                    help="write --section-out from the JSON of an earlier run (--json) without running anything")
    ap.add_argument("--min-agreement", type=float, default=0.99)
    ap.add_argument("--min-texts", type=int, default=1000)
    ap.add_argument("--parts", nargs="+", default=["pii", "quality"], choices=["pii", "quality"],
                    help="pii: the PII taggers; quality: gopher_v1 and c4_v1")
    ap.add_argument("--variants", nargs="+", default=list(TAGGERS), choices=list(TAGGERS))
    ap.add_argument("--processes", type=int, default=1, help="dolma tag processes")
    ap.add_argument("--examples", type=int, default=5, help="examples kept per disagreement class")
    args = ap.parse_args(argv)

    if args.render_only:
        if not (args.json and args.section_out):
            ap.error("--render-only needs --json (the earlier run's result) and --section-out")
        args.section_out.write_text(render_section(json.loads(args.json.read_text(encoding="utf-8"))), encoding="utf-8")
        print(f"wrote the section to {args.section_out}")
        return 0
    if not args.data.is_dir():
        print(f"no data folder at {args.data}", file=sys.stderr)
        return 2
    texts = load_texts(args.data)
    sources = dict(Counter(s for s, _ in texts))
    print(f"{len(texts)} distinct texts: {sources}")
    if len(texts) < args.min_texts:
        print(f"fewer than {args.min_texts} texts", file=sys.stderr)
        return 2
    from importlib.metadata import version

    summary: dict[str, Any] = {
        "texts": len(texts), "sources": sources, "threshold": args.min_agreement,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "dolma_version": version("dolma"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
    }
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="parity-dolma-") as tmp:
        root = Path(tmp)
        try:
            if "pii" in args.parts:
                t0 = time.perf_counter()
                dolma = run_dolma([t for _, t in texts], args.variants, root, args.processes)
                print(f"dolma tag + mix (PII): {time.perf_counter() - t0:.1f} s")
            if "quality" in args.parts:
                t0 = time.perf_counter()
                attributes, kept = run_dolma_quality([t for _, t in texts], root, args.processes)
                print(f"dolma tag + mix (gopher_v1, c4_v1): {time.perf_counter() - t0:.1f} s")
        except subprocess.CalledProcessError as exc:
            print(f"dolma failed: {' '.join(map(str, exc.cmd))}\n{(exc.stderr or b'').decode()[-2000:]}", file=sys.stderr)
            return 2
        if "pii" in args.parts:
            summary["pii"] = []
            for variant in args.variants:
                res = compare(texts, variant, dolma[variant], args.examples)
                summary["pii"].append(res)
                print(f"\n== {res['tagger']} (raysift variant={variant!r}): {res['documents']} documents, "
                      f"{res['documents_with_pii_dolma']} with PII, spans dolma {res['spans_dolma']} / raysift "
                      f"{res['spans_raysift']}, dropped dolma {res['dropped_dolma']} / raysift {res['dropped_raysift']}")
                for rule, rate in res["agreement"].items():
                    print(f"  {rule:<12} {100 * rate:8.3f} %")
                    if rate < args.min_agreement:
                        failures.append(f"{res['tagger']} {rule} {100 * rate:.3f} %")
                print(f"  disagreement classes: {res['disagreement_classes'] or 'none'}")
                for ex in res["examples"]:
                    print(f"  example ({ex['source']}, {', '.join(ex['rules'])}): {ex['text'][:160]!r}")
                print(f"  raysift find_spans: {res['raysift_measure_ms_per_doc']} ms CPU per document")
        if "quality" in args.parts:
            setup = quality_setup(root / "badwords")
            q = compare_quality(texts, attributes, kept, setup, args.examples)
            summary["quality"] = q
            print(f"\n== gopher_v1 / c4_v1 vs gopher_quality + gopher_repetition / c4: {q['documents']} documents")
            for res in q["gopher"] + q["c4"]:
                same = "same definition" if res["same_definition"] else "differs"
                print(f"  {res['tagger']:<9} {res['rule']:<22} {100 * res['agreement']:8.3f} %  ({same}; "
                      f"{res['documents'] - res['agree']} disagree: {res['disagreement_classes'] or 'none'})")
                if res["same_definition"] and res["agreement"] < args.min_agreement:
                    failures.append(f"{res['tagger']} {res['rule']} {100 * res['agreement']:.3f} %")
                if res["unexplained"]:
                    failures.append(f"{res['tagger']} {res['rule']}: {res['unexplained']} unexplained")
                    for ex in res["examples"].get("reimplementation", []) + res["examples"].get("unexplained", []):
                        print(f"    unexplained: {_chain_text(ex, tuple(res['outcome_words']))}")
            dec = q["gopher_decision"]
            print(f"  gopher_v1 keep/drop            {100 * dec['agreement']:8.3f} %  (dropped: dolma {dec['dolma_drops']}"
                  f" / raysift {dec['raysift_drops']}; disagreements by rules: {dec['disagreements_by_rules']})")
            if dec["unexplained"]:
                failures.append(f"gopher keep/drop: {dec['unexplained']} unexplained ({dec['mixer_mismatch']} mixer)")
            print(f"  raysift CPU per document: gopher {q['raysift_gopher_ms_per_doc']} ms, c4 {q['raysift_c4_ms_per_doc']} ms")
            dm = q["dolma_mode"]
            print("\n== the same, raysift with count: dolma")
            for res in dm["gopher"] + dm["c4"]:
                print(f"  {res['tagger']:<9} {res['rule']:<22} {100 * res['agreement']:8.3f} %  "
                      f"({res['documents'] - res['agree']} disagree)")
                if res["agreement"] < args.min_agreement:
                    failures.append(f"count: dolma {res['tagger']} {res['rule']} {100 * res['agreement']:.3f} %")
                for ex in res["examples"].get("count_dolma", [])[:3]:
                    print(f"    {_chain_text(ex, tuple(res['outcome_words']))}")
            ddec = dm["gopher_decision"]
            print(f"  gopher_v1 keep/drop            {100 * ddec['agreement']:8.3f} %  (dropped: dolma "
                  f"{ddec['dolma_drops']} / raysift {ddec['raysift_drops']}; first disagreeing docs "
                  f"{ddec['disagreeing_docs']})")
            if ddec["agreement"] < args.min_agreement:
                failures.append(f"count: dolma gopher keep/drop {100 * ddec['agreement']:.3f} %")
            print(f"  raysift CPU per document (count: dolma): gopher {dm['raysift_gopher_ms_per_doc']} ms, "
                  f"c4 {dm['raysift_c4_ms_per_doc']} ms")
    summary["failures"] = failures
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if args.section_out:
        args.section_out.parent.mkdir(parents=True, exist_ok=True)
        args.section_out.write_text(render_section(summary), encoding="utf-8")
        print(f"wrote the section to {args.section_out}")
    print("\n" + ("failed: " + "; ".join(failures) if failures else
                  f"every shared rule agrees on >= {100 * args.min_agreement:.1f} % and every disagreement is classed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
