"""The fleet view, a secret's history, ``check`` and ``secret update``, as an operator runs them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from emulator import Emulator
from rotation import logs
from rotation.ncp.secretmanager import SecretManagerClient
from tests.databases import free_port
from tests.deployed import deploy
from tests.e2e.clirun import as_json, cli
from tests.factories import create_secret, unique_name
from tests.leaks import LeakGuard

VALUE = {"username": "app", "password": "fleet-initial-Pw-1"}
HOUR_MS = 3_600_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_status_gives_a_verdict_per_secret_and_an_exit_code(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.add_trigger(unique_name("t"), emu.handler_action(unique_name("rot")))
    idle = emu.backend.register_trigger(unique_name("idle"))
    auto = {"trigger_id": trigger.trigger_id, "auto_rotation": True, "auto_rotation_period": 30}
    fine = create_secret(client, value=dict(VALUE), secret_name="fine", **auto).secret_id
    manual = create_secret(client, value=dict(VALUE), secret_name="manual").secret_id
    calm = cli(emu, leak_guard, "status")
    assert calm.returncode == 0, calm.stdout + calm.stderr
    assert "2 secrets, 0 need attention" in calm.stdout
    strict = cli(emu, leak_guard, "status", "--require-auto", "--json")
    assert strict.returncode == 1 and as_json(strict)["needAttention"] == 1

    late = create_secret(client, value=dict(VALUE), secret_name="late", **auto).secret_id
    emu.backend.secrets[late].next_rotation_ms = _now_ms() - 2 * HOUR_MS  # the schedule slipped
    stuck = create_secret(
        client, value=dict(VALUE), secret_name="stuck", trigger_id=idle.trigger_id
    ).secret_id
    client.execute_rotation_job(stuck)
    for entry in emu.backend.secrets[stuck].logs:  # the job was raised 20 minutes ago
        entry["timestamp"] -= 20 * 60_000
    broken_action = emu.handler_action(
        unique_name("pg"),
        {
            "target": {
                "kind": "postgresql",
                "host": "127.0.0.1",
                "port": free_port(),
                "ssl": "disable",
            }
        },
    )
    broken_trigger = emu.add_trigger(unique_name("t"), broken_action)
    broken = create_secret(
        client, value=dict(VALUE), secret_name="broken", trigger_id=broken_trigger.trigger_id
    ).secret_id
    client.execute_rotation_job(broken)
    emu.wait_idle()

    result = cli(emu, leak_guard, "status")
    assert result.returncode == 1
    verdicts = {line.split()[0]: line for line in result.stdout.splitlines() if line.split()[:1]}
    assert verdicts["fine"].rstrip().endswith("ok")
    assert verdicts["manual"].rstrip().endswith("auto rotation off")
    assert verdicts["late"].rstrip().endswith("overdue")
    assert verdicts["stuck"].rstrip().endswith("left running")
    assert verdicts["broken"].rstrip().endswith("failed")
    assert "5 secrets, 3 need attention" in result.stdout
    assert f"stuck: left running: raised and never started for 20 min: `resume {stuck}`" in (
        result.stdout
    )
    rows = {
        r["secretName"]: r for r in as_json(cli(emu, leak_guard, "status", "--json"))["secrets"]
    }
    assert rows["broken"]["rotationPhase"] == "ROTATION_FAILED" and rows["broken"]["attention"]
    assert rows["fine"]["nextRotationDate"] > _now_ms() and not rows["fine"]["attention"]
    only = cli(emu, leak_guard, "status", fine, manual)
    assert only.returncode == 0 and "2 secrets" in only.stdout


def test_history_lists_jobs_with_codes(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    port = free_port()
    trigger_id, _ = deploy(
        emu, {"target": {"kind": "postgresql", "host": "127.0.0.1", "port": port, "ssl": "disable"}}
    )
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger_id).secret_id
    empty = cli(emu, leak_guard, "history", sid)
    assert empty.returncode == 0 and "no rotation jobs" in empty.stdout
    client.execute_rotation_job(sid)
    emu.wait_idle()
    client.retry_rotation_job(sid)
    emu.wait_idle()
    result = cli(emu, leak_guard, "history", sid)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["WHEN", "TRIGGERED", "OUTCOME", "CODE", "WARN", "JOB"]
    newest, oldest = lines[2].split(), lines[3].split()
    assert oldest[1:5] == ["manual", "failed", "TARGET_UNREACHABLE", "-"]
    assert newest[1] == "retry" and newest[2] in ("failed", "running")
    data = as_json(cli(emu, leak_guard, "history", sid, "--json"))
    jobs = data["jobs"]
    assert [j["triggered"] for j in jobs] == ["retry", "manual"]
    assert jobs[1]["code"] == "TARGET_UNREACHABLE" and len(jobs[1]["job"]) == 12
    assert jobs[1]["ended"] >= jobs[1]["when"]
    quick = as_json(cli(emu, leak_guard, "history", sid, "--json", "--no-codes", "--limit", "1"))
    assert [j["code"] for j in quick["jobs"]] == [None]


def test_history_without_activations_still_shows_outcomes(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.add_trigger(unique_name("t"), emu.handler_action(unique_name("rot")))
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    client.execute_rotation_job(sid)
    emu.wait_idle()
    client.rollback_rotation_job(sid)
    data = as_json(cli(emu, leak_guard, "history", sid, "--json"))
    assert [(j["triggered"], j["outcome"]) for j in data["jobs"]] == [
        ("operator", "rolled back"),
        ("manual", "completed"),
    ]


def test_check_command_lines_and_exit_codes(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, tmp_path: Path
) -> None:
    trigger = emu.backend.register_trigger(unique_name("t"))
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    emu.stats.reset()
    good = cli(emu, leak_guard, "check", sid)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.splitlines()[0].startswith("ok    api     reached 127.0.0.1:")
    assert "all checks passed" in good.stdout
    reads = {"get_secret_detail", "get_secret_value", "get_trigger_list", "get_caller_identity"}
    assert set(emu.stats.calls) <= reads
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps(
            {
                "policy": {"length": 8, "excludeCharacters": "x" * 3},
                "target": {
                    "kind": "postgresql",
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "ssl": "disable",
                },
            }
        )
    )
    bad = cli(emu, leak_guard, "check", sid, "--params", str(params), "--json")
    assert bad.returncode == 1
    checks = {c["check"]: c for c in as_json(bad)["checks"]}
    assert checks["login"]["status"] == "fail" and "127.0.0.1:" in checks["login"]["message"]
    assert checks["policy"]["status"] in ("ok", "fail")
    params.write_text("not json")
    assert cli(emu, leak_guard, "check", sid, "--params", str(params)).returncode == 2


def test_secret_update_puts_a_new_active_value(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.backend.register_trigger(unique_name("t"))
    sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
    new = {**VALUE, "password": "updated-by-hand-Pw-5"}
    logs.REDACTOR.register("updated-by-hand-Pw-5")
    result = cli(emu, leak_guard, "secret", "update", sid, stdin=json.dumps(new))
    assert result.returncode == 0, result.stderr
    assert "keys changed: password" in result.stdout and "now previous" in result.stdout
    chain = client.get_secret_values(sid)
    assert chain.active == new and chain.previous == VALUE
    same = cli(emu, leak_guard, "secret", "update", sid, stdin=json.dumps(new))
    assert same.returncode == 2 and "nothing changed" in same.stderr
    before = client.get_secret_values(sid)
    refusals: list[tuple[Any, tuple[str, ...], str]] = [
        ({"username": "app"}, (), "rotation target 'password'"),
        (new, ("--targets", "password,username"), "Secret Manager documents no call"),
        (b"\xff\xfe", (), "UTF-8"),
    ]
    for stdin, extra, message in refusals:
        data = stdin if isinstance(stdin, bytes) else json.dumps(stdin)
        refused = cli(emu, leak_guard, "secret", "update", sid, *extra, stdin=data)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    client.execute_rotation_job(sid)
    during = cli(emu, leak_guard, "secret", "update", sid, stdin=json.dumps(VALUE))
    assert during.returncode == 2 and "rotation job running" in during.stderr
    assert client.get_secret_values(sid) == before


LEAVES_IT_RUNNING = """
from rotation.logs import fingerprint
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials


def main(args):
    keys = Credentials(args["accessKey"], args["secretKey"])
    with SecretManagerClient(keys, endpoint=args["secretManagerEndpoint"]) as api:
        api.start_rotation_job(args["secretId"], args["jobToken"])
    return {"ok": False, "secretId": args["secretId"], "outcome": "failed", "leftForRetry": True,
            "jobFingerprint": fingerprint(args["jobToken"]),
            "error": {"code": "ROTATION_INCOMPLETE", "message": "target unreachable"}}
"""


def test_status_knows_at_once_when_the_action_left_its_job_running(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger_id, _ = deploy(emu, source=LEAVES_IT_RUNNING)
    sid = create_secret(
        client, value=dict(VALUE), trigger_id=trigger_id, secret_name="halted"
    ).secret_id
    client.execute_rotation_job(sid)
    emu.wait_idle()
    result = cli(emu, leak_guard, "status", sid)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "left running" in result.stdout
    assert (
        f"the action ended (ROTATION_INCOMPLETE) but the job runs: `resume {sid}`" in result.stdout
    )


def test_status_shows_a_job_raised_and_never_started(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    idle = emu.backend.register_trigger(unique_name("idle"))
    sid = create_secret(
        client, value=dict(VALUE), trigger_id=idle.trigger_id, secret_name="unstarted"
    ).secret_id
    client.execute_rotation_job(sid)
    fresh = as_json(cli(emu, leak_guard, "status", sid, "--json"))["secrets"][0]
    assert (fresh["verdict"], fresh["attention"]) == ("rotating", False)
    for entry in emu.backend.secrets[sid].logs:
        entry["timestamp"] -= 30 * 60_000
    result = cli(emu, leak_guard, "status", sid)
    assert result.returncode == 1
    assert f"raised and never started for 30 min: `resume {sid}`" in result.stdout
