"""Cloud Functions (REST API v2.1, ``/ncf/api/v2``): the operations a deployment uses.

An uploaded action is kept as its zip, extracted into a directory of its own and run the
way the OpenWhisk launcher runs it (``ProcessAction`` with ``bare=True``: a fresh
interpreter, no site-packages, only the zip's ``virtualenv/``). A trigger of type
``secret_manager`` is the same trigger Secret Manager lists and fires, so Execute Rotation
Job runs the deployed zip.

Documented rules (Put Action, Put Trigger, the limits page) are enforced; where the docs
are silent, the strictest reasonable choice (F1-F7):

F1 The answer to PUT and GET is the object as stored (what was sent, without
   ``exec.code``), plus ``name``, ``package`` and ``platform``; missing objects are 404
   with ``{"error": {"errorCode", "message"}}``, refused bodies 400.
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
   has at most one, documented); secrets dropped from the list are unlinked.
F7 ``link-action`` needs an existing action and is idempotent. Trigger default parameters
   are stored but not merged into activations (the deployment sets none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.actions import ActionRunner, ProcessAction
from emulator.core import ServiceError
from emulator.router import Request, Router
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
    return ServiceError(400, "400", "Bad Request", message)


def missing(message: str) -> ServiceError:
    return ServiceError(404, "404", "Not Found", message)


@dataclass
class StoredAction:
    package: str
    name: str
    body: dict[str, Any]
    code_sha256: str
    directory: Path

    @property
    def full_name(self) -> str:
        return self.name if self.package == "-" else f"{self.package}/{self.name}"


@dataclass
class StoredTrigger:
    name: str
    type: str
    body: dict[str, Any]
    actions: list[str] = field(default_factory=list)


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
        self.workdir = Path(tempfile.mkdtemp(prefix="emulator-actions-"))
        self._versions = 0

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

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
            self._versions += 1
            directory = self.workdir / f"{name}-{self._versions}"
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(directory)
            old = self.actions.get((package, name))
            action = StoredAction(package, name, {**stored, "platform": platform},
                                  hashlib.sha256(code).hexdigest(), directory)  # fmt: skip
            self.actions[(package, name)] = action
            self.runner.register(
                ProcessAction(
                    name=action.full_name,
                    action_dir=directory,
                    module="__main__",
                    function=str(stored["exec"]["main"]),
                    params=dict(stored.get("parameters") or {}),
                    timeout_ms=int(stored["limits"]["timeout"]),
                    bare=True,
                )
            )
            if old is not None:
                shutil.rmtree(old.directory, ignore_errors=True)
            return self._action_view(action)

    def get_action(self, package: str, name: str) -> dict[str, Any]:
        with self.lock:
            action = self.actions.get((package, name))
            if action is None:
                raise missing(f"action {name!r} does not exist in package {package!r}")
            return self._action_view(action)

    @staticmethod
    def _action_view(action: StoredAction) -> dict[str, Any]:
        return {"name": action.name, "package": action.package, **action.body}

    # -- triggers ----------------------------------------------------------------------

    def put_trigger(
        self, name: str, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._name(name, "the trigger name")
        platform = self._platform(query)
        kind = query.get("type")
        if kind not in TRIGGER_TYPES:
            raise refused(f"type is required: one of {', '.join(sorted(TRIGGER_TYPES))}")
        if kind == "secret_manager" and platform != "vpc":
            raise refused("Secret Manager triggers exist only on the VPC platform")
        with self.lock:
            if any(a.name == name for a in self.actions.values()):
                raise refused(f"{name!r} is already an action's name")
            existing = self.triggers.get(name)
            if existing is not None and existing.type != kind:
                raise refused("a trigger's type cannot change")
            links = self._links(body) if kind == "secret_manager" else []
            trigger = existing or StoredTrigger(name, kind, {})
            trigger.body = {k: v for k, v in body.items()}
            self.triggers[name] = trigger
            if kind == "secret_manager":
                self._sync_links(trigger, links)
            return self._trigger_view(trigger)

    def _links(self, body: Mapping[str, Any]) -> list[str]:
        raw = body.get("secretManagerLink", [])
        if not isinstance(raw, list) or not all(
            isinstance(e, Mapping) and isinstance(e.get("secretName"), str) for e in raw
        ):
            raise refused("secretManagerLink must be a list of {secretName}")
        return [e["secretName"] for e in raw]

    def _sync_links(self, trigger: StoredTrigger, names: list[str]) -> None:
        record = self.sm.register_trigger(trigger.name, actions=list(trigger.actions))
        with self.sm.lock:
            by_name = {s.name: s for s in self.sm.secrets.values() if s.status != DESTROYED}
            for name in names:
                secret = by_name.get(name)
                if secret is None:
                    raise refused(f"secret {name!r} does not exist")
                if secret.status in (DISABLE, REVOKE):
                    raise refused(f"secret {name!r} is {secret.status} and cannot be linked")
                if secret.trigger_id not in (None, record.trigger_id):
                    raise refused(f"secret {name!r} is linked to another trigger already")
            for secret_id in list(record.linked):
                secret = self.sm.secrets.get(secret_id)
                if secret is not None and secret.name not in names:
                    if secret.auto_rotation:
                        raise refused(
                            f"secret {secret.name!r} rotates automatically with this trigger"
                        )
                    secret.trigger_id = None
                    record.linked.remove(secret_id)
        for name in names:
            self.sm.link_secret_to_trigger(name, trigger.name)

    def get_trigger(self, name: str) -> dict[str, Any]:
        with self.lock:
            trigger = self.triggers.get(name)
            if trigger is None:
                raise missing(f"trigger {name!r} does not exist")
            return self._trigger_view(trigger)

    def link_action(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        action_name, package = body.get("action"), body.get("package", "-")
        if not isinstance(action_name, str) or not isinstance(package, str):
            raise refused("action (and package) are required")
        with self.lock:
            trigger = self.triggers.get(name)
            if trigger is None:
                raise missing(f"trigger {name!r} does not exist")
            action = self.actions.get((package, action_name))
            if action is None:
                raise missing(f"action {action_name!r} does not exist in package {package!r}")
            if action.full_name not in trigger.actions:
                trigger.actions.append(action.full_name)
            if trigger.type == "secret_manager":
                self.sm.register_trigger(trigger.name, actions=list(trigger.actions))
            return self._trigger_view(trigger)

    @staticmethod
    def _trigger_view(trigger: StoredTrigger) -> dict[str, Any]:
        return {"name": trigger.name, "type": trigger.type, **trigger.body,
                "actions": [{"name": a} for a in trigger.actions]}  # fmt: skip


def cloud_functions_router(backend: CloudFunctionsBackend) -> Router:
    r = Router(prefix="/ncf/api/v2", envelope=lambda data: data)

    def action(q: Request) -> tuple[str, str]:
        return q.params["package"], q.params["action"]

    r.add(
        "PUT",
        "/packages/{package}/actions/{action}",
        "put_action",
        lambda q: backend.put_action(*action(q), q.query, q.json()),
    )
    r.add(
        "GET",
        "/packages/{package}/actions/{action}",
        "get_action",
        lambda q: backend.get_action(*action(q)),
    )
    r.add(
        "PUT",
        "/triggers/{trigger}",
        "put_trigger",
        lambda q: backend.put_trigger(q.params["trigger"], q.query, q.json()),
    )
    r.add(
        "GET",
        "/triggers/{trigger}",
        "get_trigger",
        lambda q: backend.get_trigger(q.params["trigger"]),
    )
    r.add("POST", "/triggers/{trigger}/link-action", "link_action",
          lambda q: backend.link_action(q.params["trigger"], q.json()))  # fmt: skip
    return r
