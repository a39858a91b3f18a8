"""Auto rotation fires when nextRotationDate passes, on a clock a test controls."""

from __future__ import annotations

import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

from freezegun import freeze_time

from emulator import Emulator, ProcessAction
from emulator.secretmanager.models import ceil_to_hour
from rotation.ncp.models import RotationPhase
from tests.factories import ManualClock, create_secret

DAY = 86_400_000


def test_next_rotation_date_matches_the_seed_example() -> None:
    # seed 002: registered 1753065580243, period 90 -> next 1760842800000
    assert ceil_to_hour(1753065580243 + 90 * DAY) == 1760842800000
    assert ceil_to_hour(1760842800000) == 1760842800000


def test_schedule_fires_under_frozen_time() -> None:
    with freeze_time("2026-01-01 00:00:00") as frozen, Emulator() as emu, emu.client() as client:
        seen: list[dict[str, Any]] = []
        trigger = emu.add_callable_trigger("nightly", lambda p: seen.append(p) or {"ok": True})
        secret = create_secret(
            client, auto_rotation=True, auto_rotation_period=30, trigger_id=trigger.trigger_id
        )
        assert secret.next_rotation_date == secret.register_date + 30 * DAY  # type: ignore[operator]
        frozen.tick(timedelta(days=29, hours=23))
        assert emu.scheduler.tick() == []
        frozen.tick(timedelta(hours=1))
        fired = emu.scheduler.tick()
        assert [e.secret_id for e in fired] == [secret.secret_id]
        emu.wait_idle()
        assert len(seen) == 1
        assert seen[0]["secretId"] == secret.secret_id and seen[0]["jobToken"]
        detail = client.get_secret(secret.secret_id)
        assert detail.rotation_phase is RotationPhase.NONE  # the action never called Start
        assert emu.backend.secrets[secret.secret_id].live_job is not None  # yet the job lives
        assert detail.next_rotation_date == secret.register_date + 60 * DAY  # type: ignore[operator]
        assert emu.scheduler.tick() == []  # one job at a time
        kinds = [e["actionType"] for e in client.get_secret_logs(secret.secret_id).entries]
        assert "SCHEDULE_ROTATION" in kinds


def test_disabled_or_manual_secrets_do_not_fire() -> None:
    with freeze_time("2026-01-01 00:00:00") as frozen, Emulator() as emu, emu.client() as client:
        trigger = emu.add_callable_trigger("t", lambda p: {"ok": True})
        manual = create_secret(client, trigger_id=trigger.trigger_id)
        off = create_secret(
            client, auto_rotation=True, auto_rotation_period=1, trigger_id=trigger.trigger_id
        )
        client.disable_secret(off.secret_id)
        frozen.tick(timedelta(days=3))
        assert emu.scheduler.tick() == []
        assert client.get_secret(manual.secret_id).rotation_phase is RotationPhase.NONE


def test_revoked_secret_is_destroyed_when_its_date_passes() -> None:
    with freeze_time("2026-01-01 00:00:00") as frozen, Emulator() as emu, emu.client() as client:
        secret = create_secret(client)
        change = client.request_secret_deletion(secret.secret_id)
        assert change.expected_destroy_date == secret.register_date + 7 * DAY  # type: ignore[operator]
        frozen.tick(timedelta(days=7))
        emu.scheduler.tick()
        assert client.get_secret(secret.secret_id).status.value == "DESTROYED"


RECORDER = textwrap.dedent(
    """
    import importlib.util, os

    def main(args):
        return {
            "secretId": args.get("secretId"),
            "tokenAsParamAndEnv": bool(args.get("jobToken"))
                and os.environ.get("__OW_JOBTOKEN") == args.get("jobToken"),
            "secretIdEnv": os.environ.get("__OW_SECRETID") == args.get("secretId"),
            "activationId": os.environ.get("__OW_ACTIVATION_ID"),
            "actionName": os.environ.get("__OW_ACTION_NAME"),
            "deadline": os.environ.get("__OW_DEADLINE"),
            "seesProject": importlib.util.find_spec("emulator") is not None,
            "defaultParam": args.get("greeting"),
        }
    """
)


def test_schedule_runs_a_process_action_like_the_runtime(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text(RECORDER)
    clock = ManualClock(1_767_225_600.0)  # business time only; signatures use the wall clock
    with Emulator(clock=clock) as emu, emu.client() as client:
        action = ProcessAction(
            name="recorder",
            action_dir=tmp_path,
            module="__main__",
            params={"greeting": "hi"},
            python=sys.executable,
        )
        trigger = emu.add_trigger("nightly", action)
        secret = create_secret(
            client, auto_rotation=True, auto_rotation_period=7, trigger_id=trigger.trigger_id
        )
        clock.advance(7)
        assert len(emu.scheduler.tick()) == 1
        [activation] = emu.wait_idle()
    assert activation.status == "success", activation.logs
    result = activation.result or {}
    assert result["secretId"] == secret.secret_id
    assert result["tokenAsParamAndEnv"] is True
    assert result["secretIdEnv"] is True
    assert result["activationId"] == activation.activation_id
    assert result["actionName"] == "/ncp/recorder"
    assert int(result["deadline"]) > activation.started_ms
    assert result["seesProject"] is False
    assert result["defaultParam"] == "hi"
    detail_trigger = emu.backend.triggers[trigger.trigger_id]
    assert detail_trigger.recently_executed_action == "recorder"
