"""What is checked after every scenario, and what a scenario's result records.

The invariant (DESIGN.md): at every instant the target accepts a value Secret Manager
stores (active or pending), and once the job has ended, the active one. Around it: a job
left running says so (``leftForRetry``), a retry converges, nothing leaks, nothing crashes.
Each check adds a short note under its category; notes never carry a secret value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from reliability.action import ActionRun

LEAK_MIN_LENGTH = 8

LOST, LEFT, CONVERGE, LEAK, CRASH, HARNESS = (
    "lost", "left", "converge", "leak", "crash", "harness",
)  # fmt: skip
CATEGORIES = (LOST, LEFT, CONVERGE, LEAK, CRASH, HARNESS)


@dataclass
class Observation:
    when: str
    phase: str
    accepts_active: bool | None  # None: nothing outside Secret Manager to ask
    accepts_pending: bool | None
    has_pending: bool

    def describe(self) -> str:
        def yes(v: bool | None) -> str:
            return "-" if v is None else ("y" if v else "n")

        pending = yes(self.accepts_pending) if self.has_pending else "none"
        return f"{self.phase} target(active={yes(self.accepts_active)}, pending={pending})"


@dataclass
class ScenarioResult:
    name: str
    problems: dict[str, list[str]] = field(default_factory=dict)
    story: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    #: The API calls the first run made, in order, and the database connections it opened.
    calls: list[str] = field(default_factory=list)
    connections: int = 0
    #: Operations a fault of the scenario answered (a failure path's trigger).
    faulted: set[str] = field(default_factory=set)
    #: Every value the scenario must not show, for a last look at the report.
    secrets: set[str] = field(default_factory=set, repr=False)

    def add(self, category: str, note: str) -> None:
        self.problems.setdefault(category, []).append(note)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_summary(run: ActionRun) -> str:
    if run.result is None:
        return f"{run.label}:{run.status}"
    text = f"{run.label}:{run.result.get('outcome')}"
    if run.error_code:
        text += f"/{run.error_code}"
    if run.left_for_retry:
        text += "+leftForRetry"
    return text


def check_state(result: ScenarioResult, seen: Observation) -> None:
    result.story.append(f"{seen.when}: {seen.describe()}")
    if seen.accepts_active is None:
        return
    stored_ok = bool(seen.accepts_active) or bool(seen.has_pending and seen.accepts_pending)
    if not stored_ok:
        result.add(LOST, f"{seen.when}: the target accepts no stored value")
    elif seen.phase != "ROTATING" and not seen.accepts_active:
        result.add(LOST, f"{seen.when}: job ended ({seen.phase}) but the target refuses active")


def check_runs(result: ScenarioResult, runs: Iterable[ActionRun]) -> None:
    for run in runs:
        if run.status in ("developer error", "timeout"):
            result.add(CRASH, f"{run.label}: {run.status} (exit {run.exit_code}), no result")
        elif run.error_code == "INTERNAL_ERROR":
            result.add(CRASH, f"{run.label}: INTERNAL_ERROR")
        if "Traceback (most recent call last)" in run.stdout + run.stderr:
            result.add(CRASH, f"{run.label}: a traceback in its output")


def leak_forms(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def find_leaks(runs: Iterable[ActionRun], secrets: Iterable[str]) -> list[str]:
    """Where (by label) any secret appears; never the secret itself."""
    wanted = {form for s in secrets if len(s) >= LEAK_MIN_LENGTH for form in leak_forms(s)}
    found = set()
    for run in runs:
        texts = {"stdout": run.stdout, "stderr": run.stderr, "result": json.dumps(run.result)}
        for where, text in texts.items():
            if any(form in text for form in wanted):
                found.add(f"{run.label} {where}")
    return sorted(found)
