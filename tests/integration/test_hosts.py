"""Which host a secret lives behind: the regional host first, the global one once on 404,
a configured endpoint alone (issue 10, item 5). Two emulators stand in for the two hosts;
they share one account's keys, as NCP's hosts do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import handler
from emulator import Emulator
from rotation.ncp import hosts
from tests.factories import job_token, rotatable_secret

VALUE = {"engine": "store-only", "username": "app", "password": "initial-Pw-123"}


@pytest.fixture
def two_hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Emulator]]:
    """``(regional, global)``, wired in as KR's two hosts."""
    regional = Emulator(prefix="/secretmanager")
    old = Emulator(access_key=regional.access_key, secret_key=regional.secret_key)
    with regional, old:
        monkeypatch.setitem(hosts.REGIONAL_ENDPOINTS, "KR", regional.endpoint)
        monkeypatch.setattr(hosts, "GLOBAL_ENDPOINT", old.endpoint)
        yield regional, old


def test_region_codes_and_candidates() -> None:
    assert hosts.region_code(None) == hosts.region_code(" kr ") == "KR"
    assert hosts.region_code("JP") == "JPN"
    with pytest.raises(hosts.UnknownRegion):
        hosts.region_code("SGN")
    assert hosts.default_endpoint() == "https://ocapi-kr.ncloud.com/secretmanager"
    assert hosts.candidates("JPN") == ("https://ocapi-jp.ncloud.com/secretmanager",)
    assert hosts.candidates("KR", "https://h/x") == ("https://h/x",)


def invoke(emu: Emulator, sid: str, token: str, **extra: Any) -> dict[str, Any]:
    args = {
        "accessKey": emu.access_key,
        "secretKey": emu.secret_key,
        "secretId": sid,
        "jobToken": token,
        **extra,
    }
    result = handler.main(args)
    json.dumps(result)
    return result


def test_the_handler_rotates_an_older_secret_on_the_global_host(
    two_hosts: tuple[Emulator, Emulator], capfd: pytest.CaptureFixture[str]
) -> None:
    regional, old = two_hosts
    with old.client() as client:
        sid = rotatable_secret(old, client, value=dict(VALUE)).secret_id
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
        result = invoke(old, sid, token)  # no endpoint configured
        assert result["ok"] and result["outcome"] == "rotated", result
        assert client.get_secret_values(sid).previous == VALUE
    assert regional.stats.calls == {"get_secret_detail": 1}  # asked once, 404, never again
    assert old.stats.calls["get_secret_detail"] == 1  # the guard's own read: no extra call
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith("{")]
    [chosen] = [x for x in lines if x.get("event") == "secretmanager.host"]
    assert chosen["endpoint"] == old.endpoint
    assert chosen["not_found_on"] == [regional.endpoint]


def test_a_secret_on_the_regional_host_costs_no_extra_call(
    two_hosts: tuple[Emulator, Emulator],
) -> None:
    regional, old = two_hosts
    with regional.client() as client:
        sid = rotatable_secret(regional, client, value=dict(VALUE)).secret_id
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
    regional.stats.reset()
    result = invoke(regional, sid, token)  # no endpoint configured: regional first
    assert result["ok"], result
    assert regional.stats.calls["get_secret_detail"] == 1
    assert not old.stats.calls


def test_an_error_other_than_404_does_not_move_to_the_other_host(
    two_hosts: tuple[Emulator, Emulator],
) -> None:
    regional, old = two_hosts
    with old.client() as client:
        sid = rotatable_secret(old, client, value=dict(VALUE)).secret_id
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
    regional.faults.add("get_secret_detail", status=403, times=1)
    result = invoke(regional, sid, token)
    assert result["error"]["code"] == "AUTHENTICATION_FAILED", result
    assert not old.stats.calls.get("get_secret_detail")


def test_a_configured_endpoint_is_used_as_is(two_hosts: tuple[Emulator, Emulator]) -> None:
    regional, old = two_hosts
    with old.client() as client:
        sid = rotatable_secret(old, client, value=dict(VALUE)).secret_id
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
    result = invoke(old, sid, token, secretManagerEndpoint=regional.endpoint)
    assert result["ok"] is False and result["error"]["code"] == "SECRET_NOT_FOUND", result
    assert not old.stats.calls.get("start_rotation_job")  # no fallback to the other host
