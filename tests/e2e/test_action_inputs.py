"""The action's inputs as NCP may send them (issue 10, items 3 and 4): the secret id and job
token only in the environment, only as parameters, or one level down in an event; and a
secret detail that answers an undocumented rotationPhase. Each runs the real handler in its
own interpreter, started by the emulated runtime for a real rotation job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import handler
from emulator import Activation, Delivery, Emulator, ProcessAction
from rotation.ncp.models import SecretStatus
from tests.factories import create_secret

VALUE = {"engine": "store-only", "username": "app", "password": "initial-Passw0rd"}


def rotate(emu: Emulator, action: ProcessAction) -> tuple[str, Activation]:
    trigger = emu.add_trigger("rot", action)
    with emu.client() as client:
        sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
        client.execute_rotation_job(sid)
    [activation] = emu.wait_idle()
    return sid, activation


def log_lines(activation: Activation) -> list[dict[str, Any]]:
    return [json.loads(x) for x in activation.logs if x.startswith("{")]


def assert_rotated(emu: Emulator, sid: str, activation: Activation) -> dict[str, Any]:
    assert activation.status == "success", activation.logs
    assert activation.result is not None and activation.result["outcome"] == "rotated"
    with emu.client() as client:
        chain = client.get_secret_values(sid)
    assert chain.previous == VALUE
    assert chain.active is not None and chain.active["password"] != VALUE["password"]
    [begin] = [x for x in log_lines(activation) if x["event"] == "rotation.begin"]
    return begin


@pytest.mark.parametrize(
    ("kwargs", "ids_from"),
    [
        ({"delivery": Delivery.ENV}, "environment __OW_SECRETID + environment __OW_JOBTOKEN"),
        (
            {"delivery": Delivery.ENV, "env_names": ("SECRET_ID", "JOB_TOKEN")},
            "environment SECRET_ID + environment JOB_TOKEN",
        ),
        ({"delivery": Delivery.PARAMS}, "parameters.secretId + parameters.jobToken"),
        (
            {"delivery": Delivery.NESTED},
            "parameters.event.secretId + parameters.event.jobToken",
        ),
        (
            {"delivery": Delivery.NESTED, "nest_key": "body", "nest_as_text": True},
            "parameters.body.secretId + parameters.body.jobToken",
        ),
    ],
    ids=["env-ow", "env-plain", "params", "nested", "nested-json-text"],
)
def test_the_handler_rotates_whichever_way_the_ids_arrive(
    emu: Emulator, kwargs: dict[str, Any], ids_from: str
) -> None:
    sid, activation = rotate(emu, emu.handler_action("rotator", **kwargs))
    begin = assert_rotated(emu, sid, activation)
    assert begin["ids_from"] == ids_from  # the log says where they were found


def test_the_emulator_delivers_the_ids_in_one_way_only(tmp_path: Path) -> None:
    # Guards the tests above: in PARAMS mode no __OW_SECRETID exists, in ENV mode no
    # parameter, so a handler reading only one place fails the other's test.
    (tmp_path / "__main__.py").write_text(
        "import os\n"
        "def main(args):\n"
        "    return {'params': sorted(args), 'env': sorted(k for k in os.environ\n"
        "            if 'SECRET' in k.upper() or 'TOKEN' in k.upper())}\n"
    )
    seen = {}
    for mode in Delivery:
        with Emulator() as solo:
            action = ProcessAction("rec", tmp_path, "__main__", delivery=mode)
            seen[mode] = rotate(solo, action)[1].result
    assert seen[Delivery.BOTH] == {
        "params": ["jobToken", "secretId"], "env": ["__OW_JOBTOKEN", "__OW_SECRETID"],
    }  # fmt: skip
    assert seen[Delivery.ENV] == {"params": [], "env": ["__OW_JOBTOKEN", "__OW_SECRETID"]}
    assert seen[Delivery.PARAMS] == {"params": ["jobToken", "secretId"], "env": []}
    assert seen[Delivery.NESTED] == {"params": ["event"], "env": []}


def test_ids_under_unknown_names_fail_with_the_names_present(emu: Emulator) -> None:
    action = emu.handler_action(
        "rotator", delivery=Delivery.ENV, env_names=("SM_SECRET_REF", "SM_JOB_REF")
    )
    sid, activation = rotate(emu, action)
    result = activation.result or {}
    assert result["ok"] is False and result["error"]["code"] == "MISSING_SECRET_ID"
    message = result["error"]["message"]
    assert "SM_SECRET_REF" in message and "SM_JOB_REF" in message  # what NCP sent, by name
    assert "secretManagerEndpoint" in message and "accessKey" in message
    assert sid not in message and emu.secret_key not in message  # names, never values
    with emu.client() as client:
        assert client.get_secret_values(sid).active == VALUE  # nothing changed
        assert emu.stats.calls.get("start_rotation_job", 0) == 0


def test_an_undocumented_rotation_phase_does_not_stop_a_rotation(emu: Emulator) -> None:
    emu.backend.phase_names.update(
        {"NONE": "IDLE", "ROTATING": "JOB_IN_PROGRESS", "ROTATION_FAILED": "LAST_JOB_FAILED"}
    )
    emu.backend.status_names["ROTATING"] = "UPDATING"
    emu.backend.detail_extra["rotationJobId"] = "job-42"
    sid, activation = rotate(emu, emu.handler_action("rotator"))
    assert_rotated(emu, sid, activation)
    [guard] = [x for x in log_lines(activation) if x["event"] == "rotation.guard"]
    assert guard["rotation_phase"] == "IDLE"  # logged raw, as NCP spelled it
    [noted] = [x for x in log_lines(activation) if x["event"] == "ncp.answer.unexpected"]
    assert any("IDLE" in note for note in noted["notes"])  # the first real run shows it
    with emu.client() as client:
        detail = client.get_secret(sid)
    assert detail.rotation_phase.value == "IDLE" and not detail.rotation_phase.known
    assert detail.status is SecretStatus.ENABLE
    assert "rotationPhase: undocumented value 'IDLE'" in detail.notes


@pytest.mark.parametrize("status", ["DISABLE", "REVOKE"])
def test_a_documented_refusal_still_refuses_beside_an_undocumented_phase(
    emu: Emulator, status: str
) -> None:
    trigger = emu.backend.register_trigger("idle")  # no action: the test plays the runtime
    with emu.client() as client:
        sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
        client.execute_rotation_job(sid)
        token = client.get_secret_logs(sid, keyword="EXECUTE_ROTATION").entries[0]["jobToken"]
    emu.backend.secrets[sid].status = status
    emu.backend.phase_names["NONE"] = "IDLE"
    result = handler.main({**emu.action_params(), "secretId": sid, "jobToken": token})
    assert result["ok"] is False and result["error"]["code"] == "SECRET_NOT_ROTATABLE", result
    assert result["job"] in {"failed", "ended"}  # the job is ended, and the result says how
    for op in ("update_pending_stage", "add_pending_stage", "complete_rotation_job"):
        assert emu.stats.calls.get(op, 0) == 0, op
