"""One error hierarchy for every NCP API call this package makes.

Callers catch by level::

    NcpError                    anything raised by the API layer
    ├── TransportError          no HTTP answer: refused, reset, dropped, timed out   (retried)
    ├── DeadlineExceeded        the caller's time budget ran out before an answer
    ├── ResponseFormatError     an answer that does not have the documented shape
    └── ApiError                the gateway or the service answered with an error
        ├── ClientError         4xx: the request is wrong; sending it again will not help
        │   ├── BadRequest              400  INVALID_REQUEST, gateway 100
        │   ├── AuthenticationFailed    401  gateway 200/210: key, signature or clock
        │   ├── Forbidden               403  FORBIDDEN: the sub-account lacks a policy
        │   ├── NotFound                404  NOT_FOUND, gateway 300
        │   └── InvalidState            422  UNPROCESSABLE_ENTITY / INVALID_STATUS
        └── RetryableApiError   the request may succeed later                      (retried)
            ├── RateLimited             429  gateway 400/410/420
            └── ServerError             5xx

Why these messages are safe to log and to return: an error is built only from the HTTP
status, the envelope's code/message/details, the operation name and the path *template*
(``/action/v1/secrets/{secretId}/jobs/{jobToken}/start``), never from the request URL,
headers or body. The job token rides in the URL path, the signature in a header and the
secret values in bodies; none of them can reach ``str()`` or ``repr()`` of an error.
"""

from __future__ import annotations

from typing import Final

from rotation.ncp.records import Record


class NcpError(Exception):
    """Base of every error raised by the API layer."""

    #: Whether sending the same request again may succeed.
    retryable: bool = False

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.operation = operation

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.operation}: {text}" if self.operation else text


class TransportError(NcpError):
    """The request got no HTTP answer (connection refused, reset or dropped; timeout)."""

    retryable = True


class DeadlineExceeded(NcpError):
    """The caller's deadline passed before the call could finish or be retried."""


class ResponseFormatError(NcpError):
    """A success answer that is not the documented JSON shape."""


class ErrorBody(Record):
    """The ``{"error": {"errorCode", "message", "details"}}`` envelope, parsed."""

    __slots__ = ("code", "details", "message")

    def __init__(self, code: str = "", message: str = "", details: str = "") -> None:
        self.code: Final = code
        self.message: Final = message
        self.details: Final = details


class ApiError(NcpError):
    """The gateway or the service answered with an HTTP error status."""

    def __init__(
        self, status: int, body: ErrorBody, *, operation: str = "", method: str = "", path: str = ""
    ) -> None:
        parts = [f"HTTP {status}"]
        if body.code:
            parts.append(body.code)
        if body.message:
            parts.append(body.message)
        text = " ".join(parts)
        if body.details:
            text = f"{text}: {body.details}"
        if method and path:
            text = f"{text} ({method} {path})"
        super().__init__(text, operation=operation)
        self.status = status
        self.code = body.code
        self.message = body.message
        self.details = body.details
        self.method = method
        self.path = path


class ClientError(ApiError):
    """4xx other than 429: fix the request, the credentials or the secret's state."""


class BadRequest(ClientError):
    pass


class AuthenticationFailed(ClientError):
    """Wrong access key, wrong signature, or a clock more than five minutes off."""


class Forbidden(ClientError):
    pass


class NotFound(ClientError):
    pass


class InvalidState(ClientError):
    """The request is well formed but the secret's state forbids it (e.g. REVOKE)."""


class RetryableApiError(ApiError):
    retryable = True


class RateLimited(RetryableApiError):
    def __init__(
        self,
        status: int,
        body: ErrorBody,
        *,
        operation: str = "",
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, body, operation=operation, method=method, path=path)
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class ServerError(RetryableApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: Forbidden,
    404: NotFound,
    422: InvalidState,
}


def error_for_status(
    status: int,
    body: ErrorBody,
    *,
    operation: str = "",
    method: str = "",
    path: str = "",
    retry_after: float | None = None,
) -> ApiError:
    """The most specific :class:`ApiError` for an HTTP error status."""
    if status == 429:
        return RateLimited(
            status, body, operation=operation, method=method, path=path, retry_after=retry_after
        )
    if status >= 500:
        return ServerError(status, body, operation=operation, method=method, path=path)
    cls = _BY_STATUS.get(status, ClientError)
    return cls(status, body, operation=operation, method=method, path=path)
