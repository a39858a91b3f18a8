"""The webhook target against a real HTTPS receiver (no mocked transport).

The receiver is a small fake credential service: a ``ThreadingHTTPServer`` behind TLS with
a certificate from a throwaway ``trustme`` CA. It checks every request's signature and
timestamp the way the module docstring tells receivers to (with its own hmac code, not
the target's), keeps the credentials it currently accepts, and can be told to fail,
stall or redirect the next request of a given action.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import trustme

from rotation.ncp.models import SecretValue, Stage
from rotation.targets.base import (
    Target,
    TargetConfigError,
    TargetError,
    TargetRollbackFailed,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)
from rotation.targets.webhook import WebhookTarget, build_webhook
from tests.databases import free_port
from tests.factories import SECRET_ID, change, target_context
from tests.webhook_receiver import (
    MAX_SKEW_MS,
    QUERY_TOKEN,
    CredentialService,
    expected_signature,
    running,
)

HMAC_KEY = "whk-0123456789abcdef-signing"
ACTIVE_KEY = "active-apikey-7f3a9c1e5b"
PENDING_KEY = "pending-apikey-2d8e4b6f0a"
PREVIOUS_KEY = "previous-apikey-9c1a3e5f7b"
SECRETS = (HMAC_KEY, ACTIVE_KEY, PENDING_KEY, PREVIOUS_KEY, QUERY_TOKEN)

ACTIVE = SecretValue({"apiKey": ACTIVE_KEY, "user": "svc-reporting"})
PENDING = SecretValue({"apiKey": PENDING_KEY, "user": "svc-reporting"})
PREVIOUS = SecretValue({"apiKey": PREVIOUS_KEY, "user": "svc-reporting"})
CHANGE = change(ACTIVE, PENDING, keys=("apiKey",), previous=PREVIOUS)
#: A slow answer that never comes in time: the service answers held requests when it closes.
HELD = 60.0


@pytest.fixture
def service(ca: trustme.CA) -> Iterator[CredentialService]:
    with running(ca, HMAC_KEY, CHANGE.changed(Stage.ACTIVE)) as state:
        yield state


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def registered() -> list[str]:
    return []


@pytest.fixture
def config(service: CredentialService, ca_file: str) -> dict[str, Any]:
    return service.target(ca_file, timeoutSeconds=5)


Build = Callable[..., WebhookTarget]


@pytest.fixture
def build(registered: list[str]) -> Iterator[Build]:
    """Builds targets and closes every one at teardown."""
    made: list[WebhookTarget] = []

    def factory(config: dict[str, Any], *, deadline: float = 30) -> WebhookTarget:
        ctx = target_context(seconds=deadline, register_secret=registered.append)
        target = build_webhook(config, ACTIVE, ctx)
        made.append(target)
        return target

    yield factory
    for target in made:
        target.close()


@pytest.fixture
def target(build: Build, config: dict[str, Any]) -> WebhookTarget:
    return build(config)


def assert_clean(exc: BaseException) -> None:
    """No secret, no query string, no chained driver exception."""
    for text in (str(exc), repr(exc)):
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text!r}"
        assert "?" not in text
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


@contextmanager
def raises_clean(kind: type[BaseException]) -> Iterator[pytest.ExceptionInfo[BaseException]]:
    with pytest.raises(kind) as info:
        yield info
    assert_clean(info.value)


def send_raw(service: CredentialService, ca_file: str, body: bytes, headers: dict[str, str]) -> int:
    with requests.Session() as session:
        response = session.post(
            service.url("/hook"), data=body, headers=headers, verify=ca_file, timeout=5
        )
        with response:
            return response.status_code


# --------------------------------------------------------------------------- the protocol


def test_target_satisfies_the_protocol(target: WebhookTarget) -> None:
    assert isinstance(target, Target)
    assert target.kind == "webhook"
    assert target.external is True


def test_happy_path_sets_tests_and_finishes(
    target: WebhookTarget, service: CredentialService
) -> None:
    assert target.probe(CHANGE, Stage.PENDING) is False
    target.set(CHANGE)
    target.test(CHANGE)
    target.finish(CHANGE)

    assert service.accepted == {"apiKey": PENDING_KEY}
    assert service.actions() == ["test", "set", "test", "finish"]
    assert [r.path.split("?")[0] for r in service.received] == [
        "/check",
        "/hook",
        "/check",
        "/hook",
    ]
    assert all(r.valid for r in service.received)
    assert service.errors == []


def test_bodies_are_compact_signed_json(target: WebhookTarget, service: CredentialService) -> None:
    target.probe(CHANGE, Stage.ACTIVE)
    target.set(CHANGE)
    target.rollback(CHANGE)
    target.finish(CHANGE)
    now = time.time() * 1000

    probe, set_, rollback, finish = service.received
    assert probe.payload == {
        "action": "test",
        "secretId": SECRET_ID,
        "stage": "ACTIVE",
        "credentials": {"apiKey": ACTIVE_KEY},
        "sentAt": probe.payload["sentAt"],
    }
    assert set_.payload["credentials"] == {"apiKey": PENDING_KEY}
    assert rollback.payload["credentials"] == {"apiKey": ACTIVE_KEY}
    assert finish.payload["credentials"] == {"apiKey": PENDING_KEY}
    for r in service.received:
        assert next(iter(r.payload)) == "action" and r.payload["secretId"] == SECRET_ID
        assert set(r.payload) <= {"action", "secretId", "stage", "credentials", "sentAt"}
        assert r.body == json.dumps(r.payload, separators=(",", ":")).encode()
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["X-Rotation-Timestamp"] == str(r.payload["sentAt"])
        assert abs(now - r.payload["sentAt"]) < 10_000
        assert "user" not in r.payload["credentials"]  # only the rotation target keys


def test_signatures_verify_and_tampering_is_detectable(
    target: WebhookTarget, service: CredentialService, ca_file: str
) -> None:
    target.set(CHANGE)
    (sent,) = service.received
    assert sent.valid
    stamp, signature = sent.headers["X-Rotation-Timestamp"], sent.headers["X-Rotation-Signature"]
    assert signature == expected_signature(HMAC_KEY, stamp, sent.body)

    forged = sent.body.replace(PENDING_KEY.encode(), b"attacker-chosen-key-000")
    assert expected_signature(HMAC_KEY, stamp, forged) != signature
    assert expected_signature(HMAC_KEY, str(int(stamp) + 1), sent.body) != signature
    assert expected_signature("another-key-0123456789", stamp, sent.body) != signature

    # The receiver refuses the forged body, and a correctly signed but stale request.
    assert send_raw(service, ca_file, forged, dict(sent.headers)) == 401
    stale = str(int(time.time() * 1000) - MAX_SKEW_MS - 60_000)
    stale_headers = {
        "Content-Type": "application/json",
        "X-Rotation-Timestamp": stale,
        "X-Rotation-Signature": expected_signature(HMAC_KEY, stale, sent.body),
    }
    assert send_raw(service, ca_file, sent.body, stale_headers) == 401
    assert [r.valid for r in service.received] == [True, False, False]
    assert service.accepted == {"apiKey": PENDING_KEY}


def test_probe_after_set_says_pending_is_in_place(
    build: Build, config: dict[str, Any], service: CredentialService
) -> None:
    build(config).set(CHANGE)
    # A retried job, with a fresh target, finds the pending credential already accepted.
    resumed = build(config)
    assert resumed.probe(CHANGE, Stage.PENDING) is True
    assert resumed.probe(CHANGE, Stage.ACTIVE) is False


def test_probe_treats_401_and_403_as_no(target: WebhookTarget, service: CredentialService) -> None:
    service.answer_next("test", 403)
    assert target.probe(CHANGE, Stage.ACTIVE) is False
    service.answer_next("test", 401)
    assert target.probe(CHANGE, Stage.ACTIVE) is False
    assert target.probe(CHANGE, Stage.ACTIVE) is True


@pytest.mark.parametrize("status", [500, 404, 302])
def test_probe_other_statuses_are_unreachable(
    target: WebhookTarget, service: CredentialService, status: int
) -> None:
    service.answer_next("test", status)
    with raises_clean(TargetUnreachable) as info:
        target.probe(CHANGE, Stage.PENDING)
    assert str(info.value) == f"webhook {service.base}/check answered HTTP {status} to test"
    assert len(service.received) == 1  # a redirect is not followed


@pytest.mark.parametrize("status", [500, 400, 301])
def test_set_failure(target: WebhookTarget, service: CredentialService, status: int) -> None:
    service.answer_next("set", status)
    with raises_clean(TargetSetFailed) as info:
        target.set(CHANGE)
    assert str(info.value) == f"webhook {service.base}/hook answered HTTP {status} to set"
    assert service.accepted == {"apiKey": ACTIVE_KEY}
    assert len(service.received) == 1


def test_test_fails_when_the_receiver_rejects(
    target: WebhookTarget, service: CredentialService
) -> None:
    target.set(CHANGE)
    service.answer_next("test", 401)
    with raises_clean(TargetTestFailed):
        target.test(CHANGE)
    # And without a set, the receiver still holds active: the test fails on its own.
    service.accepted = {"apiKey": ACTIVE_KEY}
    with raises_clean(TargetTestFailed):
        target.test(CHANGE)


def test_test_on_a_server_error_is_unreachable(
    target: WebhookTarget, service: CredentialService
) -> None:
    service.answer_next("test", 503)
    with raises_clean(TargetUnreachable):
        target.test(CHANGE)


def test_rollback_restores_active(target: WebhookTarget, service: CredentialService) -> None:
    target.set(CHANGE)
    assert target.probe(CHANGE, Stage.ACTIVE) is False
    target.rollback(CHANGE)
    assert target.probe(CHANGE, Stage.ACTIVE) is True
    assert target.probe(CHANGE, Stage.PENDING) is False
    assert service.accepted == {"apiKey": ACTIVE_KEY}


def test_rollback_failure(target: WebhookTarget, service: CredentialService) -> None:
    target.set(CHANGE)
    service.answer_next("rollback", 500)
    with raises_clean(TargetRollbackFailed) as info:
        target.rollback(CHANGE)
    assert str(info.value) == f"webhook {service.base}/hook answered HTTP 500 to rollback"
    assert service.accepted == {"apiKey": PENDING_KEY}


def test_rollback_unreachable_is_a_rollback_failure(build: Build, config: dict[str, Any]) -> None:
    closed_port = free_port()  # held by this process, never listening: refused
    config["url"] = f"https://127.0.0.1:{closed_port}/hook?token={QUERY_TOKEN}"
    with raises_clean(TargetRollbackFailed) as info:
        build(config).rollback(CHANGE)
    assert str(info.value) == (
        f"webhook https://127.0.0.1:{closed_port}/hook unreachable for rollback: ConnectionError"
    )


def test_finish_failure_is_a_target_error(
    target: WebhookTarget, service: CredentialService
) -> None:
    service.answer_next("finish", 500)
    with raises_clean(TargetError) as info:
        target.finish(CHANGE)
    assert type(info.value) is TargetError


# --------------------------------------------------------------------------- TLS and time


def test_tls_is_verified_without_ca_bundle(
    build: Build, config: dict[str, Any], service: CredentialService
) -> None:
    del config["caBundle"]
    target = build(config)
    with raises_clean(TargetUnreachable) as info:
        target.probe(CHANGE, Stage.ACTIVE)
    assert str(info.value).endswith("unreachable for test: SSLError")
    with raises_clean(TargetUnreachable):
        target.set(CHANGE)
    assert service.received == []  # nothing reached the handler: the credentials stayed put


def test_slow_receiver_times_out(
    build: Build, config: dict[str, Any], service: CredentialService
) -> None:
    config["timeoutSeconds"] = 0.3
    service.answer_next("set", 200, delay=HELD)  # answered when the service closes
    target = build(config)
    started = time.monotonic()
    with raises_clean(TargetUnreachable) as info:
        target.set(CHANGE)
    # Below the 5 s default, with room for a loaded machine: 0.3 s was the limit.
    assert time.monotonic() - started < 4
    assert str(info.value) == f"webhook {service.base}/hook unreachable for set: ReadTimeout"


def test_deadline_caps_the_timeout(
    build: Build, config: dict[str, Any], service: CredentialService
) -> None:
    service.answer_next("test", 200, delay=HELD)  # answered when the service closes
    config["timeoutSeconds"] = 60
    target = build(config, deadline=0.3)
    started = time.monotonic()
    with raises_clean(TargetUnreachable):
        target.probe(CHANGE, Stage.PENDING)
    assert time.monotonic() - started < 30  # the deadline's 0.3 s, not the 60 s timeout


def test_no_time_left_sends_nothing(
    build: Build, config: dict[str, Any], service: CredentialService
) -> None:
    target = build(config, deadline=0)
    with raises_clean(TargetUnreachable) as info:
        target.set(CHANGE)
    assert "deadline" in str(info.value)
    with raises_clean(TargetRollbackFailed):
        target.rollback(CHANGE)
    assert service.received == []


# --------------------------------------------------------------------------- configuration


def test_register_secret_receives_the_key(target: WebhookTarget, registered: list[str]) -> None:
    assert registered == [HMAC_KEY]
    assert target.timeout_seconds == 5
    for text in (repr(target), str(target)):
        for secret in SECRETS:
            assert secret not in text


def test_key_from_the_environment(
    build: Build,
    config: dict[str, Any],
    service: CredentialService,
    registered: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROTATION_WEBHOOK_KEY", HMAC_KEY)
    del config["hmacKey"]
    config["hmacKeyEnv"] = "ROTATION_WEBHOOK_KEY"
    target = build(config)
    target.set(CHANGE)
    target.test(CHANGE)
    assert all(r.valid for r in service.received)
    assert registered == [HMAC_KEY]


def test_defaults(build: Build, config: dict[str, Any]) -> None:
    del config["timeoutSeconds"], config["kind"]
    assert build(config).timeout_seconds == 10


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda config: config.__setitem__(key, value)


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def apply(config: dict[str, Any]) -> None:
        for key in keys:
            del config[key]

    return apply


def _env_unset(config: dict[str, Any]) -> None:
    del config["hmacKey"]
    config["hmacKeyEnv"] = "ROTATION_WEBHOOK_KEY_UNSET"


def _both_keys(config: dict[str, Any]) -> None:
    config["hmacKeyEnv"] = "ROTATION_WEBHOOK_KEY"


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        pytest.param(
            _set("url", f"http://127.0.0.1/hook?token={QUERY_TOKEN}"), "https", id="http-url"
        ),
        pytest.param(_set("testUrl", "http://127.0.0.1/check"), "testUrl", id="http-test-url"),
        pytest.param(_set("url", "ftp://127.0.0.1/hook"), "https", id="ftp-url"),
        pytest.param(_set("url", "https:///hook"), "host", id="no-host"),
        pytest.param(_set("url", 443), "url", id="url-not-string"),
        pytest.param(_set("url", f"https://[::1/hook?token={QUERY_TOKEN}"), "url", id="bad-url"),
        pytest.param(_drop("url"), "url", id="url-missing"),
        pytest.param(_drop("testUrl"), "testUrl", id="test-url-missing"),
        pytest.param(_drop("hmacKey"), "hmacKeyEnv", id="no-key"),
        pytest.param(_set("hmacKey", "short-key-1234"), "16", id="short-key"),
        pytest.param(_set("hmacKey", 1234567890123456789), "string", id="key-not-string"),
        pytest.param(_both_keys, "not both", id="both-keys"),
        pytest.param(_env_unset, "ROTATION_WEBHOOK_KEY_UNSET", id="env-unset"),
        pytest.param(_set("caBundle", "/nonexistent/ca.pem"), "caBundle", id="ca-missing"),
        pytest.param(_set("caBundle", "/"), "caBundle", id="ca-directory"),
        pytest.param(_set("timeoutSeconds", 0), "timeoutSeconds", id="timeout-zero"),
        pytest.param(_set("timeoutSeconds", -1), "timeoutSeconds", id="timeout-negative"),
        pytest.param(_set("timeoutSeconds", 61), "timeoutSeconds", id="timeout-too-long"),
        pytest.param(_set("timeoutSeconds", "10"), "timeoutSeconds", id="timeout-string"),
        pytest.param(_set("timeoutSeconds", True), "timeoutSeconds", id="timeout-bool"),
        pytest.param(_set("timeoutSeconds", float("nan")), "timeoutSeconds", id="timeout-nan"),
        pytest.param(_set("retries", 3), "retries", id="unknown-key"),
        pytest.param(_set("kind", "webhooks"), "kind", id="wrong-kind"),
    ],
)
def test_config_errors(
    build: Build,
    config: dict[str, Any],
    registered: list[str],
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[dict[str, Any]], None],
    hint: str,
) -> None:
    monkeypatch.setenv("ROTATION_WEBHOOK_KEY", HMAC_KEY)
    monkeypatch.delenv("ROTATION_WEBHOOK_KEY_UNSET", raising=False)
    change(config)
    with raises_clean(TargetConfigError) as info:
        build(config)
    assert hint in str(info.value)
    assert "short-key-1234" not in str(info.value)
    assert registered == []


def test_short_key_from_the_environment_is_refused(
    build: Build, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATION_WEBHOOK_KEY", "short-key-1234")
    del config["hmacKey"]
    config["hmacKeyEnv"] = "ROTATION_WEBHOOK_KEY"
    with raises_clean(TargetConfigError) as info:
        build(config)
    assert "short-key-1234" not in str(info.value)


def test_unknown_keys_are_all_named(build: Build, config: dict[str, Any]) -> None:
    config.update(retries=3, hmac_key=HMAC_KEY)
    with raises_clean(TargetConfigError) as info:
        build(config)
    assert "hmac_key" in str(info.value) and "retries" in str(info.value)


@pytest.mark.parametrize("timeout", [0.5, 60])
def test_timeout_bounds_are_inclusive_of_60(
    build: Build, config: dict[str, Any], timeout: float
) -> None:
    config["timeoutSeconds"] = timeout
    assert build(config).timeout_seconds == timeout
