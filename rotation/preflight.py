"""One validation before any write: the rules a rotation's inputs must pass before Update
Pending Stage, shared by the rotation (``workflow.preflight``), ``python -m rotation
check`` with the action's ``dryRun`` (``check``) and deploy (``deploy/validate.py``).

Two copies of these rules had drifted: an empty rotation-target value failed the check and
passed the rotation; an empty admin secret was TARGET_ERROR in one and LINKED_SECRET_EMPTY
in the other. Each rule now lives here once, raises one code per cause
(:mod:`rotation.codes`) with a message that names the key or setting, and never quotes a
value:

    value     the active value is a JSON object holding every rotation target as a
              non-empty string; it (and a pending value an earlier run left) is plain
              text, at most 32 levels deep, at most 10,000 bytes    VALUE_* / ROTATION_*
    linked    the admin secret a target names has an active value, of the same kind
                                                      LINKED_SECRET_EMPTY, VALUE_UNSUPPORTED
    target    the keys the target derives (alternating users) are rotation targets
                                                                        INVALID_TARGET
    policy    it parses; its keys are rotation targets; the target accepts what it
              generates; the new value fits Secret Manager's 10,000 bytes   INVALID_POLICY

The target's own settings (hosts, ports, files, numbers, enums) are checked when it is
built (:func:`rotation.targets.build_target`), which every caller does between ``value``
and ``target``. Nothing here writes; only the linked read calls an API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rotation import codes
from rotation.failures import RotationFailure, api_failure
from rotation.generate import Generator, PolicySet, generate_values
from rotation.ncp.errors import NcpError, NotFound
from rotation.ncp.models import (
    MAX_VALUE_BYTES,
    SecretChain,
    SecretValue,
    SecretValueError,
    SecretValueUnsupported,
    value_problem,
)
from rotation.targets.base import Target

#: Generated samples per key when checking that the target accepts the policy's values.
SAMPLES = 10
#: What Secret Manager generates itself (``generator: service``), per key, at most: its
#: documented example is 12 characters (emulator A7); the bound leaves room.
SERVICE_VALUE_CHARS = 32


def unreadable_value(exc: SecretValueError, whose: str = "") -> RotationFailure:
    """A value Secret Manager answered that the value model refused to read."""
    prefix = f"{whose}: " if whose else ""
    if isinstance(exc, SecretValueUnsupported):
        return RotationFailure(
            codes.VALUE_UNSUPPORTED,
            f"{prefix}{exc}; store a flat JSON object (python -m rotation secret update)",
        )
    return RotationFailure(
        codes.VALUE_NOT_JSON_OBJECT,
        f"{prefix}{exc}; a rotatable secret value is a JSON object of key/value pairs",
    )


def supported(value: SecretValue, what: str) -> None:
    """``value`` can travel: plain text (no lone surrogate), bounded depth and size."""
    problem = value_problem(value)
    if problem is None:
        size = len(value.to_json().encode("utf-8"))
        if size > MAX_VALUE_BYTES:
            problem = f"is {size:,} bytes, over Secret Manager's {MAX_VALUE_BYTES:,}-byte limit"
    if problem is not None:
        raise RotationFailure(codes.VALUE_UNSUPPORTED, f"the {what} value: {problem}")


def active_value(chain: SecretChain) -> SecretValue:
    """The active value, if it can be rotated: a JSON object holding every rotation target
    as a non-empty string, of plain text. A pending value an earlier run left may be
    reused and sent to the target, so it must be of plain text too."""
    if chain.active is None:
        raise RotationFailure(codes.VALUE_MISSING, "the secret has no active value")
    if not chain.rotation_targets:
        raise RotationFailure(codes.NO_ROTATION_TARGETS, "the secret names no rotation targets")
    for key in chain.rotation_targets:
        if key not in chain.active:
            raise RotationFailure(
                codes.ROTATION_TARGET_MISSING,
                f"rotation target {key!r} is not a key of the secret value; add it to the "
                "value or remove it from rotationTargets",
            )
        item = chain.active[key]
        if not isinstance(item, str) or not item:
            raise RotationFailure(
                codes.ROTATION_TARGET_NOT_TEXT,
                f"rotation target {key!r} must hold a non-empty string",
            )
    supported(chain.active, "active")
    if chain.pending is not None:
        supported(chain.pending, "pending (an earlier run's)")
    return chain.active


def linked_value(
    read: Callable[[], SecretChain],
    *,
    register: Callable[[SecretChain], None],
    setting: str = "adminSecretId",
) -> SecretValue:
    """The active value of the secret a target links to (its admin's), read once: it
    exists, can be read, and has an active value of plain text."""
    whose = f"the secret {setting} names"
    try:
        chain = read()
    except SecretValueError as exc:
        raise unreadable_value(exc, whose) from None
    except NotFound:
        raise RotationFailure(
            codes.INVALID_TARGET, f"{setting} names a secret Secret Manager does not know"
        ) from None
    except NcpError as exc:
        raise api_failure(exc, f"read {whose}") from None
    register(chain)
    if chain.active is None or not chain.active:
        raise RotationFailure(codes.LINKED_SECRET_EMPTY, f"{whose} has no active value")
    supported(chain.active, f"{setting} secret's active")
    return chain.active


def derived_keys(target: Target, active: SecretValue, keys: tuple[str, ...]) -> set[str]:
    """The keys the target derives (alternating users: ``username``), which must be
    rotation targets: the new value changes them."""
    derived = set(target.derive(active))
    extra = sorted(derived - set(keys))
    if extra:
        raise RotationFailure(
            codes.INVALID_TARGET,
            f"the {target.kind} target also changes {', '.join(extra)}: add it to the "
            "secret's rotationTargets",
        )
    return derived


def policies_for(policy: Mapping[str, Any] | None, target: Target, chain: SecretChain) -> PolicySet:
    """The value policy on the target's default, every rule checked: its keys are rotation
    targets, the target accepts what it generates, the new value fits the size limit."""
    assert chain.active is not None
    keys = chain.rotation_targets
    derived = derived_keys(target, chain.active, keys)
    policies = PolicySet.from_mapping(policy, base=target.default_policy)
    stray = sorted(set(policies.keys) - set(keys))
    if stray:
        raise RotationFailure(
            codes.INVALID_POLICY,
            f"policy keys {', '.join(stray)} are not rotation targets of the secret "
            f"({', '.join(keys)})",
        )
    policy_fits(target, keys, derived, policies)
    new_value_fits(chain.active, target, keys, policies)
    return policies


def policy_fits(
    target: Target, keys: tuple[str, ...], derived: set[str], policies: PolicySet
) -> None:
    """A policy the target can never accept is bad input: found before the target is
    touched. Samples are drawn and thrown away; only local generation can be sampled."""
    if policies.generator is not Generator.LOCAL:
        return
    for key in keys:
        if key in derived:
            continue
        samples = (generate_values([key], policies)[key] for _ in range(SAMPLES))
        if not any(target.accepts(key, sample) for sample in samples):
            raise RotationFailure(
                codes.INVALID_POLICY,
                f"values this policy generates for {key!r} are refused by the "
                f"{target.kind} target (its password rules)",
            )


def _char_bytes(char: str) -> int:
    """Bytes one character takes in the value's JSON text (``"`` and ``\\`` are escaped)."""
    encoded = SecretValue({"c": char}).to_json()
    return len(encoded.encode("utf-8")) - len('{"c":""}')


def new_value_fits(
    active: SecretValue, target: Target, keys: tuple[str, ...], policies: PolicySet
) -> None:
    """The largest value this policy can make must fit Secret Manager's 10,000 bytes,
    or some rotation would fail at Update Pending Stage (a value near the limit, a long
    policy). Derived keys count at their exact new value; random ones at their longest."""
    derived = dict(target.derive(active))
    size = len(active.to_json().encode("utf-8"))
    for key in keys:
        old = len(SecretValue({"k": active[key]}).to_json().encode("utf-8"))
        if key in derived:
            new = len(SecretValue({"k": derived[key]}).to_json().encode("utf-8"))
        else:
            new = len('{"k":""}') + _longest(key, policies)
        size += new - old
    if size > MAX_VALUE_BYTES:
        raise RotationFailure(
            codes.INVALID_POLICY,
            f"the new value could be {size:,} bytes, over Secret Manager's "
            f"{MAX_VALUE_BYTES:,}-byte limit: shorten the policy's length or the value",
        )


def _longest(key: str, policies: PolicySet) -> int:
    """The most bytes a generated value for ``key`` can take in the JSON text."""
    if policies.generator is Generator.SERVICE:
        return SERVICE_VALUE_CHARS * 2
    policy = policies.for_key(key)
    widest = max((_char_bytes(c) for c in set(policy.alphabet())), default=1)
    return policy.length * widest


__all__ = [
    "SAMPLES",
    "active_value",
    "derived_keys",
    "linked_value",
    "new_value_fits",
    "policies_for",
    "policy_fits",
    "supported",
    "unreadable_value",
]
