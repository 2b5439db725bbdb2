"""Build the benchmark crawl: a set of WARC.gz files of real HTML pages, repeated to a page count.

Pages: every HTML response (HTTP 200, HTML content type, body decoded) of the WARC files in
``../shared/data/warc/`` and every ``source.html.gz`` of the mozilla/readability test pages in
``../shared/data/extraction-dev/``: about 430 distinct real pages. They are written again and
again, in a shuffled order, until ``--pages`` responses exist, round-robin over ``--files``
WARC.gz files (several files so that datatrove's per-file executor and Ray both parallelise).

Each copy is its own WARC response record (fresh WARC-Record-ID; the first copy keeps the
page's URL, later ones get ``copy=N`` added to the query), with a plain ``HTTP/1.1 200 OK``
header, ``Content-Type: text/html`` (plus the original charset when the crawl stated one)
and ``WARC-Identified-Payload-Type: text/html`` as Common Crawl writes it. Later copies also
start their first paragraph with a ``[copy N]`` marker (:func:`mark_copy`), so no two copies
have the same text: a cache keyed by a document's text cannot make a repeat free. Repeated
pages are fine for throughput; the corpus is useless for measuring dedup.

    python benchmarks/build_corpus.py --out benchmarks/_work/corpus [--pages 5000] [--files 8]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
WARC_DIR = SHARED_DATA / "warc"
READABILITY_DIR = SHARED_DATA / "extraction-dev" / "mozilla-readability" / "test-pages"
MANIFEST = "corpus.json"


@dataclass(frozen=True)
class Page:
    """One distinct real page: where it came from and its decoded HTTP body."""

    url: str
    html: bytes
    charset: str | None
    date: datetime | None
    origin: str


def require_shared_data() -> None:
    """Fail with a clear message when ``../shared/data`` (real pages) is absent."""
    missing = [p for p in (WARC_DIR, READABILITY_DIR) if not p.is_dir()]
    if missing:
        sys.exit(
            "benchmark needs the real pages in ../shared/data (beside the repository); missing: "
            + ", ".join(str(p) for p in missing)
        )


def warc_pages() -> list[Page]:
    """Every HTML response of the shared WARC files, decoded as raysift's reader decodes it."""
    sys.path.insert(0, str(REPO))
    from operators.warc import WarcConfig, iter_warc_rows

    pages = []
    for path in sorted(WARC_DIR.glob("*.warc.gz")):
        with path.open("rb") as f:
            for row in iter_warc_rows(f, path.name, WarcConfig()):
                if row["skip"] is None and row["html"] and row["url"]:
                    pages.append(Page(row["url"], row["html"], row["http_charset"], row["warc_date"], f"warc/{path.name}"))
    return pages


def readability_pages() -> list[Page]:
    """Every ``source.html.gz`` of the readability test pages (a made-up URL per page)."""
    pages = []
    for src in sorted(READABILITY_DIR.glob("*/source.html.gz")):
        name = src.parent.name
        pages.append(Page(f"http://readability-test-pages.example/{name}/", gzip.decompress(src.read_bytes()),
                          None, None, f"extraction-dev/mozilla-readability/{name}"))
    return pages


_FIRST_P = re.compile(rb"<p(?:\s[^>]*)?>", re.IGNORECASE)
_BODY = re.compile(rb"<body(?:\s[^>]*)?>", re.IGNORECASE)


def mark_copy(html: bytes, copy: int) -> bytes:
    """``html`` with ``[copy N]`` at the start of its first paragraph (copy 0, and pages in a
    charset that is not ASCII-compatible, unchanged).

    >>> mark_copy(b"<body><p class=x>Hello</p>", 2)
    b'<body><p class=x>[copy 2] Hello</p>'
    >>> mark_copy(b"<body><div>Hi</div>", 1), mark_copy(b"<p>a", 0)
    (b'<body><p>[copy 1]</p><div>Hi</div>', b'<p>a')
    """
    if copy == 0 or b"\x00" in html[:2048]:
        return html
    m = _FIRST_P.search(html)
    if m is not None:
        return html[: m.end()] + b"[copy %d] " % copy + html[m.end() :]
    m = _BODY.search(html)
    at = m.end() if m is not None else 0
    return html[:at] + b"<p>[copy %d]</p>" % copy + html[at:]


def copy_url(url: str, copy: int) -> str:
    """The URL of the ``copy``-th repetition (copy 0 keeps the original)."""
    if copy == 0:
        return url
    base, _, frag = url.partition("#")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}copy={copy}" + (f"#{frag}" if frag else "")


def build_corpus(out: Path, pages: int = 5000, files: int = 8, seed: int = 0) -> dict:
    """Write ``files`` WARC.gz files holding ``pages`` responses to ``out``; return the manifest.

    Reuses ``out`` when its manifest already describes the same request.
    """
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    require_shared_data()
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if (old.get("pages"), old.get("files"), old.get("seed"), old.get("marked")) == (pages, files, seed, True) and all(
            (out / name).is_file() for name in old.get("warc_files", [])
        ):
            return old
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    unique = warc_pages() + readability_pages()
    order = list(range(len(unique)))
    rng = random.Random(seed)
    names = [f"bench-{i:03d}.warc.gz" for i in range(files)]
    handles = [(out / n).open("wb") for n in names]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    per_file = [0] * files
    written = 0
    copy = 0
    fallback_date = datetime(2024, 5, 1, tzinfo=timezone.utc)
    try:
        while written < pages:
            rng.shuffle(order)
            for idx in order:
                if written >= pages:
                    break
                page = unique[idx]
                html = mark_copy(page.html, copy)
                ctype = "text/html" + (f"; charset={page.charset}" if page.charset else "")
                http = StatusAndHeaders("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(html)))],
                                        protocol="HTTP/1.1")
                date = (page.date or fallback_date).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                record = writers[written % files].create_warc_record(
                    copy_url(page.url, copy), "response", payload=BytesIO(html), http_headers=http,
                    warc_headers_dict={"WARC-Date": date, "WARC-Identified-Payload-Type": "text/html"},
                )
                writers[written % files].write_record(record)
                per_file[written % files] += 1
                written += 1
            copy += 1
    finally:
        for h in handles:
            h.close()
    manifest = {
        "pages": pages, "files": files, "seed": seed, "marked": True, "warc_files": names, "pages_per_file": per_file,
        "unique_pages": len(unique),
        "unique_from_warc": sum(p.origin.startswith("warc/") for p in unique),
        "unique_from_readability": sum(p.origin.startswith("extraction-dev/") for p in unique),
        "max_copies": copy, "bytes": sum((out / n).stat().st_size for n in names),
        "html_bytes_unique": sum(len(p.html) for p in unique),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "_work" / "corpus")
    p.add_argument("--pages", type=int, default=5000)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    m = build_corpus(args.out, args.pages, args.files, args.seed)
    print(f"{m['pages']} pages ({m['unique_pages']} distinct real pages, repeated up to {m['max_copies']}x) "
          f"in {m['files']} WARC.gz files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
