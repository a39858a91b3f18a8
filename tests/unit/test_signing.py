"""Signature v2 against vectors computed with openssl, not with this code:

printf '%s %s\n%s\n%s' METHOD URI TS AK | openssl dgst -sha256 -hmac SK -binary | base64
"""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from rotation.ncp.signing import (
    ACCESS_KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Credentials,
    request_uri,
    sign,
    signed_headers,
    string_to_sign,
    timestamp_ms,
)

CREDS = Credentials("AKTESTACCESSKEY0001", "secret/key+with=chars")


@pytest.mark.parametrize(
    ("method", "uri", "timestamp", "creds", "expected"),
    [
        (
            "GET",
            "/api/v1/secrets",
            "1700000000000",
            CREDS,
            "19s31TTubCkGxiMYSndXjV7so4kLruTdWH/pXuk5sVE=",
        ),
        (
            "GET",
            "/api/v1/secrets/abc/logs?keyword=rotate%20job%2Ffail%26x%3Dy&pageNo=1",
            "1700000000000",
            CREDS,
            "gGUD0cdEYpPFcHp8US4Vtm00O6mUHotrQxQ1MXzlwF4=",
        ),
        (
            "POST",
            "/secretmanager/action/v1/secrets/s1/jobs/tok-1/start",
            "1767225600123",
            Credentials("ncp_iam_AK", "S3cr3t"),
            "zqfwbDE25nrNWiu7/gyQE6Gn/vrpv3wdIXa/M11sTt8=",
        ),
        # the NCP common page's own example URI
        (
            "GET",
            "/photos/puppy.jpg?query1=&query2",
            "1700000000000",
            Credentials("AK", "SK"),
            "C341uTBlD2AAD1AYZ3tpafvsPlSaigLBpjncKewV23w=",
        ),
    ],
)
def test_known_vectors(
    method: str, uri: str, timestamp: str, creds: Credentials, expected: str
) -> None:
    assert sign(method, uri, timestamp, creds) == expected


def test_method_is_upper_cased_in_the_string_to_sign() -> None:
    assert string_to_sign("get", "/x", "1", "AK") == "GET /x\n1\nAK"
    assert sign("get", "/x", "1", CREDS) == sign("GET", "/x", "1", CREDS)


@freeze_time("2023-11-14 22:13:20")
def test_headers_under_frozen_time_match_the_vector() -> None:
    headers = signed_headers("GET", "https://secretmanager.apigw.ntruss.com/api/v1/secrets", CREDS)
    assert headers == {
        TIMESTAMP_HEADER: "1700000000000",
        ACCESS_KEY_HEADER: "AKTESTACCESSKEY0001",
        SIGNATURE_HEADER: "19s31TTubCkGxiMYSndXjV7so4kLruTdWH/pXuk5sVE=",
    }


@freeze_time("2023-11-14 22:13:20")
def test_percent_encoded_query_is_signed_exactly_as_sent() -> None:
    url = (
        "https://secretmanager.apigw.ntruss.com/api/v1/secrets/abc/logs"
        "?keyword=rotate%20job%2Ffail%26x%3Dy&pageNo=1"
    )
    assert signed_headers("GET", url, CREDS)[SIGNATURE_HEADER] == (
        "gGUD0cdEYpPFcHp8US4Vtm00O6mUHotrQxQ1MXzlwF4="
    )


@freeze_time("2026-01-01 00:00:00.123")
def test_regional_prefix_is_part_of_the_signed_uri() -> None:
    url = "https://ocapi-kr.ncloud.com/secretmanager/action/v1/secrets/s1/jobs/tok-1/start"
    headers = signed_headers("POST", url, Credentials("ncp_iam_AK", "S3cr3t"))
    assert headers[TIMESTAMP_HEADER] == "1767225600123"
    assert headers[SIGNATURE_HEADER] == "zqfwbDE25nrNWiu7/gyQE6Gn/vrpv3wdIXa/M11sTt8="


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("https://h/api/v1/secrets", "/api/v1/secrets"),
        (
            "https://h/secretmanager/api/v1/secrets?pageNo=2",
            "/secretmanager/api/v1/secrets?pageNo=2",
        ),
        ("https://h", "/"),
        ("https://h/a?k=%2F%20x", "/a?k=%2F%20x"),
        ("http://127.0.0.1:8080/p#frag", "/p"),
    ],
)
def test_request_uri(url: str, uri: str) -> None:
    assert request_uri(url) == uri


def test_timestamp_is_integer_milliseconds() -> None:
    assert timestamp_ms(1700000000.9999) == "1700000000999"
    with freeze_time("2023-11-14 22:13:20.5"):
        assert timestamp_ms() == "1700000000500"


def test_credentials_hide_the_secret_key() -> None:
    assert "secret/key" not in repr(CREDS)
    assert "AKTESTACCESSKEY0001" in repr(CREDS)
    with pytest.raises(ValueError, match="required"):
        Credentials("AK", "")
