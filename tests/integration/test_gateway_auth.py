"""The emulator's gateway rejects what NCP's rejects: every request is checked."""

from __future__ import annotations

import pytest
import requests

from emulator import Emulator
from rotation.ncp.errors import AuthenticationFailed, NotFound
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials, signed_headers, timestamp_ms
from tests.factories import create_secret


def _get(emu: Emulator, url: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(url, headers=headers, timeout=5)


def _envelope(response: requests.Response) -> dict[str, str]:
    return response.json()["error"]  # type: ignore[no-any-return]


def test_correctly_signed_request_passes(emu: Emulator) -> None:
    url = f"{emu.endpoint}/api/v1/secrets?pageNo=1"
    response = _get(emu, url, signed_headers("GET", url, emu.credentials))
    assert response.status_code == 200
    assert response.json()["code"] == "SUCCESS"


@pytest.mark.parametrize(
    "missing",
    [
        "x-ncp-apigw-timestamp",
        "x-ncp-iam-access-key",
        "x-ncp-apigw-signature-v2",
    ],
)
def test_missing_header_is_401(emu: Emulator, missing: str) -> None:
    url = f"{emu.endpoint}/api/v1/secrets"
    headers = signed_headers("GET", url, emu.credentials)
    del headers[missing]
    response = _get(emu, url, headers)
    assert response.status_code == 401
    assert _envelope(response)["errorCode"] == "200"
    assert _envelope(response)["message"] == "Authentication Failed"


def test_wrong_access_key_is_401(emu: Emulator) -> None:
    url = f"{emu.endpoint}/api/v1/secrets"
    headers = signed_headers("GET", url, Credentials("someone-else", emu.secret_key))
    assert _get(emu, url, headers).status_code == 401


@pytest.mark.parametrize(
    ("skew_ms", "status"),
    [
        (-5 * 60 * 1000 - 1000, 401),
        (-4 * 60 * 1000, 200),
        (4 * 60 * 1000, 200),
        (5 * 60 * 1000 + 1000, 401),
    ],
)
def test_timestamp_window_is_five_minutes(emu: Emulator, skew_ms: int, status: int) -> None:
    url = f"{emu.endpoint}/api/v1/secrets"
    ts = str(int(timestamp_ms()) + skew_ms)
    response = _get(emu, url, signed_headers("GET", url, emu.credentials, timestamp=ts))
    assert response.status_code == status


def test_non_numeric_timestamp_is_401(emu: Emulator) -> None:
    url = f"{emu.endpoint}/api/v1/secrets"
    headers = signed_headers("GET", url, emu.credentials, timestamp="soon")
    assert _get(emu, url, headers).status_code == 401


def test_tampered_query_string_is_401(emu: Emulator) -> None:
    signed_url = f"{emu.endpoint}/api/v1/secrets?pageNo=1"
    headers = signed_headers("GET", signed_url, emu.credentials)
    response = _get(emu, f"{emu.endpoint}/api/v1/secrets?pageNo=2", headers)
    assert response.status_code == 401


def test_query_signed_in_another_encoding_is_401(emu: Emulator) -> None:
    """``%2F`` and ``/`` mean the same to a server, but not to the signature."""
    sid = "x"
    sent = f"{emu.endpoint}/api/v1/secrets/{sid}/logs?keyword=a%2Fb"
    other = f"{emu.endpoint}/api/v1/secrets/{sid}/logs?keyword=a/b"
    response = _get(emu, sent, signed_headers("GET", other, emu.credentials))
    assert response.status_code == 401


def test_method_is_signed(emu: Emulator) -> None:
    url = f"{emu.endpoint}/api/v1/secrets"
    headers = signed_headers("POST", url, emu.credentials)
    assert _get(emu, url, headers).status_code == 401


def test_unknown_url_is_gateway_404(emu: Emulator) -> None:
    url = f"{emu.endpoint}/api/v1/nothing-here"
    response = _get(emu, url, signed_headers("GET", url, emu.credentials))
    assert response.status_code == 404
    assert _envelope(response)["errorCode"] == "300"


def test_regional_prefix_must_be_signed() -> None:
    with Emulator(prefix="/secretmanager") as emu:
        url = f"{emu.base_url}/secretmanager/api/v1/secrets"
        unsigned_prefix = signed_headers("GET", f"{emu.base_url}/api/v1/secrets", emu.credentials)
        assert _get(emu, url, unsigned_prefix).status_code == 401
        assert _get(emu, url, signed_headers("GET", url, emu.credentials)).status_code == 200
        # without the prefix the path does not exist on the regional host
        bare = f"{emu.base_url}/api/v1/secrets"
        assert _get(emu, bare, signed_headers("GET", bare, emu.credentials)).status_code == 404


def test_client_works_behind_the_regional_prefix() -> None:
    with Emulator(prefix="/secretmanager") as emu, emu.client() as client:
        assert client.endpoint.endswith("/secretmanager")
        assert client.list_secrets().total_count == 0
        wrong = SecretManagerClient(emu.credentials, endpoint=emu.base_url)
        with pytest.raises(NotFound):
            wrong.list_secrets()
        wrong.close()


def test_client_sends_what_it_signs_for_awkward_queries(client: SecretManagerClient) -> None:
    sid = create_secret(client).secret_id
    for keyword in ("rotate job/fail", "a&b=c", "100%", "한글", "plus+sign", "~tilde*star"):
        client.get_secret_logs(sid, keyword=keyword)  # a 401 here would raise


def test_wrong_key_through_the_client(emu: Emulator) -> None:
    bad = SecretManagerClient(Credentials(emu.access_key, "wrong"), endpoint=emu.endpoint)
    with pytest.raises(AuthenticationFailed):
        bad.list_triggers()
    bad.close()
