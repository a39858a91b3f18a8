"""Cloud Functions (API v2.1) answers, typed: what :class:`~rotation.ncp.cloudfunctions.
CloudFunctionsClient` returns.

Every v2.1 answer is ``{"content": {...}}`` (Get Action, Get Trigger, Post Trigger Link
Action, Post Action, Get Action's Activation Detail/List: api.ncloud-docs.com
``compute-cloudfunctions-v2-*``). Fields carry the names the docs give them. Parsing is
lenient the way the Secret Manager models are: only a missing *required* field (an action's
or trigger's ``name``, an activation's ``activationId``) is a
:class:`~rotation.ncp.errors.ResponseFormatError`; a missing optional field is ``None``, a
wrongly typed optional field is ``None`` too, and unknown fields are kept in ``extra``. Where
the docs and plausible variants disagree (``actions`` as names or as ``{"name"}`` objects,
``parameters`` as an object or as OpenWhisk's ``[{key, value}]``, ``vpc`` as an object or a
list, ``duration`` as a number or a numeric string), both are read.

Nothing here keeps an action's code: Get Action answers with the whole base64 zip in
``exec.code``; only whether it was there is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rotation.ncp.errors import ResponseFormatError

__all__ = [
    "ActionExec",
    "Activation",
    "FunctionAction",
    "FunctionTrigger",
    "TriggerLink",
    "VpcSubnet",
    "content",
]


def content(payload: object, operation: str) -> Mapping[str, Any]:
    """The ``content`` object of an answer. An answer that is an object without ``content``
    is read as the content itself, so an unwrapped variant still parses."""
    if isinstance(payload, Mapping):
        inner = payload.get("content", payload)
        if isinstance(inner, Mapping):
            return inner
    raise ResponseFormatError("the answer has no content object", operation=operation)


def _required_str(data: Mapping[str, Any], key: str, what: str) -> str:
    raw = data.get(key)
    if not isinstance(raw, str) or not raw:
        raise ResponseFormatError(f"{what} lacks the text field {key!r}")
    return raw


def _str(data: Mapping[str, Any], key: str) -> str | None:
    raw = data.get(key)
    return raw if isinstance(raw, str) else None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    raw = data.get(key)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(float(raw))
        except ValueError:
            return None
    return None


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    raw = data.get(key)
    return raw if isinstance(raw, bool) else None


def _object(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _extra(data: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, v in data.items() if k not in known})


def _parameters(raw: object) -> Mapping[str, Any]:
    """Default parameters: an object (documented), or OpenWhisk's ``[{key, value}]``."""
    if isinstance(raw, Mapping):
        return MappingProxyType(dict(raw))
    if isinstance(raw, list):
        pairs = {
            str(item["key"]): item.get("value")
            for item in raw
            if isinstance(item, Mapping) and "key" in item
        }
        return MappingProxyType(pairs)
    return MappingProxyType({})


@dataclass(frozen=True)
class VpcSubnet:
    vpc_no: int | None
    subnet_no: int | None

    def to_api(self) -> dict[str, Any]:
        return {"vpcNo": self.vpc_no, "subnetNo": self.subnet_no}


def _vpcs(raw: object) -> tuple[VpcSubnet, ...]:
    items = [raw] if isinstance(raw, Mapping) else raw if isinstance(raw, list) else []
    return tuple(
        VpcSubnet(vpc_no=_int(item, "vpcNo"), subnet_no=_int(item, "subnetNo"))
        for item in items
        if isinstance(item, Mapping)
    )


@dataclass(frozen=True)
class ActionExec:
    kind: str | None
    main: str | None
    binary: bool | None
    #: Whether the answer carried the code (Get Action does; it is not kept).
    has_code: bool = False


@dataclass(frozen=True)
class FunctionAction:
    """Get Action / Put Action ``content``."""

    name: str
    description: str | None
    exec: ActionExec
    timeout_ms: int | None
    memory_mb: int | None
    parameters: Mapping[str, Any] = field(repr=False)
    vpc: tuple[VpcSubnet, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    _KNOWN = frozenset({"name", "description", "exec", "limits", "parameters", "vpc"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> FunctionAction:
        exe = _object(data.get("exec"))
        limits = _object(data.get("limits"))
        return cls(
            name=_required_str(data, "name", "the action"),
            description=_str(data, "description"),
            exec=ActionExec(
                kind=_str(exe, "kind"),
                main=_str(exe, "main"),
                binary=_bool(exe, "binary"),
                has_code=bool(exe.get("code")),
            ),
            timeout_ms=_int(limits, "timeout"),
            memory_mb=_int(limits, "memory"),
            parameters=_parameters(data.get("parameters")),
            vpc=_vpcs(data.get("vpc")),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class FunctionTrigger:
    """Get Trigger / Put Trigger ``content``: ``actions`` are the linked actions' names.

    The Secret Manager link list is *not* echoed here (the docs list no such field); which
    secrets a trigger serves comes from Secret Manager's Get Trigger List.
    """

    name: str
    type: str | None
    description: str | None
    actions: tuple[str, ...]
    exec_options: Mapping[str, Any] = field(default_factory=dict)
    resource_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    _KNOWN = frozenset({"name", "type", "description", "actions", "execOption", "resourceId"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> FunctionTrigger:
        raw_actions = data.get("actions")
        names: list[str] = []
        for item in raw_actions if isinstance(raw_actions, list) else []:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
                names.append(item["name"])
        return cls(
            name=_required_str(data, "name", "the trigger"),
            type=_str(data, "type"),
            description=_str(data, "description"),
            actions=tuple(names),
            exec_options=_parameters(data.get("execOption")),
            resource_id=_str(data, "resourceId"),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class TriggerLink:
    """Post Trigger Link Action ``content``."""

    action_name: str | None
    action_path: str | None
    namespace: str | None
    status: str | None
    trigger_name: str | None
    trigger_path: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TriggerLink:
        action, trigger = _object(data.get("action")), _object(data.get("trigger"))
        return cls(
            action_name=_str(action, "name"),
            action_path=_str(action, "path"),
            namespace=_str(data, "namespace"),
            status=_str(data, "status"),
            trigger_name=_str(trigger, "name"),
            trigger_path=_str(trigger, "path"),
        )


@dataclass(frozen=True)
class Activation:
    """One run of an action: Post Action's answer (blocking invocation) and Get Action's
    Activation Detail / List items.

    A blocking invocation that outlives its ``timeout`` answers with ``activationId`` only
    (documented); then ``finished`` is false and the detail is fetched later.
    """

    activation_id: str
    name: str | None = None
    namespace: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    duration_ms: int | None = None
    logs: tuple[str, ...] = ()
    result: Mapping[str, Any] | None = field(default=None, repr=False)
    status: str | None = None
    success: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    _KNOWN = frozenset(
        {"activationId", "name", "namespace", "start", "end", "duration", "logs", "response"}
    )

    @property
    def finished(self) -> bool:
        return self.status is not None or self.success is not None or self.result is not None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Activation:
        response = _object(data.get("response"))
        raw_logs = data.get("logs")
        result = response.get("result")
        return cls(
            activation_id=_required_str(data, "activationId", "the activation"),
            name=_str(data, "name"),
            namespace=_str(data, "namespace"),
            start_ms=_int(data, "start"),
            end_ms=_int(data, "end"),
            duration_ms=_int(data, "duration"),
            logs=tuple(str(line) for line in raw_logs) if isinstance(raw_logs, list) else (),
            result=MappingProxyType(dict(result)) if isinstance(result, Mapping) else None,
            status=_str(response, "status"),
            success=_bool(response, "success"),
            extra=_extra(data, cls._KNOWN),
        )
