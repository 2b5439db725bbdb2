"""Local and S3 filesystems, retries with backoff, atomic writes (DESIGN.md, "Deployment").

Every path in raysift is a URI string: a local path (``/data/x``, ``file:///data/x``) or
``s3://bucket/key``. :func:`resolve` turns it into a ``pyarrow.fs.FileSystem`` and the path
that filesystem understands. S3 works with any S3-compatible store through an endpoint
override (Ceph RGW, moto), anonymous access for the public ``commoncrawl`` bucket, and
credentials from the standard AWS chain otherwise; credentials are read by the AWS SDK
itself and never pass through (or get logged by) this module.

>>> join("s3://bucket/out/", "documents", "part-0.parquet")
's3://bucket/out/documents/part-0.parquet'
>>> split_s3("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/warc.paths.gz")
('commoncrawl', 'crawl-data/CC-MAIN-2024-22/warc.paths.gz')
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlparse

import pyarrow.fs as pafs

# Ceph RGW (and other non-AWS stores) reject the flexible checksums newer AWS SDKs send by
# default with HTTP 411; only compute them when an operation requires them (ENVIRONMENT.md).
os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "WHEN_REQUIRED")

T = TypeVar("T")

ENDPOINT_ENV_VARS = ("RAYSIFT_S3_ENDPOINT", "AWS_ENDPOINT_URL")
"""Environment variables read (in this order) when ``StorageConfig.endpoint_url`` is unset."""

PUBLIC_BUCKETS = frozenset({"commoncrawl"})
"""Buckets read anonymously when ``StorageConfig.anonymous`` is None (auto)."""

TRANSIENT_MARKERS = (
    "SlowDown",
    "slow down",
    "503",
    "500",
    "Service Unavailable",
    "InternalError",
    "RequestTimeout",
    "Throttl",
    "TooManyRequests",
    "Connection reset",
    "Connection refused",
    "connection was closed",
    "Broken pipe",
    "timed out",
    "Timeout",
    "timeout",
    "Temporary failure",
    "curlCode: 28",
)
"""Substrings of an ``OSError`` message that mark a throttled or flaky request worth retrying."""


class StorageError(ValueError):
    """A URI cannot be handled; the message names the URI and what is accepted."""


@dataclass(frozen=True)
class StorageConfig:
    """How to reach object storage.

    endpoint_url: S3 endpoint such as ``http://127.0.0.1:9000`` for an S3-compatible store;
        None reads ``RAYSIFT_S3_ENDPOINT`` then ``AWS_ENDPOINT_URL``, else AWS itself.
    region: S3 region; None reads ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else ``us-east-1``.
    anonymous: True for unsigned requests, False for the AWS credential chain, None (auto)
        for anonymous on public buckets (``commoncrawl``) and credentials elsewhere.
    retries: attempts per S3 request (AWS standard retry strategy) and per open/write
        wrapped in :func:`with_retries`.
    start_jitter_seconds: random delay (uniform in [0, this]) before a worker process's
        first S3 access, so thousands of tasks do not hit the store in the same second
        (Common Crawl asks for this to avoid ``SlowDown``); 0 disables it.
    """

    endpoint_url: str | None = None
    region: str | None = None
    anonymous: bool | None = None
    retries: int = 10
    start_jitter_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.retries < 1:
            raise ValueError(f"StorageConfig.retries must be >= 1, got {self.retries}")
        if self.start_jitter_seconds < 0:
            raise ValueError(
                f"StorageConfig.start_jitter_seconds must be >= 0, got {self.start_jitter_seconds}"
            )
        if self.endpoint_url is not None and "@" in self.endpoint_url:
            # user:password@ in the URL: refused, and never echoed (the AWS SDK would take the
            # user as the host name and print it in every error; stats.json keeps this config)
            from operators.config import ConfigError

            scheme, sep, rest = self.endpoint_url.partition("://")
            shown = f"{scheme}://{rest.rpartition('@')[2]}" if sep else "http://HOST:PORT"
            raise ConfigError(
                "storage.endpoint_url must not hold credentials (user:password@ before the host): "
                f"set it to {shown} and give the credentials through the AWS credential chain "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or an instance role)"
            )
        if self.endpoint_url is not None and urlparse(self.endpoint_url).scheme not in ("http", "https"):
            raise ValueError(
                f"StorageConfig.endpoint_url must start with http:// or https://, got {self.endpoint_url!r}"
            )


DEFAULT_STORAGE = StorageConfig()

_FS_CACHE: dict[tuple, pafs.FileSystem] = {}
_FS_LOCK = threading.Lock()
_JITTER_DONE = False


def is_s3(uri: str) -> bool:
    """True for ``s3://`` (and ``s3a://``) URIs."""
    return uri.startswith(("s3://", "s3a://"))


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} has no bucket; write s3://BUCKET/KEY")
    return bucket, key


def endpoint_url(cfg: StorageConfig | None = None) -> str | None:
    """The S3 endpoint in effect: the config's, else the environment's, else None (AWS)."""
    cfg = cfg or DEFAULT_STORAGE
    if cfg.endpoint_url:
        return cfg.endpoint_url
    for var in ENDPOINT_ENV_VARS:
        value = os.environ.get(var)
        if value:
            return value
    return None


def _anonymous_for(bucket: str, cfg: StorageConfig) -> bool:
    if cfg.anonymous is not None:
        return cfg.anonymous
    return bucket in PUBLIC_BUCKETS


def _region(cfg: StorageConfig) -> str:
    return cfg.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def start_jitter(cfg: StorageConfig) -> None:
    """Sleep ``uniform(0, cfg.start_jitter_seconds)`` once per process (first S3 access)."""
    global _JITTER_DONE
    if cfg.start_jitter_seconds > 0 and not _JITTER_DONE:
        _JITTER_DONE = True
        time.sleep(random.uniform(0.0, cfg.start_jitter_seconds))


def s3_filesystem(bucket: str, cfg: StorageConfig | None = None) -> pafs.S3FileSystem:
    """A cached ``S3FileSystem`` for ``bucket`` (cache key: endpoint, anonymous, region, retries)."""
    cfg = cfg or DEFAULT_STORAGE
    endpoint = endpoint_url(cfg)
    anonymous = _anonymous_for(bucket, cfg)
    region = _region(cfg)
    key = ("s3", endpoint, anonymous, region, cfg.retries)
    with _FS_LOCK:
        fs = _FS_CACHE.get(key)
        if fs is None:
            kwargs: dict = {
                "region": region,
                "anonymous": anonymous,
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=cfg.retries),
                "allow_bucket_creation": False,
                "allow_bucket_deletion": False,
            }
            if endpoint:
                parsed = urlparse(endpoint)
                kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
                kwargs["scheme"] = parsed.scheme
                # S3-compatible stores are addressed by path (http://host/bucket/key).
                kwargs["force_virtual_addressing"] = False
            fs = pafs.S3FileSystem(**kwargs)
            _FS_CACHE[key] = fs
    return fs


def resolve(uri: str, cfg: StorageConfig | None = None) -> tuple[pafs.FileSystem, str]:
    """Filesystem and in-filesystem path for a local path, ``file://`` URI or ``s3://`` URI.

    >>> fs, path = resolve("/tmp/x.parquet")
    >>> type(fs).__name__, path
    ('LocalFileSystem', '/tmp/x.parquet')
    """
    if not isinstance(uri, str) or not uri:
        raise StorageError(f"expected a path or s3:// URI, got {uri!r}")
    if is_s3(uri):
        bucket, key = split_s3(uri)
        cfg = cfg or DEFAULT_STORAGE
        start_jitter(cfg)
        return s3_filesystem(bucket, cfg), f"{bucket}/{key}".rstrip("/") if key else bucket
    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), os.path.abspath(uri[len("file://"):])
    if "://" in uri:
        raise StorageError(
            f"unsupported URI scheme in {uri!r}; use a local path, file:// or s3://BUCKET/KEY "
            "(any S3-compatible store via StorageConfig.endpoint_url)"
        )
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))


def to_uri(fs: pafs.FileSystem, path: str) -> str:
    """Inverse of :func:`resolve` for a path listed on ``fs``."""
    if isinstance(fs, pafs.S3FileSystem):
        return "s3://" + path
    return path


def join(base: str, *parts: str) -> str:
    """Join URI/path segments with ``/`` (``os.path.join`` semantics for local paths).

    >>> join("out", "stats.json")
    'out/stats.json'
    """
    if is_s3(base) or "://" in base:
        out = base.rstrip("/")
        for part in parts:
            out += "/" + part.strip("/")
        return out
    return os.path.join(base, *parts)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: throttling, 5xx, resets and timeouts."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if not isinstance(exc, OSError):
        return False
    message = str(exc)
    return any(marker in message for marker in TRANSIENT_MARKERS)


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int,
    base_delay: float = 0.2,
    max_delay: float = 20.0,
    retry_if: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient errors (:func:`is_transient`).

    Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
    Jitter", 2015): before retry ``i`` sleep ``uniform(0, min(max_delay, base_delay * 2**i))``.
    Non-transient errors and the last transient one are re-raised unchanged.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - filtered by retry_if, else re-raised
            if attempt == attempts - 1 or not retry_if(exc):
                raise
            time.sleep(random.uniform(0.0, min(max_delay, base_delay * (2**attempt))))
    raise AssertionError("unreachable")  # pragma: no cover


def _attempts(cfg: StorageConfig | None) -> int:
    return (cfg or DEFAULT_STORAGE).retries


def write_bytes_atomic(uri: str, data: bytes, cfg: StorageConfig | None = None) -> None:
    """Write ``data`` so readers see either nothing or the whole object.

    Local: write a hidden temporary file in the same directory, then ``os.replace``.
    S3: one upload; an object becomes visible only when its PUT (or multipart upload)
    completes.
    """
    fs, path = resolve(uri, cfg)
    if isinstance(fs, pafs.LocalFileSystem):
        directory, name = os.path.split(path)
        os.makedirs(directory or ".", exist_ok=True)
        tmp = os.path.join(directory, f".{name}.tmp-{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return

    def put() -> None:
        # compression=None: pyarrow's default "detect" would gzip a *.gz name again.
        with fs.open_output_stream(path, compression=None) as out:
            out.write(data)

    with_retries(put, attempts=_attempts(cfg))


def read_bytes(uri: str, cfg: StorageConfig | None = None) -> bytes:
    """The raw bytes of a file or object, never decompressed (for small files: manifests, stats)."""
    fs, path = resolve(uri, cfg)

    def get() -> bytes:
        with fs.open_input_stream(path, compression=None) as f:
            return f.read()

    return with_retries(get, attempts=_attempts(cfg))


def exists(uri: str, cfg: StorageConfig | None = None) -> bool:
    """True if ``uri`` names an existing file or directory (an S3 prefix counts as a directory)."""
    fs, path = resolve(uri, cfg)
    info = with_retries(lambda: fs.get_file_info(path), attempts=_attempts(cfg))
    return info.type != pafs.FileType.NotFound


def is_dir(uri: str, cfg: StorageConfig | None = None) -> bool:
    """True if ``uri`` is a directory (or a non-empty S3 prefix)."""
    fs, path = resolve(uri, cfg)
    info = with_retries(lambda: fs.get_file_info(path), attempts=_attempts(cfg))
    return info.type == pafs.FileType.Directory


def _hidden(path: str) -> bool:
    return any(part.startswith((".", "_")) for part in path.split("/") if part)


def list_files(
    uri_or_dir: str,
    suffixes: Iterable[str] | None = None,
    cfg: StorageConfig | None = None,
) -> list[str]:
    """Sorted URIs of the files under a directory or S3 prefix (recursive).

    A file URI lists itself. Names starting with ``.`` or ``_`` below the root (temporary
    files, ``_SUCCESS`` markers) are skipped, as Ray and Spark do. ``suffixes`` keeps only
    names ending in one of them (case-insensitive). A missing path lists nothing.
    """
    fs, path = resolve(uri_or_dir, cfg)
    wanted = tuple(s.lower() for s in suffixes) if suffixes is not None else None
    info = with_retries(lambda: fs.get_file_info(path), attempts=_attempts(cfg))
    if info.type == pafs.FileType.File:
        infos = [info]
    elif info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
        infos = with_retries(lambda: fs.get_file_info(selector), attempts=_attempts(cfg))
        root = path.rstrip("/")
        infos = [i for i in infos if i.type == pafs.FileType.File and not _hidden(i.path[len(root):])]
    else:
        return []
    out = [
        to_uri(fs, i.path)
        for i in infos
        if wanted is None or i.path.lower().endswith(wanted)
    ]
    return sorted(out)


def delete_dir(uri: str, cfg: StorageConfig | None = None) -> None:
    """Delete a directory or S3 prefix and everything under it; a missing one is fine."""
    fs, path = resolve(uri, cfg)
    info = with_retries(lambda: fs.get_file_info(path), attempts=_attempts(cfg))
    if info.type == pafs.FileType.NotFound:
        return
    if info.type == pafs.FileType.File:
        with_retries(lambda: fs.delete_file(path), attempts=_attempts(cfg))
        return
    with_retries(lambda: fs.delete_dir(path), attempts=_attempts(cfg))
