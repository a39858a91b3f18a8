"""handler.main against the emulator over HTTP: the rotation steps, bad input, resume,
faults and deadlines. The handler runs in-process here so faults can be timed exactly;
tests/e2e runs it the way the runtime does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import handler
from emulator import Emulator
from rotation.ncp.models import RotationPhase, SecretStatus
from rotation.ncp.secretmanager import SecretManagerClient
from tests.factories import create_secret, executed_job, invoke, job_token

JOB_OPERATIONS = {
    "start_rotation_job", "add_pending_stage", "update_pending_stage", "generate_random_secret",
    "complete_rotation_job", "fail_rotation_job",
}  # fmt: skip
VALUE = {"engine": "store-only", "username": "app", "password": "initial-Pw-123", "port": 5432}


def execute(emu: Emulator, client: SecretManagerClient, **kwargs: Any) -> tuple[str, str]:
    kwargs.setdefault("value", dict(VALUE))
    return executed_job(emu, client, **kwargs)


def job_calls(emu: Emulator) -> int:
    return sum(n for op, n in emu.stats.calls.items() if op in JOB_OPERATIONS)


def steps(result: dict[str, Any]) -> list[str]:
    return [s["step"] for s in result["steps"]]


def test_rotation_shifts_the_chain_once(emu: Emulator, client: SecretManagerClient) -> None:
    sid, token = execute(emu, client)
    result = invoke(emu, sid, token)
    assert result["ok"] is True, result
    assert result["outcome"] == "rotated"
    assert result["secretId"] == sid
    assert steps(result) == [
        "guard",
        "start",
        "preflight",
        "pending",
        "set",
        "test",
        "complete",
        "verify",
    ]
    assert result["durationMs"] > 0
    assert result["job"] == "completed"
    assert "error" not in result and "leftForRetry" not in result
    chain = client.get_secret_values(sid)
    assert chain.previous == VALUE
    assert chain.pending is None
    assert chain.active is not None
    assert {k: v for k, v in chain.active.items() if k != "password"} == {
        k: v for k, v in VALUE.items() if k != "password"
    }
    new = chain.active["password"]
    assert new != VALUE["password"] and len(new) == 32
    assert not set(new) & set("/@\"'\\:;`&+% ")
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.NONE and detail.status is SecretStatus.ENABLE
    assert emu.stats.calls["complete_rotation_job"] == 1
    assert new not in json.dumps(result)


def test_a_rotation_uses_one_connection_and_few_calls(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    emu.stats.reset()
    assert invoke(emu, sid, token)["ok"]
    assert emu.stats.connections == 1
    assert dict(emu.stats.calls) == {  # the five of ARCHITECTURE.md, nothing else
        "get_secret_detail": 1,
        "start_rotation_job": 1,
        "update_pending_stage": 1,
        "complete_rotation_job": 1,
        "get_secret_value": 1,
    }


BAD_PARAMETERS = {
    "no job token": ({"jobToken": None}, "MISSING_JOB_TOKEN"),
    "no secret id": ({"secretId": None}, "MISSING_SECRET_ID"),
    "secret id ..": ({"secretId": ".."}, "INVALID_SECRET_ID"),
    "secret id of a million characters": ({"secretId": "s" * 1_000_000}, "INVALID_SECRET_ID"),
    "job token with a slash": ({"jobToken": "tok/complete"}, "INVALID_JOB_TOKEN"),
    "target not an object": ({"target": ["store-only"]}, "INVALID_TARGET"),
    "endpoint not a URL": ({"secretManagerEndpoint": "nowhere"}, "INVALID_ENDPOINT"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMETERS), ids=list(BAD_PARAMETERS))
def test_bad_parameters_fail_clearly_and_make_no_call(
    emu: Emulator, client: SecretManagerClient, case: str
) -> None:
    """Before the ids and the key pair are known good, nothing can be ended: no call."""
    sid, token = execute(emu, client)
    changes, code = BAD_PARAMETERS[case]
    args = {"secretId": sid, "jobToken": token, **changes}
    emu.stats.reset()
    result = invoke(emu, args.pop("secretId"), args.pop("jobToken"), **args)
    assert result["ok"] is False
    assert result["outcome"] == "failed"
    assert result["error"]["code"] == code
    assert result["error"]["message"] and result["error"]["action"]
    assert sum(emu.stats.calls.values()) == 0
    assert client.get_secret_values(sid).active == VALUE


BAD_CONFIGURATION = {
    "unknown target kind": ({"target": {"kind": "oracle"}}, "UNKNOWN_TARGET_KIND"),
    "store-only with settings": ({"target": {"kind": "store-only", "host": "x"}}, "INVALID_TARGET"),
    "bad policy type": ({"policy": {"length": "long"}}, "INVALID_POLICY"),
    "unknown policy knob": ({"policy": {"excludeVowels": True}}, "INVALID_POLICY"),
    "policy too short": ({"policy": {"length": 2}}, "INVALID_POLICY"),
}


def assert_ended_untouched(emu: Emulator, client: SecretManagerClient, sid: str) -> None:
    """The job was ended as failed, and nothing was generated, stored or promoted."""
    assert emu.stats.calls["fail_rotation_job"] == 1
    for op in ("update_pending_stage", "add_pending_stage", "complete_rotation_job"):
        assert emu.stats.calls[op] == 0, op
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED
    chain = client.get_secret_values(sid)
    assert chain.active == VALUE and chain.pending is None


@pytest.mark.parametrize("case", list(BAD_CONFIGURATION), ids=list(BAD_CONFIGURATION))
def test_bad_configuration_ends_the_job_as_failed_and_changes_nothing(
    emu: Emulator, client: SecretManagerClient, case: str
) -> None:
    sid, token = execute(emu, client)
    changes, code = BAD_CONFIGURATION[case]
    emu.stats.reset()
    result = invoke(emu, sid, token, **changes)
    assert result["ok"] is False
    assert result["outcome"] == "failed"
    assert result["job"] == "failed"
    assert "leftForRetry" not in result
    assert result["error"]["code"] == code
    assert result["error"]["message"]
    assert_ended_untouched(emu, client, sid)


def _corrupt(
    emu: Emulator, sid: str, *, active: str | None = None, targets: list[str] | None = None
) -> None:
    secret = emu.backend.secrets[sid]
    if active is not None:
        secret.chain["active"] = active
    if targets is not None:
        secret.rotation_targets = targets


@pytest.mark.parametrize(
    ("active", "targets", "code"),
    [
        ('"just text"', None, "VALUE_NOT_JSON_OBJECT"),
        ("[1, 2]", None, "VALUE_NOT_JSON_OBJECT"),
        ("not json", None, "VALUE_NOT_JSON_OBJECT"),
        (None, ["password", "apiKey"], "ROTATION_TARGET_MISSING"),
        (None, ["port"], "ROTATION_TARGET_NOT_TEXT"),
    ],
)
def test_bad_stored_values_end_the_job_untouched(
    emu: Emulator,
    client: SecretManagerClient,
    active: str | None,
    targets: list[str] | None,
    code: str,
) -> None:
    sid, token = execute(emu, client)
    _corrupt(emu, sid, active=active, targets=targets)  # state the API itself would refuse
    emu.stats.reset()
    result = invoke(emu, sid, token)
    assert result["error"]["code"] == code, result
    assert result["job"] == "failed"
    assert emu.stats.calls["fail_rotation_job"] == 1
    for op in ("update_pending_stage", "add_pending_stage", "complete_rotation_job"):
        assert emu.stats.calls[op] == 0, op


@pytest.mark.parametrize("status", ["DISABLE", "REVOKE", "DESTROYED"])
def test_refused_statuses(emu: Emulator, client: SecretManagerClient, status: str) -> None:
    sid, token = execute(emu, client)
    emu.backend.secrets[sid].status = status
    emu.stats.reset()
    result = invoke(emu, sid, token)
    assert result["error"]["code"] == "SECRET_NOT_ROTATABLE"
    assert status in result["error"]["message"]
    assert result["job"] in {"failed", "ended"}  # ended one way or the other, and said so
    assert "leftForRetry" not in result
    for op in ("update_pending_stage", "add_pending_stage", "complete_rotation_job"):
        assert emu.stats.calls[op] == 0, op


def test_unknown_secret_and_wrong_keys(emu: Emulator) -> None:
    assert invoke(emu, "f" * 64, "tok")["error"]["code"] == "SECRET_NOT_FOUND"
    result = handler.main(
        {"secretId": "x", "jobToken": "y", "secretManagerEndpoint": emu.endpoint,
         "accessKey": emu.access_key, "secretKey": "wrong-secret-key-value"}
    )  # fmt: skip
    assert result["error"]["code"] == "AUTHENTICATION_FAILED"
    assert "NCP_SECRETMANAGER_MANAGER" in result["error"]["message"]


def test_resume_reuses_a_pending_value_left_by_a_crashed_run(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    client.start_rotation_job(sid, token)
    left = {**VALUE, "password": "left-by-crash-123"}
    client.update_pending_stage(sid, token, left)  # ... and then the first run died
    result = invoke(emu, sid, token)
    assert result["outcome"] == "resumed", result
    assert client.get_secret_values(sid).active == left
    assert emu.stats.calls["update_pending_stage"] == 1  # nothing regenerated


def test_a_pending_value_that_changes_nothing_is_replaced(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    emu.backend.secrets[sid].chain["pending"] = json.dumps(VALUE)  # same as active: no candidate
    result = invoke(emu, sid, token)
    assert result["outcome"] == "rotated"
    assert client.get_secret_values(sid).active != VALUE


def test_retry_after_rotation_failed(emu: Emulator, client: SecretManagerClient) -> None:
    sid, token = execute(emu, client)
    client.start_rotation_job(sid, token)
    client.update_pending_stage(sid, token, {**VALUE, "password": "from-failed-job-1"})
    client.fail_rotation_job(sid, token)
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED
    client.retry_rotation_job(sid)
    result = invoke(emu, sid, job_token(client, sid))
    assert result["ok"] and result["outcome"] == "resumed"
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE


def test_a_second_delivery_after_completion_is_skipped(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    assert invoke(emu, sid, token)["outcome"] == "rotated"
    active = client.get_secret_values(sid).active
    again = invoke(emu, sid, token)
    assert again["ok"] is True and again["outcome"] == "skipped"
    assert again["reason"]["code"] == "JOB_NOT_RUNNING"
    assert client.get_secret_values(sid).active == active


def test_unknown_job_token_fails(emu: Emulator, client: SecretManagerClient) -> None:
    sid, _ = execute(emu, client)
    result = invoke(emu, sid, "not-a-real-token")
    assert result["error"]["code"] == "JOB_NOT_FOUND"


def test_regional_prefix() -> None:
    with Emulator(prefix="/secretmanager") as emu, emu.client() as client:
        sid, token = execute(emu, client)
        assert emu.endpoint.endswith("/secretmanager")
        result = invoke(emu, sid, token)
        assert result["ok"], result


def test_transient_api_errors_are_retried(emu: Emulator, client: SecretManagerClient) -> None:
    sid, token = execute(emu, client)
    emu.faults.add("start_rotation_job", status=503, times=2)
    emu.faults.add("update_pending_stage", drop=True)
    emu.faults.add("get_secret_detail", status=429, retry_after=0.05)
    result = invoke(emu, sid, token)
    assert result["ok"], result
    assert emu.stats.calls["start_rotation_job"] == 3


def test_lost_answer_to_complete_is_confirmed_not_undone(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    emu.faults.add("complete_rotation_job", lose_response=True)
    result = invoke(emu, sid, token)
    assert result["ok"] is True, result
    assert result["outcome"] == "rotated"
    assert client.get_secret_values(sid).previous == VALUE
    assert emu.stats.calls["fail_rotation_job"] == 0


def test_complete_that_keeps_failing_is_never_rolled_back(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """A 5xx may come from a gateway in front of a complete that still lands: the job is
    left for a resume (never failed, never rolled back), and the resume converges."""
    sid, token = execute(emu, client)
    emu.faults.add("complete_rotation_job", status=500, times=200)
    result = invoke(emu, sid, token, timeoutSeconds=6)
    assert result["ok"] is False
    assert result["error"]["code"] == "COMPLETE_UNCONFIRMED"
    assert result["job"] == "running" and result["leftForRetry"] is True
    assert result["leftForRetryReason"]
    assert emu.stats.calls["fail_rotation_job"] == 0
    chain = client.get_secret_values(sid)
    assert chain.active == VALUE and chain.pending is not None
    emu.faults.clear()
    again = invoke(emu, sid, token)
    assert again["ok"] and again["outcome"] == "resumed", again
    assert client.get_secret_values(sid).active == chain.pending


def test_complete_unconfirmable_leaves_the_job_for_a_retry(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    emu.faults.add("complete_rotation_job", status=503, times=200)
    emu.faults.add("get_secret_value", status=503, times=200)
    result = invoke(emu, sid, token, timeoutSeconds=6)
    assert result["ok"] is False
    assert result["error"]["code"] == "COMPLETE_UNCONFIRMED"
    assert result["leftForRetry"] is True
    assert emu.stats.calls["fail_rotation_job"] == 0
    emu.faults.clear()
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATING
    pending = client.get_secret_values(sid).pending
    again = invoke(emu, sid, token)  # the retry the result asked for
    assert again["outcome"] == "resumed", again
    assert client.get_secret_values(sid).active == pending


def test_start_failure_reports_fail(emu: Emulator, client: SecretManagerClient) -> None:
    sid, token = execute(emu, client)
    emu.faults.add("start_rotation_job", status=500, times=20)
    result = invoke(emu, sid, token)
    assert result["error"]["code"] == "API_UNAVAILABLE"
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_deadline_stops_retrying_early_enough_to_report(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = execute(emu, client)
    emu.faults.add("update_pending_stage", delay=3.0, times=5)
    started = time.monotonic()
    result = invoke(emu, sid, token, timeoutSeconds=2)
    assert time.monotonic() - started < 2.5
    assert result["ok"] is False
    assert result["error"]["code"] == "DEADLINE_EXCEEDED"
    assert emu.stats.calls["fail_rotation_job"] == 1  # reported within the reserve
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_service_generates_the_pending_value(emu: Emulator, client: SecretManagerClient) -> None:
    sid, token = execute(emu, client)
    result = invoke(emu, sid, token, policy={"generator": "service"})
    assert result["ok"], result
    assert emu.stats.calls["add_pending_stage"] == 1
    assert emu.stats.calls["update_pending_stage"] == 0
    active = client.get_secret_values(sid).active
    assert active is not None and len(active["password"]) == 12


def test_service_random_per_key(emu: Emulator, client: SecretManagerClient) -> None:
    value = {"password": "initial-Pw-123", "apiKey": "initial-key-456"}
    sid, token = execute(emu, client, value=value, targets=("password", "apiKey"))
    policy = {"generator": "service-random", "length": 20, "keys": {"apiKey": {"length": 30}}}
    result = invoke(emu, sid, token, policy=policy)
    assert result["ok"], result
    assert emu.stats.calls["generate_random_secret"] == 2
    active = client.get_secret_values(sid).active
    assert active is not None
    assert len(active["password"]) == 20 and len(active["apiKey"]) == 30
    assert " " not in active["password"]  # our policy turns the service's includeSpace off


def test_per_key_local_policies(emu: Emulator, client: SecretManagerClient) -> None:
    value = {"password": "initial-Pw-123", "apiKey": "initial-key-456", "user": "app"}
    sid, token = execute(emu, client, value=value, targets=("password", "apiKey"))
    policy = {"length": 24, "keys": {"apiKey": {"kind": "hex", "length": 64}}}
    assert invoke(emu, sid, token, policy=policy)["ok"]
    active = client.get_secret_values(sid).active
    assert active is not None
    assert len(active["password"]) == 24
    assert len(active["apiKey"]) == 64 and set(active["apiKey"]) <= set("0123456789abcdef")
    assert active["user"] == "app"


def test_environment_supplies_ids_and_credentials(
    emu: Emulator, client: SecretManagerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, token = execute(emu, client)
    monkeypatch.setenv("__OW_SECRETID", sid)
    monkeypatch.setenv("__OW_JOBTOKEN", token)
    monkeypatch.setenv("NCLOUD_ACCESS_KEY", emu.access_key)
    monkeypatch.setenv("NCLOUD_SECRET_KEY", emu.secret_key)
    monkeypatch.setenv("NCLOUD_SECRET_MANAGER_ENDPOINT", emu.endpoint)
    monkeypatch.setenv("__OW_ACTIVATION_ID", "act-from-env")
    assert handler.main({})["ok"]


def test_handler_never_raises(emu: Emulator, client: SecretManagerClient) -> None:
    result = handler.main(None)  # type: ignore[arg-type]
    assert result["ok"] is False and result["error"]["code"] == "INVALID_INPUT"
    sid, token = execute(emu, client)
    result = invoke(emu, sid, token, target={"kind": "webhook"})  # webhook without settings
    assert result["ok"] is False and result["error"]["code"] == "INVALID_TARGET"
    sid = create_secret(client).secret_id
    result = invoke(emu, sid, "tok")  # no job: nothing to end
    assert result["error"]["code"] == "JOB_NOT_FOUND" and result["job"] == "unknown"
