from __future__ import annotations

import json
import re

import pytest
import structlog

from rotation import logs
from rotation.ncp.models import SecretValue
from tests.leaks import LeakGuard, find_leaks


def lines(guard: LeakGuard) -> list[dict[str, object]]:
    out, _ = guard.read()
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_lines_are_json_with_iso_utc_time_and_context(leak_guard: LeakGuard) -> None:
    logs.start_invocation(secret_id="sid-1", job=logs.fingerprint("tok"), activation_id="act-1")
    logs.log.info("rotation.start", step="start", duration_ms=1.5)
    [line] = lines(leak_guard)
    assert line["event"] == "rotation.start"
    assert line["secret_id"] == "sid-1" and line["activation_id"] == "act-1"
    assert line["job"] == logs.fingerprint("tok") and len(str(line["job"])) == 12
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", str(line["timestamp"]))
    assert line["level"] == "info"


def test_each_invocation_starts_with_an_empty_registry() -> None:
    logs.start_invocation()
    logs.REDACTOR.register("from-the-last-invocation")
    logs.start_invocation()
    assert logs.REDACTOR.values() == []


def test_context_is_cleared_for_each_invocation(leak_guard: LeakGuard) -> None:
    logs.start_invocation(secret_id="first", activation_id="a1")
    logs.start_invocation(secret_id="second")
    logs.log.info("x")
    [line] = lines(leak_guard)
    assert line["secret_id"] == "second"
    assert "activation_id" not in line


def test_sensitive_keys_are_redacted_at_any_depth(leak_guard: LeakGuard) -> None:
    logs.start_invocation()
    logs.log.info(
        "x",
        password="pw-123456789",
        job_token="tok-123456789",
        nested={"secretKey": "sk-123456789", "list": [{"Authorization": "Bearer abcdefghij"}]},
        secret_id="kept",
        keys=["password"],
    )
    [line] = lines(leak_guard)
    text = json.dumps(line)
    for value in ("pw-123456789", "tok-123456789", "sk-123456789", "Bearer abcdefghij"):
        assert value not in text
    assert line["secret_id"] == "kept"
    assert line["keys"] == ["password"]
    assert line["password"] == logs.REDACTED


def test_registered_values_are_scrubbed_everywhere(leak_guard: LeakGuard) -> None:
    logs.start_invocation()
    value = SecretValue({"username": "app", "password": 'p"w\\with-quotes-1', "host": "db"})
    logs.REDACTOR.register_value(value, ["password"])
    logs.log.info("x", note=f"the value is {value['password']} here", whole=value.to_json())

    def driver() -> None:
        raise RuntimeError(f"driver said: bad password {value['password']}")

    try:
        driver()
    except RuntimeError:
        logs.log.exception("boom")
    out, _ = leak_guard.read()
    assert 'p"w\\with-quotes-1' not in out
    assert json.dumps('p"w\\with-quotes-1')[1:-1] not in out
    assert "the value is [REDACTED] here" in out
    assert "driver said: bad password [REDACTED]" in out
    assert '"host":"db"' not in out  # the whole JSON text is registered too
    assert "RuntimeError" in out


def test_short_values_are_not_scrubbed_by_value() -> None:
    redactor = logs.Redactor()
    redactor.register("abc")
    assert redactor.scrub("abc abcd") == "abc abcd"
    redactor.register("abcd")
    assert redactor.scrub("abc abcd") == f"abc {logs.REDACTED}"


def test_longest_value_wins_when_values_overlap() -> None:
    redactor = logs.Redactor()
    redactor.register("secret-1")
    redactor.register("secret-12345")
    assert redactor.scrub("secret-12345") == logs.REDACTED


def test_registry_is_bounded() -> None:
    redactor = logs.Redactor()
    for i in range(logs.MAX_REGISTERED + 50):
        redactor.register(f"value-{i:06d}")
    assert len(redactor.values()) == logs.MAX_REGISTERED
    assert redactor.scrub("value-000000") == "value-000000"  # the oldest went first


def test_step_logs_duration_status_and_errors(leak_guard: LeakGuard) -> None:
    logs.start_invocation()
    with logs.step("set", "target.set") as info:
        info["skipped"] = True
    with pytest.raises(ValueError, match="nope"), logs.step("test", "target.test"):
        raise ValueError("nope")
    first, second = lines(leak_guard)
    assert first["status"] == "skipped" and first["step"] == "set"
    assert isinstance(first["duration_ms"], float)
    assert second["status"] == "error" and second["error"] == "ValueError"
    assert second["level"] == "warning"


def test_sinks_receive_rendered_lines(leak_guard: LeakGuard) -> None:
    seen: list[str] = []
    logs.add_sink(seen.append)
    try:
        logs.log.info("to-sink")
    finally:
        logs.remove_sink(seen.append)
    logs.log.info("not-to-sink")
    assert len(seen) == 1 and json.loads(seen[0])["event"] == "to-sink"
    leak_guard.read()


def test_level_filtering() -> None:
    logs.configure("WARNING")
    try:
        assert not structlog.get_logger().is_enabled_for(20)  # type: ignore[attr-defined]
    finally:
        logs.configure("DEBUG")


def test_the_leak_guard_can_fail(leak_guard: LeakGuard) -> None:
    """The guard is only worth something if it catches a leak: make one on purpose."""
    logs.REDACTOR.register("guard-probe-secret-1")
    print("oops guard-probe-secret-1 escaped")
    leak_guard.read()
    assert leak_guard.leaks() == ["stdout"]
    assert find_leaks([("x", 'json "guard-probe-secret-1"')], ["guard-probe-secret-1"]) == ["x"]
    assert find_leaks([("x", "short")], ["short"]) == []  # below the minimum length
    leak_guard.texts.clear()  # handled here: the test itself must pass
