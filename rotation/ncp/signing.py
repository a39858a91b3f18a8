"""NCP API Gateway signature v2, standard library only.

Every NCP API this project calls (Secret Manager, Cloud DB, Cloud Functions) sits behind
the same API Gateway and authenticates a request by three headers: an epoch-millisecond
timestamp, the access key, and a Base64 HMAC-SHA256 over::

    {METHOD} {URI}\\n{timestamp}\\n{access key}

where URI is *everything after the host*: the whole path, including a regional prefix such
as ``/secretmanager`` on ``ocapi-kr.ncloud.com``, plus ``?`` and the query string exactly as
it goes on the wire. The body is not signed. A URI that differs by one percent-escape from
the one sent fails with 401 "Authentication Failed", so :func:`request_uri` derives it from
the final URL rather than from the parameters that built it.

Why no SDK: the NCP Python SDK does not cover Secret Manager, and the gateway algorithm is
a dozen lines of ``hmac``; owning them keeps the deployed zip small and pure-Python.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Final
from urllib.parse import urlsplit

from rotation.ncp.records import Record

TIMESTAMP_HEADER = "x-ncp-apigw-timestamp"
ACCESS_KEY_HEADER = "x-ncp-iam-access-key"
SIGNATURE_HEADER = "x-ncp-apigw-signature-v2"

#: How far the gateway lets a request timestamp drift from its own clock.
TIMESTAMP_TOLERANCE_MS = 5 * 60 * 1000


class Credentials(Record):
    """An NCP access key pair. The secret key never appears in ``repr``.

    A :class:`~rotation.ncp.records.Record`, not a tuple: the log redactor walks into tuples,
    and leaves an object to its ``repr``."""

    __slots__ = ("access_key", "secret_key")

    def __init__(self, access_key: str, secret_key: str) -> None:
        if not access_key or not secret_key:
            raise ValueError("both an access key and a secret key are required")
        self.access_key: Final = access_key
        self.secret_key: Final = secret_key

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r})"


def timestamp_ms(now: float | None = None) -> str:
    """The gateway's timestamp format: integer epoch milliseconds, as text."""
    return str(int((time.time() if now is None else now) * 1000))


def request_uri(url: str) -> str:
    """The part of ``url`` the gateway signs: path plus ``?query`` when there is one."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def string_to_sign(method: str, uri: str, timestamp: str, access_key: str) -> str:
    return f"{method.upper()} {uri}\n{timestamp}\n{access_key}"


def sign(method: str, uri: str, timestamp: str, credentials: Credentials) -> str:
    message = string_to_sign(method, uri, timestamp, credentials.access_key)
    digest = hmac.new(
        credentials.secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_headers(
    method: str, url: str, credentials: Credentials, *, timestamp: str | None = None
) -> dict[str, str]:
    """The three authentication headers for one request to ``url``.

    Call it once per attempt: a retried request needs a fresh timestamp, or a long backoff
    could push it outside the gateway's five-minute window.
    """
    ts = timestamp if timestamp is not None else timestamp_ms()
    return {
        TIMESTAMP_HEADER: ts,
        ACCESS_KEY_HEADER: credentials.access_key,
        SIGNATURE_HEADER: sign(method, request_uri(url), ts, credentials),
    }
