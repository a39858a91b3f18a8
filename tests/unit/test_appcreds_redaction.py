"""No secret value in anything the application kit shows: repr, str, logs, exceptions.

Logs are captured as structlog event dicts *before* rendering: the project's own log
configuration scrubs registered values from rendered lines, which would hide a leak from
the suite's leak guard; the raw events cannot hide one.
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Iterator

import pytest
import structlog

from appcreds import Credential, CredentialCache, Limits, SecretUnavailable
from emulator import Emulator
from rotation.ncp.models import SecretValue, Stage
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.transport import RetryPolicy
from tests.databases import password
from tests.factories import create_secret

USER = "appuser-" + "q7xk2"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Refused(Exception):
    pass


@pytest.fixture
def sm(emu: Emulator) -> Iterator[SecretManagerClient]:
    with emu.client(retry=RetryPolicy(attempts=1)) as c:
        yield c


def visible(*items: object) -> str:
    """Every way an item shows itself: repr, str, format."""
    return "\n".join(f"{item!r} {item!s} {item}" for item in items)


def test_a_credential_shows_its_stage_and_keys_never_a_value() -> None:
    pw = password()
    cred = Credential(SecretValue({"username": USER, "password": pw, "host": "db"}), Stage.PENDING)
    shown = visible(cred, [cred], {"c": cred}, cred.value)
    assert pw not in shown and USER not in shown
    assert "stage=pending" in repr(cred) and "'password'" in repr(cred)
    assert cred.password == pw and cred.username == USER and cred["host"] == "db"
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(cred)


def test_every_way_the_cache_shows_itself_is_masked(emu: Emulator, sm: SecretManagerClient) -> None:
    values = [password(), password(), password()]
    secret_id = create_secret(sm, value={"username": USER, "password": values[0]}).secret_id
    sm.update_secret_values(
        secret_id,
        pending={"username": USER, "password": values[1]},
        previous={"username": USER, "password": values[2]},
    )
    cache = CredentialCache(sm, secret_id, clock=Clock())
    shown = visible(cache, cache.stages(), dict(cache.stages()), cache.credential(), cache.stats())
    for value in [*values, USER]:
        assert value not in shown
    assert [s.path for s in cache.stages()] == ["active", "pending", "previous"]


def test_no_value_in_any_log_event_or_exception(emu: Emulator, sm: SecretManagerClient) -> None:
    """A whole story: fallback to pending, a wrong password storm, Secret Manager gone,
    the staleness bound. Nothing it logs or raises carries a value or the user name."""
    a, b = password(), password()
    secret_id = create_secret(sm, value={"username": USER, "password": a}).secret_id
    clock = Clock()
    cache = CredentialCache(
        sm, secret_id, clock=clock,
        limits=Limits(ttl=10, max_staleness=20, retry_after_failure=1, refresh_cooldown=1),
    )  # fmt: skip
    accepted = {b}

    def login(cred: Credential) -> str:
        if cred.password not in accepted:
            raise Refused("login refused")
        return "ok"

    raised: list[BaseException] = []
    with structlog.testing.capture_logs() as events:
        cache.credential()
        sm.update_secret_values(secret_id, pending={"username": USER, "password": b})
        assert cache.call(login, is_auth_error=lambda e: isinstance(e, Refused)) == "ok"
        accepted.clear()
        for _ in range(3):
            try:
                cache.call(login, is_auth_error=lambda e: isinstance(e, Refused))
            except Refused as exc:
                raised.append(exc)
        emu.faults.add("get_secret_value", drop=True, times=100)
        clock.now += 10
        cache.credential()
        clock.now += 11
        try:
            cache.credential()
        except SecretUnavailable as exc:
            raised.append(exc)
    names = [e["event"] for e in events]
    assert {"appcreds.read", "appcreds.switched", "appcreds.all_refused",
            "appcreds.read_failed"} <= set(names)  # fmt: skip
    assert len(raised) == 4
    text = repr(events) + "".join("".join(traceback.format_exception(exc)) for exc in raised)
    for secret in (a, b, USER):
        assert secret not in text
