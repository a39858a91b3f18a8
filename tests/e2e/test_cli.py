"""``python -m rotation`` as an operator runs it: a separate process, real HTTP, exit codes."""

from __future__ import annotations

import itertools
import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from rotation.ncp.models import RotationPhase
from rotation.ncp.secretmanager import SecretManagerClient
from tests.e2e.clirun import ROOT, as_json, cli
from tests.factories import create_secret, executed_job, job_token, rotatable_secret
from tests.leaks import LeakGuard

EVENTS = ROOT / "events"
VALUE = {"engine": "store-only", "username": "app", "password": "cli-initial-Pw-1"}
VALUE_NAME = "app-db"
#: How long a held request may take to arrive: only a broken run waits this long.
HELD = 60.0


def test_secret_create_from_stdin_then_show(emu: Emulator, leak_guard: LeakGuard) -> None:
    trigger = emu.backend.register_trigger("t1")
    created = cli(
        emu,
        leak_guard,
        "secret",
        "create",
        "--name",
        "cli-db",
        "--targets",
        "password",
        "--memo",
        "from the cli",
        "--auto-rotation",
        "--period",
        "45",
        "--trigger-id",
        trigger.trigger_id,
        "--json",
        stdin=json.dumps(VALUE),
    )
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
    result = cli(
        emu,
        leak_guard,
        "secret",
        "create",
        "--name",
        "filed",
        "--targets",
        "password",
        "--value-file",
        str(path),
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("stdin", "args", "message"),
    [
        (b"not json", ("--targets", "password"), "JSON object"),
        (b"[1]", ("--targets", "password"), "JSON object"),
        (b"", ("--targets", "password"), "is empty"),
        (b'{"password": "cli-initial-Pw-1\xff\xfe"}', ("--targets", "password"), "UTF-8"),
        (json.dumps(VALUE).encode(), ("--targets", "token"), "rotation target 'token'"),
        (json.dumps(VALUE).encode(), ("--targets", "pass word"), "spaces"),
        (json.dumps({**VALUE, "nested": {"a": 1}}).encode(), ("--targets", "password"), "flat"),
        (json.dumps({**VALUE, "password": ""}).encode(), ("--targets", "password"), "non-empty"),
        (
            json.dumps({**VALUE, "pad": "x" * 10_000}).encode(),
            ("--targets", "password"),
            "over 10,000 bytes",
        ),
        (json.dumps(VALUE).encode(), ("--targets", "password", "--period", "0"), "1 to 730"),
        (json.dumps(VALUE).encode(), ("--targets", "password", "--auto-rotation"), "--period"),
    ],
)
def test_secret_create_refuses_bad_values_before_any_call(
    emu: Emulator,
    client: SecretManagerClient,
    leak_guard: LeakGuard,
    stdin: bytes,
    args: tuple[str, ...],
    message: str,
) -> None:
    leak_guard.registered.add("cli-initial-Pw-1")
    emu.stats.reset()
    result = cli(emu, leak_guard, "secret", "create", "--name", "bad1", *args, stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "create_secret" not in emu.stats.calls
    assert client.list_secrets().total_count == 0


def test_secret_create_on_a_terminal_says_it_is_waiting(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    controller, terminal = pty.openpty()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NCLOUD_ACCESS_KEY": emu.access_key,
        "NCLOUD_SECRET_KEY": emu.secret_key,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rotation",
            "--endpoint",
            emu.endpoint,
            "secret",
            "create",
            "--name",
            "typed",
            "--targets",
            "password",
        ],
        cwd=ROOT,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(terminal)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        assert "waiting for the secret value on stdin" in first and "Ctrl-D" in first
        os.write(controller, json.dumps(VALUE).encode() + b"\n\x04")
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
    leak_guard.observe("pty stdout", out.decode())
    leak_guard.observe("pty stderr", err.decode())
    assert proc.returncode == 0, err
    assert [s.secret_name for s in client.iter_secrets()] == ["typed"]


def test_value_is_never_a_flag(emu: Emulator, leak_guard: LeakGuard) -> None:
    leak_guard.registered.add("flag-value-Pw-123")
    result = cli(
        emu,
        leak_guard,
        "secret",
        "create",
        "--name",
        "x12",
        "--targets",
        "p",
        "--value",
        '{"p": "flag-value-Pw-123"}',
    )
    assert result.returncode == 2
    assert "--value-file FILE, or pipe it on stdin" in result.stderr


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("https://admin:hunter2-Pw-99@secretmanager.example.com", "must not carry credentials"),
        ("file:///etc/passwd", "absolute https:// URL"),
        ("http://secretmanager.example.com", "only allowed to this machine"),
        ("https://example.com/?token=hunter2-Pw-99", "query string"),
        ("https://[::1", "not a valid URL"),
    ],
)
def test_bad_endpoints_are_refused_without_echo(
    emu: Emulator, leak_guard: LeakGuard, endpoint: str, message: str
) -> None:
    leak_guard.registered.add("hunter2-Pw-99")
    result = cli(emu, leak_guard, "--endpoint", endpoint, "secret", "list")
    assert result.returncode == 2 and message in result.stderr


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
    sid = create_secret(
        client, value=dict(VALUE), trigger_id=trigger.trigger_id, secret_name=VALUE_NAME
    ).secret_id
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = result.stdout.splitlines()  # the answer only; progress went to stderr
    assert "done" in line and "rotationPhase NONE" in line
    progress = [p for p in result.stderr.splitlines() if p.startswith(f"{VALUE_NAME}: ")]
    phases = [p.split()[1] for p in progress]  # one line per phase change, not per poll
    assert phases and phases[-1] == "NONE"
    assert all(a != b for a, b in itertools.pairwise(phases)) and len(phases) <= 3
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    assert client.get_secret_values(sid).previous == VALUE
    again = as_json(cli(emu, leak_guard, "rotate", sid, "--interval", "0.1", "--json"))
    assert again["outcome"] == "completed" and again["secretId"] == sid and "error" not in again


def test_rotate_never_ends_on_a_phase_read_before_the_job_ended(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """The race the follow loop had: it reads the detail (ROTATING), the job completes,
    then it reads the log (completed). The final line must not carry that stale phase.

    Held requests stage it exactly: the action waits at complete; the CLI's next detail
    read (so ROTATING) is held, then its log read; complete goes through; the action's
    read after complete says it was answered; only then is the log read let go."""
    trigger = emu.add_trigger("rot", emu.handler_action("rotator"))
    sid = create_secret(
        client, value=dict(VALUE), trigger_id=trigger.trigger_id, secret_name=VALUE_NAME
    ).secret_id
    complete = emu.faults.add("complete_rotation_job", hold=True)
    results: list[subprocess.CompletedProcess[str]] = []
    rotate = threading.Thread(
        target=lambda: results.append(cli(emu, leak_guard, "rotate", sid, "--interval", "0.1"))
    )
    rotate.start()
    try:
        assert complete.wait_reached(HELD), "the action never reached complete"
        detail = emu.faults.add("get_secret_detail", hold=True)
        assert detail.wait_reached(HELD), "the CLI never read the detail"
        assert emu.backend.get_detail(sid)["rotationPhase"] == "ROTATING"
        log = emu.faults.add("get_secret_logs", hold=True)
        detail.release()
        assert log.wait_reached(HELD), "the CLI never read the log"
        verify = emu.faults.add("get_secret_value", hold=True)
        complete.release()
        assert verify.wait_reached(HELD), "the action never read the value after complete"
        assert emu.backend.get_detail(sid)["rotationPhase"] == "NONE"
        log.release()
        verify.release()
    finally:
        emu.faults.clear()
        rotate.join(HELD)
    assert not rotate.is_alive() and results, "the CLI did not end"
    [result] = results
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert "done" in line and "rotationPhase NONE" in line, line
    emu.wait_idle()


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
    # This emulator serves no activations: the job's entries in Secret Manager's log instead.
    assert "could not read the action's activation" in result.stderr
    assert "log (Secret Manager's log of job" in result.stdout
    assert "FAIL_ROTATION_JOB" in result.stdout and "what to do:" in result.stdout


def test_rotate_times_out_when_nothing_runs_the_job(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid = rotatable_secret(emu, client, value=dict(VALUE)).secret_id  # nothing runs its jobs
    result = cli(emu, leak_guard, "rotate", sid, "--interval", "0.1", "--timeout", "0.5")
    assert result.returncode == 4
    assert "still NONE" in result.stdout  # nothing started the job: not in progress (docs)
    assert f"resume {sid}" in result.stdout
    bad = cli(emu, leak_guard, "rotate", sid, "--timeout", "-1")
    assert bad.returncode == 2 and "above 0" in bad.stderr


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
    [listed] = as_json(cli(emu, leak_guard, "triggers", "--json"))
    assert listed["actions"] == ["rotator"] and len(listed["linkedSecrets"]) == 1


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
    result = cli(
        emu,
        leak_guard,
        "invoke",
        "--event",
        str(EVENTS / event),
        "--secret-id",
        sid,
        f"--job-token={token}",
    )
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
    result = cli(
        emu,
        leak_guard,
        "invoke",
        "--event",
        str(EVENTS / "retry-after-failure.json"),
        "--secret-id",
        sid,
        f"--job-token={job_token(client, sid)}",
    )
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


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--functions-endpoint", "file:///x", "status"), 2, "--functions-endpoint must be"),
        (("secret", "create", "--name", "bad name!", "--targets", "password"), 2, "--name must"),
        (("status", "--overdue-after", "-5"), 2, "must be 0 to 525600 minutes"),
        (("history", "ab", "--limit", "0"), 2, "must be 1 to 1000 jobs"),
        (("secret", "show", "../../etc"), 2, "not a secret id"),
        (("check", "ab", "--params", "/nonexistent.json"), 2, "cannot read --params"),
        (("invoke", "--event", "/"), 2, "cannot read the event"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    emu: Emulator, leak_guard: LeakGuard, args: tuple[str, ...], code: int, message: str
) -> None:
    emu.stats.reset()
    result = cli(emu, leak_guard, *args, stdin=json.dumps(VALUE))
    assert (result.returncode, result.stdout) == (code, "")
    assert message in result.stderr
    assert sum(emu.stats.calls.values()) == 0


def test_an_unreachable_endpoint_is_named(emu: Emulator, leak_guard: LeakGuard) -> None:
    from tests.databases import free_port  # noqa: PLC0415

    port = free_port()
    result = cli(emu, leak_guard, "--endpoint", f"http://127.0.0.1:{port}", "status")
    assert result.returncode == 3 and f"cannot reach 127.0.0.1:{port}" in result.stderr
