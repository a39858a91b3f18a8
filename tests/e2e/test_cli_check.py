"""``python -m rotation check`` fails wherever the deployed action would (issue 17): it
reads the deployed action's parameters, this secret's ``bySecretId`` entry included, and
warns where the rotation warns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from rotation import logs
from rotation.ncp.secretmanager import SecretManagerClient
from tests.databases import (
    PgCluster,
    ServerUnavailable,
    password,
    start_pg_cluster,
    unavailable,
    unique,
)
from tests.deployed import deploy
from tests.e2e.clirun import as_json, cli
from tests.factories import create_secret
from tests.leaks import LeakGuard


def checks(result: Any) -> dict[str, dict[str, str]]:
    return {c["check"]: c for c in as_json(result)["checks"]}


def pg_secret(
    client: SecretManagerClient, pg: PgCluster, **own: Any
) -> tuple[str, dict[str, Any], str, str]:
    """A role on ``pg`` and a secret for it whose value says ``ssl: disable``."""
    user, pw = unique("chk"), password()
    logs.REDACTOR.register(pw)
    pg.create_role(user, pw)
    value = {"engine": "postgresql", "host": pg.host, "port": pg.port, "username": user,
             "password": pw, "ssl": "disable"}  # fmt: skip
    return create_secret(client, value=value).secret_id, value, user, pw


def test_check_fails_where_the_deployed_action_fails_then_passes_once_fixed(
    emu: Emulator,
    client: SecretManagerClient,
    leak_guard: LeakGuard,
    pg_cluster: PgCluster,
    tmp_path: Path,
) -> None:
    sid, _value, user, pw = pg_secret(client, pg_cluster)
    leak_guard.registered.add(pw)
    # deploy's layout: this secret's own target under bySecretId (ssl: verify-full, no CA)
    trigger_id, action = deploy(emu, {"bySecretId": {sid: {"target": {"ssl": "verify-full"}}}})
    client.update_rotation_trigger(sid, trigger_id)

    value_only = tmp_path / "value-only.json"
    value_only.write_text("{}")
    fooled = cli(emu, leak_guard, "check", sid, "--params", str(value_only))
    assert fooled.returncode == 0, fooled.stdout  # the value alone looks fine...
    checked = cli(emu, leak_guard, "check", sid, "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr  # ...the action's does not
    lines = checks(checked)
    assert lines["params"]["status"] == "ok" and action in lines["params"]["message"]
    assert "with this secret's bySecretId entry; target sets ssl" in lines["params"]["message"]
    assert lines["login"]["status"] == "fail"
    assert lines["login"]["message"].startswith("TARGET_UNREACHABLE: ")
    assert "give sslRootCert" in lines["login"]["message"]

    rotated = cli(emu, leak_guard, "rotate", sid, "--interval", "0.2", "--json")
    assert rotated.returncode == 1 and as_json(rotated)["error"]["code"] == "TARGET_UNREACHABLE"
    assert pg_cluster.logs_in(user, pw)

    # the fix the message names, deployed: check passes, and so does the rotation
    fixed = {"target": {"ssl": "verify-full", "sslRootCert": pg_cluster.ca_file}}
    trigger_id, action = deploy(emu, {"bySecretId": {sid: fixed}})
    client.update_rotation_trigger(sid, trigger_id)
    good = cli(emu, leak_guard, "check", sid)
    assert good.returncode == 0, good.stdout + good.stderr
    # identity: the emulator's key is the main account's, broader than a rotation needs
    assert "fail  " not in good.stdout and "the last rotation failed" in good.stdout
    assert good.stdout.rstrip().endswith(
        "all checks passed, with warnings (identity, secret): see the warn lines"
    )
    retried = cli(emu, leak_guard, "retry", sid, "--interval", "0.2")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    active = client.get_secret_values(sid).active
    assert active is not None and active["password"] != pw
    leak_guard.registered.add(active["password"])
    assert pg_cluster.logs_in(user, active["password"])


def test_check_names_the_action_to_use_when_the_trigger_runs_several(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger_id, first = deploy(emu, {"policy": {"length": 20}})
    sid = create_secret(client, value={"username": "app", "password": "chk-initial-Pw-1"},
                        trigger_id=trigger_id).secret_id  # fmt: skip
    _, second = deploy(emu, {"policy": {"length": 2}})
    emu.backend.triggers[trigger_id].actions.append(second)
    several = cli(emu, leak_guard, "check", sid)
    assert several.returncode == 1
    assert "the trigger runs 2 actions" in several.stdout and "--action" in several.stdout
    chosen = cli(emu, leak_guard, "check", sid, "--action", second, "--json")
    assert checks(chosen)["policy"]["message"].startswith("INVALID_POLICY: ")
    assert cli(emu, leak_guard, "check", sid, "--action", first).returncode == 0


@pytest.fixture(scope="module")
def trust_cluster() -> Iterator[PgCluster]:
    try:
        cluster = start_pg_cluster("trust")
    except ServerUnavailable as exc:
        unavailable("a trust PostgreSQL", str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


def test_check_warns_on_a_server_that_accepts_any_password(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, trust_cluster: PgCluster
) -> None:
    try:
        sid, _value, _user, pw = pg_secret(client, trust_cluster)
        leak_guard.registered.add(pw)
        trigger_id, _ = deploy(emu)
        client.update_rotation_trigger(sid, trigger_id)
        result = cli(emu, leak_guard, "check", sid)
        assert result.returncode == 0, result.stdout + result.stderr  # a warning, not a failure
        [login] = [line for line in result.stdout.splitlines() if line[6:12] == "login "]
        assert login.startswith("warn  login   TARGET_AUTH_NOT_ENFORCED: ")
        assert "pg_hba.conf" in login  # what to do, the registry's words
        assert result.stdout.rstrip().endswith(
            "all checks passed, with warnings (identity, login): see the warn lines"
        )
        assert json.loads(cli(emu, leak_guard, "check", sid, "--json").stdout)["ok"] is True
    finally:
        trust_cluster.cleanup()
