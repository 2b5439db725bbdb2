"""WARC records -> rows of raw HTML, on FastWARC (DESIGN.md, "Input").

One row per WARC record. HTTP ``response`` records with status 200 and an HTML payload
become documents (``skip`` null, ``html`` = the decoded HTTP body); every other record
becomes a row with ``html`` null and ``skip`` naming why (the pipeline counts those as
``records_skipped`` and never writes them).

Damaged input never crashes a job and loses only what is damaged. When FastWARC stops at bad
bytes (a truncated or garbled gzip member, garbage between records, a header it cannot
parse), a ``corrupt_file`` row marks the damaged stretch and reading resumes at the next
record start: the next gzip member that inflates to ``WARC/`` (record-at-time compression,
WARC 1.1 Annex D) or uncompressed version line (``WARC/1.0``), whichever comes first. The
bytes since the current record's start are kept for that (at most :data:`_KEEP_BYTES`), so
records FastWARC had already buffered are not lost. A record whose ``Content-Length`` is not a number, or
disagrees with the record's framing (too short: the rest of its block follows where the next
header should be; too long: its block runs into the next records), is ``bad_content_length``
and the records it swallowed are read again. A file of zero bytes is ``empty_file``; one that
holds no WARC record and does not begin like a WARC (``WARC/``, or a gzip member of one) is
``not_warc``. When FastWARC ends without an error, the last record is checked against its
framing too: one running past the end of the file is ``truncated_record``, and bytes left
after it are damage (reading resumes if a record follows). :data:`FILE_PROBLEMS` are the
reasons that describe a file, not a record.

Format: ISO 28500 (WARC 1.0/1.1); HTTP body decoding per RFC 9112 section 7 (chunked) and
RFC 9110 section 8.4 (Content-Encoding). Crawlers often store already-decoded bodies while
keeping the original headers (Common Crawl renames them ``X-Crawler-*``), so decoding is
attempted and the raw body is kept when it does not decode but looks like HTML.
"""

from __future__ import annotations

import collections
import gzip
import io
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, NamedTuple

import pyarrow as pa

from operators import storage as st

log = logging.getLogger(__name__)

# Reasons a WARC record is not a document (values of the ``skip`` column).
SKIP_WARCINFO = "warcinfo"
SKIP_REQUEST = "request"
SKIP_METADATA = "metadata"
SKIP_REVISIT = "revisit"
SKIP_RESOURCE = "resource"
SKIP_CONVERSION = "conversion"
SKIP_CONTINUATION = "continuation"
SKIP_UNKNOWN_TYPE = "unknown_record_type"
SKIP_DNS = "dns"
SKIP_NOT_HTTP = "not_http"
SKIP_NON_HTML = "non_html"
SKIP_HTTP_NOT_OK = "http_not_ok"
SKIP_TOO_LARGE = "too_large"
SKIP_UNDECODABLE = "undecodable_body"
SKIP_TRUNCATED_RECORD = "truncated_record"
SKIP_BAD_RECORD = "bad_record"
SKIP_CORRUPT_FILE = "corrupt_file"
SKIP_BAD_CONTENT_LENGTH = "bad_content_length"
SKIP_EMPTY_FILE = "empty_file"
SKIP_NOT_WARC = "not_warc"

FILE_PROBLEMS = frozenset({SKIP_EMPTY_FILE, SKIP_NOT_WARC, SKIP_CORRUPT_FILE, SKIP_TRUNCATED_RECORD})
"""Skip reasons that describe the file (its bytes), not one record: the run lists each file
with one of them in ``stats.json`` (:mod:`operators.stats`)."""

HTML_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml"})
"""HTTP Content-Types (without parameters) read as HTML."""

MAX_HTTP_HEADER_BYTES = 64 * 1024
"""Allowance for HTTP headers when rejecting oversized records before reading them."""

WARC_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("source", pa.string()),
        pa.field("warc_date", pa.timestamp("us", tz="UTC")),
        pa.field("html", pa.large_binary()),
        pa.field("http_charset", pa.string()),
        pa.field("skip", pa.string()),
    ]
)
"""Schema of the rows :func:`iter_warc_rows` yields and :class:`WarcDatasource` reads."""

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc.gz", ".warc.zst", ".warc.lz4", ".wet", ".wet.gz", ".wat", ".wat.gz")
"""File names read as WARC input."""


@dataclass(frozen=True)
class WarcConfig:
    """How WARC files are read.

    max_html_bytes: responses whose HTTP body (before or after decoding) is larger are
        skipped as ``too_large`` without decoding; None disables the limit. 10 MB is
        above Common Crawl's own truncation limit (1 MiB before 2024, 5 MiB after).
    rows_per_batch: rows per Arrow table the Ray datasource yields.
    max_batch_bytes: a batch is also closed once its HTML reaches this many bytes, so
        batches of large pages stay small.
    manifest_base: prefix that relative paths in Common Crawl ``warc.paths.gz``
        manifests are resolved against.
    quirks_mode: FastWARC's lenient header parsing. Off by default: in FastWARC 2.0.1 it
        also ends a file silently at the first malformed bytes (the reader then looks for
        further records itself, as after damage in strict mode). Every shared real WARC
        (ClueWeb09's WARC/0.18 quirks included) reads identically in both modes.
    split_min_bytes: when a run has fewer WARC files than 16 per task slot, ``.gz`` files
        are read in byte ranges of at least this size, each its own task, shrinking towards
        the end of the run (see :func:`plan_ranges`), so one large crawl file keeps every CPU
        busy and the CPUs finish together.
    """

    max_html_bytes: int | None = 10 * 1024 * 1024
    rows_per_batch: int = 256
    max_batch_bytes: int = 64 * 1024 * 1024
    manifest_base: str = "s3://commoncrawl/"
    quirks_mode: bool = False
    split_min_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.split_min_bytes < 1:
            raise ValueError(f"WarcConfig.split_min_bytes must be >= 1, got {self.split_min_bytes}")
        if self.max_html_bytes is not None and self.max_html_bytes < 1:
            raise ValueError(f"WarcConfig.max_html_bytes must be >= 1 or null, got {self.max_html_bytes}")
        if self.rows_per_batch < 1:
            raise ValueError(f"WarcConfig.rows_per_batch must be >= 1, got {self.rows_per_batch}")
        if self.max_batch_bytes < 1:
            raise ValueError(f"WarcConfig.max_batch_bytes must be >= 1, got {self.max_batch_bytes}")


_KEEP_BYTES = 32 << 20
"""Raw bytes kept behind the read position so reading can resume after damage: those since
the current record's start (a record longer than this keeps only its last 32 MiB)."""
_MAX_RESYNCS = 1000
"""Resumptions after damage per stream; a stream damaged more often than this is given up."""
_FRAME_CHECK_BYTES = 64 << 20
"""Records larger than this (inflated) are not checked against their framing after damage."""
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_MAGIC = b"\x04\x22\x4d\x18"


class _Tape:
    """The raw stream as FastWARC reads it, keeping the bytes since the last :meth:`mark` (at
    most :data:`_KEEP_BYTES`), so that reading can restart at a kept offset (:meth:`seek`) and
    look ahead (:meth:`peek`) without a seekable input.

    ``tell()`` is the absolute offset: FastWARC calls it (pyarrow input streams and sockets
    raise there, which FastWARC turns into a ``PanicException``; ENVIRONMENT.md), and a
    :class:`_RangeReader` starts at its range's offset. Reads are filled as a file's would be
    (network streams may return short reads).
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        try:
            offset = int(raw.tell())
        except (OSError, ValueError, AttributeError, TypeError):
            offset = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._start = offset  # offset of the first kept byte
        self._end = offset  # offset after the last byte read from the raw stream
        self._pos = offset  # read position
        self._kept = 0

    def _pull(self, size: int | None) -> bytes:
        if size is None:
            data = bytes(self._raw.read())
        else:
            parts = []
            missing = size
            while missing > 0:
                chunk = self._raw.read(missing)
                if not chunk:
                    break
                parts.append(chunk)
                missing -= len(chunk)
            data = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
        if data:
            self._chunks.append(data)
            self._kept += len(data)
            self._end += len(data)
            while self._kept > _KEEP_BYTES and len(self._chunks) > 1 and self._start + len(self._chunks[0]) <= self._pos:
                self._drop_first()
        return data

    def _drop_first(self) -> None:
        old = self._chunks.popleft()
        self._kept -= len(old)
        self._start += len(old)

    def _slice(self, pos: int, n: int) -> bytes:
        parts = []
        off = self._start
        stop = pos + n
        for chunk in self._chunks:
            end = off + len(chunk)
            if end > pos:
                parts.append(chunk[max(0, pos - off):min(len(chunk), stop - off)])
                if end >= stop:
                    break
            off = end
        return b"".join(parts)

    def read(self, size: int = -1) -> bytes:
        want = None if size is None or size < 0 else size
        if self._pos == self._end:  # the common case: nothing to replay
            data = self._pull(want)
            self._pos = self._end
            return data
        out = self._slice(self._pos, (self._end - self._pos) if want is None else min(want, self._end - self._pos))
        self._pos += len(out)
        if want is None or len(out) < want:
            out += self._pull(None if want is None else want - len(out))
            self._pos = self._end
        return out

    def peek(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at offset ``pos`` (>= :attr:`first_kept`), reading ahead as needed;
        the read position does not move."""
        while self._end < pos + n and self._pull(max(n, 1 << 16)):
            pass
        pos = max(pos, self._start)
        return self._slice(pos, max(0, min(n, self._end - pos)))

    def mark(self, pos: int) -> None:
        """Bytes before ``pos`` will not be needed again."""
        limit = pos if pos < self._pos else self._pos
        chunks = self._chunks
        while chunks and self._start + len(chunks[0]) <= limit:
            self._drop_first()

    def seek(self, pos: int) -> None:
        """Read on from ``pos`` (a kept or a later offset)."""
        if pos > self._end:
            self.peek(pos, 0)
        self._pos = min(max(pos, self._start), self._end)

    @property
    def first_kept(self) -> int:
        return self._start

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _is_panic(exc: BaseException) -> bool:
    # pyo3_runtime.PanicException derives from BaseException and cannot be imported.
    return type(exc).__name__ == "PanicException"


def _content_type(value: str | None) -> tuple[str | None, str | None]:
    """``'text/html; charset="UTF-8"'`` -> ``('text/html', 'utf-8')``.

    >>> _content_type('Text/HTML; Charset="ISO-8859-1"')
    ('text/html', 'iso-8859-1')
    >>> _content_type(None)
    (None, None)
    """
    if not value:
        return None, None
    parts = value.split(";")
    mime = parts[0].strip().lower() or None
    charset = None
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'").strip().lower() or None
    return mime, charset


def looks_like_html(body: bytes) -> bool:
    """Sniff the first KB for HTML markup (WHATWG MIME Sniffing, section 7.1, simplified).

    >>> looks_like_html(b"\\xef\\xbb\\xbf  <!DOCTYPE html><p>x")
    True
    >>> looks_like_html(b"%PDF-1.4")
    False
    """
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<!--")):
        return True
    return any(tag in head for tag in (b"<html", b"<body", b"<head>", b"<div", b"<p>"))


class _TooLarge(Exception):
    pass


def _dechunk(body: bytes) -> bytes:
    """Decode ``Transfer-Encoding: chunked`` (RFC 9112 section 7.1); ValueError if not chunked."""
    out = bytearray()
    pos = 0
    n = len(body)
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ValueError("chunk size line missing")
        size_field = body[pos:eol].split(b";", 1)[0].strip()
        size = int(size_field, 16)  # ValueError on non-hex: body was not chunked
        pos = eol + 1
        if size == 0:
            return bytes(out)
        if pos + size > n:
            out += body[pos:]  # truncated last chunk: keep what is there
            return bytes(out)
        out += body[pos : pos + size]
        pos += size
        if body[pos : pos + 2] == b"\r\n":
            pos += 2
        elif body[pos : pos + 1] == b"\n":
            pos += 1
        if pos >= n:
            return bytes(out)


def _inflate(body: bytes, wbits: int, limit: int | None) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(body, limit + 1) if limit is not None else d.decompress(body)
    if limit is not None and len(out) > limit:
        raise _TooLarge
    return out


def _decode_content(body: bytes, encoding: str, limit: int | None) -> bytes:
    """Undo one Content-Encoding; raises ValueError/OSError/zlib.error if it does not apply."""
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit)
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except zlib.error:
            return _inflate(body, -zlib.MAX_WBITS, limit)
    if encoding == "br":
        from fastwarc.stream_io import BrotliReader

        reader = BrotliReader(io.BytesIO(body))
        out = reader.read(limit + 1) if limit is not None else reader.read()
        if limit is not None and len(out) > limit:
            raise _TooLarge
        return bytes(out)
    if encoding in ("zstd", "zstandard"):
        import zstandard

        try:
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)) as reader:
                out = reader.read(limit + 1) if limit is not None else reader.read()
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd: {exc}") from exc
        if limit is not None and len(out) > limit:
            raise _TooLarge
        return out
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def decode_body(body: bytes, transfer_encoding: str | None, content_encoding: str | None, limit: int | None) -> bytes | None:
    """HTTP body -> payload; None when it cannot be decoded and does not look like HTML.

    >>> decode_body(b"5\\r\\n<html\\r\\n1\\r\\n>\\r\\n0\\r\\n\\r\\n", "chunked", None, None)
    b'<html>'
    >>> decode_body(b"<html>already dechunked</html>", "chunked", None, None)
    b'<html>already dechunked</html>'
    >>> decode_body(gzip.compress(b"<p>hi</p>"), None, "gzip", None)
    b'<p>hi</p>'
    """
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        try:
            body = _dechunk(body)
        except ValueError:
            pass  # stored already dechunked
    for enc in reversed([e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]):
        if enc in ("identity", "none"):
            continue
        try:
            body = _decode_content(body, enc, limit)
        except _TooLarge:
            raise
        except (ValueError, OSError, zlib.error, EOFError, ImportError) as exc:
            if looks_like_html(body):
                break  # stored already decoded
            log.debug("cannot undo Content-Encoding %s: %s", enc, exc)
            return None
    return body


_TYPE_SKIPS: dict[int, str] = {}


def _type_skips() -> dict[int, str]:
    if not _TYPE_SKIPS:
        from fastwarc.warc import WarcRecordType as T

        _TYPE_SKIPS.update(
            {
                int(T.warcinfo): SKIP_WARCINFO,
                int(T.request): SKIP_REQUEST,
                int(T.metadata): SKIP_METADATA,
                int(T.revisit): SKIP_REVISIT,
                int(T.resource): SKIP_RESOURCE,
                int(T.conversion): SKIP_CONVERSION,
                int(T.continuation): SKIP_CONTINUATION,
            }
        )
    return _TYPE_SKIPS


def _row(rid: str, url: str | None, source: str, date: datetime | None, skip: str | None,
         html: bytes | None = None, charset: str | None = None) -> dict:
    return {"id": rid, "url": url, "source": source, "warc_date": date, "html": html,
            "http_charset": charset, "skip": skip}


_HEADER_ENDS = (b"\r\n\r\n", b"\n\n", b"\n\r\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _record_row(record: Any, source: str, cfg: WarcConfig, response_type: int) -> dict:
    from fastwarc.warc import HeaderMap

    headers = record.headers
    rid = record.record_id or f"{source}@{record.stream_pos}"
    url = headers.get("WARC-Target-URI")
    if url is not None:
        url = url.strip().strip("<>").strip() or None
    try:
        date = record.record_date
    except (ValueError, OSError, TypeError):
        date = None
    if record.content_length == 0:  # also what FastWARC makes of a missing or unreadable length
        length = (headers.get("Content-Length") or "").strip()
        if not length.isascii() or not length.isdigit() or int(length):
            return _row(rid, url, source, date, SKIP_BAD_CONTENT_LENGTH)
    rtype = int(record.record_type)
    if rtype != response_type:
        return _row(rid, url, source, date, _type_skips().get(rtype, SKIP_UNKNOWN_TYPE))
    if url is not None and url.lower().startswith("dns:"):
        return _row(rid, url, source, date, SKIP_DNS)
    if not record.is_http:
        return _row(rid, url, source, date, SKIP_NOT_HTTP)
    limit = cfg.max_html_bytes
    if limit is not None and record.content_length > limit + MAX_HTTP_HEADER_BYTES:
        return _row(rid, url, source, date, SKIP_TOO_LARGE)

    block = record.reader.read()
    if len(block) < record.content_length:
        return _row(rid, url, source, date, SKIP_TRUNCATED_RECORD)
    http = HeaderMap()
    try:
        header_len = http.parse(io.BytesIO(block))
    except (OSError, ValueError):
        return _row(rid, url, source, date, SKIP_BAD_RECORD)
    if http.status_code is None:
        if block.startswith(b"HTTP/") or not looks_like_html(block):
            return _row(rid, url, source, date, SKIP_BAD_RECORD)
        return _row(rid, url, source, date, None, block)  # an HTTP/0.9 response: the body alone
    if not block.endswith(_HEADER_ENDS, 0, header_len):
        # FastWARC read on past bare-LF line ends, or the header block has no end at all
        end = _HEADER_END.search(block)
        if end is None:
            return _row(rid, url, source, date, SKIP_BAD_RECORD)
        http = HeaderMap()
        header_len = end.end()
        http.parse(io.BytesIO(re.sub(rb"\r?\n", b"\r\n", block[:end.start()]) + b"\r\n\r\n"))
        if http.status_code is None:
            return _row(rid, url, source, date, SKIP_BAD_RECORD)
    if http.status_code != 200:
        return _row(rid, url, source, date, SKIP_HTTP_NOT_OK)
    body = block[header_len:]
    mime, charset = _content_type(http.get("Content-Type"))
    if mime is not None and mime not in HTML_CONTENT_TYPES:
        return _row(rid, url, source, date, SKIP_NON_HTML)
    if limit is not None and len(body) > limit:
        return _row(rid, url, source, date, SKIP_TOO_LARGE)
    try:
        html = decode_body(body, http.get("Transfer-Encoding"), http.get("Content-Encoding"), limit)
    except _TooLarge:
        return _row(rid, url, source, date, SKIP_TOO_LARGE)
    if html is None:
        return _row(rid, url, source, date, SKIP_UNDECODABLE)
    if mime is None and not looks_like_html(html):
        return _row(rid, url, source, date, SKIP_NON_HTML)
    return _row(rid, url, source, date, None, html, charset)


def _bad_record_row(exc: BaseException, record: Any, source: str) -> dict:
    """The row of a record whose reading raised ``exc`` (re-raised unless it is about the data)."""
    if not isinstance(exc, (OSError, ValueError, EOFError)) and not _is_panic(exc):
        raise exc
    if st.is_transient(exc):
        raise exc  # the store failed, not the record: the read is retried (Ray Data), never skipped
    rid = record.record_id or f"{source}@{record.stream_pos}"
    log.warning("bad record %s in %s: %s", rid, source, exc)
    return _row(rid, None, source, None, SKIP_BAD_RECORD)


def _looks_like_warc(head: bytes) -> bool:
    """The first bytes of a stream begin a WARC record, a gzip member of one, or a zstd/lz4
    frame (which cannot be checked without FastWARC)."""
    if head.startswith(GZIP_MAGIC):
        try:  # a member cut short may inflate to less than "WARC/"
            out = zlib.decompressobj(31).decompress(head, 8)
        except zlib.error:
            return False
        return out.startswith(b"WARC/") or b"WARC/".startswith(out)
    return head.startswith((b"WARC/", ZSTD_MAGIC, LZ4_MAGIC))


def _next_record_start(tape: _Tape, pos: int) -> int | None:
    """The first offset >= ``pos`` where a record starts: a gzip member that inflates to
    ``WARC/``, or an uncompressed version line (``WARC/1.0`` and a line end); both are looked
    for, as damage may have hit the bytes that told one kind of file from the other. None at
    the end of the stream. Scanned bytes are released as the scan moves on."""
    pos = max(pos, tape.first_kept)
    while True:
        buf = tape.peek(pos, _SCAN_BYTES + _PROBE_BYTES)
        limit = min(len(buf), _SCAN_BYTES)
        for m in _RECORD_START.finditer(buf, 0, limit + 15):
            i = m.start()
            if i >= limit:
                break
            if buf[i] == 0x1F:
                head = buf[i:i + _PROBE_BYTES] if i + _PROBE_BYTES <= len(buf) else tape.peek(pos + i, _PROBE_BYTES)
                if _is_member_start(head):
                    return pos + i
            elif _VERSION_LINE.match(buf, i) or _VERSION_LINE.match(tape.peek(pos + i, 16)):
                return pos + i
        if len(buf) <= _SCAN_BYTES:
            return None
        pos += _SCAN_BYTES
        tape.seek(pos)
        tape.mark(pos)


class _Frame(NamedTuple):
    """How a record ends (:func:`_framing`)."""

    verdict: str | None
    block_end: int | None = None  # offset where the block ends by its length (uncompressed)
    record_end: int | None = None  # offset after the record (its member, or its closing line ends)


def _framing(tape: _Tape, start: int) -> _Frame:
    """How the record at ``start`` ends. Verdicts: ``"ok"`` where its ``Content-Length`` says
    (the block is followed by the blank line that ends a record and, in record-at-time gzip, by
    the end of its member or the next record in the same member); ``"length"`` elsewhere (the
    length lies); ``"damaged"`` when its gzip member does not inflate or is cut off; ``"cut"``
    when the stream ends inside its block (uncompressed); None: cannot tell (bytes no longer
    kept, record too large to check, one gzip stream for many records)."""
    if start < tape.first_kept:
        return _Frame(None)
    member_end = None
    head = tape.peek(start, _PROBE_BYTES)
    gz = head.startswith(GZIP_MAGIC)
    if not (_is_member_start(head) if gz else head.startswith(b"WARC/")):
        return _Frame(None)  # not a record start: one gzip stream for many records
    if gz:
        inflate = zlib.decompressobj(31)
        out = bytearray()
        pos = start
        try:
            while not inflate.eof:
                data = inflate.unconsumed_tail
                if not data:
                    data = tape.peek(pos, 1 << 16)
                    if not data:
                        return _Frame("damaged")  # the member is cut off
                    pos += len(data)
                out += inflate.decompress(data, _FRAME_CHECK_BYTES + 1 - len(out))
                if len(out) > _FRAME_CHECK_BYTES:
                    return _Frame(None)
        except zlib.error:
            return _Frame("damaged")
        member_end = pos - len(inflate.unused_data)
        record = bytes(out)
    else:
        record = tape.peek(start, MAX_HTTP_HEADER_BYTES)
    head_end = record.find(b"\r\n\r\n")
    if head_end < 0:
        return _Frame(None)
    length = _CONTENT_LENGTH.search(record, 0, head_end)
    if length is None:
        return _Frame("length")
    end = head_end + 4 + int(length.group(1))
    if gz:
        after = record[end:]
        tail = after.lstrip(b"\r\n")
        ok = end <= len(record) and len(after) - len(tail) >= 2 and (not tail or tail.startswith(b"WARC/"))
        return _Frame("ok" if ok else "length", None, member_end)
    if end > tape.first_kept + _KEEP_BYTES + _FRAME_CHECK_BYTES:
        return _Frame(None)
    if not tape.peek(start + end - 1, 1):
        return _Frame("cut", start + end)  # the stream ends inside the block
    after = tape.peek(start + end, 4)
    closing = 4 if after.startswith(b"\r\n\r\n") else 2 if after.startswith(b"\n\n") else None
    if closing is None and len(after) < 4 and b"\r\n\r\n".startswith(after):
        closing = len(after)  # the stream ends within the closing line ends
    if closing is None:
        return _Frame("length", start + end)
    return _Frame("ok", start + end, start + end + closing)


_VERSION_LINE = re.compile(rb"WARC/\d\.\d{1,3}\r?\n")
_RECORD_START = re.compile(rb"\x1f\x8b\x08|WARC/\d")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r?$")


def iter_warc_rows(stream: BinaryIO | Any, source: str, cfg: WarcConfig | None = None, *,
                   stop: Callable[[int], bool] | None = None, corrupt_id: str | None = None) -> Iterator[dict]:
    """One row (a dict with the :data:`WARC_SCHEMA` fields) per record of a WARC stream.

    ``stream`` holds the raw file bytes (gzip/zstd members are detected by FastWARC); it
    need not be seekable. ``source`` is stored in every row (the file's URI). Damage gives
    rows named by :data:`FILE_PROBLEMS` (see the module docstring): the first with id
    ``corrupt_id`` (default ``<source>#corrupt``), later ones ``<corrupt_id>@<offset>``.
    ``stop(offset)`` (byte ranges, see :func:`iter_warc_range_tables`) ends the rows before
    the first record at whose stream offset it says True.

    A record's row is yielded once the record after it has been read (or the stream ended),
    because damage right after a record can show that its ``Content-Length`` lied.
    """
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    cfg = cfg or WarcConfig()
    corrupt_id = corrupt_id or f"{source}#corrupt"
    response_type = int(WarcRecordType.response)
    tape = _Tape(stream)
    begin = tape.tell()
    head = tape.peek(begin, _PROBE_BYTES)
    if not head:
        yield _row(corrupt_id, None, source, None, SKIP_EMPTY_FILE)
        return
    can_resync = not head.startswith((ZSTD_MAGIC, LZ4_MAGIC))
    held: dict | None = None  # the last record's row, until the next record is read
    held_at = begin
    n_records = 0
    problems = 0  # rows yielded for damaged stretches
    damaged = False  # such a row was yielded and no record has been read since
    for _ in range(_MAX_RESYNCS + 1):
        records = ArchiveIterator(tape, parse_http=False, auto_decode="none", quirks_mode=cfg.quirks_mode)
        scan_from = begin
        failure: BaseException | None = None
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except BaseException as exc:  # fastwarc panics are BaseExceptions; see _is_panic
                if not isinstance(exc, (OSError, ValueError, EOFError)) and not _is_panic(exc):
                    raise
                if st.is_transient(exc):
                    raise  # the store failed, not the file: the read is retried (Ray Data), never "damage"
                failure = exc
                break
            pos = record.stream_pos
            if stop is not None and stop(pos):
                if held is not None:
                    yield held
                return
            if held is not None:
                yield held
            tape.mark(pos)
            scan_from = held_at = pos
            n_records += 1
            damaged = False
            try:
                held = _record_row(record, source, cfg, response_type)
            except BaseException as exc:  # fastwarc panics are BaseExceptions; see _is_panic
                held = _bad_record_row(exc, record, source)

        held_skip = held["skip"] if held is not None else None
        if failure is None:
            # The iterator ended: the end of the stream, unless the last record claims bytes past
            # it or has no usable length (FastWARC then skips to the end without an error; the
            # records it passed are read again), or quirks mode stopped at damage silently.
            end = _framing(tape, held_at) if held is not None else _Frame(None)
            frame = end.verdict
            if held_skip == SKIP_BAD_CONTENT_LENGTH:  # or its header was cut off with the stream
                frame = "cut" if frame in ("cut", "damaged") else "length"
            elif held_skip == SKIP_TRUNCATED_RECORD:
                frame = "cut"
            elif frame == "ok" and end.record_end is not None and tape.peek(end.record_end, 64).strip(b" \t\r\n\x00"):
                frame = "trailing"  # bytes after the last record that FastWARC stopped at silently
            if frame in (None, "ok") and not cfg.quirks_mode:
                break
            nxt = _next_record_start(tape, scan_from + 1) if can_resync else None
            if nxt is None and frame != "trailing":
                if frame in ("cut", "damaged") and held_skip != SKIP_TRUNCATED_RECORD:
                    held = _row(held["id"], held["url"], source, held["warc_date"], SKIP_TRUNCATED_RECORD)
                elif frame == "length" and held_skip != SKIP_BAD_CONTENT_LENGTH:
                    held = _row(held["id"], held["url"], source, held["warc_date"], SKIP_BAD_CONTENT_LENGTH)
                break
            lied = frame in ("length", "cut")
            explained = lied or frame == "damaged"
        else:
            # checked before the scan for the next record, which releases the bytes it passes
            frame, block_end, _ = _framing(tape, held_at) if held is not None else _Frame(None)
            nxt = _next_record_start(tape, scan_from + 1) if can_resync else None
            lied = held is not None and (held_skip == SKIP_BAD_CONTENT_LENGTH or frame == "length"
                                         or (block_end is not None and nxt is not None and nxt < block_end))
            explained = lied or frame == "damaged"
        if held is not None:
            if lied:  # the damage is this record's Content-Length; what follows is read again
                held = _row(held["id"], held["url"], source, held["warc_date"], SKIP_BAD_CONTENT_LENGTH)
            elif frame == "damaged":  # the damage is inside this record's gzip member
                held = _row(held["id"], held["url"], source, held["warc_date"], SKIP_CORRUPT_FILE)
                problems += 1
                damaged = True
            yield held
            held = None
        if not explained and not damaged:
            reason = SKIP_CORRUPT_FILE
            if n_records == 0 and nxt is None and not _looks_like_warc(head):
                reason = SKIP_NOT_WARC
            log.warning("%s in %s after offset %d: %s", reason, source, scan_from, failure or "reading stopped early")
            yield _row(corrupt_id if not problems else f"{corrupt_id}@{scan_from}", None, source, None, reason)
            problems += 1
            damaged = True
        if nxt is None or (stop is not None and stop(nxt)):
            return
        tape.seek(nxt)
        begin = nxt
    else:
        log.warning("gave up on %s after %d damaged stretches", source, _MAX_RESYNCS)
        return
    if held is not None:
        yield held
    if n_records == 0 and not damaged:
        reason = SKIP_CORRUPT_FILE if _looks_like_warc(head) else SKIP_NOT_WARC
        log.warning("no WARC record found in %s (%s)", source, reason)
        yield _row(corrupt_id, None, source, None, reason)


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Rows from :func:`iter_warc_rows` as an Arrow table with :data:`WARC_SCHEMA`."""
    return pa.Table.from_pylist(rows, schema=WARC_SCHEMA)


def iter_warc_tables(stream: Any, source: str, cfg: WarcConfig | None = None, **row_args: Any) -> Iterator[pa.Table]:
    """:func:`iter_warc_rows` (``row_args`` go to it) in Arrow tables of at most
    ``cfg.rows_per_batch`` rows."""
    cfg = cfg or WarcConfig()
    rows: list[dict] = []
    size = 0
    for row in iter_warc_rows(stream, source, cfg, **row_args):
        rows.append(row)
        size += len(row["html"] or b"")
        if len(rows) >= cfg.rows_per_batch or size >= cfg.max_batch_bytes:
            yield rows_to_table(rows)
            rows, size = [], 0
    if rows:
        yield rows_to_table(rows)


# --- byte ranges ----------------------------------------------------------------------------
# A WARC.gz file holds one gzip member per record (the WARC 1.1 specification's Annex D,
# "record-at-time compression"; how Common Crawl writes them), so any byte offset can be moved forward to
# the next record: the next gzip header whose member decompresses to "WARC/". A range owns
# the records whose member starts in [start, end): consecutive ranges read every record
# once. A file gzipped as one stream has no member start past 0: its first range reads it
# all and the others find nothing.

GZIP_MAGIC = b"\x1f\x8b\x08"
_SCAN_BYTES = 1 << 20  # bytes scanned per read while looking for a member start
_PROBE_BYTES = 4096  # compressed bytes decompressed to check a candidate member
_READ_CHUNK = 8 << 20  # one positional read (one ranged GET on S3) per chunk
_TAIL_CHUNK = 256 << 10  # reads past a range's end only look for the next member start
CUT_BELOW_FILES_PER_SLOT = 16
"""With fewer ``.gz`` files than this per task slot, read_warc plans byte ranges
(:func:`plan_ranges`); with more, each file is one unit (a slot's last file is then a small
share of its work, and no per-file size lookup is needed)."""
GUIDED_SHARE = 2  # a unit is ~1/(GUIDED_SHARE x slots) of the bytes not yet planned


def _is_member_start(head: bytes) -> bool:
    """True when ``head`` (bytes at an offset) begins a gzip member holding a WARC record."""
    if not head.startswith(GZIP_MAGIC):
        return False
    try:
        return zlib.decompressobj(31).decompress(head, 8).startswith(b"WARC/")
    except zlib.error:
        return False


def next_member_start(read_at: Callable[[int, int], bytes], offset: int, end: int) -> int | None:
    """The first offset in [offset, end) where a WARC record's gzip member starts, or None.

    ``read_at(n, pos)`` returns up to ``n`` bytes at ``pos`` (fewer only at the end of file).

    >>> import gzip
    >>> data = gzip.compress(b"WARC/1.1 a") + gzip.compress(b"WARC/1.1 b")
    >>> second = len(gzip.compress(b"WARC/1.1 a"))
    >>> read_at = lambda n, pos: data[pos:pos + n]
    >>> next_member_start(read_at, 1, len(data)) == second, next_member_start(read_at, second + 1, len(data))
    (True, None)
    """
    pos = offset
    while pos < end:
        buf = read_at(_SCAN_BYTES + _PROBE_BYTES, pos)
        limit = min(len(buf), _SCAN_BYTES, end - pos)
        i = buf.find(GZIP_MAGIC, 0, limit + len(GZIP_MAGIC) - 1)
        while 0 <= i < limit:
            if _is_member_start(buf[i:i + _PROBE_BYTES]):
                return pos + i
            i = buf.find(GZIP_MAGIC, i + 1, limit + len(GZIP_MAGIC) - 1)
        if len(buf) <= _SCAN_BYTES:  # end of file
            return None
        pos += _SCAN_BYTES
    return None


def is_splittable(path: str) -> bool:
    """Gzip WARC (and WET/WAT) files can be read in byte ranges; plain and zstd files and
    ARC files (whose records do not open with "WARC/") cannot.

    >>> is_splittable("x.warc.gz"), is_splittable("x.arc.gz"), is_splittable("x.warc.zst")
    (True, False, False)
    """
    return path.lower().endswith((".warc.gz", ".wet.gz", ".wat.gz"))


def plan_ranges(files: list[tuple[str, int]], task_slots: int, min_bytes: int) -> list[tuple[str, int, int]]:
    """Read units ``(path, start, end)`` for ``(path, size)`` files, sized by guided
    self-scheduling (Polychronopoulos & Kuck 1987, "Guided self-scheduling"): each unit of a
    ``.gz`` file is about 1/(:data:`GUIDED_SHARE` x ``task_slots``) of the bytes not yet
    planned, never under ``min_bytes``, so the units shrink towards the end of the run and
    the task slots run out of work together instead of one slot finishing a large last unit
    alone. A file no larger than its share is one unit; a cut never leaves a piece smaller
    than ``min_bytes``; files that cannot be cut (:func:`is_splittable`) are whole units.

    >>> plan_ranges([("a.warc.gz", 100)], task_slots=1, min_bytes=10)
    [('a.warc.gz', 0, 50), ('a.warc.gz', 50, 75), ('a.warc.gz', 75, 88), ('a.warc.gz', 88, 100)]
    >>> plan_ranges([("a.warc", 100), ("b.warc.gz", 30)], task_slots=1, min_bytes=10)
    [('a.warc', 0, 100), ('b.warc.gz', 0, 15), ('b.warc.gz', 15, 30)]
    """
    share = GUIDED_SHARE * max(1, task_slots)
    remaining = sum(size for _, size in files)
    units: list[tuple[str, int, int]] = []
    for path, size in files:
        cut = is_splittable(path)
        start = 0
        while True:
            left = size - start
            piece = left
            if cut:
                want = max(min_bytes, -(-remaining // share))
                if left >= want + min_bytes:
                    piece = want
                elif left > want and left >= 2 * min_bytes:  # two halves, not one unit over the share
                    piece = left // 2
            units.append((path, start, start + piece))
            start += piece
            remaining -= piece
            if start >= size:
                break
    return units


class _RangeReader:
    """Sequential reads from ``offset`` of a random-access file, in positional reads of up to
    :data:`_READ_CHUNK` bytes that stop at ``end`` (then :data:`_TAIL_CHUNK`: past its end a
    range only reads on to the next record), each retried on transient errors (a connection
    reset re-reads one chunk; it does not fail the file). ``tell()`` is the absolute offset."""

    def __init__(self, read_at: Callable[[int, int], bytes], offset: int, end: int) -> None:
        self._read_at = read_at
        self._pos = offset  # file offset of _buf[0]
        self._end = end
        self._buf = b""
        self._i = 0

    def read(self, size: int = -1) -> bytes:
        parts = []
        want = size if size is not None and size >= 0 else None
        while want is None or want > 0:
            if self._i == len(self._buf):
                self._pos += len(self._buf)
                n = min(_READ_CHUNK, max(self._end - self._pos, _TAIL_CHUNK))
                self._buf, self._i = self._read_at(n, self._pos), 0
                if not self._buf:
                    break
            stop = len(self._buf) if want is None else min(len(self._buf), self._i + want)
            parts.append(self._buf[self._i:stop])
            if want is not None:
                want -= stop - self._i
            self._i = stop
        return b"".join(parts)

    def tell(self) -> int:
        return self._pos + self._i

    def peek(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at file offset ``pos`` from the buffer, else from the file."""
        i = pos - self._pos
        if 0 <= i and i + n <= len(self._buf):
            return self._buf[i:i + n]
        return self._read_at(n, pos)

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def iter_warc_range_tables(read_at: Callable[[int, int], bytes], source: str, start: int, end: int,
                           cfg: WarcConfig | None = None) -> Iterator[pa.Table]:
    """:func:`iter_warc_tables` for the records whose gzip member starts in [start, end) of
    a WARC.gz file (see "byte ranges" above); ``read_at(n, pos)`` reads the file."""
    cfg = cfg or WarcConfig()
    begin = 0 if start == 0 else next_member_start(read_at, start, end)
    if begin is None:
        return

    reader = _RangeReader(read_at, begin, end)

    def stop(offset: int) -> bool:
        # Only at a real member start, where the next range begins: inside a member holding
        # several records (a file gzipped as one stream) FastWARC reports offsets within it.
        return offset >= end and _is_member_start(reader.peek(offset, _PROBE_BYTES))

    corrupt_id = f"{source}#corrupt" if begin == 0 else f"{source}#corrupt@{begin}"
    yield from iter_warc_tables(reader, source, cfg, stop=stop, corrupt_id=corrupt_id)


def expand_manifest(uri: str, base: str = "s3://commoncrawl/", storage: st.StorageConfig | None = None) -> list[str]:
    """URIs listed in a Common Crawl path manifest (``warc.paths.gz``, one path a line).

    Relative paths (``crawl-data/CC-MAIN-.../x.warc.gz``) are joined to ``base``; absolute
    paths and URIs are kept. Gzip is detected by content, so plain ``.paths`` files work.
    """
    data = st.read_bytes(uri, storage)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = []
    for line in data.decode("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "://" in line or line.startswith("/"):
            out.append(line)
        else:
            out.append(st.join(base, line) if base else line)
    return out


def _ray_datasource_class() -> type:
    from ray.data.datasource import FileBasedDatasource

    class WarcDatasource(FileBasedDatasource):
        """Streams WARC files as Arrow tables with :data:`WARC_SCHEMA` (one file per read task unit).

        Ray would gunzip ``*.gz`` by extension and hand over one decompressed stream;
        FastWARC needs the raw bytes (it reads gzip/zstd members itself), so compression
        resolution is disabled.
        """

        _FILE_EXTENSIONS = ["warc", "gz", "zst", "lz4"]

        def __init__(self, paths: str | list[str], *, cfg: WarcConfig | None = None,
                     storage: st.StorageConfig | None = None, uri_prefix: str = "", **kwargs: Any) -> None:
            super().__init__(paths, **kwargs)
            self._warc_cfg = cfg or WarcConfig()
            self._storage_cfg = storage or st.DEFAULT_STORAGE
            self._uri_prefix = uri_prefix

        def resolve_compression(self, path: str, open_args: dict) -> str | None:
            return None

        def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
            if self._uri_prefix:
                st.start_jitter(self._storage_cfg)
            return super()._open_input_source(filesystem, path, **open_args)

        def _read_stream(self, f: Any, path: str) -> Iterator[pa.Table]:
            yield from iter_warc_tables(f, self._uri_prefix + path, self._warc_cfg)

    WarcDatasource.__qualname__ = "WarcDatasource"  # pickled by reference: operators.warc.WarcDatasource
    return WarcDatasource


def _read_unit(fs: Any, path: str, start: int, end: int | None, size: int, cfg: WarcConfig,
               storage_cfg: st.StorageConfig, source: str) -> Iterator[pa.Table]:
    """One read task of :class:`WarcRangeDatasource`: the records of ``path[start:end]``, or
    of the whole file streamed when ``end`` is None (any compression)."""
    if source.startswith("s3://"):
        st.start_jitter(storage_cfg)
    attempts = storage_cfg.retries
    if end is None:
        stream = st.with_retries(lambda: fs.open_input_stream(path), attempts=attempts)
        try:
            yield from iter_warc_tables(stream, source, cfg)
        finally:
            stream.close()
        return
    f = st.with_retries(lambda: fs.open_input_file(path), attempts=attempts)

    def read_at(n: int, pos: int) -> bytes:
        n = min(n, size - pos)
        return st.with_retries(lambda: f.read_at(n, pos), attempts=attempts) if n > 0 else b""

    try:
        yield from iter_warc_range_tables(read_at, source, start, end, cfg)
    finally:
        f.close()


def _ray_range_datasource_class() -> type:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class WarcRangeDatasource(Datasource):
        """Byte ranges of WARC.gz files as read tasks (:func:`plan_ranges`), each streaming the
        records whose gzip member starts in its range (a range ending at None: the whole file,
        any compression); shows as ``ReadWarc`` in plans. Paths reach the filesystem as they
        are (Ray Data's file datasources parse them as URLs first)."""

        def __init__(self, units: list[tuple[str, int, int | None, int]], *, filesystem: Any, cfg: WarcConfig,
                     storage: st.StorageConfig, uri_prefix: str = "") -> None:
            self._units = units  # (path, start, end, file size)
            self._fs = filesystem
            self._warc_cfg = cfg
            self._storage_cfg = storage
            self._uri_prefix = uri_prefix

        def get_name(self) -> str:
            return "Warc"

        def estimate_inmemory_data_size(self) -> int | None:
            return sum((size if end is None else end) - start for _, start, end, size in self._units)

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list:
            import functools

            tasks = []
            for path, start, end, size in self._units:
                meta = BlockMetadata(num_rows=None, size_bytes=(size if end is None else end) - start, exec_stats=None,
                                     input_files=(path,))
                fn = functools.partial(_read_unit, self._fs, path, start, end, size, self._warc_cfg,
                                       self._storage_cfg, self._uri_prefix + path)
                tasks.append(ReadTask(fn, meta, per_task_row_limit=per_task_row_limit))
            return tasks

    WarcRangeDatasource.__qualname__ = "WarcRangeDatasource"
    return WarcRangeDatasource


def __getattr__(name: str) -> Any:
    # WarcDatasource is built lazily so importing this module does not import Ray.
    builders = {"WarcDatasource": _ray_datasource_class, "WarcRangeDatasource": _ray_range_datasource_class}
    if name in builders:
        cls = builders[name]()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_warc(paths: list[str], cfg: WarcConfig | None = None, storage: st.StorageConfig | None = None,
              *, num_cpus: float | None = None, task_slots: int = 0) -> Any:
    """A Ray Dataset with :data:`WARC_SCHEMA`, one row per WARC record of ``paths``.

    ``paths`` are file URIs (all local or all ``s3://``), as produced by
    ``operators.io.expand_inputs``; ``task_slots`` is how many read tasks the cluster runs
    at once (0: unknown). Read units are whole files, or byte ranges of ``.gz`` files when
    there are fewer than :data:`CUT_BELOW_FILES_PER_SLOT` files per slot, shrinking towards
    the end of the run so the slots finish together (:func:`plan_ranges`). Unit
    outputs are never split: the per-batch operators that follow (asking for the same
    ``num_cpus``) are fused into each read task, so raw HTML stays inside the worker instead
    of passing through the object store. Files that cannot be cut (plain or zstd WARC, or
    all smaller than two ranges) and are fewer than the slots fall back to splitting each
    block the read emits (:func:`split_blocks`; the operators then run as separate tasks on
    the pieces).
    """
    import ray.data

    if not paths:
        raise ValueError("read_warc needs at least one WARC file")
    kinds = {st.is_s3(p) for p in paths}
    if len(kinds) > 1:
        raise ValueError("read_warc: mix of local paths and s3:// URIs; run them as separate inputs")
    cfg = cfg or WarcConfig()
    storage = storage or st.DEFAULT_STORAGE
    fs, _ = st.resolve(paths[0], storage)
    fs_paths = [st.resolve(p, storage)[1] for p in paths]
    prefix = "s3://" if st.is_s3(paths[0]) else ""
    kwargs = {"num_cpus": num_cpus} if num_cpus is not None else {}
    from operators.io import ray_reads_as_named

    if not all(map(ray_reads_as_named, paths)):
        # a name Ray Data's URL parsing would change (a tab, CR or LF in it): whole files, read
        # by raysift's own datasource under their real names
        units = [(p, 0, None, 0) for p in fs_paths]
        datasource = __getattr__("WarcRangeDatasource")(units, filesystem=fs, cfg=cfg, storage=storage, uri_prefix=prefix)
        return ray.data.read_datasource(datasource, override_num_blocks=len(units), **kwargs)
    if task_slots and len(paths) < CUT_BELOW_FILES_PER_SLOT * task_slots and all(map(is_splittable, paths)):
        infos = st.with_retries(lambda: fs.get_file_info(fs_paths), attempts=storage.retries)
        sizes = {p: info.size for p, info in zip(fs_paths, infos)}
        units = [(p, a, b, sizes[p]) for p, a, b in plan_ranges(list(sizes.items()), task_slots, cfg.split_min_bytes)]
        if len(units) > len(paths):  # some file is cut (the others are too small)
            datasource = __getattr__("WarcRangeDatasource")(units, filesystem=fs, cfg=cfg, storage=storage,
                                                            uri_prefix=prefix)
            return ray.data.read_datasource(datasource, override_num_blocks=len(units), **kwargs)
    datasource = __getattr__("WarcDatasource")(fs_paths, cfg=cfg, storage=storage, uri_prefix=prefix, filesystem=fs)
    blocks = len(fs_paths) * split_blocks(len(fs_paths), task_slots)
    return ray.data.read_datasource(datasource, override_num_blocks=blocks, **kwargs)


def split_blocks(n_files: int, task_slots: int) -> int:
    """How many pieces each read block of uncuttable files is split into: 1 (read fused with
    the per-batch operators, one task per file) when there are at least as many files as
    tasks can run at once, else enough for about two pieces per task slot.

    >>> split_blocks(8, 2), split_blocks(1, 2), split_blocks(3, 16), split_blocks(1, 0)
    (1, 4, 11, 1)
    """
    if n_files == 0 or n_files >= task_slots:
        return 1
    return -(-2 * task_slots // n_files)
