"""operators.warc: the pure reader over every shared real WARC, broken inputs, and the Ray datasource."""

from __future__ import annotations

import collections
import gzip
import random
import io
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest

from operators import warc
from operators.warc import WarcConfig, iter_warc_rows

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WARC_DIR = DATA / "warc"


def _warc_files() -> list[Path]:
    if not WARC_DIR.is_dir():
        pytest.skip(f"../shared/data not found: {WARC_DIR} is absent (real WARC samples)")
    return sorted(WARC_DIR.glob("*.gz"))


def _rows(path: Path, cfg: WarcConfig | None = None) -> list[dict]:
    with open(path, "rb") as f:
        return list(iter_warc_rows(f, str(path), cfg or WarcConfig()))


def _counts(rows: list[dict]) -> collections.Counter:
    return collections.Counter(r["skip"] or "document" for r in rows)


@pytest.mark.shared_data
def test_every_shared_file_reads_without_error():
    files = _warc_files()
    assert len(files) >= 15
    total = collections.Counter()
    for path in files:
        rows = _rows(path)
        assert rows, path.name
        for r in rows:
            assert r["source"] == str(path)
            assert r["id"]
            if r["skip"] is None:
                assert isinstance(r["html"], bytes) and r["html"]
                assert r["url"].startswith("http")
            else:
                assert r["html"] is None
        total.update(_counts(rows))
    # No file in the set is corrupt; the collection has every kind of record.
    assert total[warc.SKIP_CORRUPT_FILE] == 0
    assert total[warc.SKIP_BAD_RECORD] == 0
    assert total["document"] >= 250
    for skip in (warc.SKIP_REQUEST, warc.SKIP_METADATA, warc.SKIP_REVISIT, warc.SKIP_WARCINFO,
                 warc.SKIP_RESOURCE, warc.SKIP_DNS, warc.SKIP_NON_HTML, warc.SKIP_HTTP_NOT_OK):
        assert total[skip] > 0, skip
    # Record count matches the upstream description (2,009 records counted with warcio, +4 WET/WAT).
    assert 2000 <= sum(total.values()) <= 2020


@pytest.mark.shared_data
def test_common_crawl_2024_record():
    _warc_files()
    rows = _rows(WARC_DIR / "whirlwind__CC-MAIN-2024-22.warc.gz")
    assert [r["skip"] for r in rows] == ["warcinfo", "request", None, "metadata"]
    doc = rows[2]
    assert doc["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc["id"].startswith("<urn:uuid:")
    assert doc["warc_date"].year == 2024 and doc["warc_date"].utcoffset().total_seconds() == 0
    assert doc["html"].lstrip().lower().startswith(b"<!doctype html")
    assert doc["http_charset"] == "utf-8"


@pytest.mark.shared_data
def test_wet_and_wat_give_no_documents():
    _warc_files()
    wet = _counts(_rows(WARC_DIR / "whirlwind__CC-MAIN-2024-22.warc.wet.gz"))
    wat = _counts(_rows(WARC_DIR / "whirlwind__CC-MAIN-2024-22.warc.wat.gz"))
    assert wet == {"warcinfo": 1, "conversion": 1}
    assert wat == {"warcinfo": 1, "metadata": 1}


@pytest.mark.shared_data
def test_chunked_and_encoded_bodies_are_decoded():
    _warc_files()
    # dolma sample 0001 has chunked responses; every document must be plain HTML, not hex sizes.
    for name in ("dolma__sample-0001.warc.gz", "pywb__iana.warc.gz", "nodewarc__parseMe-WAIL.warc.gz",
                 "resiliparse__clueweb09-quirk.warc.gz"):
        docs = [r for r in _rows(WARC_DIR / name) if r["skip"] is None]
        assert docs, name
        for d in docs:
            assert warc.looks_like_html(d["html"]), (name, d["html"][:40])


@pytest.mark.shared_data
def test_too_large_is_rejected():
    _warc_files()
    counts = _counts(_rows(WARC_DIR / "dolma__sample-0000.warc.gz", WarcConfig(max_html_bytes=2000)))
    assert counts[warc.SKIP_TOO_LARGE] >= 10
    assert counts["document"] + counts[warc.SKIP_TOO_LARGE] == 22


@pytest.mark.shared_data
def test_truncated_file_does_not_crash(tmp_path):
    _warc_files()
    data = (WARC_DIR / "ipwb__sample-1.warc.gz").read_bytes()
    full = len(_rows(WARC_DIR / "ipwb__sample-1.warc.gz"))
    for cut in (len(data) // 2, 1000, 37, 0):
        path = tmp_path / f"cut-{cut}.warc.gz"
        path.write_bytes(data[:cut])
        rows = _rows(path)
        assert len(rows) < full
        # a cut ends in a truncated record or a corrupt-file row, never silently
        assert rows[-1]["skip"] in (warc.SKIP_TRUNCATED_RECORD, warc.SKIP_CORRUPT_FILE, warc.SKIP_EMPTY_FILE), cut
        assert all(r["source"] == str(path) for r in rows)
    rows = _rows(tmp_path / f"cut-{len(data) // 2}.warc.gz")
    assert _counts(rows)["document"] > 10


def test_garbage_gives_one_not_warc_row_and_an_empty_file_one_empty_file_row():
    cases = [(b"hello world\n" * 100, warc.SKIP_NOT_WARC), (gzip.compress(b"not a warc\r\n" * 50), warc.SKIP_NOT_WARC),
             (random.Random(0).randbytes(4096), warc.SKIP_NOT_WARC), (b"", warc.SKIP_EMPTY_FILE)]
    for data, reason in cases:
        for quirks in (True, False):
            rows = list(iter_warc_rows(io.BytesIO(data), "mem://x", WarcConfig(quirks_mode=quirks)))
            assert [r["skip"] for r in rows] == [reason]
            assert rows[0]["id"] == "mem://x#corrupt"


def test_garbage_after_records_keeps_the_records():
    html = b"<html><body>ok</body></html>"
    good = _synthetic_warc(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + html)
    for quirks in (False, True):  # the reader resumes at the next record after the garbage
        rows = list(iter_warc_rows(io.BytesIO(good + b"garbage" * 100 + good), "m", WarcConfig(quirks_mode=quirks)))
        assert [r["skip"] for r in rows] == [None, warc.SKIP_CORRUPT_FILE, None]


def _synthetic_warc(http_block: bytes, uri: str = "http://example.com/") -> bytes:
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n"
        f"WARC-Date: 2024-05-01T10:00:00Z\r\nWARC-Target-URI: {uri}\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http_block)}\r\n\r\n"
    ).encode()
    return head + http_block + b"\r\n\r\n"


def test_synthetic_encodings_and_content_types():
    html = b"<html><body><p>Hallo Welt</p></body></html>"
    cases = [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=ISO-8859-1\r\n\r\n" + html, None, "iso-8859-1"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/html\r\n\r\n" + gzip.compress(html), None, None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(html) + html + b"\r\n0\r\n\r\n", None, None),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/xhtml+xml\r\n\r\n" + html, None, None),
        (b"HTTP/1.1 200 OK\r\n\r\n" + html, None, None),  # no content type: sniffed
        (b"HTTP/1.1 200 OK\r\n\r\n%PDF-1.4 binary", warc.SKIP_NON_HTML, None),
        (b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG", warc.SKIP_NON_HTML, None),
        (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n" + html, warc.SKIP_HTTP_NOT_OK, None),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/html\r\n\r\n\x1f\x8b\x08garbage", warc.SKIP_UNDECODABLE, None),
    ]
    for block, skip, charset in cases:
        rows = list(iter_warc_rows(io.BytesIO(_synthetic_warc(block)), "mem://s"))
        assert len(rows) == 1
        assert rows[0]["skip"] == skip, block[:60]
        if skip is None:
            assert rows[0]["html"] == html
            assert rows[0]["http_charset"] == charset
            assert rows[0]["warc_date"].year == 2024


def test_gzip_bomb_is_too_large():
    bomb = gzip.compress(b"<html>" + b"a" * 5_000_000)
    block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/html\r\n\r\n" + bomb
    rows = list(iter_warc_rows(io.BytesIO(_synthetic_warc(block)), "mem://b", WarcConfig(max_html_bytes=100_000)))
    assert rows[0]["skip"] == warc.SKIP_TOO_LARGE


def test_dns_record_is_skipped():
    block = b"20080430204833\nwww.archive.org.\t589\tIN\tA\t207.241.229.39\n"
    data = _synthetic_warc(block, uri="dns:www.archive.org").replace(
        b"application/http; msgtype=response", b"text/dns")
    rows = list(iter_warc_rows(io.BytesIO(data), "mem://d"))
    assert rows[0]["skip"] == warc.SKIP_DNS


class _SocketLike:
    """Non-seekable stream: read() only, tell() raises (as a socket or HTTP body would)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(min(n, 1000) if n and n > 0 else n)

    def tell(self) -> int:
        raise OSError("not seekable")

    def seekable(self) -> bool:
        return False


@pytest.mark.shared_data
def test_non_seekable_streams():
    _warc_files()
    path = WARC_DIR / "resiliparse__warcfile-CC-MAIN-2020-34.warc.gz"
    expected = [r["id"] for r in _rows(path)]
    data = path.read_bytes()
    via_arrow = [r["id"] for r in iter_warc_rows(pa.input_stream(io.BytesIO(data)), str(path))]
    via_socket = [r["id"] for r in iter_warc_rows(_SocketLike(data), str(path))]
    assert via_arrow == expected == via_socket
    assert len(expected) == 50


def test_tables_follow_schema_and_batch_size():
    _warc_files()
    path = WARC_DIR / "resiliparse__warcfile-CC-MAIN-2020-34.warc.gz"
    with open(path, "rb") as f:
        tables = list(warc.iter_warc_tables(f, str(path), WarcConfig(rows_per_batch=16)))
    assert [t.num_rows for t in tables] == [16, 16, 16, 2]
    assert all(t.schema == warc.WARC_SCHEMA for t in tables)


def test_expand_manifest(tmp_path):
    manifest = tmp_path / "warc.paths.gz"
    manifest.write_bytes(gzip.compress(
        b"crawl-data/CC-MAIN-2024-22/segments/1/warc/a.warc.gz\n\ncrawl-data/CC-MAIN-2024-22/segments/1/warc/b.warc.gz\n"))
    assert warc.expand_manifest(str(manifest)) == [
        "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/1/warc/a.warc.gz",
        "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/1/warc/b.warc.gz",
    ]
    assert warc.expand_manifest(str(manifest), base="https://data.commoncrawl.org")[0] == (
        "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/1/warc/a.warc.gz")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="rows_per_batch"):
        WarcConfig(rows_per_batch=0)


def _pread(path: Path):
    data = path.read_bytes()
    return lambda n, pos: data[pos:pos + n]


def _range_rows(path: Path, pieces: int, read_at=None) -> list[dict]:
    read_at = read_at or _pread(path)
    size = path.stat().st_size
    units = warc.plan_ranges([(str(path), size)], task_slots=pieces, min_bytes=max(1, size // (8 * pieces)))
    assert len(units) >= min(2 * pieces, size) and units[0][1] == 0 and units[-1][2] == size
    return [r for _, start, end in units for t in warc.iter_warc_range_tables(read_at, str(path), start, end)
            for r in t.to_pylist()]


@pytest.mark.shared_data
def test_byte_ranges_read_every_record_once_in_order():
    """Cut at any offsets, the ranges of every shared WARC.gz give exactly the rows of the
    whole-file read, in order (gzip member boundaries found by content)."""
    for path in _warc_files():
        whole = _rows(path)
        for pieces in (1, 3, 25):
            assert _range_rows(path, pieces) == whole, (path.name, pieces)


def test_byte_ranges_of_a_single_gzip_stream_read_it_once(tmp_path):
    """A WARC gzipped as one stream has no member boundary to cut at: the first range reads
    every record, the others none."""
    records = b"".join(_synthetic_warc(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>page %d</p>" % i,
                                       uri=f"http://example.com/{i}") for i in range(300))
    path = tmp_path / "one-stream.warc.gz"
    path.write_bytes(gzip.compress(records))
    whole = _rows(path)
    assert len(whole) == 300
    for pieces in (2, 9):
        assert _range_rows(path, pieces) == whole


def test_byte_ranges_skip_past_a_corrupt_member(tmp_path):
    """A corrupt member ends its range with a corrupt_file row (id naming the range); the next
    range resyncs at the next record."""
    good = [gzip.compress(_synthetic_warc(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>x</p>",
                                          uri=f"http://example.com/{i}")) for i in range(40)]
    data = b"".join(good[:20]) + b"\x1f\x8b\x08" + random.Random(0).randbytes(3000) + b"".join(good[20:])
    path = tmp_path / "broken.warc.gz"
    path.write_bytes(data)
    start = len(b"".join(good[:20]))
    read_at = _pread(path)
    first = [r for t in warc.iter_warc_range_tables(read_at, "b", 0, start + 10) for r in t.to_pylist()]
    rest = [r for t in warc.iter_warc_range_tables(read_at, "b", start + 10, len(data)) for r in t.to_pylist()]
    assert [r["url"] for r in first[:20]] == [f"http://example.com/{i}" for i in range(20)]
    assert first[-1]["skip"] == warc.SKIP_CORRUPT_FILE and first[-1]["id"] == "b#corrupt"
    assert [r["url"] for r in rest] == [f"http://example.com/{i}" for i in range(20, 40)]


def test_byte_ranges_read_little_past_their_end(tmp_path):
    """A range reads up to its end and then only on to the next record, not a whole read
    chunk: the ranges of a file together read it about once (plus one scan per range)."""
    rng = random.Random(3)
    members = [gzip.compress(_synthetic_warc(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>"
                                             + rng.randbytes(40_000).hex().encode() + b"</p>",
                                             uri=f"http://example.com/{i}")) for i in range(200)]
    path = tmp_path / "big.warc.gz"
    path.write_bytes(b"".join(members))
    size = path.stat().st_size
    data = path.read_bytes()
    got = [0]

    def read_at(n, pos):
        got[0] += len(data[pos:pos + n])
        return data[pos:pos + n]

    units = warc.plan_ranges([(str(path), size)], task_slots=2, min_bytes=1 << 20)
    assert len(units) >= 4 and size > 8 << 20
    ids = [r["id"] for _, a, b in units for t in warc.iter_warc_range_tables(read_at, "big", a, b) for r in t.to_pylist()]
    assert ids == [r["id"] for r in _rows(path)]
    per_range = warc._SCAN_BYTES + 2 * warc._PROBE_BYTES + warc._TAIL_CHUNK
    assert got[0] <= size + len(units) * per_range, (got[0], size, len(units))


def test_plan_ranges_shrink_towards_the_end_of_the_run():
    """Guided self-scheduling: units of .gz files shrink as the unplanned bytes do, never
    under min_bytes; uncuttable files and files within their share stay whole."""
    assert warc.plan_ranges([("a.warc", 10**9)], task_slots=4, min_bytes=1) == [("a.warc", 0, 10**9)]
    mib = 1 << 20
    units = warc.plan_ranges([("big.warc.gz", 10**9), ("small.warc.gz", 10)], task_slots=4, min_bytes=16 * mib)
    assert units[-1] == ("small.warc.gz", 0, 10)
    big = units[:-1]
    assert big[0] == ("big.warc.gz", 0, -(-(10**9 + 10) // 8))  # 1/(2 x 4 slots) of all bytes
    assert big[-1][2] == 10**9 and all(a[2] == b[1] for a, b in zip(big, big[1:]))  # contiguous
    sizes = [end - start for _, start, end in big]
    assert all(n >= 16 * mib for n in sizes) and sizes[-1] < 2 * 16 * mib
    assert all(a >= b for a, b in zip(sizes[:-2], sizes[1:-1]))  # shrinking (the last may be a half)
    # Files within their share are single units, in input order; the last one is cut.
    many = [(f"{i}.warc.gz", 10 * mib) for i in range(4)]
    assert warc.plan_ranges(many, task_slots=1, min_bytes=4 * mib) == [
        *[(p, 0, n) for p, n in many[:3]], ("3.warc.gz", 0, 5 * mib), ("3.warc.gz", 5 * mib, 10 * mib)]
    # Files under two minimum ranges are never cut, however many slots wait.
    assert warc.plan_ranges(many, task_slots=64, min_bytes=6 * mib) == [(p, 0, n) for p, n in many]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.shared_data
def test_ray_datasource_matches_pure_core(ray_cluster):
    files = [WARC_DIR / n for n in ("whirlwind__CC-MAIN-2024-22.warc.gz", "dolma__sample-0001.warc.gz",
                                    "resiliparse__warcfile-CC-MAIN-2020-34.warc.gz")]
    if not all(f.exists() for f in files):
        pytest.skip(f"../shared/data not found: {WARC_DIR}")
    expected = sorted(r["id"] for f in files for r in _rows(f))
    expected_docs = sorted(r["id"] for f in files for r in _rows(f) if r["skip"] is None)
    ds = warc.read_warc([str(f) for f in files], WarcConfig(rows_per_batch=8))
    table = pa.concat_tables(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    assert table.schema.equals(warc.WARC_SCHEMA)
    assert sorted(table.column("id").to_pylist()) == expected
    docs = table.filter(pa.compute.is_null(table.column("skip")))
    assert sorted(docs.column("id").to_pylist()) == expected_docs
    assert set(table.column("source").to_pylist()) == {str(f) for f in files}
    # Cut into byte ranges (three files, four units per slot wanted): the same rows.
    ranged = warc.read_warc([str(f) for f in files], WarcConfig(rows_per_batch=8, split_min_bytes=4096),
                            task_slots=2).materialize()
    tasks = re.search(r"ReadWarc: (\d+) tasks executed", ranged.stats())
    assert tasks and int(tasks.group(1)) > len(files), ranged.stats()
    cut = pa.concat_tables(ranged.iter_batches(batch_format="pyarrow", batch_size=None))
    assert sorted(cut.column("id").to_pylist()) == expected
