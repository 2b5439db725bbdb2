"""Line dedup (Llama 3 / CCNet) and paragraph dedup (Dolma): reference tables and Ray stages."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from operators.config import ConfigError
from operators.dedup.lines import (
    LINE_DEDUP_EMPTY,
    PARAGRAPH_DEDUP_EMPTY,
    LineDedupConfig,
    ParagraphDedupConfig,
    line_dedup,
    line_dedup_table,
    paragraph_dedup,
    paragraph_dedup_table,
)


def _corpus() -> pa.Table:
    boiler = "Accept all Cookies!"
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    texts = [
        f"Story of {n} begins.\n{boiler if i % 2 else 'accept ALL cookies'}\nThe end of story number {i}." for i, n in enumerate(names)
    ]
    texts.append("ACCEPT all cookies...\n\n   ")  # left empty after line dedup
    texts.append("Dead document\naccept all cookies")  # already rejected: untouched, not counted
    return pa.table(
        {
            "id": [f"d{i}" for i in range(10)],
            "text": texts,
            "reason": [None] * 9 + ["gopher_too_few_words"],
        }
    )


def test_line_seen_in_more_than_k_documents_is_removed_everywhere():
    out = line_dedup_table(_corpus(), LineDedupConfig(max_occurrences=6))
    texts = out.column("text").to_pylist()
    # 9 alive documents share the normalised cookie line (> 6): removed from all of them
    assert all("ookie" not in t for t in texts[:9])
    # "The end of story number N." lines normalise equal (digits -> 0) in 8 documents: removed too
    assert texts[0] == "Story of alice begins."
    assert texts[3] == "Story of dave begins."
    assert out.column("reason").to_pylist()[8] == LINE_DEDUP_EMPTY
    assert texts[9] == "Dead document\naccept all cookies"
    assert out.column("reason").to_pylist()[9] == "gopher_too_few_words"
    assert out.column("reason").to_pylist()[:8] == [None] * 8


def test_line_limit_is_distinct_documents_and_configurable():
    t = pa.table({"id": ["a", "b", "c"], "text": ["x\nx\nx\nunique a", "x\nunique b", "y"]})
    # "x" is in 2 documents (3 times in one): kept with K=2, removed with K=1
    assert line_dedup_table(t, LineDedupConfig(max_occurrences=2)).column("text").to_pylist() == t.column("text").to_pylist()
    out = line_dedup_table(t, LineDedupConfig(max_occurrences=1)).column("text").to_pylist()
    assert out == ["unique a", "unique b", "y"]
    with pytest.raises(ConfigError, match="max_occurrences"):
        LineDedupConfig(max_occurrences=0)


def test_paragraph_kept_in_smallest_id_only():
    t = pa.table(
        {
            "id": ["b", "a", "c"],
            "text": ["Shared para.\nOwn b.\nShared para.", "  Shared para.  \nOwn a.", "Shared para."],
        }
    )
    out = paragraph_dedup_table(t, ParagraphDedupConfig())
    assert out.column("text").to_pylist() == ["Own b.", "  Shared para.  \nOwn a.", ""]
    assert out.column("reason").to_pylist() == [None, None, PARAGRAPH_DEDUP_EMPTY]
    # exact, not normalised: case differences are different paragraphs
    t2 = pa.table({"id": ["a", "b"], "text": ["Hello there.", "hello there."]})
    assert paragraph_dedup_table(t2, ParagraphDedupConfig()).column("text").to_pylist() == ["Hello there.", "hello there."]


def test_paragraph_separator_blank_lines():
    t = pa.table({"id": ["a", "b"], "text": ["p1 line1\np1 line2\n\nshared", "shared\n\nmine"]})
    out = paragraph_dedup_table(t, ParagraphDedupConfig(separator="\n\n"))
    assert out.column("text").to_pylist() == ["p1 line1\np1 line2\n\nshared", "mine"]


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def _by_id(rows):
    return sorted((r["id"], r["text"], r["reason"]) for r in rows)


@pytest.mark.ray
def test_ray_stages_equal_reference(ray_cluster):
    table = _corpus()
    ds = ray_cluster.data.from_arrow(table).repartition(3)
    got = _by_id(line_dedup(ds, LineDedupConfig()).take_all())
    assert got == _by_id(line_dedup_table(table, LineDedupConfig()).to_pylist())
    got = _by_id(paragraph_dedup(ds, ParagraphDedupConfig()).take_all())
    assert got == _by_id(paragraph_dedup_table(table, ParagraphDedupConfig()).to_pylist())
