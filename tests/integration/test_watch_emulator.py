"""What the emulator offers the watchdog: cron triggers on its scheduler (a clock tests
move), Cloud Insight's schema and collector calls as documented, and ways to break what
the watchdog must find."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import CallableAction, Emulator
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.cloudinsight import CloudInsightClient
from rotation.ncp.errors import BadRequest
from rotation.ncp.models import RotationPhase
from rotation.watch.metrics import FIELDS
from tests.factories import ManualClock, create_secret, unique_name

MINUTE = 60.0
#: 2026-03-02 10:00:30 UTC, a Monday, half a minute past a minute.
START = 1772445630.0


def test_a_cron_trigger_fires_at_its_minutes_on_the_scheduler_clock() -> None:
    clock = ManualClock(START)
    seen: list[dict[str, Any]] = []
    with Emulator(clock=clock) as emu:
        action = CallableAction(name="tick", function=lambda p: seen.append(p) or {"ok": True})
        emu.add_cron_trigger("every10", "*/10 * * * *", action)
        assert emu.scheduler.tick() == [] and emu.scheduler.cron_runs == []
        clock.now += 9 * MINUTE  # 10:09:30: no tenth minute yet
        emu.scheduler.tick()
        assert emu.scheduler.cron_runs == []
        clock.now += MINUTE  # 10:10:30
        emu.scheduler.tick()
        emu.wait_idle()
        assert [name for _, name in emu.scheduler.cron_runs] == ["every10"] and len(seen) == 1
        emu.scheduler.tick()  # the same minute again: nothing
        clock.now += 45 * MINUTE  # jumps over 10:20 .. 10:50: fires once, not four times
        emu.scheduler.tick()
        emu.wait_idle()
        assert len(emu.scheduler.cron_runs) == 2 and len(seen) == 2


def test_cron_triggers_through_the_api(emu: Emulator) -> None:
    with CloudFunctionsClient(emu.credentials, endpoint=emu.cloud_functions_endpoint) as cf:
        with pytest.raises(BadRequest, match="cronOption is required"):
            cf.put_trigger(unique_name("c"), {"description": "x"}, kind="cron")
        with pytest.raises(BadRequest, match="five fields"):
            cf.put_trigger(unique_name("c"), {"cronOption": "every minute"}, kind="cron")
        name = unique_name("c")
        made = cf.put_trigger(
            name, {"cronOption": "0 3 * * *", "parameters": {"k": 1}}, kind="cron"
        )
        assert made.type == "cron" and made.exec_options == {"cronOption": "0 3 * * *"}
        assert cf.get_trigger(name) == made
    seen: list[dict[str, Any]] = []
    emu.cloud_functions.add_action(
        CallableAction(name="rec", function=lambda p: seen.append(p) or {})
    )
    emu.cloud_functions.triggers[name].actions.append("rec")
    assert emu.cloud_functions.fire(name) == ["rec"]
    emu.wait_idle()
    assert seen == [{"k": 1}]  # the trigger's parameters reach the action
    emu.cloud_functions.delete_action("-", "rec")
    assert emu.cloud_functions.fire(name) == []  # its name stays on the trigger; nothing runs


def test_cloud_insight_schema_and_collector(emu: Emulator) -> None:
    with CloudInsightClient(emu.credentials, endpoint=emu.cloud_insight_endpoint) as ci:
        assert ci.get_schema("Custom/Watch") is None
        no_id = [dict(f, isIdDimension=False) for f in FIELDS]
        with pytest.raises(BadRequest, match="ID dimension"):
            ci.create_schema("Custom/Watch", no_id)
        with pytest.raises(BadRequest, match="Custom/"):
            ci.create_schema("Watch", FIELDS)
        made = ci.create_schema("Custom/Watch", FIELDS)
        assert made.cw_key and ci.get_schema("Custom/Watch") == made
        with pytest.raises(BadRequest, match="already exists"):
            ci.create_schema("Custom/Watch", FIELDS)
        record = {"secretId": "_fleet", "secretName": "_fleet", "fleet": "t", "ok": 3}
        assert ci.send_data(made.cw_key, [record] * 150) == 2  # batches of 100
        with pytest.raises(BadRequest, match="not a field"):
            ci.send_data(made.cw_key, [{**record, "colour": "blue"}])
        with pytest.raises(BadRequest, match="must be INTEGER"):
            ci.send_data(made.cw_key, [{**record, "ok": True}])
        with pytest.raises(BadRequest, match="ID dimension"):
            ci.send_data(made.cw_key, [{"ok": 1}])
        with pytest.raises(BadRequest, match="cw_key"):
            ci.send_data("not-a-key", [record])
    assert len(emu.cloud_insight.records("Custom/Watch")) == 150


def test_breaking_what_the_watchdog_must_find(emu: Emulator) -> None:
    action = emu.handler_action(unique_name("rot"))
    trigger = emu.add_function_trigger(unique_name("t"), action)
    with emu.client() as client:
        stalled = create_secret(client, trigger_id=trigger.trigger_id).secret_id
        emu.stall_job(stalled)
        detail = client.get_secret(stalled)
        assert detail.rotation_phase is RotationPhase.ROTATING
        unlinked = create_secret(
            client, trigger_id=trigger.trigger_id, auto_rotation=True, auto_rotation_period=30
        ).secret_id
        emu.unlink(unlinked)
        detail = client.get_secret(unlinked)
        assert detail.trigger is None and not detail.auto_rotation
    assert emu.activations == []  # stall_job raised its job with no action behind it
    emu.cloud_functions.delete_action("-", action.name)
    assert ("-", action.name) not in emu.cloud_functions.actions
    assert action.name in emu.backend.triggers[trigger.trigger_id].actions
