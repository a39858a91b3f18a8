"""Invocations that take turns: concurrency without nondeterminism.

Each invocation (``handler.main`` with one job token) runs in its own thread, but only
the holder of the baton runs; the others wait on their own event. The baton moves only
at the explorer's yield points (a Secret Manager request arriving or answered, a
database statement), where the schedule says so, so a schedule interleaves two
invocations of one job exactly the same way every time it is replayed: a request held
while the other invocation works, an answer that comes back after it, a statement that
lands in the middle of the other's rotation.

:class:`Killed` ends an invocation where it stands (the runtime's kill at the deadline,
a container lost): it derives from ``BaseException`` so that no ``except Exception`` of
the rotation can catch it, and every later request or statement from the dead
invocation raises it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Real seconds a turn may take before the explorer calls the run stuck (a harness bug).
TURN_TIMEOUT = 60.0


class Killed(BaseException):
    """The invocation is dead: nothing after this point of it runs."""


class Stuck(Exception):
    """An invocation never handed the baton back (a bug of the explorer, not a finding)."""


@dataclass
class Actor:
    """One invocation: its label (A, B, R1, ...), its thread and what it returned."""

    label: str
    body: Callable[[], Any]
    phase: str
    result: Any = None
    error: BaseException | None = None
    killed: bool = False
    done: bool = False
    #: A step of another invocation, or a request landing late, changed the state this
    #: invocation reasons about since it began (see ``invariant``).
    interfered: bool = False
    turn: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)
    #: Log lines the invocation wrote, and everything else kept per invocation.
    lines: list[str] = field(default_factory=list, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


class Baton:
    """Runs actors one at a time; ``switch`` hands over at a yield point."""

    def __init__(self, on_turn: Callable[[Actor], None] | None = None) -> None:
        self.current: Actor | None = None
        self.waiting: list[Actor] = []  # suspended actors, oldest first
        self.all_done = threading.Event()
        self.on_turn = on_turn

    # -- running ---------------------------------------------------------------------

    def run(self, first: Actor, *, alone: bool = False) -> None:
        """Run ``first`` (and whatever it starts) until every actor has ended.

        ``alone``: nothing will start another actor, so ``first`` runs in the calling
        thread (no thread to start: most schedules have a single invocation per phase)."""
        self.all_done.clear()
        if alone:
            first.thread = threading.current_thread()
            self._give(first)
            self._body(first)
            return
        self._start(first)
        if not self.all_done.wait(TURN_TIMEOUT * 4):
            raise Stuck(f"invocations never finished (current: {self._label()})")

    def _label(self) -> str:
        return self.current.label if self.current is not None else "-"

    def _start(self, actor: Actor) -> None:
        actor.thread = threading.Thread(target=self._body, args=(actor,), daemon=True)
        self._give(actor)
        actor.thread.start()

    def _give(self, actor: Actor) -> None:
        self.current = actor
        if self.on_turn is not None:
            self.on_turn(actor)
        actor.turn.set()

    def _body(self, actor: Actor) -> None:
        actor.turn.wait()
        try:
            actor.result = actor.body()
        except Killed:
            actor.killed = True
        except BaseException as exc:  # noqa: BLE001 - recorded as a crash of the invocation
            actor.error = exc
        actor.done = True
        if self.waiting:
            self._give(self.waiting.pop())
        else:
            self.current = None
            self.all_done.set()

    # -- handing over ----------------------------------------------------------------

    def start_other(self, actor: Actor) -> None:
        """From the current actor: start ``actor`` now; the current one waits its turn."""
        me = self._me()
        self.waiting.append(me)
        me.turn.clear()
        self._start(actor)
        self._wait(me)

    def yield_to_waiting(self) -> None:
        """From the current actor: let the most recently suspended actor run to its end
        (or its own next hand-over); the current one goes on after it."""
        if not self.waiting:
            return
        me = self._me()
        other = self.waiting.pop()
        self.waiting.insert(0, me)
        me.turn.clear()
        self._give(other)
        self._wait(me)

    def _me(self) -> Actor:
        me = self.current
        if me is None or me.thread is not threading.current_thread():
            raise Stuck("a hand-over from outside the actor holding the baton")
        return me

    @staticmethod
    def _wait(me: Actor) -> None:
        if not me.turn.wait(TURN_TIMEOUT):
            raise Stuck(f"{me.label} never got the baton back")
