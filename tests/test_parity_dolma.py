"""The PII, Gopher and C4 stages against dolma 1.2.1's own taggers and mixer on real text (benchmarks/parity_dolma.py).

dolma cannot share raysift's virtualenv (its pins conflict), so the script runs under the Python named
by ``RAYSIFT_DOLMA_PYTHON``: a virtualenv with ``dolma==1.2.1`` (installed ``--no-deps``), its imports
and pyarrow (``.ci/run`` creates it). Without that variable the real-text tests are skipped as missing
infrastructure, which fails a CI session. The script runs once per module (several minutes: dolma
tags about 4,500 texts with four taggers); the tests below read its JSON and its RESULTS.md section.

The tests at the end check the script's classing of disagreements on constructed documents, with
dolma's constants written out, so they need neither dolma nor the shared data.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra import INFRA, SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DOLMA_PYTHON = os.environ.get("RAYSIFT_DOLMA_PYTHON", "")
PII_RULES = ("email", "phone", "ip", "doc_count", "decision", "masked_text")

_spec = importlib.util.spec_from_file_location("parity_dolma", ROOT / "benchmarks" / "parity_dolma.py")
pd = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pd  # its dataclasses look their module up while the module loads
_spec.loader.exec_module(pd)


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> tuple[dict, str, Path]:
    """One run of benchmarks/parity_dolma.py: its JSON summary, its markdown section and the JSON's path."""
    if not DOLMA_PYTHON:
        pytest.skip(
            f"{INFRA} RAYSIFT_DOLMA_PYTHON is unset: point it at the python of a virtualenv with dolma 1.2.1 "
            "(pip install --no-deps dolma==1.2.1, then its imports and pyarrow; see .ci/run)"
        )
    if not DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent ({DATA}): the parity needs its real texts")
    assert Path(DOLMA_PYTHON).is_file(), f"RAYSIFT_DOLMA_PYTHON={DOLMA_PYTHON} does not exist"
    tmp = tmp_path_factory.mktemp("parity_dolma")
    out, section = tmp / "parity_dolma.json", tmp / "section.md"
    proc = subprocess.run(
        [DOLMA_PYTHON, str(ROOT / "benchmarks" / "parity_dolma.py"), "--data", str(DATA), "--json", str(out),
         "--section-out", str(section)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert out.is_file(), f"parity_dolma.py exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(out.read_text(encoding="utf-8"))
    assert proc.returncode == 0, f"parity_dolma.py exited {proc.returncode}: {result.get('failures')}\n{proc.stdout[-4000:]}"
    return result, section.read_text(encoding="utf-8"), out


def _quality_rules(result: dict) -> list[dict]:
    return result["quality"]["gopher"] + result["quality"]["c4"]


@pytest.mark.shared_data
def test_pii_agrees_with_dolma_taggers_and_mixer(parity):
    result, *_ = parity
    assert result["texts"] >= 1000
    assert sorted(r["variant"] for r in result["pii"]) == ["fast_v2", "v2"]
    for res in result["pii"]:
        for rule in PII_RULES:
            assert res["agreement"][rule] >= 0.99, (res["variant"], rule, res["agreement"], res["examples"])
        # the corpus exercises every rule, including the drop threshold
        assert res["spans_dolma"] >= 500
        assert res["dropped_dolma"] >= 10
        assert res["documents_with_pii_dolma"] >= 100


@pytest.mark.shared_data
def test_gopher_and_c4_rules_counted_alike_agree_on_99_percent(parity):
    result, *_ = parity
    rules = _quality_rules(result)
    same = {r["rule"] for r in rules if r["same_definition"]}
    # the rules both count the same way once configured alike (dolma's other rules count differently)
    assert same == {"bullet_lines", "no_punct_lines", "few_words_lines", "lorem_ipsum", "curly_bracket"}
    for res in rules:
        assert res["documents"] >= 1000, res["rule"]
        if res["same_definition"]:
            assert res["agree"] / res["documents"] >= 0.99, (res["rule"], res["disagreement_classes"])


@pytest.mark.shared_data
def test_every_gopher_and_c4_disagreement_is_in_an_explained_class(parity):
    result, *_ = parity
    described = result["quality"]["classes"]
    for res in _quality_rules(result):
        classes = res["disagreement_classes"]
        assert sum(classes.values()) == res["documents"] - res["agree"], res["rule"]
        assert res["unexplained"] == 0, (res["rule"], classes, res["examples"])
        for cls in classes:
            for part in cls.split("+"):
                assert part not in ("reimplementation", "unexplained"), (res["rule"], cls, res["examples"][cls])
                assert described[part] and not described[part].startswith("unexplained"), part
            assert res["examples"][cls], (res["rule"], cls)  # a counted example for each class


@pytest.mark.shared_data
def test_gopher_keep_drop_disagreements_come_from_classed_rule_disagreements(parity):
    result, *_ = parity
    dec = result["quality"]["gopher_decision"]
    assert dec["mixer_mismatch"] == 0  # dolma's mixer drops exactly when one of its filters holds
    assert dec["unexplained"] == 0
    assert sum(dec["disagreements_by_rules"].values()) == dec["documents"] - dec["agree"]
    disagreeing_rules = {r["rule"] for r in result["quality"]["gopher"] if r["agree"] < r["documents"]}
    for combo in dec["disagreements_by_rules"]:
        assert set(combo.split("+")) <= disagreeing_rules, combo
    # both sides drop a good share of these texts, so the decision is exercised
    assert dec["dolma_drops"] >= 500 and dec["raysift_drops"] >= 500


@pytest.mark.shared_data
def test_count_dolma_agrees_with_dolma_on_99_percent_per_rule_and_keep_drop(parity):
    """raysift with ``count: dolma`` against the same dolma tagger + mixer outputs (computed, not typed)."""
    result, *_ = parity
    dm = result["quality"]["dolma_mode"]
    paper = {r["rule"]: r for r in _quality_rules(result)}
    rules = dm["gopher"] + dm["c4"]
    assert {r["rule"] for r in rules} == set(paper)  # every rule of the paper comparison, in this mode too
    for res in rules:
        assert res["documents"] == paper[res["rule"]]["documents"] or res["rule"] == "cleaned_text", res["rule"]
        assert res["documents"] >= 1000, res["rule"]
        assert sum(res["disagreement_classes"].values()) == res["documents"] - res["agree"], res["rule"]
        assert res["agree"] / res["documents"] >= 0.99, (res["rule"], res["examples"])
    dec = dm["gopher_decision"]
    assert dec["agree"] / dec["documents"] >= 0.99, dec
    # the C4 keep/drop is a rule of its own (decision); both modes see the same dolma drops
    assert dec["dolma_drops"] == result["quality"]["gopher_decision"]["dolma_drops"] >= 500
    assert dec["raysift_drops"] >= 500
    # the mode changes the outcome of the rules counted differently: it is not the paper mode renamed
    assert dec["agree"] > result["quality"]["gopher_decision"]["agree"]


@pytest.mark.shared_data
def test_corpus_exercises_the_gopher_and_c4_rules(parity):
    result, *_ = parity
    for res in _quality_rules(result):
        if res["dolma_fires"] is None:
            # compared as texts (the lines left), not as an outcome
            assert res["rule"] in ("no_punct_lines", "few_words_lines", "cleaned_text"), res["rule"]
            continue
        assert res["dolma_fires"] + res["raysift_fires"] >= 5, res["rule"]


@pytest.mark.shared_data
def test_section_reports_the_measured_agreement(parity):
    result, section, out = parity
    assert section.startswith(pd.SECTION_START) and section.rstrip().endswith(pd.SECTION_END)
    rows = {line.split(" | ")[1]: line for line in section.splitlines() if line.startswith("| `gopher_v1` | ")
            or line.startswith("| `c4_v1` | ")}
    for res in _quality_rules(result):
        assert f"| {100 * res['agree'] / res['documents']:.2f}% |" in rows[res["rule"]], res["rule"]
    for res in result["quality"]["dolma_mode"]["gopher"] + result["quality"]["dolma_mode"]["c4"]:
        assert (f"| `count: dolma` | `{res['tagger']}` | {res['rule']} | {res['documents']} | "
                f"{100 * res['agree'] / res['documents']:.2f}% |") in section, res["rule"]
    for res in result["pii"]:
        assert f"| `{res['tagger']}` | {res['documents']} |" in section
    assert "unexplained disagreements: 0." in section
    # the section is a function of the JSON: --render-only rewrites it without running dolma
    again = out.with_name("again.md")
    assert pd.main(["--render-only", "--json", str(out), "--section-out", str(again)]) == 0
    assert again.read_text(encoding="utf-8") == section


# ------------------------------------------------- classing on constructed documents (no dolma needed)

# dolma 1.2.1's constants (dolma/taggers/gopher.py and c4.py), written out so these tests run without it
DOLMA_CONSTANTS = {
    "stop_words": {"the", "be", "to", "of", "and", "that", "have", "with"},
    "symbols": {"#", "\u2026"},
    "bullets": {"*", "-"},
    "eol": {".", "?", "!", '"'},
    "min_words_per_line": 3,
    "naughty_lines": ["badword", "two words"],
}


@pytest.fixture
def setup(tmp_path):
    return pd.make_setup(tmp_path / "badwords", **DOLMA_CONSTANTS)


def _doc(setup, text: str, attrs: dict | None = None, kept: dict | None = None):
    return pd.Doc(0, "constructed", text, setup, attrs or {}, kept or {})


def _rule(rules: list, name: str):
    return next(r for r in rules if r.name == name)


def test_make_setup_takes_dolma_thresholds(setup):
    assert (setup.gq.min_words, setup.gq.max_words, setup.gq.min_stop_words) == (50, 100_000, 2)
    assert setup.gq.stop_word_count == "occurrences" and setup.gq.bullets == ("*", "-")
    assert setup.gr.max_duplicate_line_chars == 0.3 and setup.gr.max_duplicate_paragraphs is None
    assert setup.c4_full.terminal_punct == ("!", '"', ".", "?") and not setup.c4_full.drop_no_lines_left
    assert setup.naughty_words == {"badword"} and setup.naughty_phrases == ("two words",)


def test_blank_lines_counted_as_duplicates_are_the_empty_lines_class(setup):
    text = "alpha\n\n\nbeta\n\n\ngamma"  # dolma: 7 lines, the 4 blank ones duplicated: 4 / 7
    rule = _rule(pd.gopher_rules(setup), "duplicate_lines")
    doc = _doc(setup, text, {"gopher_v1__fraction_of_duplicate_lines": [[0, len(text), 0.57143]]})
    agree, cls, chain = pd.bridge(rule, doc)
    assert not agree
    assert cls == "empty_lines"  # first occurrences left out: 3 / 7 still > 0.3; no blank lines: 0 / 3
    assert [step[0] for step in chain] == ["dolma", "reimplementation", "first_occurrence", "empty_lines"]
    assert [step[1] for step in chain] == [True, True, True, False]


def test_a_recomputation_that_misses_dolma_is_unexplained(setup):
    text = "alpha\n\n\nbeta\n\n\ngamma"
    rule = _rule(pd.gopher_rules(setup), "duplicate_lines")
    doc = _doc(setup, text, {"gopher_v1__fraction_of_duplicate_lines": [[0, len(text), 0.9]]})
    assert pd.bridge(rule, doc)[:2] == (False, "empty_lines")
    # a tagger value the re-computation cannot reproduce, on a text raysift drops
    text = "same line\nsame line\nsame line"
    doc = _doc(setup, text, {"gopher_v1__fraction_of_duplicate_lines": [[0, len(text), 0.0]]})
    assert pd.bridge(rule, doc)[:2] == (False, "reimplementation")


def test_agreeing_documents_are_not_classed(setup):
    text = "one line\nanother line\na third line"
    rule = _rule(pd.gopher_rules(setup), "duplicate_lines")
    doc = _doc(setup, text, {"gopher_v1__fraction_of_duplicate_lines": [[0, len(text), 0.0]]})
    assert pd.bridge(rule, doc) == (True, None, [])


def test_median_word_length_is_the_mean_not_median_class(setup):
    text = " ".join(["a"] * 30 + ["abcdefghijkl"] * 20)  # median 1 (dolma drops), mean 5.4 (raysift keeps)
    rule = _rule(pd.gopher_rules(setup), "word_length")
    doc = _doc(setup, text, {"gopher_v1__median_word_length": [[0, len(text), 1.0]]})
    assert pd.bridge(rule, doc)[:2] == (False, "mean_not_median")


def test_c4_line_rule_compares_the_lines_left(setup):
    text = "Good line here.\nmenu\nAnother fine line!"
    rule = _rule(pd.c4_rules(setup), "no_punct_lines")
    spans = [[16, 21, 1.0]]  # "menu\n", as c4_v1 writes it
    assert pd.bridge(rule, _doc(setup, text, {"c4_v1__lines_with_no_ending_punctuation": spans}))[0]
    assert rule.dolma(_doc(setup, text, {"c4_v1__lines_with_no_ending_punctuation": spans}))[0] == (
        "Good line here.", "Another fine line!")
    # a line end raysift sees and dolma does not (U+2028)
    text = "Good line here,\u2028and more words.\nAnother fine line!"
    agree, cls, _ = pd.bridge(rule, _doc(setup, text, {}))
    assert (agree, cls) == (False, "splitlines")


def test_curly_bracket_on_a_removed_line_is_the_kept_lines_class(setup):
    text = "function() {\nThis is a proper sentence here.\nAnd another proper one."
    rule = _rule(pd.c4_rules(setup), "decision")
    doc = _doc(setup, text, {"c4_v1__has_curly_brace": [[0, len(text), 1.0]]}, {"c4": None})
    agree, cls, chain = pd.bridge(rule, doc)
    assert (agree, cls) == (False, "checks_on_kept_lines")
    assert chain[-1][1] is True  # raysift keeps: the line with "{" has no final punctuation and goes


def test_javascript_line_removal_is_its_own_class(setup):
    text = "Please enable JavaScript.\nThis is a proper sentence here."
    rules = pd.c4_rules(setup)
    kept = {"c4": text}  # c4_v1 sees no word "javascript" ("javascript." differs): the mixer keeps it whole
    assert pd.bridge(_rule(rules, "decision"), _doc(setup, text, {}, kept))[0]
    agree, cls, _ = pd.bridge(_rule(rules, "cleaned_text"), _doc(setup, text, {}, kept))
    assert (agree, cls) == (False, "javascript_removes_lines")
    agree, cls, _ = pd.bridge(_rule(rules, "javascript"), _doc(setup, text, {}, kept))
    assert (agree, cls) == (False, "javascript_substring")


def test_bad_word_with_attached_punctuation_is_the_word_boundaries_class(setup):
    text = "This one has a badword, sadly.\nSecond line of the text."
    rule = _rule(pd.c4_rules(setup), "bad_words")
    agree, cls, chain = pd.bridge(rule, _doc(setup, text, {}))
    assert (agree, cls) == (False, "word_boundaries")
    assert chain[-1][2] == "badword"
    # a whitespace word equal to a list entry: both find it
    assert pd.bridge(rule, _doc(setup, "a badword here", {"c4_v1__has_naughty_word": [[0, 14, 1.0]]}))[0]


def test_make_setup_has_the_count_dolma_configs(setup):
    assert setup.gq_dolma == dataclasses.replace(setup.gq, count="dolma")
    assert setup.gr_dolma == dataclasses.replace(setup.gr, count="dolma")
    assert setup.c4_full_dolma == dataclasses.replace(setup.c4_full, count="dolma")
    assert set(setup.c4_only_dolma) == set(setup.c4_only)


def test_count_dolma_rules_agree_where_dolma_counts_blank_lines(setup):
    text = "alpha\n\n\nbeta\n\n\ngamma"  # dolma 4 / 7 > 0.3: fires; the paper mode does not
    paper = _rule(pd.gopher_rules(setup), "duplicate_lines")
    mode = _rule(pd.dolma_mode_rules(setup, pd.gopher_rules(setup)), "duplicate_lines")
    doc = _doc(setup, text, {"gopher_v1__fraction_of_duplicate_lines": [[0, len(text), 0.57143]]})
    assert not pd.bridge(paper, doc)[0]
    assert pd.bridge(mode, doc) == (True, None, [])
    # a dolma value this mode does not reproduce is unexplained (count_dolma)
    doc = _doc(setup, text, {"gopher_v1__fraction_of_duplicate_lines": [[0, len(text), 0.1]]})
    assert pd.bridge(mode, doc)[:2] == (False, "count_dolma")
    assert pd._summarise_rule(mode, [doc], 1)["unexplained"] == 1


def test_count_dolma_javascript_word_drops_the_document(setup):
    text = "Please enable javascript to read.\nThis is a proper sentence here."
    rules = pd.dolma_mode_rules(setup, pd.c4_rules(setup))
    doc = _doc(setup, text, {"c4_v1__has_javascript": [[0, len(text), 1.0]]}, {"c4": None})
    assert pd.bridge(_rule(rules, "decision"), doc)[0]
    assert pd.bridge(_rule(rules, "javascript"), doc)[0]
    assert not pd.bridge(_rule(pd.c4_rules(setup), "decision"), doc)[0]  # the paper mode removes the line


def test_datatrove_walk_counts_repeats_once_and_jumps():
    assert pd._walk_chars(["a", "b", "a", "b", "a", "b"], 2) == 4  # (a b) new, (b a) new, (a b) +2, (a b) +2
    assert pd._walk_chars(["x", "y", "z"], 2) == 0
    assert pd._walk_chars(["x"], 2) == 0
