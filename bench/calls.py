"""API calls and connections per rotation, per target kind, counted by the emulator.

Each kind is rotated in this process through ``handler.main`` (what the runtime calls),
against a real system of that kind; the emulator counts what reached Secret Manager:
every request (by operation) and every TCP connection. The goals: five calls (detail,
start, pending, complete, chain read: DESIGN.md) and one connection, whatever the kind.
"""

from __future__ import annotations

from collections import Counter

from bench.common import Figure, note
from bench.targets import KINDS, Kind
from emulator import Emulator
from tests.factories import executed_job, invoke

CALLS_GOAL = 5
CONNECTIONS_GOAL = 1


def rotate_once(emu: Emulator, kind: Kind) -> tuple[Counter[str], int]:
    """One rotation of ``kind``: the operations it sent and the connections it opened."""
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=dict(kind.value), targets=kind.targets)
    emu.stats.reset()
    extra = {"target": kind.target} if kind.target is not None else {}
    result = invoke(emu, sid, token, **extra)
    calls, connections = Counter(emu.stats.calls), emu.stats.connections
    if not result.get("ok"):
        raise RuntimeError(f"{kind.name} rotation failed: {result.get('error')}")
    with emu.client() as client:
        active = client.get_secret_values(sid).active
    if active is None or not kind.accepts(active):
        raise RuntimeError(f"{kind.name}: the system does not accept the stored active value")
    kind.value = dict(active)  # the next rotation starts from what is stored now
    return calls, connections


def run(rotations: int = 3) -> list[str]:
    lines = []
    with Emulator() as emu:
        for make in KINDS:
            with make() as kind:
                if kind.skipped:
                    lines.append(Figure(f"{kind.name}: calls per rotation", "skipped").line())
                    lines.append(note(kind.skipped))
                    continue
                seen = [rotate_once(emu, kind) for _ in range(rotations)]
            calls = max(sum(c.values()) for c, _ in seen)
            connections = max(n for _, n in seen)
            lines.append(
                Figure(
                    f"{kind.name}: API calls per rotation",
                    f"{calls}",
                    f"{CALLS_GOAL}",
                    calls == CALLS_GOAL,
                ).line()
            )
            lines.append(
                Figure(
                    f"{kind.name}: connections per rotation",
                    f"{connections}",
                    f"{CONNECTIONS_GOAL}",
                    connections == CONNECTIONS_GOAL,
                ).line()
            )
            if make is KINDS[0]:
                ops = ", ".join(f"{op} {n}" for op, n in sorted(seen[0][0].items()))
                lines.append(note(ops))
    lines.append(note(f"the most over {rotations} rotations of each kind"))
    return lines
