"""Simulated time: every wait of a schedule costs nothing and every run sees the same clock.

The rotation measures its deadline on ``time.monotonic``, signs requests with
``time.time``, and waits with ``time.sleep`` (transport backoff and ``Retry-After``
through stamina and tenacity, the workflow's confirmation pauses). All of them look the
function up on the ``time`` module at each call, so replacing those three attributes for
the length of a run is enough: a 30 s ``Retry-After`` or a 60 s deadline passes in no
real time, and a schedule replays identically. ``threading`` keeps the real clock (it
imported its own ``monotonic``), which the baton between invocations relies on.

Only one schedule runs at a time in a process, and nothing else runs meanwhile (the
explorer's threads take turns), so the patch is safe for the length of :func:`frozen`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import SupportsIndex

#: Where simulated wall-clock time starts (2025-07-21 02:39 UTC, seed 002's example date).
EPOCH = 1_753_065_540.0


class SimClock:
    """Seconds since the run began; ``advance`` is the only way time moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return 1_000.0 + self.now

    def time(self) -> float:
        return EPOCH + self.now

    def sleep(self, seconds: float | SupportsIndex) -> None:
        wait = float(seconds)
        if wait > 0:
            self.now += wait

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


@contextmanager
def frozen(clock: SimClock) -> Iterator[SimClock]:
    """``time.time``/``monotonic``/``sleep`` follow ``clock`` until the block ends."""
    saved = (time.time, time.monotonic, time.sleep)
    time.time, time.monotonic, time.sleep = clock.time, clock.monotonic, clock.sleep
    try:
        yield clock
    finally:
        time.time, time.monotonic, time.sleep = saved
