"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", §2.2), as in datatrove.

Two named steps, not one (STYLE.md, principle 1):

1. :func:`clean` removes lines, in datatrove's ``C4QualityFilter`` order: each line (of
   ``str.splitlines()``) is stripped; a line with a word (whitespace split) longer than 1000
   characters is removed (datatrove and TFDS remove the *line*, not the document); citation
   markers ``[1]``, ``[edit]``, ``[citation needed]`` are deleted; a line not ending in
   ``. ? ! " '`` or ending in ``...`` is removed; a line with fewer than 3 words (counted
   before citation removal) is removed; a line containing "lorem ipsum" or ``{`` marks the
   document (see below); a line containing "javascript" or a policy phrase (terms of use,
   privacy policy, cookie policy, uses cookies, use of cookies, use cookies) is removed;
   the kept lines' sentences are counted.
2. :func:`measure` / :func:`decide` drop the document on "lorem ipsum" (``c4_lorem_ipsum``),
   on ``{`` (``c4_curly_bracket``), when no line is left (``c4_no_lines_left``), on fewer than
   5 sentences in the kept lines (``c4_too_few_sentences``) and on a word of the
   language's bad-words list in the cleaned text (``c4_bad_words``).

As in TFDS/datatrove, "lorem ipsum" and ``{`` only count on lines that survived the
punctuation and word-count checks (a ``function() {`` line without a final period is just
removed). Sentences: datatrove runs spaCy's sentencizer on each kept line; we count runs of
``. ! ? …`` (and CJK full stops), optionally followed by closing quotes/brackets, that end
the line or precede whitespace, at least one per kept line; "e.g. this" counts two here,
one in spaCy.

Bad words (C4BadWordsFilter): LDNOOBW lists (``data/badwords``, CC BY 4.0), lower-cased;
matched on the lower-cased cleaned text, flanked by non-word characters (or the text ends)
except for ja, th and zh, where any substring matches. The per-language allowlists of C4
(ja: sm, グロ, 女の子; zh: 性) are removed. The language is the document's ``language``
column (``default_language`` when null); a language without a bundled list is not checked
(datatrove raises unless ``fail_on_missing_language=False``), nor is a value that is not a
plain language code (it never becomes part of a file path). Differences from datatrove:
we lower-case list entries (datatrove keeps ``MILF``, ``Cabrón``, ... which then never match
the lower-cased text), and we subtract only the document language's allowlist (datatrove
subtracts both from every list).

``count="dolma"`` reproduces dolma 1.2.1's ``c4_v1`` tagger as its mixer applies it
(``dolma/taggers/c4.py``, ``get_attributes``; the C4 filter of dolma's
``configs/c4-replication/mixer.yaml``), **not** the C4 paper: lines are ``text.split("\n")``,
each lower-cased and stripped; every line is checked (not only the lines the line rules keep):
a line not ending with ``terminal_punct`` and a line with fewer than ``min_words_per_line``
whitespace words are removed (each rule flags lines on its own; the kept lines are joined as the
mixer's span removal leaves them, each with its ``\n``); "lorem ipsum" or ``{`` on any line drops
the document; a whitespace word equal to ``javascript`` on any line drops the **document**
(``c4_javascript``) instead of removing the line; bad words come from the ``default_language``
list whatever the document's language, entries taken as written (not lower-cased): an entry
without a space matches a whole whitespace word exactly (``word,`` does not match ``word``), an
entry with a space matches anywhere in a line. dolma has no citation, ellipsis-line, long-word or
policy rules: with ``count="dolma"`` they must be off (ConfigError otherwise); ``min_sentences``
and ``drop_no_lines_left`` still apply to the kept lines (dolma's mixer has neither: set them to
null/false to match it). The ``removed_*`` columns then count the lines each rule flagged.

>>> cleaned, lines = clean("Hello world, this is fine.\\nmenu\\nRead our privacy policy today.", Config())
>>> cleaned, lines.n_kept_lines, lines.removed_no_terminal_punct, lines.removed_policy
('Hello world, this is fine.', 1, 1, 1)
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

from operators.config import ConfigError
from operators.filters.base import apply_filter
from operators.schema import LANGUAGE, REASON, TEXT, alive_mask

STAGE = "c4"
PREFIX = "c4"

LOREM_IPSUM = "c4_lorem_ipsum"
CURLY_BRACKET = "c4_curly_bracket"
NO_LINES_LEFT = "c4_no_lines_left"
TOO_FEW_SENTENCES = "c4_too_few_sentences"
BAD_WORDS = "c4_bad_words"
JAVASCRIPT = "c4_javascript"  # count="dolma" only: dolma's mixer drops the document on `javascript`

REASONS: tuple[str, ...] = (LOREM_IPSUM, CURLY_BRACKET, NO_LINES_LEFT, TOO_FEW_SENTENCES, BAD_WORDS, JAVASCRIPT)
COUNT_MODES: tuple[str, ...] = ("paper", "dolma")

POLICY_PHRASES: tuple[str, ...] = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
BADWORDS_DIR = Path(__file__).resolve().parent / "data" / "badwords"
NO_SPACE_LANGUAGES = frozenset({"ja", "th", "zh"})
BADWORDS_ALLOWLIST: dict[str, frozenset[str]] = {"ja": frozenset({"sm", "グロ", "女の子"}), "zh": frozenset({"性"})}

_CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_SENTENCE_END_RE = re.compile(r"[.!?…。！？]+[\"'”’)\]]*(?=\s|$)")


@dataclass(frozen=True)
class Config:
    """C4 rules; ``None`` (or False for switches) disables a rule.

    Attributes:
        remove_citations: delete ``[1]``, ``[edit]``, ``[citation needed]`` markers (True).
        terminal_punct: keep only lines ending with one of these (``. ? ! " '``); None keeps all.
        drop_ellipsis_lines: remove lines ending in ``...`` (True).
        min_words_per_line: remove lines with fewer words (3).
        max_word_length: remove lines with a longer word (1000).
        drop_javascript_lines: remove lines containing "javascript" (True).
        policy_phrases: remove lines containing one of these, case-insensitive; empty disables.
        drop_lorem_ipsum: drop the document on "lorem ipsum" (True).
        drop_curly_bracket: drop the document on ``{`` (True).
        min_sentences: drop the document with fewer sentences after line removal (5).
        drop_no_lines_left: drop the document when every line was removed (True).
        bad_words: drop the document on a word from its language's bad-words list (True).
        default_language: language for documents whose ``language`` is null ("en").
        badwords_dir: folder of ``<lang>.txt`` lists to use instead of the bundled LDNOOBW lists.
        count: ``"paper"`` (C4 paper / TFDS / datatrove) or ``"dolma"`` (dolma 1.2.1's ``c4_v1``
            tagger and mixer, see the module docstring); None means ``"paper"``.
    """

    remove_citations: bool = True
    terminal_punct: tuple[str, ...] | None = (".", "?", "!", '"', "'")
    drop_ellipsis_lines: bool = True
    min_words_per_line: int | None = 3
    max_word_length: int | None = 1000
    drop_javascript_lines: bool = True
    policy_phrases: tuple[str, ...] = POLICY_PHRASES
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True
    min_sentences: int | None = 5
    drop_no_lines_left: bool = True
    bad_words: bool = True
    default_language: str = "en"
    badwords_dir: str | None = None
    count: Literal["paper", "dolma"] = "paper"

    def __post_init__(self) -> None:
        if self.count is None:  # a config with every field set to None (all rules off) counts as the paper
            object.__setattr__(self, "count", "paper")
        if self.count not in COUNT_MODES:
            raise ConfigError(f"c4.count must be one of {', '.join(COUNT_MODES)}, got {self.count!r} "
                              "(paper: the C4 paper / datatrove; dolma: dolma's c4_v1 tagger)")
        if self.count == "dolma":
            extra = {"remove_citations": self.remove_citations, "drop_ellipsis_lines": self.drop_ellipsis_lines,
                     "max_word_length": self.max_word_length is not None, "policy_phrases": bool(self.policy_phrases)}
            on = [k for k, v in extra.items() if v]
            if on:
                raise ConfigError(f"c4.count 'dolma' reproduces dolma's c4_v1, which has no {', '.join(on)} rule: "
                                  "set remove_citations: false, drop_ellipsis_lines: false, max_word_length: null, "
                                  "policy_phrases: []")


@dataclass
class LineStats:
    """What :func:`clean` removed and found."""

    n_lines: int = 0
    n_kept_lines: int = 0
    removed_too_long_word: int = 0
    removed_no_terminal_punct: int = 0
    removed_too_few_words: int = 0
    removed_javascript: int = 0
    removed_policy: int = 0
    n_sentences: int = 0
    lorem_ipsum: bool = False
    curly_bracket: bool = False


@dataclass
class Stats(LineStats):
    """:class:`LineStats` plus the bad-words check; one ``c4_<field>`` column each."""

    bad_words_checked: bool = False
    bad_words: bool = False


def count_sentences(line: str) -> int:
    """Sentences in a kept line: sentence-final punctuation runs, at least one.

    >>> count_sentences("One. Two! Three? 3.14 is pi.")
    4
    """
    return max(1, len(_SENTENCE_END_RE.findall(line)))


def clean(text: str, cfg: Config) -> tuple[str, LineStats]:
    """Remove the lines C4 removes; return the kept lines joined by ``\\n`` and what happened."""
    if cfg.count == "dolma":
        return clean_dolma(text, cfg)
    stats = LineStats()
    kept: list[str] = []
    policy = tuple(p.lower() for p in cfg.policy_phrases)
    for raw in text.splitlines():
        stats.n_lines += 1
        line = raw.strip()
        words = line.split()
        too_long = cfg.max_word_length
        if too_long is not None and len(line) > too_long and any(len(w) > too_long for w in words):
            stats.removed_too_long_word += 1
            continue
        if cfg.remove_citations:
            line = _CITATION_RE.sub("", line)
        if (cfg.terminal_punct is not None and not line.endswith(tuple(cfg.terminal_punct))) or (
            cfg.drop_ellipsis_lines and line.endswith("...")
        ):
            stats.removed_no_terminal_punct += 1
            continue
        if cfg.min_words_per_line is not None and len(words) < cfg.min_words_per_line:
            stats.removed_too_few_words += 1
            continue
        lower = line.lower()
        if cfg.drop_lorem_ipsum and "lorem ipsum" in lower:
            stats.lorem_ipsum = True
            continue
        if cfg.drop_javascript_lines and "javascript" in lower:
            stats.removed_javascript += 1
            continue
        if cfg.drop_curly_bracket and "{" in line:
            stats.curly_bracket = True
            continue
        if policy and any(p in lower for p in policy):
            stats.removed_policy += 1
            continue
        stats.n_sentences += count_sentences(line)
        kept.append(line)
    stats.n_kept_lines = len(kept)
    return "\n".join(kept).strip(), stats


def clean_dolma(text: str, cfg: Config) -> tuple[str, LineStats]:
    """:func:`clean` as dolma's ``c4_v1`` tagger + mixer (``count="dolma"``): every line checked.

    >>> cleaned, st = clean_dolma("Good line here.\\nno end\\n{ x } is. here", Config(count="dolma",
    ...     remove_citations=False, drop_ellipsis_lines=False, max_word_length=None, policy_phrases=()))
    >>> cleaned, st.n_kept_lines, st.curly_bracket
    ('Good line here.\\n', 1, True)
    """
    stats = LineStats()
    lowered = text.lower()
    raw_lines = text.split("\n")
    last = len(raw_lines) - 1
    eol = tuple(cfg.terminal_punct) if cfg.terminal_punct is not None else None
    min_words = cfg.min_words_per_line
    check_js = cfg.drop_javascript_lines and "javascript" in lowered
    kept: list[str] = []
    for k, (raw, low) in enumerate(zip(raw_lines, lowered.split("\n"))):
        line = low.strip()
        drop = False
        if eol is not None and not line.endswith(eol):
            stats.removed_no_terminal_punct += 1
            drop = True
        if min_words is not None or check_js:
            words = line.split()
            if min_words is not None and len(words) < min_words:
                stats.removed_too_few_words += 1
                drop = True
            if check_js and "javascript" in words:
                stats.removed_javascript += 1
        if not drop:
            kept.append(raw + "\n" if k < last else raw)
            stats.n_sentences += count_sentences(line)
    stats.n_lines = len(raw_lines)
    stats.n_kept_lines = len(kept)
    stats.lorem_ipsum = cfg.drop_lorem_ipsum and "lorem ipsum" in lowered  # no line ends inside it
    stats.curly_bracket = cfg.drop_curly_bracket and "{" in text
    return "".join(kept), stats


@functools.lru_cache(maxsize=16)
def dolma_badwords(language: str, badwords_dir: str | None = None
                   ) -> tuple[frozenset[str], tuple[str, ...], re.Pattern[str] | None] | None:
    """dolma's split of a bad-words list: (entries without a space, entries with one, one regex finding
    any of the latter), entries as written."""
    if not isinstance(language, str) or not LANGUAGE_CODE.fullmatch(language):
        return None
    path = (Path(badwords_dir) if badwords_dir else BADWORDS_DIR) / f"{language}.txt"
    if not path.is_file():
        return None
    entries = path.read_text(encoding="utf-8").splitlines()
    phrases = tuple(sorted({w for w in entries if " " in w}))
    pattern = re.compile(_trie_pattern(list(phrases))) if phrases else None
    return frozenset(w for w in entries if " " not in w), phrases, pattern


def has_bad_word_dolma(text: str, cfg: Config) -> bool | None:
    """dolma's ``has_naughty_word`` over every line of ``text`` (None without a list)."""
    found = dolma_badwords(cfg.default_language, cfg.badwords_dir)
    if found is None:
        return None
    words, phrases, pattern = found
    lowered = text.lower()
    if not words.isdisjoint(lowered.split()):  # the words of all lines are the words of the text
        return True
    if pattern is None or pattern.search(lowered) is None:  # one scan; a phrase has no newline
        return False
    if all(p == p.strip() for p in phrases):  # stripping the lines cannot hide a match
        return True
    return any(p in line.strip() for line in lowered.split("\n") for p in phrases)


def _trie_pattern(words: list[str]) -> str:
    """One regex alternation sharing prefixes, so matching costs one branch per character."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            return f"(?:{body})?" if len(alts) == 1 else body + "?"
        return body

    return build(trie)


def normalize_language(language: str | None, default: str) -> str:
    """``"en"`` from ``"en"``, ``"EN"``, ``"en-US"`` or ``"en_Latn"``; ``default`` when null."""
    lang = (language or default or "").strip().lower()
    return re.split(r"[-_]", lang, maxsplit=1)[0] if lang else default


# A language code that may name a list file: ISO 639-1/-3 letters, optionally a subtag
# ("en", "yue", "pt-br"). Anything else ("../x", "/etc/x", "en\n") has no list: the document's
# language column is input data and must never steer which file is opened.
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]+)?")


@functools.lru_cache(maxsize=64)
def badwords_regex(language: str, badwords_dir: str | None = None) -> re.Pattern[str] | None:
    """The compiled bad-words matcher for ``language`` (loaded once per process), or None when
    there is no list for it, including every ``language`` that is not a plain code
    (:data:`LANGUAGE_CODE`: no path can be built from a hostile ``language`` value).

    >>> badwords_regex("en") is not None, badwords_regex("../c4/en"), badwords_regex("EN")
    (True, None, None)
    """
    if not isinstance(language, str) or not LANGUAGE_CODE.fullmatch(language):
        return None
    folder = Path(badwords_dir) if badwords_dir else BADWORDS_DIR
    path = folder / f"{language}.txt"
    if not path.is_file():
        return None
    words = {w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines()}
    words -= {""} | BADWORDS_ALLOWLIST.get(language, frozenset())
    if not words:
        return None
    body = _trie_pattern(sorted(words))
    if language in NO_SPACE_LANGUAGES:
        return re.compile(body)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


def has_bad_word(text: str, language: str, cfg: Config) -> bool | None:
    """True/False when ``language`` has a list, None when it has none."""
    pattern = badwords_regex(language, cfg.badwords_dir)
    if pattern is None:
        return None
    return pattern.search(text.lower()) is not None


def measure_and_clean(text: str, cfg: Config, language: str | None = None) -> tuple[Stats, str]:
    """:func:`clean`, then the document checks; returns the stats and the cleaned text."""
    cleaned, lines = clean(text, cfg)
    stats = Stats(**dataclasses.asdict(lines))
    if cfg.bad_words and cfg.count == "dolma":
        found = has_bad_word_dolma(text, cfg)
        stats.bad_words_checked = found is not None
        stats.bad_words = bool(found)
    elif cfg.bad_words:
        found = has_bad_word(cleaned, normalize_language(language, cfg.default_language), cfg)
        stats.bad_words_checked = found is not None
        stats.bad_words = bool(found)
    return stats, cleaned


def measure(text: str, cfg: Config, language: str | None = None) -> Stats:
    """Measure the C4 statistics of ``text`` (bad words in ``language``, default ``cfg.default_language``)."""
    return measure_and_clean(text, cfg, language)[0]


def decide(stats: Stats, cfg: Config) -> str | None:
    """The C4 document rule ``stats`` breaks, or None."""
    if cfg.drop_lorem_ipsum and stats.lorem_ipsum:
        return LOREM_IPSUM
    if cfg.drop_curly_bracket and stats.curly_bracket:
        return CURLY_BRACKET
    if cfg.count == "dolma" and cfg.drop_javascript_lines and stats.removed_javascript:
        return JAVASCRIPT
    if cfg.drop_no_lines_left and stats.n_kept_lines == 0:
        return NO_LINES_LEFT
    if cfg.min_sentences is not None and stats.n_sentences < cfg.min_sentences:
        return TOO_FEW_SENTENCES
    if cfg.bad_words and stats.bad_words:
        return BAD_WORDS
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``c4_*`` columns, name rejects in ``reason`` and replace ``text`` with the cleaned text.

    Only documents that stay alive get the cleaned text; rejected ones keep the original, so
    a reviewer sees what was dropped.
    """
    alive = alive_mask(table)
    if LANGUAGE in table.column_names:
        langs = table.column(LANGUAGE).to_pylist()
    else:
        langs = [None] * table.num_rows
    alive_rows = [i for i, ok in enumerate(alive) if ok]
    # apply_filter measures exactly the alive rows, in order: feed each its language.
    row_iter = iter(alive_rows)
    cleaned: dict[int, str] = {}

    def _measure(text: str, c: Config) -> Stats:
        i = next(row_iter)
        stats, cleaned[i] = measure_and_clean(text, c, langs[i])
        return stats

    out = apply_filter(table, PREFIX, _measure, decide, cfg, Stats)
    reasons = out.column(REASON).to_pylist()
    texts = out.column(TEXT).to_pylist()
    for i in alive_rows:
        if reasons[i] is None:
            texts[i] = cleaned[i]
    idx = out.schema.get_field_index(TEXT)
    return out.set_column(idx, out.schema.field(idx), pa.array(texts, type=out.schema.field(idx).type))
