"""Cloud Functions' side of a rotation: run the trigger's actions when a job is raised.

A Secret Manager trigger runs each linked action once per job, asynchronously (Execute
Rotation Job answers before the action finishes). Two kinds of action:

* :class:`CallableAction`: a Python function run in a thread of this process. Quick, and
  the way to script odd action behaviour in a test.
* :class:`ProcessAction`: a directory run by ``launcher.py`` in a fresh interpreter with a
  clean environment, exactly as the OpenWhisk runtime starts an action: parameters as
  ``value``, activation fields as ``__OW_*`` variables, result on file descriptor 3, the
  action's timeout enforced with a kill. The project's own ``handler.py`` runs this way,
  and so does an extracted deployment zip.

How the secret id and the job token reach the action is not documented: NCP says they are
"injected" and "visible as an environment variable" without naming it
(https://api.ncloud-docs.com/docs/en/secretmanager-start-rotation-job), and that a
trigger's event data become the action's parameters
(https://guide.ncloud-docs.com/docs/ja/cloudfunctions-glossary.md). A
:class:`ProcessAction`'s ``delivery`` picks one of the plausible ways (:class:`Delivery`), so
the handler is tested against each alone, not only against all of them at once.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from emulator.secretmanager.models import JobEvent, SecretManagerBackend

LAUNCHER = Path(__file__).with_name("launcher.py")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Activation:
    """One run of one action, as Cloud Functions records it."""

    activation_id: str
    action_name: str
    secret_id: str
    started_ms: int
    duration_ms: int | None = None
    status: str = "running"  # success | application error | developer error | timeout
    result: dict[str, Any] | None = None
    logs: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status != "running"


class Delivery(StrEnum):
    """How the secret id and job token reach a :class:`ProcessAction` (a guess each)."""

    #: Parameters ``secretId``/``jobToken`` and activation fields (``__OW_SECRETID``,
    #: ``__OW_JOBTOKEN``) at once: the emulator's default.
    BOTH = "both"
    #: Only the environment: activation fields, or the plain variables ``env_names``.
    ENV = "env"
    #: Only the top-level parameters ``secretId`` and ``jobToken``.
    PARAMS = "params"
    #: Only one level down, as an event: ``params[nest_key] = {"secretId", "jobToken"}``
    #: (JSON text when ``nest_as_text``).
    NESTED = "nested"


@dataclass
class CallableAction:
    name: str
    function: Callable[[dict[str, Any]], dict[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout_ms: int = 60_000


@dataclass
class ProcessAction:
    """An action directory started like the runtime starts it."""

    name: str
    action_dir: Path = PROJECT_ROOT
    module: str = "handler"
    function: str = "main"
    params: Mapping[str, Any] = field(default_factory=dict)
    python: str = sys.executable
    timeout_ms: int = 60_000
    env: Mapping[str, str] = field(default_factory=dict)
    #: ``-S`` too: no site-packages at all, so only the action's own ``virtualenv/`` counts.
    bare: bool = False
    #: How the secret id and job token reach the action.
    delivery: Delivery = Delivery.BOTH
    #: ENV only: plain variable names (e.g. ``("SECRET_ID", "JOB_TOKEN")``) instead of the
    #: activation fields that become ``__OW_SECRETID``/``__OW_JOBTOKEN``.
    env_names: tuple[str, str] | None = None
    #: NESTED only: the parameter holding the event, and whether it is JSON text.
    nest_key: str = "event"
    nest_as_text: bool = False


def deliver(
    action: Action, params: Mapping[str, Any], secret_id: str, job_token: str
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """``(params, activation fields, extra process environment)`` carrying the ids as the
    action's ``delivery`` says. A :class:`CallableAction` gets them as parameters."""
    ids = {"secretId": secret_id, "jobToken": job_token}
    params = dict(params)
    mode = action.delivery if isinstance(action, ProcessAction) else Delivery.PARAMS
    if mode in (Delivery.BOTH, Delivery.PARAMS):
        params.update(ids)
    fields = dict(ids) if mode is Delivery.BOTH else {}
    env: dict[str, str] = {}
    if isinstance(action, ProcessAction) and mode is Delivery.ENV:
        if action.env_names is None:
            fields = dict(ids)
        else:
            env = dict(zip(action.env_names, (secret_id, job_token), strict=True))
    if isinstance(action, ProcessAction) and mode is Delivery.NESTED:
        params[action.nest_key] = json.dumps(ids) if action.nest_as_text else ids
    return params, fields, env


Action = CallableAction | ProcessAction


def _status_for(result: Mapping[str, Any]) -> str:
    return "application error" if "error" in result else "success"


class ActionRunner:
    """Holds the deployed actions and runs them for Secret Manager's job events."""

    def __init__(self, backend: SecretManagerBackend) -> None:
        self.backend = backend
        self.actions: dict[str, Action] = {}
        self.activations: list[Activation] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._slots: threading.BoundedSemaphore | None = None

    def register(self, action: Action) -> None:
        self.actions[action.name] = action

    def limit(self, concurrent: int | None) -> None:
        """Run at most ``concurrent`` activations at once (``None``: no limit); the rest
        wait their turn, as activations queue behind a namespace's concurrency limit.
        Set it before the jobs are raised: activations already waiting keep the old one."""
        if concurrent is not None and concurrent < 1:
            raise ValueError("concurrent must be at least 1")
        self._slots = None if concurrent is None else threading.BoundedSemaphore(concurrent)

    def dispatch(self, event: JobEvent) -> None:
        """Secret Manager raised a job: run every action of its trigger, in the background."""
        for name in event.trigger.actions:
            action = self.actions.get(name)
            if action is None:
                continue
            with self.backend.lock:
                event.trigger.recently_executed_action = name
            thread = threading.Thread(
                target=self.run, args=(action, event), name=f"activation-{name}", daemon=True
            )
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def run(self, action: Action, event: JobEvent) -> Activation:
        """A trigger's activation: the job's ids delivered the way ``action`` asks."""
        params, ids, env = deliver(action, action.params, event.secret_id, event.job_token)
        slots = self._slots  # queued behind the concurrency limit, if one is set
        if slots is None:
            return self._activate(action, event.secret_id, params, ids, env)
        with slots:
            return self._activate(action, event.secret_id, params, ids, env)

    def invoke(self, action: Action, params: Mapping[str, Any]) -> Activation:
        """Cloud Functions' Post Action: run ``action`` now with ``params`` over its default
        parameters (no job ids added: the caller passes what it means to), and wait."""
        merged = {**action.params, **params}
        return self._activate(action, str(params.get("secretId") or ""), merged, {}, {})

    def _activate(
        self,
        action: Action,
        secret_id: str,
        params: Mapping[str, Any],
        ids: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Activation:
        """One activation, recorded as the runtime would: result, status, duration."""
        activation = Activation(
            activation_id=secrets.token_hex(16),
            action_name=action.name,
            secret_id=secret_id,
            started_ms=int(time.time() * 1000),
        )
        with self._lock:
            self.activations.append(activation)
        started = time.monotonic()
        fields = {
            **ids,
            "activation_id": activation.activation_id,
            "action_name": f"/ncp/{action.name}",
            "namespace": "ncp",
            "deadline": str(activation.started_ms + action.timeout_ms),
        }
        try:
            if isinstance(action, CallableAction):
                activation.result = action.function(dict(params))
                activation.status = _status_for(activation.result)
            else:
                self._run_process(action, activation, {"value": dict(params), **fields}, env)
        except Exception as exc:  # noqa: BLE001 - recorded, as the runtime would
            activation.result = {"error": f"{type(exc).__name__}"}
            activation.status = "developer error"
        activation.duration_ms = int((time.monotonic() - started) * 1000)
        return activation

    def latest(self, action_name: str) -> Activation | None:
        """The newest activation of ``action_name``, running or not."""
        with self._lock:
            return next(
                (a for a in reversed(self.activations) if a.action_name == action_name), None
            )

    def _run_process(
        self,
        action: ProcessAction,
        activation: Activation,
        message: dict[str, Any],
        extra_env: Mapping[str, str],
    ) -> None:
        read_fd, write_fd = os.pipe()
        flags = ["-I", "-S"] if action.bare else ["-I"]
        command = [
            action.python,
            *flags,
            str(LAUNCHER),
            "--action-dir",
            str(action.action_dir),
            "--module",
            action.module,
            "--function",
            action.function,
            "--result-fd",
            str(write_fd),
        ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            **action.env,
            **extra_env,
        }
        chunks: list[bytes] = []
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own launcher, fixed arguments
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=env,
                cwd=str(action.action_dir),
            )
        finally:
            os.close(write_fd)
        result_reader = threading.Thread(target=_drain, args=(read_fd, chunks), daemon=True)
        result_reader.start()
        line = json.dumps(message) + "\n"
        try:
            out, _ = proc.communicate(line.encode(), timeout=action.timeout_ms / 1000)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            activation.status = "timeout"
            activation.result = {"error": "The action exceeded its time limit."}
        result_reader.join(timeout=5)
        os.close(read_fd)
        activation.logs = out.decode("utf-8", "replace").splitlines()
        if activation.status == "timeout":
            return
        text = b"".join(chunks).decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not text:
            activation.status = "developer error"
            activation.result = {
                "error": f"The action did not produce a result (exit {proc.returncode})."
            }
            return
        result = json.loads(text.splitlines()[-1])
        activation.result = result
        activation.status = _status_for(result)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait for every activation started so far; ``False`` if some still run."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = [t for t in self._threads if t.is_alive()]
                self._threads = threads
            if not threads:
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            threads[0].join(timeout=left)


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        data = os.read(fd, 65536)
        if not data:
            return
        chunks.append(data)
