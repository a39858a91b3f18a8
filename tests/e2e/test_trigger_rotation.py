"""The whole path as Secret Manager runs it: a job raised, the trigger's action started
in its own interpreter by the emulated runtime, the handler rotating over HTTP."""

from __future__ import annotations

import json
import re

from emulator import Activation, Delivery, Emulator, ProcessAction
from rotation.ncp.models import RotationPhase
from tests.factories import ManualClock, create_secret

VALUE = {"engine": "store-only", "username": "app", "password": "initial-Passw0rd", "port": 5432}


def rotate_once(emu: Emulator, action: ProcessAction) -> tuple[str, Activation]:
    """Create a secret on a trigger running ``action``, execute a rotation, wait for it."""
    trigger = emu.add_trigger("rot", action)
    with emu.client() as client:
        sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
        client.execute_rotation_job(sid)
    [activation] = emu.wait_idle()
    return sid, activation


def test_execute_rotation_runs_the_handler_in_its_own_process(emu: Emulator) -> None:
    sid, activation = rotate_once(emu, emu.handler_action("rotator"))
    with emu.client() as client:
        assert activation.status == "success", activation.logs
        assert activation.result is not None and activation.result["outcome"] == "rotated"
        detail = client.get_secret(sid)
        chain = client.get_secret_values(sid)
    assert detail.rotation_phase is RotationPhase.NONE
    assert detail.trigger is not None and detail.trigger.recently_executed_action == "rotator"
    assert chain.previous == VALUE
    assert chain.active is not None and chain.active["password"] != VALUE["password"]
    assert {k: chain.active[k] for k in ("engine", "username", "port")} == {
        "engine": "store-only", "username": "app", "port": 5432,
    }  # fmt: skip
    assert emu.stats.calls["complete_rotation_job"] == 1


def test_activation_logs_are_structured_and_carry_no_token(emu: Emulator) -> None:
    sid, activation = rotate_once(emu, emu.handler_action("rotator"))
    with emu.client() as client:
        token = next(e["jobToken"] for e in client.get_secret_logs(sid).entries if "jobToken" in e)
    lines = [json.loads(line) for line in activation.logs]
    events = [line["event"] for line in lines]
    for expected in (
        "rotation.begin",
        "rotation.guard",
        "rotation.start",
        "rotation.pending",
        "target.set",
        "target.test",
        "rotation.complete",
        "rotation.end",
    ):
        assert expected in events
    for line in lines:
        assert line["secret_id"] == sid
        assert line["activation_id"] == activation.activation_id
        assert re.fullmatch(r"[0-9a-f]{12}", line["job"])
        assert line["timestamp"].endswith("Z")
    steps = [line for line in lines if "step" in line]
    assert all(isinstance(line["duration_ms"], float) for line in steps)
    assert token not in "\n".join(activation.logs)


def test_ids_only_in_the_environment(emu: Emulator) -> None:
    _, activation = rotate_once(emu, emu.handler_action("rotator", delivery=Delivery.ENV))
    assert activation.result is not None and activation.result["ok"], activation.logs


def test_the_schedule_fires_the_handler() -> None:
    clock = ManualClock(1_767_225_600.0)
    with Emulator(clock=clock) as emu, emu.client() as client:
        trigger = emu.add_trigger("nightly", emu.handler_action("rotator"))
        sid = create_secret(
            client, value=dict(VALUE), auto_rotation=True, auto_rotation_period=30,
            trigger_id=trigger.trigger_id,
        ).secret_id  # fmt: skip
        clock.advance(29)
        assert emu.scheduler.tick() == []
        clock.advance(1)
        assert len(emu.scheduler.tick()) == 1
        [activation] = emu.wait_idle()
        detail = client.get_secret(sid)
        chain = client.get_secret_values(sid)
    assert activation.result is not None and activation.result["ok"], activation.logs
    assert detail.rotation_phase is RotationPhase.NONE
    assert detail.last_rotation_date == int(clock.now * 1000)
    assert detail.next_rotation_date is not None
    assert detail.next_rotation_date >= detail.last_rotation_date + 30 * 86_400_000
    assert chain.previous == VALUE


def test_a_timeout_kills_the_action_and_the_job_stays_for_a_retry(emu: Emulator) -> None:
    # Start is held past the deadline (answered at the end). The budget is the part a
    # loaded machine eats first: a fresh interpreter took over a second of a 1.5 s one
    # to start, leaving none for a single call; 6 s leaves room for start, then fail.
    late = emu.faults.add("start_rotation_job", hold=True)
    try:
        sid, activation = rotate_once(emu, emu.handler_action("rotator", timeout_ms=6000))
        with emu.client() as client:
            # the handler saw __OW_DEADLINE and gave up in time to report, before the kill
            assert activation.status == "application error", activation.logs
            assert activation.result is not None
            assert activation.result["error"]["code"] in {"DEADLINE_EXCEEDED", "API_UNAVAILABLE"}
            assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED
    finally:
        late.release()
