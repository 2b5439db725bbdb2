"""Dolma PII stage: dolma's spans and quirks per variant, counts, the drop threshold, masking, apply().

Expected spans were checked against dolma 1.2.1's own taggers (``pii_regex_with_counts_v2`` and
``pii_regex_with_counts_fast_v2``) and masked texts against its mixer; ``tests/test_parity_dolma.py``
repeats that on real text.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from operators.config import ConfigError, from_dict
from operators.filters import pii

V2 = pii.Config()
FAST = pii.Config(variant="fast_v2")


def spans(text: str, cfg: pii.Config = V2) -> list[tuple[int, int, int]]:
    return [tuple(s) for s in pii.find_spans(text, cfg)]


def test_email_span_includes_surrounding_whitespace_and_mask_is_exact():
    text = "Mail me at john@doe.com now"
    assert spans(text) == [(10, 24, pii.EMAIL)]
    assert text[10:24] == " john@doe.com "
    assert pii.mask(text, V2) == "Mail me at |||EMAIL_ADDRESS||| now"


@pytest.mark.parametrize(
    "text",
    [
        "see (@example.com here",  # the address part is only "("
        "mail me@localhost now",  # no "." in the domain
        "write to a@b.com",  # no whitespace after the address: dolma finds nothing
    ],
)
def test_email_rejections_in_both_variants(text):
    assert spans(text) == [] and spans(text, FAST) == []


def test_v2_splits_the_whole_span_at_at_signs_fast_v2_the_address():
    # v2 splits " @john@doe.com " at "@": second field "john" has no "." -> not an e-mail.
    text = "x @john@doe.com y"
    assert spans(text) == []
    assert spans(text, FAST) == [(1, 16, pii.EMAIL)]


def test_phone_formats_and_mask_keeps_following_space():
    text = "Call (555) 123-4567 or 555.123.4567 or 5551234567 today."
    assert spans(text) == [(4, 19, pii.PHONE), (22, 35, pii.PHONE), (38, 49, pii.PHONE)]
    assert pii.mask(text, V2) == "Call |||PHONE_NUMBER|||  or |||PHONE_NUMBER|||  or |||PHONE_NUMBER|||  today."


def test_phone_at_line_start_found_by_v2_only():
    text = "x\n555-123-4567 is the line"
    assert spans(text) == [(1, 14, pii.PHONE)]
    assert spans(text, FAST) == []  # fast_v2 searches each line alone: no whitespace before the number


def test_identifier_context_is_case_sensitive_and_v2_only():
    assert spans("isbn: 555 123 4567 ok") == []
    assert spans("ISBN 555 123 4567 ok") == [(4, 17, pii.PHONE)]
    assert spans("isbn: 555 123 4567 ok", FAST) == [(5, 18, pii.PHONE)]
    assert spans("doi 10.1000/182 and 10.0.0.1 here") == []
    assert spans("doi 10.1000/182 and 10.0.0.1 here", FAST) == [(20, 28, pii.IP)]


def test_context_window_boundary():
    # '#' exactly 100 characters before the span start is inside the window, 101 is outside.
    inside = "#" + "x" * 99 + " 555 123 4567 z"
    outside = "#" + "x" * 100 + " 555 123 4567 z"
    assert spans(inside) == []
    assert spans(outside) == [(101, 114, pii.PHONE)]
    assert spans(inside, pii.Config(context_window=99)) == [(100, 113, pii.PHONE)]


def test_ip_has_no_boundaries_as_in_dolma():
    text = "server 999.1.1.1 down and 1.2.3.4.5 up"
    assert spans(text) == [(8, 16, pii.IP), (26, 33, pii.IP)]
    assert pii.mask(text, V2) == "server 9 |||IP_ADDRESS|||  down and  |||IP_ADDRESS||| .5 up"


def test_overlapping_spans_count_twice_and_email_wins_a_tie():
    text = "john 555-123-4567@mail.com rest"
    assert sorted(spans(text)) == [(4, 17, pii.PHONE), (4, 27, pii.EMAIL)]
    s = pii.measure(text, V2)
    assert (s.emails, s.phones, s.ips, s.total) == (1, 1, 0, 2)
    assert pii.mask(text, V2) == "john |||EMAIL_ADDRESS||| rest"  # dolma's mixer output


def test_span_starting_inside_a_replaced_span_is_skipped():
    text = "x 1 192.168.1001.5 y 10.0.0.1 z"
    assert pii.mask(text, V2) == "x 1 |||PHONE_NUMBER||| .5 y  |||IP_ADDRESS|||  z"
    assert pii.mask_spans("abcdef", [pii.Span(1, 4, pii.PHONE), pii.Span(3, 5, pii.IP), pii.Span(4, 6, pii.IP)]) == (
        "a |||PHONE_NUMBER|||  |||IP_ADDRESS||| "
    )


def test_non_latin_text_and_empty_text():
    assert pii.mask("联系 test@example.com 谢谢", V2) == "联系 |||EMAIL_ADDRESS||| 谢谢"
    for text in ("", "   \n  "):
        s = pii.measure(text, V2)
        assert (s.emails, s.phones, s.ips, s.total) == (0, 0, 0, 0)
        assert pii.mask(text, V2) == text


def test_fast_v2_skips_documents_with_many_question_marks():
    text = "?" * 10_001 + " mail a@b.com now"
    assert spans(text, FAST) == []
    assert spans("?" * 10_000 + " mail a@b.com now", FAST) == [(10_005, 10_014, pii.EMAIL)]


@pytest.mark.parametrize("cfg", [V2, FAST])
def test_long_runs_stay_linear(cfg):
    # dolma's own search is quadratic here (seconds at 30,000 characters); ours must not be.
    texts = [
        "x" * 300_000 + " mail a@b.com now",
        "@ " * 150_000 + " a@b.com ",
        "a" + " " * 300_000 + "x 555 123 4567 z",
        "." * 300_000 + "x@y",
    ]
    start = time.process_time()
    found = [len(pii.find_spans(t, cfg)) for t in texts]
    assert time.process_time() - start < 2.0
    # v2 splits the whole e-mail span (it starts at the first "@ ") at "@": no "." after the first one.
    assert found == ([1, 0, 1, 0] if cfg.variant == "v2" else [1, 1, 1, 0])


def test_skip_phones_with_urls_is_opt_in():
    text = "tel 555 123 4567 see https://example.com/x ok"
    assert pii.measure(text, V2).phones == 1  # dolma's URL rule never fires (backspace pattern)
    assert pii.measure(text, pii.Config(skip_phones_with_urls=True)).phones == 0
    assert pii.measure("tel 555 123 4567 see example.com ok", pii.Config(skip_phones_with_urls=True)).phones == 1


def test_kinds_restrict_search_columns_and_mask():
    text = "a@b.com and 10.0.0.1 and 555 123 4567 end"
    cfg = pii.Config(kinds=("email",))
    s = pii.measure(text, cfg)
    assert (s.emails, s.phones, s.ips, s.total) == (1, None, None, 1)
    assert pii.mask(text, cfg) == text.replace("a@b.com ", " |||EMAIL_ADDRESS||| ")


def test_decide_threshold_boundaries():
    five = " ".join(["a@b.co"] * 5) + " end"
    six = " ".join(["a@b.co"] * 6) + " end"
    assert pii.measure(five, V2).total == 5 and pii.decide(pii.measure(five, V2), V2) is None
    assert pii.measure(six, V2).total == 6 and pii.decide(pii.measure(six, V2), V2) == pii.TOO_MANY
    zero = pii.Config(max_matches=0)
    assert pii.decide(pii.measure("no pii here", zero), zero) is None
    assert pii.decide(pii.measure("write a@b.co now", zero), zero) == pii.TOO_MANY
    never = pii.Config(max_matches=None)
    assert pii.decide(pii.measure(six, never), never) is None


def _table() -> pa.Table:
    many = " ".join(["a@b.co"] * 6) + " end"
    return pa.table(
        {
            "id": ["dead", "alive_pii", "alive_many", "skipped", "clean"],
            "text": ["old a@b.co x", "write a@b.co now", many, "skip a@b.co x", "nothing here"],
            "reason": ["url_blocked", None, None, None, None],
            "skip": [None, None, None, "request", None],
        }
    )


def test_apply_scores_and_rewrites_alive_rows_only():
    out = pii.apply(_table(), V2)
    assert out.column("reason").to_pylist() == ["url_blocked", None, pii.TOO_MANY, None, None]
    assert out.column("pii_total").to_pylist() == [None, 1, 6, None, 0]
    assert out.column("pii_emails").to_pylist() == [None, 1, 6, None, 0]
    assert out.column("pii_phones").to_pylist() == [None, 0, 0, None, 0]
    texts = out.column("text").to_pylist()
    assert texts[0] == "old a@b.co x"  # rejected before this stage: untouched
    assert texts[1] == "write |||EMAIL_ADDRESS||| now"
    assert texts[2] == _table().column("text")[2].as_py()  # rejected here: kept for review
    assert texts[3] == "skip a@b.co x"  # not a document
    assert texts[4] == "nothing here"
    assert out.schema.field("pii_total").type == pa.int64()


def test_apply_mask_rejected_and_mask_off():
    out = pii.apply(_table(), pii.Config(mask_rejected=True))
    assert out.column("text")[2].as_py() == " |||EMAIL_ADDRESS||| " * 6 + "end"
    assert out.column("text")[0].as_py() == "old a@b.co x"
    off = pii.apply(_table(), pii.Config(mask=False))
    assert off.column("text").to_pylist() == _table().column("text").to_pylist()
    assert off.column("reason").to_pylist() == ["url_blocked", None, pii.TOO_MANY, None, None]


def test_apply_all_rows_dead_keeps_typed_null_columns():
    t = pa.table({"text": ["a@b.co x"], "reason": ["earlier"]})
    out = pii.apply(t, V2)
    assert out.column("pii_total").type == pa.int64()
    assert out.column("pii_total").to_pylist() == [None]
    assert out.column("text").to_pylist() == ["a@b.co x"]


def test_apply_twice_replaces_columns():
    once = pii.apply(pa.table({"text": ["write a@b.co now"]}), V2)
    twice = pii.apply(once.drop_columns(["reason"]), V2)
    assert twice.column_names.count("pii_total") == 1
    assert twice.column("pii_total").to_pylist() == [0]  # the placeholder is not PII


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ("mail",)}, "filters.pii.kinds: unknown kind 'mail'; choose from: email, phone, ip"),
        ({"kinds": ()}, "filters.pii.kinds is empty"),
        ({"kinds": ("ip", "ip")}, "lists a kind twice"),
        ({"max_matches": -1}, "filters.pii.max_matches must be >= 0"),
        ({"variant": "v3"}, "filters.pii.variant = 'v3' is not valid; choose one of: 'v2', 'fast_v2'"),
        ({"context_window": -5}, "filters.pii.context_window must be >= 0"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pii.Config(**kwargs)


def test_config_from_yaml_data():
    cfg = from_dict(pii.Config, {"kinds": ["email", "ip"], "max_matches": 3, "variant": "fast_v2"})
    assert cfg.kinds == ("email", "ip") and cfg.max_matches == 3
    with pytest.raises(ConfigError, match="unknown key 'max_match'"):
        from_dict(pii.Config, {"max_match": 3})
    with pytest.raises(ConfigError, match="kinds"):
        from_dict(pii.Config, {"kinds": ["phone", "fax"]})


def test_stage_metadata():
    assert pii.STAGE == "pii" and pii.DEFAULT_ON is False
    assert pii.REASONS == (pii.TOO_MANY,) == ("pii_too_many",)
