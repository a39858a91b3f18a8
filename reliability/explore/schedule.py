"""What one seed draws: a target, the service's undocumented choices, and 1-4 faults.

A schedule is a pure function of its seed (:func:`draw`), so ``--seed N`` replays it.

A fault strikes the ``occurrence``-th event of its kind in its phase (counting every
invocation of that phase), and the ``times - 1`` after it. Events are Secret Manager
requests (each attempt of the transport's retries is one) by operation, and database
connections, statements and round trips. Phases: ``first`` (the invocation the trigger
starts, and a second invocation of the same job if the schedule has one) and ``retry``
(the first retry: the same token again while the job is ROTATING, an operator's Retry
Rotation Job when it failed). Later retries run clean: the rotation must converge.

Secret Manager faults:

``status``   the answer is an error status (400, 403, 404, 409, 422, 429 with
             ``Retry-After``, 500, 502, 503); nothing took effect
``lost``     the request took effect, the answer is lost (connection reset)
``reset``    the connection is reset before the request reaches the service
``delay``    the request takes ``delay`` seconds; past the client's read timeout the
             client gives up and the request lands when its time comes
``late``     the client gives up (a timeout, or a reset); the request is held back and
             lands just before the ``late_after``-th next request of any invocation
``kill``     the invocation dies with this request in flight (``before``: it never
             landed, or lands later if ``lands``; ``after``: it took effect)
``second``   a second invocation of the same job starts here (``before`` or ``after``
             the request took effect) and runs until its own ``back_at``-th step (or
             its end); then the first goes on to its end, then the second

Database faults: ``refuse`` (a connection refused), ``cut-before`` / ``cut-after`` (the
connection lost before or after the statement took effect), ``kill`` (``after``: the
statement took effect), ``second``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST, RETRY = "first", "retry"
ALL = 1000  # "every matching event of the phase"

#: Target kinds: the product's database target on a simulated server, or store-only.
SINGLE, DUAL, ALTERNATING, STORE_ONLY = (
    "single-user", "dual-password", "alternating", "store-only",
)  # fmt: skip
KIND_WEIGHTS = {SINGLE: 4, DUAL: 3, ALTERNATING: 2, STORE_ONLY: 1}
#: The real share (``--real``): single-user on the machine's MariaDB.
MARIADB = "mariadb"

#: Secret Manager operations a rotation calls, weighted by how often they are worth hitting.
SM_OPERATIONS = {
    "get_secret_detail": 3,
    "start_rotation_job": 4,
    "update_pending_stage": 3,
    "add_pending_stage": 1,
    "generate_random_secret": 1,
    "complete_rotation_job": 4,
    "get_secret_value": 3,
    "get_secret_stage_value": 1,
    "fail_rotation_job": 3,
    "*": 3,
}
SM_ACTIONS = {"status": 6, "lost": 3, "reset": 2, "delay": 2, "late": 3, "kill": 3}
STATUSES = (400, 403, 404, 409, 422, 429, 429, 500, 502, 503, 503)
DB_OPERATIONS = {"connect": 3, "statement": 4, "check": 1, "*": 1}
DB_ACTIONS = {"refuse": 3, "cut-before": 2, "cut-after": 3, "kill": 2}
DELAYS = (0.3, 2.0, 8.0, 12.0, 25.0, 70.0)
TIMEOUTS = (15.0, 30.0, 60.0)
GENERATORS = {"local": 6, "service": 1, "service-random": 1}
#: Share of schedules with a second invocation of the same job.
SECOND_SHARE = 0.3
#: Share of schedules where the first invocation dies at a random step.
KILL_SHARE = 0.4
#: Share of schedules whose faults all strike one or two operations.
FOCUS_SHARE = 0.5


@dataclass(frozen=True)
class Fault:
    phase: str
    where: str  # "sm" | "db"
    operation: str
    action: str
    occurrence: int = 0
    times: int = 1
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    late_after: int = 1
    #: ``late``: the client sees a read timeout (True) or a reset (False).
    timeout: bool = True
    when: str = "before"
    lands: bool = False
    back_at: int | None = None
    #: ``second``: after the second invocation paused, the first goes on for this many
    #: steps and hands back (``None``: to its end).
    resume_at: int | None = None

    def describe(self) -> str:
        times = "every" if self.times >= ALL else f"x{self.times}"
        at = f"{self.phase} {self.where}:{self.operation}#{self.occurrence} {times}"
        detail = {
            "status": f"status {self.status}"
            + (f" Retry-After {self.retry_after:g}s" if self.retry_after is not None else ""),
            "delay": f"delay {self.delay:g}s",
            "late": f"late, lands before the {self.late_after}th next request"
            + (" (client times out)" if self.timeout else " (client reset)"),
            "kill": f"kill {self.when}" + (", the request lands later" if self.lands else ""),
            "second": f"second invocation {self.when}"
            + (f", pauses at its step {self.back_at}" if self.back_at is not None else "")
            + (f", resumes {self.resume_at} steps later" if self.resume_at is not None else ""),
        }.get(self.action, self.action)
        return f"{at}: {detail}"


@dataclass(frozen=True)
class Schedule:
    seed: int
    kind: str
    fail_discards_pending: bool
    timeout_s: float
    #: The endpoint is configured (one host), or left to the default (regional, then
    #: the global host on 404).
    endpoint_configured: bool
    generator: str
    faults: tuple[Fault, ...]

    @property
    def external(self) -> bool:
        return self.kind != STORE_ONLY

    def describe(self) -> list[str]:
        fail = "discards" if self.fail_discards_pending else "keeps"
        endpoint = "configured" if self.endpoint_configured else "default"
        head = (
            f"seed {self.seed}: {self.kind} target, Fail {fail} pending, timeout "
            f"{self.timeout_s:g}s, endpoint {endpoint}, generator {self.generator}"
        )
        return [head, *(f"  fault: {f.describe()}" for f in self.faults)]


def weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def draw(seed: int, *, real: bool = False) -> Schedule:
    """The schedule of ``seed``: the same on every machine and every run. ``real``: the
    target is a single-user account on the machine's MariaDB (the same faults)."""
    rng = random.Random(f"explore/{seed}")
    kind = weighted(rng, KIND_WEIGHTS)
    if real:
        kind = MARIADB
    generator = weighted(rng, GENERATORS)
    if kind == ALTERNATING and generator == "service":
        generator = "local"  # the service would draw the user name too
    operations = called_operations(kind, generator)
    if rng.random() < FOCUS_SHARE:
        # Swarm testing: every Secret Manager fault of this schedule on one or two
        # operations, so that faults pile up where combinations bite (a complete held
        # back while the next one is refused, a retry that cannot even start).
        focus = rng.sample(sorted(operations), rng.randint(1, 2))
        operations = {op: operations[op] for op in focus}
    external = kind != STORE_ONLY
    count = rng.randint(1, 4)
    faults: list[Fault] = []
    if rng.random() < SECOND_SHARE:
        faults.append(draw_second(rng, operations, external=external))
    if rng.random() < KILL_SHARE:
        faults.append(draw_kill(rng, external=external))
    while len(faults) < count:
        faults.append(draw_fault(rng, operations, external=external))
    if any(f.phase == RETRY for f in faults) and not any(ends_first(f) for f in faults):
        # A retry's faults strike only if there is a retry: end the first run early.
        faults[-1 if len(faults) == 4 else len(faults) :] = [draw_kill(rng, external=external)]
    return Schedule(
        seed=seed,
        kind=kind,
        fail_discards_pending=rng.random() < 0.5,
        timeout_s=rng.choice(TIMEOUTS),
        endpoint_configured=rng.random() < 0.7,
        generator=generator,
        faults=tuple(faults),
    )


def called_operations(kind: str, generator: str) -> dict[str, int]:
    """The operations this rotation can call, so that drawn faults strike."""
    skip = set()
    if generator != "service":
        skip.add("add_pending_stage")
    if generator != "service-random":
        skip.add("generate_random_secret")
    if kind != STORE_ONLY:
        skip.add("get_secret_stage_value")
    return {op: w for op, w in SM_OPERATIONS.items() if op not in skip}


def ends_first(fault: Fault) -> bool:
    """Does this fault (most likely) keep the first run from completing the job?"""
    return fault.phase == FIRST and (fault.action == "kill" or fault.times >= ALL)


def draw_kill(rng: random.Random, *, external: bool) -> Fault:
    """The first invocation dies at one of its first steps, with that step's request or
    statement applied or not."""
    where = "db" if external and rng.random() < 0.35 else "sm"
    return Fault(FIRST, where, "*", "kill", rng.randint(0, 6 if where == "sm" else 3),
                 when=rng.choice(("before", "after")), lands=rng.random() < 0.5,
                 late_after=rng.randint(1, 4))  # fmt: skip


def draw_second(rng: random.Random, operations: dict[str, int], *, external: bool) -> Fault:
    """A second invocation of the same job, at a Secret Manager request or a statement."""
    when = rng.choice(("before", "after"))
    if external and rng.random() < 0.3:
        operation = weighted(rng, DB_OPERATIONS)
        return Fault(FIRST, "db", operation, "second", _occurrence(rng), when=when,
                     back_at=_back_at(rng), resume_at=_resume_at(rng))  # fmt: skip
    operation = weighted(rng, operations)
    return Fault(FIRST, "sm", operation, "second", _occurrence(rng), when=when,
                 back_at=_back_at(rng), resume_at=_resume_at(rng))  # fmt: skip


def draw_fault(rng: random.Random, operations: dict[str, int], *, external: bool) -> Fault:
    phase = FIRST if rng.random() < 0.6 else RETRY
    occurrence = _occurrence(rng)
    times = rng.choices((1, 2, ALL), weights=(8, 2, 3))[0]
    if external and rng.random() < 0.25:
        operation = weighted(rng, DB_OPERATIONS)
        action = weighted(rng, DB_ACTIONS)
        return Fault(
            phase, "db", operation, action, occurrence,
            times=1 if action == "kill" else times,
            when=rng.choice(("before", "after")),
        )  # fmt: skip
    operation = weighted(rng, operations)
    action = weighted(rng, SM_ACTIONS)
    status = rng.choice(STATUSES) if action == "status" else None
    return Fault(
        phase, "sm", operation, action, occurrence,
        times=times if action in ("status", "reset", "delay", "lost") else 1,
        status=status,
        retry_after=rng.choice((0.5, 1.0, 3.0, 5.0)) if status == 429 else None,
        delay=rng.choice(DELAYS),
        late_after=rng.randint(1, 6),
        timeout=rng.random() < 0.6,
        when=rng.choice(("before", "after")),
        lands=rng.random() < 0.5,
    )  # fmt: skip


def _occurrence(rng: random.Random) -> int:
    return rng.choices((0, 1, 2, 3), weights=(10, 4, 2, 1))[0]


def _back_at(rng: random.Random) -> int | None:
    return None if rng.random() < 0.3 else rng.randint(1, 10)


def _resume_at(rng: random.Random) -> int | None:
    return None if rng.random() < 0.5 else rng.randint(1, 6)
