"""Shared argument handling of the job drivers: clean errors instead of tracebacks, and no
credentials in what a driver prints when it fails (its stderr is the job log under
``ray job submit``)."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable

from operators.config import ConfigError

SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
"""Variables of the AWS credential chain whose values :func:`redact` hides."""

MIN_SECRET_CHARS = 16
"""Shorter values are left alone: blanking a short word (moto's ``testing``) would garble
messages, and real AWS keys are longer (access key ids 20 characters, secrets 40)."""

# scheme://anything-but-blanks@ : a secret pasted raw may hold "/" (AWS secrets do), so the
# user part runs to the last "@" before a blank; an "@" later in a URL redacts a little more
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s@'\"]+@")


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` of URLs and the values of :data:`SECRET_ENV_VARS`
    (set in this process, at least :data:`MIN_SECRET_CHARS` long) replaced by ``***``.

    >>> redact("cannot reach http://KEY:SECRET@127.0.0.1:9000/bucket")
    'cannot reach http://***@127.0.0.1:9000/bucket'
    """
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for var in SECRET_ENV_VARS:
        value = os.environ.get(var, "")
        if len(value) >= MIN_SECRET_CHARS:
            text = text.replace(value, "***")
    return text


S3_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "(AccessDenied)",
      "(InvalidAccessKeyId)", "(SignatureDoesNotMatch)"),
     "S3 refused the request: check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws or "
     "the instance role) and that they may use this bucket"),
    (("NO_SUCH_BUCKET", "(NoSuchBucket)"), "the bucket does not exist: create it or correct the s3:// URI"),
    (("curlCode: 6,", "curlCode: 7,"),
     "the S3 endpoint cannot be reached: check RAYSIFT_S3_ENDPOINT / AWS_ENDPOINT_URL or storage.endpoint_url"),
)
"""(markers, fix) of the S3 errors a user fixes: a denied request, a missing bucket, an endpoint
that does not answer (pyarrow's ``AWS Error X`` and botocore's ``(X)`` spellings)."""


def s3_hint(exc: BaseException) -> str | None:
    """The fix for an S3 error a user can correct (:data:`S3_HINTS`), else None.

    >>> s3_hint(OSError("When uploading object with key 'a' in bucket 'b': AWS Error NO_SUCH_BUCKET during PutObject"))
    'the bucket does not exist: create it or correct the s3:// URI'
    >>> s3_hint(OSError("disk full")) is None
    True
    """
    if not (isinstance(exc, OSError) or type(exc).__name__ == "ClientError"):
        return None
    message = str(exc)
    return next((fix for markers, fix in S3_HINTS if any(m in message for m in markers)), None)


def run_main(main: Callable[[], int]) -> int:
    """Run a driver. Configuration and input errors print one line, S3 errors a user fixes
    (:func:`s3_hint`) the error and its fix, and exit with 2; any other error prints its
    traceback and exits with 1. Everything printed goes through :func:`redact`."""
    from operators.io import InputError
    from operators.storage import StorageError

    try:
        return main()
    except (ConfigError, InputError, StorageError, FileNotFoundError) as exc:
        print(f"raysift: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line with the fix, or the traceback (below)
        hint = s3_hint(exc)
        if hint is None:
            print(redact("".join(traceback.format_exception(exc))).rstrip(), file=sys.stderr)
            return 1
        print(f"raysift: error: {redact(str(exc)).strip()}\n{hint}", file=sys.stderr)
        return 2
