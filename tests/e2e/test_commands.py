"""The commands a user runs, as a user runs them: separate processes, real output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials

ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_demo_round_trip_exits_zero() -> None:
    result = run("-m", "emulator.demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for field in (
        "secretId",
        "secretName",
        "secretStatus",
        "rotationPhase",
        "nextRotationDate",
        "protectionKey",
        "autoRotationPeriod",
    ):
        assert field in out
    assert "initial-Passw0rd" not in out + result.stderr
    assert '"password": "****"' in out


def test_emulator_serves_until_interrupted() -> None:
    env = {**os.environ, "NCLOUD_ACCESS_KEY": "cli-ak", "NCLOUD_SECRET_KEY": "cli-sk-not-printed"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--prefix", "/secretmanager"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "Secret Manager emulator on http://127.0.0.1:" in line
        endpoint = line.split(" on ")[1].strip()
        assert endpoint.endswith("/secretmanager")
        with SecretManagerClient(
            Credentials("cli-ak", "cli-sk-not-printed"), endpoint=endpoint
        ) as c:
            assert c.list_secrets().total_count == 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave it running for a later test to find
            proc.communicate()
            raise
    assert proc.returncode == 0
    assert "cli-sk-not-printed" not in out + err + line


def test_emulator_stops_on_a_signal_the_moment_it_is_ready() -> None:
    """Ctrl-C right after the ready line (while the next lines print) stops it cleanly: the
    handler is in place before the line, so nothing escapes to hang the interpreter."""
    env = {**os.environ, "NCLOUD_ACCESS_KEY": "cli-ak", "NCLOUD_SECRET_KEY": "cli-sk-not-printed"}
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        assert "Secret Manager emulator on" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        assert proc.returncode == 0, err
        assert "Traceback" not in err


def test_emulator_refuses_to_start_without_credentials() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NCLOUD_")}
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "NCLOUD_ACCESS_KEY" in result.stderr
