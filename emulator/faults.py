"""Fault injection per route, so tests can make the wire misbehave on purpose.

A fault applies to the next ``times`` requests of one operation (its name is the client's
method name, e.g. ``start_rotation_job``, or ``*`` for every operation) and does one of:

* ``status``: answer that HTTP status with the gateway's error envelope, change nothing;
* ``delay``: wait that many seconds, then serve normally (a slow gateway);
* ``drop``: close the connection without an answer, change nothing;
* ``lose_response``: apply the change, then close the connection without an answer:
  the nasty case where the client cannot know whether its call took effect;
* ``hold``: stop the request before the service until :meth:`Fault.release` (or
  ``hold_timeout``), then go on with the rest of the fault. The test sees the request
  arrive (:meth:`Fault.wait_reached`) and can act meanwhile: kill the caller, run another
  invocation, change a value underneath. With ``drop`` the held request never takes effect.

Faults are taken in the order added; a fault is used up after ``times`` requests.
``after=N`` lets the first N matching requests through untouched before the fault
applies ("the preflight read works, the read after complete does not").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


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
    hold: bool = False
    hold_timeout: float = 60.0
    reached: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    released: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def __post_init__(self) -> None:
        actions = [self.status is not None, self.drop, self.lose_response]
        if sum(actions) > 1:
            raise ValueError("a fault answers a status, drops, or loses the response: pick one")
        if self.times < 1 or self.after < 0:
            raise ValueError("times must be at least 1 and after at least 0")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status")

    def wait_reached(self, timeout: float) -> bool:
        """Block until a request is held by this fault; False if none came in time."""
        return self.reached.wait(timeout)

    def release(self) -> None:
        """Let held requests (and later ones) go on."""
        self.released.set()

    def hold_here(self) -> None:
        """Called by the server for a held request: say so, then wait to be released."""
        self.reached.set()
        self.released.wait(self.hold_timeout)


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
        hold: bool = False,
        hold_timeout: float = 60.0,
    ) -> Fault:
        fault = Fault(
            operation, status, delay, drop, lose_response, times, retry_after, after,
            hold=hold, hold_timeout=hold_timeout,
        )  # fmt: skip
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
        """Forget the waiting faults and release every held request."""
        with self._lock:
            held = [fault for _, fault in self.injected if fault.hold] + self._faults
            self._faults.clear()
        for fault in held:
            fault.release()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)
