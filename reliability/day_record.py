"""What the day's operator ran and read, kept in order for the checks
(:mod:`reliability.day_checks`): every job with the ``check`` run just before it (the same
state of the world) and the ``history`` and ``status`` run right after it."""

from __future__ import annotations

from dataclasses import dataclass, field

from reliability.day_ops import JobShown, Ran


@dataclass(frozen=True)
class Expect:
    """What the day knows a job must end as, because it made the world so: the outcome
    (any of), the codes that name the true cause (any of; none: no error), the words the
    message must hold (any of) and must not (a false cause), and the warnings."""

    outcomes: tuple[str, ...]  # completed | failed | running
    codes: tuple[str, ...] = ()
    says: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: What the day did to the world, for the report.
    cause: str = ""


CLEAN = Expect(("completed",))


@dataclass
class JobStep:
    secret: str
    command: str  # rotate | retry | resume
    ran: Ran
    shown: JobShown
    check: Ran | None
    expect: Expect
    #: Every command the day had run before this job's own (an index into the runs).
    index: int
    #: Whether a CA file was at the path the config names when the job ran.
    ca_on_disk: bool = False
    history: Ran | None = None
    status: Ran | None = None


@dataclass
class DayRecord:
    created: dict[str, Ran] = field(default_factory=dict)
    #: (why, the deploy's run)
    deploys: list[tuple[str, Ran]] = field(default_factory=list)
    checks: list[tuple[str, Ran]] = field(default_factory=list)
    jobs: list[JobStep] = field(default_factory=list)
    #: (secret, the history's run, how many jobs the day had run by then)
    histories: list[tuple[str, Ran, int]] = field(default_factory=list)
    statuses: list[tuple[tuple[str, ...], Ran]] = field(default_factory=list)
    pause: Ran | None = None
    unpause_refused: Ran | None = None
    redeploy: Ran | None = None
    paused_status: Ran | None = None
    unpause: Ran | None = None
    unpaused_status: Ran | None = None

    def secret_id(self, name: str) -> str | None:
        """The id ``secret create`` printed for ``name``."""
        ran = self.created.get(name)
        if ran is None:
            return None
        for line in ran.output.splitlines():
            if line.startswith("secretId"):
                return line.split()[-1]
        return None
