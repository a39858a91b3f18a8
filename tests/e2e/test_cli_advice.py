"""No message contradicts another (issue 17): every output of the commands an operator
runs on one secret, while its job stands one way, is scanned for the commands it
suggests, and none may suggest what that state forbids (``retry`` said "do not cancel the
job", then the next refusal suggested ``cancel``)."""

from __future__ import annotations

import subprocess

from emulator import Emulator
from rotation.ncp.secretmanager import SecretManagerClient
from tests.databases import free_port
from tests.deployed import deploy
from tests.e2e.clirun import as_json, cli
from tests.factories import create_secret
from tests.leaks import LeakGuard
from tests.unit.test_advice import FORBIDDEN, suggested

VALUE = {"username": "app", "password": "advice-initial-Pw-1"}


def said(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_every_command_agrees_on_what_to_do_with_the_job(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    target = {"kind": "postgresql", "host": "127.0.0.1", "port": free_port(), "ssl": "disable"}
    trigger_id, _ = deploy(emu, {"target": target})
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger_id).secret_id

    # -- the job failed (TARGET_UNREACHABLE): retry it; nothing to resume or cancel --------
    rotated = cli(emu, leak_guard, "rotate", sid, "--interval", "0.2")
    assert rotated.returncode == 1 and "code:       TARGET_UNREACHABLE" in rotated.stdout
    failed = {
        "rotate": rotated,
        "resume": cli(emu, leak_guard, "resume", sid),
        "cancel": cli(emu, leak_guard, "cancel", sid),
        "status": cli(emu, leak_guard, "status", sid),
    }
    assert [failed[c].returncode for c in ("resume", "cancel")] == [2, 2]
    for command, result in failed.items():
        assert not suggested(said(result)) & FORBIDDEN["failed"], (command, said(result))
    assert "retry" in suggested(said(failed["rotate"]) + said(failed["resume"]))

    # -- the retry finds the first run's pending value and leaves the job running ----------
    retried = cli(emu, leak_guard, "retry", sid, "--interval", "0.2", "--json")
    error = as_json(retried)["error"]
    assert error["code"] == "ROTATION_INCOMPLETE" and error["leftForRetry"], error
    assert client.get_secret_values(sid).pending is not None
    running = {
        "retry": retried,
        "retry again": cli(emu, leak_guard, "retry", sid),
        "rotate": cli(emu, leak_guard, "rotate", sid),
        "rollback": cli(emu, leak_guard, "rollback", sid),
        "secret update": cli(emu, leak_guard, "secret", "update", sid, stdin='{"a": "b"}'),
        "cancel": cli(emu, leak_guard, "cancel", sid),
        "status": cli(emu, leak_guard, "status", sid),
    }
    for command in ("retry again", "rotate", "rollback", "secret update", "cancel"):
        assert running[command].returncode == 2, (command, said(running[command]))
    everything = ""
    for command, result in running.items():
        text = said(result)
        assert not suggested(text) & FORBIDDEN["running"], (command, text)
        everything += text
    assert "resume" in suggested(everything)
    # the same advice, word for word, from the action's result and the refusals
    assert f"python -m rotation resume {sid}" in error["advice"]
    assert error["advice"] in said(running["retry again"])
    assert error["advice"] in said(running["rotate"])
