"""What every emulated NCP service shares: the error answer and the clock.

Kept apart from any one service so that Cloud DB, Cloud Functions and the gateway do not
import Secret Manager's state to raise an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]
"""Epoch seconds. ``time.time`` by default; tests pass their own or freeze it."""


class ServiceError(Exception):
    """An error answer: HTTP status plus the ``error`` envelope's three fields."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {details or message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        #: Seconds for a ``Retry-After`` header (throttling faults).
        self.retry_after: float | None = None

    def envelope(self) -> dict[str, Any]:
        return {"error": {"errorCode": self.code, "message": self.message, "details": self.details}}


@dataclass(frozen=True)
class Answer:
    """A success answer other than 200 (Sub Account v2: 201 Created, 204 No Content). A
    handler returns it instead of the body; ``body`` None sends no content at all."""

    status: int
    body: Any = None


def bad_request(details: str) -> ServiceError:
    return ServiceError(400, "INVALID_REQUEST", "Invalid request", details)


def not_found(details: str) -> ServiceError:
    return ServiceError(404, "NOT_FOUND", "Not found", details)


def invalid_status(details: str) -> ServiceError:
    return ServiceError(422, "UNPROCESSABLE_ENTITY", "Invalid status", details)
