"""Ledger of processed inputs for scheduled incremental runs (DESIGN.md, "Where things run").

A nightly job lists a crawl's WARC files, asks the ledger which are not done yet, claims up to
``--max-files`` of them, processes them and marks each done. Reruns skip done inputs; two
concurrent runs never process the same input, because a claim is an exclusive create:

- S3 (any store with conditional writes: AWS S3 since 2024, Ceph RGW, moto): ``PUT`` with
  ``If-None-Match: *`` creates the claim only if no claim object exists (HTTP 412 otherwise).
  An expired claim (holder crashed) is taken over with ``If-Match: <etag of the expired
  claim>``, so of several runs that see the same expired claim exactly one wins. Lease expiry
  is judged on the store's clock (object ``Last-Modified`` against the response ``Date``), so
  client clock skew does not matter. Pattern: AWS, "S3 conditional writes" (2024), the same
  create-if-absent lease that Delta Lake and Iceberg commit protocols rely on.
- Local paths: ``os.open(O_CREAT | O_EXCL)`` under an ``flock`` on the ledger directory
  (one machine; not for NFS).

Layout under the ledger URI (object names are a hash of the input URI, so any URI fits)::

    claims/<sha256[:40]>.json   {"input", "run_id", "token", "lease_seconds", "claimed_at"}
    done/<sha256[:40]>.json     {"input", "run_id", "finished_at", "stats"}

A claim's lease must outlive the processing of the input (or be renewed with :meth:`Ledger.renew`);
an input whose lease expired mid-processing can be claimed by another run.

>>> import tempfile
>>> ledger = Ledger(tempfile.mkdtemp())
>>> ledger.claim("s3://cc/a.warc.gz", run_id="run-1", lease_seconds=600)
True
>>> ledger.claim("s3://cc/a.warc.gz", run_id="run-2", lease_seconds=600)
False
>>> ledger.mark_done("s3://cc/a.warc.gz", {"documents_out": 7}, run_id="run-1")
>>> sorted(ledger.done())
['s3://cc/a.warc.gz']
>>> ledger.pending(["s3://cc/a.warc.gz", "s3://cc/b.warc.gz"])
['s3://cc/b.warc.gz']
"""

from __future__ import annotations

import datetime as dt
import email.utils
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from operators.storage import StorageConfig, count_boto3_retries, endpoint_url, is_s3, split_s3, with_retries

DEFAULT_LEASE_SECONDS = 6 * 3600
"""Default claim lease: longer than one WARC file takes on one worker (minutes), short enough
that a crashed nightly run's inputs are retried by the next night's run."""

CLAIMS = "claims"
DONE = "done"


class LedgerError(RuntimeError):
    """The ledger cannot work with this store or URI; the message says what to change."""


def input_key(input_uri: str) -> str:
    """Object name for an input: the first 40 hex digits of its SHA-256 (fits any URI length).

    >>> input_key("s3://commoncrawl/crawl-data/x.warc.gz")[:12]
    '5be9c98985d3'
    """
    return hashlib.sha256(input_uri.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class _Obj:
    """One ledger object as read: body, version tag, and whether its lease has expired."""

    body: dict[str, Any]
    version: str
    age_seconds: float


class _LocalBackend:
    """Claims as ``O_EXCL`` files; takeovers serialised by ``flock`` on ``DIR/.lock``."""

    def __init__(self, root: str) -> None:
        self.root = root[len("file://") :] if root.startswith("file://") else root
        for sub in (CLAIMS, DONE):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        self._lock_path = os.path.join(self.root, ".lock")

    def _path(self, kind: str, key: str) -> str:
        return os.path.join(self.root, kind, key + ".json")

    def create(self, kind: str, key: str, body: bytes) -> str | None:
        """Create if absent; return a version tag, or None if the object exists.

        The body goes to a private ``O_EXCL`` file first, then is hard-linked into place:
        ``link`` fails if the target exists (exclusive create, like ``O_EXCL``) and readers
        never see a partly written claim.
        """
        path = self._path(kind, key)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            os.link(tmp, path)
        except FileExistsError:
            return None
        finally:
            os.unlink(tmp)
        return _local_version(path)

    def replace_if(self, kind: str, key: str, body: bytes, version: str) -> str | None:
        """Overwrite only if the object still has ``version``; return the new version or None."""
        path = self._path(kind, key)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if _local_version(path) != version:
                    return None
                tmp = path + ".tmp-" + uuid.uuid4().hex
                with open(tmp, "wb") as fh:
                    fh.write(body)
                os.replace(tmp, path)
                return _local_version(path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def put(self, kind: str, key: str, body: bytes) -> None:
        path = self._path(kind, key)
        tmp = path + ".tmp-" + uuid.uuid4().hex
        with open(tmp, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)

    def get(self, kind: str, key: str) -> _Obj | None:
        path = self._path(kind, key)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            version = _local_version(path)
        except FileNotFoundError:
            return None
        if version is None:
            return None
        return _Obj(json.loads(data), version, time.time() - os.stat(path).st_mtime)

    def delete_if(self, kind: str, key: str, version: str) -> None:
        path = self._path(kind, key)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if _local_version(path) == version:
                    os.unlink(path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def list_keys(self, kind: str) -> set[str]:
        names = os.listdir(os.path.join(self.root, kind))
        return {n[: -len(".json")] for n in names if n.endswith(".json")}


def _local_version(path: str) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


class _S3Backend:
    """Claims as S3 objects created with ``If-None-Match: *``, replaced with ``If-Match``."""

    def __init__(self, uri: str, cfg: StorageConfig | None) -> None:
        import boto3
        from botocore.config import Config

        cfg = cfg or StorageConfig()
        self.bucket, prefix = split_s3(uri)
        if not self.bucket:
            raise LedgerError(f"ledger URI {uri!r} has no bucket; use s3://BUCKET/PREFIX")
        self.prefix = prefix.strip("/")
        region = cfg.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = endpoint_url(cfg)
        config = Config(
            retries={"max_attempts": cfg.retries, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint else {},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # Credentials: the standard AWS chain only (env, profile, instance profile / IRSA).
        self.client = count_boto3_retries(
            boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, config=config))
        self._attempts = cfg.retries
        from botocore.exceptions import ClientError

        self._client_error = ClientError
        self._bare_etag_first = False

    def _key(self, kind: str, key: str) -> str:
        return "/".join(p for p in (self.prefix, kind, key + ".json") if p)

    def _code(self, exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def _status(self, exc: Exception) -> int:
        return int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0))

    def _conditional_put(self, kind: str, key: str, body: bytes, **cond: str) -> str | None:
        try:
            resp = self.client.put_object(
                Bucket=self.bucket, Key=self._key(kind, key), Body=body, ContentType="application/json", **cond
            )
        except self._client_error as exc:
            # 412: the condition failed (someone else holds it). 409: a concurrent conditional
            # write to the same key is in flight (AWS); either way, not ours.
            if self._status(exc) in (409, 412) or self._code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                # botocore retries a PUT whose answer was lost; the retry then fails its condition
                # against the object the first attempt wrote. Our own body there means we won.
                current = self.get(kind, key)
                if current is not None and _dumps(current.body) == body:
                    return current.version
                return None
            raise
        return resp["ETag"]

    def create(self, kind: str, key: str, body: bytes) -> str | None:
        return self._conditional_put(kind, key, body, IfNoneMatch="*")

    def replace_if(self, kind: str, key: str, body: bytes, version: str) -> str | None:
        # AWS compares If-Match against the quoted ETag; Ceph RGW 16 against the bare hex digest.
        # Both forms carry the same condition, so trying the other on 412 stays exclusive.
        forms = [version, version.strip('"')] if version.startswith('"') else [version]
        if self._bare_etag_first:
            forms.reverse()
        for i, form in enumerate(forms):
            new = self._conditional_put(kind, key, body, IfMatch=form)
            if new is not None:
                if i:
                    self._bare_etag_first = not self._bare_etag_first
                return new
        return None

    def put(self, kind: str, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(kind, key), Body=body, ContentType="application/json")

    def get(self, kind: str, key: str) -> _Obj | None:
        # botocore retries the request, not the reading of its body: a body cut short raises
        # ResponseStreamingError, retried here (storage.with_retries) with the whole GET
        return with_retries(lambda: self._get_once(kind, key), attempts=self._attempts)

    def _get_once(self, kind: str, key: str) -> _Obj | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(kind, key))
        except self._client_error as exc:
            if self._status(exc) == 404 or self._code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        body = json.loads(resp["Body"].read())
        server_now = email.utils.parsedate_to_datetime(resp["ResponseMetadata"]["HTTPHeaders"]["date"])
        age = (server_now - resp["LastModified"]).total_seconds()
        return _Obj(body, resp["ETag"], age)

    def delete_if(self, kind: str, key: str, version: str) -> None:
        current = self.get(kind, key)
        if current is not None and current.version == version:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(kind, key))

    def list_keys(self, kind: str) -> set[str]:
        prefix = self._key(kind, "")[: -len(".json")]
        keys: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name.endswith(".json") and "/" not in name:
                    keys.add(name[: -len(".json")])
        return keys

    def check_conditional_writes(self) -> None:
        """Fail fast on a store that ignores ``If-None-Match`` (it would let two runs claim one input)."""
        probe = "probe-" + uuid.uuid4().hex
        try:
            first, second = _dumps({"probe": probe, "write": 1}), _dumps({"probe": probe, "write": 2})
            if self.create(CLAIMS, probe, first) is None or self.create(CLAIMS, probe, second) is not None:
                raise LedgerError(
                    f"s3://{self.bucket}/{self.prefix}: the store accepted a second PUT with "
                    "'If-None-Match: *', so it cannot guarantee exclusive claims; use a store with "
                    "conditional writes (AWS S3, Ceph RGW >= 16) or a local --ledger path"
                )
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(CLAIMS, probe))


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, default=str).encode("utf-8")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Ledger:
    """Which inputs are done, and exclusive, leased claims on the others.

    uri: ``s3://bucket/prefix`` or a local directory (created if missing).
    storage: endpoint / region / retries for S3 (credentials come from the AWS chain).
    """

    def __init__(self, uri: str, storage: StorageConfig | None = None) -> None:
        self.uri = uri
        if is_s3(uri):
            self._backend: _S3Backend | _LocalBackend = _S3Backend(uri, storage)
        elif "://" in uri and not uri.startswith("file://"):
            raise LedgerError(f"ledger URI {uri!r}: use s3://BUCKET/PREFIX or a local directory")
        else:
            self._backend = _LocalBackend(uri)
        self._held: dict[str, str] = {}  # input -> version of our claim object
        self._checked = False

    def _check_store(self) -> None:
        if not self._checked and isinstance(self._backend, _S3Backend):
            self._backend.check_conditional_writes()
        self._checked = True

    def claim(self, input_uri: str, run_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Claim ``input_uri`` for ``run_id``; True if this run may process it now.

        False when the input is done, or another run holds an unexpired claim on it. True
        again for the run that already holds the claim (reruns of the same run id resume).
        """
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
        self._check_store()
        key = input_key(input_uri)
        if self._backend.get(DONE, key) is not None:
            return False
        body = _dumps(
            {
                "input": input_uri,
                "run_id": run_id,
                "token": uuid.uuid4().hex,
                "lease_seconds": lease_seconds,
                "claimed_at": _now(),
            }
        )
        version = self._backend.create(CLAIMS, key, body)
        if version is None:
            current = self._backend.get(CLAIMS, key)
            if current is None:  # released between our create and read: try once more
                version = self._backend.create(CLAIMS, key, body)
            elif current.body.get("run_id") == run_id:
                version = self._backend.replace_if(CLAIMS, key, body, current.version)
            elif current.age_seconds > float(current.body.get("lease_seconds", 0)):
                version = self._backend.replace_if(CLAIMS, key, body, current.version)
        if version is None:
            return False
        # A run may have finished the input between our done check and our claim.
        if self._backend.get(DONE, key) is not None:
            self._backend.delete_if(CLAIMS, key, version)
            return False
        self._held[input_uri] = version
        return True

    def renew(self, input_uri: str, run_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend this run's lease on ``input_uri``; False if the claim was lost (expired and taken)."""
        version = self._held.get(input_uri)
        if version is None:
            return False
        body = _dumps(
            {
                "input": input_uri,
                "run_id": run_id,
                "token": uuid.uuid4().hex,
                "lease_seconds": lease_seconds,
                "claimed_at": _now(),
            }
        )
        new = self._backend.replace_if(CLAIMS, input_key(input_uri), body, version)
        if new is None:
            del self._held[input_uri]
            return False
        self._held[input_uri] = new
        return True

    def release(self, input_uri: str) -> None:
        """Give up this run's claim (the input failed) so another run can retry it at once."""
        version = self._held.pop(input_uri, None)
        if version is not None:
            self._backend.delete_if(CLAIMS, input_key(input_uri), version)

    def mark_done(self, input_uri: str, stats: Mapping[str, Any] | None = None, run_id: str | None = None) -> None:
        """Record ``input_uri`` as processed (with its per-input ``stats``) and drop the claim.

        The first completion wins: a done marker is never overwritten, so reruns are idempotent.
        """
        key = input_key(input_uri)
        body = _dumps({"input": input_uri, "run_id": run_id, "finished_at": _now(), "stats": dict(stats or {})})
        self._backend.create(DONE, key, body)
        version = self._held.pop(input_uri, None)
        if version is not None:
            self._backend.delete_if(CLAIMS, key, version)

    def done(self) -> set[str]:
        """Input URIs marked done (reads every done marker; use :meth:`pending` to filter a list)."""
        keys = sorted(self._backend.list_keys(DONE))
        with ThreadPoolExecutor(max_workers=16) as pool:
            objs = list(pool.map(lambda k: self._backend.get(DONE, k), keys))
        return {o.body["input"] for o in objs if o is not None}

    def pending(self, inputs: Iterable[str], max_files: int | None = None) -> list[str]:
        """Inputs not marked done, in the given order, without duplicates, at most ``max_files``.

        One listing of ``done/``; inputs claimed by a running job are still listed (use
        :meth:`claim_next` to get inputs this run may process).
        """
        if max_files is not None and max_files < 0:
            raise ValueError(f"max_files must be >= 0 or None, got {max_files}")
        done = self._backend.list_keys(DONE)
        out: list[str] = []
        seen: set[str] = set()
        for uri in inputs:
            if uri in seen or input_key(uri) in done:
                continue
            seen.add(uri)
            out.append(uri)
            if max_files is not None and len(out) >= max_files:
                break
        return out

    def claim_next(
        self,
        inputs: Iterable[str],
        run_id: str,
        max_files: int | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[str]:
        """Claim pending inputs in order until ``max_files`` are held; return the claimed ones."""
        claimed: list[str] = []
        for uri in self.pending(inputs):
            if max_files is not None and len(claimed) >= max_files:
                break
            if self.claim(uri, run_id, lease_seconds):
                claimed.append(uri)
        return claimed
