"""Target kinds, by name, and how the workflow picks one.

The kind comes from the ``target`` action parameter's ``kind``, else from the secret
value's own ``engine`` key, else ``store-only``. Factories are imported on first use:
a store-only rotation should not pay the cold-start cost of database drivers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from rotation import codes
from rotation.ncp.models import SecretValue
from rotation.targets.base import (
    Change,
    Target,
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetFactory,
    TargetRollbackFailed,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)

#: kind -> "module:factory", imported lazily.
KINDS: dict[str, str] = {
    "store-only": "rotation.targets.store_only:build_store_only",
    "webhook": "rotation.targets.webhook:build_webhook",
    "postgresql": "rotation.targets.postgresql:build_postgresql",
    "mysql": "rotation.targets.mysql:build_mysql",
    "mariadb": "rotation.targets.mysql:build_mariadb",
    "redis": "rotation.targets.redis:build_redis",
    "ncp-clouddb-mysql": "rotation.targets.clouddb:build_clouddb_mysql",
    "ncp-clouddb-postgresql": "rotation.targets.clouddb:build_clouddb_postgresql",
    "ncp-api-key": "rotation.targets.ncp_api_key:build_ncp_api_key",
}

DEFAULT_KIND = "store-only"


class UnknownTargetKind(TargetConfigError):
    code = codes.UNKNOWN_TARGET_KIND


def target_kind(config: Mapping[str, Any], active: SecretValue) -> str:
    kind = config.get("kind")
    if kind is None:
        kind = active.get("engine", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in KINDS:
        raise UnknownTargetKind(
            f"unknown target kind {kind!r}: use one of {', '.join(sorted(KINDS))} "
            "(target.kind in the action parameters, or the secret value's engine key)"
        )
    return kind


def factory_for(kind: str) -> TargetFactory:
    module_name, _, attribute = KINDS[kind].partition(":")
    return cast(TargetFactory, getattr(importlib.import_module(module_name), attribute))


def build_target(
    config: Mapping[str, Any] | None, active: SecretValue, ctx: TargetContext
) -> Target:
    settings = dict(config or {})
    return factory_for(target_kind(settings, active))(settings, active, ctx)


__all__ = [
    "KINDS",
    "Change",
    "Target",
    "TargetConfigError",
    "TargetContext",
    "TargetError",
    "TargetRollbackFailed",
    "TargetSetFailed",
    "TargetTestFailed",
    "TargetUnreachable",
    "UnknownTargetKind",
    "build_target",
    "target_kind",
]
