"""``python -m deploy`` against the emulated Cloud Functions and Secret Manager APIs, which
answer in NCP's documented shapes (``{"content": ...}``, actions as names, numeric error
codes, ``80901`` on a repeated link): the plan, a fleet of secrets on one trigger, the no-op
second run, adding and removing secrets, and a rotation run by the deployed zip. Issue 17:
CA files travel in the zip and work inside the action, a paused secret stays paused, the
help documents every flag, half a key pair is refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import trustme

from deploy.__main__ import _parser as deploy_parser
from deploy.__main__ import main as deploy_main
from deploy.config import ConfigError, load
from deploy.package import PackageResult, build_package
from emulator import Emulator
from rotation.fleet_params import BY_SECRET_ID, parameters_for
from rotation.ncp.models import RotationPhase
from tests.databases import PgCluster, password, unique
from tests.e2e.clirun import cli
from tests.factories import create_secret
from tests.leaks import LeakGuard

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VALUE = {"engine": "store-only", "username": "app", "password": "deploy-initial-Pw-1"}
TRIGGER = "secret-rotator-trigger"
WRITES = {"put_action", "put_trigger", "link_action", "enable_auto_rotation",
          "disable_auto_rotation"}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    return build_package(out=tmp_path_factory.mktemp("zip") / "rotation-action.zip")


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCLOUD_ACCESS_KEY", emu.access_key)
    monkeypatch.setenv("NCLOUD_SECRET_KEY", emu.secret_key)
    monkeypatch.delenv("ROTATOR_ACCESS_KEY", raising=False)
    monkeypatch.delenv("ROTATOR_SECRET_KEY", raising=False)


def args(emu: Emulator, built: PackageResult, *extra: str, secrets: tuple[str, ...] = ("app-db",)
         ) -> list[str]:  # fmt: skip
    names = [part for name in secrets for part in ("--secret-name", name)]
    return [
        "--zip", str(built.path), *names, "--vpc-no", "101", "--subnet-no", "202",
        "--cloud-functions-endpoint", emu.cloud_functions_endpoint,
        "--secret-manager-endpoint", emu.endpoint, *extra,
    ]  # fmt: skip


def deploy(
    emu: Emulator,
    built: PackageResult,
    guard: LeakGuard,
    *extra: str,
    secrets: tuple[str, ...] = ("app-db",),
) -> tuple[int, str]:
    out = io.StringIO()
    code = deploy_main(args(emu, built, *extra, secrets=secrets), out=out)
    guard.observe("deploy output", out.getvalue())
    return code, out.getvalue()


def new_secret(emu: Emulator, name: str) -> str:
    with emu.client() as client:
        return create_secret(client, secret_name=name, value=dict(VALUE)).secret_id


@pytest.fixture
def secret_id(emu: Emulator) -> str:
    return new_secret(emu, "app-db")


def linked(emu: Emulator) -> set[str]:
    with emu.client() as client:
        found = [t for t in client.list_triggers() if t.name == TRIGGER]
    return set(found[0].linked_secrets) if found else set()


def test_dry_run_prints_the_plan_and_changes_nothing(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    code, out = deploy(emu, built, leak_guard, "--dry-run")
    assert code == 0, out
    assert "plan (dry run, nothing is changed)" in out
    assert built.sha256 in out
    for line in ("action    secret-rotator", f"trigger   {TRIGGER}", "link", "rotation"):
        assert line in out
    assert out.count("would create") == 2 and "would link" in out and "would enable" in out
    assert '"secretKey": "****"' in out and emu.secret_key not in out
    assert emu.cloud_functions.actions == {} and emu.cloud_functions.triggers == {}
    assert not WRITES & set(emu.stats.calls)
    with emu.client() as client:
        assert client.get_secret(secret_id).auto_rotation is False


def test_one_trigger_serves_a_fleet_and_a_second_run_changes_nothing(
    emu: Emulator, built: PackageResult, env: None, leak_guard: LeakGuard
) -> None:
    first, second = new_secret(emu, "app-db"), new_secret(emu, "app-cache")
    code, out = deploy(emu, built, leak_guard, "--period", "45", secrets=("app-db", "app-cache"))
    assert code == 0, out
    assert out.rstrip().endswith("done")
    [action] = emu.cloud_functions.actions.values()
    assert action.name == "secret-rotator" and action.code_sha256 == built.sha256
    assert action.body["exec"] == {"kind": "python:3.13", "binary": True, "main": "main"}
    assert action.body["limits"] == {"timeout": 120000, "memory": 256}
    assert action.body["vpc"] == [{"vpcNo": 101, "subnetNo": 202}]
    assert action.body["parameters"]["secretManagerEndpoint"] == emu.endpoint
    assert BY_SECRET_ID not in action.body["parameters"], "nothing differs per secret"
    with emu.client() as client:
        [trigger] = client.list_triggers()
        details = [client.get_secret(first), client.get_secret(second)]
    assert trigger.name == TRIGGER
    assert set(trigger.linked_secrets) == {first, second}
    assert [a.name for a in trigger.actions] == ["secret-rotator"]
    for detail in details:
        assert detail.auto_rotation and detail.auto_rotation_period == 45
        assert detail.trigger is not None and detail.trigger.id == trigger.id
    assert emu.stats.calls["link_action"] == 1 and emu.stats.calls["put_trigger"] == 1

    emu.stats.reset()
    code, again = deploy(emu, built, leak_guard, "--period", "45", secrets=("app-db", "app-cache"))
    assert code == 0, again
    assert "nothing to change: the deployment is up to date" in again
    assert again.count("unchanged") == 5  # action, trigger, link, two rotations
    assert not WRITES & set(emu.stats.calls), emu.stats.calls


def test_adding_a_secret_keeps_the_others_linked(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    assert deploy(emu, built, leak_guard)[0] == 0
    added = new_secret(emu, "app-queue")
    emu.stats.reset()
    code, out = deploy(emu, built, leak_guard, secrets=("app-db", "app-queue"))
    assert code == 0, out
    assert f"trigger   {TRIGGER:<40} update" in out
    assert "app-db every 30 days" in out and "unchanged  (trigger" in out
    assert linked(emu) == {secret_id, added}
    assert emu.stats.calls["put_action"] == 0 and emu.stats.calls["link_action"] == 0
    assert emu.stats.calls["enable_auto_rotation"] == 1, "only the new secret"
    with emu.client() as client:
        assert client.get_secret(secret_id).auto_rotation
        assert client.get_secret(added).auto_rotation


def test_a_removed_secret_stays_linked_unless_pruned(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    other = new_secret(emu, "app-old")
    assert deploy(emu, built, leak_guard, secrets=("app-db", "app-old"))[0] == 0
    emu.stats.reset()
    code, out = deploy(emu, built, leak_guard)
    assert code == 0, out
    assert "keep      app-old" in out and "--prune unlinks" in out
    assert "nothing to change" in out
    assert linked(emu) == {secret_id, other}
    assert not WRITES & set(emu.stats.calls)
    with emu.client() as client:
        assert client.get_secret(other).auto_rotation

    code, out = deploy(emu, built, leak_guard, "--prune", "--dry-run")
    assert code == 0 and "would unlink" in out and linked(emu) == {secret_id, other}

    code, out = deploy(emu, built, leak_guard, "--prune")
    assert code == 0, out
    assert "unlink    app-old" in out and "auto rotation off" in out
    assert linked(emu) == {secret_id}
    with emu.client() as client:
        detail = client.get_secret(other)
        assert not detail.auto_rotation and detail.trigger is None
        assert client.get_secret(secret_id).auto_rotation


def test_a_repeated_link_answered_80901_counts_as_linked(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    assert deploy(emu, built, leak_guard)[0] == 0
    record = emu.backend.trigger_by_name(TRIGGER)
    assert record is not None
    record.actions = []  # Secret Manager's list lags behind Cloud Functions
    emu.stats.reset()
    code, out = deploy(emu, built, leak_guard)
    assert code == 0, out
    assert "already linked: 80901 DUPLICATED_RULE" in out
    assert "nothing to change" in out
    [call] = [r for r in emu.stats.requests if r.operation == "link_action"]
    assert call.status == 400
    assert list(emu.cloud_functions.triggers[TRIGGER].actions) == ["secret-rotator"]


def test_per_secret_parameters_reach_the_one_action_and_the_plan_masks_them(
    emu: Emulator, built: PackageResult, env: None, leak_guard: LeakGuard, tmp_path: Path
) -> None:
    db, hook = new_secret(emu, "app-db"), new_secret(emu, "app-hook")
    config = tmp_path / "deploy.toml"
    config.write_text(
        """
[action.parameters]
policy = { length = 40 }

[[action.parameters.notify.webhooks]]
url = "https://hooks.example/alert"
format = "json"
hmacKey = "plan-must-hide-this-1"

[rotation]
period_days = 14

[[secrets]]
name = "app-db"

[[secrets]]
name = "app-hook"
rotation_period_days = 7
policy = { length = 24 }
[secrets.target]
kind = "webhook"
url = "https://hooks.example/rotate"
testUrl = "https://hooks.example/test"
hmacKey = "plan-must-hide-this-2"
"""
    )
    code, plan = deploy(emu, built, leak_guard, "--config", str(config), "--dry-run", secrets=())
    assert code == 0, plan
    assert "plan-must-hide-this" not in plan
    assert plan.count('"hmacKey": "****"') == 2  # in bySecretId's target, in notify's list
    assert '"url": "https://hooks.example/rotate"' in plan
    assert '"url": "https://hooks.example/****"' in plan  # a notify URL may be the credential

    code, out = deploy(emu, built, leak_guard, "--config", str(config), secrets=())
    assert code == 0, out
    assert "plan-must-hide-this" not in out
    assert "app-db every 14 days" in out and "app-hook every 7 days" in out
    params = emu.cloud_functions.actions[("-", "secret-rotator")].body["parameters"]
    assert set(params[BY_SECRET_ID]) == {hook}
    mine = parameters_for(params, hook)
    assert mine["target"]["kind"] == "webhook" and mine["policy"] == {"length": 24}
    assert parameters_for(params, db)["policy"] == {"length": 40}
    assert "target" not in parameters_for(params, db)


def test_a_rotation_after_deploying_runs_the_deployed_zip(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    assert deploy(emu, built, leak_guard)[0] == 0
    with emu.client() as client:
        client.execute_rotation_job(secret_id)
        [activation] = emu.wait_idle()
        chain = client.get_secret_values(secret_id)
        assert client.get_secret(secret_id).rotation_phase is RotationPhase.NONE
    assert activation.action_name == "secret-rotator"
    assert activation.result is not None and activation.result["ok"], activation.logs
    runner_action = emu.runner.actions["secret-rotator"]
    assert runner_action.code == built.path.read_bytes()  # type: ignore[union-attr]
    assert chain.previous == VALUE and chain.active is not None
    assert chain.active["password"] != VALUE["password"]


def test_changes_are_applied_and_only_they(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    assert deploy(emu, built, leak_guard)[0] == 0
    emu.stats.reset()
    code, out = deploy(emu, built, leak_guard, "--period", "7", "--memory-mb", "512")
    assert code == 0
    assert "action    secret-rotator                           update" in out
    assert f"trigger   {TRIGGER:<40} unchanged" in out
    assert "every 7 days" in out and "enable" in out
    assert emu.stats.calls["put_trigger"] == 0 and emu.stats.calls["link_action"] == 0
    with emu.client() as client:
        assert client.get_secret(secret_id).auto_rotation_period == 7


def test_failures_name_the_step_the_status_and_what_to_do(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    code, _ = deploy(emu, built, leak_guard, secrets=("no-such-secret",))
    _, err = leak_guard.read()
    assert code == 1 and "step secret failed" in err and "no secret named" in err

    emu.faults.add("put_action", status=403)
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1
    assert "step action failed (HTTP 403)" in err and "policy" in err

    code, _ = deploy(emu, built, leak_guard, "--secret-id", "f" * 64, secrets=())
    _, err = leak_guard.read()
    assert code == 1 and "step secret failed (HTTP 404)" in err
    assert "secretmanager.apigw.ntruss.com" in err  # where an older secret lives

    os.environ["NCLOUD_SECRET_KEY"] = "wrong-secret-key-0001"
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1 and "(HTTP 401)" in err and "NCLOUD_SECRET_KEY" in err
    assert "wrong-secret-key-0001" not in err


def test_secrets_that_cannot_join_the_trigger_are_refused_before_any_write(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    other = emu.backend.register_trigger("someone-elses-trigger")
    emu.backend.update_trigger(secret_id, {"triggerId": other.trigger_id})
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1
    assert "step trigger failed" in err and "another trigger" in err
    assert not WRITES & set(emu.stats.calls)

    disabled = new_secret(emu, "app-off")
    with emu.client() as client:
        client.disable_secret(disabled)
    code, _ = deploy(emu, built, leak_guard, secrets=("app-off",))
    _, err = leak_guard.read()
    assert code == 1 and "step secret failed" in err and "DISABLE" in err


def test_configuration_from_a_file_flags_and_environment(tmp_path: Path) -> None:
    example = (ROOT / "deploy" / "config.example.toml").read_text()
    path = tmp_path / "deploy.toml"
    path.write_text(
        example.replace("vpc_no = 0", "vpc_no = 11").replace("subnet_no = 0", "subnet_no = 22")
    )
    env = {"NCLOUD_ACCESS_KEY": "ak", "NCLOUD_SECRET_KEY": "sk", "ROTATOR_ACCESS_KEY": "rak",
           "ROTATOR_SECRET_KEY": "rsk"}  # fmt: skip
    config = load(path, {"rotation_period": 14}, env)
    assert (config.vpc_no, config.subnet_no) == (11, 22)
    assert [s.name for s in config.secrets] == ["app-db"]
    assert config.rotation_period == 14 and config.timeout_ms == 120000
    assert config.action_credentials.access_key == "rak"
    assert config.secret_manager_endpoint == "https://ocapi-kr.ncloud.com/secretmanager"
    assert "sk" not in repr(config).replace("secret", "")
    flagged = load(path, {"secret_names": ["a", "b"], "secret_ids": ["c1"]}, env)
    assert [(s.name, s.id) for s in flagged.secrets] == [("a", None), ("b", None), (None, "c1")]
    for bad_flags, message in (
        ({"rotation_period": 0}, "period_days"),
        ({"memory_mb": 300}, "memory_mb"),
        ({"timeout_ms": 400_000}, "timeout_ms"),
        ({"action": "-bad"}, "action name"),
        ({"secret_names": ["a", "a"]}, "listed twice"),
    ):
        with pytest.raises(ConfigError, match=message):
            load(path, bad_flags, env)
    with pytest.raises(ConfigError, match="vpc_no"):
        load(None, {"secret_names": ["x"]}, env)
    with pytest.raises(ConfigError, match="NCLOUD_ACCESS_KEY"):
        load(path, {}, {})
    base = example.replace("vpc_no = 0", "vpc_no = 1").replace("subnet_no = 0", "subnet_no = 2")
    for extra, message in (
        ('\n[action.parameters]\nsecretKey = "no"\n', None),
        ('\n[[secrets]]\nname = "b"\nrotation_period = 3\n', "unknown key rotation_period"),
        ('\n[[secrets]]\nname = "b"\nid = "c"\n', "one of them"),
        ('\n[[secrets]]\nname = "b"\ntarget = "redis"\n', "target must be a table"),
        ('\n[secret]\nname = "b"\n', "not both"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(base + extra)
        with pytest.raises(ConfigError, match=message):
            load(bad, {}, env)
    legacy = tmp_path / "legacy.toml"
    legacy.write_text(
        base.split("\n[[secrets]]\n")[0] + '\n[secret]\nname = "one"\nrotation_period_days = 9\n'
    )
    [spec] = load(legacy, {}, env).secrets
    assert (spec.name, spec.rotation_period) == ("one", 9)


def test_python_m_deploy_as_a_command(
    emu: Emulator, built: PackageResult, secret_id: str, leak_guard: LeakGuard
) -> None:
    environ = {
        **os.environ,
        "NCLOUD_ACCESS_KEY": emu.access_key,
        "NCLOUD_SECRET_KEY": emu.secret_key,
    }
    result = subprocess.run(
        [sys.executable, "-m", "deploy", *args(emu, built)], cwd=ROOT, env=environ,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    leak_guard.observe("deploy stdout", result.stdout)
    leak_guard.observe("deploy stderr", result.stderr)
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "deploy", "--secret-name", "x"], cwd=ROOT,
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "NCLOUD_ACCESS_KEY" in missing.stderr


def test_the_plan_is_one_json_object_of_parameters(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    code, out = deploy(emu, built, leak_guard, "--dry-run")
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("  action")]
    shown = line.split("parameters ", 1)[1].rsplit(")", 1)[0]
    assert json.loads(shown)["accessKey"] == "****"


def test_a_kept_secret_keeps_its_own_parameters_until_pruned(
    emu: Emulator, built: PackageResult, env: None, leak_guard: LeakGuard, tmp_path: Path
) -> None:
    new_secret(emu, "app-db")
    old = new_secret(emu, "app-old")
    both, one = tmp_path / "both.toml", tmp_path / "one.toml"
    both.write_text(
        '[[secrets]]\nname = "app-db"\n\n[[secrets]]\nname = "app-old"\npolicy = { length = 12 }\n'
    )
    one.write_text('[[secrets]]\nname = "app-db"\n')
    assert deploy(emu, built, leak_guard, "--config", str(both), secrets=())[0] == 0
    emu.stats.reset()
    code, out = deploy(emu, built, leak_guard, "--config", str(one), secrets=())
    assert code == 0 and "nothing to change" in out, out
    params = emu.cloud_functions.actions[("-", "secret-rotator")].body["parameters"]
    assert parameters_for(params, old)["policy"] == {"length": 12}, "still rotates as before"

    code, out = deploy(emu, built, leak_guard, "--config", str(one), "--prune", secrets=())
    assert code == 0, out
    params = emu.cloud_functions.actions[("-", "secret-rotator")].body["parameters"]
    assert BY_SECRET_ID not in params
    assert "action    secret-rotator                           update" in out


# -- CA files travel in the zip (issue 17 item 4) -------------------------------------------


def test_a_ca_file_named_in_the_config_works_inside_the_action(
    emu: Emulator,
    built: PackageResult,
    env: None,
    leak_guard: LeakGuard,
    pg_cluster: PgCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL with ``ssl = "verify-full"`` and ``sslRootCert`` naming a CA file on the
    deploying machine (a relative path, read from where deploy runs). The file is removed
    before the rotation, so only the copy packed into the zip can let the action, run by
    the emulator's action-loop runtime from the uploaded zip, verify the server."""
    user, pw = unique("caz"), password()
    pg_cluster.create_role(user, pw)
    value = {"engine": "postgresql", "host": pg_cluster.host, "port": pg_cluster.port,
             "dbname": "postgres", "username": user, "password": pw}  # fmt: skip
    with emu.client() as client:
        sid = create_secret(client, secret_name="app-pg", value=value).secret_id
    ca = Path(pg_cluster.ca_file).read_bytes()
    (tmp_path / "pg-ca.pem").write_bytes(ca)
    config = tmp_path / "deploy.toml"
    config.write_text(
        '[[secrets]]\nname = "app-pg"\n'
        'target = { ssl = "verify-full", sslRootCert = "pg-ca.pem" }\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out = deploy(emu, built, leak_guard, "--config", str(config), secrets=())
    assert code == 0, out
    entry = f"certs/{hashlib.sha256(ca).hexdigest()}.pem"
    assert "ca file   pg-ca.pem" in out and f"packed as {entry}" in out
    params = emu.cloud_functions.actions[("-", "secret-rotator")].body["parameters"]
    assert parameters_for(params, sid)["target"]["sslRootCert"] == entry
    code_zip = emu.runner.actions["secret-rotator"].code  # type: ignore[union-attr]
    assert isinstance(code_zip, bytes) and code_zip != built.path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(code_zip)) as archive:
        assert archive.read(entry) == ca
        assert archive.testzip() is None
        assert set(archive.namelist()) - {entry} == set(zipfile.ZipFile(built.path).namelist()), (
            "the zip of the commit, plus the CA file"
        )
    (tmp_path / "pg-ca.pem").unlink()  # the deploying machine's path is gone

    with emu.client() as client:
        client.execute_rotation_job(sid)
        [activation] = emu.wait_idle()
        chain = client.get_secret_values(sid)
    assert activation.result is not None and activation.result["ok"], activation.logs
    assert chain.active is not None and chain.active["password"] != pw
    assert pg_cluster.logs_in(user, chain.active["password"])
    assert not pg_cluster.logs_in(user, pw)

    emu.stats.reset()
    code, _ = deploy(emu, built, leak_guard, "--config", str(config), secrets=())
    assert code == 2, "the file is gone: refused, nothing written"
    _, err = leak_guard.read()
    assert "sslRootCert" in err and "pg-ca.pem" in err and "does not exist" in err
    assert not WRITES & set(emu.stats.calls)


def test_the_zip_with_ca_files_is_reproducible_and_shared_by_the_fleet(
    emu: Emulator, built: PackageResult, env: None, leak_guard: LeakGuard, tmp_path: Path,
    ca_file: str,
) -> None:  # fmt: skip
    """Two secrets and a notify webhook naming the same CA (by two paths): one entry; the
    same inputs give the same zip, so a second run changes nothing."""
    new_secret(emu, "app-db")
    hook = new_secret(emu, "app-hook")
    copy = tmp_path / "same-ca.pem"
    copy.write_bytes(Path(ca_file).read_bytes())
    target = ('{ kind = "webhook", url = "https://hooks.example/rotate", testUrl = '
              '"https://hooks.example/test", hmacKey = "ca-test-hmac-key-0123456789", '
              f'caBundle = "{copy}" }}')  # fmt: skip
    config = tmp_path / "deploy.toml"
    config.write_text(
        f'[[action.parameters.notify.webhooks]]\nurl = "https://hooks.example/alert"\n'
        f'caBundle = "{ca_file}"\n\n'
        f'[[secrets]]\nname = "app-db"\n\n[[secrets]]\nname = "app-hook"\ntarget = {target}\n'
    )
    code, out = deploy(emu, built, leak_guard, "--config", str(config), secrets=())
    assert code == 0, out
    entry = f"certs/{hashlib.sha256(copy.read_bytes()).hexdigest()}.pem"
    assert out.count(f"packed as {entry}") == 2  # two paths, one entry
    params = emu.cloud_functions.actions[("-", "secret-rotator")].body["parameters"]
    assert params["notify"]["webhooks"][0]["caBundle"] == entry
    assert parameters_for(params, hook)["target"]["caBundle"] == entry
    code_zip = emu.runner.actions["secret-rotator"].code  # type: ignore[union-attr]
    assert isinstance(code_zip, bytes)
    with zipfile.ZipFile(io.BytesIO(code_zip)) as archive:
        assert [n for n in archive.namelist() if n.startswith("certs/")] == [entry]
    emu.stats.reset()
    code, again = deploy(emu, built, leak_guard, "--config", str(config), secrets=())
    assert code == 0 and "nothing to change" in again, again
    assert emu.stats.calls["put_action"] == 0


def test_a_ca_file_with_a_private_key_is_refused(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard,
    tmp_path: Path, ca: trustme.CA,
) -> None:  # fmt: skip
    combined = tmp_path / "server.pem"
    issued = ca.issue_cert("db.example.com")
    combined.write_bytes(ca.cert_pem.bytes() + issued.private_key_pem.bytes())
    config = tmp_path / "deploy.toml"
    config.write_text(
        '[[secrets]]\nname = "app-db"\ntarget = { kind = "postgresql", host = '
        f'"db.example.com", sslRootCert = "{combined}" }}\n'
    )
    code, _ = deploy(emu, built, leak_guard, "--config", str(config), secrets=())
    _, err = leak_guard.read()
    assert code == 2
    assert "[[secrets]] app-db target.sslRootCert" in err and str(combined) in err
    assert "private key" in err and "PRIVATE" not in err.replace("private key", "")
    assert not WRITES & set(emu.stats.calls)


def test_a_kept_secret_whose_own_ca_file_would_be_dropped_is_refused(
    emu: Emulator, built: PackageResult, env: None, leak_guard: LeakGuard, tmp_path: Path,
    ca_file: str,
) -> None:  # fmt: skip
    """A secret left linked without its [[secrets]] table keeps its own parameters; if they
    name a packed CA file, this zip would not carry it: refused before any write."""
    new_secret(emu, "app-db")
    new_secret(emu, "app-old")
    both, one = tmp_path / "both.toml", tmp_path / "one.toml"
    both.write_text(
        '[[secrets]]\nname = "app-db"\n\n[[secrets]]\nname = "app-old"\ntarget = { kind = '
        '"webhook", url = "https://hooks.example/rotate", testUrl = "https://hooks.example/t",'
        f' hmacKey = "ca-test-hmac-key-0123456789", caBundle = "{ca_file}" }}\n'
    )
    one.write_text('[[secrets]]\nname = "app-db"\n')
    assert deploy(emu, built, leak_guard, "--config", str(both), secrets=())[0] == 0
    emu.stats.reset()
    code, _ = deploy(emu, built, leak_guard, "--config", str(one), secrets=())
    _, err = leak_guard.read()
    assert code == 2, err
    assert "app-old" in err and "certs/" in err and "--prune" in err
    assert not WRITES & set(emu.stats.calls)
    code, out = deploy(emu, built, leak_guard, "--config", str(one), "--prune", secrets=())
    assert code == 0, out


# -- pause survives deploy (issue 17 item 5) -------------------------------------------------


def test_a_paused_secret_stays_paused_unless_unpause(
    emu: Emulator, built: PackageResult, env: None, leak_guard: LeakGuard
) -> None:
    paused, running = new_secret(emu, "app-db"), new_secret(emu, "app-cache")
    both = ("app-db", "app-cache")
    assert deploy(emu, built, leak_guard, "--period", "14", secrets=both)[0] == 0
    result = cli(emu, leak_guard, "pause", paused)
    assert result.returncode == 0, result.stderr

    emu.stats.reset()
    code, out = deploy(emu, built, leak_guard, "--period", "14", secrets=both)
    assert code == 0, out
    assert "app-db paused" in out
    assert "paused by an operator: kept paused; --unpause to resume" in out
    assert "nothing to change" in out
    assert not WRITES & set(emu.stats.calls), emu.stats.calls
    with emu.client() as client:
        assert client.get_secret(paused).auto_rotation is False
        assert client.get_secret(running).auto_rotation is True

    code, plan = deploy(emu, built, leak_guard, "--period", "14", "--unpause", "--dry-run",
                        secrets=both)  # fmt: skip
    assert code == 0 and "would enable  (was paused; resumed by --unpause)" in plan, plan
    code, out = deploy(emu, built, leak_guard, "--period", "14", "--unpause", secrets=both)
    assert code == 0, out
    assert emu.stats.calls["enable_auto_rotation"] == 1, "only the paused secret"
    with emu.client() as client:
        detail = client.get_secret(paused)
    assert detail.auto_rotation and detail.auto_rotation_period == 14


def test_a_failure_that_leaves_a_new_secret_off_says_to_unpause(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    """Secret Manager shows "linked by a deploy that failed before enabling" exactly like
    "paused by an operator": the failure says so, and --unpause finishes the job."""
    emu.faults.add("enable_auto_rotation", status=403)
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1 and "step rotation failed (HTTP 403)" in err
    assert "app-db joined the trigger in this run" in err and "--unpause" in err
    code, out = deploy(emu, built, leak_guard)
    assert code == 0 and "kept paused" in out
    code, out = deploy(emu, built, leak_guard, "--unpause")
    assert code == 0, out
    with emu.client() as client:
        assert client.get_secret(secret_id).auto_rotation


# -- help, key pairs (issue 17 item 5) -------------------------------------------------------


def test_help_documents_every_flag_and_the_exit_codes_in_plain_text() -> None:
    parser = deploy_parser()
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help"
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "--help"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False, env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "``" not in text and ":data:" not in text and ":func:" not in text
    for line in ("exit codes:", "0  done", "1  a step failed", "2  bad input"):
        assert line in text
    for name in ("NCLOUD_ACCESS_KEY", "ROTATOR_SECRET_KEY", "--unpause", "certs/<sha256>.pem"):
        assert name in text


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("ROTATOR_ACCESS_KEY", "ROTATOR_SECRET_KEY"),
        ("ROTATOR_SECRET_KEY", "ROTATOR_ACCESS_KEY"),
        ("NCLOUD_ACCESS_KEY", "NCLOUD_SECRET_KEY"),
        ("NCLOUD_SECRET_KEY", "NCLOUD_ACCESS_KEY"),
    ],
)
def test_half_a_key_pair_is_refused(given: str, missing: str) -> None:
    env = {"NCLOUD_ACCESS_KEY": "ak", "NCLOUD_SECRET_KEY": "sk-half-pair-0001", given: "x"}
    env.pop(missing, None)
    with pytest.raises(ConfigError) as caught:
        load(None, {"secret_names": ["a"], "vpc_no": 1, "subnet_no": 2}, env)
    message = str(caught.value)
    assert given in message and missing in message
    assert "sk-half-pair-0001" not in message
