"""Run statistics, the funnel, the accounting check and the report."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.report import render_report
from operators.stats import AccountingError, BatchStats, check_accounting, funnel, summary_table


def _batch() -> pa.Table:
    return pa.table(
        {
            "id": ["a", "b", "c", "d", "e"],
            "text": ["x" * 50, "y" * 500, None, "z", None],
            "language": ["en", "de", None, "en", None],
            "reason": [None, None, None, "gopher_too_few_words", None],
            "skip": [None, None, None, None, "request"],
        }
    )


def test_batch_stats_count_kept_rejected_and_skipped():
    s = BatchStats.of_table(_batch())
    assert s.documents_in == 4  # the request record is not a document
    assert s.documents_out == 3
    assert s.rejected == {"gopher_too_few_words": 1}
    assert s.skipped == {"request": 1}
    assert s.languages == {"en": 1, "de": 1, "unknown": 1}
    assert s.length_histogram[0] == 2 and s.length_histogram[2] == 1  # 0, 50 chars; 500 chars
    assert sum(s.length_histogram) == s.documents_out


def test_merge_roundtrips_through_json():
    a = BatchStats.of_table(_batch())
    b = BatchStats.from_json(a.to_json())
    total = BatchStats().merge(a).merge(b)
    assert total.documents_in == 8 and total.rejected["gopher_too_few_words"] == 2
    check_accounting(total.documents_in, total.documents_out, dict(total.rejected))


def test_accounting_violation_fails_loudly():
    with pytest.raises(AccountingError, match="2 documents lost"):
        check_accounting(10, 5, {"x": 3})
    with pytest.raises(AccountingError, match="1 documents invented"):
        check_accounting(10, 8, {"x": 3})


def test_funnel_follows_stage_order():
    rows = funnel(100, {"g1": 10, "c1": 5}, [("gopher", ("g1",)), ("c4", ("c1",)), ("fineweb", ("f1",))])
    assert [(r["stage"], r["in"], r["out"]) for r in rows] == [("gopher", 100, 90), ("c4", 90, 85), ("fineweb", 85, 85)]


def test_report_and_summary_show_every_reason():
    stats = {
        "documents_in": 10, "documents_out": 6, "rejected": {"c4_too_few_sentences": 3, "gopher_too_few_words": 1},
        "records_skipped": {"request": 10}, "stages": funnel(10, {"c4_too_few_sentences": 3, "gopher_too_few_words": 1},
        [("gopher_quality", ("gopher_too_few_words",)), ("c4", ("c4_too_few_sentences",))]),
        "languages": {"en": 6}, "length_histogram": [1, 2, 3, 0, 0, 0, 0, 0, 0], "wall_time_s": 2.0,
        "documents_per_s": 5.0,
    }
    page = render_report(stats)
    for needle in ("c4_too_few_sentences", "gopher_too_few_words", "gopher_quality", "Languages", "<svg"):
        assert needle in page
    text = summary_table(stats)
    assert "c4_too_few_sentences" in text and "60.0% kept" in text


def test_summary_counts_line_up_whatever_the_reason_length():
    rejected = {"gopher_rep_too_many_duplicate_paragraph_chars": 35, "empty_text": 34, "c4_curly_bracket": 1_234}
    stats = {"documents_in": 2_000, "documents_out": 697, "rejected": rejected, "wall_time_s": 3.0}
    lines = summary_table(stats).splitlines()
    counted = [line for line in lines if line.startswith(("documents", "  ")) and not line.startswith("  ...")]
    ends = {len(line.split("   (")[0]) for line in counted}  # where each count's last digit is
    assert len(counted) == 6 and len(ends) == 1, lines
