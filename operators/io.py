"""Input resolution and document-file readers (DESIGN.md, "Interfaces": ``--input SRC``).

:func:`expand_inputs` turns what a user typed (WARC files, directories, globs, ``s3://``
prefixes, Common Crawl ``warc.paths.gz`` manifests, document files) into a sorted,
deterministic list of WARC files and document files. :func:`read_documents` reads
document files (Parquet, JSONL, optionally gzip/zstd compressed) into the document schema
of ``operators/schema.py`` plus ``reason`` (:data:`READ_SCHEMA`).
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from operators import schema
from operators import storage as st
from operators.warc import SKIP_CORRUPT_FILE, WARC_SUFFIXES, expand_manifest

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = (
    ".parquet",
    ".jsonl",
    ".json",
    ".ndjson",
    ".jsonl.gz",
    ".json.gz",
    ".ndjson.gz",
    ".jsonl.zst",
    ".json.zst",
    ".jsonl.zstd",
)
"""File names read as document files."""

MANIFEST_SUFFIXES = (".paths.gz", ".paths")
"""Common Crawl path manifests (``warc.paths.gz``): one WARC path a line."""

URL_FALLBACKS = ("metadata.url",)
LANGUAGE_FALLBACKS = ("metadata.language",)
LANGUAGE_SCORE_FALLBACKS = ("metadata.language_score",)
"""Dolma-format documents keep url and language under ``metadata``; read there when the
top-level column is missing."""

_GLOB_CHARS = "*?["
# Every name _classify_file takes (the others in a listed directory are ignored).
_INPUT_SUFFIXES = (*MANIFEST_SUFFIXES, *WARC_SUFFIXES, *DOCUMENT_SUFFIXES)
_OPAQUE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)


class InputError(ValueError):
    """An input path is missing or of an unknown kind; the message names it and what is accepted."""


ACCEPTED = (
    "WARC files (.warc, .warc.gz), directories, globs, s3:// URIs or prefixes, "
    "Common Crawl manifests (warc.paths.gz), or document files "
    "(.parquet, .jsonl, .json, .jsonl.gz, .json.gz, .jsonl.zst)"
)


@dataclass(frozen=True)
class InputConfig:
    """How document files are read and inputs expanded.

    id_column, text_column, url_column: names of those fields in document files; a dotted
        name (``metadata.url``) reaches into a nested object; a comma-separated
        text_column (``Q,A``) joins those fields with a blank line. A missing id becomes
        ``<file>#<line>`` (1-based line or row number); a missing text stays null.
    manifest_base: prefix that relative paths in ``warc.paths.gz`` manifests are joined to.
    max_files: read at most this many WARC files and this many document files (after
        sorting), for a quick sample run; None reads all.
    rows_per_batch: rows per Arrow table when reading document files.
    """

    id_column: str = "id"
    text_column: str = "text"
    url_column: str = "url"
    manifest_base: str = "s3://commoncrawl/"
    max_files: int | None = None
    rows_per_batch: int = 1024

    def __post_init__(self) -> None:
        if self.max_files is not None and self.max_files < 1:
            raise ValueError(f"InputConfig.max_files must be >= 1 or null, got {self.max_files}")
        if self.rows_per_batch < 1:
            raise ValueError(f"InputConfig.rows_per_batch must be >= 1, got {self.rows_per_batch}")


@dataclass(frozen=True)
class InputPlan:
    """What :func:`expand_inputs` found: sorted, de-duplicated file URIs by kind."""

    warc_files: list[str] = field(default_factory=list)
    document_files: list[str] = field(default_factory=list)


def _lower(path: str) -> str:
    return path.lower()


def is_warc_file(path: str) -> bool:
    """True for names FastWARC reads (``.warc``, ``.warc.gz``, ...)."""
    return _lower(path).endswith(WARC_SUFFIXES)


def is_document_file(path: str) -> bool:
    """True for document files (Parquet, JSONL, compressed JSONL)."""
    return _lower(path).endswith(DOCUMENT_SUFFIXES)


def is_manifest(path: str) -> bool:
    """True for Common Crawl path manifests (``*.paths.gz``)."""
    return _lower(path).endswith(MANIFEST_SUFFIXES)


def _glob(pattern: str, storage: st.StorageConfig | None) -> list[str]:
    if st.is_s3(pattern):
        first = min(pattern.index(c) for c in _GLOB_CHARS if c in pattern)
        prefix = pattern[:first].rsplit("/", 1)[0]
        candidates = st.list_files(prefix, _INPUT_SUFFIXES, storage)
        # also match directories implied by the listing
        return sorted(p for p in candidates if fnmatch.fnmatchcase(p, pattern)
                      or fnmatch.fnmatchcase(p, pattern.rstrip("/") + "/*"))
    return sorted(globlib.glob(os.path.expanduser(pattern), recursive=True))


def _classify_file(path: str, warcs: set[str], docs: set[str], cfg: InputConfig,
                   storage: st.StorageConfig | None, strict: bool) -> bool:
    if "://" not in path:
        path = os.path.abspath(os.path.expanduser(path))  # same form Ray reports as the source
    if is_manifest(path):
        for uri in expand_manifest(path, base=cfg.manifest_base, storage=storage):
            warcs.add(uri)
        return True
    if is_warc_file(path):
        warcs.add(path)
        return True
    if is_document_file(path):
        docs.add(path)
        return True
    if strict:
        raise InputError(f"don't know how to read {path!r}; accepted: {ACCEPTED}")
    return False


def _expand_one(src: str, warcs: set[str], docs: set[str], cfg: InputConfig,
                storage: st.StorageConfig | None) -> None:
    if any(c in src for c in _GLOB_CHARS):
        matches = _glob(src, storage)
        if not matches:
            raise InputError(f"glob {src!r} matches nothing; accepted: {ACCEPTED}")
        found = False
        for m in matches:
            if not st.is_s3(m) and os.path.isdir(m):
                before = len(warcs) + len(docs)
                _expand_one(m, warcs, docs, cfg, storage)
                found |= len(warcs) + len(docs) > before
            else:
                found |= _classify_file(m, warcs, docs, cfg, storage, strict=False)
        if not found:
            raise InputError(f"glob {src!r} matches no WARC or document file; accepted: {ACCEPTED}")
        return
    if not st.exists(src, storage):
        raise InputError(f"input {src!r} does not exist; accepted: {ACCEPTED}")
    if st.is_dir(src, storage):
        listed = [p for p in st.list_files(src, _INPUT_SUFFIXES, storage)
                  if _classify_file(p, warcs, docs, cfg, storage, strict=False)]
        if not listed:
            raise InputError(f"directory {src!r} holds no WARC or document file; accepted: {ACCEPTED}")
        return
    _classify_file(src, warcs, docs, cfg, storage, strict=True)


def expand_inputs(srcs: list[str], storage: st.StorageConfig | None = None,
                  cfg: InputConfig | None = None) -> InputPlan:
    """Resolve input sources to sorted lists of WARC and document files.

    Directories and ``s3://`` prefixes are listed recursively (unknown files inside them are
    ignored, hidden ``.``/``_`` names skipped; local paths become absolute); globs (``data/**/*.warc.gz``) are expanded;
    ``*.paths.gz`` manifests are read and their relative paths joined to
    ``cfg.manifest_base``. A missing path, an unknown file type, or a source that yields
    nothing raises :class:`InputError`. Local paths are normalised (``a/../b`` is ``b``); an
    S3 input key with a ``.``, ``..`` or empty segment raises ``storage.S3KeyError`` (a
    ConfigError): S3 keys are literal, and pyarrow would read another object for it.
    """
    cfg = cfg or InputConfig()
    if isinstance(srcs, str):
        srcs = [srcs]
    if not srcs:
        raise InputError(f"no input given; accepted: {ACCEPTED}")
    warcs: set[str] = set()
    docs: set[str] = set()
    for src in srcs:
        if not isinstance(src, str) or not src.strip():
            raise InputError(f"empty input {src!r}; accepted: {ACCEPTED}")
        _expand_one(src.strip(), warcs, docs, cfg, storage)
    warc_list, doc_list = sorted(warcs), sorted(docs)
    if cfg.max_files is not None:
        warc_list, doc_list = warc_list[: cfg.max_files], doc_list[: cfg.max_files]
    return InputPlan(warc_files=warc_list, document_files=doc_list)


def registered_domain(url: str | None) -> str | None:
    """Lower-case host of ``url`` without ``www.``, port, userinfo or trailing dot.

    No public-suffix list: ``a.b.example.co.uk`` stays as is.

    >>> registered_domain("https://User:pw@WWW.Example.COM:8080/path?q")
    'example.com'
    >>> registered_domain("http://[2001:db8::1]:80/")
    '2001:db8::1'
    >>> registered_domain("http://www.bücher.de/")
    'bücher.de'
    >>> registered_domain("example.org/page"), registered_domain(""), registered_domain(None)
    ('example.org', None, None)
    """
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if "//" not in url.split("?", 1)[0]:
        if _OPAQUE_SCHEME.match(url):
            return None  # mailto:, dns:, urn: ... have no host
        url = "//" + url
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    else:
        host = host.split(":", 1)[0]
    host = host.strip().rstrip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    if not host or any(c.isspace() or c in "/\\<>\"'" for c in host):
        return None
    return host


# ---------------------------------------------------------------- document files (pure core)


def _dig(record: Any, dotted: str) -> Any:
    if not isinstance(record, dict):
        return None
    if dotted in record:
        return record[dotted]
    cur: Any = record
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _first(record: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        value = _dig(record, name)
        if value is not None:
            return value
    return None


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def _text_of(record: dict, text_column: str) -> str | None:
    """The text field; ``"Q,A"`` joins several fields with a blank line (Q&A corpora).

    >>> _text_of({"Q": "What is 2+2?", "A": "4."}, "Q,A").split()
    ['What', 'is', '2+2?', '4.']
    """
    if "," not in text_column:
        return _as_str(_dig(record, text_column))
    parts = [_as_str(_dig(record, name.strip())) for name in text_column.split(",")]
    parts = [p for p in parts if p]
    return "\n\n".join(parts) if parts else None


def normalise_record(record: Any, source: str, number: int, cfg: InputConfig) -> dict:
    """One input record -> one row of the document schema (pure; see :class:`InputConfig`)."""
    if not isinstance(record, dict):
        record = {}
    rid = _as_str(_dig(record, cfg.id_column))
    url = _as_str(_first(record, (cfg.url_column, *URL_FALLBACKS)))
    return {
        schema.ID: rid if rid else f"{source}#{number}",
        schema.URL: url,
        schema.DOMAIN: registered_domain(url),
        schema.TEXT: _text_of(record, cfg.text_column),
        schema.LANGUAGE: _as_str(_first(record, (schema.LANGUAGE, *LANGUAGE_FALLBACKS))),
        schema.LANGUAGE_SCORE: _as_float(_first(record, (schema.LANGUAGE_SCORE, *LANGUAGE_SCORE_FALLBACKS))),
        schema.SOURCE: source,
        schema.WARC_DATE: _as_datetime(_dig(record, schema.WARC_DATE)),
    }


def _iter_lines(stream: Any, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    pending = b""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        pending += bytes(chunk)
        lines = pending.split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


MALFORMED_RECORD = "malformed_record"
"""Reject reason: a JSONL line that is not a JSON object (its id is ``<file>#<line number>``)."""
REASONS = (MALFORMED_RECORD,)
READ_SCHEMA = schema.DOCUMENT_SCHEMA.append(pa.field(schema.REASON, pa.string()))
"""What document-file reads yield: the document schema plus ``reason`` (null, or
``malformed_record``)."""


def _document_table(rows: list[dict], malformed: list[bool] | None = None) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=schema.DOCUMENT_SCHEMA)
    return schema.with_reason(table, [MALFORMED_RECORD if bad else None for bad in malformed or [False] * len(rows)])


def iter_jsonl_tables(stream: Any, source: str, cfg: InputConfig | None = None) -> Iterator[pa.Table]:
    """Decompressed JSONL stream -> document tables (with a ``reason`` column). A line that is
    not a JSON object becomes a ``malformed_record`` reject, never a silent drop; blank lines
    are no records."""
    cfg = cfg or InputConfig()
    rows: list[dict] = []
    malformed: list[bool] = []
    for number, line in enumerate(_iter_lines(stream), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            record = None
        bad = not isinstance(record, dict)
        rows.append(normalise_record({} if bad else record, source, number, cfg))
        malformed.append(bad)
        if len(rows) >= cfg.rows_per_batch:
            yield _document_table(rows, malformed)
            rows, malformed = [], []
    if rows:
        yield _document_table(rows, malformed)


def iter_parquet_tables(source_file: Any, source: str, cfg: InputConfig | None = None) -> Iterator[pa.Table]:
    """Random-access Parquet file -> document tables, reading only the columns needed."""
    import pyarrow.parquet as pq

    cfg = cfg or InputConfig()
    pf = pq.ParquetFile(source_file)
    wanted_top = {name.split(".", 1)[0] for name in (
        cfg.id_column, cfg.text_column, cfg.url_column, *URL_FALLBACKS, schema.LANGUAGE,
        *LANGUAGE_FALLBACKS, schema.LANGUAGE_SCORE, *LANGUAGE_SCORE_FALLBACKS, schema.WARC_DATE)}
    wanted_top |= {cfg.id_column, cfg.text_column, cfg.url_column}
    columns = [name for name in pf.schema_arrow.names if name in wanted_top]
    number = 0
    # One row group at a time, handing freed buffers back after each: one reader over a whole
    # file kept buffers across row groups (283 MiB of heap for 13 row groups of 10k documents
    # vs 84 MiB this way), so a read task's memory grew with the file.
    for group in range(pf.metadata.num_row_groups):
        for batch in pf.iter_batches(batch_size=cfg.rows_per_batch, columns=columns, row_groups=[group]):
            rows = []
            for record in batch.to_pylist():
                number += 1
                rows.append(normalise_record(record, source, number, cfg))
            yield _document_table(rows)
        pa.default_memory_pool().release_unused()


PROBLEM_SCHEMA = READ_SCHEMA.append(pa.field(schema.SKIP, pa.string()))
"""The one-row table that records a document file which could not be read to its end."""


def problem_table(uri: str, problem: str) -> pa.Table:
    """One row with ``skip`` = ``problem`` (:data:`operators.warc.FILE_PROBLEMS`) for ``uri``:
    counted and listed by the run (``stats.json`` ``file_problems``), never written.

    >>> problem_table("x.jsonl.gz", "corrupt_file").to_pylist()[0]["skip"]
    'corrupt_file'
    """
    row = dict.fromkeys(PROBLEM_SCHEMA.names)
    row.update({schema.ID: f"{uri}#corrupt", schema.SOURCE: uri, schema.SKIP: problem})
    return pa.Table.from_pylist([row], schema=PROBLEM_SCHEMA)


def guard_document_tables(tables: Iterator[pa.Table], uri: str) -> Iterator[pa.Table]:
    """``tables`` (one document file's), then, if reading the file fails (a corrupt gzip or
    zstd stream, a file that is not Parquet), a :func:`problem_table` naming it
    ``corrupt_file`` instead of an exception that would fail the run. The rows read before the
    damage are kept."""
    try:
        yield from tables
    except (OSError, ValueError, EOFError, pa.ArrowException) as exc:
        if st.is_transient(exc):
            raise  # the store failed, not the file: the read is retried (Ray Data), never "corrupt"
        log.warning("corrupt_file %s: %s", uri, exc)
        yield problem_table(uri, SKIP_CORRUPT_FILE)


def compression_of(path: str) -> str | None:
    """pyarrow codec name for a document file, by extension."""
    lower = path.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    if lower.endswith(".bz2"):
        return "bz2"
    return None


def iter_document_tables(uri: str, cfg: InputConfig | None = None,
                         storage: st.StorageConfig | None = None) -> Iterator[pa.Table]:
    """Read one document file without Ray (tests, small jobs)."""
    fs, path = st.resolve(uri, storage)
    if uri.lower().endswith(".parquet"):
        with fs.open_input_file(path) as f:
            yield from iter_parquet_tables(f, uri, cfg)
        return
    with fs.open_input_stream(path, compression=compression_of(uri)) as f:
        yield from iter_jsonl_tables(f, uri, cfg)


# ---------------------------------------------------------------- Ray adapter


def ray_reads_as_named(path: str) -> bool:
    """False when Ray Data's path handling would turn ``path`` into another name.

    Ray Data parses every path as a URL (``urllib.parse.urlparse``), which deletes tabs, CRs
    and LFs anywhere (WHATWG URL parsing) and drops an empty trailing ``;params`` or ``?query``;
    ``s3://b/in/a\\nb.jsonl`` would be looked up as ``b/in/ab.jsonl`` and the whole run would
    stop on a FileNotFoundError. S3 keys and local file names may hold such characters, so
    :func:`read_documents` reads those files itself.

    >>> ray_reads_as_named("s3://b/in/a.jsonl"), ray_reads_as_named("s3://b/in/a\\nb.jsonl")
    (True, False)
    """
    _, sep, rest = path.partition("://")
    if not sep:
        rest = path
    parsed = urlparse(path, allow_fragments=False)
    seen = parsed.netloc + parsed.path
    if parsed.params:
        seen += ";" + parsed.params
    if parsed.query:
        seen += "?" + parsed.query
    return seen == rest


def _direct_tables(fs: Any, path: str, uri: str, cfg: InputConfig) -> Iterator[pa.Table]:
    """One document file's tables, opened here (an error opening it is the guard's to name)."""
    if path.lower().endswith(".parquet"):
        with fs.open_input_file(path) as f:
            yield from iter_parquet_tables(f, uri, cfg)
    else:
        with fs.open_input_stream(path, compression=compression_of(path)) as f:
            yield from iter_jsonl_tables(f, uri, cfg)


def _read_direct(fs: Any, path: str, uri: str, cfg: InputConfig, storage_cfg: st.StorageConfig) -> Iterator[pa.Table]:
    """Read task of a file whose name Ray Data would change (:func:`ray_reads_as_named`)."""
    if uri.startswith("s3://"):
        st.start_jitter(storage_cfg)
    yield from guard_document_tables(_direct_tables(fs, path, uri, cfg), uri)


def _ray_datasource_class() -> dict[str, type]:
    import functools

    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, FileBasedDatasource, ReadTask

    class DocumentFileDatasource(FileBasedDatasource):
        """Streams Parquet/JSONL document files as tables with the document schema."""

        _FILE_EXTENSIONS = ["parquet", "jsonl", "json", "ndjson", "gz", "zst", "zstd"]

        def __init__(self, paths: list[str], *, cfg: InputConfig | None = None,
                     storage: st.StorageConfig | None = None, uri_prefix: str = "", **kwargs: Any) -> None:
            super().__init__(paths, **kwargs)
            self._input_cfg = cfg or InputConfig()
            self._storage_cfg = storage or st.DEFAULT_STORAGE
            self._uri_prefix = uri_prefix

        def resolve_compression(self, path: str, open_args: dict) -> str | None:
            return compression_of(path)

        def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
            if self._uri_prefix:
                st.start_jitter(self._storage_cfg)
            if path.lower().endswith(".parquet"):
                return filesystem.open_input_file(path)
            return super()._open_input_source(filesystem, path, **open_args)

        def _read_stream(self, f: Any, path: str) -> Iterator[pa.Table]:
            uri = self._uri_prefix + path
            if path.lower().endswith(".parquet"):
                yield from guard_document_tables(iter_parquet_tables(f, uri, self._input_cfg), uri)
            else:
                yield from guard_document_tables(iter_jsonl_tables(f, uri, self._input_cfg), uri)

    class DocumentDatasource(Datasource):
        """Document files as tables with the document schema: through Ray Data's file reader
        (:class:`DocumentFileDatasource`), except files whose names Ray Data would change
        (:func:`ray_reads_as_named`), which get a read task each that opens them as named; a
        file that then cannot be opened or read is a ``corrupt_file`` row, not a failed run."""

        def __init__(self, paths: list[str], *, cfg: InputConfig | None = None,
                     storage: st.StorageConfig | None = None, uri_prefix: str = "",
                     filesystem: Any = None, **kwargs: Any) -> None:
            super().__init__()
            self._input_cfg = cfg or InputConfig()
            self._storage_cfg = storage or st.DEFAULT_STORAGE
            self._uri_prefix = uri_prefix
            self._fs = filesystem
            direct = [p for p in paths if not ray_reads_as_named(p)]
            named = [p for p in paths if ray_reads_as_named(p)]
            self._files = (DocumentFileDatasource(named, cfg=cfg, storage=storage, uri_prefix=uri_prefix,
                                                  filesystem=filesystem, **kwargs) if named else None)
            sizes: list[int | None] = [None] * len(direct)
            if direct:
                infos = st.with_retries(lambda: filesystem.get_file_info(direct), attempts=self._storage_cfg.retries)
                sizes = [i.size if i.type == pafs.FileType.File else None for i in infos]
            self._direct = list(zip(direct, sizes))

        def estimate_inmemory_data_size(self) -> int | None:
            total = (self._files.estimate_inmemory_data_size() or 0) if self._files else 0
            return total + sum(size or 0 for _, size in self._direct)

        @property
        def supports_distributed_reads(self) -> bool:
            return self._files.supports_distributed_reads if self._files else True

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list:
            tasks = (self._files.get_read_tasks(parallelism, per_task_row_limit=per_task_row_limit,
                                                data_context=data_context) if self._files else [])
            for path, size in self._direct:
                meta = BlockMetadata(num_rows=None, size_bytes=size, exec_stats=None, input_files=[path])
                fn = functools.partial(_read_direct, self._fs, path, self._uri_prefix + path, self._input_cfg,
                                       self._storage_cfg)
                tasks.append(ReadTask(fn, meta, per_task_row_limit=per_task_row_limit))
            return tasks

    DocumentFileDatasource.__qualname__ = "DocumentFileDatasource"  # pickled by reference
    DocumentDatasource.__qualname__ = "DocumentDatasource"
    return {"DocumentDatasource": DocumentDatasource, "DocumentFileDatasource": DocumentFileDatasource}


def __getattr__(name: str) -> Any:
    # The datasources are built lazily so importing this module does not import Ray.
    if name in ("DocumentDatasource", "DocumentFileDatasource"):
        globals().update(_ray_datasource_class())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_documents(files: list[str], cfg: InputConfig | None = None,
                   storage: st.StorageConfig | None = None) -> Any:
    """A Ray Dataset with :data:`READ_SCHEMA` from document files (all local or all s3://)."""
    import ray.data

    if not files:
        raise InputError("read_documents needs at least one document file")
    unknown = [f for f in files if not is_document_file(f)]
    if unknown:
        raise InputError(f"not a document file: {unknown[0]!r}; accepted: {', '.join(DOCUMENT_SUFFIXES)}")
    if len({st.is_s3(f) for f in files}) > 1:
        raise InputError("read_documents: mix of local paths and s3:// URIs; run them as separate inputs")
    fs, _ = st.resolve(files[0], storage)
    fs_paths = [st.resolve(f, storage)[1] for f in files]
    prefix = "s3://" if st.is_s3(files[0]) else ""
    datasource = __getattr__("DocumentDatasource")(
        fs_paths, cfg=cfg, storage=storage, uri_prefix=prefix, filesystem=fs,
    )
    return ray.data.read_datasource(datasource)
