"""Typed views of Secret Manager answers.

Two rules shape this module:

* Chain values arrive as JSON *text* (``"{\\"password\\": \\"...\\"}"``). They are parsed here,
  once, into :class:`SecretValue`; nothing else in the project calls ``json.loads`` on a
  secret. ``SecretValue`` masks itself in ``repr``/``str``, so a value that lands in an
  f-string, a log call or a test failure shows its keys, never its contents.
* The API grows. A field we do not know is kept in ``extra``, not dropped and not fatal; an
  enum value we do not know *is* an error, because the workflow's safety decisions (refuse a
  DISABLE secret, resume a ROTATING one) depend on reading the state right.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from rotation.ncp.errors import ResponseFormatError

MAX_VALUE_BYTES = 10_000
MAX_VALUE_KEYS = 100


class SecretStatus(StrEnum):
    ENABLE = "ENABLE"
    DISABLE = "DISABLE"
    REVOKE = "REVOKE"
    ROTATING = "ROTATING"
    DESTROYED = "DESTROYED"


class RotationPhase(StrEnum):
    NONE = "NONE"
    ROTATING = "ROTATING"
    ROTATION_FAILED = "ROTATION_FAILED"


class Stage(StrEnum):
    PREVIOUS = "PREVIOUS"
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"

    @property
    def path(self) -> str:
        """The lower-case form the URL paths use (``/values/pending``)."""
        return self.value.lower()


class ProtectionKeyType(StrEnum):
    DEFAULT = "DEFAULT"
    USER_MANAGED_KEY = "USER_MANAGED_KEY"


class SecretValueError(ResponseFormatError):
    """A secret value that is not a JSON object. The message names the stage, not the text."""


class SecretValue(Mapping[str, Any]):
    """One stage of a secret: a JSON object of up to 100 keys, masked when printed."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    @classmethod
    def parse(cls, text: str, *, stage: str = "value") -> SecretValue:
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            raise SecretValueError(f"the {stage} secret value is not valid JSON") from None
        if not isinstance(data, dict):
            raise SecretValueError(f"the {stage} secret value is not a JSON object")
        return cls(data)

    def to_json(self) -> str:
        return json.dumps(self._data, ensure_ascii=False, separators=(",", ":"))

    def replace(self, changes: Mapping[str, Any]) -> SecretValue:
        """A copy with ``changes`` applied and every other key untouched."""
        return SecretValue({**self._data, **changes})

    def leaves(self) -> Iterator[str]:
        """Every scalar in the value, as text: what redaction has to know about."""
        for item in self._data.values():
            if isinstance(item, str):
                yield item
            elif item is not None and not isinstance(item, (dict, list)):
                yield json.dumps(item)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretValue):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"SecretValue(keys={sorted(self._data)!r}, values=<masked>)"

    __str__ = __repr__


_T = TypeVar("_T", bound=StrEnum)


def _enum(cls: type[_T], data: Mapping[str, Any], key: str) -> _T:
    raw = data.get(key)
    try:
        return cls(str(raw))
    except ValueError:
        raise ResponseFormatError(f"unexpected {key} {raw!r} in the answer") from None


def _opt_enum(cls: type[_T], data: Mapping[str, Any], key: str) -> _T | None:
    return None if data.get(key) is None else _enum(cls, data, key)


def _str(data: Mapping[str, Any], key: str) -> str:
    raw = data.get(key)
    if not isinstance(raw, str):
        raise ResponseFormatError(f"the answer lacks the text field {key!r}")
    return raw


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    raw = data.get(key)
    return None if raw is None else str(raw)


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    raw = data.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ResponseFormatError(f"the field {key!r} is not a number")
    try:
        return int(raw)
    except ValueError:
        raise ResponseFormatError(f"the field {key!r} is not a number") from None


def _extra(data: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, v in data.items() if k not in known})


def _mapping(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ResponseFormatError(f"{what} is not a JSON object")
    return raw


@dataclass(frozen=True)
class TriggerRef:
    id: str
    name: str | None = None
    url: str | None = None
    recently_executed_action: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"id", "name", "url", "recentlyExecutedAction"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TriggerRef:
        return cls(
            id=_str(data, "id"),
            name=_opt_str(data, "name"),
            url=_opt_str(data, "url"),
            recently_executed_action=_opt_str(data, "recentlyExecutedAction"),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class ProtectionKey:
    type: ProtectionKeyType
    kms_key_tag: str | None = None
    kms_key_name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"type", "kmsKeyTag", "kmsKeyName"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ProtectionKey:
        return cls(
            type=_enum(ProtectionKeyType, data, "type"),
            kms_key_tag=_opt_str(data, "kmsKeyTag"),
            kms_key_name=_opt_str(data, "kmsKeyName"),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class SecretDetail:
    """Get Secret Detail (and Create Secret's answer): the fields of the seed document."""

    secret_id: str
    secret_name: str
    status: SecretStatus
    secret_type: str | None
    memo: str | None
    region: str | None
    register_date: int | None
    update_date: int | None
    expected_destroy_date: int | None
    auto_rotation: bool
    auto_rotation_period: int | None
    next_rotation_date: int | None
    rotation_phase: RotationPhase
    last_rotation_date: int | None
    trigger: TriggerRef | None
    protection_key: ProtectionKey | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "secretId",
            "secretName",
            "secretStatus",
            "secretType",
            "memo",
            "region",
            "registerDate",
            "updateDate",
            "expectedDestroyDate",
            "autoRotationYN",
            "autoRotationPeriod",
            "nextRotationDate",
            "rotationPhase",
            "lastRotationDate",
            "trigger",
            "protectionKey",
        }
    )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretDetail:
        trigger = data.get("trigger")
        key = data.get("protectionKey")
        return cls(
            secret_id=_str(data, "secretId"),
            secret_name=_str(data, "secretName"),
            status=_enum(SecretStatus, data, "secretStatus"),
            secret_type=_opt_str(data, "secretType"),
            memo=_opt_str(data, "memo"),
            region=_opt_str(data, "region"),
            register_date=_opt_int(data, "registerDate"),
            update_date=_opt_int(data, "updateDate"),
            expected_destroy_date=_opt_int(data, "expectedDestroyDate"),
            auto_rotation=data.get("autoRotationYN") == "Y",
            auto_rotation_period=_opt_int(data, "autoRotationPeriod"),
            next_rotation_date=_opt_int(data, "nextRotationDate"),
            # The seed documents rotationPhase on every detail; an answer without it is a
            # secret that never rotated, which the docs call NONE.
            rotation_phase=_opt_enum(RotationPhase, data, "rotationPhase") or RotationPhase.NONE,
            last_rotation_date=_opt_int(data, "lastRotationDate"),
            trigger=TriggerRef.from_api(_mapping(trigger, "trigger")) if trigger else None,
            protection_key=ProtectionKey.from_api(_mapping(key, "protectionKey")) if key else None,
            extra=_extra(data, cls._KNOWN),
        )

    @property
    def rotating(self) -> bool:
        return self.rotation_phase is RotationPhase.ROTATING or self.status is SecretStatus.ROTATING


@dataclass(frozen=True)
class SecretSummary:
    secret_id: str
    secret_name: str
    status: SecretStatus
    secret_type: str | None
    region: str | None
    register_date: int | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"secretId", "secretName", "secretStatus", "secretType", "region", "registerDate"}
    )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretSummary:
        return cls(
            secret_id=_str(data, "secretId"),
            secret_name=_str(data, "secretName"),
            status=_enum(SecretStatus, data, "secretStatus"),
            secret_type=_opt_str(data, "secretType"),
            region=_opt_str(data, "region"),
            register_date=_opt_int(data, "registerDate"),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class SecretPage:
    secrets: tuple[SecretSummary, ...]
    current_page: int
    total_pages: int
    total_count: int

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretPage:
        items = data.get("secretList") or []
        if not isinstance(items, list):
            raise ResponseFormatError("secretList is not a list")
        return cls(
            secrets=tuple(SecretSummary.from_api(_mapping(i, "a secret")) for i in items),
            current_page=_opt_int(data, "currentPageNo") or 1,
            total_pages=_opt_int(data, "totalPageNo") or 0,
            total_count=_opt_int(data, "totalCount") or 0,
        )


def _chain_member(raw: object, stage: Stage) -> SecretValue | None:
    # An absent stage comes back as null or as an empty string, depending on the page read.
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise SecretValueError(f"the {stage.path} secret value is not JSON text")
    return SecretValue.parse(raw, stage=stage.path)


@dataclass(frozen=True)
class SecretChain:
    """The decrypted chain plus the keys rotation may change (Start Job, Get Secret Value)."""

    previous: SecretValue | None
    active: SecretValue | None
    pending: SecretValue | None
    rotation_targets: tuple[str, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretChain:
        chain = _mapping(data.get("decryptedSecretChain") or {}, "decryptedSecretChain")
        targets = data.get("rotationTargets") or []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ResponseFormatError("rotationTargets is not a list of key names")
        return cls(
            previous=_chain_member(chain.get("previous"), Stage.PREVIOUS),
            active=_chain_member(chain.get("active"), Stage.ACTIVE),
            pending=_chain_member(chain.get("pending"), Stage.PENDING),
            rotation_targets=tuple(targets),
        )

    def stage(self, stage: Stage) -> SecretValue | None:
        return {Stage.PREVIOUS: self.previous, Stage.ACTIVE: self.active}.get(stage, self.pending)


@dataclass(frozen=True)
class StageValue:
    value: SecretValue
    stage: Stage

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> StageValue:
        inner = _mapping(data.get("decryptedSecretValue"), "decryptedSecretValue")
        stage = _enum(Stage, inner, "valueStage")
        value = _chain_member(inner.get("value"), stage)
        if value is None:
            raise ResponseFormatError(f"the {stage.path} stage has no value")
        return cls(value=value, stage=stage)


@dataclass(frozen=True)
class EncryptedValue:
    """What the update calls echo back: ciphertext (``ncpkms:v1:...``), never plaintext."""

    value: str | None
    stage: Stage | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EncryptedValue:
        inner = _mapping(data.get("encryptedSecretValue") or {}, "encryptedSecretValue")
        return cls(value=_opt_str(inner, "value"), stage=_opt_enum(Stage, inner, "valueStage"))


@dataclass(frozen=True)
class EncryptedChain:
    previous: str | None
    active: str | None
    pending: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EncryptedChain:
        inner = _mapping(data.get("encryptedSecretChain") or {}, "encryptedSecretChain")
        return cls(
            previous=_opt_str(inner, "previous") or None,
            active=_opt_str(inner, "active") or None,
            pending=_opt_str(inner, "pending") or None,
        )


@dataclass(frozen=True)
class StatusChange:
    """Enable / Disable / Request or Cancel Deletion answers."""

    secret_id: str
    status: SecretStatus
    update_date: int | None
    expected_destroy_date: int | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"secretId", "secretStatus", "updateDate", "expectedDestroyDate"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> StatusChange:
        return cls(
            secret_id=_str(data, "secretId"),
            status=_enum(SecretStatus, data, "secretStatus"),
            update_date=_opt_int(data, "updateDate"),
            expected_destroy_date=_opt_int(data, "expectedDestroyDate"),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class RotationSettings:
    """Enable / Disable Auto Rotation, Update Rotation Period and Update Rotation Trigger."""

    secret_id: str
    auto_rotation: bool | None
    auto_rotation_period: int | None
    next_rotation_date: int | None
    trigger: TriggerRef | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {"secretId", "autoRotationYN", "autoRotationPeriod", "nextRotationDate", "trigger"}
    )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RotationSettings:
        flag = data.get("autoRotationYN")
        trigger = data.get("trigger")
        return cls(
            secret_id=_str(data, "secretId"),
            auto_rotation=None if flag is None else flag == "Y",
            auto_rotation_period=_opt_int(data, "autoRotationPeriod"),
            next_rotation_date=_opt_int(data, "nextRotationDate"),
            trigger=TriggerRef.from_api(_mapping(trigger, "trigger")) if trigger else None,
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class TriggerAction:
    name: str
    description: str | None = None


@dataclass(frozen=True)
class Trigger:
    """A Cloud Functions trigger of type Secret Manager, as Get Trigger List shows it."""

    id: str
    name: str
    description: str | None
    page_url: str | None
    platform: str | None
    region: str | None
    linked_secrets: tuple[str, ...]
    actions: tuple[TriggerAction, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "id",
            "name",
            "description",
            "pageUrl",
            "platform",
            "region",
            "linkedSecretList",
            "actionList",
        }
    )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Trigger:
        actions = data.get("actionList") or []
        linked = data.get("linkedSecretList") or []
        return cls(
            id=_str(data, "id"),
            name=_str(data, "name"),
            description=_opt_str(data, "description"),
            page_url=_opt_str(data, "pageUrl"),
            platform=_opt_str(data, "platform"),
            region=_opt_str(data, "region"),
            linked_secrets=tuple(str(s) for s in linked),
            actions=tuple(
                TriggerAction(name=_str(a, "name"), description=_opt_str(a, "description"))
                for a in (_mapping(x, "an action") for x in actions)
            ),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class KmsKey:
    """A KMS key that can protect secrets (Get Protection Key List)."""

    kms_key_tag: str
    kms_key_name: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = frozenset({"kmsKeyTag", "kmsKeyName"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> KmsKey:
        return cls(
            kms_key_tag=_str(data, "kmsKeyTag"),
            kms_key_name=_opt_str(data, "kmsKeyName"),
            extra=_extra(data, cls._KNOWN),
        )


@dataclass(frozen=True)
class LogPage:
    """Get Secret Logs. Entry fields are not documented, so entries stay plain mappings."""

    entries: tuple[Mapping[str, Any], ...]
    current_page: int
    total_pages: int
    total_count: int
    page_size: int | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> LogPage:
        items = data.get("result") or []
        if not isinstance(items, list):
            raise ResponseFormatError("result is not a list")
        return cls(
            entries=tuple(MappingProxyType(dict(_mapping(i, "a log entry"))) for i in items),
            current_page=_opt_int(data, "currentPage") or 1,
            total_pages=_opt_int(data, "totalPage") or 0,
            total_count=_opt_int(data, "totalCount") or 0,
            page_size=_opt_int(data, "pageSize"),
        )


@dataclass(frozen=True)
class CreateSecretRequest:
    """The body of Create Secret, field for field as the seed document lists it."""

    secret_name: str
    value: Mapping[str, Any] = field(repr=False)
    rotation_targets: tuple[str, ...]
    memo: str | None = None
    secret_type: str = "BASIC"
    auto_rotation: bool = False
    auto_rotation_period: int | None = None
    trigger_id: str | None = None
    protection_key_type: ProtectionKeyType = ProtectionKeyType.DEFAULT
    kms_key_tag: str | None = None
    kms_boundary_type: str | None = None

    def to_api(self) -> dict[str, Any]:
        value = (
            self.value.to_json()
            if isinstance(self.value, SecretValue)
            else json.dumps(dict(self.value), ensure_ascii=False, separators=(",", ":"))
        )
        body: dict[str, Any] = {
            "secretName": self.secret_name,
            "secretValue": {"value": value, "rotationTargets": list(self.rotation_targets)},
            "secretType": self.secret_type,
            "autoRotationYN": "Y" if self.auto_rotation else "N",
            "protectionKeyType": str(self.protection_key_type),
        }
        optional = {
            "memo": self.memo,
            "autoRotationPeriod": self.auto_rotation_period,
            "triggerId": self.trigger_id,
            "kmsKeyTag": self.kms_key_tag,
            "kmsBoundaryType": self.kms_boundary_type,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass(frozen=True)
class RandomSecretOptions:
    """Generate Random Secret's body. Defaults are the *service's* documented defaults."""

    length: int = 12
    exclude_characters: str = ""
    exclude_numbers: bool = False
    exclude_punctuation: bool = False
    exclude_uppercase: bool = False
    exclude_lowercase: bool = False
    include_space: bool = True
    require_each_included_type: bool = True

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "length": self.length,
            "excludeNumbers": self.exclude_numbers,
            "excludePunctuation": self.exclude_punctuation,
            "excludeUppercase": self.exclude_uppercase,
            "excludeLowercase": self.exclude_lowercase,
            "includeSpace": self.include_space,
            "requireEachIncludedType": self.require_each_included_type,
        }
        if self.exclude_characters:
            body["excludeCharacters"] = self.exclude_characters
        return body
