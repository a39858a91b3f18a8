"""Acting on jobs from the CLI: see why, retry, cancel, resume, rollback, pause, unpause.

Each refusal is checked to have changed nothing (the secret's state and chain are the
same before and after), each change to say what changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from emulator import Emulator
from rotation.cli.advice import advice_for
from rotation.ncp.models import RotationPhase
from rotation.ncp.secretmanager import SecretManagerClient
from tests.databases import free_port
from tests.deployed import deploy
from tests.e2e.clirun import as_json, cli
from tests.factories import create_secret, job_token, unique_name
from tests.leaks import LeakGuard

VALUE = {"username": "app", "password": "jobs-initial-Pw-1"}


def state(client: SecretManagerClient, sid: str) -> tuple[Any, ...]:
    """Everything a command could change."""
    d = client.get_secret(sid)
    chain = client.get_secret_values(sid)
    return (
        d.status,
        d.rotation_phase,
        d.auto_rotation,
        d.auto_rotation_period,
        chain.previous,
        chain.active,
        chain.pending,
    )


def idle_secret(emu: Emulator, client: SecretManagerClient, **kw: Any) -> str:
    """A secret whose trigger runs no action: a raised job just stays running."""
    trigger = emu.backend.register_trigger(unique_name("idle"))
    value = kw.pop("value", dict(VALUE))
    return create_secret(client, value=value, trigger_id=trigger.trigger_id, **kw).secret_id


def unreachable_db_secret(emu: Emulator, client: SecretManagerClient) -> str:
    target = {"kind": "postgresql", "host": "127.0.0.1", "port": free_port(), "ssl": "disable"}
    trigger_id, _ = deploy(emu, {"target": target})
    return create_secret(client, value=dict(VALUE), trigger_id=trigger_id).secret_id


# -- see why ----------------------------------------------------------------------------------


def test_a_failed_rotate_says_why_and_what_to_do(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid = unreachable_db_secret(emu, client)
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.2")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "FAILED" in out and "rotationPhase ROTATION_FAILED" in out
    assert "code:       TARGET_UNREACHABLE" in out
    assert "could not connect to postgresql at 127.0.0.1:" in out  # names host and port
    assert f"what to do: {advice_for('TARGET_UNREACHABLE')}".replace("SECRET_ID", sid) in out
    assert f"python -m rotation check {sid}" in out
    assert "log (activation " in out and "target.probe status=error" in out
    assert "rotation.end error_code=TARGET_UNREACHABLE" in out
    data = as_json(cli(emu, leak_guard, "retry", sid, "--interval", "0.2", "--json"))
    error = data["error"]
    assert error["source"].startswith("activation ") and error["logs"]
    # The retried job finds the first run's pending value and cannot ask the database
    # whether it holds it: failing could discard the only stored copy, so the job is left
    # for a resume, and the CLI says so at once.
    assert data["outcome"] == "left running", data
    assert error["leftForRetry"] and error["code"] == "ROTATION_INCOMPLETE"
    assert "TARGET_UNREACHABLE" in error["message"]
    assert f"resume {sid}" in error["advice"] and "do not cancel" in error["advice"]
    assert data["seconds"] < 30


def test_a_job_the_action_leaves_running_is_reported_not_waited_for(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger_id, _ = deploy(emu, {"policy": {"length": 2}})
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger_id).secret_id
    started = time.monotonic()
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.2", "--timeout", "60")
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INVALID_POLICY" in result.stdout and "what to do:" in result.stdout
    assert not client.get_secret(sid).rotating  # bad input ends the job as failed


# -- retry ------------------------------------------------------------------------------------


def test_retry_reruns_a_failed_job_and_refuses_otherwise(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    calls: list[str] = []

    def flaky(params: dict[str, Any]) -> dict[str, Any]:
        sid, token = params["secretId"], params["jobToken"]
        calls.append(token)
        with emu.client() as api:
            chain = api.start_rotation_job(sid, token)
            if len(calls) == 1:
                api.fail_rotation_job(sid, token)
                return {
                    "ok": False,
                    "secretId": sid,
                    "error": {"code": "TARGET_SET_FAILED", "message": "refused"},
                }
            assert chain.active is not None
            api.update_pending_stage(
                sid, token, chain.active.replace({"password": "retried-Pw-22"})
            )
            api.complete_rotation_job(sid, token)
        return {"ok": True, "secretId": sid, "outcome": "rotated"}

    leak_guard.registered.add("retried-Pw-22")
    trigger = emu.add_callable_trigger(unique_name("flaky"), flaky)
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    assert cli(emu, leak_guard, "rotate", sid, "--interval", "0.1").returncode == 1
    retried = cli(emu, leak_guard, "retry", sid, "--interval", "0.1")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "done" in retried.stdout and len(set(calls)) == 2  # a new job, a new token
    before = state(client, sid)
    again = cli(emu, leak_guard, "retry", sid)
    assert (
        again.returncode == 2 and "did not fail" in again.stderr and f"rotate {sid}" in again.stderr
    )
    assert state(client, sid) == before


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_refuses_when_a_pending_value_is_stored(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid = idle_secret(emu, client)
    nothing = cli(emu, leak_guard, "cancel", sid)
    assert nothing.returncode == 2 and "nothing to cancel" in nothing.stderr
    client.execute_rotation_job(sid)
    plain = cli(emu, leak_guard, "cancel", sid)
    assert plain.returncode == 0 and "cancelled rotation job" in plain.stdout
    assert "rotationPhase NONE" in plain.stdout and "discarded" not in plain.stdout
    client.execute_rotation_job(sid)
    token = job_token(client, sid)
    client.start_rotation_job(sid, token)
    client.update_pending_stage(sid, token, {**VALUE, "password": "pending-Pw-333"})
    before = state(client, sid)
    refused = cli(emu, leak_guard, "cancel", sid)
    assert refused.returncode == 2 and f"resume {sid}" in refused.stderr
    assert state(client, sid) == before
    forced = as_json(cli(emu, leak_guard, "cancel", sid, "--force", "--json"))
    assert forced["pendingDiscarded"] is True and forced["rotationPhase"] == "NONE"
    assert client.get_secret_values(sid).pending is None


# -- resume -----------------------------------------------------------------------------------


def test_resume_here_finishes_the_running_job(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, tmp_path: Path
) -> None:
    sid = idle_secret(emu, client)
    refused = cli(emu, leak_guard, "resume", sid)
    assert refused.returncode == 2 and "no rotation job running" in refused.stderr
    client.execute_rotation_job(sid)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"secretKey": "not-from-here-123", "policy": {"length": 20}}))
    leak_guard.registered.add("not-from-here-123")
    bad = cli(emu, leak_guard, "resume", sid, "--params", str(params))
    assert bad.returncode == 2 and "must not set secretKey" in bad.stderr
    params.write_text(json.dumps({"policy": {"length": 20}}))
    result = cli(emu, leak_guard, "resume", sid, "--params", str(params))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in this process: outcome rotated" in result.stdout
    assert '"event":"rotation.end"' in result.stderr  # the action's log lines, on stderr
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    chain = client.get_secret_values(sid)
    assert chain.previous == VALUE and chain.active is not None
    assert len(chain.active["password"]) == 20


def test_resume_here_uses_the_deployed_actions_settings(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """Without --params, a resume here runs with what the deployed action would use (its
    policy here); when no deployed action can be read it refuses rather than guess."""
    _, action = deploy(emu, {"policy": {"length": 24}})
    sid = idle_secret(emu, client)
    client.execute_rotation_job(sid)
    unread = cli(emu, leak_guard, "resume", sid)
    assert unread.returncode == 2 and "--params FILE" in unread.stderr
    assert client.get_secret_values(sid).previous is None  # nothing was run
    result = cli(emu, leak_guard, "resume", sid, "--action", action)
    assert result.returncode == 0, result.stdout + result.stderr
    chain = client.get_secret_values(sid)
    assert chain.active is not None and len(chain.active["password"]) == 24


def test_resume_remote_invokes_the_deployed_action(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    _, action = deploy(emu)
    sid = idle_secret(emu, client)
    client.execute_rotation_job(sid)  # raised; nothing runs it, so it never starts
    unnamed = cli(emu, leak_guard, "resume", sid, "--remote")
    assert unnamed.returncode == 2 and "runs no action" in unnamed.stderr
    emu.stats.reset()
    result = cli(emu, leak_guard, "resume", sid, "--remote", "--action", action, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = as_json(result)
    assert data["ok"] and data["outcome"] == "rotated" and data["secretId"] == sid
    assert emu.stats.calls["invoke_action"] == 1
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE


# -- rollback ---------------------------------------------------------------------------------


def test_rollback_warns_for_a_single_user_database(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, tmp_path: Path
) -> None:
    value = {**VALUE, "engine": "postgresql", "host": "db.internal"}
    sid = idle_secret(emu, client, value=value)
    none = cli(emu, leak_guard, "rollback", sid)
    assert none.returncode == 2 and "no previous value" in none.stderr
    client.update_secret_values(sid, previous={**value, "password": "older-Pw-4444"})
    before = state(client, sid)
    refused = cli(emu, leak_guard, "rollback", sid)
    assert refused.returncode == 2
    assert "the postgresql user keeps the password set by the last rotation" in refused.stderr
    assert state(client, sid) == before
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"target": {"strategy": "alternating-users"}}))
    safe = cli(emu, leak_guard, "rollback", sid, "--params", str(params))
    assert safe.returncode == 0 and "rolled back" in safe.stdout and "warning" not in safe.stderr
    chain = client.get_secret_values(sid)
    assert chain.active is not None and chain.active["password"] == "older-Pw-4444"
    assert chain.previous is None


def test_rollback_of_a_store_only_secret(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.add_trigger(unique_name("t"), emu.handler_action(unique_name("rot")))
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    assert cli(emu, leak_guard, "rotate", sid, "--interval", "0.1").returncode == 0
    result = as_json(cli(emu, leak_guard, "rollback", sid, "--json"))
    assert result["targetWarning"] is None and "rolled back" in result["changed"]
    assert client.get_secret_values(sid).active == VALUE


# -- pause / unpause --------------------------------------------------------------------------


def test_pause_and_unpause(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.backend.register_trigger(unique_name("t"))
    sid = create_secret(
        client,
        value=dict(VALUE),
        trigger_id=trigger.trigger_id,
        auto_rotation=True,
        auto_rotation_period=30,
    ).secret_id
    paused = cli(emu, leak_guard, "pause", sid)
    assert paused.returncode == 0 and "is now off (was every 30 days)" in paused.stdout
    assert client.get_secret(sid).auto_rotation is False
    again = cli(emu, leak_guard, "pause", sid)
    assert again.returncode == 0 and "already off: nothing changed" in again.stdout
    assert f"`unpause {sid} --period 30` turns it back on" in paused.stdout
    before = state(client, sid)
    unknown = cli(emu, leak_guard, "unpause", sid)  # an off secret shows no period
    assert unknown.returncode == 2 and "give --period DAYS" in unknown.stderr
    assert "no longer shows its period" in unknown.stderr  # why (issue 17)
    assert "would use NCP's default (90 days), not the previous one" in unknown.stderr
    assert state(client, sid) == before
    on = cli(emu, leak_guard, "unpause", sid, "--period", "30")
    assert on.returncode == 0 and "is on: every 30 days, next rotation 20" in on.stdout
    weekly = as_json(cli(emu, leak_guard, "unpause", sid, "--period", "7", "--json"))
    assert weekly["period"] == 7 and client.get_secret(sid).auto_rotation_period == 7
    bad = cli(emu, leak_guard, "unpause", sid, "--period", "0")
    assert bad.returncode == 2 and "1 to 730 days" in bad.stderr
    orphan = create_secret(client, value=dict(VALUE)).secret_id
    before = state(client, orphan)
    refused = cli(emu, leak_guard, "unpause", orphan, "--period", "30")
    assert refused.returncode == 2 and "no rotation trigger" in refused.stderr
    assert state(client, orphan) == before


def test_unpause_keeps_the_period_secret_manager_still_shows(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """Where Get Secret Detail still shows the period of a paused secret (NCP documents it
    only for autoRotationYN=Y; the emulator shows it when told to), unpause keeps it."""
    trigger = emu.backend.register_trigger(unique_name("t"))
    sid = create_secret(
        client,
        value=dict(VALUE),
        trigger_id=trigger.trigger_id,
        auto_rotation=True,
        auto_rotation_period=45,
    ).secret_id
    on = cli(emu, leak_guard, "unpause", sid)  # on already, same period: nothing to do
    assert on.returncode == 0 and "already on (every 45 days): nothing changed" in on.stdout
    assert cli(emu, leak_guard, "pause", sid).returncode == 0
    emu.backend.detail_extra["autoRotationPeriod"] = 45  # still shown while off
    back = as_json(cli(emu, leak_guard, "unpause", sid, "--json"))
    assert back["autoRotation"] is True and back["period"] == 45
    detail = client.get_secret(sid)
    assert detail.auto_rotation and detail.auto_rotation_period == 45
