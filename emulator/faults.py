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

A *random* fault (:meth:`FaultPlan.add_random`) is never used up: it hits each matching
request with a probability, drawn from a seeded generator ("429 with ``Retry-After`` to
20 % of calls, 503 to 1 %"). One draw per request decides among all of them, so their
probabilities add up (at most 1). The seed makes the sequence of draws repeatable; which
request gets which draw still depends on the order concurrent requests arrive in.
"""

from __future__ import annotations

import random
import threading
from collections import deque
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


#: How many injected faults :attr:`FaultPlan.injected` remembers.
MAX_INJECTED_RECORDS = 10_000


@dataclass(frozen=True)
class RandomFault:
    """A fault that hits each request of ``operation`` (or ``*``) with ``probability``."""

    operation: str
    probability: float
    fault: Fault


class FaultPlan:
    """The faults waiting to happen, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        #: The newest injected faults (bounded: a random fault may hit millions of requests).
        self.injected: deque[tuple[str, Fault]] = deque(maxlen=MAX_INJECTED_RECORDS)
        self._random: list[RandomFault] = []
        self._rng = random.Random()  # noqa: S311 - fault injection, not cryptography

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
        return self._draw(operation)

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

    def add_random(
        self,
        operation: str,
        probability: float,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        drop: bool = False,
        seed: int | None = None,
    ) -> RandomFault:
        """Hit each matching request with ``probability``, for as long as the plan lives.

        ``seed`` reseeds the plan's generator (every random fault shares it). The
        probabilities of all random faults add up to at most 1: each request draws once.
        """
        if not 0 < probability <= 1:
            raise ValueError("probability must be in (0, 1]")
        fault = Fault(operation, status=status, delay=delay, drop=drop, retry_after=retry_after)
        chosen = RandomFault(operation, probability, fault)
        with self._lock:
            if sum(r.probability for r in self._random) + probability > 1 + 1e-9:
                raise ValueError("the random faults' probabilities add up to more than 1")
            if seed is not None:
                self._rng.seed(seed)
            self._random.append(chosen)
        return chosen

    def clear_random(self) -> None:
        """Stop every random fault (:meth:`clear` forgets the counted ones)."""
        with self._lock:
            self._random.clear()

    def _draw(self, operation: str) -> Fault | None:
        with self._lock:
            if not self._random:
                return None
            draw = self._rng.random()
            for chosen in self._random:
                if draw < chosen.probability:
                    if chosen.operation not in (operation, "*"):
                        return None  # this draw belongs to a fault of another operation
                    self.injected.append((operation, chosen.fault))
                    return chosen.fault
                draw -= chosen.probability
        return None
