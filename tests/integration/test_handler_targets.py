"""The rotation against a target that can refuse: the webhook receiver over real HTTPS,
and a scripted target for the cases no real system produces on demand.

What every test here defends: at every instant the target accepts a credential Secret
Manager stores (active or pending), and ``fail`` is reported only once the target is seen
accepting active again.
"""

from __future__ import annotations

from typing import Any

import pytest
import trustme

from emulator import Emulator
from rotation.ncp.models import RotationPhase, Stage
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.targets import Change
from rotation.targets.base import TargetSetFailed, TargetUnreachable
from tests.factories import Scripted, executed_job, invoke, rotate_with, run_scripted, started_job
from tests.webhook_receiver import CredentialService, running

HMAC_KEY = "handler-webhook-hmac-key-01"
VALUE = {"apiKey": "active-api-key-000001", "account": "reporting"}


@pytest.fixture
def receiver(ca: trustme.CA) -> Any:
    with running(ca, HMAC_KEY, {"apiKey": VALUE["apiKey"]}) as service:
        yield service


def execute(emu: Emulator, client: SecretManagerClient) -> tuple[str, str]:
    return executed_job(emu, client, value=dict(VALUE), targets=("apiKey",))


def test_webhook_rotation_end_to_end(
    emu: Emulator, client: SecretManagerClient, receiver: CredentialService, ca_file: str
) -> None:
    sid, token = execute(emu, client)
    result = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert result["ok"], result
    assert [s["step"] for s in result["steps"]][3:] == [
        "pending", "probe", "set", "test", "complete", "verify", "finish",
    ]  # fmt: skip
    assert receiver.actions() == ["test", "set", "test", "finish"]
    assert all(r.valid for r in receiver.received)
    active = client.get_secret_values(sid).active
    assert active is not None
    assert receiver.accepted == {"apiKey": active["apiKey"]}  # the service takes the new key


def test_failed_test_rolls_back_then_reports_fail(
    emu: Emulator, client: SecretManagerClient, receiver: CredentialService, ca_file: str
) -> None:
    sid, token = execute(emu, client)
    receiver.answer_next("test", 401)  # the probe: pending is not in place yet
    receiver.answer_next("test", 401)  # the real test after set: refused
    result = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert result["ok"] is False
    assert result["error"]["code"] == "TARGET_TEST_FAILED"
    assert "leftForRetry" not in result
    assert receiver.actions() == ["test", "set", "test", "rollback", "test"]
    assert receiver.accepted == {"apiKey": VALUE["apiKey"]}  # active works again
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert client.get_secret_values(sid).active == VALUE


def test_rollback_that_cannot_be_confirmed_leaves_the_job(
    emu: Emulator, client: SecretManagerClient, receiver: CredentialService, ca_file: str
) -> None:
    sid, token = execute(emu, client)
    receiver.answer_next("test", 401)  # probe pending
    receiver.answer_next("test", 401)  # test: refused
    receiver.answer_next("rollback", 500)  # rollback refused: the service keeps pending
    result = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert result["error"]["code"] == "ROTATION_INCOMPLETE"
    assert result["leftForRetry"] is True
    assert emu.stats.calls["fail_rotation_job"] == 0
    pending = client.get_secret_values(sid).pending
    assert pending is not None
    assert receiver.accepted == {"apiKey": pending["apiKey"]}  # stored as pending: not lost
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATING
    again = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert again["ok"] and again["outcome"] == "resumed", again
    assert [s["status"] for s in again["steps"] if s["step"] == "set"] == ["skipped"]


# -- a scripted target (tests/factories.py), for states no real system produces on demand


def test_set_that_dies_midway_is_rolled_back(emu: Emulator, client: SecretManagerClient) -> None:
    target = Scripted(accepted={"initial-Pw-123"}, raise_on={"set": TargetSetFailed("lost it")})
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "TARGET_SET_FAILED"
    assert target.calls == ["probe-pending", "set", "rollback", "probe-active", "close"]
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_an_unexpected_exception_in_a_target_still_recovers(
    emu: Emulator, client: SecretManagerClient
) -> None:
    target = Scripted(accepted={"initial-Pw-123"}, raise_on={"test": KeyError("driver bug")})
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "INTERNAL_ERROR"
    assert "rollback" in target.calls
    assert target.accepted == {"initial-Pw-123"}
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_unreachable_target_after_set_leaves_the_job(
    emu: Emulator, client: SecretManagerClient
) -> None:
    gone = TargetUnreachable("connection refused")
    target = Scripted(
        accepted={"initial-Pw-123"},
        raise_on={"test": gone, "rollback": gone, "probe-active": gone},
    )
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "ROTATION_INCOMPLETE"
    assert outcome.left_for_retry
    pending = client.get_secret_values(sid).pending
    assert pending is not None and target.accepted == {pending["password"]}
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATING


def test_probe_accepting_pending_skips_set(emu: Emulator, client: SecretManagerClient) -> None:
    class AlreadySet(Scripted):
        """Already holds whatever pending value it is shown, and refuses anything else."""

        def probe(self, change: Change, stage: Stage) -> bool:
            self.calls.append("probe")
            value = change.stage(stage)
            return value is not None and value["password"] in self.accepted

    target = AlreadySet(accepted=set())
    sid, token = started_job(emu, client, value={"username": "app", "password": "first-Pw-123"})
    left = {"username": "app", "password": "left-by-crash-123"}
    client.update_pending_stage(sid, token, left)
    target.accepted = {"left-by-crash-123"}  # the crashed run had set it
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.ok and outcome.outcome == "resumed"
    assert "set" not in target.calls
    assert [s.status for s in outcome.steps if s.step == "set"] == ["skipped"]
    assert outcome.warnings == []


def test_a_target_that_accepts_any_password_is_never_trusted(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """PostgreSQL trust, a Redis nopass user: the probe says yes to everything."""

    class AcceptsAnything(Scripted):
        def probe(self, change: Change, stage: Stage) -> bool:
            self.calls.append("probe")
            return True

    target = AcceptsAnything(accepted=set())
    _, outcome = run_scripted(emu, client, target)
    assert outcome.ok
    assert "set" in target.calls
    assert [w["code"] for w in outcome.warnings] == ["TARGET_AUTH_NOT_ENFORCED"]


def test_a_target_may_ask_for_set_even_when_pending_works(
    emu: Emulator, client: SecretManagerClient
) -> None:
    class Reapplies(Scripted):
        reapply = True

        def probe(self, change: Change, stage: Stage) -> bool:
            self.calls.append("probe")
            return True

    target = Reapplies(accepted=set())
    _, outcome = run_scripted(emu, client, target)
    assert outcome.ok
    assert "set" in target.calls


def test_unreachable_before_set_fails_the_job_at_once(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Nothing was changed, so there is nothing to prove before reporting fail."""
    target = Scripted(
        accepted={"initial-Pw-123"}, raise_on={"probe-pending": TargetUnreachable("down")}
    )
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "TARGET_UNREACHABLE"
    assert not outcome.left_for_retry
    assert "rollback" not in target.calls
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_finish_failure_is_a_warning_not_a_failure(
    emu: Emulator, client: SecretManagerClient
) -> None:
    target = Scripted(
        accepted={"initial-Pw-123"}, raise_on={"finish": TargetUnreachable("old key still there")}
    )
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.ok and outcome.outcome == "rotated"
    assert [s.status for s in outcome.steps if s.step == "finish"] == ["warning"]
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
