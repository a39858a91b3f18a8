"""The explorer's answer: one summary line, and the failing seeds with how to rerun each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reliability.explore.run import (
    CONVERGE,
    CRASH,
    HARNESS,
    INFORMATIONAL,
    LEAK,
    RACE,
    SILENT,
    VIOLATION,
)

#: The summary's counts, in its order: category, and how the line names it.
COUNTS = (
    (VIOLATION, "invariant violations"),
    (SILENT, "jobs left silent"),
    (CONVERGE, "not converging"),
    (CRASH, "crashes"),
    (LEAK, "leaks"),
)
RERUN = "python -m reliability explore --seed {seed} -v"


@dataclass(frozen=True)
class Finding:
    """A failing schedule, small enough to send between processes."""

    seed: int
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(set(self.problems) - INFORMATIONAL)


def summary_line(total: int, findings: Sequence[Finding], first: int, last: int) -> str:
    """``explorer: N schedules, 0 invariant violations, ... (seeds A..B)``."""
    parts = [f"{total} schedules"]
    parts += [f"{count(findings, c)} {label}" for c, label in COUNTS]
    harness = count(findings, HARNESS)
    if harness:
        parts.append(f"{harness} explorer errors")
    races = count(findings, RACE)
    if races:
        parts.append(f"{races} credentials lost to unseen races (not failures)")
    return f"explorer: {', '.join(parts)} (seeds {first}..{last})"


def count(findings: Sequence[Finding], category: str) -> int:
    return sum(1 for f in findings if category in f.problems)


def failing(findings: Sequence[Finding], limit: int = 200, *, real: bool = False) -> list[str]:
    """One line per failing seed (its first problem), the races apart, then how to
    rerun one."""
    failed = sorted((f for f in findings if f.failed), key=lambda f: f.seed)
    lines = []
    for finding in failed[:limit]:
        for category, _ in (*COUNTS, (HARNESS, "")):
            notes = finding.problems.get(category)
            if notes:
                lines.append(f"seed {finding.seed}: {category}: {notes[0]}")
                break
    if len(failed) > limit:
        lines.append(f"... and {len(failed) - limit} more failing seeds")
    races = sorted(f.seed for f in findings if RACE in f.problems)
    if races:
        shown = ", ".join(map(str, races[:20])) + (" ..." if len(races) > 20 else "")
        lines.append(f"races no invocation could see (not failures): seeds {shown}")
    if failed:
        lines.append(
            "rerun one: " + RERUN.format(seed=failed[0].seed) + (" --real" if real else "")
        )
    return lines
