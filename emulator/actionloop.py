"""One emulated container: the action-loop proxy's ``/init`` and ``/run``, and its logs.

Written for the emulator from the action-loop protocol NCP Cloud Functions' Python runtime
speaks (Apache OpenWhisk: a proxy in the container, the launcher process it starts, and the
invoker that collects the logs). What holds here, because actions break on exactly these:

* **/init, once per container.** The code is unpacked into ``src/`` (a zip is unzipped by
  the proxy), ``compiler.py`` runs (any output, or a non-zero exit, fails the init: 502 "The
  action failed to generate or locate a binary."), and ``bin/exec`` is started: the action
  is *imported now*, not at the first activation. The proxy waits for the launcher's
  ``{"ok": true}`` on fd 3; a process that exits first fails the init (502 "Cannot start
  action."). A failed init writes its reason to stderr followed by the end-of-activation
  marker on both streams, so the activation's log shows it.
* **The environment is built from scratch**: only the container's ``__OW_*`` variables
  (the first activation's fields, the execution environment, the ack flag) and what the
  init passes. No ``PATH``, ``HOME`` or ``LANG``: what the action sees beyond that comes
  from ``exec`` itself (``PYTHONIOENCODING``; bash's ``PWD``, ``OLDPWD``, ``SHLVL``) and
  from Python (``LC_CTYPE``, set by its C-locale coercion).
* **/run, one line in, one line out.** The activation message goes to the process's stdin
  as one JSON line; the answer is the next line on fd 3. Then the marker
  ``XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX`` is written on stdout and on stderr. No answer
  because the process ended: ``{"error": "command exited"}``. An answer that is not a JSON
  object or array: "The action did not return a dictionary or array.". Either is a
  developer error, and the invoker then destroys the container.
* **Logs, stream by stream.** stdout and stderr are pipes read line by line as they
  arrive, each line timestamped (as the container's log driver does); an activation's log
  is what each stream held up to its marker. Output written after the marker (a thread
  still printing) is the *next* activation's.
* **The process is the container.** It runs in its own process group; destroying the
  container kills the group, like removing a container.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
COMPILER = Path(__file__).with_name("compiler.py")

#: The proxy's answers (the error texts the runtime gives).
COMPILE_FAILED = "The action failed to generate or locate a binary. See logs for details."
START_FAILED = "Cannot start action. Check logs for details."
COMMAND_EXITED = "command exited"
NOT_OBJECT = "The action did not return a dictionary or array."

SUCCESS = "success"
APPLICATION_ERROR = "application error"
DEVELOPER_ERROR = "developer error"
TIMEOUT = "timeout"

_LOG_WAIT_S = 10.0


def timed_out(timeout_ms: int, *, init: bool) -> str:
    """The runtime's message for an activation (or its init) over the time limit."""
    tail = " during initialization." if init else "."
    return f"The action exceeded its time limits of {timeout_ms} milliseconds{tail}"


@dataclass(frozen=True)
class LogLine:
    """One line an activation wrote, as the log driver recorded it."""

    time: float
    stream: str  # stdout | stderr
    text: str


@dataclass
class Outcome:
    """How an /init or a /run ended, read the way the invoker reads it."""

    status: str  # success | application error | developer error | timeout
    result: Any = None
    #: The container can take another activation.
    alive: bool = True
    logs: list[LogLine] = field(default_factory=list)


class StreamLog:
    """One stream of the container (stdout or stderr), read as it is written.

    The proxy keeps a write end of the pipe for itself, to add the end-of-activation
    marker after the process's own writes."""

    def __init__(self, name: str) -> None:
        self.name = name
        read_fd, self.write_fd = os.pipe()
        self._entries: list[LogLine | None] = []  # None: an end-of-activation marker
        self._done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(
            target=self._read, args=(read_fd,), name=f"log-{name}", daemon=True
        )
        self._thread.start()

    def _append(self, text: str) -> None:
        with self._cond:
            if text.endswith(SENTINEL):
                before = text[: -len(SENTINEL)]
                if before:
                    self._entries.append(LogLine(time.time(), self.name, before))
                self._entries.append(None)
            else:
                self._entries.append(LogLine(time.time(), self.name, text))
            self._cond.notify_all()

    def _read(self, fd: int) -> None:
        pending = b""
        try:
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._append(line.decode("utf-8", "replace"))
            if pending:
                self._append(pending.decode("utf-8", "replace"))
        finally:
            os.close(fd)
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def mark(self, text: str = "") -> None:
        """Write ``text`` (a line) and the end-of-activation marker, as the proxy does."""
        os.write(self.write_fd, (text + SENTINEL + "\n").encode("utf-8"))

    def take(self, *, until_marker: bool) -> list[LogLine]:
        """This activation's lines: up to the next marker (waiting for it briefly), or
        everything left once the stream is closed."""
        with self._cond:
            if until_marker:
                self._cond.wait_for(lambda: None in self._entries or self._done, _LOG_WAIT_S)
            if None in self._entries:
                end = self._entries.index(None)
                lines, self._entries = self._entries[:end], self._entries[end + 1 :]
            else:
                lines, self._entries = list(self._entries), []
        return [line for line in lines if line is not None]

    def close(self) -> None:
        """Close the proxy's write end; the reader ends once the process's are closed."""
        os.close(self.write_fd)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Container:
    """A container for one action: a folder, an action-loop process, two log streams."""

    def __init__(self, cid: str, directory: Path, python: str, env: Mapping[str, str]) -> None:
        self.cid = cid
        self.directory = directory
        self.python = python
        self.env = dict(env)
        self.stdout = StreamLog("stdout")
        self.stderr = StreamLog("stderr")
        self.pid: int | None = None
        self._stdin: int | None = None
        self._answers: queue.Queue[bytes | None] = queue.Queue()  # None: fd 3 closed
        self._destroyed = False
        self._lock = threading.Lock()
        #: Set once the container is destroyed (its process killed and reaped).
        self.gone = threading.Event()
        directory.mkdir(parents=True)

    # -- /init ----------------------------------------------------------------------------

    def init(self, unpack: Callable[[Path], None], main: str, timeout_ms: int) -> Outcome | None:
        """Unpack, compile, start and wait for the ack. ``None`` when the container is
        ready; else the failed init, as the activation that asked for it records it."""
        end = time.monotonic() + timeout_ms / 1000
        try:
            failure = self._build(unpack, main, end) or self._start_and_wait(end)
        except (subprocess.TimeoutExpired, queue.Empty):
            self.destroy()
            logs = self._take(until_marker=False)
            return Outcome(TIMEOUT, {"error": timed_out(timeout_ms, init=True)}, False, logs)
        if failure is None:
            return None
        answer, reason = failure
        self.stdout.mark()
        self.stderr.mark(reason + "\n")
        logs = self._take(until_marker=True)
        self.destroy()
        return Outcome(DEVELOPER_ERROR, {"error": answer}, alive=False, logs=logs)

    def _build(
        self, unpack: Callable[[Path], None], main: str, end: float
    ) -> tuple[str, str] | None:
        """Unpack into ``src/`` and compile into ``bin/``: ``(answer, reason)`` if not."""
        src, bin_dir = self.directory / "src", self.directory / "bin"
        try:
            src.mkdir()
            unpack(src)
        except Exception as exc:  # noqa: BLE001 - a bad zip or folder fails the init
            return COMPILE_FAILED, f"cannot unpack the action: {exc}"
        done = subprocess.run(  # noqa: S603 - our compiler, fixed arguments
            [self.python, "-I", str(COMPILER), main, str(src), str(bin_dir)],
            env={"PATH": os.environ.get("PATH", ""), **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=max(0.0, end - time.monotonic()),
            cwd=self.directory,
            check=False,
        )
        output = done.stdout.decode("utf-8", "replace").rstrip("\n")
        if done.returncode != 0 or output or not (bin_dir / "exec").exists():
            return COMPILE_FAILED, output or f"exit status {done.returncode}"
        return None

    def _start_and_wait(self, end: float) -> tuple[str, str] | None:
        """Start ``bin/exec`` and wait for its ack: ``(answer, reason)`` if none came."""
        self._start(self.directory / "bin" / "exec")
        answer = self._answers.get(timeout=max(0.0, end - time.monotonic()))
        if answer is None:
            return START_FAILED, "Command exited abruptly during initialization."
        try:
            acked = json.loads(answer).get("ok") is True
        except (ValueError, AttributeError):
            acked = False
        return None if acked else (START_FAILED, "The action did not initialize properly.")

    def _start(self, executable: Path) -> None:
        """Start ``exec`` with exactly the container's environment, its stdout and stderr
        on the log pipes and the answer pipe on fd 3, in a process group of its own."""
        stdin_read, self._stdin = os.pipe()
        answer_read, answer_write = os.pipe()
        wanted = {0: stdin_read, 1: self.stdout.write_fd, 2: self.stderr.write_fd, 3: answer_write}
        # Above 10 first, so no source is also the target of a later dup2.
        moved = {
            target: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for target, fd in wanted.items()
        }
        try:
            self.pid = os.posix_spawn(
                str(executable),
                [str(executable)],
                self.env,
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in moved.items()],
                setpgroup=0,
            )
        finally:
            for fd in (*moved.values(), stdin_read, answer_write):
                os.close(fd)
        threading.Thread(
            target=self._read_answers, args=(answer_read,), name=f"answers-{self.cid}",
            daemon=True,
        ).start()  # fmt: skip

    def _read_answers(self, fd: int) -> None:
        with open(fd, "rb") as answers:
            for line in answers:
                self._answers.put(line.rstrip(b"\n"))
        self._answers.put(None)

    # -- /run -----------------------------------------------------------------------------

    def run(self, message: Mapping[str, Any], timeout_ms: int) -> Outcome:
        """One activation: the message in, the answer read as the invoker reads it."""
        line = json.dumps(message, ensure_ascii=False).replace("\n", "") + "\n"
        if self._stdin is None:
            raise RuntimeError("run before a successful init")
        with contextlib.suppress(OSError):  # a broken pipe: the process is gone, and its
            _write_all(self._stdin, line.encode("utf-8"))  # end-of-file answer is queued
        try:
            answer = self._answers.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            self.destroy()
            logs = self._take(until_marker=False)
            return Outcome(TIMEOUT, {"error": timed_out(timeout_ms, init=False)}, False, logs)
        self.stdout.mark()
        self.stderr.mark()
        logs = self._take(until_marker=True)
        if answer is None:
            self.destroy()
            return Outcome(DEVELOPER_ERROR, {"error": COMMAND_EXITED}, alive=False, logs=logs)
        outcome = judge(answer)
        outcome.logs = logs
        if not outcome.alive:
            self.destroy()
        return outcome

    def _take(self, *, until_marker: bool) -> list[LogLine]:
        if not until_marker:  # no marker is coming: wait for the streams to close
            self.stdout.join(_LOG_WAIT_S)
            self.stderr.join(_LOG_WAIT_S)
        lines = self.stdout.take(until_marker=until_marker)
        lines += self.stderr.take(until_marker=until_marker)
        return sorted(lines, key=lambda line: line.time)

    # -- the end --------------------------------------------------------------------------

    def destroy(self) -> None:
        """Kill the process group, reap the process, close the streams, drop the folder."""
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        if self._stdin is not None:
            os.close(self._stdin)
        self.stdout.close()
        self.stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.gone.set()

    @property
    def destroyed(self) -> bool:
        return self._destroyed


def judge(answer: bytes) -> Outcome:
    """A /run answer as the proxy and the invoker judge it: an object is the result (an
    ``error`` key makes it an application error), an array too; anything else is a
    developer error and the container is not reused."""
    try:
        result = json.loads(answer)
    except ValueError:
        return Outcome(DEVELOPER_ERROR, {"error": NOT_OBJECT}, alive=False)
    if isinstance(result, dict):
        return Outcome(APPLICATION_ERROR if "error" in result else SUCCESS, result)
    if isinstance(result, list):
        return Outcome(SUCCESS, result)
    if result is None:  # the proxy lets null through; the invoker refuses it
        reply = "The action did not produce a valid JSON response: null"
        return Outcome(DEVELOPER_ERROR, {"error": reply}, alive=False)
    return Outcome(DEVELOPER_ERROR, {"error": NOT_OBJECT}, alive=False)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
