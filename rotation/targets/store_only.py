"""``store-only``: the new value lives only in Secret Manager.

For keys that applications read from Secret Manager itself (an encryption key, a token
the app fetches at start): there is no external system to change, so nothing is set or
rolled back. The test is still real: the pending value read back from Secret Manager must
be the one this rotation generated, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rotation.ncp.models import SecretValue, Stage
from rotation.targets.base import (
    Change,
    Target,
    TargetConfigError,
    TargetContext,
    TargetTestFailed,
)


class StoreOnlyTarget(Target):
    kind = "store-only"
    external = False

    def __init__(self, ctx: TargetContext) -> None:
        self.ctx = ctx

    def probe(self, change: Change, stage: Stage) -> bool:
        """Nothing outside Secret Manager accepts or refuses a store-only value."""
        return True

    def set(self, change: Change) -> None:
        """Nothing to change outside Secret Manager."""

    def test(self, change: Change) -> None:
        if self.ctx.read_pending is None:
            raise TargetTestFailed("store-only test needs to read the pending value back")
        stored = self.ctx.read_pending()
        if stored is None or stored != change.pending:
            raise TargetTestFailed(
                "the pending value stored in Secret Manager is not the one this rotation set"
            )

    def rollback(self, change: Change) -> None:
        """Nothing was changed outside Secret Manager."""

    def finish(self, change: Change) -> None:
        """Nothing to retire."""

    def close(self) -> None:
        """No connections."""


def build_store_only(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> StoreOnlyTarget:
    unknown = sorted(set(config) - {"kind"})
    if unknown:
        raise TargetConfigError(f"store-only takes no settings; remove {', '.join(unknown)}")
    return StoreOnlyTarget(ctx)
