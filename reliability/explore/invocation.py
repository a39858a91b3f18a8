"""One invocation of the action, in process, and what the explorer hides from it.

An invocation is ``handler.main(args)``, the runtime's entry point, with the parameters a
deployed action carries. Around every schedule (:func:`sandbox`): simulated time, the
in-process wire as every session's adapter, the simulated database kind registered,
the global ``random`` seeded (the transport's jitter draws from it) and put back after,
``handler.Rotation`` swapped for a variant's, and the logs captured per invocation.

Log lines: the rotation writes JSON lines to ``sys.stdout`` and to registered sinks. The
explorer keeps ``sys.stdout`` quiet for the schedule and collects each line under the
invocation that wrote it (the one holding the baton). Each invocation has its own log
redactor: ``rotation.logs.REDACTOR`` is swapped whenever the baton moves, because a
second invocation's ``start_invocation`` would otherwise clear the first one's known
values in the middle of its run, something the runtime's separate containers never do.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

import structlog

import handler
from reliability.explore.baton import Actor
from reliability.explore.clock import frozen
from reliability.explore.database import registered
from reliability.explore.secretmanager import InProcessWire, wired
from rotation import logs

if TYPE_CHECKING:
    from reliability.explore.world import World


def invocation(world: World, actor: Actor, token: str) -> Callable[[], Any]:
    redactor = logs.Redactor()
    redactor.listener = world.extra_secrets.add  # every value it learns is a secret
    actor.extra["redactor"] = redactor
    args = world.args(token)

    def body() -> Any:
        result = handler.main(dict(args))
        world.note(f"{actor.label} returned {summary(result)}")
        return result

    return body


def summary(result: Any) -> str:
    if not isinstance(result, dict):
        return f"a {type(result).__name__}"
    error = result.get("error") or result.get("reason") or {}
    code = f"/{error.get('code')}" if isinstance(error, dict) and error.get("code") else ""
    left = " leftForRetry" if result.get("leftForRetry") else ""
    return f"{result.get('outcome')}{code} job={result.get('job')}{left}"


class _Quiet:
    """``sys.stdout`` for the schedule: the lines are collected by the sink instead."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        """Nothing buffered."""


@contextmanager
def sandbox(world: World) -> Iterator[None]:
    saved_random = random.getstate()
    saved_redactor = logs.REDACTOR
    saved_level = logs._configured_level

    def on_turn(actor: Actor) -> None:
        logs.REDACTOR = actor.extra["redactor"]

    def sink(line: str) -> None:
        holder = world.baton.current
        if holder is not None:
            holder.lines.append(line)

    world.baton.on_turn = on_turn
    random.seed(f"jitter/{world.schedule.seed}")
    with ExitStack() as stack:
        stack.enter_context(frozen(world.clock))
        stack.enter_context(wired(InProcessWire(world)))
        stack.enter_context(world.hosts.serving())
        stack.enter_context(registered(world))
        if world.variant.rotation is not None:
            stack.enter_context(mock.patch.object(handler, "Rotation", world.variant.rotation))
        stdout, sys.stdout = sys.stdout, _Quiet()
        logs.add_sink(sink)
        try:
            yield
        finally:
            logs.remove_sink(sink)
            structlog.contextvars.clear_contextvars()  # nothing of the schedule's ids after it
            sys.stdout = stdout
            logs.REDACTOR = saved_redactor
            if saved_level is not None:
                logs.configure(saved_level)
            random.setstate(saved_random)
