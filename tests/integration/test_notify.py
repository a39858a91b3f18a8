"""Alerts, posted to a real HTTPS receiver on this machine: what they say, when they go,
how they are retried, and that a bad alert setting never stops a rotation.

The receiver is ``tests/webhook_receiver.serving`` (real TLS, a throwaway CA) with an
:class:`Inbox` behind it that records every POST and answers what the test planned. Waits
are on events (the receiver's ``release``, the emulator's idle runner), never sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from emulator import Emulator
from rotation import logs
from rotation.ncp.deadline import Deadline
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.notify import (
    EXIT_MARGIN_SECONDS,
    MAX_ATTEMPTS,
    Context,
    NotifyConfig,
    NotifyConfigError,
    parse_notify,
    read_notify,
    send,
)
from rotation.settings import SettingsError
from tests.databases import Redis, free_port, password, unique
from tests.factories import create_secret, executed_job, invoke, unique_name
from tests.leaks import LeakGuard
from tests.webhook_receiver import serving

KEY = "notify-signing-key-0123456789"
PATH_TOKEN = "T0000/B0000/pathtokenXYZ123"
HOOK_PASSWORD = "planted-Hook-Passw0rd-4"
FAILED = {
    "ok": False,
    "secretId": "sid-1",
    "outcome": "failed",
    "error": {"code": "TARGET_UNREACHABLE", "message": "could not connect to db:5432"},
}
#: Every field an alert carries, whatever happened.
FIELDS = {
    "event", "alertId", "time", "environment", "region", "endpoint", "action", "activationId",
    "job", "trigger", "secretId", "secretName", "outcome", "code", "message", "advice",
    "warnings", "leftForRetry", "sentAt",
}  # fmt: skip
#: A rotation that fails at once, before the target is touched (the job is failed).
FAILING_POLICY = {"length": 2}


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data

    def signed_with(self, key: str) -> bool:
        """Checked from the documented recipe, independently of rotation.notify."""
        stamp = self.headers.get("X-Rotation-Timestamp", "")
        mac = hmac.new(key.encode(), stamp.encode() + b"." + self.body, hashlib.sha256)
        return stamp.isdigit() and hmac.compare_digest(
            self.headers.get("X-Rotation-Signature", ""), "sha256=" + mac.hexdigest()
        )


@dataclass
class Inbox:
    """What the receiver got. It answers each planned status in turn (``answers``), then
    ``status``; ``delay`` holds every answer (until teardown releases it)."""

    status: int = 200
    delay: float = 0.0
    answers: deque[int] = field(default_factory=deque)
    posts: list[Post] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self.lock:
            self.posts.append(Post(path, headers, body))
            status = self.answers.popleft() if self.answers else self.status
        if self.delay:
            self.release.wait(self.delay)
        return status, b'{"echo":"whatever was sent"}'


@contextmanager
def inbox(ca: trustme.CA, guard: LeakGuard | None = None) -> Iterator[Inbox]:
    """A receiver; with ``guard``, everything it received is searched for leaks too."""
    with serving(ca, Inbox()) as state:
        yield state
    if guard is not None:
        for post in state.posts:
            guard.observe(f"alert to {post.path}", post.body.decode())


def _log_lines(guard: LeakGuard) -> list[dict[str, Any]]:
    """Every JSON log line the test wrote so far (the guard keeps what it has read)."""
    guard.read()
    out = "".join(text for where, text in guard.texts if where == "stdout")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _events(guard: LeakGuard, event: str) -> list[dict[str, Any]]:
    return [line for line in _log_lines(guard) if line["event"] == event]


def _codes(result: dict[str, Any]) -> list[str]:
    return [w["code"] for w in result.get("warnings", [])]


@pytest.fixture
def no_runtime_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The in-process handler takes its deadline from ``timeoutSeconds``."""
    for name in ("__OW_DEADLINE", "__OW_ACTIVATION_ID", "__OW_ACTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- configuration ----------------------------------------------------------------------------


def test_accepted_forms_and_defaults(ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_KEY", KEY)
    assert not parse_notify(None)
    one = parse_notify(f"https://hooks.example.com/services/{PATH_TOKEN}")
    assert [(h.format, h.shown) for h in one.webhooks] == [("slack", "https://hooks.example.com")]
    assert one.environment is None and not one.on_success
    config = parse_notify(
        json.dumps(
            {
                "webhooks": [
                    "https://a.example.com/x",
                    {
                        "url": "https://b.example.com:8443/y",
                        "hmacKeyEnv": "NOTIFY_KEY",
                        "caBundle": ca_file,
                        "timeoutSeconds": 2,
                    },
                ],
                "onSuccess": True,
                "environment": " prod-kr ",
            }
        )
    )
    slack, signed = config.webhooks
    assert config.on_success and slack.format == "slack" and slack.key is None
    assert config.environment == "prod-kr"
    assert signed.format == "json" and signed.key == KEY.encode()
    assert signed.shown == "https://b.example.com:8443" and signed.timeout_seconds == 2
    assert PATH_TOKEN not in repr(config) and KEY not in repr(config)


#: (notify, words the message names): refused by deploy, warned about by the action.
BAD = [
    ("http://hooks.example.com/x", "https://"),
    (f"https://u:{HOOK_PASSWORD}@hooks.example.com/x", "user:password@"),
    ({"webhooks": ["https://a.example.com"], "onSucces": True}, "unknown key onSucces"),
    ({"webhook": "https://hooks.example.com/x"}, "unknown key webhook"),
    ({"webhooks": [{"url": "https://a.example.com", "hmac": KEY}]}, "unknown key hmac"),
    ({"webhooks": [{"url": "https://a.example.com", "format": "json"}]}, "needs hmacKeyEnv"),
    ({"webhooks": [{"url": "https://a.example.com", "hmacKey": "short-key"}]}, "at least 16"),
    ({"webhooks": [{"url": "https://a.example.com", "hmacKeyEnv": "NO_SUCH_VAR_X"}]}, "not set"),
    ({"webhooks": [{"url": "https://a.example.com", "format": "teams"}]}, "slack or json"),
    ({"webhooks": [{"url": "https://a.example.com", "timeoutSeconds": 0}]}, "timeoutSeconds"),
    ({"webhooks": [{"url": "https://a.example.com", "caBundle": "/no/such.pem"}]},
     "caBundle '/no/such.pem' does not exist"),
    ({"webhooks": ["https://a.example.com"] * 6}, "at most 5"),
    ({"webhooks": []}, "at least one"),
    ({"onSuccess": "yes", "webhooks": ["https://a.example.com"]}, "true or false"),
    ({"webhooks": ["https://a.example.com"], "environment": ""}, "environment"),
    ({"webhooks": ["https://a.example.com"], "environment": "x" * 101}, "environment"),
    ({"webhooks": ["https://a.example.com"], "environment": "a\nb"}, "environment"),
    # a URL pasted as a key is not repeated
    ({f"https://hooks.example.com/{PATH_TOKEN}": 1}, "a key that is not a name"),
    (42, "must be an object"),
    ("{not json", "not valid JSON"),
    ("https://exa mple.com/x", "spaces"),
    ("https://[::1/x", "not a valid URL"),
    ("https://hooks.example.com:0/x", "port"),
]  # fmt: skip


@pytest.mark.parametrize(("notify", "words"), BAD)
def test_bad_config_is_refused_clearly(notify: object, words: str) -> None:
    """``parse_notify`` is deploy's check: it refuses, naming the setting, never the URL
    or the key."""
    with pytest.raises(NotifyConfigError) as info:
        parse_notify(notify)
    message = str(info.value)
    assert words in message and message.startswith("notify: ")
    assert isinstance(info.value, SettingsError) and info.value.code == "INVALID_NOTIFY"
    for secret in (HOOK_PASSWORD, "short-key", KEY, PATH_TOKEN):
        assert secret not in message


def test_the_action_reads_what_is_good_and_names_what_is_not(ca_file: str) -> None:
    """``read_notify`` is the action's reading: a bad webhook silences itself only."""
    config, problems = read_notify(
        {
            "webhooks": [
                "http://plain.example.com/x",
                {"url": "https://good.example.com/y", "caBundle": ca_file},
                {"url": "https://c.example.com", "caBundle": "/no/such.pem"},
            ],
            "environment": "stage",
        }
    )
    assert [h.shown for h in config.webhooks] == ["https://good.example.com"]
    assert config.environment == "stage"
    assert [p.split(":")[1].strip() for p in problems] == ["webhook 1", "webhook 3"]
    nothing, [problem] = read_notify(42)
    assert not nothing and "must be an object" in problem
    assert read_notify(None) == (NotifyConfig(), [])


# -- sending ----------------------------------------------------------------------------------


def _config(box: Inbox, ca_file: str, **hook: Any) -> NotifyConfig:
    return parse_notify(
        {"webhooks": [{"url": box.url(f"/hook/{PATH_TOKEN}"), "caBundle": ca_file, **hook}]}
    )


CONTEXT = Context(
    environment="prod-kr",
    region="KR",
    endpoint="https://ocapi-kr.ncloud.com",
    action="/ncp/rotator",
    activation_id="act-0123",
    job="b6827faa41ae",
    trigger="schedule",
)


def test_a_failure_reaches_slack_and_a_signed_json_receiver(
    ca: trustme.CA, ca_file: str, leak_guard: LeakGuard
) -> None:
    leaked = "leaked-value-in-message-77"
    logs.REDACTOR.register(leaked)
    result = {**FAILED, "error": {**FAILED["error"], "message": f"oops {leaked}"}}
    with inbox(ca, leak_guard) as slack_box, inbox(ca, leak_guard) as json_box:
        config = parse_notify(
            [
                {"url": slack_box.url(f"/s/{PATH_TOKEN}"), "caBundle": ca_file},
                {"url": json_box.url("/j"), "caBundle": ca_file, "hmacKey": KEY},
            ]
        )
        failed = send(
            config, result, deadline=Deadline.after(10), secret_name="app-db", context=CONTEXT
        )
    assert failed == []
    [slack] = slack_box.posts
    text = slack.payload["text"]
    assert "app-db" in text and "sid-1" in text and "TARGET_UNREACHABLE" in text
    assert "What to do:" in text and "python -m rotation check sid-1" in text
    assert "[prod-kr]" in text and "b6827faa41ae" in text and "act-0123" in text
    assert "trigger `schedule`" in text
    assert "[REDACTED]" in text and leaked not in slack.body.decode()
    [signed] = json_box.posts
    assert signed.signed_with(KEY)
    body = signed.payload
    assert set(body) == FIELDS
    assert (
        body["event"] == "rotation.failed" and signed.headers["X-Rotation-Event"] == body["event"]
    )
    assert body["secretId"] == "sid-1" and body["secretName"] == "app-db"
    assert body["code"] == "TARGET_UNREACHABLE" and "check sid-1" in body["advice"]
    assert body["leftForRetry"] is False and isinstance(body["sentAt"], int)
    assert (body["environment"], body["region"], body["endpoint"], body["action"]) == (
        "prod-kr", "KR", "https://ocapi-kr.ncloud.com", "/ncp/rotator",
    )  # fmt: skip
    assert (body["activationId"], body["job"], body["trigger"]) == (
        "act-0123", "b6827faa41ae", "schedule",
    )  # fmt: skip
    assert body["warnings"] == []
    assert leaked not in signed.body.decode()
    sent = _events(leak_guard, "notify.sent")
    assert {line["to"] for line in sent} == {slack_box.base, json_box.base}
    assert all(line["attempts"] == 1 for line in sent)
    assert all(PATH_TOKEN not in json.dumps(line) for line in sent)


def test_which_results_notify(ca: trustme.CA, ca_file: str) -> None:
    """Failures and jobs left running always; a success with warnings always (no
    ``onSuccess`` needed); a plain success only with ``onSuccess``; a skip never."""
    left = {
        **FAILED,
        "leftForRetry": True,
        "error": {"code": "ROTATION_INCOMPLETE", "message": "x"},
    }
    rotated = {"ok": True, "secretId": "sid-1", "outcome": "rotated"}
    warned = {
        **rotated,
        "warnings": [{"code": "TARGET_AUTH_NOT_ENFORCED", "message": "trust auth"}],
    }
    skipped = {
        "ok": True,
        "secretId": "sid-1",
        "outcome": "skipped",
        "reason": {"code": "JOB_NOT_RUNNING", "message": "done"},
        "warnings": [{"code": "RECONCILED", "message": "x"}],
    }
    with inbox(ca) as box:
        quiet = _config(box, ca_file, hmacKey=KEY)
        for result in (rotated, skipped):
            assert send(quiet, result, deadline=Deadline.after(10)) == []
        assert box.posts == []
        send(quiet, left, deadline=Deadline.after(10))
        send(quiet, warned, deadline=Deadline.after(10))
        loud = parse_notify({"webhooks": quiet_hooks(box, ca_file), "onSuccess": True})
        send(loud, rotated, deadline=Deadline.after(10))
        send(loud, skipped, deadline=Deadline.after(10))
    events = [p.payload["event"] for p in box.posts]
    assert events == ["rotation.left_for_retry", "rotation.succeeded", "rotation.succeeded"]
    assert "resume" in box.posts[0].payload["advice"] and box.posts[0].payload["leftForRetry"]
    warning = box.posts[1].payload
    assert [w["code"] for w in warning["warnings"]] == ["TARGET_AUTH_NOT_ENFORCED"]
    assert "pg_hba.conf" in warning["warnings"][0]["advice"]
    assert warning["advice"] == warning["warnings"][0]["advice"]
    assert box.posts[2].payload["advice"] is None and box.posts[2].payload["warnings"] == []


def quiet_hooks(box: Inbox, ca_file: str) -> list[dict[str, Any]]:
    return [{"url": box.url("/j"), "caBundle": ca_file, "hmacKey": KEY}]


def test_each_kind_of_failure_is_retried_or_not_and_reported(
    ca: trustme.CA, ca_file: str, leak_guard: LeakGuard
) -> None:
    """A 5xx, a timeout and a refused connection get every attempt; a TLS failure and a
    4xx (the receiver refuses us: another try will not change its mind) get one. Each
    webhook not reached is one NOTIFY_FAILED warning naming its host only. Webhooks are
    posted to side by side: the stalled one does not hold up the others."""
    dead = f"https://127.0.0.1:{free_port()}/hook/{PATH_TOKEN}"
    with (
        inbox(ca) as refusing,
        inbox(ca) as stalled,
        inbox(ca) as untrusted,
        inbox(ca) as forbidding,
    ):
        refusing.status, stalled.delay, forbidding.status = 500, 30.0, 403
        config = parse_notify(
            [
                {"url": refusing.url(f"/r/{PATH_TOKEN}"), "caBundle": ca_file},
                {"url": stalled.url("/s"), "caBundle": ca_file, "timeoutSeconds": 0.5},
                {"url": dead, "caBundle": ca_file},
                {"url": untrusted.url("/u")},  # the system store does not know the test CA
                {"url": forbidding.url(f"/f/{PATH_TOKEN}"), "caBundle": ca_file},
            ]
        )
        started = time.monotonic()
        warnings = send(config, FAILED, deadline=Deadline.after(20))
        took = time.monotonic() - started
        counts = [len(box.posts) for box in (refusing, stalled, untrusted, forbidding)]
    # the slowest alone: 3 timeouts of 0.5 s and 1.5 s of backoff (plus a loaded machine)
    assert took < 6
    assert counts == [MAX_ATTEMPTS, MAX_ATTEMPTS, 0, 1]
    hosts = [
        refusing.base,
        stalled.base,
        dead.split("/hook", maxsplit=1)[0],
        untrusted.base,
        forbidding.base,
    ]
    assert [w["code"] for w in warnings] == ["NOTIFY_FAILED"] * 5
    for warning, host in zip(warnings, hosts, strict=True):
        assert f"alert to {host} was not delivered" in warning["message"]
    reasons = [w["message"].split("delivered: ")[1] for w in warnings]
    assert reasons[0] == "HTTP 500 after 3 attempts"
    assert reasons[1] == "ReadTimeout after 3 attempts"
    assert reasons[2] == "ConnectionError after 3 attempts"
    assert reasons[3].startswith("SSLError (not retried")
    assert reasons[4].startswith("HTTP 403 (not retried")
    failed = {line["to"]: line for line in _events(leak_guard, "notify.failed")}
    assert {to: (line.get("status") or line.get("error"), line["attempts"])
            for to, line in failed.items()} == {
        hosts[0]: (500, 3), hosts[1]: ("ReadTimeout", 3), hosts[2]: ("ConnectionError", 3),
        hosts[3]: ("SSLError", 1), hosts[4]: (403, 1),
    }  # fmt: skip
    retries = _events(leak_guard, "notify.retry")
    assert sorted((line["to"], line["attempt"], line["wait_s"]) for line in retries) == sorted(
        (host, n, wait) for host in hosts[:3] for n, wait in ((1, 0.5), (2, 1.0))
    )
    text = json.dumps([*warnings, *failed.values(), *retries])
    assert PATH_TOKEN not in text and "/hook" not in text


def test_retries_stop_before_the_deadline(
    ca: trustme.CA, ca_file: str, leak_guard: LeakGuard
) -> None:
    """A receiver that never answers, with a timeout longer than the time left: the
    attempts are cut to the deadline, and the warning says the deadline came first."""
    with inbox(ca) as stalled:
        stalled.delay = 30.0
        config = _config(stalled, ca_file, timeoutSeconds=30)
        started = time.monotonic()
        [warning] = send(config, FAILED, deadline=Deadline.after(2.0))
        took = time.monotonic() - started
    assert took < 2.0 + 1.0  # a request ends by the deadline (slack: a loaded machine)
    assert warning["code"] == "NOTIFY_FAILED"
    assert "ReadTimeout" in warning["message"] and "deadline came first" in warning["message"]


def test_no_time_left_skips_the_post(ca: trustme.CA, ca_file: str, leak_guard: LeakGuard) -> None:
    with inbox(ca) as box:
        [warning] = send(_config(box, ca_file), FAILED, deadline=Deadline.after(0.1))
    assert box.posts == []
    assert [line["reason"] for line in _events(leak_guard, "notify.skipped")] == ["deadline"]
    assert warning["code"] == "NOTIFY_FAILED" and "no time was left" in warning["message"]


# -- through the action -----------------------------------------------------------------------


def _hook(box: Inbox, ca_file: str, **extra: Any) -> dict[str, Any]:
    return {"url": box.url(f"/alerts/{PATH_TOKEN}"), "hmacKey": KEY, "caBundle": ca_file, **extra}


def _recent(iso: str) -> bool:
    """An ISO-8601 UTC time (``...Z``) within the last minute."""
    assert iso.endswith("Z")
    when = datetime.fromisoformat(iso[:-1]).replace(tzinfo=UTC)
    return timedelta(0) <= datetime.now(UTC) - when < timedelta(minutes=1)


def test_the_action_alerts_a_failure_with_everything_on_call_needs(
    ca: trustme.CA,
    ca_file: str,
    emu: Emulator,
    client: SecretManagerClient,
    leak_guard: LeakGuard,
    no_runtime_env: pytest.MonkeyPatch,
) -> None:
    """A failing rotation posts once: environment, secret, job fingerprint, activation,
    trigger kind (an operator's Execute Rotation Job: ``manual``), time, code, message,
    what to do; the rotation's own result is what it is without notify."""
    no_runtime_env.setenv("__OW_ACTIVATION_ID", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    no_runtime_env.setenv("__OW_ACTION_NAME", "/ncp/rotator")
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    with inbox(ca, leak_guard) as box:
        result = invoke(emu, sid, token, policy=FAILING_POLICY, notify=[_hook(box, ca_file)])
    assert result["error"]["code"] == "INVALID_POLICY" and result["job"] == "failed"
    assert "warnings" not in result
    [post] = box.posts
    assert post.signed_with(KEY)
    body = post.payload
    assert set(body) == FIELDS
    assert body["event"] == "rotation.failed" and body["secretId"] == sid
    assert body["secretName"] == client.get_secret(sid).secret_name
    assert body["code"] == "INVALID_POLICY" and "policy" in body["advice"]
    assert body["message"] == result["error"]["message"]
    assert body["job"] == logs.fingerprint(token) and token not in post.body.decode()
    assert body["activationId"] == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert body["action"] == "/ncp/rotator" and body["region"] == "KR"
    host = emu.endpoint.split("://", 1)[1].split("/", 1)[0]
    assert body["endpoint"] == f"http://{host}"
    assert body["environment"] == f"KR {host} /ncp/rotator"
    assert body["trigger"] == "manual" and _recent(body["time"])
    assert sum(1 for _ in _events(leak_guard, "notify.sent")) == 1


def test_a_success_with_warnings_is_alerted_without_on_success(
    ca: trustme.CA,
    ca_file: str,
    emu: Emulator,
    client: SecretManagerClient,
    redis_server: Redis,
    leak_guard: LeakGuard,
    no_runtime_env: pytest.MonkeyPatch,
) -> None:
    """A Redis ``nopass`` user accepts any password: the rotation succeeds with
    TARGET_AUTH_NOT_ENFORCED, and both webhooks hear it although ``onSuccess`` is off,
    with the warning, its advice and the configured environment label. No value of the
    secret reaches either receiver."""
    user, old = unique("rot_notify"), password()
    logs.REDACTOR.register(old)
    redis_server.create_user(user, old, ("~*", "+@all", "nopass"))
    value = {"engine": "redis", "host": redis_server.host, "port": redis_server.port,
             "username": user, "password": old, "ssl": "disable"}  # fmt: skip
    sid, token = executed_job(emu, client, value=value)
    with inbox(ca, leak_guard) as signed, inbox(ca, leak_guard) as chat:
        notify = {
            "webhooks": [_hook(signed, ca_file), {"url": chat.url("/c"), "caBundle": ca_file}],
            "environment": "prod-kr",
        }
        result = invoke(emu, sid, token, notify=notify)
    assert result["ok"] and result["outcome"] == "rotated", result
    assert _codes(result) == ["TARGET_AUTH_NOT_ENFORCED"]
    [post] = signed.posts
    body = post.payload
    assert body["event"] == "rotation.succeeded" and body["environment"] == "prod-kr"
    assert [w["code"] for w in body["warnings"]] == ["TARGET_AUTH_NOT_ENFORCED"]
    assert "Redis ACL" in body["advice"] and body["code"] is None
    [message] = chat.posts
    text = message.payload["text"]
    assert "[prod-kr]" in text and "succeeded with warnings" in text
    assert "TARGET_AUTH_NOT_ENFORCED" in text and "What to do:" in text
    new = client.get_secret_values(sid).active
    assert new is not None and new["password"] != old
    for received in (post.body.decode(), message.body.decode()):
        assert new["password"] not in received and old not in received


#: Bad notify settings as the action may be deployed with them (the console, an old
#: deploy, a CA file that is not inside Cloud Functions): the rotation runs regardless.
NEVER_BLOCKS = [
    ("http", "http://hooks.example.com/x", "https"),
    ("credentials", f"https://u:{HOOK_PASSWORD}@hooks.example.com/x", "user:password"),
    ("unknown-key", {"webhook": "https://hooks.example.com/x"}, "webhook"),
    ("json-without-key", {"webhooks": [{"url": "https://hooks.example.com/x", "format": "json"}]},
     "hmacKey"),
    ("number", 5, "notify"),
    ("host-space", "https://hooks example.com/x", "spaces"),
    ("port-range", "https://hooks.example.com:0/x", "port"),
    ("ca-bundle-missing", {"webhooks": [{"url": "https://hooks.example.com/x",
                                         "caBundle": "/var/task/certs/ops-ca.pem"}]},
     "caBundle '/var/task/certs/ops-ca.pem' does not exist"),
    ("ca-bundle-not-pem", {"webhooks": [{"url": "https://hooks.example.com/x",
                                         "caBundle": "$FILE"}]}, "PEM"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("notify", "words"), [pytest.param(n, w, id=i) for i, n, w in NEVER_BLOCKS]
)
def test_a_bad_notify_setting_never_blocks_the_rotation(
    notify: Any,
    words: str,
    emu: Emulator,
    client: SecretManagerClient,
    leak_guard: LeakGuard,
    tmp_path: Path,
) -> None:
    """The rotation completes; the result and the log carry NOTIFY_INVALID naming the
    setting, never a URL's secret parts."""
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("hello")
    if isinstance(notify, dict) and notify.get("webhooks"):
        notify["webhooks"][0] = {**notify["webhooks"][0]}
        if notify["webhooks"][0].get("caBundle") == "$FILE":
            notify["webhooks"][0]["caBundle"] = str(not_pem)
    leak_guard.registered.add(HOOK_PASSWORD)
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    result = invoke(emu, sid, token, notify=notify)
    assert result["ok"] and result["outcome"] == "rotated" and result["job"] == "completed"
    [warning] = result["warnings"]
    assert warning["code"] == "NOTIFY_INVALID" and words in warning["message"]
    assert warning["message"].startswith("notify: ")
    [line] = _events(leak_guard, "notify.invalid")
    assert line["code"] == "NOTIFY_INVALID" and line["problem"] == warning["message"]
    assert line["secret_id"] == sid and line["job"] == logs.fingerprint(token)
    assert HOOK_PASSWORD not in json.dumps(result)
    assert client.get_secret_values(sid).active != {"password": "initial-Pw-123"}


def test_a_bad_webhook_does_not_silence_the_good_one(
    ca: trustme.CA, ca_file: str, emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """A success is alerted because of the bad webhook's warning: the receiver that works
    hears that the other one is broken."""
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    with inbox(ca, leak_guard) as box:
        notify = [{"url": "https://hooks.example.com/x", "caBundle": "/no/such.pem"},
                  _hook(box, ca_file)]  # fmt: skip
        result = invoke(emu, sid, token, notify=notify)
    assert result["ok"] and _codes(result) == ["NOTIFY_INVALID"]
    assert "webhook 1: caBundle" in result["warnings"][0]["message"]
    [post] = box.posts
    assert post.payload["event"] == "rotation.succeeded"
    assert [w["code"] for w in post.payload["warnings"]] == ["NOTIFY_INVALID"]
    assert "python -m deploy" in post.payload["advice"]


def test_a_receiver_down_twice_then_up_gets_the_alert(
    ca: trustme.CA, ca_file: str, emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """Two 503s (a proxy whose backend is down), then up: delivered on the third attempt,
    the same alert (same ``alertId``) signed afresh each time; no warning."""
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    with inbox(ca, leak_guard) as box:
        box.answers.extend([503, 503])
        result = invoke(emu, sid, token, policy=FAILING_POLICY, notify=[_hook(box, ca_file)])
    assert result["error"]["code"] == "INVALID_POLICY" and "warnings" not in result
    assert len(box.posts) == 3 and all(p.signed_with(KEY) for p in box.posts)
    assert len({p.payload["alertId"] for p in box.posts}) == 1
    assert [line["attempt"] for line in _events(leak_guard, "notify.retry")] == [1, 2]
    [sent] = _events(leak_guard, "notify.sent")
    assert sent["attempts"] == 3 and sent["status"] == 200


def test_a_receiver_down_for_good_is_a_warning_within_the_deadline(
    ca: trustme.CA,
    ca_file: str,
    emu: Emulator,
    client: SecretManagerClient,
    leak_guard: LeakGuard,
    no_runtime_env: pytest.MonkeyPatch,
) -> None:
    """Nothing listening, and a receiver that never answers: the rotation's outcome is
    the same as without notify, each webhook is a NOTIFY_FAILED warning (host only), and
    the action returns before its deadline, with the margin kept."""
    timeout = 5.0
    dead = f"https://127.0.0.1:{free_port()}/hook/{PATH_TOKEN}"
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    with inbox(ca, leak_guard) as stalled:
        stalled.delay = 30.0
        notify = [_hook(stalled, ca_file, timeoutSeconds=30), {"url": dead, "caBundle": ca_file}]
        result = invoke(
            emu, sid, token, policy=FAILING_POLICY, notify=notify, timeoutSeconds=timeout
        )
    assert (result["ok"], result["outcome"], result["job"]) == (False, "failed", "failed")
    assert result["error"]["code"] == "INVALID_POLICY"
    # the margin is kept (slack for a loaded machine, still short of the deadline)
    assert result["durationMs"] < (timeout - EXIT_MARGIN_SECONDS + 1.0) * 1000
    assert _codes(result) == ["NOTIFY_FAILED", "NOTIFY_FAILED"]
    slow, down = (w["message"] for w in result["warnings"])
    assert f"to {stalled.base} was not delivered" in slow and "deadline came first" in slow
    assert f"to {dead.split('/hook', maxsplit=1)[0]} was not delivered: ConnectionError" in down
    assert PATH_TOKEN not in json.dumps(result)
    [end] = _events(leak_guard, "rotation.end")
    assert end["ok"] is False and end["error_code"] == "INVALID_POLICY"


def test_alerts_from_the_runtime_say_how_each_job_was_triggered(
    ca: trustme.CA, ca_file: str, emu: Emulator, leak_guard: LeakGuard
) -> None:
    """The deployed handler, run by the trigger like the runtime runs it: an operator's
    Execute Rotation Job is ``manual``, Retry Rotation Job ``retry``, the schedule
    ``schedule``; each alert names its own activation and the action."""
    with inbox(ca, leak_guard) as box:
        action = emu.handler_action(
            unique_name("rotator"),
            {"policy": FAILING_POLICY, "notify": {"webhooks": [_hook(box, ca_file)]}},
            timeout_ms=30_000,
        )
        trigger = emu.add_trigger(unique_name("trigger"), action)
        with emu.client() as client:
            sid = create_secret(
                client, value={"password": "initial-Pw-123"}, trigger_id=trigger.trigger_id
            ).secret_id
            client.execute_rotation_job(sid)
            emu.wait_idle(timeout=60)
            client.retry_rotation_job(sid)
            emu.wait_idle(timeout=60)
        assert emu.backend.fire_scheduled(sid) is not None
        emu.wait_idle(timeout=60)
    runs = [a for a in emu.activations if a.secret_id == sid]
    assert [a.result["error"]["code"] for a in runs] == ["INVALID_POLICY"] * 3
    bodies = [p.payload for p in box.posts]
    assert [b["trigger"] for b in bodies] == ["manual", "retry", "schedule"]
    assert [b["activationId"] for b in bodies] == [a.activation_id for a in runs]
    assert all(b["action"] == f"/ncp/{action.name}" for b in bodies)
    assert len({b["job"] for b in bodies}) == 3 and all(p.signed_with(KEY) for p in box.posts)


def _readme_receiver() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = text.split("<!-- notify-receiver:begin -->\n", 1)[1].split("<!-- notify-", 1)[0]
    return block.removeprefix("```python\n").rsplit("```", 1)[0]


def test_the_readme_receiver_verifies_our_alerts(
    ca: trustme.CA,
    ca_file: str,
    leak_guard: LeakGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's example receiver, run as written (TLS put in front of it, as the README
    says): it accepts our signed alert and prints what on-call needs, and refuses the same
    alert signed with another key."""
    monkeypatch.setenv("NOTIFY_KEY", KEY)
    receiver: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(_readme_receiver(), "README.md receiver", "exec"), receiver)
    server = receiver["HTTPServer"](("127.0.0.1", 0), receiver["Alerts"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/alerts"
        ours = parse_notify([{"url": url, "hmacKey": KEY, "caBundle": ca_file}])
        theirs = parse_notify(
            [{"url": url, "hmacKey": "another-key-0123456789", "caBundle": ca_file}]
        )
        assert send(ours, FAILED, deadline=Deadline.after(10), context=CONTEXT) == []
        [refused] = send(theirs, FAILED, deadline=Deadline.after(10), context=CONTEXT)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
    assert "HTTP 401 (not retried" in refused["message"]
    printed = [line for line in leak_guard.read()[0].splitlines() if line.startswith("[")]
    assert printed == [
        "[prod-kr] rotation.failed sid-1 TARGET_UNREACHABLE job b6827faa41ae: "
        "check the network route and TLS settings (python -m rotation check sid-1), then "
        "python -m rotation retry sid-1"
    ]


def test_a_dry_run_checks_and_changes_nothing(emu: Emulator, client: SecretManagerClient) -> None:
    """``dryRun: true``: the checks of ``python -m rotation check``, no job token needed,
    no job started, nothing written."""
    sid, _ = executed_job(emu, client, value={"password": "initial-Pw-123"})
    before = client.get_secret_values(sid)
    emu.stats.reset()
    result = invoke(emu, sid, None, dryRun=True)
    assert result["outcome"] == "checked" and result["ok"] is True, result
    assert {line["check"] for line in result["checks"]} >= {"api", "secret", "value", "login"}
    written = {"start_rotation_job", "update_pending_stage", "complete_rotation_job",
               "fail_rotation_job", "update_secret_value"}  # fmt: skip
    assert not written & set(emu.stats.calls)
    assert client.get_secret_values(sid) == before
    bad = invoke(emu, sid, None, dryRun=True, policy={"length": 2})
    assert bad["ok"] is False and bad["outcome"] == "checked"
    assert invoke(emu, sid, None, dryRun="yes")["error"]["code"] == "INVALID_PARAMETER"
