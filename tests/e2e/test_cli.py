"""``python -m rotation`` as an operator runs it: a separate process, real HTTP, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from rotation.ncp.models import RotationPhase
from rotation.ncp.secretmanager import SecretManagerClient
from tests.factories import create_secret, executed_job, job_token, rotatable_secret
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
VALUE = {"engine": "store-only", "username": "app", "password": "cli-initial-Pw-1"}


def cli(
    emu: Emulator,
    guard: LeakGuard,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "NCLOUD_ACCESS_KEY": emu.access_key,
        "NCLOUD_SECRET_KEY": emu.secret_key,
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "rotation", "--endpoint", emu.endpoint, *args],
        cwd=ROOT, input=stdin, capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip
    guard.observe("cli stdout", result.stdout)
    guard.observe("cli stderr", result.stderr)
    return result


def test_secret_create_from_stdin_then_show(emu: Emulator, leak_guard: LeakGuard) -> None:
    trigger = emu.backend.register_trigger("t1")
    created = cli(
        emu, leak_guard, "secret", "create", "--name", "cli-db", "--targets", "password",
        "--memo", "from the cli", "--auto-rotation", "--period", "45",
        "--trigger-id", trigger.trigger_id, "--json",
        stdin=json.dumps(VALUE),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    assert data["secretName"] == "cli-db" and data["autoRotationPeriod"] == 45
    shown = cli(emu, leak_guard, "secret", "show", data["secretId"])
    assert shown.returncode == 0
    for field in ("secretId", "secretStatus", "rotationPhase", "nextRotationDate", "protectionKey"):
        assert field in shown.stdout
    assert "45 days" in shown.stdout
    as_json = json.loads(cli(emu, leak_guard, "secret", "show", data["secretId"], "--json").stdout)
    assert as_json["rotationPhase"] == "NONE" and as_json["memo"] == "from the cli"
    listed = cli(emu, leak_guard, "secret", "list")
    assert "cli-db" in listed.stdout


def test_secret_create_from_a_file(emu: Emulator, leak_guard: LeakGuard, tmp_path: Path) -> None:
    path = tmp_path / "value.json"
    path.write_text(json.dumps(VALUE))
    result = cli(emu, leak_guard, "secret", "create", "--name", "filed", "--targets", "password",
                 "--value-file", str(path))  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("stdin", "args", "message"),
    [
        ("not json", ("--targets", "password"), "JSON object"),
        ("[1]", ("--targets", "password"), "JSON object"),
        (json.dumps(VALUE), ("--targets", "token"), "rotation target"),
    ],
)
def test_secret_create_refuses_bad_values(
    emu: Emulator, leak_guard: LeakGuard, stdin: str, args: tuple[str, ...], message: str
) -> None:
    result = cli(emu, leak_guard, "secret", "create", "--name", "bad1", *args, stdin=stdin)
    assert result.returncode in (2, 3)
    assert message in result.stderr
    assert "cli-initial-Pw-1" not in result.stderr


def test_value_is_never_a_flag(emu: Emulator, leak_guard: LeakGuard) -> None:
    result = cli(
        emu, leak_guard, "secret", "create", "--name", "x12", "--targets", "p", "--value", "{}"
    )
    assert result.returncode == 2


def test_values_are_masked_unless_revealed(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid = create_secret(client, value=dict(VALUE)).secret_id
    masked = cli(emu, leak_guard, "secret", "values", sid)
    assert masked.returncode == 0
    assert "****" in masked.stdout and "cli-initial-Pw-1" not in masked.stdout
    assert '"username": "app"' in masked.stdout
    masked_json = json.loads(cli(emu, leak_guard, "secret", "values", sid, "--json").stdout)
    assert masked_json["active"]["password"] == "****"
    leak_guard.allow("cli-initial-Pw-1")
    revealed = cli(emu, leak_guard, "secret", "values", sid, "--reveal")
    assert "cli-initial-Pw-1" in revealed.stdout


def test_rotate_follows_the_job_to_the_end(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.add_trigger("rot", emu.handler_action("rotator"))
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done" in result.stdout and "rotationPhase NONE" in result.stdout
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    assert client.get_secret_values(sid).previous == VALUE


def test_rotate_exit_code_says_failed(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    def failing_action(params: dict[str, Any]) -> dict[str, Any]:
        with emu.client() as api:
            api.start_rotation_job(params["secretId"], params["jobToken"])
            api.fail_rotation_job(params["secretId"], params["jobToken"])
        return {"ok": False}

    trigger = emu.add_callable_trigger("broken", failing_action)
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.1")
    assert result.returncode == 1
    assert "FAILED" in result.stdout


def test_rotate_times_out_when_nothing_runs_the_job(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid = rotatable_secret(emu, client, value=dict(VALUE)).secret_id  # nothing runs its jobs
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.1", "--timeout", "0.5")
    assert result.returncode == 4
    assert "still NONE" in result.stdout  # nothing started the job: not in progress (docs)


def test_api_errors_and_missing_credentials(emu: Emulator, leak_guard: LeakGuard) -> None:
    missing = cli(emu, leak_guard, "secret", "show", "f" * 64)
    assert missing.returncode == 3 and "HTTP 404" in missing.stderr
    no_keys = cli(emu, leak_guard, "secret", "list", env={"NCLOUD_SECRET_KEY": ""})
    assert no_keys.returncode == 2 and "NCLOUD_SECRET_KEY" in no_keys.stderr
    wrong = cli(emu, leak_guard, "triggers", env={"NCLOUD_SECRET_KEY": "wrong-secret-key-1"})
    assert wrong.returncode == 3 and "Authentication Failed" in wrong.stderr


def test_triggers_lists_actions_and_links(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.add_trigger("rot", emu.handler_action("rotator"))
    create_secret(client, trigger_id=trigger.trigger_id)
    result = cli(emu, leak_guard, "triggers")
    assert "rot" in result.stdout and "actions: rotator" in result.stdout
    assert "secrets: 1" in result.stdout


WELL_FORMED = {
    "scheduled-rotation.json": "rotated",
    "manual-execution.json": "rotated",
}
MALFORMED = {
    "malformed-missing-job-token.json": "MISSING_JOB_TOKEN",
    "malformed-unknown-target.json": "UNKNOWN_TARGET_KIND",
    "malformed-policy.json": "INVALID_POLICY",
    "malformed-target-not-object.json": "INVALID_TARGET",
}


@pytest.mark.parametrize("event", list(WELL_FORMED))
def test_invoke_well_formed_events(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, event: str
) -> None:
    sid, token = executed_job(emu, client, value=dict(VALUE))
    result = cli(emu, leak_guard, "invoke", "--event", str(EVENTS / event), "--secret-id", sid,
                 f"--job-token={token}")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] and data["outcome"] == WELL_FORMED[event]
    log_lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"rotation.begin", "rotation.end"} <= {line["event"] for line in log_lines}
    if event == "manual-execution.json":  # it asks for 40-character values
        active = client.get_secret_values(sid).active
        assert active is not None and len(active["password"]) == 40


def test_invoke_retry_after_failure_event(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid, token = executed_job(emu, client, value=dict(VALUE))
    client.start_rotation_job(sid, token)
    client.update_pending_stage(sid, token, {**VALUE, "password": "failed-job-candidate"})
    client.fail_rotation_job(sid, token)
    client.retry_rotation_job(sid)
    result = cli(emu, leak_guard, "invoke", "--event", str(EVENTS / "retry-after-failure.json"),
                 "--secret-id", sid, f"--job-token={job_token(client, sid)}")  # fmt: skip
    assert json.loads(result.stdout)["outcome"] == "resumed"


@pytest.mark.parametrize("event", list(MALFORMED))
def test_invoke_malformed_events(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, event: str
) -> None:
    sid, token = executed_job(emu, client, value=dict(VALUE))
    overrides = ["--secret-id", sid]
    if event != "malformed-missing-job-token.json":
        overrides += [f"--job-token={token}"]  # a token may start with "-"
    emu.stats.reset()
    result = cli(emu, leak_guard, "invoke", "--event", str(EVENTS / event), *overrides)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["error"]["code"] == MALFORMED[event]
    for op in ("update_pending_stage", "add_pending_stage", "complete_rotation_job"):
        assert emu.stats.calls[op] == 0, op  # ended as failed (or never found), untouched
    assert data["job"] in {"failed", "unknown"}


def test_every_event_file_is_documented() -> None:
    readme = (EVENTS / "README.md").read_text()
    files = sorted(p.name for p in EVENTS.glob("*.json"))
    assert files == sorted([*WELL_FORMED, *MALFORMED, "retry-after-failure.json"])
    for name in files:
        assert f"`{name}`" in readme
        json.loads((EVENTS / name).read_text())
