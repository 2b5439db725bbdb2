"""A generated hostile crawl (issue 13, "Hostile input"): every kind of malformed WARC file and
page a crawl contains, mixed with valid records whose ids, URLs and text are known.

Nothing binary is checked in: :func:`write_corpus` writes the files into a directory (a test's
``tmp_path``) from a seed. Each :class:`HostileFile` lists, in file order, what the reader
(``operators/warc.py``) must make of every record (:class:`Expect`: a document, or the named
skip reason) and, for documents, what extraction (``operators/extract.py``) must make of it (a
named reject reason, or text that contains a given string). Damaged stretches and files are
expected as rows named by ``operators.warc.FILE_PROBLEMS`` (``id`` None here: their ids are
derived from the file name).

The classes (:data:`CLASSES`), one file each unless noted:

- ``truncated_gzip_member``: one record's gzip member cut in half, valid records around it;
- ``gzip_garbage``: random bytes and a fake gzip header between members;
- ``length_short``, ``length_long``, ``length_negative``, ``length_not_a_number`` (gzip and
  plain files): a WARC ``Content-Length`` that lies; ``length_long_at_end``: the last record
  claims more bytes than the file has;
- ``not_a_warc`` (an HTML file and a gzipped JSON file named ``.warc.gz``), ``random_bytes``
  (seeded), ``empty`` (zero bytes);
- ``charsets``: mis-declared (HTTP says UTF-8, bytes are windows-1252), declared only in
  ``<meta>``, undeclared, unknown charset names; ``utf16_shiftjis``: UTF-16 with and without a
  BOM, Shift-JIS declared in the header and in ``<meta>``;
- ``binary_as_html``: PNG, random bytes and NULs served as ``text/html``;
- ``huge_page``: a 50 MB page (``huge=True``); ``long_line``: a 5 MB single-line page;
  ``deep_nesting``: 100,000 nested ``<div>``, ``<UL><LI>`` and ``<table>`` elements;
  ``unclosed_markup``: 100,000 unclosed comments, ``<script>``, ``<noscript>`` and
  ``<textarea>`` elements before the article (``operators/html_repair.py`` closes them);
- ``nul_and_bad_bytes``: NUL bytes in the body, the URL and the HTTP headers, invalid UTF-8 and
  bad percent-escapes in URLs and headers;
- ``revisit``: revisit, request and metadata records between responses;
- ``transfer_encodings``: chunked (also mislabelled, truncated and stored already dechunked),
  gzip, deflate, gzip inside chunked, a broken gzip body;
- ``no_http_headers``: an HTTP/0.9 response (body only), a status line without headers, bare-LF
  header lines, a header block that never ends.
"""

from __future__ import annotations

import gzip
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

EMPTY_TEXT = "empty_text"
UNDECODABLE_HTML = "undecodable_html"

CLASSES = (
    "truncated_gzip_member", "gzip_garbage", "length_short", "length_long", "length_negative",
    "length_not_a_number", "length_long_at_end", "not_a_warc", "random_bytes", "empty", "charsets",
    "utf16_shiftjis", "binary_as_html", "huge_page", "long_line", "deep_nesting", "unclosed_markup",
    "nul_and_bad_bytes", "revisit", "transfer_encodings", "no_http_headers",
)

HUGE_PAGE_BYTES = 50 * 1024 * 1024
LONG_LINE_BYTES = 5 * 1024 * 1024
DEEP_NESTING = 100_000


@dataclass(frozen=True)
class Expect:
    """What must become of one row of a file, in file order.

    id: the record's WARC-Record-ID (None for a row that names damage: its id derives from the
        file name). skip: the reader's skip reason, None for a document. reason: extraction's
        reject reason for a document, None when it keeps text. contains: a string the
        extracted text must hold.
    """

    id: str | None
    skip: str | None = None
    reason: str | None = None
    contains: str | None = None
    url: str | None = None


@dataclass
class HostileFile:
    """One generated file: its class, name, bytes and the rows expected from it."""

    cls: str
    name: str
    data: bytes
    expect: list[Expect] = field(default_factory=list)

    @property
    def documents(self) -> list[Expect]:
        return [e for e in self.expect if e.id is not None and e.skip is None]

    @property
    def valid(self) -> list[Expect]:
        """Documents extraction keeps: the valid records that must come out as text."""
        return [e for e in self.documents if e.reason is None]


class _Builder:
    """Records of one file, each with its expectation."""

    def __init__(self, cls: str, variant: str = "") -> None:
        self.cls = cls
        self.tag = cls + variant
        self.parts: list[bytes] = []
        self.expect: list[Expect] = []
        self.n = 0

    def next_id(self) -> tuple[str, str]:
        self.n += 1
        return f"<urn:hostile:{self.tag}:{self.n}>", f"http://{self.tag.replace('_', '-')}.example/{self.n}"

    def valid(self, gz: bool = True) -> bytes:
        """A valid HTML response whose text is known; appended and returned."""
        rid, url = self.next_id()
        marker = f"Valid record {self.n} of {self.tag}"
        return self.add(warc_record(rid, url, http_response(page(marker))), Expect(rid, contains=marker, url=url), gz)

    def add(self, record: bytes, expect: Expect | None, gz: bool = True) -> bytes:
        data = gzip.compress(record, compresslevel=1 if len(record) > 1 << 20 else 9, mtime=0) if gz else record
        self.parts.append(data)
        if expect is not None:
            self.expect.append(expect)
        return data

    def raw(self, data: bytes, *expect: Expect) -> None:
        self.parts.append(data)
        self.expect.extend(expect)

    def file(self, name: str) -> HostileFile:
        return HostileFile(self.cls, name, b"".join(self.parts), self.expect)


def page(text: str, head: str = "", charset_meta: str | None = None) -> bytes:
    """A small article page around ``text`` (long enough to survive boilerplate pruning)."""
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    body = (f"<p>{text}. The committee met on Tuesday and agreed on the budget for the coming year, "
            "after a long debate about schools, roads and the new library.</p>"
            "<p>Members said the plan was fair, and that the town would review it again in the spring "
            "when the first figures are known.</p>")
    return f"<!DOCTYPE html><html><head>{meta}<title>{text}</title>{head}</head><body><article>{body}</article></body></html>".encode()


def http_response(body: bytes, content_type: str | None = "text/html; charset=utf-8", status: str = "200 OK",
                  headers: tuple[bytes, ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}".encode()]
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type.encode("latin-1"))
    lines.extend(headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def warc_record(rid: str, url: str | bytes, block: bytes, *, rtype: str = "response",
                length: bytes | None = None, extra: bytes = b"") -> bytes:
    """A WARC/1.0 record; ``length`` overrides the Content-Length value (a lie)."""
    uri = url if isinstance(url, bytes) else url.encode()
    content_type = b"application/http; msgtype=response" if rtype == "response" else b"application/http; msgtype=request"
    if rtype in ("metadata", "warcinfo"):
        content_type = b"application/warc-fields"
    head = (b"WARC/1.0\r\nWARC-Type: " + rtype.encode() + b"\r\nWARC-Record-ID: " + rid.encode()
            + b"\r\nWARC-Date: 2024-05-01T10:00:00Z\r\nWARC-Target-URI: " + uri
            + b"\r\nContent-Type: " + content_type + b"\r\n" + extra
            + b"Content-Length: " + (str(len(block)).encode() if length is None else length) + b"\r\n\r\n")
    return head + block + b"\r\n\r\n"


def _truncated_gzip_member(rng: random.Random) -> HostileFile:
    b = _Builder("truncated_gzip_member")
    for _ in range(3):
        b.valid()
    rid, url = b.next_id()
    member = gzip.compress(warc_record(rid, url, http_response(page("cut member") * 20)), mtime=0)
    # FastWARC reads the cut member on into the next one: the record is named, not its stretch
    b.raw(member[: len(member) // 2], Expect(rid, "corrupt_file", url=url))
    for _ in range(3):
        b.valid()
    return b.file("truncated-gzip-member.warc.gz")


def _gzip_garbage(rng: random.Random) -> HostileFile:
    b = _Builder("gzip_garbage")
    b.valid()
    b.valid()
    b.raw(rng.randbytes(3000) + b"\x1f\x8b\x08\x00" + rng.randbytes(500), Expect(None, "corrupt_file"))
    b.valid()
    b.raw(b"\r\n\r\n" + b"\x1f\x8b", Expect(None, "corrupt_file"))  # stray bytes, a lone magic
    b.valid()
    return b.file("gzip-garbage.warc.gz")


def _length(cls: str, lie: bytes | None, gz: bool, *, at_end: bool = False) -> HostileFile:
    b = _Builder(cls, "" if gz else "_plain")
    b.valid(gz)
    b.valid(gz)
    rid, url = b.next_id()
    block = http_response(page(f"lying length {cls}"))
    length = lie
    if cls == "length_short":
        length = str(len(block) // 3).encode()
    elif cls in ("length_long", "length_long_at_end"):
        length = str(len(block) + (300 if cls == "length_long" else 10_000)).encode()
    skip = "truncated_record" if at_end else "bad_content_length"
    b.add(warc_record(rid, url, block, length=length), Expect(rid, skip, url=url), gz)
    if not at_end:
        for _ in range(3):
            b.valid(gz)
    return b.file(f"{cls.replace('_', '-')}{'' if gz else '-plain'}.warc{'.gz' if gz else ''}")


def _not_a_warc(rng: random.Random) -> list[HostileFile]:
    html = b"<html><body><p>I am a web page, not an archive.</p></body></html>\n" * 50
    doc = gzip.compress(b'{"id": 1, "text": "a JSON line in a gzip named like a WARC"}\n' * 40, mtime=0)
    return [HostileFile("not_a_warc", "page-named-like.warc", html, [Expect(None, "not_warc")]),
            HostileFile("not_a_warc", "json-named-like.warc.gz", doc, [Expect(None, "not_warc")])]


def _charsets(rng: random.Random) -> HostileFile:
    b = _Builder("charsets")
    b.valid()
    cases = [
        # (bytes of the page, Content-Type header, text that must come out)
        (page("Mis-declared café Ärger").decode().encode("cp1252"), "text/html; charset=utf-8", "café Ärger"),
        (page("Meta only façade", charset_meta="windows-1252").decode().encode("cp1252"), "text/html", "façade"),
        # uchardet calls these few cp1252 bytes UTF-8; decode_html then keeps U+FFFD for them
        # (the WHATWG fallback would be windows-1252): only the ASCII words are asserted
        (page("Undeclared naïve Übermut").decode().encode("cp1252"), "text/html", "Undeclared na"),
        (page("Unknown charset label résumé").decode().encode("cp1252"), "text/html; charset=x-no-such-thing", "résumé"),
        (page("Quoted charset Grüße"), 'text/html; charset="UTF-8"', "Grüße"),
        (page("Empty charset Straße"), "text/html; charset=", "Straße"),
    ]
    for body, ctype, want in cases:
        rid, url = b.next_id()
        b.add(warc_record(rid, url, http_response(body, ctype)), Expect(rid, contains=want, url=url))
    b.valid()
    return b.file("charsets.warc.gz")


def _utf16_shiftjis(rng: random.Random) -> HostileFile:
    b = _Builder("utf16_shiftjis")
    b.valid()
    ja = "日本語のページです。東京で会議が開かれました"
    text = page(f"UTF-16 page {ja}").decode()
    sjis = page(f"Shift JIS {ja}").decode()
    cases = [
        (("\ufeff" + text).encode("utf-16-le"), "text/html", ja),  # BOM
        (("\ufeff" + text).encode("utf-16-be"), "text/html; charset=utf-16be", ja),
        (text.encode("utf-16-be"), "text/html; charset=utf-16be", ja),  # no BOM: the declared byte order
        (text.encode("utf-16-le"), "text/html; charset=utf-16", ja),
        (sjis.encode("shift_jis"), "text/html; charset=Shift_JIS", ja),
        (page(f"Shift JIS meta {ja}", charset_meta="shift_jis").decode().encode("shift_jis"), "text/html", ja),
    ]
    for body, ctype, want in cases:
        rid, url = b.next_id()
        b.add(warc_record(rid, url, http_response(body, ctype)), Expect(rid, contains=want, url=url))
    b.valid()
    return b.file("utf16-shiftjis.warc.gz")


def _binary_as_html(rng: random.Random) -> HostileFile:
    b = _Builder("binary_as_html")
    b.valid()
    png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(20_000)
    for body in (png, rng.randbytes(30_000), b"\x00" * 10_000 + b"<html><p>text after NULs</p></html>"):
        rid, url = b.next_id()
        b.add(warc_record(rid, url, http_response(body)), Expect(rid, reason=UNDECODABLE_HTML, url=url))
    b.valid()
    return b.file("binary-as-html.warc.gz")


def _huge_page(rng: random.Random) -> HostileFile:
    b = _Builder("huge_page")
    b.valid(gz=False)
    rid, url = b.next_id()
    chunk = b"<p>" + b"All work and no play makes a very long page. " * 40 + b"</p>\n"
    body = b"<html><body>" + chunk * (HUGE_PAGE_BYTES // len(chunk) + 1) + b"</body></html>"
    b.add(warc_record(rid, url, http_response(body)), Expect(rid, "too_large", url=url), gz=False)
    b.valid(gz=False)
    return b.file("huge-page.warc")


def _long_line(rng: random.Random) -> HostileFile:
    b = _Builder("long_line")
    b.valid()
    rid, url = b.next_id()
    words = " ".join(rng.choices(("alpha", "beta", "gamma", "delta", "river", "stone"), k=10_000)) + " "
    line = (words * (LONG_LINE_BYTES // len(words) + 1))[:LONG_LINE_BYTES]
    body = f"<html><body><p>One line {line}</p></body></html>".encode()
    b.add(warc_record(rid, url, http_response(body)), Expect(rid, contains="One line", url=url))
    b.valid()
    return b.file("long-line.warc.gz")


def _deep_nesting(rng: random.Random) -> HostileFile:
    b = _Builder("deep_nesting")
    b.valid()
    n = DEEP_NESTING
    for shape in ("<div>" * n + "deep div text" + "</div>" * n, "<UL><LI>" * n + "deep list text",
                  "<table><tr><td>" * n + "deep table text"):
        rid, url = b.next_id()
        body = f"<html><body>{shape}</body></html>".encode()
        b.add(warc_record(rid, url, http_response(body)), Expect(rid, reason=None, contains="deep", url=url))
    b.valid()
    return b.file("deep-nesting.warc.gz")


def _unclosed_markup(rng: random.Random) -> HostileFile:
    b = _Builder("unclosed_markup")
    b.valid()
    for unit, name in (("<!--c<p>", "comment"), ("<script>s<p>", "script"), ("<noscript>n<p>", "noscript"),
                       ("<textarea>a<div>", "textarea")):
        rid, url = b.next_id()
        marker = f"Article after unclosed {name} markup"
        body = page(marker).replace(b"<body>", b"<body>" + unit.encode() * DEEP_NESTING)
        b.add(warc_record(rid, url, http_response(body)), Expect(rid, contains=marker, url=url))
    b.valid()
    return b.file("unclosed-markup.warc.gz")


def _nul_and_bad_bytes(rng: random.Random) -> HostileFile:
    b = _Builder("nul_and_bad_bytes")
    b.valid()
    cases = [
        (b"http://nul.example/a\x00b", http_response(page("NUL in the URL")), "NUL in the URL"),
        (b"http://bad-utf8.example/\xff\xfe\xc3(", http_response(page("Invalid UTF-8 in the URL")), "Invalid UTF-8"),
        (b"http://pct.example/%zz%%%00%ff%E2%82?q=%G1#%", http_response(page("Bad percent escapes")), "percent escapes"),
        (b"http://[::1/broken-ipv6", http_response(page("Broken IPv6 host")), "IPv6"),
        (b"http://hdr.example/", http_response(page("NUL and bad bytes in headers"), "text/html; charset=\xff\x00",
                                               headers=(b"X-Bad: \xff\xfe\x00\x01", b"Set-Cookie: a=%zz\x00")),
         "bad bytes in headers"),
        (b"http://body.example/", http_response(page("NULs in the body").replace(b"<p>", b"<p>\x00", 1)), "NULs in the body"),
    ]
    for uri, block, want in cases:
        rid, _ = b.next_id()
        b.add(warc_record(rid, uri, block), Expect(rid, contains=want))
    b.valid()
    return b.file("nul-and-bad-bytes.warc.gz")


def _revisit(rng: random.Random) -> HostileFile:
    b = _Builder("revisit")
    b.valid()
    for rtype, skip in (("revisit", "revisit"), ("request", "request"), ("metadata", "metadata")):
        rid, url = b.next_id()
        block = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" if rtype == "request" else b"HTTP/1.1 200 OK\r\n\r\n"
        if rtype == "metadata":
            block = b"fetchTimeMs: 12\r\n"
        extra = b"WARC-Profile: http://netpreserve.org/warc/1.0/revisit/identical-payload-digest\r\n" if rtype == "revisit" else b""
        b.add(warc_record(rid, url, block, rtype=rtype, extra=extra), Expect(rid, skip, url=url))
        b.valid()
    return b.file("revisit.warc.gz")


def _transfer_encodings(rng: random.Random) -> HostileFile:
    b = _Builder("transfer_encodings")
    b.valid()

    def chunked(data: bytes, size: int = 100) -> bytes:
        parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size)]
        return b"".join(parts) + b"0\r\n\r\n"

    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    cases = [
        ("chunked", lambda p: chunked(p), (b"Transfer-Encoding: chunked",), None),
        ("already dechunked", lambda p: p, (b"Transfer-Encoding: chunked",), None),
        ("truncated chunks", lambda p: chunked(p)[: len(chunked(p)) - 200], (b"Transfer-Encoding: chunked",), None),
        ("gzip", lambda p: gzip.compress(p, mtime=0), (b"Content-Encoding: gzip",), None),
        ("raw deflate", lambda p: deflate.compress(p) + deflate.flush(), (b"Content-Encoding: deflate",), None),
        ("gzip in chunks", lambda p: chunked(gzip.compress(p, mtime=0)),
         (b"Transfer-Encoding: chunked", b"Content-Encoding: gzip"), None),
        ("stored decoded", lambda p: p, (b"Content-Encoding: gzip",), None),
        ("broken gzip", lambda p: b"\x1f\x8b\x08\x00" + rng.randbytes(2000), (b"Content-Encoding: gzip",), "undecodable_body"),
    ]
    for name, encode, headers, skip in cases:
        rid, url = b.next_id()
        marker = f"Encoding case {name}"
        body = encode(page(marker))
        b.add(warc_record(rid, url, http_response(body, headers=headers)),
              Expect(rid, skip, contains=None if skip else marker, url=url))
    b.valid()
    return b.file("transfer-encodings.warc.gz")


def _no_http_headers(rng: random.Random) -> HostileFile:
    b = _Builder("no_http_headers")
    b.valid()
    cases = [
        (page("HTTP zero nine body only"), None, "zero nine"),
        (b"HTTP/1.1 200 OK\r\n\r\n" + page("Status line only"), None, "Status line only"),
        (b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n" + page("Bare LF headers"), None, "Bare LF headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/ht", "bad_record", None),
        (b"\x00\x01 not http at all", "bad_record", None),
    ]
    for block, skip, want in cases:
        rid, url = b.next_id()
        b.add(warc_record(rid, url, block), Expect(rid, skip, contains=want, url=url))
    b.valid()
    return b.file("no-http-headers.warc.gz")


def build_corpus(seed: int = 0, *, huge: bool = True) -> list[HostileFile]:
    """Every hostile class as :class:`HostileFile` objects (in memory); ``huge=False`` leaves
    out the 50 MB page."""
    rng = random.Random(seed)
    files = [_truncated_gzip_member(rng), _gzip_garbage(rng)]
    for gz in (True, False):
        files.append(_length("length_short", None, gz))
        files.append(_length("length_long", None, gz))
        files.append(_length("length_negative", b"-42", gz))
        files.append(_length("length_not_a_number", b"twelve", gz))
    files.append(_length("length_long_at_end", None, True, at_end=True))
    files.extend(_not_a_warc(rng))
    files.append(HostileFile("random_bytes", "random-bytes.warc.gz", rng.randbytes(64 * 1024), [Expect(None, "not_warc")]))
    files.append(HostileFile("empty", "empty.warc.gz", b"", [Expect(None, "empty_file")]))
    files += [_charsets(rng), _utf16_shiftjis(rng), _binary_as_html(rng)]
    if huge:
        files.append(_huge_page(rng))
    files += [_long_line(rng), _deep_nesting(rng), _unclosed_markup(rng), _nul_and_bad_bytes(rng), _revisit(rng),
              _transfer_encodings(rng), _no_http_headers(rng)]
    return files


def write_corpus(directory: Path, seed: int = 0, *, huge: bool = True) -> list[tuple[Path, HostileFile]]:
    """Write :func:`build_corpus` into ``directory``; (path, file) pairs."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for f in build_corpus(seed, huge=huge):
        path = directory / f.name
        path.write_bytes(f.data)
        out.append((path, f))
    return out
