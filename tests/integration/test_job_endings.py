"""Every job ends known (issue 9): races, late answers and refusals, each checked against
the invariant. A scripted target stands in where a real system cannot be made to race on
demand; the emulator is real HTTP. After each: the target accepts a stored value, and
once the job has ended, the active one."""

from __future__ import annotations

import threading
import time

import pytest

from emulator import Emulator
from rotation.ncp.models import RotationPhase
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.targets import Change
from rotation.targets.base import TargetSetFailed, TargetUnreachable
from tests.factories import (
    Scripted,
    executed_job,
    invoke,
    job_token,
    rotate_with,
    started_job,
)

FIRST = "initial-Pw-123"


def ended_on_active(client: SecretManagerClient, sid: str, target: Scripted) -> None:
    """The invariant once the job has ended: the target accepts the stored active."""
    assert client.get_secret(sid).rotation_phase is not RotationPhase.ROTATING
    active = client.get_secret_values(sid).active
    assert active is not None and active["password"] in target.accepted


def test_another_invocation_finished_while_ours_failed(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Case 1: A's set is slow; B finishes the rotation; then A's set fails. A must not
    roll the target back to what is now previous."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    target = Scripted(accepted={FIRST}, raise_on={"set": TargetSetFailed("slow, then refused")})

    def b_finishes(_change: Change) -> None:
        client.update_pending_stage(sid, token, {"password": "b-won-the-race-1"})
        target.accepted = {"b-won-the-race-1"}  # B set its value on the target
        client.complete_rotation_job(sid, token)

    target.hooks["set"] = b_finishes
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.ok and outcome.outcome == "skipped", outcome
    assert outcome.error_code == "JOB_ENDED" and outcome.job == "ended"
    assert "rollback" not in target.calls
    assert emu.stats.calls["fail_rotation_job"] == 0
    ended_on_active(client, sid, target)


def test_a_writer_replacing_pending_before_complete_is_reconciled(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Case 4: another writer replaced pending just before complete. The result must not
    claim a rotation no stored value logs in to."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    target = Scripted(accepted={FIRST})
    target.hooks["test"] = lambda _c: client.update_pending_stage(
        sid, token, {"password": "other-writer-pw-1"}
    )
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.ok, outcome
    assert [w["code"] for w in outcome.warnings] == ["RECONCILED"]
    assert target.accepted == {"other-writer-pw-1"}
    ended_on_active(client, sid, target)


def test_a_late_complete_is_never_followed_by_a_rollback(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Case 2: complete times out and lands later. The run sends it again rather than
    rolling back, so a late landing cannot strand the target on previous."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    late = emu.faults.add("complete_rotation_job", hold=True)  # lands after the run
    target = Scripted(accepted={FIRST})
    outcome = rotate_with(emu, sid, token, target, timeout=6)
    assert outcome.ok, outcome
    assert "confirm" in [s.step for s in outcome.steps]  # the unknown outcome was confirmed
    assert "rollback" not in target.calls
    assert emu.stats.calls["fail_rotation_job"] == 0
    answered = emu.stats.calls["complete_rotation_job"]
    late.release()
    deadline = time.monotonic() + 60  # a bound for a broken run only
    while emu.stats.calls["complete_rotation_job"] == answered:  # the late one has landed
        assert time.monotonic() < deadline, "the late complete never landed"
        time.sleep(0.01)
    ended_on_active(client, sid, target)  # it was refused: the job had ended


def test_a_value_the_target_refused_is_replaced_on_retry(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """A password rule refused the pending value at set; the job failed. A Retry must not
    offer the same value again (it would be refused forever)."""
    sid, token = started_job(emu, client, value={"password": FIRST})
    refused = {"password": "refused-by-history-1"}
    client.update_pending_stage(sid, token, refused)
    client.fail_rotation_job(sid, token)
    client.retry_rotation_job(sid)
    target = Scripted(accepted={FIRST})
    outcome = rotate_with(emu, sid, job_token(client, sid), target)
    assert outcome.ok and outcome.outcome == "rotated", outcome
    active = client.get_secret_values(sid).active
    assert active is not None and active["password"] not in {FIRST, refused["password"]}
    ended_on_active(client, sid, target)


def test_a_pending_value_the_target_may_hold_is_reused(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """The earlier run died mid-set: the target refuses active and pending alike (as far
    as it can tell): the pending value is kept, never replaced by one it cannot hold."""
    sid, token = started_job(emu, client, value={"password": FIRST})
    left = {"password": "left-mid-set-123"}
    client.update_pending_stage(sid, token, left)
    target = Scripted(accepted={"something-else-entirely"})
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.ok and outcome.outcome == "resumed", outcome
    assert client.get_secret_values(sid).active == left
    ended_on_active(client, sid, target)


def test_a_403_on_a_job_call_names_the_token_not_the_key_pair(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = executed_job(emu, client, value={"password": FIRST})
    emu.faults.add("update_pending_stage", status=403)
    result = invoke(emu, sid, token)
    assert result["error"]["code"] == "JOB_TOKEN_REJECTED", result
    assert "access key pair" not in result["error"]["message"]
    assert result["job"] == "failed"  # untouched: ended as failed


@pytest.mark.parametrize("slow", ["get_secret_value", "fail_rotation_job"])
def test_the_way_out_fits_the_deadline(
    emu: Emulator, client: SecretManagerClient, slow: str
) -> None:
    """A slow API at verify or at fail: the result is still written before the deadline."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    emu.faults.add(slow, delay=10.0, times=10)
    extra = {} if slow == "get_secret_value" else {"policy": {"length": 2}}  # bad: fail
    started = time.monotonic()
    result = invoke(emu, sid, token, timeoutSeconds=3, **extra)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed
    if slow == "get_secret_value":
        assert result["ok"], result  # complete answered; only the verify read timed out
    else:
        assert result["error"]["code"] == "INVALID_POLICY"
        assert result["job"] == "running" and result["leftForRetry"] is True


def test_an_earlier_pending_value_is_never_failed_away_unprobed(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """The target cannot be asked whether it holds an earlier run's pending value: failing
    the job could discard the only stored copy of a password the target may have, so the
    job is left for a resume."""
    sid, token = started_job(emu, client, value={"password": FIRST})
    left = {"password": "maybe-on-target-1"}
    client.update_pending_stage(sid, token, left)
    target = Scripted(
        accepted={"maybe-on-target-1"},
        raise_on={"probe-pending": TargetUnreachable("db:5432 down")},
    )
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.error_code == "ROTATION_INCOMPLETE" and outcome.left_for_retry
    assert outcome.job == "running"
    assert emu.stats.calls["fail_rotation_job"] == 0
    assert client.get_secret_values(sid).pending == left  # still stored
    target.raise_on.clear()  # the database is back: a resume converges
    again = rotate_with(emu, sid, token, target)
    assert again.ok and again.outcome == "resumed", again
    ended_on_active(client, sid, target)


# -- issue 15: the three causes an explorer found, and errors nobody expected --------------


def test_a_complete_landing_just_before_fail_is_converged_onto(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Cause 1: A rolls the target back (reading the chain twice); just before its fail, a
    complete lands (another invocation of the job, or a killed activation's late one).
    fail is refused; A must read the chain and bring the target onto what is now active,
    not stop at "the job ended" with the target on previous."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    target = Scripted(accepted={FIRST}, raise_on={"test": TargetSetFailed("login refused")})
    target.hooks["rollback"] = lambda _c: target.raise_on.clear()  # a one-off refusal
    held = emu.faults.add("fail_rotation_job", hold=True)
    landed = threading.Event()

    def complete_lands() -> None:
        assert held.wait_reached(30)
        client.complete_rotation_job(sid, token)  # this run's pending becomes active
        landed.set()
        held.release()

    racer = threading.Thread(target=complete_lands)
    racer.start()
    outcome = rotate_with(emu, sid, token, target)
    racer.join(30)
    assert landed.is_set()
    assert "rollback" in target.calls  # A had rolled back before its fail
    assert outcome.job in {"completed", "ended"}, outcome
    assert not outcome.left_for_retry
    ended_on_active(client, sid, target)


@pytest.mark.parametrize(
    "unreadable",
    [
        pytest.param({"get_secret_detail": 404}, id="detail-404"),
        pytest.param(
            {"get_secret_detail": 429, "start_rotation_job": 502}, id="no-detail-no-start"
        ),
    ],
)
def test_an_earlier_pending_value_survives_a_run_that_cannot_read_the_chain(
    emu: Emulator, client: SecretManagerClient, unreadable: dict[str, int]
) -> None:
    """Cause 2: an earlier run set its pending value on a single-user target and was killed
    at complete. The resume cannot read the detail (or the detail nor start): it must not
    fail the job, since Fail may discard the only stored copy of what the target holds."""
    sid, token = started_job(emu, client, value={"password": FIRST})
    left = {"password": "set-then-killed-1"}
    client.update_pending_stage(sid, token, left)
    target = Scripted(accepted={"set-then-killed-1"})  # single user: the old one is gone
    for operation, status in unreadable.items():
        emu.faults.add(operation, status=status, times=100)
    outcome = rotate_with(emu, sid, token, target, timeout=8)
    assert emu.stats.calls["fail_rotation_job"] == 0
    assert outcome.job == "running" and outcome.left_for_retry, outcome
    assert client.get_secret_values(sid).pending == left
    emu.faults.clear()
    again = rotate_with(emu, sid, token, target)  # Secret Manager is back: resume converges
    assert again.ok and again.outcome == "resumed", again
    ended_on_active(client, sid, target)


@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_refused_start_is_told_apart_from_no_job(
    emu: Emulator, client: SecretManagerClient, status: int
) -> None:
    """Cause 3: a 4xx from start (a retried lost start, say) while the job runs is not "no
    such job": the run reads the detail and the chain, and ends the job it can end."""
    sid, token = started_job(emu, client, value={"password": FIRST})
    emu.faults.add("start_rotation_job", status=status)
    target = Scripted(accepted={FIRST})
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.job == "failed", outcome
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED
    ended_on_active(client, sid, target)


def test_a_refused_start_keeps_an_earlier_pending_value(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = started_job(emu, client, value={"password": FIRST})
    client.update_pending_stage(sid, token, {"password": "earlier-run-1"})
    emu.faults.add("start_rotation_job", status=409)
    outcome = rotate_with(emu, sid, token, Scripted(accepted={"earlier-run-1"}))
    assert outcome.job == "running" and outcome.left_for_retry, outcome
    assert emu.stats.calls["fail_rotation_job"] == 0


def test_an_unexpected_error_after_start_still_ends_the_job(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """No exception leaves the workflow without an exit: a bug-shaped error in a step
    after start ends the job (the target untouched) with a code, never a crash."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    target = Scripted(accepted={FIRST}, raise_on={"probe-pending": RecursionError("deep")})
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.error_code == "INTERNAL_ERROR", outcome
    assert outcome.job == "failed"
    ended_on_active(client, sid, target)


def test_a_set_refused_because_another_invocation_changed_the_target_is_not_failed(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Explorer seed 1006: B (same job) replaced the pending value and set it on the
    target; A's set is then refused at login, before A changed anything. Failing the job
    would strand the target on B's value, stored only as pending: A leaves it running."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    target = Scripted(
        accepted={FIRST},
        raise_on={
            "set": TargetSetFailed(
                "refused the active credentials", code="TARGET_LOGIN_REFUSED", untouched=True
            )
        },
    )

    def b_set_its_value(_change: Change) -> None:
        client.update_pending_stage(sid, token, {"password": "b-pending-1"})
        target.accepted = {"b-pending-1"}

    target.hooks["set"] = b_set_its_value
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.job == "running" and outcome.left_for_retry, outcome
    assert emu.stats.calls["fail_rotation_job"] == 0
    client.complete_rotation_job(sid, token)  # B finishes
    ended_on_active(client, sid, target)


def test_a_stored_value_the_target_no_longer_takes_still_fails_the_job(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """The same refusal with nobody else at work (the password was changed by hand): the
    pending value is this run's, never set, so the job is failed as before."""
    sid, token = executed_job(emu, client, value={"password": FIRST})
    target = Scripted(
        accepted={"changed-by-hand-1"},
        raise_on={
            "set": TargetSetFailed(
                "refused the active credentials", code="TARGET_LOGIN_REFUSED", untouched=True
            )
        },
    )
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.error_code == "TARGET_LOGIN_REFUSED" and outcome.job == "failed", outcome
