"""The API Gateway in front of every emulated service: signature v2 and the error codes.

The check is written here again rather than imported from ``rotation.ncp.signing``: the
emulator is the client's examiner, and an examiner that shares the candidate's code passes
the candidate's bugs. It signs the request line *as received* (raw path and query, prefix
included), so a client that signs one encoding and sends another fails here as it would
at NCP.

Gateway errors use the documented gateway codes (api-call-lgc-errorhandling):
400/100 Bad Request Exception, 401/200 Authentication Failed, 401/210 Permission Denied,
404/300 Not Found Exception, 429/410 Throttle Limited, 413/430 Request Entity Too Large,
503/500 Endpoint Error, 504/510 Endpoint Timeout, 500/900 Unexpected Error.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

from emulator.core import ServiceError

TOLERANCE_MS = 5 * 60 * 1000

GATEWAY_ERRORS: dict[int, tuple[str, str]] = {
    400: ("100", "Bad Request Exception"),
    401: ("200", "Authentication Failed"),
    404: ("300", "Not Found Exception"),
    413: ("430", "Request Entity Too Large"),
    429: ("410", "Throttle Limited"),
    500: ("900", "Unexpected Error"),
    503: ("500", "Endpoint Error"),
    504: ("510", "Endpoint Timeout"),
}


def gateway_error(status: int, details: str = "") -> ServiceError:
    code, message = GATEWAY_ERRORS.get(status, ("900", "Unexpected Error"))
    return ServiceError(status, code, message, details)


def authentication_failed(details: str) -> ServiceError:
    return gateway_error(401, details)


def expected_signature(
    method: str, raw_target: str, timestamp: str, access_key: str, secret_key: str
) -> str:
    message = f"{method} {raw_target}\n{timestamp}\n{access_key}".encode()
    return base64.b64encode(hmac.digest(secret_key.encode(), message, "sha256")).decode()


def verify(
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    keys: Mapping[str, str],
    now_ms: int,
) -> str:
    """Check one request; answer its access key or raise a 401 :class:`ServiceError`.

    ``keys`` maps access keys to secret keys; ``raw_target`` is the request line's target.
    """
    timestamp = headers.get("x-ncp-apigw-timestamp")
    access_key = headers.get("x-ncp-iam-access-key")
    signature = headers.get("x-ncp-apigw-signature-v2")
    if not timestamp or not access_key or not signature:
        raise authentication_failed("Invalid authentication information.")
    if not timestamp.isdigit():
        raise authentication_failed("Invalid timestamp.")
    if abs(now_ms - int(timestamp)) > TOLERANCE_MS:
        raise authentication_failed("The timestamp is outside the allowed window.")
    secret_key = keys.get(access_key)
    if secret_key is None:
        raise authentication_failed("Invalid authentication information.")
    wanted = expected_signature(method, raw_target, timestamp, access_key, secret_key)
    if not hmac.compare_digest(wanted.encode(), signature.encode()):
        raise authentication_failed("Invalid authentication information.")
    return access_key
