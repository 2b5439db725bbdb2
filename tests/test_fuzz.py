"""Fuzzing the WARC reader and the HTML extraction path (issue 13, item 4).

Seeded random mutations of real crawl records and pages from ``../shared/data`` (byte flips,
truncations, inserted garbage, duplicated and spliced stretches, edits of the WARC and HTTP
header text inside a gzip member, deep nesting) run for a bounded time: ``RAYSIFT_FUZZ_SECONDS``
(default 20, shared by the two targets). Each case asserts that no exception escapes and that
the accounting holds: every row is a document or a named skip, every document is kept or
rejected with a named reason, byte ranges read the records of the whole-file read, and
extraction gives text or a reason, never both. A failing case prints its seed; rerun it alone
with ``RAYSIFT_FUZZ_SEED=<seed>``.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import random
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest

from operators import extract, warc
from operators.stats import BatchStats, check_accounting
from tests.hostile_corpus import build_corpus

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BUDGET_S = float(os.environ.get("RAYSIFT_FUZZ_SECONDS", "20"))
ONLY_SEED = os.environ.get("RAYSIFT_FUZZ_SEED")
SKIPS = {v for k, v in vars(warc).items() if k.startswith("SKIP_")}
CFG = extract.ExtractConfig(timeout_seconds=None, main_content=True)


def _members(data: bytes) -> list[bytes]:
    """The gzip members of a record-at-time .warc.gz file."""
    out = []
    while data:
        d = zlib.decompressobj(31)
        d.decompress(data)
        used = len(data) - len(d.unused_data)
        out.append(data[:used])
        data = d.unused_data
    return out


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[bytes]]:
    """Records (gzip members) of the shared real WARCs and of the hostile corpus' valid
    records, and real HTML pages."""
    if not (DATA / "warc").is_dir():
        pytest.skip(f"../shared/data not found: {DATA} is absent (real WARC and HTML samples)")
    members = []
    for path in sorted((DATA / "warc").glob("*.warc.gz")):
        members.extend(m for m in _members(path.read_bytes()) if len(m) < 200_000)
    for f in build_corpus(seed=1, huge=False):
        if f.cls in ("charsets", "transfer_encodings", "no_http_headers", "revisit", "utf16_shiftjis"):
            members.extend(_members(f.data))
    pages = [gzip.decompress(p.read_bytes())
             for p in sorted((DATA / "extraction-dev" / "mozilla-readability" / "test-pages").glob("*/source.html.gz"))]
    pages = [p for p in pages if len(p) < 300_000]
    assert len(members) > 1000 and len(pages) > 50
    return {"members": members, "pages": pages}


# ----------------------------------------------------------------------------- mutations


def _flip(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def _insert(rng: random.Random, data: bytes, other: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        piece = rng.randbytes(rng.randint(1, 300))
    else:
        start = rng.randrange(len(other) + 1)
        piece = other[start:start + rng.randint(1, 4000)]
    return data[:at] + piece + data[at:]


def _cut_out(rng: random.Random, data: bytes) -> bytes:
    a = rng.randrange(len(data) + 1)
    return data[:a] + data[a + rng.randint(1, 2000):]


def _duplicate(rng: random.Random, data: bytes) -> bytes:
    a = rng.randrange(len(data) + 1)
    piece = data[a:a + rng.randint(1, 3000)]
    return data[:a] + piece + piece + data[a:]


_HEADER_EDITS = [
    (b"Content-Length: ", [b"Content-Length: -", b"Content-Length: 9", b"Content-Length: x", b"Content-Length:  ",
                           b"Content-Length: 99999999999999999999", b"X-Length: "]),
    (b"WARC/1.", [b"WARC/9.", b"WARC/", b"XARC/1.", b"warc/1."]),
    (b"\r\n\r\n", [b"\r\n", b"\n\n", b"\r\n\r\n\r\n", b"\r\r", b""]),
    (b"HTTP/1.", [b"HTTP/", b"HTTP/1.1 999 ", b"http/1.", b""]),
    (b"Content-Type: ", [b"Content-Type: \x00", b"Content-Type: text/html; charset=\xff;", b"Content-Type: image/"]),
    (b"Transfer-Encoding: ", [b"Transfer-Encoding: chunked, ", b"Transfer-Encoding: x"]),
    (b"Content-Encoding: ", [b"Content-Encoding: gzip, ", b"Content-Encoding: br", b"Content-Encoding: zstd"]),
    (b"WARC-Type: ", [b"WARC-Type: revisit", b"WARC-Type: \xff", b"WARC-Type: "]),
    (b"WARC-Target-URI: ", [b"WARC-Target-URI: \x00", b"WARC-Target-URI: %zz", b"WARC-Target-URI: <", b"X: "]),
]


def _edit_member(rng: random.Random, member: bytes) -> bytes:
    """Inflate one member, edit its header text (or flip/truncate its plain bytes), deflate it."""
    try:
        plain = gzip.decompress(member)
    except (OSError, EOFError, zlib.error):
        return member
    for _ in range(rng.randint(1, 3)):
        old, news = rng.choice(_HEADER_EDITS)
        hits = [i for i in range(len(plain)) if plain.startswith(old, i)][:20] if old in plain[:20000] else []
        if hits:
            i = rng.choice(hits)
            plain = plain[:i] + rng.choice(news) + plain[i + len(old):]
        else:
            plain = _flip(rng, plain) if rng.random() < 0.5 else _truncate(rng, plain)
    return gzip.compress(plain, compresslevel=1, mtime=0)


def _warc_case(rng: random.Random, members: list[bytes]) -> tuple[str, bytes]:
    """A small WARC file: a few consecutive real records, gzip per record or plain, mutated."""
    start = rng.randrange(len(members))
    picked = [members[(start + i) % len(members)] for i in range(rng.randint(1, 6))]
    if rng.random() < 0.5:
        k = rng.randrange(len(picked))
        picked[k] = _edit_member(rng, picked[k])
    gz = rng.random() < 0.7
    data = b"".join(picked) if gz else b"".join(gzip.decompress(m) if _inflates(m) else m for m in picked)
    other = rng.choice(members)
    for _ in range(rng.randint(0, 3)):
        op = rng.choice((_flip, _truncate, _insert, _cut_out, _duplicate))
        data = op(rng, data, other) if op is _insert else op(rng, data)
    return ("case.warc.gz" if gz else "case.warc"), data


def _inflates(member: bytes) -> bool:
    try:
        gzip.decompress(member)
        return True
    except (OSError, EOFError, zlib.error):
        return False


_NESTING = ["<div>", "<UL><LI>", "<table><tr><td>", "<span><b>", "<ol><li><p>", "<!--", "<script>", "<title>",
            "<p>", "<blockquote>", "<a href=x>", "<math><mi>"]


def _html_case(rng: random.Random, pages: list[bytes]) -> bytes:
    page = rng.choice(pages)
    op = rng.randrange(7)
    if op == 0:
        return _flip(rng, page)
    if op == 1:
        return _truncate(rng, page)
    if op == 2:
        return _insert(rng, page, rng.choice(pages))
    if op == 3:
        at = rng.randrange(len(page) + 1)
        return page[:at] + rng.choice(_NESTING).encode() * rng.randint(100, 30_000) + page[at:]
    if op == 4:  # another encoding than the one the page declares
        try:
            return page.decode("utf-8").encode(rng.choice(["utf-16", "utf-16-be", "cp1252", "shift_jis", "latin-1"]),
                                               "replace")
        except UnicodeDecodeError:
            return page
    if op == 5:
        return _cut_out(rng, page)
    return _duplicate(rng, page)


# ----------------------------------------------------------------------------- checks


def _check_warc(name: str, data: bytes) -> Counter:
    rows = list(warc.iter_warc_rows(io.BytesIO(data), name))
    assert rows, "every stream gives at least one row"
    for r in rows:
        assert r["source"] == name and r["id"]
        assert r["skip"] is None or r["skip"] in SKIPS, r["skip"]
        assert (r["html"] is None) == (r["skip"] is not None)
    if warc.is_splittable(name) and len(data) > 16:
        cut = sorted({0, len(data), *(random.Random(len(data)).randrange(len(data)) for _ in range(3))})
        ranged = [r for a, b in zip(cut, cut[1:]) for t in warc.iter_warc_range_tables(
            lambda n, pos: data[pos:pos + n], name, a, b) for r in t.to_pylist()]
        records = Counter((r["id"], r["skip"]) for r in rows if r["skip"] not in warc.FILE_PROBLEMS)
        ranged_records = Counter((r["id"], r["skip"]) for r in ranged if r["skip"] not in warc.FILE_PROBLEMS)
        assert ranged_records == records, "byte ranges must read the records of the whole-file read"
    out = extract.extract_batch(warc.rows_to_table(rows), CFG)
    stats = BatchStats.of_table(out)
    assert stats.documents_in == sum(r["skip"] is None for r in rows)
    check_accounting(stats.documents_in, stats.documents_out, dict(stats.rejected))
    assert set(stats.rejected) <= set(extract.REASONS)
    return Counter(r["skip"] or "document" for r in rows)


def _check_html(body: bytes) -> str:
    text, reason = extract.extract_one(body, None, CFG)
    assert (text is None) != (reason is None)
    if reason is not None:
        assert reason in extract.REASONS
    else:
        assert text.strip()
    return reason or "text"


def _run(target, budget: float) -> tuple[int, Counter]:
    """Call ``target(rng)`` for ``budget`` seconds, one seed per case (or the one seed asked)."""
    seeds = [int(ONLY_SEED)] if ONLY_SEED else None
    outcomes: Counter = Counter()
    n = 0
    deadline = time.monotonic() + budget
    logging.disable(logging.WARNING)
    try:
        while (seeds is None and (n == 0 or time.monotonic() < deadline)) or (seeds is not None and n < len(seeds)):
            seed = seeds[n] if seeds else 1_000_003 * n + 17
            try:
                outcomes.update(target(random.Random(seed)))
            except Exception as exc:  # noqa: BLE001 - re-raised with the seed that reproduces it
                raise AssertionError(f"fuzz case failed; rerun with RAYSIFT_FUZZ_SEED={seed}: {exc!r}") from exc
            n += 1
    finally:
        logging.disable(logging.NOTSET)
    return n, outcomes


@pytest.mark.fault_case('fuzzing', 'seeded mutations of real WARC records (byte flips, cuts, splices)', 'no exception escapes; every record accounted for')
def test_fuzz_warc_reader(seeds):
    n, outcomes = _run(lambda rng: _check_warc(*_warc_case(rng, seeds["members"])), BUDGET_S * 0.6)
    print(f"{n} WARC cases: {dict(outcomes.most_common())}")
    assert n >= 1
    if not ONLY_SEED and n >= 200:  # the mutations reach the damage paths, not only clean reads
        assert outcomes["document"] and outcomes[warc.SKIP_CORRUPT_FILE] and outcomes[warc.SKIP_BAD_CONTENT_LENGTH]


@pytest.mark.fault_case('fuzzing', 'seeded mutations of real HTML pages', 'no exception escapes; text or a named reason')
def test_fuzz_html_extraction(seeds):
    n, outcomes = _run(lambda rng: Counter([_check_html(_html_case(rng, seeds["pages"]))]), BUDGET_S * 0.4)
    print(f"{n} HTML cases: {dict(outcomes.most_common())}")
    assert n >= 1
    if not ONLY_SEED and n >= 100:
        assert outcomes["text"]
