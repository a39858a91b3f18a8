"""``python -m deploy`` with ``[watch]`` against the emulator, then the watchdog as Cloud
Functions runs it: the zip uploaded as a second action (``exec.main = "watch"``), its cron
trigger firing it in the action runtime (its own process, the runtime's Python), a problem
made on purpose reported to a real HTTPS receiver, the counts at the Cloud Insight
collector; a windowed secret kept off on purpose, and back on when its window goes."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import trustme

from deploy.__main__ import main as deploy_main
from deploy.package import PackageResult, build_package
from emulator import Emulator
from tests.factories import create_secret
from tests.leaks import LeakGuard
from tests.watch_world import inbox

VALUE = {"engine": "store-only", "username": "app", "password": "watch-initial-Pw-1"}
WINDOW = '{ days = "tue,thu", hours = "02:00-04:00", timezone = "Asia/Seoul" }'


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    return build_package(out=tmp_path_factory.mktemp("zip") / "rotation-action.zip")


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCLOUD_ACCESS_KEY", emu.access_key)
    monkeypatch.setenv("NCLOUD_SECRET_KEY", emu.secret_key)
    monkeypatch.delenv("ROTATOR_ACCESS_KEY", raising=False)
    monkeypatch.delenv("ROTATOR_SECRET_KEY", raising=False)


def config(emu: Emulator, tmp_path: Path, hook: str, ca_file: str, *, window: bool) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(
        f"""
[ncloud]
cloud_functions_endpoint = "{emu.cloud_functions_endpoint}"
secret_manager_endpoint = "{emu.endpoint}"

[action]
vpc_no = 101
subnet_no = 202
timeout_ms = 60000

[action.parameters.notify]
environment = "e2e"

[[action.parameters.notify.webhooks]]
url = "{hook}"
format = "json"
hmacKey = "watch-e2e-signing-key-0123"
caBundle = "{ca_file}"

[watch]
schedule = "*/10 * * * *"

[watch.metrics]
endpoint = "{emu.cloud_insight_endpoint}"

[[secrets]]
name = "app-db"

[[secrets]]
name = "win-db"
{"window = " + WINDOW if window else ""}
""",
        encoding="utf-8",
    )
    return path


def deploy(built: PackageResult, path: Path, guard: LeakGuard, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    code = deploy_main(["--config", str(path), "--zip", str(built.path), *extra], out=out)
    guard.observe("deploy output", out.getvalue())
    return code, out.getvalue()


def test_deploy_and_run_the_watchdog(
    emu: Emulator,
    built: PackageResult,
    env: None,
    tmp_path: Path,
    ca: trustme.CA,
    ca_file: str,
    leak_guard: LeakGuard,
) -> None:
    with emu.client() as client:
        app = create_secret(client, secret_name="app-db", value=dict(VALUE)).secret_id
        win = create_secret(client, secret_name="win-db", value=dict(VALUE)).secret_id
    with inbox(ca) as box:
        path = config(emu, tmp_path, box.base + "/alerts", ca_file, window=True)
        code, out = deploy(built, path, leak_guard, "--dry-run")
        assert code == 0, out
        for step, subject in (("memory", "rotator-watch"), ("schema", "Custom/SecretRotator"),
                              ("watch", "secret-rotator-watch"),
                              ("cron", "secret-rotator-watch-cron")):  # fmt: skip
            assert re.search(rf"{step}\s+{re.escape(subject)}\s+would create", out), step
        assert emu.cloud_functions.actions == {} and emu.cloud_insight.schemas == {}
        code, out = deploy(built, path, leak_guard)
        assert code == 0, out
        for line in ("memory    rotator-watch", "schema    Custom/SecretRotator",
                     "watch     secret-rotator-watch", "cron      secret-rotator-watch-cron",
                     "link      secret-rotator-watch -> secret-rotator-watch-cron",
                     "rotation  win-db in window"):  # fmt: skip
            assert line in out, line
        assert "auto rotation off on purpose" in out
        watch = emu.cloud_functions.actions[("-", "secret-rotator-watch")]
        assert watch.body["exec"]["main"] == "watch" and watch.code_sha256
        cron = emu.cloud_functions.triggers["secret-rotator-watch-cron"]
        assert cron.schedule is not None and cron.schedule.text == "*/10 * * * *"
        assert cron.actions == ["secret-rotator-watch"]
        params: dict[str, Any] = watch.body["parameters"]
        assert (
            params["watch"]["metrics"]["cwKey"]
            == emu.cloud_insight.schemas["Custom/SecretRotator"].cw_key
        )
        assert params["notify"]["webhooks"][0]["caBundle"].startswith("certs/")
        with emu.client() as client:
            assert client.get_secret(app).auto_rotation is True
            detail = client.get_secret(win)
            assert detail.auto_rotation is False and detail.trigger is not None
        again_code, again = deploy(built, path, leak_guard)
        assert again_code == 0 and "nothing to change" in again, again

        with emu.client() as client:  # an operator pauses app-db: the watchdog must say so
            client.disable_auto_rotation(app)
        assert emu.cloud_functions.fire("secret-rotator-watch-cron") == ["secret-rotator-watch"]
        [activation] = [a for a in emu.wait_idle() if a.action_name == "secret-rotator-watch"]
        result = activation.result
        assert activation.status == "success", result
        assert result["ok"] and result["secrets"] == 2 and result["new"] == 1
        assert result["counts"] == {"auto rotation off": 1, "ok": 1}
        assert result["metrics"] == {"records": 3, "calls": 1}
        [alert] = box.take()
        assert alert["event"] == "watch.problem" and alert["secretId"] == app
        assert alert["problem"] == "auto rotation off" and alert["environment"] == "e2e"
        fleet = emu.cloud_insight.records("Custom/SecretRotator")[0].record
        assert fleet["secretId"] == "_fleet" and fleet["auto_off"] == 1

        # The window goes: win-db was off because of it, so deploy turns it back on; app-db
        # was paused by an operator, so it stays paused.
        path = config(emu, tmp_path, box.base + "/alerts", ca_file, window=False)
        code, out = deploy(built, path, leak_guard)
        assert code == 0, out
        assert "its window was removed" in out and "app-db paused" in out
        with emu.client() as client:
            assert client.get_secret(win).auto_rotation is True
            assert client.get_secret(app).auto_rotation is False
