"""The rotator's own key pair, rotated by the rotator itself, end to end on the emulator.

The action runs on a sub account's key pair kept in its default parameters; its secret
(``ncp-api-key`` with ``action``) holds that same pair. A rotation makes the new pair,
stores it as pending, waits until it works, writes it into the deployed action's default
parameters (Put Action, the whole action sent back), proves it with a ``dryRun`` of the
deployed action (which signs with the new pair), completes, and only then disables the
old key: at every instant the deployed action's parameters hold a key the gateway
accepts. The next rotation runs on the new pair and deletes the oldest key."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy.package import PackageResult, build_package
from emulator import Emulator
from emulator.subaccount import SubAccount
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.models import RotationPhase
from tests.factories import create_secret, job_token

PACKAGE, NAME = "rotation", "rotator"
POLICIES = (
    "NCP_SECRETMANAGER_MANAGER",
    "NCP_SUB_ACCOUNT_MANAGER",
    "NCP_VPC_CLOUD_FUNCTIONS_MANAGER",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    return build_package(out=tmp_path_factory.mktemp("zip") / "rotation-action.zip")


class Watch(dict[tuple[str, str], Any]):
    """Cloud Functions' stored actions, checked each time one is replaced."""

    def __init__(self, check: Callable[[], None], *args: Any) -> None:
        super().__init__(*args)
        self.check = check
        #: (epoch ms, the access key its parameters then held), per Put Action.
        self.puts: list[tuple[float, str]] = []

    def __setitem__(self, key: tuple[str, str], value: Any) -> None:
        super().__setitem__(key, value)
        self.puts.append((time.time() * 1000, value.body["parameters"]["accessKey"]))
        self.check()


def rotations(emu: Emulator) -> list[Any]:
    return [a for a in emu.activations if a.result and a.result.get("outcome") != "checked"]


def dry_runs(emu: Emulator) -> list[Any]:
    return [a for a in emu.activations if a.result and a.result.get("outcome") == "checked"]


def deployed_pair(emu: Emulator) -> tuple[str, str]:
    params = emu.cloud_functions.actions[(PACKAGE, NAME)].body["parameters"]
    return params["accessKey"], params["secretKey"]


def test_the_rotator_rotates_its_own_key_and_never_loses_access(
    emu: Emulator, built: PackageResult, tmp_path: Path
) -> None:
    rotator: SubAccount = emu.subaccounts.add_sub_account("rotator", POLICIES)
    first = emu.subaccounts.issue_key(rotator.sub_account_id)
    problems: list[str] = []

    def check() -> None:
        """At this instant, the deployed action's parameters hold a key that works."""
        if (PACKAGE, NAME) not in emu.cloud_functions.actions:
            return
        access, secret = deployed_pair(emu)
        if emu.subaccounts.secret_for(access) != secret:
            problems.append("the deployed action holds a key the gateway refuses")
        if rotator.active_count > 2:
            problems.append("three active keys")

    emu.subaccounts.listeners.append(check)
    watch = Watch(check, emu.cloud_functions.actions)
    emu.cloud_functions.actions = watch
    target = {
        "kind": "ncp-api-key",
        "subAccountEndpoint": emu.base_url,
        "stsEndpoint": emu.base_url,
        "cloudFunctionsEndpoint": emu.cloud_functions_endpoint,
        "action": {"package": PACKAGE, "name": NAME},
    }
    code = base64.b64encode(built.path.read_bytes()).decode()
    with CloudFunctionsClient(emu.credentials, endpoint=emu.cloud_functions_endpoint) as cf:
        cf.put_action(PACKAGE, NAME, {
            "description": "rotates secrets, its own key included",
            "exec": {"kind": "python:3.13", "binary": True, "main": "main", "code": code},
            "limits": {"timeout": 120_000, "memory": 256},
            "vpc": [{"vpcNo": 1, "subnetNo": 2}],
            "parameters": {
                "secretManagerEndpoint": emu.endpoint,
                "accessKey": first[0], "secretKey": first[1], "target": target,
            },
        })  # fmt: skip
    trigger = emu.backend.register_trigger("rotate-self", actions=[f"{PACKAGE}/{NAME}"])
    value = {"subAccountId": rotator.sub_account_id, "accessKey": first[0], "secretKey": first[1]}
    with emu.client() as client:
        sid = create_secret(
            client, value=value, targets=("accessKey", "secretKey"), trigger_id=trigger.trigger_id
        ).secret_id
        client.execute_rotation_job(sid)
    emu.wait_idle(timeout=180)

    runs, dry = rotations(emu), dry_runs(emu)
    assert len(runs) == 1 and runs[0].result is not None
    assert runs[0].result["ok"], runs[0].logs
    assert len(dry) == 1 and dry[0].result is not None and dry[0].result["ok"], dry[0].logs
    with emu.client() as client:
        chain = client.get_secret_values(sid)
        assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    assert chain.active is not None and chain.previous == value
    second = (chain.active["accessKey"], chain.active["secretKey"])
    assert deployed_pair(emu) == second
    assert {k.access_key: k.active for k in rotator.keys} == {first[0]: False, second[0]: True}
    # The dry run ran after the action was given the new pair, i.e. it signed with it.
    [(put_ms, put_key)] = watch.puts[1:]
    assert put_key == second[0] and dry[0].started_ms >= put_ms

    # The next rotation runs on the new pair and deletes the key two rotations old.
    with emu.client() as client:
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
    emu.wait_idle(timeout=180)
    runs = rotations(emu)
    assert len(rotations(emu)) == 2 and len(dry_runs(emu)) == 2
    assert len(runs) == 2 and runs[-1].result is not None and runs[-1].result["ok"], runs[-1].logs
    with emu.client() as client:
        chain = client.get_secret_values(sid)
    assert chain.active is not None and chain.previous is not None
    third = (chain.active["accessKey"], chain.active["secretKey"])
    assert deployed_pair(emu) == third and chain.previous["accessKey"] == second[0]
    assert {k.access_key: k.active for k in rotator.keys} == {second[0]: False, third[0]: True}
    assert problems == [] and rotator.max_active == 2
    logs = "\n".join(line for a in emu.activations for line in a.logs)
    for secret in (first[1], second[1], third[1], token):
        assert secret not in logs
