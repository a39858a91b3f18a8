"""Cloud Functions' side of a rotation: run the trigger's actions when a job is raised.

A Secret Manager trigger runs each linked action once per job, asynchronously (Execute
Rotation Job answers before the action finishes). Two kinds of action:

* :class:`CallableAction`: a Python function run in a thread of this process. Quick, and
  the way to script odd action behaviour in a test.
* :class:`ProcessAction`: an action folder (or a deployment zip) run the way NCP's Python
  runtime (OpenWhisk's action loop, ``python:3.13``) runs it: in a container
  (``actionloop``) whose one process is kept warm and reused by the next activations of
  the same action (``containers``), on the runtime's Python (``runtime_python``). The
  project's own ``handler.py`` runs this way, and so does an uploaded zip.

An activation as the invoker makes it: a warm idle container, else a new one whose /init
carries the first activation's fields as ``__OW_*`` variables; then /run with the message
``{"value": params, "namespace", "action_name", "action_version", "activation_id",
"transaction_id", "api_key", "deadline"}`` (plus the job's ids, below), every field a
string, ``deadline`` counted from the /run, after the init. The record keeps the result,
the status (``success``, ``application error``, ``developer error``, ``timeout``), stdout
and stderr apart, whether the start was cold, the init time, the container and the Python.

How the secret id and the job token reach the action is not documented: NCP says they are
"injected" and "visible as an environment variable" without naming it
(https://api.ncloud-docs.com/docs/en/secretmanager-start-rotation-job), and that a
trigger's event data become the action's parameters
(https://guide.ncloud-docs.com/docs/ja/cloudfunctions-glossary.md). A
:class:`ProcessAction`'s ``delivery`` picks one of the plausible ways (:class:`Delivery`), so
the handler is tested against each alone, not only against all of them at once. Plain
variable names (``env_names``) can only come from a container's init, never from a /run,
so in that mode each job gets a container of its own (a guess: it is the only way it could
work on this runtime).
"""

from __future__ import annotations

import io
import json
import secrets
import sysconfig
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from emulator.actionloop import DEVELOPER_ERROR, Container, Outcome
from emulator.containers import DEFAULT_IDLE_S, ContainerPool
from emulator.runtime_python import RuntimePython, given_python, runtime_python
from emulator.secretmanager.models import JobEvent, SecretManagerBackend

LAUNCHER = Path(__file__).with_name("launcher.py")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: What the deployment zip holds of the project (besides its generated ``__main__.py``).
PROJECT_ENTRIES = ("handler.py", "rotation")
#: The emulator's own packages, which hold the project's requirements.
PROJECT_PACKAGES = Path(sysconfig.get_paths()["purelib"])

NAMESPACE = "ncp"
#: ``__OW_EXECUTION_ENV`` of the emulated runtime; ``exec`` checks it against ``exec.env``.
EXECUTION_ENV = "openwhisk/action-python-v3.13"


@dataclass
class Activation:
    """One run of one action, as Cloud Functions records it."""

    activation_id: str
    action_name: str
    secret_id: str
    started_ms: int
    duration_ms: int | None = None
    status: str = "running"  # success | application error | developer error | timeout
    #: A JSON object (dict) or array (list), as the action answered it.
    result: Any = None
    #: Every line the activation wrote, both streams, in the order they were written.
    logs: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    #: The container that ran it (empty for a :class:`CallableAction`).
    container: str = ""
    #: A new container was made (and initialized) for it.
    cold: bool = False
    init_ms: int | None = None
    #: The interpreter, e.g. ``python 3.13.0 (/path/python3.13, pyenv)``.
    runtime: str = ""

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
    """An action run by the emulated action-loop runtime."""

    name: str
    #: The action's folder, as the zip would unpack (unused when ``code`` is given).
    action_dir: Path | str = PROJECT_ROOT
    #: ``__main__`` for a zip's layout; another module (``handler``) gets a generated
    #: ``__main__.py`` that imports ``function`` from it, as the deployment zip has.
    module: str = "handler"
    function: str = "main"
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The interpreter standing for the runtime image's; ``None``: the runtime's Python
    #: (``emulator.runtime_python``).
    python: str | None = None
    timeout_ms: int = 60_000
    #: Environment the container's init adds (an action's environment parameters).
    env: Mapping[str, str] = field(default_factory=dict)
    #: How the secret id and job token reach the action.
    delivery: Delivery = Delivery.BOTH
    #: ENV only: plain variable names (e.g. ``("SECRET_ID", "JOB_TOKEN")``) instead of the
    #: activation fields that become ``__OW_SECRETID``/``__OW_JOBTOKEN``.
    env_names: tuple[str, str] | None = None
    #: NESTED only: the parameter holding the event, and whether it is JSON text.
    nest_key: str = "event"
    nest_as_text: bool = False
    #: An uploaded zip: each new container unzips it, as the runtime's proxy does.
    code: bytes | None = field(default=None, repr=False)
    #: The top-level entries of ``action_dir`` the action holds (``None``: all).
    include: tuple[str, ...] | None = None
    #: A folder of packages handed to the action as its ``virtualenv/`` (what a
    #: deployment zip carries in its own); ignored when the action has a ``virtualenv/``.
    site_packages: Path | None = None
    #: ``__OW_ACTION_VERSION``.
    version: str = "0.0.1"

    def unpack(self, dest: Path) -> None:
        """Put the action's files in a new container's ``src/``: the zip unzipped, or the
        folder's top-level files copied and its folders linked (they are only read)."""
        if self.code is not None:
            with zipfile.ZipFile(io.BytesIO(self.code)) as archive:
                archive.extractall(dest)
            return
        folder = Path(self.action_dir).resolve()
        names = self.include
        if names is None:
            names = tuple(sorted(p.name for p in folder.iterdir() if p.name != "__pycache__"))
        for name in names:
            if name == "__main__.py" and self.module != "__main__":
                continue
            source = folder / name
            if source.is_dir():
                (dest / name).symlink_to(source, target_is_directory=True)
            else:
                (dest / name).write_bytes(source.read_bytes())
        if self.module != "__main__":
            (dest / "__main__.py").write_text(
                f"from {self.module} import {self.function}\n", encoding="utf-8"
            )
        if self.site_packages is not None and not (dest / "virtualenv").exists():
            activate = dest / "virtualenv" / "bin" / "activate_this.py"
            activate.parent.mkdir(parents=True)
            activate.write_text(
                '"""Written by the emulator: the packages this action was given, first."""\n'
                f"import sys\nsys.path[0:0] = [{str(self.site_packages)!r}]\n",
                encoding="utf-8",
            )


Action = CallableAction | ProcessAction


def deliver(
    action: Action, params: Mapping[str, Any], secret_id: str, job_token: str
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """``(params, activation fields, environment for the container's init)`` carrying the
    ids as the action's ``delivery`` says. A :class:`CallableAction` gets them as
    parameters."""
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


def _status_for(result: Mapping[str, Any]) -> str:
    return "application error" if "error" in result else "success"


def _now_ms() -> int:
    return int(time.time() * 1000)


class ActionRunner:
    """Holds the deployed actions and runs them for Secret Manager's job events."""

    def __init__(
        self, backend: SecretManagerBackend, *, container_idle_s: float = DEFAULT_IDLE_S
    ) -> None:
        self.backend = backend
        self.actions: dict[str, Action] = {}
        self.activations: list[Activation] = []
        self.containers = ContainerPool(container_idle_s)
        #: ``__OW_API_HOST`` of every container (the emulator sets its address).
        self.api_host = ""
        #: ``__OW_API_KEY``: one key for the namespace, as an OpenWhisk subject has.
        self.api_key = f"{uuid.uuid4()}:{secrets.token_urlsafe(48)}"
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._slots: threading.BoundedSemaphore | None = None

    @property
    def runtime(self) -> RuntimePython:
        """The Python actions run on unless they name one."""
        return runtime_python()

    def register(self, action: Action) -> None:
        """Deploy ``action``; one replacing another of the same name gets new containers."""
        self.actions[action.name] = action
        self.containers.discard(
            lambda owner: (
                isinstance(owner, ProcessAction)
                and owner.name == action.name
                and owner is not action
            )
        )

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

    def start(self, action: Action, params: Mapping[str, Any]) -> None:
        """Run ``action`` with ``params`` and do not wait, as a cron trigger runs its
        actions: :meth:`invoke` on a thread that :meth:`wait_idle` waits for."""
        thread = threading.Thread(
            target=self.invoke, args=(action, params), name=f"activation-{action.name}",
            daemon=True,
        )  # fmt: skip
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def invoke(
        self, action: Action, params: Mapping[str, Any], fields: Mapping[str, Any] | None = None
    ) -> Activation:
        """Cloud Functions' Post Action: run ``action`` now with ``params`` over its default
        parameters (no job ids added: the caller passes what it means to), and wait.
        ``fields`` adds activation fields to the message, as they are (tests use it to
        send what the runtime would choke on)."""
        merged = {**action.params, **params}
        secret_id = str(params.get("secretId") or "")
        return self._activate(action, secret_id, merged, dict(fields or {}), {})

    def _activate(
        self,
        action: Action,
        secret_id: str,
        params: Mapping[str, Any],
        fields: Mapping[str, Any],
        env: Mapping[str, str],
    ) -> Activation:
        """One activation, recorded as the runtime would: result, status, duration."""
        activation = Activation(
            activation_id=secrets.token_hex(16),
            action_name=action.name,
            secret_id=secret_id,
            started_ms=_now_ms(),
        )
        with self._lock:
            self.activations.append(activation)
        started = time.monotonic()
        try:
            if isinstance(action, CallableAction):
                activation.result = action.function(dict(params))
                activation.status = _status_for(activation.result)
            else:
                self._run_in_container(action, activation, params, fields, env)
        except Exception as exc:  # noqa: BLE001 - recorded, as the runtime would
            activation.result = {"error": f"{type(exc).__name__}: {exc}"}
            activation.status = DEVELOPER_ERROR
        activation.duration_ms = int((time.monotonic() - started) * 1000)
        return activation

    def _fields(self, action: ProcessAction, activation: Activation) -> dict[str, str]:
        """The invoker's activation fields (every one a string)."""
        return {
            "namespace": NAMESPACE,
            "action_name": f"/{NAMESPACE}/{action.name}",
            "action_version": action.version,
            "activation_id": activation.activation_id,
            "transaction_id": secrets.token_hex(16),
            "api_key": self.api_key,
        }

    def _container_env(
        self, action: ProcessAction, activation: Activation, env: Mapping[str, str]
    ) -> dict[str, str]:
        """A new container's whole environment: built from nothing, as the proxy does."""
        first = {**self._fields(action, activation), "deadline": str(_now_ms() + action.timeout_ms)}
        return {
            "__OW_EXECUTION_ENV": EXECUTION_ENV,
            "__OW_WAIT_FOR_ACK": "1",
            **({"__OW_API_HOST": self.api_host} if self.api_host else {}),
            **{"__OW_" + key.upper(): value for key, value in first.items()},
            **action.env,
            **env,
        }

    def _run_in_container(
        self,
        action: ProcessAction,
        activation: Activation,
        params: Mapping[str, Any],
        fields: Mapping[str, Any],
        env: Mapping[str, str],
    ) -> None:
        python = runtime_python() if action.python is None else given_python(action.python)
        activation.runtime = python.describe()
        key = (id(action), tuple(sorted(env.items())))
        container = self.containers.take(key)
        keep = False
        try:
            if container is None:
                activation.cold = True
                container = self.containers.new(
                    python.path, self._container_env(action, activation, env)
                )
                activation.container = container.cid
                init_started = time.monotonic()
                failed = container.init(action.unpack, action.function, action.timeout_ms)
                activation.init_ms = int((time.monotonic() - init_started) * 1000)
                if failed is not None:
                    _record(activation, failed)
                    return
            activation.container = container.cid
            message = {
                "value": dict(params),
                **self._fields(action, activation),
                **fields,
                "deadline": str(_now_ms() + action.timeout_ms),
            }
            outcome = container.run(message, action.timeout_ms)
            _record(activation, outcome)
            keep = outcome.alive and self.actions.get(action.name) is action
        finally:
            if container is not None:
                self.containers.release(key, action, container, keep=keep)

    def container(self, activation: Activation) -> Container:
        """The container an activation ran in (possibly destroyed since)."""
        return self.containers.made[activation.container]

    def latest(self, action_name: str) -> Activation | None:
        """The newest activation of ``action_name``, running or not."""
        with self._lock:
            return next(
                (a for a in reversed(self.activations) if a.action_name == action_name), None
            )

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

    def close(self) -> None:
        """Destroy every container (the emulator is stopping)."""
        self.containers.close()


def _record(activation: Activation, outcome: Outcome) -> None:
    activation.status = outcome.status
    activation.result = outcome.result
    activation.logs = [line.text for line in outcome.logs]
    activation.stdout = [line.text for line in outcome.logs if line.stream == "stdout"]
    activation.stderr = [line.text for line in outcome.logs if line.stream == "stderr"]
