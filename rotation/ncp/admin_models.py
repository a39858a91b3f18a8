"""Secret Manager answers that only the operator's calls produce: secret lists, logs,
triggers, KMS keys, status and rotation-setting changes, and Create Secret's body.

Kept apart from :mod:`rotation.ncp.models` for the cold start: a rotation never makes one
of these, and defining each frozen dataclass costs import time in every fresh action
process. They read answers by the same rules (lenient, unknown fields in ``extra``,
surprises in ``notes``) with the same reader. The client's methods that return them
import this module when called; nothing a rotation runs imports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rotation.ncp.errors import ResponseFormatError
from rotation.ncp.models import (
    ProtectionKeyType,
    SecretStatus,
    SecretValue,
    Stage,
    TriggerRef,
    _mapping,
    _Reader,
)


@dataclass(frozen=True)
class SecretSummary:
    """One item of Get Secret List's ``secretList``."""

    secret_id: str
    secret_name: str
    status: SecretStatus
    secret_type: str | None
    region: str | None
    register_date: int | None
    extra: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    _KNOWN = frozenset(
        {"secretId", "secretName", "secretStatus", "secretType", "region", "registerDate"}
    )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretSummary:
        r = _Reader(data, "secret")
        return cls(
            secret_id=r.text("secretId"),
            secret_name=r.text("secretName"),
            status=r.enum(SecretStatus, "secretStatus"),
            secret_type=r.opt_text("secretType"),
            region=r.opt_text("region"),
            register_date=r.opt_int("registerDate"),
            extra=r.unknown(cls._KNOWN),
            notes=r.done,
        )


@dataclass(frozen=True)
class SecretPage:
    secrets: tuple[SecretSummary, ...]
    current_page: int
    total_pages: int
    total_count: int
    notes: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretPage:
        r = _Reader(data, "secret list")
        items = data.get("secretList")
        if items is not None and not isinstance(items, list):
            raise ResponseFormatError("secretList is not a list")
        return cls(
            secrets=tuple(SecretSummary.from_api(_mapping(i, "a secret")) for i in items or []),
            current_page=r.opt_int("currentPageNo") or 1,
            total_pages=r.opt_int("totalPageNo") or 0,
            total_count=r.opt_int("totalCount") or 0,
            notes=r.done,
        )


@dataclass(frozen=True)
class EncryptedValue:
    """What the update calls echo back: ciphertext (``ncpkms:v1:...``), never plaintext."""

    value: str | None
    stage: Stage | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EncryptedValue:
        r = _Reader(_mapping(data.get("encryptedSecretValue") or {}, "encryptedSecretValue"), "")
        return cls(value=r.opt_text("value"), stage=r.opt_enum(Stage, "valueStage"))


@dataclass(frozen=True)
class EncryptedChain:
    previous: str | None
    active: str | None
    pending: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EncryptedChain:
        r = _Reader(_mapping(data.get("encryptedSecretChain") or {}, "encryptedSecretChain"), "")
        return cls(
            previous=r.opt_text("previous") or None,
            active=r.opt_text("active") or None,
            pending=r.opt_text("pending") or None,
        )


@dataclass(frozen=True)
class StatusChange:
    """Enable / Disable / Request or Cancel Deletion answers."""

    secret_id: str
    status: SecretStatus
    update_date: int | None
    expected_destroy_date: int | None
    extra: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    _KNOWN = frozenset({"secretId", "secretStatus", "updateDate", "expectedDestroyDate"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> StatusChange:
        r = _Reader(data, "status change")
        return cls(
            secret_id=r.text("secretId"),
            status=r.enum(SecretStatus, "secretStatus"),
            update_date=r.opt_int("updateDate"),
            expected_destroy_date=r.opt_int("expectedDestroyDate"),
            extra=r.unknown(cls._KNOWN),
            notes=r.done,
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
    notes: tuple[str, ...] = ()

    _KNOWN = frozenset(
        {"secretId", "autoRotationYN", "autoRotationPeriod", "nextRotationDate", "trigger"}
    )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RotationSettings:
        r = _Reader(data, "rotation settings")
        return cls(
            secret_id=r.text("secretId"),
            auto_rotation=r.flag("autoRotationYN"),
            auto_rotation_period=r.opt_int("autoRotationPeriod"),
            next_rotation_date=r.opt_int("nextRotationDate"),
            trigger=r.nested("trigger", TriggerRef.from_api),
            extra=r.unknown(cls._KNOWN),
            notes=r.done,
        )


@dataclass(frozen=True)
class TriggerAction:
    name: str
    description: str | None = None


def _linked_secret(item: object) -> str | None:
    """``linkedSecretList`` holds secret ids (docs); an object with an id is read too."""
    if isinstance(item, Mapping):
        item = item.get("secretId") or item.get("id")
    if item is None or isinstance(item, (bool, Mapping, list)) or item == "":
        return None
    return str(item)


def _trigger_action(item: object) -> TriggerAction | None:
    """``actionList`` holds ``{name, description}`` (docs); a bare name is read too."""
    if isinstance(item, str) and item:
        return TriggerAction(name=item)
    if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
        r = _Reader(item, "action")
        return TriggerAction(name=item["name"], description=r.opt_text("description"))
    return None


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
    notes: tuple[str, ...] = ()

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
        r = _Reader(data, "trigger")
        linked = [_linked_secret(s) for s in r.items("linkedSecretList")]
        actions = [_trigger_action(a) for a in r.items("actionList")]
        if None in linked or None in actions:
            r.notes.append("unreadable items in linkedSecretList or actionList, ignored")
        return cls(
            id=r.text("id"),
            name=r.text("name"),
            description=r.opt_text("description"),
            page_url=r.opt_text("pageUrl"),
            platform=r.opt_text("platform"),
            region=r.opt_text("region"),
            linked_secrets=tuple(s for s in linked if s is not None),
            actions=tuple(a for a in actions if a is not None),
            extra=r.unknown(cls._KNOWN),
            notes=r.done,
        )


@dataclass(frozen=True)
class KmsKey:
    """A KMS key that can protect secrets: one item of Get Protection Key List's ``keyList``,
    ``{keyId, keyTag, keyName, keyStatus, keyType, kmsBoundaryType}``
    (https://api.ncloud-docs.com/docs/en/secretmanager-getprotectionkeylist).

    No field is marked required there, and the page's example lists the "Secret Manager
    Default Key" with ``keyId`` 0 and an empty ``keyTag``: every field is optional here.
    ``keyStatus`` (ENABLE | DISABLE), ``keyType`` (AES256 | RSA2048) and
    ``kmsBoundaryType`` (GLOBAL | ISOLATED) are kept as text: nothing here decides on them.
    """

    key_id: str | None = None
    key_tag: str | None = None
    key_name: str | None = None
    key_status: str | None = None
    key_type: str | None = None
    kms_boundary_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    _KNOWN = frozenset({"keyId", "keyTag", "keyName", "keyStatus", "keyType", "kmsBoundaryType"})

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> KmsKey:
        r = _Reader(data, "protection key")
        return cls(
            key_id=r.opt_text("keyId"),
            key_tag=r.opt_text("keyTag") or None,
            key_name=r.opt_text("keyName"),
            key_status=r.opt_text("keyStatus") or None,
            key_type=r.opt_text("keyType") or None,
            kms_boundary_type=r.opt_text("kmsBoundaryType") or None,
            extra=r.unknown(cls._KNOWN),
            notes=r.done,
        )

    @property
    def kms_key_tag(self) -> str | None:
        """The tag under the name Create Secret and Update Protection Key send it as."""
        return self.key_tag

    @property
    def kms_key_name(self) -> str | None:
        return self.key_name


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
        r = _Reader(data, "secret logs")
        return cls(
            entries=tuple(
                MappingProxyType(dict(i)) for i in r.items("result") if isinstance(i, Mapping)
            ),
            current_page=r.opt_int("currentPage") or 1,
            total_pages=r.opt_int("totalPage") or 0,
            total_count=r.opt_int("totalCount") or 0,
            page_size=r.opt_int("pageSize"),
        )


@dataclass(frozen=True)
class CreateSecretRequest:
    """The body of Create Secret, field for field as its page lists it
    (https://api.ncloud-docs.com/docs/en/secretmanager-createsecret)."""

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
