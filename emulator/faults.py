"""Fault injection per route, so tests can make the wire misbehave on purpose.

A fault applies to the next ``times`` requests of one operation (its name is the client's
method name, e.g. ``start_rotation_job``, or ``*`` for every operation) and does one of:

* ``status``: answer that HTTP status with the gateway's error envelope, change nothing;
* ``delay``: wait that many seconds, then serve normally (a slow gateway);
* ``drop``: close the connection without an answer, change nothing;
* ``lose_response``: apply the change, then close the connection without an answer:
  the nasty case where the client cannot know whether its call took effect.

Faults are taken in the order added; a fault is used up after ``times`` requests.
``after=N`` lets the first N matching requests through untouched before the fault
applies ("the preflight read works, the read after complete does not").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Fault:
    operation: str
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    lose_response: bool = False
    times: int = 1
    retry_after: float | None = None
    after: int = 0

    def __post_init__(self) -> None:
        actions = [self.status is not None, self.drop, self.lose_response]
        if sum(actions) > 1:
            raise ValueError("a fault answers a status, drops, or loses the response: pick one")
        if self.times < 1 or self.after < 0:
            raise ValueError("times must be at least 1 and after at least 0")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status")


class FaultPlan:
    """The faults waiting to happen, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.injected: list[tuple[str, Fault]] = []

    def add(
        self,
        operation: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        lose_response: bool = False,
        times: int = 1,
        retry_after: float | None = None,
        after: int = 0,
    ) -> Fault:
        fault = Fault(operation, status, delay, drop, lose_response, times, retry_after, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation in (operation, "*"):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    self.injected.append((operation, fault))
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)
