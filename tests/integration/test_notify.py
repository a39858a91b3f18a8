"""Failure notifications, posted to a real HTTPS receiver on this machine."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme

from emulator import Emulator
from rotation import logs
from rotation.ncp.deadline import Deadline
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.notify import NotifyConfig, NotifyConfigError, parse_notify, send
from rotation.settings import SettingsError
from tests.databases import free_port
from tests.factories import executed_job, invoke
from tests.leaks import LeakGuard
from tests.webhook_receiver import serving

KEY = "notify-signing-key-0123456789"
PATH_TOKEN = "T0000/B0000/pathtokenXYZ123"
FAILED = {
    "ok": False,
    "secretId": "sid-1",
    "outcome": "failed",
    "error": {"code": "TARGET_UNREACHABLE", "message": "could not connect to db:5432"},
}


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
    """What the receiver got; ``status`` and ``delay`` shape its answers."""

    status: int = 200
    delay: float = 0.0
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
        if self.delay:
            self.release.wait(self.delay)
        return self.status, b'{"echo":"whatever was sent"}'


@contextmanager
def inbox(ca: trustme.CA) -> Iterator[Inbox]:
    with serving(ca, Inbox()) as state:
        yield state


def _log_lines(guard: LeakGuard) -> list[dict[str, Any]]:
    out, _ = guard.read()
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# -- configuration ----------------------------------------------------------------------------


def test_accepted_forms_and_defaults(ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_KEY", KEY)
    assert not parse_notify(None)
    one = parse_notify(f"https://hooks.example.com/services/{PATH_TOKEN}")
    assert [(h.format, h.shown) for h in one.webhooks] == [("slack", "https://hooks.example.com")]
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
            }
        )
    )
    slack, signed = config.webhooks
    assert config.on_success and slack.format == "slack" and slack.key is None
    assert signed.format == "json" and signed.key == KEY.encode()
    assert signed.shown == "https://b.example.com:8443" and signed.timeout_seconds == 2
    assert PATH_TOKEN not in repr(config) and KEY not in repr(config)


@pytest.mark.parametrize(
    ("notify", "words"),
    [
        ("http://hooks.example.com/x", "https://"),
        ("https://user:pa55word-xyz@hooks.example.com/x", "user:password@"),
        ({"webhooks": ["https://a.example.com"], "onSucces": True}, "unknown key onSucces"),
        ({"webhooks": [{"url": "https://a.example.com", "hmac": KEY}]}, "unknown key hmac"),
        ({"webhooks": [{"url": "https://a.example.com", "format": "json"}]}, "needs hmacKeyEnv"),
        ({"webhooks": [{"url": "https://a.example.com", "hmacKey": "short-key"}]}, "at least 16"),
        (
            {"webhooks": [{"url": "https://a.example.com", "hmacKeyEnv": "NO_SUCH_VAR_X"}]},
            "not set",
        ),
        ({"webhooks": [{"url": "https://a.example.com", "format": "teams"}]}, "slack or json"),
        ({"webhooks": [{"url": "https://a.example.com", "timeoutSeconds": 0}]}, "timeoutSeconds"),
        ({"webhooks": [{"url": "https://a.example.com", "caBundle": "/no/such.pem"}]}, "caBundle"),
        ({"webhooks": ["https://a.example.com"] * 6}, "at most 5"),
        ({"webhooks": []}, "at least one"),
        ({"onSuccess": "yes", "webhooks": ["https://a.example.com"]}, "true or false"),
        (42, "must be an object"),
        ("{not json", "not valid JSON"),
        ("https://exa mple.com/x", "spaces"),
        ("https://[::1/x", "not a valid URL"),
    ],
)
def test_bad_config_is_refused_clearly(notify: object, words: str) -> None:
    with pytest.raises(NotifyConfigError) as info:
        parse_notify(notify)
    message = str(info.value)
    assert words in message and message.startswith("notify: ")
    assert isinstance(info.value, SettingsError) and info.value.code == "INVALID_NOTIFY"
    for secret in ("pa55word-xyz", "short-key", KEY):
        assert secret not in message


# -- sending ----------------------------------------------------------------------------------


def _config(box: Inbox, ca_file: str, **hook: Any) -> NotifyConfig:
    return parse_notify(
        {"webhooks": [{"url": box.url(f"/hook/{PATH_TOKEN}"), "caBundle": ca_file, **hook}]}
    )


def test_a_failure_reaches_slack_and_a_signed_json_receiver(
    ca: trustme.CA, ca_file: str, leak_guard: LeakGuard
) -> None:
    leaked = "leaked-value-in-message-77"
    logs.REDACTOR.register(leaked)
    result = {**FAILED, "error": {**FAILED["error"], "message": f"oops {leaked}"}}
    with inbox(ca) as slack_box, inbox(ca) as json_box:
        config = parse_notify(
            [
                {"url": slack_box.url(f"/s/{PATH_TOKEN}"), "caBundle": ca_file},
                {"url": json_box.url("/j"), "caBundle": ca_file, "hmacKey": KEY},
            ]
        )
        send(config, result, deadline=Deadline.after(10), secret_name="app-db")
    [slack] = slack_box.posts
    text = slack.payload["text"]
    assert "app-db" in text and "sid-1" in text and "TARGET_UNREACHABLE" in text
    assert "What to do:" in text and "python -m rotation check sid-1" in text
    assert "[REDACTED]" in text and leaked not in slack.body.decode()
    [signed] = json_box.posts
    assert signed.signed_with(KEY)
    body = signed.payload
    assert (
        body["event"] == "rotation.failed" and signed.headers["X-Rotation-Event"] == body["event"]
    )
    assert body["secretId"] == "sid-1" and body["secretName"] == "app-db"
    assert body["code"] == "TARGET_UNREACHABLE" and "check sid-1" in body["advice"]
    assert body["leftForRetry"] is False and isinstance(body["sentAt"], int)
    assert leaked not in signed.body.decode()
    sent = [line for line in _log_lines(leak_guard) if line["event"] == "notify.sent"]
    assert {line["to"] for line in sent} == {slack_box.base, json_box.base}
    assert all(PATH_TOKEN not in json.dumps(line) for line in sent)


def test_which_results_notify(ca: trustme.CA, ca_file: str) -> None:
    left = {
        **FAILED,
        "leftForRetry": True,
        "error": {"code": "ROTATION_INCOMPLETE", "message": "x"},
    }
    rotated = {"ok": True, "secretId": "sid-1", "outcome": "rotated"}
    skipped = {
        "ok": True,
        "secretId": "sid-1",
        "outcome": "skipped",
        "reason": {"code": "JOB_NOT_RUNNING", "message": "done"},
    }
    with inbox(ca) as box:
        quiet = _config(box, ca_file, hmacKey=KEY)
        for result in (rotated, skipped):
            send(quiet, result, deadline=Deadline.after(10))
        assert box.posts == []
        send(quiet, left, deadline=Deadline.after(10))
        loud = parse_notify({"webhooks": quiet_hooks(box, ca_file), "onSuccess": True})
        send(loud, rotated, deadline=Deadline.after(10))
        send(loud, skipped, deadline=Deadline.after(10))
    events = [p.payload["event"] for p in box.posts]
    assert events == ["rotation.left_for_retry", "rotation.succeeded"]
    assert "resume" in box.posts[0].payload["advice"] and box.posts[0].payload["leftForRetry"]
    assert box.posts[1].payload["advice"] is None


def quiet_hooks(box: Inbox, ca_file: str) -> list[dict[str, Any]]:
    return [{"url": box.url("/j"), "caBundle": ca_file, "hmacKey": KEY}]


def test_a_failing_notification_is_logged_and_never_raises(
    ca: trustme.CA, ca_file: str, leak_guard: LeakGuard
) -> None:
    dead = f"https://127.0.0.1:{free_port()}/hook/{PATH_TOKEN}"
    with inbox(ca) as refusing, inbox(ca) as stalled, inbox(ca) as untrusted:
        refusing.status = 500
        stalled.delay = 5.0
        config = parse_notify(
            [
                {"url": refusing.url(f"/r/{PATH_TOKEN}"), "caBundle": ca_file},
                {"url": stalled.url("/s"), "caBundle": ca_file, "timeoutSeconds": 0.5},
                {"url": dead, "caBundle": ca_file},
                {"url": untrusted.url("/u")},  # the system store does not know the test CA
            ]
        )
        started = time.monotonic()
        send(config, FAILED, deadline=Deadline.after(10))
        took = time.monotonic() - started
    assert took < 4
    failed = [line for line in _log_lines(leak_guard) if line["event"] == "notify.failed"]
    assert [line.get("status") or line.get("error") for line in failed] == [
        500,
        "ReadTimeout",
        "ConnectionError",
        "SSLError",
    ]
    assert all(PATH_TOKEN not in json.dumps(line) for line in failed)


def test_no_time_left_skips_the_post(ca: trustme.CA, ca_file: str, leak_guard: LeakGuard) -> None:
    with inbox(ca) as box:
        send(_config(box, ca_file), FAILED, deadline=Deadline.after(0.1))
    assert box.posts == []
    assert [
        line["reason"] for line in _log_lines(leak_guard) if line["event"] == "notify.skipped"
    ] == ["deadline"]


# -- through the action: the notify and dryRun parameters ------------------------------------


def test_the_action_notifies_a_failed_rotation(
    ca: trustme.CA, ca_file: str, emu: Emulator, client: SecretManagerClient
) -> None:
    """A failing rotation posts once, with the secret's name, code and what to do; the
    rotation's own result is unchanged by the notification."""
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    hook = {"url": "", "hmacKey": KEY, "caBundle": ca_file}
    with inbox(ca) as box:
        hook["url"] = box.url("/alerts")
        result = invoke(emu, sid, token, policy={"length": 2}, notify={"webhooks": [hook]})
    assert result["error"]["code"] == "INVALID_POLICY"
    [post] = box.posts
    assert post.signed_with(KEY)
    body = post.payload
    assert body["event"] == "rotation.failed" and body["secretId"] == sid
    assert body["secretName"] == client.get_secret(sid).secret_name
    assert body["code"] == "INVALID_POLICY" and "policy" in body["advice"]


def test_a_bad_notify_parameter_is_refused_before_anything_is_called(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    emu.stats.reset()
    result = invoke(emu, sid, token, notify={"webhooks": ["http://plain.example.com/x"]})
    assert result["error"]["code"] == "INVALID_NOTIFY"
    assert sum(emu.stats.calls.values()) == 0


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
