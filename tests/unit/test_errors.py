from __future__ import annotations

import pytest

from rotation.ncp.errors import (
    ApiError,
    AuthenticationFailed,
    BadRequest,
    ClientError,
    ErrorBody,
    Forbidden,
    InvalidState,
    NotFound,
    RateLimited,
    RetryableApiError,
    ServerError,
    error_for_status,
)
from rotation.ncp.transport import parse_error_body


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, BadRequest, False),
        (401, AuthenticationFailed, False),
        (403, Forbidden, False),
        (404, NotFound, False),
        (409, ClientError, False),
        (413, ClientError, False),
        (422, InvalidState, False),
        (429, RateLimited, True),
        (500, ServerError, True),
        (503, ServerError, True),
        (504, ServerError, True),
    ],
)
def test_status_maps_to_one_class(status: int, cls: type[ApiError], retryable: bool) -> None:
    error = error_for_status(status, ErrorBody("C", "M", "D"), operation="op")
    assert type(error) is cls
    assert error.retryable is retryable
    assert isinstance(error, RetryableApiError) is retryable
    assert isinstance(error, ClientError) is (not retryable)


def test_message_names_operation_status_code_and_template() -> None:
    error = error_for_status(
        401,
        ErrorBody("200", "Authentication Failed", "Invalid authentication information."),
        operation="start_rotation_job",
        method="POST",
        path="/action/v1/secrets/{secretId}/jobs/{jobToken}/start",
    )
    assert str(error) == (
        "start_rotation_job: HTTP 401 200 Authentication Failed: Invalid authentication "
        "information. (POST /action/v1/secrets/{secretId}/jobs/{jobToken}/start)"
    )


def test_both_ncp_envelopes_are_read() -> None:
    assert parse_error_body(
        {"error": {"errorCode": 200, "message": "Authentication Failed", "details": "x"}}
    ) == ErrorBody("200", "Authentication Failed", "x")
    assert parse_error_body(
        {"responseError": {"returnCode": "1007009", "returnMessage": "busy"}}
    ) == ErrorBody("1007009", "busy", "")
    assert parse_error_body("<html>") == ErrorBody()
    assert parse_error_body(None) == ErrorBody()
