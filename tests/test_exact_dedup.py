"""Exact dedup by normalised URL and normalised text: pure helpers, reference table, Ray stage."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from operators.dedup.exact import (
    EXACT_DUPLICATE_TEXT,
    EXACT_DUPLICATE_URL,
    ExactDedupConfig,
    exact_dedup,
    exact_duplicates_table,
    normalize_url,
    text_key,
)


@pytest.mark.parametrize(
    "url,expected",
    [
        ("HTTP://Example.COM/Path", "http://example.com/Path"),  # path case kept
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a/#section", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/?b=2&a=1", "https://example.com/?a=1&b=2"),
        ("https://example.com/p?utm_source=x&id=3&UTM_Campaign=y&fbclid=z", "https://example.com/p?id=3"),
        ("https://user:pw@Example.com./x", "https://user:pw@example.com/x"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


def test_tracking_params_are_configurable():
    assert normalize_url("https://e.com/?ref=1&utm_x=2", ("ref",)) == "https://e.com/?utm_x=2"


def test_text_key():
    assert text_key("Hello\n\n  WORLD ") == text_key("hello world")
    assert text_key("Straße") == text_key("STRASSE")  # case folding, not just lowercasing
    assert text_key("hello world") != text_key("hello, world")
    assert text_key(None) == text_key("")


def _docs():
    return pa.table(
        {
            "id": ["a", "b", "c", "d", "e", "f", "g"],
            "url": [
                "https://x.com/p?utm_source=1",
                "https://X.com/p/",  # same URL as a
                "https://x.com/q",
                None,
                None,
                "https://x.com/r",
                "https://x.com/p#frag",  # same URL as a, and same text as c
            ],
            "text": ["one", "two", "Same  text", "same text", "five", "SAME TEXT", "same text"],
        }
    )


def test_reference_keeps_smallest_id_and_counts_each_document_once():
    drops = exact_duplicates_table(_docs(), ExactDedupConfig())
    got = sorted(zip(drops.column("id").to_pylist(), drops.column("reason").to_pylist(), drops.column("duplicate_of").to_pylist()))
    assert got == [
        ("b", EXACT_DUPLICATE_URL, "a"),
        ("d", EXACT_DUPLICATE_TEXT, "c"),  # null URL: text key only
        ("f", EXACT_DUPLICATE_TEXT, "c"),
        ("g", EXACT_DUPLICATE_URL, "a"),  # URL first, not counted again for its text
    ]


def test_text_survivor_is_chosen_among_url_survivors():
    # "b" is the smallest id with text "t" but is dropped by URL, so "c" keeps the text
    t = pa.table({"id": ["a", "b", "c"], "url": ["http://u/", "http://u", "http://v"], "text": ["x", "t", "t"]})
    drops = exact_duplicates_table(t, ExactDedupConfig())
    assert drops.to_pylist() == [{"id": "b", "reason": EXACT_DUPLICATE_URL, "duplicate_of": "a"}]


def test_rules_can_be_disabled():
    assert set(exact_duplicates_table(_docs(), ExactDedupConfig(by_url=False)).column("reason").to_pylist()) == {EXACT_DUPLICATE_TEXT}
    assert set(exact_duplicates_table(_docs(), ExactDedupConfig(by_text=False)).column("reason").to_pylist()) == {EXACT_DUPLICATE_URL}


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_stage_equals_reference(ray_cluster):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 3000
    hosts = [f"https://site{i}.org" for i in range(40)]
    urls = [None if rng.random() < 0.2 else f"{hosts[rng.integers(40)]}/p{rng.integers(400)}?utm_medium=m{rng.integers(3)}" for _ in range(n)]
    texts = [f"text number {rng.integers(1500)}" + (" " * int(rng.integers(1, 3))) for _ in range(n)]
    table = pa.table({"id": [f"doc{i:05d}" for i in range(n)], "url": urls, "text": texts})
    expected = sorted(map(tuple, (r.values() for r in exact_duplicates_table(table, ExactDedupConfig()).to_pylist())))
    got = sorted(tuple(r.values()) for r in exact_dedup(ray_cluster.data.from_arrow(table).repartition(4), ExactDedupConfig()).take_all())
    assert got == expected
    assert {r[1] for r in got} == {EXACT_DUPLICATE_URL, EXACT_DUPLICATE_TEXT}


@pytest.mark.ray
def test_ray_stage_on_no_documents_drops_nothing(ray_cluster):
    """Every document rejected before dedup (an empty alive set, as Ray Data hands it over:
    no block ever went through the key map): no rows to drop, not a missing-column error."""
    table = pa.table({"id": ["a", "b"], "url": [None, None], "text": ["x", "x"], "reason": ["short", "short"]})
    alive = ray_cluster.data.from_arrow(table).filter(lambda r: r["reason"] is None)
    got = exact_dedup(alive, ExactDedupConfig())
    assert got.take_all() == []
    assert set(got.columns()) == {"id", "reason", "duplicate_of"}
