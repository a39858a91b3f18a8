"""The matrix's answer: one summary line of counts, and a table of what failed and why."""

from __future__ import annotations

from collections.abc import Sequence

from reliability.checks import CONVERGE, CRASH, HARNESS, LEAK, LEFT, LOST, ScenarioResult

#: The summary's counts, in its order: category, and how the line names it.
COUNTS = (
    (LOST, "credentials lost"),
    (LEFT, "jobs left running without leftForRetry"),
    (CONVERGE, "retries not converging"),
    (LEAK, "leaks"),
    (CRASH, "crashes"),
)


def count(results: Sequence[ScenarioResult], category: str) -> int:
    return sum(1 for r in results if category in r.problems)


def summary_line(results: Sequence[ScenarioResult]) -> str:
    """``reliability: N scenarios, 0 credentials lost, ...``; harness errors only if any."""
    parts = [f"{len(results)} scenarios"]
    parts += [f"{count(results, category)} {label}" for category, label in COUNTS]
    harness = count(results, HARNESS)
    if harness:
        parts.append(f"{harness} harness errors")
    return "reliability: " + ", ".join(parts) + "\n"


def table(results: Sequence[ScenarioResult]) -> str:
    """The failing scenarios, each with its problems and what happened, in run order."""
    failing = [r for r in results if not r.ok]
    if not failing:
        return ""
    width = max(len(r.name) for r in failing)
    lines = [f"{'scenario':<{width}}  problems", f"{'-' * width}  {'-' * 40}"]
    for result in failing:
        first = True
        for category in (*(c for c, _ in COUNTS), HARNESS):
            for note in result.problems.get(category, []):
                name = result.name if first else ""
                lines.append(f"{name:<{width}}  {category}: {note}")
                first = False
        for line in result.story:
            lines.append(f"{'':<{width}}    {line}")
    lines.append("rerun one: python -m reliability -k NAME -v")
    return "\n".join(lines) + "\n"
