"""Llama 3 dirty-word counting: matching as C4 does, counts and ratio, both rules' boundaries, apply()."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.config import ConfigError, from_dict
from operators.filters import c4
from operators.filters import dirty_words as dw

CFG = dw.Config()
FILLER = "the cat sat on a mat"  # 6 clean words


def words(n: int) -> str:
    return " ".join(["plain"] * n)


def test_counts_whole_words_case_insensitively():
    s = dw.measure("Ass! We assess the class. ASS, ass-kicking and 2 girls 1 cup.", CFG)
    # "Ass", "ASS", "ass" (before "-") and the multi-word entry; not "assess" nor "class"
    assert (s.count, s.n_words, s.checked) == (4, 12, True)
    assert s.ratio == pytest.approx(4 / 12)


def test_same_matching_as_c4():
    text = "What a bastard he was, they said about the porn site."
    assert dw.measure(text, CFG).count == 2
    assert c4.has_bad_word(text, "en", c4.Config()) is True
    assert dw.measure("A clean sentence about tomatoes.", CFG).count == 0
    assert c4.has_bad_word("A clean sentence about tomatoes.", "en", c4.Config()) is False


def test_ratio_rule_boundary():
    three = "porn porn porn "
    at = dw.measure(three + words(297), CFG)  # 3 / 300 = 0.01 exactly: kept
    assert (at.count, at.n_words, at.ratio) == (3, 300, 0.01)
    assert dw.decide(at, CFG) is None
    above = dw.measure(three + words(296), CFG)  # 3 / 299
    assert dw.decide(above, CFG) == dw.TOO_DENSE


def test_min_count_protects_short_texts():
    s = dw.measure("porn porn in a short text", CFG)  # ratio 0.33 but only 2 matches
    assert (s.count, dw.decide(s, CFG)) == (2, None)
    two = dw.Config(min_count=2)
    assert dw.decide(s, two) == dw.TOO_DENSE


def test_count_rule_boundary_and_precedence():
    cfg = dw.Config(max_count=5)
    five = dw.measure("porn " * 5 + words(1000), cfg)
    six = dw.measure("porn " * 6 + words(1000), cfg)
    assert dw.decide(five, cfg) is None
    assert dw.decide(six, cfg) == dw.TOO_MANY
    dense = dw.measure("porn " * 6 + "end", cfg)
    assert dw.decide(dense, cfg) == dw.TOO_MANY  # the count rule is checked first
    only_count = dw.Config(max_count=5, max_ratio=None)
    assert dw.decide(dw.measure("porn " * 5, only_count), only_count) is None


def test_languages_lists_and_unchecked_language():
    de = dw.measure("Du Arschloch, sagte er.", CFG, "de-DE")
    assert (de.count, de.checked) == (1, True)
    assert dw.measure("Du Arschloch, sagte er.", CFG, "en").count == 0
    sw = dw.measure("porn porn porn porn", CFG, "sw")  # no Swahili list bundled
    assert (sw.count, sw.ratio, sw.checked, sw.n_words) == (None, None, False, 4)
    assert dw.decide(sw, CFG) is None
    assert dw.measure("porn", dw.Config(default_language="de"), None).count == 0


def test_no_space_languages_count_substrings_per_character():
    s = dw.measure("这是三级片 和 下贱", CFG, "zh")
    assert (s.count, s.n_words) == (2, 8)  # substrings; 8 non-whitespace characters
    assert dw.measure("性别平等", CFG, "zh").count == 0  # C4's zh allowlist


def test_custom_list_folder(tmp_path):
    (tmp_path / "en.txt").write_text("Tomato\n\nbasil leaf\n", encoding="utf-8")
    cfg = dw.Config(badwords_dir=str(tmp_path))
    s = dw.measure("A tomato, TOMATO and a basil leaf; tomatoes are fine. Porn is not listed.", cfg)
    assert s.count == 3


def test_empty_and_whitespace_text():
    for text in ("", "  \n "):
        s = dw.measure(text, CFG)
        assert (s.count, s.n_words, s.ratio) == (0, 0, 0.0)
        assert dw.decide(s, CFG) is None


def test_apply_alive_rows_only_with_language_column():
    dense = "porn " * 4 + FILLER
    table = pa.table(
        {
            "text": [dense, dense, dense, "Du Arschloch " * 4, FILLER, dense],
            "language": ["en", "en", "sw", "de", None, "en"],
            "reason": ["earlier", None, None, None, None, None],
            "skip": [None, None, None, None, None, "request"],
        }
    )
    out = dw.apply(table, CFG)
    assert out.column("reason").to_pylist() == ["earlier", dw.TOO_DENSE, None, dw.TOO_DENSE, None, None]
    assert out.column("dirty_words_count").to_pylist() == [None, 4, None, 4, 0, None]
    assert out.column("dirty_words_checked").to_pylist() == [None, True, False, True, True, None]
    assert out.column("dirty_words_ratio").to_pylist()[1] == pytest.approx(0.4)
    assert out.column("text").to_pylist() == table.column("text").to_pylist()  # never rewrites text
    assert out.schema.field("dirty_words_count").type == pa.int64()
    assert out.schema.field("dirty_words_ratio").type == pa.float64()
    assert out.schema.field("dirty_words_checked").type == pa.bool_()


def test_apply_without_language_column_uses_default():
    out = dw.apply(pa.table({"text": ["porn " * 4 + FILLER]}), dw.Config(default_language="de"))
    assert out.column("dirty_words_count").to_pylist() == [0]
    assert out.column("reason").to_pylist() == [None]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_count": -1}, "filters.dirty_words.max_count must be >= 0 or null"),
        ({"max_ratio": 1.5}, "filters.dirty_words.max_ratio must be in [0, 1) or null"),
        ({"min_count": 0}, "filters.dirty_words.min_count must be >= 1"),
        ({"max_count": None, "max_ratio": None}, "max_count and max_ratio are both null"),
        ({"default_language": " "}, "filters.dirty_words.default_language is empty"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as err:
        dw.Config(**kwargs)
    assert message in str(err.value)


def test_config_from_yaml_data_and_metadata():
    cfg = from_dict(dw.Config, {"max_count": 10, "max_ratio": None})
    assert (cfg.max_count, cfg.max_ratio) == (10, None)
    with pytest.raises(ConfigError, match="unknown key 'threshold'"):
        from_dict(dw.Config, {"threshold": 3})
    assert dw.STAGE == "dirty_words" and dw.DEFAULT_ON is False
    assert dw.REASONS == ("dirty_words_too_many", "dirty_words_too_dense")
