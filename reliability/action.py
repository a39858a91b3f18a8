"""The rotation action run as the runtime runs it, in a process the harness can kill.

Same launcher and message as :class:`emulator.actions.ProcessAction` (a fresh interpreter
on ``emulator/launcher.py``, parameters as ``value``, activation fields as ``__OW_*``,
result on file descriptor 3, the timeout enforced with a kill), with two differences the
fault matrix needs: the process handle is the harness's (``kill`` is a real SIGKILL at the
moment the harness chooses), and stdout and stderr are kept apart for the leak check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.actions import LAUNCHER, PROJECT_ROOT

#: How long the readers of a finished action's output may take to reach its end: an upper
#: bound for a broken run only.
OUTPUT_END_TIMEOUT = 60.0


@dataclass
class ActionRun:
    """One activation: how it ended, its result and everything it wrote."""

    label: str
    status: str = "running"  # success | application error | developer error | timeout | killed
    result: dict[str, Any] | None = None
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0

    @property
    def error_code(self) -> str | None:
        error = (self.result or {}).get("error")
        return error.get("code") if isinstance(error, dict) else None

    @property
    def left_for_retry(self) -> bool:
        return bool((self.result or {}).get("leftForRetry"))


@dataclass
class RunningAction:
    run: ActionRun
    proc: subprocess.Popen[bytes]
    timeout_s: float
    started: float
    _threads: list[threading.Thread] = field(default_factory=list)
    _out: list[bytes] = field(default_factory=list)
    _err: list[bytes] = field(default_factory=list)
    _result: list[bytes] = field(default_factory=list)
    _killed: bool = False

    @property
    def done(self) -> bool:
        return self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL, as the runtime (or a crashed host) would: no cleanup runs."""
        self._killed = True
        self.proc.kill()

    def wait(self) -> ActionRun:
        left = max(0.0, self.started + self.timeout_s - time.monotonic())
        try:
            self.proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.run.status = "timeout"
        for thread in self._threads:
            # The pipes end with the process: a reader still running after this long means
            # something else holds them, and what it read so far is not the whole output.
            thread.join(timeout=OUTPUT_END_TIMEOUT)
            if thread.is_alive():
                raise RuntimeError(f"the output of activation {self.run.label} did not end")
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        run = self.run
        run.duration_s = time.monotonic() - self.started
        run.exit_code = self.proc.returncode
        run.stdout = b"".join(self._out).decode("utf-8", "replace")
        run.stderr = b"".join(self._err).decode("utf-8", "replace")
        if self._killed:
            run.status = "killed"
            return run
        if run.status == "timeout":
            return run
        text = b"".join(self._result).decode("utf-8", "replace").strip()
        if self.proc.returncode != 0 or not text:
            run.status = "developer error"
            return run
        try:
            result = json.loads(text.splitlines()[-1])
        except ValueError:
            run.status = "developer error"
            return run
        run.result = result if isinstance(result, dict) else None
        run.status = "application error" if "error" in (run.result or {}) else "success"
        return run


def start_action(
    label: str,
    params: Mapping[str, Any],
    *,
    secret_id: str,
    job_token: str,
    timeout_ms: int,
    env: Mapping[str, str] | None = None,
) -> RunningAction:
    """Start one activation of ``handler.main`` for this job; returns at once."""
    started_ms = int(time.time() * 1000)
    message = {
        "value": {**params, "secretId": secret_id, "jobToken": job_token},
        "secretId": secret_id,
        "jobToken": job_token,
        "activation_id": os.urandom(16).hex(),
        "action_name": f"/ncp/{label}",
        "namespace": "ncp",
        "deadline": str(started_ms + timeout_ms),
    }
    read_fd, write_fd = os.pipe()
    command = [
        sys.executable, "-I", str(LAUNCHER), "--action-dir", str(PROJECT_ROOT),
        "--module", "handler", "--function", "main", "--result-fd", str(write_fd),
    ]  # fmt: skip
    process_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LOG_LEVEL": "DEBUG",
        **(env or {}),
    }
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            env=process_env,
            cwd=str(PROJECT_ROOT),
        )
    finally:
        os.close(write_fd)
    running = RunningAction(ActionRun(label), proc, timeout_ms / 1000, time.monotonic())
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdin is not None
    sources = (
        (proc.stdout.fileno(), running._out),
        (proc.stderr.fileno(), running._err),
        (read_fd, running._result),
    )
    for source, sink in sources:
        closing = source == read_fd
        thread = threading.Thread(target=_drain, args=(source, sink, closing), daemon=True)
        thread.start()
        running._threads.append(thread)
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.close()
    return running


def _drain(fd: int, chunks: list[bytes], close: bool) -> None:
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                return
            chunks.append(data)
    except OSError:
        return
    finally:
        if close:
            os.close(fd)
