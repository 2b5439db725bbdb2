"""Local and S3 filesystems, retries with backoff, atomic writes (DESIGN.md, "Deployment").

Every path in raysift is a URI string: a local path (``/data/x``, ``file:///data/x``) or
``s3://bucket/key``. :func:`resolve` turns it into a ``pyarrow.fs.FileSystem`` and the path
that filesystem understands. S3 works with any S3-compatible store through an endpoint
override (Ceph RGW, moto), anonymous access for the public ``commoncrawl`` bucket, and
credentials from the standard AWS chain otherwise; credentials are read by the AWS SDK
itself and never pass through (or get logged by) this module.

Retries. Every S3 request goes through :class:`RetryingS3Handler`, which retries transient
failures itself (:func:`with_retries`: exponential backoff with full jitter) and counts each
retry by kind (:data:`RETRY_KINDS`): per process (:func:`retry_counts`) and, during a run, for
the whole Ray job (:func:`start_retry_sink` on the driver, then :func:`collect_retry_counts`
for ``stats.json``). The AWS SDK inside pyarrow is told not to retry
(``AwsStandardS3RetryStrategy(max_attempts=1)``): pyarrow has no hook to observe the SDK's own
retries, so retries left to it could not be counted. boto3 clients (the ledger) keep
botocore's retries and count them through :func:`count_boto3_retries`. A read must return every
byte it asked for that exists: a truncated answer is retried, never handed on as data.

Not counted, because no code of raysift sees them:

- libcurl resends a request by itself when a kept-alive connection dies before any header of
  the answer arrived (a reset before the answer): no error reaches the SDK;
- the part requests of a multipart upload (objects above :data:`SINGLE_PUT_BYTES`) are retried
  by the SDK; a failed upload is retried whole here, and that is counted;
- botocore takes an answer cut short whose status says it all (a PUT's 200, a 404) as complete;
  nothing is retried;
- Ray Data's own retries (``DataContext.retried_io_errors``) wrap this layer and only act once
  it has given up;
- requests after :func:`collect_retry_counts` (writing ``stats.json`` itself, marking inputs
  done in the ledger).

>>> join("s3://bucket/out/", "documents", "part-0.parquet")
's3://bucket/out/documents/part-0.parquet'
>>> split_s3("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/warc.paths.gz")
('commoncrawl', 'crawl-data/CC-MAIN-2024-22/warc.paths.gz')
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from operators.config import ConfigError

# Ceph RGW (and other non-AWS stores) reject the flexible checksums newer AWS SDKs send by
# default with HTTP 411; only compute them when an operation requires them (ENVIRONMENT.md).
os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "WHEN_REQUIRED")

T = TypeVar("T")

ENDPOINT_ENV_VARS = ("RAYSIFT_S3_ENDPOINT", "AWS_ENDPOINT_URL")
"""Environment variables read (in this order) when ``StorageConfig.endpoint_url`` is unset."""

PUBLIC_BUCKETS = frozenset({"commoncrawl"})
"""Buckets read anonymously when ``StorageConfig.anonymous`` is None (auto)."""

RETRY_KINDS = ("throttle", "server_error", "reset", "truncated", "timeout")
"""Kinds of transient failure, as counted by :func:`retry_counts`:

- ``throttle``: HTTP 503 (``SlowDown``, ``ServiceUnavailable``), ``Throttling``, ``TooManyRequests``;
- ``server_error``: other HTTP 5xx (``InternalError``);
- ``reset``: the connection was reset, refused or closed without an answer;
- ``truncated``: an answer shorter than its ``Content-Length`` (curl error 18, a short read);
- ``timeout``: no answer in time (curl error 28, ``RequestTimeout``).
"""

# (kind, markers) in the order they are tested: a truncated answer's message may also name a
# status or "500 bytes missing", so truncation is recognised first.
_KIND_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("truncated", ("curlCode: 18,", "Transferred a partial file", "IncompleteRead", "Incomplete read",
                   "truncated read", "Response body length", "bytes missing")),
    ("timeout", ("curlCode: 28,", "RequestTimeout", "timed out", "Timeout", "timeout")),
    ("throttle", ("SlowDown", "SLOW_DOWN", "slow down", "Throttl", "THROTTL", "TooManyRequests",
                  "RequestLimitExceeded", "Service Unavailable", "ServiceUnavailable", "SERVICE_UNAVAILABLE")),
    ("server_error", ("InternalError", "INTERNAL_FAILURE", "Internal Server Error", "Bad Gateway")),
    ("reset", ("curlCode: 7,", "curlCode: 52,", "curlCode: 55,", "curlCode: 56,", "NETWORK_CONNECTION",
               "Connection reset", "connection reset", "Connection refused", "connection was closed",
               "Connection was closed", "Broken pipe", "Temporary failure", "Connection aborted")),
)
_HTTP_STATUS = re.compile(r"HTTP(?: status)?[ :(]*(5\d\d)\b|\b(5\d\d) (?:Service Unavailable|Internal Server Error)")

TRANSIENT_MARKERS = tuple(marker for _, markers in _KIND_MARKERS for marker in markers)
"""Substrings of an ``OSError`` message that mark a throttled or flaky request worth retrying."""

_PERMANENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)

_BOTO_RETRIED_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "TooManyRequests",
                                 "RequestLimitExceeded", "RequestTimeout"})
"""S3 error codes boto3 retries although their HTTP status is below 500."""

SINGLE_PUT_BYTES = 8 * 1024**2
"""Uploads up to this size are one ``PutObject`` retried (and counted) here; larger ones are
multipart uploads (pyarrow's part size is 10 MiB) whose parts the AWS SDK retries."""

_RETRIES: Counter[str] = Counter()
_RETRIES_LOCK = threading.Lock()


class StorageError(ValueError):
    """A URI cannot be handled; the message names the URI and what is accepted."""


class S3KeyError(StorageError, ConfigError):
    """An S3 key that pyarrow's S3 client cannot address as written (see :func:`s3_key_problem`)."""


@dataclass(frozen=True)
class StorageConfig:
    """How to reach object storage.

    endpoint_url: S3 endpoint such as ``http://127.0.0.1:9000`` for an S3-compatible store;
        None reads ``RAYSIFT_S3_ENDPOINT`` then ``AWS_ENDPOINT_URL``, else AWS itself.
    region: S3 region; None reads ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else ``us-east-1``.
    anonymous: True for unsigned requests, False for the AWS credential chain, None (auto)
        for anonymous on public buckets (``commoncrawl``) and credentials elsewhere.
    retries: attempts per S3 operation (:func:`with_retries`; per part request of a
        multipart upload, the AWS SDK's standard retry strategy).
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
    if "@" in bucket:  # never echoed: it may hold credentials (s3://KEY:SECRET@bucket/...)
        raise StorageError("an s3:// URI must not hold credentials (user:password@ before the bucket); write "
                           "s3://BUCKET/KEY and give the credentials through the AWS credential chain")
    return bucket, key


def s3_key_problem(key: str) -> str | None:
    """Why pyarrow's S3 client cannot address ``key`` as written, or None.

    S3 keys are literal strings: ``a/./b`` and ``a/../b`` are keys of their own, and boto3 reads
    them as such. The AWS SDK inside pyarrow resolves ``.`` and ``..`` segments before sending a
    request, so it would read another object (``a/b``, ``b``), and it refuses empty segments
    (``a//b``). Such keys are refused (:class:`S3KeyError`) rather than read wrongly or
    skipped without a word. One trailing ``/`` (a prefix) is fine.

    >>> s3_key_problem("crawl/a.warc.gz"), s3_key_problem("crawl/"), s3_key_problem("crawl/./a")
    (None, None, "a '.' segment")
    """
    parts = key.split("/")
    if parts and parts[-1] == "":
        parts.pop()  # "prefix/"
    for part in parts:
        if part in (".", ".."):
            return f"a {part!r} segment"
        if part == "":
            return "an empty segment ('//' or a leading '/')"
    return None


def _refuse_s3_keys(bucket: str, keys: list[str]) -> None:
    """Raise :class:`S3KeyError` naming the first keys that :func:`s3_key_problem` refuses."""
    bad = [(k, why) for k in keys if (why := s3_key_problem(k))]
    if not bad:
        return
    shown = "; ".join(f"{f's3://{bucket}/{k}'!r} has {why}" for k, why in bad[:3])
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    raise S3KeyError(
        f"{shown}{more}: S3 keys are literal, but pyarrow's S3 client resolves '.' and '..' "
        "segments before sending a request (it would read another object) and refuses empty "
        "ones; rename these objects, or give inputs that do not include them"
    )


def endpoint_url(cfg: StorageConfig | None = None) -> str | None:
    """The S3 endpoint in effect: the config's, else the environment's, else None (AWS)."""
    cfg = cfg or DEFAULT_STORAGE
    if cfg.endpoint_url:
        return cfg.endpoint_url
    for var in ENDPOINT_ENV_VARS:
        value = os.environ.get(var)
        if value:
            if "@" in value:  # never echoed: it holds credentials (a secret may contain "/")
                raise StorageError(f"{var} must not hold credentials (user:password@ before the host); set it to "
                                   "http(s)://HOST:PORT and give the credentials through the AWS credential chain")
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


def s3_filesystem(bucket: str, cfg: StorageConfig | None = None) -> pafs.FileSystem:
    """A cached S3 filesystem for ``bucket`` that retries and counts transient failures
    (:class:`RetryingS3Handler`; cache key: endpoint, anonymous, region, retries)."""
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
                "allow_bucket_creation": False,
                "allow_bucket_deletion": False,
                # a stream closed below the 10 MiB part size is one PutObject (not three requests)
                "allow_delayed_open": True,
            }
            if endpoint:
                parsed = urlparse(endpoint)
                kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
                kwargs["scheme"] = parsed.scheme
                # S3-compatible stores are addressed by path (http://host/bucket/key).
                kwargs["force_virtual_addressing"] = False
            fs = pafs.PyFileSystem(RetryingS3Handler(kwargs, cfg.retries))
            _FS_CACHE[key] = fs
    return fs


def is_s3_filesystem(fs: pafs.FileSystem) -> bool:
    """True for the filesystems :func:`s3_filesystem` returns (and plain ``S3FileSystem``)."""
    if isinstance(fs, pafs.S3FileSystem):
        return True
    return isinstance(fs, pafs.PyFileSystem) and isinstance(fs.handler, RetryingS3Handler)


def resolve(uri: str, cfg: StorageConfig | None = None) -> tuple[pafs.FileSystem, str]:
    """Filesystem and in-filesystem path for a local path, ``file://`` URI or ``s3://`` URI.

    Local paths are made absolute and normalised as ``os.path.abspath`` does (``a/./b`` and
    ``x/../a/b`` are ``a/b``, lexically, without following symlinks). S3 keys are taken
    literally, and a key pyarrow cannot address as written (``.``, ``..`` or empty segments)
    raises :class:`S3KeyError`, a ConfigError (:func:`s3_key_problem`).

    >>> fs, path = resolve("/tmp/x.parquet")
    >>> type(fs).__name__, path
    ('LocalFileSystem', '/tmp/x.parquet')
    """
    if not isinstance(uri, str) or not uri:
        raise StorageError(f"expected a path or s3:// URI, got {uri!r}")
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _refuse_s3_keys(bucket, [key] if key else [])
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
    if is_s3_filesystem(fs):
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


def retry_kind(exc: BaseException) -> str | None:
    """The :data:`RETRY_KINDS` entry of a transient failure, None for one not worth retrying.

    Knows pyarrow's ``OSError`` messages (``AWS Error ...``, curl codes), Python's connection
    errors, and botocore's errors (boto3 clients: an error answer after botocore's own retries,
    a connection closed or timed out, a body cut short while read).

    >>> retry_kind(OSError("AWS Error SLOW_DOWN during GetObject operation: Please reduce your request rate."))
    'throttle'
    >>> retry_kind(OSError("AWS Error NETWORK_CONNECTION during GetObject operation: curlCode: 18, "
    ...                    "Transferred a partial file; Details: end of response with 500 bytes missing"))
    'truncated'
    >>> retry_kind(OSError("AWS Error UNKNOWN (HTTP status 500) during HeadObject operation: No response body."))
    'server_error'
    >>> retry_kind(FileNotFoundError("s3://b/part-503.parquet")) is None
    True
    """
    if isinstance(exc, _PERMANENT):
        return None
    if type(exc).__module__.startswith(("botocore.", "urllib3.")):
        return _botocore_error_kind(exc)
    if not isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return None
    kind = _message_kind(str(exc))
    if kind is None and isinstance(exc, TimeoutError):
        return "timeout"
    if kind is None and isinstance(exc, ConnectionError):
        return "reset"
    return kind


def _message_kind(message: str) -> str | None:
    for kind, markers in _KIND_MARKERS:
        if any(marker in message for marker in markers):
            return kind
    status = _HTTP_STATUS.search(message)
    if status:
        return "throttle" if (status.group(1) or status.group(2)) == "503" else "server_error"
    return None


def _botocore_error_kind(exc: BaseException) -> str | None:
    """Kind of a botocore / urllib3 exception; None for the permanent ones (a 404, missing
    credentials, a bad parameter)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "ClientError" in names:  # an error answer: its code and HTTP status decide
        response = getattr(exc, "response", None) or {}
        code = response.get("Error", {}).get("Code", "")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _BOTO_RETRIED_CODES or status == 429:
            return "timeout" if code == "RequestTimeout" else "throttle"
        return _message_kind(f"{code} HTTP status {status}") if status >= 500 else None
    if names & {"HTTPClientError", "IncompleteReadError", "HTTPError"}:
        # botocore wraps urllib3's error (kwargs["error"]): a body cut short is a ProtocolError
        # naming IncompleteRead inside a ConnectionClosedError
        inner = getattr(exc, "kwargs", {}).get("error")
        text = f"{type(exc).__name__}: {exc} ({type(inner).__name__}: {inner})"
        if "IncompleteRead" in text or "ResponseStreaming" in text:
            return "truncated"
        if "Timeout" in text:
            return "timeout"
        return _message_kind(text) or "reset"
    return None


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: throttling, 5xx, resets, truncated answers and timeouts."""
    return retry_kind(exc) is not None


def record_retry(kind: str) -> None:
    """Count one retry of ``kind`` in this process (:func:`retry_counts`) and, when a run's
    retry sink exists (:func:`start_retry_sink`), in the sink."""
    with _RETRIES_LOCK:
        _RETRIES[kind] += 1
    _report_to_sink(kind)


def retry_counts() -> dict[str, int]:
    """Retries made in this process since the last reset, by kind (:data:`RETRY_KINDS`; kinds
    with no retry are left out).

    >>> reset_retry_counts(); record_retry("throttle"); record_retry("throttle"); retry_counts()
    {'throttle': 2}
    >>> take_retry_counts(), retry_counts()
    ({'throttle': 2}, {})
    """
    with _RETRIES_LOCK:
        return {kind: n for kind, n in sorted(_RETRIES.items()) if n}


def reset_retry_counts() -> None:
    """Forget this process's retry counts."""
    with _RETRIES_LOCK:
        _RETRIES.clear()


def take_retry_counts() -> dict[str, int]:
    """:func:`retry_counts` and :func:`reset_retry_counts` in one step (no retry lost between them)."""
    with _RETRIES_LOCK:
        out = {kind: n for kind, n in sorted(_RETRIES.items()) if n}
        _RETRIES.clear()
        return out


# --- one count for a whole Ray job -------------------------------------------------------------
# A run's S3 requests are made by the driver and by Ray workers, in processes that come and go
# with Ray Data's tasks (reads, shuffles, writes), so per-process counters cannot be summed by
# the driver. A run therefore starts a small named actor, the sink, and every retry made while
# it exists is also added there (a blocking call, so nothing is in flight when the driver reads
# it; retries are rare and already wait for their backoff). Ray scopes named actors to the job's
# namespace, and a job's workers serve no other job: concurrent runs on one cluster do not mix.

RETRY_SINK_NAME = "raysift-retry-counts"

_SINK_LOCK = threading.Lock()
_SINK: Any = None  # this process's handle on the sink, once found
_SINK_OWNER: Any = None  # the driver's handle that created the sink and keeps it alive


class _RetrySink:
    """The sink's state (wrapped by ``ray.remote`` in :func:`start_retry_sink`)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        self.counts[kind] += 1

    def merge(self, counts: dict[str, int]) -> None:
        self.counts.update(counts)

    def take(self) -> dict[str, int]:
        out = {kind: n for kind, n in sorted(self.counts.items()) if n}
        self.counts.clear()
        return out


def _ray_if_initialized() -> Any:
    ray = sys.modules.get("ray")  # never imports Ray: a process without it has no sink
    try:
        return ray if ray is not None and ray.is_initialized() else None
    except AttributeError:
        return None


def _sink() -> Any:
    global _SINK
    ray = _ray_if_initialized()
    if ray is None:
        return None
    with _SINK_LOCK:
        if _SINK is None:
            try:
                _SINK = ray.get_actor(RETRY_SINK_NAME)
            except ValueError:  # no run started one
                return None
        return _SINK


def _report_to_sink(kind: str) -> None:
    global _SINK
    handle = _sink()
    if handle is None:
        return
    ray = _ray_if_initialized()
    try:
        ray.get(handle.add.remote(kind), timeout=30)
    except Exception:  # noqa: BLE001 - counting never fails a request; the sink may be gone
        with _SINK_LOCK:
            _SINK = None


def start_retry_sink(carry: bool = False) -> None:
    """Start (or empty) this Ray job's retry sink; without Ray only this process's counts are
    emptied.

    Call on the driver before a run's first S3 request; :func:`collect_retry_counts` at its end
    returns the retries made since, in every process of the job. The driver keeps the handle
    that created the sink: an actor lives as long as its creator holds a reference. ``carry``:
    the retries this process counted so far (a driver that planned the run before starting Ray)
    go into the new sink instead of being forgotten.
    """
    global _SINK, _SINK_OWNER
    ray = _ray_if_initialized()
    if ray is None:
        if not carry:
            reset_retry_counts()
        return
    carried = take_retry_counts() if carry else reset_retry_counts()
    with _SINK_LOCK:
        owner = _SINK_OWNER
    actor = None
    if owner is not None:
        try:
            ray.get(owner.take.remote(), timeout=60)
            actor = owner
        except Exception:  # noqa: BLE001 - a sink of an earlier Ray session: start a new one
            pass
    if actor is None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # on the driver's node: a sink on a worker node that dies would fail the run at its end
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        actor = ray.remote(num_cpus=0)(_RetrySink).options(name=RETRY_SINK_NAME, get_if_exists=True,
                                                          scheduling_strategy=here).remote()
        ray.get(actor.take.remote())
    if carried:
        ray.get(actor.merge.remote(carried))
    with _SINK_LOCK:
        _SINK_OWNER = _SINK = actor


def collect_retry_counts() -> dict[str, int]:
    """The retries since :func:`start_retry_sink`, by kind: the job's sink's counts (every
    process), or this process's own without a sink. Both are emptied."""
    local = take_retry_counts()
    handle = _sink()
    if handle is None:
        return local
    return _ray_if_initialized().get(handle.take.remote())


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
    Each retry is counted by kind (:func:`retry_counts`; ``other`` when ``retry_if`` accepts
    an error :func:`retry_kind` does not know). Non-transient errors and the last transient
    one are re-raised unchanged.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - filtered by retry_if, else re-raised
            if attempt == attempts - 1 or not retry_if(exc):
                raise
            record_retry(retry_kind(exc) or "other")
            time.sleep(random.uniform(0.0, min(max_delay, base_delay * (2**attempt))))
    raise AssertionError("unreachable")  # pragma: no cover


def _botocore_kind(response: Any, caught_exception: BaseException | None) -> str:
    """:data:`RETRY_KINDS` entry of a failed botocore attempt (a parsed error answer or an
    exception raised while sending or reading)."""
    if caught_exception is not None:
        return _botocore_error_kind(caught_exception) or "reset"
    http, parsed = response
    code = str((parsed or {}).get("Error", {}).get("Code", ""))
    status = getattr(http, "status_code", 0)
    if code in _BOTO_RETRIED_CODES or status == 429:
        return "timeout" if code == "RequestTimeout" else "throttle"
    return _message_kind(f"{code} HTTP status {status}") or "server_error"


def count_boto3_retries(client: Any) -> Any:
    """Count the retries botocore makes for ``client`` (an S3 client) in :func:`retry_counts`.

    botocore decides retries itself (``retries={"mode": "standard"}``); this only watches: on
    each ``needs-retry`` event it notes why the attempt failed, and when the next attempt's
    request is created (``request-created``, attempt > 1) it counts one retry of that kind.
    Returns ``client``.
    """

    def note_failure(request_dict: Any = None, response: Any = None, caught_exception: Any = None,
                     **_: Any) -> None:
        failed = caught_exception is not None
        if response is not None:
            status = getattr(response[0], "status_code", 200)
            code = (response[1] or {}).get("Error", {}).get("Code")
            failed = status >= 500 or status == 429 or code in _BOTO_RETRIED_CODES
        if request_dict is not None:
            request_dict["context"]["raysift_failure"] = _botocore_kind(response, caught_exception) if failed else None

    def count_retry(request: Any = None, **_: Any) -> None:
        context = getattr(request, "context", None) or {}
        if context.get("retries", {}).get("attempt", 1) > 1:
            record_retry(context.get("raysift_failure") or "other")

    client.meta.events.register_first("needs-retry.s3", note_failure)
    client.meta.events.register("request-created.s3", count_retry)
    return client


class TruncatedReadError(OSError):
    """An S3 read returned fewer bytes than asked for inside the object (a truncated answer
    that slipped past the HTTP client); retried as kind ``truncated``."""


class _RetryingReader:
    """A file object over one S3 object for ``pyarrow.PythonFile``: every read is a positioned
    read of the object (one ranged GET), retried on its own, and must return every byte asked
    for that exists, so a truncated answer is retried, never passed on as the data. Reads
    return ``pyarrow.Buffer`` (``read_buffer``: no copy on the way to Arrow)."""

    def __init__(self, fs: pafs.FileSystem, path: str, attempts: int) -> None:
        self._path = path
        self._attempts = attempts
        self._file = with_retries(lambda: fs.open_input_file(path), attempts=attempts)
        self._size = self._file.size()
        self._pos = 0
        self.closed = False
        self.mode = "rb"

    def _read_at(self, n: int, pos: int) -> pa.Buffer:
        def once() -> pa.Buffer:
            self._file.seek(pos)
            data = self._file.read_buffer(n)
            if data.size != n:
                raise TruncatedReadError(
                    f"truncated read of {self._path}: {data.size} of {n} bytes at offset {pos} "
                    f"(object size {self._size})"
                )
            return data

        return with_retries(once, attempts=self._attempts)

    def read(self, n: int = -1) -> pa.Buffer:
        left = self._size - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return pa.py_buffer(b"")
        data = self._read_at(n, self._pos)
        self._pos += n
        return data

    read_buffer = read

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()


class _RetryingWriter:
    """A write-only file object for ``pyarrow.PythonFile`` that keeps what is written (in
    memory up to :data:`SINGLE_PUT_BYTES`, then in a temporary file) and uploads it at close,
    retrying the whole upload: the object appears complete or not at all."""

    def __init__(self, handler: RetryingS3Handler, path: str, metadata: Any) -> None:
        self._handler = handler
        self._path = path
        self._metadata = metadata
        self._buf = tempfile.SpooledTemporaryFile(max_size=SINGLE_PUT_BYTES)
        self.closed = False
        self.mode = "wb"

    def write(self, data: Any) -> int:
        return self._buf.write(data)

    def tell(self) -> int:
        return self._buf.tell()

    def flush(self) -> None:
        """Flush the local buffer; the object itself is uploaded, whole, at :meth:`close`."""
        self._buf.flush()

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _upload(self, size: int) -> None:
        fs = self._handler.fs if size <= SINGLE_PUT_BYTES else self._handler.multipart_fs
        self._buf.seek(0)
        with fs.open_output_stream(self._path, compression=None, metadata=self._metadata) as out:
            while True:
                chunk = self._buf.read(SINGLE_PUT_BYTES)
                if not chunk:
                    break
                out.write(chunk)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            size = self._buf.tell()
            with_retries(lambda: self._upload(size), attempts=self._handler.attempts)
        finally:
            self._buf.close()


class RetryingS3Handler(pafs.FileSystemHandler):
    """A ``pyarrow.fs.PyFileSystem`` handler that runs every operation of an ``S3FileSystem``
    under :func:`with_retries` (so each retry is counted by kind) and reads and writes whole
    objects through :class:`_RetryingReader` / :class:`_RetryingWriter`.

    options: ``pyarrow.fs.S3FileSystem`` arguments (endpoint, region, addressing...; never
        credentials: those come from the AWS chain in each process).
    attempts: tries per operation (``StorageConfig.retries``).

    It builds two S3 filesystems from ``options``, in each process: :attr:`fs`, whose AWS SDK
    does not retry (``max_attempts=1``), and :attr:`multipart_fs` with SDK retries, for uploads
    above :data:`SINGLE_PUT_BYTES` (their part requests are retried by the SDK). A pickled
    ``S3FileSystem`` forgets its ``retry_strategy`` (pyarrow 26 leaves it out of ``__reduce__``:
    a Ray worker would get the default of 3 SDK attempts), so the handler pickles its options,
    not its filesystems.

    A delete that fails transiently may have deleted the object before its answer was lost;
    when a later attempt finds nothing, the delete is done.
    """

    def __init__(self, options: dict[str, Any], attempts: int) -> None:
        self.options = dict(options)
        self.attempts = attempts
        self._filesystems: tuple[pafs.S3FileSystem, pafs.S3FileSystem] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options, "attempts": self.attempts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"], state["attempts"])

    def _build(self) -> tuple[pafs.S3FileSystem, pafs.S3FileSystem]:
        if self._filesystems is None:
            self._filesystems = (
                pafs.S3FileSystem(retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1), **self.options),
                pafs.S3FileSystem(retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=self.attempts),
                                  **self.options),
            )
        return self._filesystems

    @property
    def fs(self) -> pafs.S3FileSystem:
        return self._build()[0]

    @property
    def multipart_fs(self) -> pafs.S3FileSystem:
        return self._build()[1]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RetryingS3Handler) and self.attempts == other.attempts
                and self.options == other.options)

    def __hash__(self) -> int:
        return hash((RetryingS3Handler, self.attempts, tuple(sorted(self.options.items()))))

    def _call(self, fn: Callable[[], T]) -> T:
        return with_retries(fn, attempts=self.attempts)

    def _delete(self, fn: Callable[[], None]) -> None:
        failed = False

        def once() -> None:
            nonlocal failed
            try:
                fn()
            except FileNotFoundError:
                if not failed:
                    raise
            except Exception as exc:
                failed = failed or is_transient(exc)
                raise

        self._call(once)

    def get_type_name(self) -> str:
        return "raysift-s3"

    def normalize_path(self, path: str) -> str:
        return self.fs.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self._call(lambda: self.fs.get_file_info(paths))

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self._call(lambda: self.fs.get_file_info(selector))

    def create_dir(self, path: str, recursive: bool) -> None:
        self._call(lambda: self.fs.create_dir(path, recursive=recursive))

    def delete_dir(self, path: str) -> None:
        self._delete(lambda: self.fs.delete_dir(path))

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._delete(lambda: self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok))

    def delete_root_dir_contents(self) -> None:
        raise OSError("refusing to delete the contents of every bucket; name a bucket or prefix")

    def delete_file(self, path: str) -> None:
        self._delete(lambda: self.fs.delete_file(path))

    def move(self, src: str, dest: str) -> None:
        # S3 has no rename: a copy, then a delete, each retried on its own
        self.copy_file(src, dest)
        self.delete_file(src)

    def copy_file(self, src: str, dest: str) -> None:
        self._call(lambda: self.fs.copy_file(src, dest))

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(_RetryingReader(self.fs, path, self.attempts), mode="r")

    def open_input_file(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(_RetryingReader(self.fs, path, self.attempts), mode="r")

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        return pa.PythonFile(_RetryingWriter(self, path, metadata), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        raise OSError(f"S3 objects cannot be appended to: {path}")


def write_bytes_atomic(uri: str, data: bytes, cfg: StorageConfig | None = None) -> None:
    """Write ``data`` so readers see either nothing or the whole object.

    Local: write a hidden temporary file in the same directory, then ``os.replace``.
    S3: one upload, retried whole (:class:`RetryingS3Handler`); an object becomes visible
    only when its PUT (or multipart upload) completes.
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

    # compression=None: pyarrow's default "detect" would gzip a *.gz name again.
    with fs.open_output_stream(path, compression=None) as out:
        out.write(data)


def read_bytes(uri: str, cfg: StorageConfig | None = None) -> bytes:
    """The raw bytes of a file or object, never decompressed (for small files: manifests, stats)."""
    fs, path = resolve(uri, cfg)
    with fs.open_input_stream(path, compression=None) as f:
        return f.read()


def exists(uri: str, cfg: StorageConfig | None = None) -> bool:
    """True if ``uri`` names an existing file or directory (an S3 prefix counts as a directory)."""
    fs, path = resolve(uri, cfg)
    info = fs.get_file_info(path)
    return info.type != pafs.FileType.NotFound


def is_dir(uri: str, cfg: StorageConfig | None = None) -> bool:
    """True if ``uri`` is a directory (or a non-empty S3 prefix)."""
    fs, path = resolve(uri, cfg)
    info = fs.get_file_info(path)
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

    Local paths are normalised first (:func:`resolve`: ``a/../b`` lists ``b``). S3 keys are
    literal: a key with a ``.``, ``..`` or empty segment under the prefix is not taken for a
    hidden name but refused with :class:`S3KeyError` (a ConfigError naming it), because
    pyarrow's S3 client would read another object for it (:func:`s3_key_problem`).
    """
    fs, path = resolve(uri_or_dir, cfg)
    wanted = tuple(s.lower() for s in suffixes) if suffixes is not None else None
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        infos = [info]
    elif info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
        infos = [i for i in fs.get_file_info(selector) if i.type == pafs.FileType.File]
        if is_s3_filesystem(fs):
            bucket = path.split("/", 1)[0]
            _refuse_s3_keys(bucket, [i.path.split("/", 1)[1] for i in infos
                                     if wanted is None or i.path.lower().endswith(wanted)])
        root = path.rstrip("/")
        infos = [i for i in infos if not _hidden(i.path[len(root):])]
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
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return
    if info.type == pafs.FileType.File:
        fs.delete_file(path)
        return
    fs.delete_dir(path)
