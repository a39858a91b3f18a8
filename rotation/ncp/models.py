"""Typed views of Secret Manager answers.

Three rules shape this module:

* Chain values arrive as JSON *text* (``"{\\"password\\": \\"...\\"}"``). They are parsed here,
  once, into :class:`SecretValue`; nothing else in the project calls ``json.loads`` on a
  secret. ``SecretValue`` masks itself in ``repr``/``str``, so a value that lands in an
  f-string, a log call or a test failure shows its keys, never its contents.
* Fields are named as NCP's pages name them (Get Secret Detail: https://api.ncloud-docs.com/docs/en/secretmanager-getsecretdetail,
  https://api.ncloud-docs.com/docs/en/secretmanager-getprotectionkeylist for the key list,
  and so on: each page is https://api.ncloud-docs.com/docs/en/secretmanager-<operation>).
* The API grows and the docs are thin, so answers are read leniently. A field we do not know
  is kept in ``extra``; a missing optional field is ``None``; an optional field of the wrong
  type is ``None``; an enum value we do not know (a ``rotationPhase`` other than the documented
  NONE / ROTATING / ROTATION_FAILED, a new ``secretStatus``) is kept as the raw string in an
  *unknown* member (``.value`` is the raw text, ``.known`` is False). Every such surprise is
  listed in the model's ``notes`` and logged once (``ncp.answer.unexpected``), so the first
  real run shows it, and it never stops a rotation. A parse error is raised only when a
  field the caller cannot do without is missing (a secret's id, name and status, a chain
  value that is not a JSON object). The safety decisions stay exact: only the documented
  DISABLE / REVOKE / DESTROYED refuse, and an unknown value is none of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypeVar

import structlog

from rotation.ncp.errors import ResponseFormatError
from rotation.ncp.records import Record

MAX_VALUE_BYTES = 10_000
MAX_VALUE_KEYS = 100
#: How deep a value may nest (the top-level object is level 1). Secret Manager's own rule
#: is not documented (the emulator guesses flat values, A9); this bound is ours: a value
#: is read, compared, masked and logged by code that walks it, and thousands of levels
#: (valid JSON all the same) made that code raise RecursionError after the job started.
MAX_VALUE_DEPTH = 32

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")

log = structlog.get_logger("rotation.ncp.models")


class OpenEnum(StrEnum):
    """A ``StrEnum`` that reads a value it does not know instead of refusing it.

    ``Member("rotating")`` finds ``ROTATING`` (case and surrounding blanks do not matter);
    ``Member("SOMETHING_NEW")`` gives a stand-in member named ``UNKNOWN`` whose ``.value``
    is the raw text. Identity checks (``phase is RotationPhase.NONE``) and set membership
    stay exact, so an unknown value is never mistaken for a documented one.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        folded = value.strip().upper()
        for member in cls:
            if member.value == folded:
                return member
        pseudo = str.__new__(cls, value)
        pseudo._name_ = "UNKNOWN"
        pseudo._value_ = value
        return pseudo

    @property
    def known(self) -> bool:
        """Whether this is one of the documented values."""
        return self._value_ in type(self)._value2member_map_


class SecretStatus(OpenEnum):
    """``secretStatus`` (Get Secret Detail's page): every value is documented."""

    ENABLE = "ENABLE"
    DISABLE = "DISABLE"
    REVOKE = "REVOKE"
    ROTATING = "ROTATING"
    DESTROYED = "DESTROYED"


#: The documented statuses of a secret that cannot rotate; an unknown status is none of
#: them (the rotation goes on and logs it).
NOT_ROTATABLE = frozenset({SecretStatus.DISABLE, SecretStatus.REVOKE, SecretStatus.DESTROYED})


class RotationPhase(OpenEnum):
    """``rotationPhase``: Get Secret Detail's page lists these three; the API pages
    show only NONE."""

    NONE = "NONE"
    ROTATING = "ROTATING"
    ROTATION_FAILED = "ROTATION_FAILED"


class Stage(OpenEnum):
    PREVIOUS = "PREVIOUS"
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"

    @property
    def path(self) -> str:
        """The lower-case form the URL paths use (``/values/pending``)."""
        return self.value.lower()


class ProtectionKeyType(OpenEnum):
    DEFAULT = "DEFAULT"
    USER_MANAGED_KEY = "USER_MANAGED_KEY"


class SecretValueError(ResponseFormatError):
    """A secret value that is not a JSON object. The message names the stage, not the text."""


class SecretValueUnsupported(SecretValueError):
    """A secret value that is JSON, but nested deeper than :data:`MAX_VALUE_DEPTH`: refused
    where it is read, before anything walks it."""


def encodable(text: str) -> bool:
    """Can ``text`` travel as UTF-8? Not with a lone surrogate (``"\\ud800"`` in JSON is
    valid JSON, but no UTF-8 encoder, driver or HTTP body takes it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_depth(text: str) -> int:
    """How deep JSON ``text`` nests, found without parsing it (so without recursion):
    brackets outside strings, counted. Meaningless, and harmless, for text that is not
    JSON: the parser then says so."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _shown_key(key: object) -> str:
    """A key name as messages quote it: ASCII (a key may hold a lone surrogate), short."""
    text = ascii(key)
    return text if len(text) <= 40 else text[:37] + "..."


def value_problem(data: Mapping[str, Any]) -> str | None:
    """Why a parsed value cannot be rotated safely although it is a JSON object, or
    ``None``: it nests deeper than :data:`MAX_VALUE_DEPTH`, or a key or a text holds a
    lone surrogate. Walks the value without recursion. Names the top-level key, never a
    value."""
    for key, item in data.items():
        stack: list[tuple[object, int]] = [(key, 1), (item, 2)]
        while stack:
            node, depth = stack.pop()
            if isinstance(node, str):
                if not encodable(node):
                    return (
                        f"key {_shown_key(key)} holds text that is not valid Unicode (a lone "
                        "surrogate such as \\ud800)"
                    )
                continue
            children: list[object] = []
            if isinstance(node, Mapping):
                children = [*node.keys(), *node.values()]
            elif isinstance(node, list):
                children = list(node)
            else:
                continue
            if depth > MAX_VALUE_DEPTH:
                return f"key {_shown_key(key)} nests deeper than {MAX_VALUE_DEPTH} levels"
            stack.extend((child, depth + 1) for child in children)
    return None


class SecretValue(Mapping[str, Any]):
    """One stage of a secret: a JSON object of up to 100 keys, masked when printed."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    @classmethod
    def parse(cls, text: str, *, stage: str = "value") -> SecretValue:
        if isinstance(text, str) and text_depth(text) > MAX_VALUE_DEPTH:
            raise SecretValueUnsupported(
                f"the {stage} secret value nests deeper than {MAX_VALUE_DEPTH} levels"
            )
        try:
            data = json.loads(text)
        except RecursionError:  # cannot happen after the depth check; never escape as one
            raise SecretValueUnsupported(
                f"the {stage} secret value nests deeper than {MAX_VALUE_DEPTH} levels"
            ) from None
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


_E = TypeVar("_E", bound=OpenEnum)
_M = TypeVar("_M")


class _Reader:
    """One answer object, read leniently: whatever it did not expect goes to ``notes``.

    Notes name fields and enum values, never other field *values*: they are meant for logs.
    """

    def __init__(self, data: Mapping[str, Any], what: str) -> None:
        self.data = data
        self.what = what
        self.notes: list[str] = []

    def text(self, key: str) -> str:
        """A field the caller cannot do without."""
        raw = self.data.get(key)
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or raw == "":
            raise ResponseFormatError(f"the {self.what} lacks the field {key!r}")
        return str(raw)

    def opt_text(self, key: str) -> str | None:
        raw = self.data.get(key)
        if raw is None:
            return None
        if isinstance(raw, (Mapping, list)):
            self.notes.append(f"{key}: not text, ignored")
            return None
        return str(raw)

    def opt_int(self, key: str) -> int | None:
        raw = self.data.get(key)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, bool) and isinstance(raw, (int, float, str)):
            try:
                return int(raw)
            except ValueError:
                try:
                    return int(float(raw))
                except ValueError:
                    pass
        self.notes.append(f"{key}: not a number, ignored")
        return None

    def flag(self, key: str) -> bool | None:
        """A ``Y`` / ``N`` field."""
        raw = self.data.get(key)
        if raw is None:
            return None
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().upper() in ("Y", "N"):
            return raw.strip().upper() == "Y"
        self.notes.append(f"{key}: undocumented value {str(raw)[:40]!r}")
        return None

    def enum(self, cls: type[_E], key: str, default: _E | None = None) -> _E:
        """An enum value; an unknown one is kept (``.known`` is False) and noted."""
        raw = self.data.get(key)
        if raw is None or raw == "" or isinstance(raw, (Mapping, list)):
            if default is None:
                raise ResponseFormatError(f"the {self.what} lacks the field {key!r}")
            if raw is not None:
                self.notes.append(f"{key}: not a value, read as {default.value}")
            return default
        value = cls(str(raw))
        if not value.known:
            self.notes.append(f"{key}: undocumented value {value.value[:40]!r}")
        return value

    def opt_enum(self, cls: type[_E], key: str) -> _E | None:
        raw = self.data.get(key)
        if raw is None or raw == "" or isinstance(raw, (Mapping, list)):
            return None
        return self.enum(cls, key)

    def nested(self, key: str, parse: Callable[[Mapping[str, Any]], _M]) -> _M | None:
        """An optional object: a malformed one is dropped with a note, not fatal."""
        raw = self.data.get(key)
        if not raw:
            return None
        if not isinstance(raw, Mapping):
            self.notes.append(f"{key}: not an object, ignored")
            return None
        try:
            item = parse(raw)
        except ResponseFormatError as exc:
            self.notes.append(f"{key}: ignored ({exc})")
            return None
        self.notes.extend(f"{key}.{note}" for note in getattr(item, "notes", ()))
        return item

    def items(self, key: str) -> list[Any]:
        """A list field; absent is empty, anything but a list is noted and read as empty."""
        raw = self.data.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.notes.append(f"{key}: not a list, ignored")
            return []
        return raw

    def unknown(self, known: frozenset[str]) -> Mapping[str, Any]:
        extra = {k: v for k, v in self.data.items() if k not in known}
        if extra:
            self.notes.append("undocumented fields: " + ", ".join(sorted(map(str, extra))))
        return MappingProxyType(extra)

    @property
    def done(self) -> tuple[str, ...]:
        return tuple(self.notes)


def _mapping(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ResponseFormatError(f"{what} is not a JSON object")
    return raw


#: ``extra`` of an answer that held nothing undocumented.
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})

_TRIGGER_FIELDS = frozenset({"id", "name", "url", "recentlyExecutedAction"})


class TriggerRef(Record):
    """``trigger`` of a secret: ``{id, name, url, recentlyExecutedAction}`` (Create
    Secret's and Get Secret Detail's pages)."""

    __slots__ = ("extra", "id", "name", "notes", "recently_executed_action", "url")

    def __init__(
        self,
        *,
        id: str,
        name: str | None = None,
        url: str | None = None,
        recently_executed_action: str | None = None,
        extra: Mapping[str, Any] = _NO_EXTRA,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.id: Final = id
        self.name: Final = name
        self.url: Final = url
        self.recently_executed_action: Final = recently_executed_action
        self.extra: Final = extra
        self.notes: Final = notes

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TriggerRef:
        r = _Reader(data, "trigger")
        return cls(
            id=r.text("id"),
            name=r.opt_text("name"),
            url=r.opt_text("url"),
            recently_executed_action=r.opt_text("recentlyExecutedAction"),
            extra=r.unknown(_TRIGGER_FIELDS),
            notes=r.done,
        )


_PROTECTION_KEY_FIELDS = frozenset({"type", "kmsKeyTag", "kmsKeyName"})


class ProtectionKey(Record):
    """``protectionKey`` of a secret: ``{type, kmsKeyTag, kmsKeyName}`` (Get Secret
    Detail's page)."""

    __slots__ = ("extra", "kms_key_name", "kms_key_tag", "notes", "type")

    def __init__(
        self,
        type: ProtectionKeyType,
        kms_key_tag: str | None = None,
        kms_key_name: str | None = None,
        extra: Mapping[str, Any] = _NO_EXTRA,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.type: Final = type
        self.kms_key_tag: Final = kms_key_tag
        self.kms_key_name: Final = kms_key_name
        self.extra: Final = extra
        self.notes: Final = notes

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ProtectionKey:
        r = _Reader(data, "protection key")
        tag = r.opt_text("kmsKeyTag")
        # No type but a key tag can only be a user-managed key; no type and no tag, the default.
        implied = ProtectionKeyType.USER_MANAGED_KEY if tag else ProtectionKeyType.DEFAULT
        return cls(
            type=r.enum(ProtectionKeyType, "type", default=implied),
            kms_key_tag=tag,
            kms_key_name=r.opt_text("kmsKeyName"),
            extra=r.unknown(_PROTECTION_KEY_FIELDS),
            notes=r.done,
        )


_DETAIL_FIELDS = frozenset(
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
        "lastRotationResultId",
        "trigger",
        "protectionKey",
    }
)


class SecretDetail(Record):
    """Get Secret Detail (and Create Secret's answer): the fields of its documented page.

    ``notes`` lists what the answer held that the docs do not (an undocumented
    ``rotationPhase``, a new field): the workflow logs it at ``guard``.
    """

    __slots__ = (
        "auto_rotation", "auto_rotation_period", "expected_destroy_date", "extra",
        "last_rotation_date", "last_rotation_result_id", "memo", "next_rotation_date",
        "notes", "protection_key", "region", "register_date", "rotation_phase", "secret_id",
        "secret_name", "secret_type", "status", "trigger", "update_date",
    )  # fmt: skip

    def __init__(
        self,
        *,
        secret_id: str,
        secret_name: str,
        status: SecretStatus,
        secret_type: str | None,
        memo: str | None,
        region: str | None,
        register_date: int | None,
        update_date: int | None,
        expected_destroy_date: int | None,
        auto_rotation: bool,
        auto_rotation_period: int | None,
        next_rotation_date: int | None,
        rotation_phase: RotationPhase,
        last_rotation_date: int | None,
        trigger: TriggerRef | None,
        protection_key: ProtectionKey | None,
        last_rotation_result_id: str | None = None,
        extra: Mapping[str, Any] = _NO_EXTRA,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.secret_id: Final = secret_id
        self.secret_name: Final = secret_name
        self.status: Final = status
        self.secret_type: Final = secret_type
        self.memo: Final = memo
        self.region: Final = region
        self.register_date: Final = register_date
        self.update_date: Final = update_date
        self.expected_destroy_date: Final = expected_destroy_date
        self.auto_rotation: Final = auto_rotation
        self.auto_rotation_period: Final = auto_rotation_period
        self.next_rotation_date: Final = next_rotation_date
        self.rotation_phase: Final = rotation_phase
        self.last_rotation_date: Final = last_rotation_date
        self.trigger: Final = trigger
        self.protection_key: Final = protection_key
        self.last_rotation_result_id: Final = last_rotation_result_id
        self.extra: Final = extra
        self.notes: Final = notes

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretDetail:
        r = _Reader(data, "secret detail")
        return cls(
            secret_id=r.text("secretId"),
            secret_name=r.text("secretName"),
            status=r.enum(SecretStatus, "secretStatus"),
            secret_type=r.opt_text("secretType"),
            memo=r.opt_text("memo"),
            region=r.opt_text("region"),
            register_date=r.opt_int("registerDate"),
            update_date=r.opt_int("updateDate"),
            expected_destroy_date=r.opt_int("expectedDestroyDate"),
            auto_rotation=bool(r.flag("autoRotationYN")),
            auto_rotation_period=r.opt_int("autoRotationPeriod"),
            next_rotation_date=r.opt_int("nextRotationDate"),
            # Get Secret Detail documents rotationPhase on every detail; an answer without it is a
            # secret that never rotated, which that page calls NONE.
            rotation_phase=r.enum(RotationPhase, "rotationPhase", default=RotationPhase.NONE),
            last_rotation_date=r.opt_int("lastRotationDate"),
            trigger=r.nested("trigger", TriggerRef.from_api),
            protection_key=r.nested("protectionKey", ProtectionKey.from_api),
            last_rotation_result_id=r.opt_text("lastRotationResultId"),
            extra=r.unknown(_DETAIL_FIELDS),
            notes=r.done,
        )

    @property
    def rotating(self) -> bool:
        return self.rotation_phase is RotationPhase.ROTATING or self.status is SecretStatus.ROTATING


def _chain_member(raw: object, stage: Stage) -> SecretValue | None:
    # An absent stage comes back as null or as an empty string, depending on the page read.
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise SecretValueError(f"the {stage.path} secret value is not JSON text")
    return SecretValue.parse(raw, stage=stage.path)


class SecretChain(Record):
    """The decrypted chain plus the keys rotation may change (Start Job, Get Secret Value).

    A :class:`~rotation.ncp.records.Record`, not a tuple: it holds secret values, and the log
    redactor walks into tuples; its ``repr`` shows each value masked."""

    __slots__ = ("active", "pending", "previous", "rotation_targets")

    def __init__(
        self,
        previous: SecretValue | None,
        active: SecretValue | None,
        pending: SecretValue | None,
        rotation_targets: tuple[str, ...],
    ) -> None:
        self.previous: Final = previous
        self.active: Final = active
        self.pending: Final = pending
        self.rotation_targets: Final = rotation_targets

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SecretChain:
        chain = _mapping(data.get("decryptedSecretChain") or {}, "decryptedSecretChain")
        targets = data.get("rotationTargets") or []
        # Required: which keys may change is a safety decision, never guessed.
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


class StageValue(Record):
    """One stage's value (Get Secret Stage Value); a record, as :class:`SecretChain`."""

    __slots__ = ("stage", "value")

    def __init__(self, value: SecretValue, stage: Stage) -> None:
        self.value: Final = value
        self.stage: Final = stage

    @classmethod
    def from_api(cls, data: Mapping[str, Any], asked: Stage | None = None) -> StageValue:
        """``asked``: the stage the request named, used when ``valueStage`` is absent."""
        inner = _mapping(data.get("decryptedSecretValue"), "decryptedSecretValue")
        r = _Reader(inner, "stage value")
        stage = r.opt_enum(Stage, "valueStage") or asked
        if stage is None:
            raise ResponseFormatError("the answer lacks the field 'valueStage'")
        value = _chain_member(inner.get("value"), stage)
        if value is None:
            raise ResponseFormatError(f"the {stage.path} stage has no value")
        return cls(value=value, stage=stage)


class RandomSecretOptions(Record):
    """Generate Random Secret's body. Defaults are the *service's* documented defaults."""

    __slots__ = (
        "exclude_characters", "exclude_lowercase", "exclude_numbers", "exclude_punctuation",
        "exclude_uppercase", "include_space", "length", "require_each_included_type",
    )  # fmt: skip

    def __init__(
        self,
        *,
        length: int = 12,
        exclude_characters: str = "",
        exclude_numbers: bool = False,
        exclude_punctuation: bool = False,
        exclude_uppercase: bool = False,
        exclude_lowercase: bool = False,
        include_space: bool = True,
        require_each_included_type: bool = True,
    ) -> None:
        self.length: Final = length
        self.exclude_characters: Final = exclude_characters
        self.exclude_numbers: Final = exclude_numbers
        self.exclude_punctuation: Final = exclude_punctuation
        self.exclude_uppercase: Final = exclude_uppercase
        self.exclude_lowercase: Final = exclude_lowercase
        self.include_space: Final = include_space
        self.require_each_included_type: Final = require_each_included_type

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


__all__ = [
    "MAX_VALUE_BYTES",
    "MAX_VALUE_DEPTH",
    "MAX_VALUE_KEYS",
    "NOT_ROTATABLE",
    "OpenEnum",
    "ProtectionKey",
    "ProtectionKeyType",
    "RandomSecretOptions",
    "RotationPhase",
    "SecretChain",
    "SecretDetail",
    "SecretStatus",
    "SecretValue",
    "SecretValueError",
    "SecretValueUnsupported",
    "Stage",
    "StageValue",
    "TriggerRef",
    "encodable",
    "text_depth",
    "value_problem",
]
