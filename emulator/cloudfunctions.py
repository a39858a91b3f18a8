"""Cloud Functions (REST API v2.1, ``/ncf/api/v2``): the operations a deployment and an
operator use.

An uploaded action is kept as its zip and run the way the runtime runs it
(``ProcessAction`` with ``code``: each new container unzips it, compiles and imports it at
its init, and keeps its process warm for the next activations; see ``emulator.actions``).
A new version of an action gets new containers. A trigger of type
``secret_manager`` is the same trigger Secret Manager lists and fires, so Execute Rotation
Job runs the deployed zip; Post Action runs it on demand.

Documented rules (Put Action, Put Trigger, the limits page) are enforced; where the docs
are silent, the strictest reasonable choice, labelled a guess (F1-F7):

F1 Answers are wrapped: ``{"content": {...}}`` (documented for every v2.1 answer:
   https://api.ncloud-docs.com/docs/compute-cloudfunctions-v2-gettrigger ,
   https://api.ncloud-docs.com/docs/ja/compute-cloudfunctions-v2-getaction ,
   https://api.ncloud-docs.com/docs/ja/compute-cloudfunctions-posttriggerlinkaction ,
   https://api.ncloud-docs.com/docs/compute-cloudfunctions-v2-postaction ,
   https://api.ncloud-docs.com/docs/ja/compute-cloudfunctions-v2-getactionactivationdetail ).
   Get Action's content is ``name, description, exec{kind, binary, main, code}, limits,
   parameters, vpc`` (documented; ``code`` is the uploaded base64 zip); Put Action answers the
   same (guess). Get Trigger's content is ``actions`` (the linked actions' *names*),
   ``description``, ``execOption`` (``[{key, value}]``), ``name``, ``resourceId``, ``type``
   (documented); the ``secretManagerLink`` list is not echoed and ``execOption`` is empty for
   ``secret_manager`` triggers (guess: which secrets a trigger serves is read from Secret
   Manager's Get Trigger List). Link Action answers ``action{name, path}, namespace, status,
   trigger{name, path}`` (documented). Errors are ``{"error": {"errorCode", "message",
   "details"}}`` with Cloud Functions' numeric codes and their names as ``message``
   (documented shape:
   https://guide-fin.ncloud-docs.com/docs/cloudfunctions-troubleshoot-invocation ):
   404 ``80501 TRIGGER_NOT_FOUND`` (documented), 400 ``80502 TRIGGER_PLATFORM_MISMATCH``
   (documented; a trigger asked for on the other platform), 400 ``80305
   ACTION_BODY_INVALID_TYPE`` for a refused action body (documented code), 404 ``80322
   ACTION_ACTIVATION_NOT_FOUND`` (third-party). Guessed numbers, in the documented ranges:
   404 ``80301 ACTION_NOT_FOUND`` and 400 ``80503 TRIGGER_BODY_INVALID``.
F2 Names are 1-50 letters, digits, ``-`` or ``_``, not starting with ``-``, and unique
   across actions and triggers; package ``-`` means no package.
F3 ``limits.timeout`` (500-300000 ms) and ``limits.memory`` (one of 128, 256, 512,
   1024 MB) are both required. ``exec.kind`` must be a current runtime; ``python:3.6``,
   ``python:3.7`` and ``python:3.11`` (retired 2025-09-18) are refused.
F4 ``exec.binary`` true: ``exec.code`` is base64 of a zip, at most 38 MB, with
   ``__main__.py`` at its root; ``exec.main`` is required.
F5 Platform ``vpc`` (the default) needs ``vpc: [{"vpcNo", "subnetNo"}]`` with integers;
   Secret Manager triggers exist only on VPC.
F6 A trigger's type cannot change. ``secretManagerLink`` entries must name existing secrets
   that are not DISABLE or REVOKE (documented) and not linked to another trigger (a secret
   has at most one, documented); secrets dropped from the list are unlinked (guess: PUT
   replaces), except one that rotates automatically with this trigger (refused).
F7 ``link-action`` needs an existing action; linking the same action again is refused with
   ``80901 DUPLICATED_RULE`` (reported by a third-party client; the HTTP status, 400 here, is
   a guess). Trigger default parameters are stored but not merged into activations (the
   deployment sets none). Post Action (``?timeout=`` 0-60000 ms, documented) runs the action
   with the body over its default parameters and answers the activation; one still running
   at the timeout answers ``{"activationId"}`` only (documented). Activations stay listed
   (``/activations``, newest first) and readable (``/activations/{id}``) for the emulator's
   life.
F8 Get Action's Activation List answers the documented page: ``activations`` items of
   ``activationId``, ``duration`` and ``status`` only (no result, no start: those are in the
   detail), and ``totalCount``; ``pageNo`` (default 1), ``pageSize`` (default 20), ``start``
   and ``end`` (epoch milliseconds, inclusive) are honoured (documented:
   https://api.ncloud-docs.com/docs/compute-cloudfunctions-v2-getactionactivationlist ).
   Newest first, and no upper bound on ``pageSize``, are guesses; a value that is not a
   positive integer (or, for ``start``/``end``, a non-negative one) is refused with 400
   ``80305`` (a guess).
F9 A ``cron`` trigger's body carries its schedule as ``cronOption`` (text, required):
   documented for the v1 body as ``trigger.cronOption``
   (https://api.ncloud-docs.com/docs/en/compute-cloudfunctions-puttrigger); the v2 page
   keeps type-specific fields beside ``description`` and ``parameters`` at the top level
   (https://api.ncloud-docs.com/docs/en/compute-cloudfunctions-v2-puttrigger), so v2's is
   ``cronOption`` there (a guess). Its syntax and when it fires: ``emulator.scheduler``
   (F10). Get Trigger shows it in ``execOption`` as ``[{"key": "cronOption", "value"}]``
   (a guess). Firing runs every linked action with the trigger's ``parameters`` over the
   action's defaults (the documented order: runtime, trigger, action, package) and waits
   for none of them.
F11 Delete Action (``DELETE /packages/{package}/actions/{action}``, 204, documented:
   https://api.ncloud-docs.com/docs/en/compute-cloudfunctions-v2-deleteaction) is offered
   to tests as :meth:`CloudFunctionsBackend.delete_action`, not on the wire (the server
   answers every success 200). A trigger linked to a deleted action keeps its name in
   ``actions`` and in Secret Manager's ``actionList`` and runs nothing (a guess: OpenWhisk
   keeps a rule whose action is gone); jobs it raises then wait, never started.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import secrets
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.actions import Action, ActionRunner, Activation, ProcessAction
from emulator.core import ServiceError
from emulator.router import Request, Router
from emulator.scheduler import CronError, CronSchedule
from emulator.secretmanager.models import (
    DESTROYED,
    DISABLE,
    REVOKE,
    SecretManagerBackend,
)

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,49}")
RUNTIMES = frozenset({"python:3.13", "nodejs:22", "java:8", "java:21", "swift:3.1.1", "php:7.3",
                      "go:1.19", "dotnet:2.2"})  # fmt: skip
RETIRED = frozenset({"python:3.6", "python:3.7", "python:3.11"})
MEMORY = frozenset({128, 256, 512, 1024})
TRIGGER_TYPES = frozenset(
    {"cron", "github", "insight", "object_storage", "source_commit", "secret_manager"}
)
CODE_LIMIT = 38 * 1024 * 1024


def refused(message: str) -> ServiceError:
    """An action body Cloud Functions will not take (documented code 80305)."""
    return ServiceError(400, "80305", "ACTION_BODY_INVALID_TYPE", message)


def bad_trigger(message: str) -> ServiceError:
    """A trigger body or link refused (the number is a guess, F1)."""
    return ServiceError(400, "80503", "TRIGGER_BODY_INVALID", message)


def action_missing(message: str) -> ServiceError:
    return ServiceError(404, "80301", "ACTION_NOT_FOUND", message)  # number a guess (F1)


def trigger_missing(message: str) -> ServiceError:
    return ServiceError(404, "80501", "TRIGGER_NOT_FOUND", message)  # documented


def activation_missing(message: str) -> ServiceError:
    return ServiceError(404, "80322", "ACTION_ACTIVATION_NOT_FOUND", message)  # third-party


def duplicated_rule(message: str) -> ServiceError:
    return ServiceError(400, "80901", "DUPLICATED_RULE", message)  # third-party; status a guess


NAMESPACE = "ncp"


@dataclass
class StoredAction:
    package: str
    name: str
    body: dict[str, Any]
    code_sha256: str
    #: The uploaded base64 text, answered back as ``exec.code`` (documented for Get Action).
    code: str = field(default="", repr=False)

    @property
    def full_name(self) -> str:
        return self.name if self.package == "-" else f"{self.package}/{self.name}"


@dataclass
class StoredTrigger:
    name: str
    type: str
    body: dict[str, Any]
    platform: str = "vpc"
    resource_id: str = field(default_factory=lambda: secrets.token_hex(8))
    actions: list[str] = field(default_factory=list)
    #: A cron trigger's schedule (F9, F10), and the last time it was looked at (epoch ms).
    schedule: CronSchedule | None = None
    checked_ms: int = 0


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refused(f"{what} must be an integer")
    return value


def _check_limits(limits: object) -> None:
    if not isinstance(limits, Mapping):
        raise refused("limits.timeout and limits.memory are required")
    if not 500 <= _int(limits.get("timeout"), "limits.timeout") <= 300_000:
        raise refused("limits.timeout must be 500-300000 ms")
    if _int(limits.get("memory"), "limits.memory") not in MEMORY:
        raise refused("limits.memory must be 128, 256, 512 or 1024 MB")


def _check_code(exe: Mapping[str, Any]) -> bytes:
    kind = exe.get("kind")
    if kind in RETIRED:
        raise refused(f"runtime {kind} reached end of support; use python:3.13")
    if kind not in RUNTIMES:
        raise refused(f"unknown runtime {kind!r}")
    if not isinstance(exe.get("main"), str) or not exe["main"]:
        raise refused("exec.main is required")
    if exe.get("binary") is not True:
        raise refused("this emulator takes zipped actions only (exec.binary true)")
    try:
        code = base64.b64decode(str(exe.get("code") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise refused("exec.code is not base64") from None
    if len(code) > CODE_LIMIT:
        raise refused("the code is over the 38 MB limit")
    try:
        names = zipfile.ZipFile(io.BytesIO(code)).namelist()
    except zipfile.BadZipFile:
        raise refused("exec.code is not a zip") from None
    if "__main__.py" not in names:
        raise refused("a zipped Python action needs __main__.py at its root")
    return code


def _check_vpc(vpc: object) -> None:
    if not isinstance(vpc, list) or not vpc:
        raise refused("vpc [{vpcNo, subnetNo}] is required on the VPC platform")
    for entry in vpc:
        if not isinstance(entry, Mapping):
            raise refused("vpc entries are objects")
        _int(entry.get("vpcNo"), "vpcNo")
        _int(entry.get("subnetNo"), "subnetNo")


class CloudFunctionsBackend:
    def __init__(self, secret_manager: SecretManagerBackend, runner: ActionRunner) -> None:
        self.sm = secret_manager
        self.runner = runner
        self.actions: dict[tuple[str, str], StoredAction] = {}
        self.triggers: dict[str, StoredTrigger] = {}
        self.lock = threading.RLock()
        self._versions: dict[tuple[str, str], int] = {}

    # -- validation --------------------------------------------------------------------

    @staticmethod
    def _name(value: str, what: str) -> str:
        if not NAME.fullmatch(value):
            raise refused(f"{what} must be 1-50 letters, digits, '-' or '_', not starting with '-'")
        return value

    @staticmethod
    def _platform(query: Mapping[str, str]) -> str:
        platform = query.get("platform", "vpc")
        if platform not in ("vpc", "classic"):
            raise refused("platform must be vpc or classic")
        return platform

    def _check_action(self, body: Mapping[str, Any], platform: str) -> tuple[bytes, dict[str, Any]]:
        _check_limits(body.get("limits"))
        exe = body.get("exec")
        if not isinstance(exe, Mapping):
            raise refused("exec is required")
        code = _check_code(exe)
        if platform == "vpc":
            _check_vpc(body.get("vpc"))
        if not isinstance(body.get("parameters", {}), Mapping):
            raise refused("parameters must be an object")
        stored = {k: v for k, v in body.items() if k != "exec"}
        stored["exec"] = {k: v for k, v in exe.items() if k != "code"}
        return code, stored

    # -- actions -----------------------------------------------------------------------

    def put_action(
        self, package: str, name: str, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._name(name, "the action name")
        if package != "-":
            self._name(package, "the package name")
        platform = self._platform(query)
        code, stored = self._check_action(body, platform)
        with self.lock:
            if name in self.triggers:
                raise refused(f"{name!r} is already a trigger's name")
            version = self._versions.get((package, name), 0) + 1
            self._versions[(package, name)] = version
            action = StoredAction(
                package, name, {**stored, "platform": platform},
                hashlib.sha256(code).hexdigest(), code=str(body["exec"]["code"]),
            )  # fmt: skip
            self.actions[(package, name)] = action
            self.runner.register(
                ProcessAction(
                    name=action.full_name,
                    module="__main__",
                    function=str(stored["exec"]["main"]),
                    params=dict(stored.get("parameters") or {}),
                    timeout_ms=int(stored["limits"]["timeout"]),
                    code=code,
                    version=f"0.0.{version}",
                )
            )
            return self._action_view(action)

    def _action(self, package: str, name: str) -> StoredAction:
        action = self.actions.get((package, name))
        if action is None:
            raise action_missing(f"action {name!r} does not exist in package {package!r}")
        return action

    def get_action(self, package: str, name: str) -> dict[str, Any]:
        with self.lock:
            return self._action_view(self._action(package, name))

    @staticmethod
    def _action_view(action: StoredAction) -> dict[str, Any]:
        """Get Action's documented content: the stored body with ``exec.code`` back in."""
        body = {k: v for k, v in action.body.items() if k != "platform"}
        return {
            **body,
            "name": action.name,
            "exec": {**body["exec"], "code": action.code},
        }

    # -- invocations -------------------------------------------------------------------

    def invoke(
        self, package: str, name: str, query: Mapping[str, str], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Post Action: run now with ``params`` over the defaults; wait up to ``timeout``."""
        raw = query.get("timeout", "60000")
        if not raw.isdigit() or not 0 <= int(raw) <= 60_000:
            raise refused("timeout must be 0-60000 milliseconds")
        with self.lock:
            action = self._action(package, name)
            runnable = self.runner.actions[action.full_name]
        done = threading.Event()
        box: list[Activation] = []

        def run() -> None:
            box.append(self.runner.invoke(runnable, params))
            done.set()

        threading.Thread(target=run, name=f"invoke-{name}", daemon=True).start()
        if not done.wait(int(raw) / 1000):
            started = self.runner.latest(action.full_name)
            return {"activationId": started.activation_id if started else ""}
        return _activation_view(box[0])

    def activations(self, package: str, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Get Action's Activation List: one page, newest first (F8)."""
        page_no = _query_int(query, "pageNo", 1, low=1)
        page_size = _query_int(query, "pageSize", 20, low=1)
        start = _query_int(query, "start", 0, low=0)
        end = _query_int(query, "end", None, low=0)
        with self.lock:
            action = self._action(package, name)
        items = [
            a
            for a in reversed(self.runner.activations)
            if a.action_name == action.full_name
            and a.started_ms >= start
            and (end is None or a.started_ms <= end)
        ]
        first = (page_no - 1) * page_size
        return {
            "activations": [_listed(a) for a in items[first : first + page_size]],
            "totalCount": len(items),
        }

    def activation(self, package: str, name: str, activation_id: str) -> dict[str, Any]:
        with self.lock:
            action = self._action(package, name)
        for item in self.runner.activations:
            if item.activation_id == activation_id and item.action_name == action.full_name:
                return _activation_view(item)
        raise activation_missing(f"activation {activation_id!r} of {name!r} does not exist")

    # -- triggers ----------------------------------------------------------------------

    def put_trigger(
        self, name: str, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not NAME.fullmatch(name):
            raise bad_trigger("the trigger name must be 1-50 letters, digits, '-' or '_'")
        platform = self._platform(query)
        kind = query.get("type")
        if kind not in TRIGGER_TYPES:
            raise bad_trigger(f"type is required: one of {', '.join(sorted(TRIGGER_TYPES))}")
        if kind == "secret_manager" and platform != "vpc":
            raise bad_trigger("Secret Manager triggers exist only on the VPC platform")
        with self.lock:
            if any(a.name == name for a in self.actions.values()):
                raise bad_trigger(f"{name!r} is already an action's name")
            existing = self.triggers.get(name)
            if existing is not None and existing.type != kind:
                raise bad_trigger("a trigger's type cannot change")
            links = self._links(body) if kind == "secret_manager" else []
            schedule = self._schedule(body) if kind == "cron" else None
            trigger = existing or StoredTrigger(
                name, kind, {}, platform=platform, checked_ms=self.sm.now_ms()
            )
            if kind == "secret_manager":
                self._sync_links(trigger, links)
            trigger.schedule = schedule
            trigger.body = {k: v for k, v in body.items() if k != "secretManagerLink"}
            self.triggers[name] = trigger
            return self._trigger_view(trigger)

    @staticmethod
    def _schedule(body: Mapping[str, Any]) -> CronSchedule:
        if "cronOption" not in body:
            raise bad_trigger("cronOption is required for a cron trigger")
        try:
            return CronSchedule.parse(body["cronOption"])
        except CronError as exc:
            raise bad_trigger(f"cronOption: {exc}") from None

    def _links(self, body: Mapping[str, Any]) -> list[str]:
        raw = body.get("secretManagerLink", [])
        if not isinstance(raw, list) or not all(
            isinstance(e, Mapping) and isinstance(e.get("secretName"), str) for e in raw
        ):
            raise bad_trigger("secretManagerLink must be a list of {secretName}")
        return [e["secretName"] for e in raw]

    def _sync_links(self, trigger: StoredTrigger, names: list[str]) -> None:
        """Validate every link first, then apply: a refused PUT changes nothing."""
        with self.sm.lock:
            record = self.sm.trigger_by_name(trigger.name)
            record_id = None if record is None else record.trigger_id
            by_name = {s.name: s for s in self.sm.secrets.values() if s.status != DESTROYED}
            for name in names:
                secret = by_name.get(name)
                if secret is None:
                    raise bad_trigger(f"secret {name!r} does not exist")
                if secret.status in (DISABLE, REVOKE):
                    raise bad_trigger(f"secret {name!r} is {secret.status} and cannot be linked")
                if secret.trigger_id is not None and secret.trigger_id != record_id:
                    raise bad_trigger(f"secret {name!r} is linked to another trigger already")
            dropped = [
                self.sm.secrets[sid]
                for sid in (record.linked if record is not None else [])
                if sid in self.sm.secrets and self.sm.secrets[sid].name not in names
            ]
            for secret in dropped:
                if secret.auto_rotation:
                    raise bad_trigger(
                        f"secret {secret.name!r} rotates automatically with this trigger"
                    )
            record = self.sm.register_trigger(trigger.name, actions=list(trigger.actions))
            for secret in dropped:
                secret.trigger_id = None
                record.linked.remove(secret.secret_id)
        for name in names:
            self.sm.link_secret_to_trigger(name, trigger.name)

    def _trigger(self, name: str, query: Mapping[str, str]) -> StoredTrigger:
        trigger = self.triggers.get(name)
        if trigger is None:
            raise trigger_missing(f"trigger {name!r} does not exist")
        if trigger.platform != self._platform(query):
            raise ServiceError(400, "80502", "TRIGGER_PLATFORM_MISMATCH", "another platform")
        return trigger

    def get_trigger(self, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            return self._trigger_view(self._trigger(name, query))

    def link_action(
        self, name: str, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        action_name, package = body.get("action"), body.get("package", "-")
        if not isinstance(action_name, str) or not isinstance(package, str):
            raise bad_trigger("action (and package) are required")
        with self.lock:
            trigger = self._trigger(name, query)
            action = self._action(package, action_name)
            if action.full_name in trigger.actions:
                raise duplicated_rule(f"{action.full_name!r} is linked to {name!r} already")
            trigger.actions.append(action.full_name)
            if trigger.type == "secret_manager":
                self.sm.register_trigger(trigger.name, actions=list(trigger.actions))
            return {
                "action": {"name": action.name, "path": f"/{NAMESPACE}/{action.full_name}"},
                "namespace": NAMESPACE,
                "status": "active",
                "trigger": {"name": trigger.name, "path": f"/{NAMESPACE}/{trigger.name}"},
            }

    @staticmethod
    def _trigger_view(trigger: StoredTrigger) -> dict[str, Any]:
        """Get Trigger's documented content; the link list is not echoed (F1)."""
        options = (
            [{"key": "cronOption", "value": trigger.schedule.text}] if trigger.schedule else []
        )
        return {
            "actions": list(trigger.actions),
            "description": str(trigger.body.get("description") or ""),
            "execOption": options,
            "name": trigger.name,
            "resourceId": trigger.resource_id,
            "type": trigger.type,
        }


    # -- cron triggers and breaking things (F9, F11) -----------------------------------

    def add_action(self, action: Action) -> StoredAction:
        """An action the runner already holds, listed as deployed (Get Action finds it, and
        Delete Action removes it), for tests whose actions are not uploaded zips."""
        package, _, name = action.name.rpartition("/")
        body = {
            "exec": {"kind": "python:3.13", "binary": True, "main": "main"},
            "limits": {"timeout": action.timeout_ms, "memory": 256},
            "parameters": {},
            "platform": "vpc",
        }
        with self.lock:
            stored = StoredAction(package or "-", name, body, code_sha256="")
            self.actions[(stored.package, name)] = stored
            self.runner.register(action)
            return stored

    def add_cron_trigger(self, name: str, schedule: str, actions: list[str]) -> StoredTrigger:
        """A cron trigger running ``actions`` (registered with the runner), as Put Trigger
        and link-action would make it: for tests whose actions are not uploaded zips."""
        with self.lock:
            trigger = StoredTrigger(
                name, "cron", {"cronOption": schedule}, schedule=CronSchedule.parse(schedule),
                checked_ms=self.sm.now_ms(), actions=list(actions),
            )  # fmt: skip
            self.triggers[name] = trigger
            return trigger

    def fire_due(self, now_ms: int) -> list[str]:
        """Run every cron trigger one of whose minutes came since it was last looked at."""
        with self.lock:
            due = []
            for trigger in self.triggers.values():
                if trigger.schedule is None:
                    continue
                if trigger.schedule.fires_between(trigger.checked_ms, now_ms):
                    due.append(trigger.name)
                trigger.checked_ms = max(trigger.checked_ms, now_ms)
        for name in due:
            self.fire(name)
        return due

    def fire(self, name: str) -> list[str]:
        """Run the trigger's linked actions now, with its parameters, waiting for none: what
        the schedule does at a matching minute. Returns the names of the actions started
        (one that no longer exists is skipped, F11)."""
        with self.lock:
            trigger = self.triggers.get(name)
            if trigger is None:
                raise trigger_missing(f"trigger {name!r} does not exist")
            params = trigger.body.get("parameters")
            params = dict(params) if isinstance(params, Mapping) else {}
            runnable = [
                (full, self.runner.actions[full])
                for full in trigger.actions
                if full in self.runner.actions
            ]
        for _, action in runnable:
            self.runner.start(action, params)
        return [full for full, _ in runnable]

    def delete_action(self, package: str, name: str) -> None:
        """Delete Action (F11): the action and its runner go; triggers keep its name."""
        with self.lock:
            action = self._action(package, name)
            del self.actions[(package, name)]
            self.runner.actions.pop(action.full_name, None)


def _query_int(query: Mapping[str, str], key: str, default: int | None, *, low: int) -> Any:
    """An integer query parameter of the activation list, at least ``low`` (F8)."""
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < low:
        raise refused(f"{key} must be an integer of at least {low}")
    return int(raw)


def _listed(activation: Activation) -> dict[str, Any]:
    """An item of Get Action's Activation List: the documented three fields (F8)."""
    item: dict[str, Any] = {"activationId": activation.activation_id}
    if activation.done:
        item.update(duration=activation.duration_ms, status=activation.status)
    return item


def _activation_view(activation: Activation) -> dict[str, Any]:
    """Get Action's Activation Detail content (documented fields)."""
    view: dict[str, Any] = {
        "activationId": activation.activation_id,
        "name": activation.action_name.rsplit("/", 1)[-1],
        "namespace": NAMESPACE,
        "start": activation.started_ms,
        "logs": list(activation.logs),
    }
    if activation.done:
        view.update(
            duration=activation.duration_ms,
            end=activation.started_ms + (activation.duration_ms or 0),
            response={
                "result": activation.result,
                "status": activation.status,
                "success": activation.status == "success",
            },
        )
    return view


def cloud_functions_router(backend: CloudFunctionsBackend) -> Router:
    r = Router(prefix="/ncf/api/v2", envelope=lambda data: {"content": data})
    action = "/packages/{package}/actions/{action}"

    def ids(q: Request) -> tuple[str, str]:
        return q.params["package"], q.params["action"]

    r.add("PUT", action, "put_action",
          lambda q: backend.put_action(*ids(q), q.query, q.json()))  # fmt: skip
    r.add("GET", action, "get_action", lambda q: backend.get_action(*ids(q)))
    r.add("POST", action, "invoke_action",
          lambda q: backend.invoke(*ids(q), q.query, q.json()))  # fmt: skip
    r.add("GET", f"{action}/activations", "get_action_activations",
          lambda q: backend.activations(*ids(q), q.query))  # fmt: skip
    r.add("GET", f"{action}/activations/{{activationId}}", "get_action_activation",
          lambda q: backend.activation(*ids(q), q.params["activationId"]))  # fmt: skip
    r.add("PUT", "/triggers/{trigger}", "put_trigger",
          lambda q: backend.put_trigger(q.params["trigger"], q.query, q.json()))  # fmt: skip
    r.add("GET", "/triggers/{trigger}", "get_trigger",
          lambda q: backend.get_trigger(q.params["trigger"], q.query))  # fmt: skip
    r.add("POST", "/triggers/{trigger}/link-action", "link_action",
          lambda q: backend.link_action(q.params["trigger"], q.query, q.json()))  # fmt: skip
    return r
