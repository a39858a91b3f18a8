"""``python -m deploy`` against the emulated Cloud Functions and Secret Manager APIs: the
plan, the first deployment, the no-op second one, and a rotation run by the deployed zip."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.__main__ import main as deploy_main
from deploy.config import ConfigError, load
from deploy.package import PackageResult, build_package
from emulator import Emulator
from rotation.ncp.models import RotationPhase
from tests.factories import create_secret
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]
VALUE = {"engine": "store-only", "username": "app", "password": "deploy-initial-Pw-1"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    return build_package(out=tmp_path_factory.mktemp("zip") / "rotation-action.zip")


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCLOUD_ACCESS_KEY", emu.access_key)
    monkeypatch.setenv("NCLOUD_SECRET_KEY", emu.secret_key)
    monkeypatch.delenv("ROTATOR_ACCESS_KEY", raising=False)
    monkeypatch.delenv("ROTATOR_SECRET_KEY", raising=False)


def args(emu: Emulator, built: PackageResult, *extra: str, secret: str = "app-db") -> list[str]:
    return [
        "--zip", str(built.path), "--secret-name", secret, "--vpc-no", "101",
        "--subnet-no", "202", "--cloud-functions-endpoint", emu.cloud_functions_endpoint,
        "--secret-manager-endpoint", emu.endpoint, *extra,
    ]  # fmt: skip


def deploy(
    emu: Emulator, built: PackageResult, guard: LeakGuard, *extra: str, **kw: str
) -> tuple[int, str]:
    out = io.StringIO()
    code = deploy_main(args(emu, built, *extra, **kw), out=out)
    guard.observe("deploy output", out.getvalue())
    return code, out.getvalue()


@pytest.fixture
def secret_id(emu: Emulator) -> str:
    with emu.client() as client:
        return create_secret(client, secret_name="app-db", value=dict(VALUE)).secret_id


def test_dry_run_prints_the_plan_and_changes_nothing(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    code, out = deploy(emu, built, leak_guard, "--dry-run")
    assert code == 0, out
    assert "plan (dry run, nothing is changed)" in out
    assert built.sha256 in out
    for line in (
        "action    secret-rotator",
        "trigger   secret-rotator-trigger",
        "link",
        "rotation",
    ):
        assert line in out
    assert out.count("would create") == 2 and "would link" in out and "would enable" in out
    assert "secretKey=****" in out and emu.secret_key not in out
    assert emu.cloud_functions.actions == {} and emu.cloud_functions.triggers == {}
    with emu.client() as client:
        assert client.get_secret(secret_id).auto_rotation is False


def test_deploy_then_a_second_run_changes_nothing(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    code, out = deploy(emu, built, leak_guard, "--period", "45")
    assert code == 0, out
    assert out.rstrip().endswith("done")
    [action] = emu.cloud_functions.actions.values()
    assert action.name == "secret-rotator" and action.code_sha256 == built.sha256
    assert action.body["exec"] == {"kind": "python:3.13", "binary": True, "main": "main"}
    assert action.body["limits"] == {"timeout": 120000, "memory": 256}
    assert action.body["vpc"] == [{"vpcNo": 101, "subnetNo": 202}]
    assert action.body["parameters"]["secretManagerEndpoint"] == emu.endpoint
    with emu.client() as client:
        detail = client.get_secret(secret_id)
        [trigger] = client.list_triggers()
    assert trigger.name == "secret-rotator-trigger"
    assert trigger.linked_secrets == (secret_id,)
    assert [a.name for a in trigger.actions] == ["secret-rotator"]
    assert detail.auto_rotation and detail.auto_rotation_period == 45
    assert detail.trigger is not None and detail.trigger.id == trigger.id

    emu.stats.reset()
    code, again = deploy(emu, built, leak_guard, "--period", "45")
    assert code == 0
    assert "nothing to change: the deployment is up to date" in again
    assert again.count("unchanged") == 4
    writes = {"put_action", "put_trigger", "link_action", "enable_auto_rotation"}
    assert not writes & set(emu.stats.calls)


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
    assert runner_action.action_dir.is_relative_to(emu.cloud_functions.workdir)  # type: ignore[union-attr]
    assert runner_action.bare is True  # type: ignore[union-attr]
    assert chain.previous == VALUE and chain.active is not None
    assert chain.active["password"] != VALUE["password"]


def test_changes_are_applied_and_only_they(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    assert deploy(emu, built, leak_guard)[0] == 0
    code, out = deploy(emu, built, leak_guard, "--period", "7", "--memory-mb", "512")
    assert code == 0
    assert "action    secret-rotator                           update" in out
    assert "trigger   secret-rotator-trigger                   unchanged" in out
    assert "every 7 days" in out and "enable" in out
    with emu.client() as client:
        assert client.get_secret(secret_id).auto_rotation_period == 7


def test_failures_name_the_step_the_status_and_what_to_do(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    code, _ = deploy(emu, built, leak_guard, secret="no-such-secret")
    _, err = leak_guard.read()
    assert code == 1 and "step secret failed" in err and "no secret named" in err

    emu.faults.add("put_action", status=403)
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1
    assert "step action failed (HTTP 403)" in err and "policy" in err

    os.environ["NCLOUD_SECRET_KEY"] = "wrong-secret-key-0001"
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1 and "(HTTP 401)" in err and "NCLOUD_SECRET_KEY" in err
    assert "wrong-secret-key-0001" not in err


def test_a_secret_linked_elsewhere_is_refused(
    emu: Emulator, built: PackageResult, env: None, secret_id: str, leak_guard: LeakGuard
) -> None:
    other = emu.backend.register_trigger("someone-elses-trigger")
    emu.backend.update_trigger(secret_id, {"triggerId": other.trigger_id})
    code, _ = deploy(emu, built, leak_guard)
    _, err = leak_guard.read()
    assert code == 1
    assert "step trigger failed (HTTP 400)" in err and "another trigger" in err


def test_configuration_from_a_file_flags_and_environment(tmp_path: Path) -> None:
    example = (ROOT / "deploy" / "config.example.toml").read_text()
    path = tmp_path / "deploy.toml"
    path.write_text(
        example.replace("vpc_no = 0", "vpc_no = 11").replace("subnet_no = 0", "subnet_no = 22")
    )
    env = {"NCLOUD_ACCESS_KEY": "ak", "NCLOUD_SECRET_KEY": "sk", "ROTATOR_ACCESS_KEY": "rak",
           "ROTATOR_SECRET_KEY": "rsk"}  # fmt: skip
    config = load(path, {"rotation_period": 14}, env)
    assert (config.vpc_no, config.subnet_no, config.secret_name) == (11, 22, "app-db")
    assert config.rotation_period == 14 and config.timeout_ms == 120000
    assert config.action_credentials.access_key == "rak"
    assert config.secret_manager_endpoint == "https://ocapi-kr.ncloud.com/secretmanager"
    assert "sk" not in repr(config).replace("secret", "")
    for bad_flags, message in (
        ({"rotation_period": 0}, "rotation_period_days"),
        ({"memory_mb": 300}, "memory_mb"),
        ({"timeout_ms": 400_000}, "timeout_ms"),
        ({"action": "-bad"}, "action name"),
    ):
        with pytest.raises(ConfigError, match=message):
            load(path, bad_flags, env)
    with pytest.raises(ConfigError, match="vpc_no"):
        load(None, {"secret_name": "x"}, env)
    with pytest.raises(ConfigError, match="NCLOUD_ACCESS_KEY"):
        load(path, {}, {})
    leaky = tmp_path / "leaky.toml"
    leaky.write_text(example + '\n[action.parameters]\nsecretKey = "no"\n')
    with pytest.raises(ConfigError):
        load(leaky, {}, env)


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
