"""A time budget shared by every call of one invocation.

Cloud Functions kills an action at its timeout and tells it when through ``__OW_DEADLINE``
(epoch milliseconds). A rotation that is killed mid-way cannot report, so every wait
(HTTP timeouts, retry backoffs, polling a database) is capped by what is left, and the
workflow keeps a reserve to roll back and call ``fail`` before the runtime's axe falls.

Remaining time is measured on the monotonic clock, so a wall-clock step during the run
cannot stretch or shrink the budget.
"""

from __future__ import annotations

import math
import time


class Deadline:
    """A point in time after which work should stop. ``Deadline.never()`` has no limit."""

    __slots__ = ("_at",)

    def __init__(self, at_monotonic: float) -> None:
        self._at = at_monotonic

    @classmethod
    def never(cls) -> Deadline:
        return cls(math.inf)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def at_epoch_ms(cls, epoch_ms: float) -> Deadline:
        """Convert the runtime's wall-clock deadline to a monotonic one, once."""
        return cls.after(epoch_ms / 1000.0 - time.time())

    def remaining(self) -> float:
        """Seconds left; ``math.inf`` for no deadline, never negative."""
        return max(0.0, self._at - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, seconds: float) -> float:
        """``seconds``, or what is left if that is less."""
        return min(seconds, self.remaining())

    def earlier(self, other: Deadline) -> Deadline:
        return self if self._at <= other._at else other

    def minus(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` sooner: the budget left after keeping a reserve."""
        return Deadline(self._at - seconds)

    def __repr__(self) -> str:
        left = self.remaining()
        return "Deadline(never)" if math.isinf(left) else f"Deadline(remaining={left:.3f}s)"
