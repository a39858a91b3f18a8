"""Run ``python -m rotation`` as an operator does: a separate process, real HTTP to the
emulator, its stdout and stderr handed to the leak guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from emulator import Emulator
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]


def cli(
    emu: Emulator,
    guard: LeakGuard,
    *args: str,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "NCLOUD_ACCESS_KEY": emu.access_key,
        "NCLOUD_SECRET_KEY": emu.secret_key,
        **(env or {}),
    }
    data = stdin.encode() if isinstance(stdin, str) else stdin
    raw = subprocess.run(
        [sys.executable, "-m", "rotation", "--endpoint", emu.endpoint, *args],
        cwd=ROOT,
        input=data,
        capture_output=True,
        env=environ,
        timeout=timeout,
        check=False,
    )
    result = subprocess.CompletedProcess(
        raw.args,
        raw.returncode,
        raw.stdout.decode("utf-8", "replace"),
        raw.stderr.decode("utf-8", "replace"),
    )
    guard.observe("cli stdout", result.stdout)
    guard.observe("cli stderr", result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)
