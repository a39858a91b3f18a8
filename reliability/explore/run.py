"""One schedule, start to end, and what is checked.

1. Set up: a secret on a trigger, its user on the simulated server, a job executed.
2. The first phase: the invocation the trigger starts (and the second one, if drawn).
   The invariant was checked after every step; now, with every invocation returned,
   it must hold; each invocation must have returned a coded result (no crash, not
   killed at its deadline); a job still ROTATING must have been left so on purpose
   (``leftForRetry``). Requests still held back land.
3. Retries, as an operator (or the next trigger) would: the same token while the job is
   live, Retry Rotation Job when it failed. The first retry meets the schedule's
   ``retry`` faults; the ones after run clean. The same checks after each.
4. Convergence: the job ended completed and the target accepts active.
5. No secret value in any invocation's logs or result.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field

from emulator.secretmanager.models import PHASE_NONE, PHASE_ROTATING
from reliability.checks import leak_forms
from reliability.explore.baton import Actor, Stuck
from reliability.explore.invocation import sandbox
from reliability.explore.schedule import FIRST, RETRY, Schedule, draw
from reliability.explore.variant import PRODUCT, Variant
from reliability.explore.world import World
from rotation import codes

#: Retry rounds after the first phase: the faulty first retry, then clean ones.
ROUNDS = 3
LEAK_MIN_LENGTH = 8

VIOLATION, SILENT, CONVERGE, CRASH, LEAK, HARNESS, RACE = (
    "invariant", "silent", "converge", "crash", "leak", "harness", "race",
)  # fmt: skip
CATEGORIES = (VIOLATION, SILENT, CONVERGE, CRASH, LEAK, HARNESS, RACE)
#: Reported, but not a failure of the rotation (``invariant`` explains why).
INFORMATIONAL = frozenset({RACE})


@dataclass
class ScheduleResult:
    seed: int
    schedule: Schedule
    problems: dict[str, list[str]] = field(default_factory=dict)
    story: list[str] = field(default_factory=list)

    def add(self, category: str, note: str) -> None:
        self.problems.setdefault(category, []).append(note)

    @property
    def ok(self) -> bool:
        return not set(self.problems) - INFORMATIONAL

    def describe(self) -> list[str]:
        """The schedule, its story and its problems (no secret values: checked)."""
        lines = [*self.schedule.describe(), *self.story]
        for category in CATEGORIES:
            lines += [f"PROBLEM {category}: {note}" for note in self.problems.get(category, [])]
        return lines


def run_schedule(seed: int, variant: Variant = PRODUCT, *, real: bool = False) -> ScheduleResult:
    """The schedule ``seed`` draws, run on ``variant`` (``real``: on MariaDB)."""
    return run(draw(seed, real=real), variant)


def run(schedule: Schedule, variant: Variant = PRODUCT) -> ScheduleResult:
    """One schedule (drawn, or written by hand in a test), run on ``variant``."""
    result = ScheduleResult(schedule.seed, schedule)
    world = World(schedule, variant)
    try:
        with sandbox(world):
            world.setup()
            run_phases(world, result)
    except Stuck as exc:
        result.add(HARNESS, f"stuck: {exc}")
    except Exception as exc:  # noqa: BLE001 - an explorer bug is reported, not raised
        result.add(HARNESS, f"{type(exc).__name__} in the explorer")
        world.story += traceback.format_exc().splitlines()
    finally:
        world.close()
    result.story = world.story
    check_leaks(world, result)
    return result


def run_phases(world: World, result: ScheduleResult) -> None:
    actors = world.run_phase(FIRST, "A", world.token)
    end_phase(world, FIRST, world.token, actors, result)
    for round_no in range(1, ROUNDS + 1):
        job = world.secret().job
        assert job is not None
        if job.outcome in {"COMPLETED", "CANCELLED"}:
            break
        if job.outcome == "FAILED":
            token = world.backend.retry_rotation(world.secret_id).job_token
            world.note("the operator runs Retry Rotation Job (a new token)")
        else:
            token = job.token
            world.note("the job is live: the action runs again with the same token")
        world.token = token
        phase = RETRY if round_no == 1 else f"clean{round_no}"
        actors = world.run_phase(phase, f"R{round_no}", token)
        end_phase(world, phase, token, actors, result)
    world.invariant.phase_end("final")
    if world.invariant.violation is not None:
        result.add(VIOLATION, world.invariant.violation)
    if world.invariant.race is not None:
        result.add(RACE, world.invariant.race)
    else:  # a credential lost to a race cannot converge; that is not a second finding
        check_converged(world, result)


def end_phase(
    world: World, phase: str, token: str, actors: list[Actor], result: ScheduleResult
) -> None:
    world.invariant.phase_end(phase)
    for actor in actors:
        check_actor(world, actor, result)
    check_silent(world, phase, token, actors, result)
    # Requests still on their way land now; what they break, the next phase repairs.
    world.settle()
    world.invariant.phase_end(phase, settling=True)


def check_silent(
    world: World, phase: str, token: str, actors: list[Actor], result: ScheduleResult
) -> None:
    """With every invocation of the phase returned, a job still ROTATING must have been
    left so on purpose: one of them said ``leftForRetry``."""
    secret = world.secret()
    job = secret.job
    returned = [a for a in actors if not a.killed and a.error is None]
    left = any(isinstance(a.result, dict) and a.result.get("leftForRetry") for a in returned)
    if (
        secret.phase == PHASE_ROTATING
        and job is not None
        and job.token == token
        and returned
        and not left
    ):
        said = ", ".join(f"{a.label}: job={a.result.get('job')}" for a in returned
                         if isinstance(a.result, dict))  # fmt: skip
        note = f"{phase}: the job is ROTATING and no invocation said leftForRetry ({said})"
        result.add(SILENT, note)
        world.note("LEFT SILENT: the job is ROTATING and no invocation said leftForRetry")


def check_actor(world: World, actor: Actor, result: ScheduleResult) -> None:
    if actor.label in world.deadline_kills:
        result.add(CRASH, f"{actor.label}: killed by the runtime at its deadline, no result")
        return
    if actor.killed:
        return
    if actor.error is not None:
        result.add(CRASH, f"{actor.label}: handler.main raised {type(actor.error).__name__}")
        return
    outcome = actor.result
    if not isinstance(outcome, dict) or not isinstance(outcome.get("ok"), bool):
        result.add(CRASH, f"{actor.label}: the result is not a dict with ok")
        return
    error = outcome.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if not outcome["ok"] and not code:
        result.add(CRASH, f"{actor.label}: failed without an error code")
    if code == codes.INTERNAL_ERROR:
        result.add(CRASH, f"{actor.label}: INTERNAL_ERROR")


def check_converged(world: World, result: ScheduleResult) -> None:
    secret = world.secret()
    job = secret.job
    outcome = job.outcome if job is not None else None
    accepts = True
    if world.schedule.external:
        active = world.invariant.credential(secret.chain.get("active"))
        accepts = active in world.server.accepted()
    if outcome != "COMPLETED" or secret.phase != PHASE_NONE or not accepts:
        note = (
            f"at the end the job is {outcome or 'live'} (phase {secret.phase}), "
            f"the target {'accepts' if accepts else 'refuses'} active"
        )
        result.add(CONVERGE, note)
        world.note(f"NOT CONVERGED: {note}")


def check_leaks(world: World, result: ScheduleResult) -> None:
    """No secret value in any invocation's log lines or result, nor in the story."""
    secrets = set(world.backend.known_values) | world.extra_secrets | {world.secret_key}
    secrets |= {job.token for s in world.backend.secrets.values() for job in s.jobs}
    forms = {f for s in secrets if len(s) >= LEAK_MIN_LENGTH for f in leak_forms(s)}

    def shows(text: str) -> bool:
        return any(form in text for form in forms)

    for actor in world.actors:
        texts = {
            "logs": "\n".join(actor.lines),
            "result": json.dumps(actor.result, default=str),
        }
        for where, text in texts.items():
            if shows(text):
                result.add(LEAK, f"{actor.label}: a secret value in its {where}")
    if shows("\n".join(result.story)):
        result.add(HARNESS, "the story would show a secret value")
        result.story = ["(story withheld: it would show a secret value)"]
