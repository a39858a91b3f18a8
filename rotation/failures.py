"""How every error of a rotation becomes a coded failure (:mod:`rotation.codes`).

The workflow catches by meaning, not by origin: an API error, a target's refusal and bad
input all arrive here and leave as a :class:`RotationFailure` whose code tells the
operator what happened and what to do. Kept apart from the steps so the rules that
decide a code (a 403 on a job call is about the token, any 4xx from ``start`` but
401/403 means the job is not usable) read in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rotation import codes
from rotation.codes import CodedError
from rotation.ncp.errors import (
    AuthenticationFailed,
    ClientError,
    DeadlineExceeded,
    Forbidden,
    InvalidState,
    NcpError,
    NotFound,
)
from rotation.ncp.models import SecretValueError

T = TypeVar("T")


class RotationFailure(CodedError):
    """A step failed. The message is ours and secret-free; ``code`` is in :mod:`codes`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class JobUnusable(RotationFailure):
    """``start`` said there is no job to work on: nothing to end, nothing to undo."""

    def __init__(self, code: str, message: str, *, ok: bool, outcome: str, job: str) -> None:
        super().__init__(code, message)
        self.ok = ok
        self.outcome = outcome
        self.job = job


def outcome_unknown(exc: NcpError) -> bool:
    """Could the request have taken effect? Yes unless a 4xx refused it."""
    return not isinstance(exc, ClientError)


def cannot_end(exc: NcpError) -> str:
    return f"Secret Manager could not be reached to end the job ({exc})"


def start_failure(exc: NcpError) -> RotationFailure:
    """``start`` refused: any 4xx other than 401/403 means the job is not usable (NCP does
    not document 404 against 422 for a dead token, so neither is relied on)."""
    if isinstance(exc, InvalidState):
        return JobUnusable(
            codes.JOB_NOT_RUNNING,
            "the rotation job is no longer running; nothing to do",
            ok=True,
            outcome="skipped",
            job="ended",
        )
    if isinstance(exc, ClientError) and not isinstance(exc, (AuthenticationFailed, Forbidden)):
        return JobUnusable(
            codes.JOB_NOT_FOUND,
            f"Secret Manager does not accept this job token ({exc})",
            ok=False,
            outcome="failed",
            job="unknown",
        )
    return job_call_failure(exc, "start the rotation job")


def job_call_failure(exc: NcpError, doing: str) -> RotationFailure:
    """A job call failed. A 403 there is about the token or the sub-account's rights on
    jobs, not the key pair (which the guard's read just used)."""
    if isinstance(exc, Forbidden):
        return RotationFailure(
            codes.JOB_TOKEN_REJECTED,
            f"could not {doing}: {exc} (the job token is no longer valid, or the sub-account "
            "may not act on rotation jobs)",
        )
    return api_failure(exc, doing)


def api_failure(exc: NcpError, doing: str) -> RotationFailure:
    if isinstance(exc, (AuthenticationFailed, Forbidden)):
        return RotationFailure(
            codes.AUTHENTICATION_FAILED,
            f"could not {doing}: {exc} (check the access key pair, its sub-account policy "
            "NCP_SECRETMANAGER_MANAGER, and the clock)",
        )
    if isinstance(exc, DeadlineExceeded):
        return RotationFailure(codes.DEADLINE_EXCEEDED, f"could not {doing} before the deadline")
    if isinstance(exc, NotFound):
        return RotationFailure(codes.SECRET_NOT_FOUND, f"could not {doing}: {exc}")
    code = codes.API_UNAVAILABLE if exc.retryable else codes.API_ERROR
    return RotationFailure(code, f"could not {doing}: {exc}")


def call_api(fn: Callable[[], T], doing: str) -> T:
    """Run one API call; turn its error into a :class:`RotationFailure` that says what
    could not be done."""
    try:
        return fn()
    except SecretValueError as exc:
        raise RotationFailure(
            codes.VALUE_NOT_JSON_OBJECT,
            f"{exc}; a rotatable secret value is a JSON object of key/value pairs",
        ) from None
    except NotFound:
        raise RotationFailure(
            codes.SECRET_NOT_FOUND, f"could not {doing}: no such secret"
        ) from None
    except NcpError as exc:
        raise api_failure(exc, doing) from None


def as_failure(exc: Exception) -> RotationFailure:
    if isinstance(exc, RotationFailure):
        return exc
    if isinstance(exc, CodedError):
        return RotationFailure(exc.code, str(exc))
    if isinstance(exc, NcpError):
        return api_failure(exc, "finish the step")
    return RotationFailure(codes.INTERNAL_ERROR, type(exc).__name__)
