"""New values for a secret's rotation-target keys.

Why ``secrets`` and nothing else: a rotated credential is only as strong as the generator
behind it. ``secrets.choice`` draws from the operating system's CSPRNG; ``random`` is a
Mersenne Twister whose future output can be reconstructed from past output, so it never
appears here.

Why the knobs look the way they do: they mirror AWS GetRandomPassword and NCP Secret
Manager's Generate Random Secret (``excludeCharacters``, ``excludeNumbers``, ...,
``requireEachIncludedType``), so a policy written for one generator means the same thing
for the others (:class:`Generator`): values made here and values made by the service are
interchangeable.

Why these default exclusions: generated passwords end up inside connection strings and
command lines. ``/ @ : ;`` split URLs and DSNs (``postgres://user:pass@host/db``,
``key=value;`` strings); ``" ' \\`` and the backtick break shell and SQL quoting; ``&`` and
``+`` change meaning in query strings and shells (``+`` decodes to a space); ``%`` starts a
URL escape and a placeholder in some drivers' format strings. The space is left out by
``include_space=False``. What remains (letters, digits and ``! # $ ( ) * , - . < = > ? [ ]
^ _ { | } ~``) still gives about 6.4 bits per character.

Why rejection sampling for ``require_each_included_type``: drawing whole candidates
uniformly and discarding those that miss a class (the recipe in the ``secrets`` docs) is
uniform over exactly the valid strings. Patching a missing class in afterwards, or
reserving positions for it, makes some strings likelier than others.

A generated value never goes into an exception message or a ``repr``: errors here describe
the *policy* (keys and configuration values), which is not secret.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from rotation import codes
from rotation.codes import CodedError
from rotation.ncp.models import RandomSecretOptions
from rotation.ncp.records import Record


class PolicyError(CodedError, ValueError):
    """Bad policy configuration.

    The message says exactly which key or value is wrong and what is allowed.
    """

    code = codes.INVALID_POLICY


class ValueKind(StrEnum):
    PASSWORD = "password"  # characters from the included classes
    HEX = "hex"  # exactly `length` lowercase hex chars (0-9a-f)
    BASE64URL = "base64url"  # exactly `length` chars of A-Z a-z 0-9 - _


class Generator(StrEnum):
    LOCAL = "local"  # generate here with `secrets`
    SERVICE = "service"  # let Secret Manager generate (POST .../pending)
    SERVICE_RANDOM = "service-random"  # generate-random-secret per key + PUT .../pending


DEFAULT_LENGTH = 32
DEFAULT_EXCLUDE = "/@\"'\\:;`&+%"
UPPERCASE, LOWERCASE, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
PUNCTUATION = string.punctuation
SPACE = " "
HEX_ALPHABET = "0123456789abcdef"
BASE64URL_ALPHABET = UPPERCASE + LOWERCASE + DIGITS + "-_"
MAX_LENGTH = 4096
SERVICE_RANDOM_LENGTH = (5, 32)  # NCP generate-random-secret bounds


class _Knob(Record):
    """One policy setting: its attribute, the camelCase key NCP uses, and its type."""

    __slots__ = ("attr", "key", "type")

    def __init__(self, attr: str, key: str, type: type) -> None:
        self.attr: Final = attr
        self.key: Final = key
        self.type: Final = type


_KNOBS = (
    _Knob("kind", "kind", str),
    _Knob("length", "length", int),
    _Knob("exclude_characters", "excludeCharacters", str),
    _Knob("exclude_numbers", "excludeNumbers", bool),
    _Knob("exclude_punctuation", "excludePunctuation", bool),
    _Knob("exclude_uppercase", "excludeUppercase", bool),
    _Knob("exclude_lowercase", "excludeLowercase", bool),
    _Knob("include_space", "includeSpace", bool),
    _Knob("require_each_included_type", "requireEachIncludedType", bool),
)
_BY_KEY = {k.key: k for k in _KNOBS}
_BY_ATTR = {k.attr: k for k in _KNOBS}

#: The knobs that only mean something for PASSWORD values, with their defaults.
_CLASS_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "exclude_characters": DEFAULT_EXCLUDE,
        "exclude_numbers": False,
        "exclude_punctuation": False,
        "exclude_uppercase": False,
        "exclude_lowercase": False,
        "include_space": False,
        "require_each_included_type": True,
    }
)

#: Character classes: (name in messages, characters, attribute that includes/excludes it).
_CLASS_TABLE = (
    ("uppercase", UPPERCASE, "exclude_uppercase"),
    ("lowercase", LOWERCASE, "exclude_lowercase"),
    ("numbers", DIGITS, "exclude_numbers"),
    ("punctuation", PUNCTUATION, "exclude_punctuation"),
    ("space", SPACE, "include_space"),
)


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(repr(str(v)) for v in values)


def _parse_knob(knob: _Knob, raw: object) -> Any:
    """Check one camelCase value's JSON type; bools are not ints and strings are not bools."""
    if knob.type is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise PolicyError(f"{knob.key} must be an integer, got {type(raw).__name__}")
        return raw
    if not isinstance(raw, knob.type):
        expected = "true or false" if knob.type is bool else "a string"
        raise PolicyError(f"{knob.key} must be {expected}, got {type(raw).__name__}")
    if knob.attr == "kind":
        return _kind(raw)
    return raw


def _kind(raw: object) -> ValueKind:
    if not isinstance(raw, str):
        raise PolicyError(f"kind must be a string, got {type(raw).__name__}")
    try:
        return ValueKind(raw)
    except ValueError:
        raise PolicyError(
            f"kind {raw!r} is not supported; allowed: {_allowed(ValueKind)}"
        ) from None


class Policy(Record):
    """How to generate one key's value. Invalid combinations fail at construction."""

    __slots__ = (
        "exclude_characters", "exclude_lowercase", "exclude_numbers", "exclude_punctuation",
        "exclude_uppercase", "include_space", "kind", "length", "require_each_included_type",
    )  # fmt: skip

    def __init__(
        self,
        *,
        kind: ValueKind = ValueKind.PASSWORD,
        length: int = DEFAULT_LENGTH,
        exclude_characters: str = DEFAULT_EXCLUDE,
        exclude_numbers: bool = False,
        exclude_punctuation: bool = False,
        exclude_uppercase: bool = False,
        exclude_lowercase: bool = False,
        include_space: bool = False,
        require_each_included_type: bool = True,
    ) -> None:
        # A plain "hex" passed in code: accept it as the enum it spells.
        self.kind: Final = kind if isinstance(kind, ValueKind) else _kind(kind)
        self.length: Final = length
        self.exclude_characters: Final = exclude_characters
        self.exclude_numbers: Final = exclude_numbers
        self.exclude_punctuation: Final = exclude_punctuation
        self.exclude_uppercase: Final = exclude_uppercase
        self.exclude_lowercase: Final = exclude_lowercase
        self.include_space: Final = include_space
        self.require_each_included_type: Final = require_each_included_type
        self._check()

    def settings(self) -> dict[str, Any]:
        """Every setting by attribute name, in the constructor's order."""
        return {knob.attr: getattr(self, knob.attr) for knob in _KNOBS}

    def _check(self) -> None:
        for attr in _CLASS_DEFAULTS:
            _parse_knob(_BY_ATTR[attr], getattr(self, attr))
        length: object = self.length
        if isinstance(length, bool) or not isinstance(length, int):
            raise PolicyError(f"length must be an integer, got {type(length).__name__}")
        if not 1 <= length <= MAX_LENGTH:
            raise PolicyError(f"length must be from 1 to {MAX_LENGTH}, got {length}")
        if self.kind is ValueKind.PASSWORD:
            self._check_classes()
        else:
            self._check_only_length()

    def _check_only_length(self) -> None:
        changed = [
            _BY_ATTR[attr].key
            for attr, default in _CLASS_DEFAULTS.items()
            if getattr(self, attr) != default
        ]
        if changed:
            raise PolicyError(
                f"only length applies to {self.kind} values; remove {', '.join(changed)}"
            )

    def _included(self) -> list[tuple[str, str, str]]:
        """(class name, characters left after exclude_characters, attribute) per included class."""
        drop = set(self.exclude_characters)
        included = []
        for name, chars, attr in _CLASS_TABLE:
            on = getattr(self, attr) if attr == "include_space" else not getattr(self, attr)
            if on:
                included.append((name, "".join(c for c in chars if c not in drop), attr))
        return included

    def _check_classes(self) -> None:
        included = self._included()
        if not any(chars for _, chars, _ in included):
            raise PolicyError(
                "no characters left to generate from: excludeNumbers, excludePunctuation, "
                "excludeUppercase, excludeLowercase and excludeCharacters remove every class "
                "(includeSpace is off or space is excluded); keep at least one class"
            )
        if not self.require_each_included_type:
            return
        for name, chars, attr in included:
            if not chars:
                hint = (
                    "set includeSpace to false"
                    if attr == "include_space"
                    else f"set {_BY_ATTR[attr].key} to true"
                )
                raise PolicyError(
                    f"excludeCharacters removes the {name} class entirely, but "
                    f"requireEachIncludedType needs one of its characters; keep one, {hint}, "
                    "or set requireEachIncludedType to false"
                )
        if self.length < len(included):
            names = ", ".join(name for name, _, _ in included)
            raise PolicyError(
                f"length {self.length} is shorter than the {len(included)} included character "
                f"classes ({names}) that requireEachIncludedType needs; use length >= "
                f"{len(included)}"
            )

    def classes(self) -> tuple[str, ...]:
        """Each included class's characters after exclusions (PASSWORD only; empty ones dropped)."""
        if self.kind is not ValueKind.PASSWORD:
            return ()
        return tuple(chars for _, chars, _ in self._included() if chars)

    def alphabet(self) -> str:
        """Every character a value may contain."""
        if self.kind is ValueKind.HEX:
            return HEX_ALPHABET
        if self.kind is ValueKind.BASE64URL:
            return BASE64URL_ALPHABET
        return "".join(self.classes())

    def with_overrides(self, data: Mapping[str, Any]) -> Policy:
        """This policy with the camelCase settings in ``data`` applied (NCP's spelling)."""
        if not isinstance(data, Mapping):
            raise PolicyError(f"a policy must be a JSON object, got {type(data).__name__}")
        unknown = [k for k in data if k not in _BY_KEY]
        if unknown:
            raise PolicyError(
                f"unknown policy key {_allowed(str(k) for k in unknown)}; "
                f"allowed keys: {_allowed(_BY_KEY)}"
            )
        changes = {_BY_KEY[k].attr: _parse_knob(_BY_KEY[k], v) for k, v in data.items()}
        if changes.get("kind", self.kind) is not ValueKind.PASSWORD:
            # Class knobs inherited from a password policy do not carry over to hex/base64url.
            changes = {**_CLASS_DEFAULTS, **changes}
        return Policy(**{**self.settings(), **changes})

    def to_random_secret_options(self) -> RandomSecretOptions:
        """The Generate Random Secret body that asks the service for this policy."""
        low, high = SERVICE_RANDOM_LENGTH
        if self.kind is not ValueKind.PASSWORD:
            raise PolicyError(
                f"generator {Generator.SERVICE_RANDOM.value!r} makes only kind 'password' "
                f"values, not {self.kind.value!r}; use generator 'local'"
            )
        if not low <= self.length <= high:
            raise PolicyError(
                f"length {self.length} is outside {low}..{high}, the range generator "
                f"{Generator.SERVICE_RANDOM.value!r} allows; use generator 'local'"
            )
        return RandomSecretOptions(
            length=self.length,
            exclude_characters=self.exclude_characters,
            exclude_numbers=self.exclude_numbers,
            exclude_punctuation=self.exclude_punctuation,
            exclude_uppercase=self.exclude_uppercase,
            exclude_lowercase=self.exclude_lowercase,
            include_space=self.include_space,
            require_each_included_type=self.require_each_included_type,
        )


_SET_KEYS = ("generator", "keys")


class PolicySet(Record):
    """The policy for every rotation-target key, and who generates the values."""

    __slots__ = ("default", "generator", "keys")

    def __init__(
        self,
        default: Policy | None = None,
        keys: Mapping[str, Policy] | None = None,
        generator: Generator = Generator.LOCAL,
    ) -> None:
        self.default: Final = Policy() if default is None else default
        self.keys: Final[Mapping[str, Policy]] = MappingProxyType(dict(keys or {}))
        self.generator: Final = (
            generator if isinstance(generator, Generator) else _generator(generator)
        )
        if self.generator is Generator.SERVICE and self.keys:
            raise PolicyError(
                "generator 'service' lets Secret Manager generate every target value; remove keys"
            )
        if self.generator is Generator.SERVICE_RANDOM:
            self.default.to_random_secret_options()
            for name, policy in self.keys.items():
                try:
                    policy.to_random_secret_options()
                except PolicyError as exc:
                    raise PolicyError(f"keys[{name!r}]: {exc}") from None

    def for_key(self, key: str) -> Policy:
        return self.keys.get(key, self.default)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any] | None, *, base: Policy | None = None
    ) -> PolicySet:
        """Read the handler's ``policy`` parameter; top-level knobs override ``base``."""
        base = base if base is not None else Policy()
        if data is None:
            return cls(default=base)
        if not isinstance(data, Mapping):
            raise PolicyError(f"policy must be a JSON object, got {type(data).__name__}")
        unknown = [k for k in data if k not in _BY_KEY and k not in _SET_KEYS]
        if unknown:
            raise PolicyError(
                f"unknown policy key {_allowed(str(k) for k in unknown)}; "
                f"allowed keys: {_allowed([*_SET_KEYS, *_BY_KEY])}"
            )
        generator = _generator(data.get("generator", Generator.LOCAL.value))
        knobs = {k: v for k, v in data.items() if k in _BY_KEY}
        if generator is Generator.SERVICE and (knobs or "keys" in data):
            extra = _allowed([*knobs, *(["keys"] if "keys" in data else [])])
            raise PolicyError(
                f"generator 'service' lets Secret Manager generate every target value, so "
                f"no other policy key applies; remove {extra}"
            )
        default = base.with_overrides(knobs)
        keys = {
            name: _key_policy(default, name, entry)
            for name, entry in _key_entries(data.get("keys", {})).items()
        }
        return cls(default=default, keys=keys, generator=generator)


def _generator(raw: object) -> Generator:
    if not isinstance(raw, str):
        raise PolicyError(f"generator must be a string, got {type(raw).__name__}")
    try:
        return Generator(raw)
    except ValueError:
        raise PolicyError(
            f"generator {raw!r} is not supported; allowed: {_allowed(Generator)}"
        ) from None


def _key_entries(raw: object) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(raw, Mapping):
        raise PolicyError(
            f"keys must be a JSON object of key name -> policy, got {type(raw).__name__}"
        )
    for name, entry in raw.items():
        if not isinstance(name, str):
            raise PolicyError(f"keys: key names must be strings, got {type(name).__name__}")
        if not isinstance(entry, Mapping):
            raise PolicyError(
                f"keys[{name!r}] must be a JSON object of policy keys, got {type(entry).__name__}"
            )
    return raw


def _key_policy(default: Policy, name: str, entry: Mapping[str, Any]) -> Policy:
    try:
        return default.with_overrides(entry)
    except PolicyError as exc:
        raise PolicyError(f"keys[{name!r}]: {exc}") from None


def generate(policy: Policy) -> str:
    """One value for ``policy``, uniform over every string the policy allows."""
    alphabet = policy.alphabet()
    required = (
        [frozenset(chars) for chars in policy.classes()]
        if policy.require_each_included_type
        else []
    )
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(policy.length))
        if all(not chars.isdisjoint(value) for chars in required):
            return value


def generate_values(keys: Iterable[str], policies: PolicySet) -> dict[str, str]:
    """A fresh value for each key, each by its own policy (locally, whatever ``generator`` says)."""
    if isinstance(keys, str):
        raise TypeError("keys must be a collection of key names, not one string")
    return {key: generate(policies.for_key(key)) for key in keys}
