"""The clock-driven side: fire due rotations, destroy expired deletions, run cron triggers.

``tick()`` does one pass and is what tests call after moving the clock; ``start()`` runs
ticks on a background thread for the CLI server and the demo. The clock is the backend's,
so a test that freezes or advances time sees the schedule follow it.

Cloud Functions' ``cron`` triggers run on the same ticks (``functions``, the Cloud
Functions backend, set by the emulator). What is documented and what is guessed:

F10 A cron trigger's option is UNIX crontab syntax, five fields separated by spaces:
    minute 0-59, hour 0-23, day 1-31, month 1-12 (``jan``-``dec``), day of the week 0-7
    (0 and 7 Sunday, ``sun``-``sat``) (documented:
    https://guide.ncloud-docs.com/docs/ja/cloudfunctions-cron-vpc ; the EN page of the
    same guide says months 0-11 and weekdays 0-6, which this emulator refuses, the
    stricter reading). ``*``, ranges ``a-b``, steps ``*/n`` and ``a-b/n`` and lists are
    read; when both the day and the weekday are restricted, either matching fires the
    trigger (crontab's rule). Guesses: the zone is UTC (the guide does not name one: use
    schedules that do not depend on it, like ``*/10 * * * *``); a trigger fires at most
    once per tick, however many of its minutes the clock jumped over (a scheduler that was
    paused does not catch up), and never for a minute before it was created.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from emulator.secretmanager.models import JobEvent, SecretManagerBackend

MINUTE_MS = 60_000
#: A tick looks back at most this many minutes for a matching one (a year).
MAX_LOOKBACK_MINUTES = 366 * 24 * 60
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_WEEKDAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day", 1, 31, {}), ("month", 1, 12, _MONTHS),
    ("weekday", 0, 7, _WEEKDAYS),
)  # fmt: skip
_PART = re.compile(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?")


class CronError(ValueError):
    """A cron option that is not five crontab fields."""


def _value(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> int:
    number = names.get(text) if not text.isdigit() else int(text)
    if number is None or not lo <= number <= hi:
        raise CronError(f"{name}: {text!r} is not {lo}-{hi}")
    return number


def _field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        m = _PART.fullmatch(part)
        if m is None:
            raise CronError(f"{name}: {part!r} is not a value, range, list or step")
        span, step_text = m.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CronError(f"{name}: a step is at least 1")
        if span == "*":
            first, last = lo, hi
        elif "-" in span:
            a, b = span.split("-")
            first, last = _value(a, name, lo, hi, names), _value(b, name, lo, hi, names)
            if last < first:
                raise CronError(f"{name}: a range runs forward")
        else:
            first = _value(span, name, lo, hi, names)
            last = hi if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron option (F10)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, text: object) -> CronSchedule:
        if not isinstance(text, str) or len(text) > 200:
            raise CronError("the cron option must be text: five crontab fields")
        parts = text.split()
        if len(parts) != 5:
            raise CronError("the cron option has five fields: minute hour day month weekday")
        sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(0 if d == 7 else d for d in sets[4])
        return cls(text, sets[0], sets[1], sets[2], sets[3], weekdays,
                   parts[2] != "*", parts[4] != "*")  # fmt: skip

    def matches(self, minute_ms: int) -> bool:
        at = datetime.fromtimestamp(minute_ms / 1000, UTC)
        if at.minute not in self.minutes or at.hour not in self.hours:
            return False
        if at.month not in self.months:
            return False
        day = at.day in self.days
        weekday = (at.weekday() + 1) % 7 in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return day or weekday
        return day and weekday

    def fires_between(self, after_ms: int, until_ms: int) -> bool:
        """Whether a minute in ``(after_ms, until_ms]`` matches."""
        first = after_ms // MINUTE_MS + 1
        last = until_ms // MINUTE_MS
        first = max(first, last - MAX_LOOKBACK_MINUTES)
        return any(self.matches(m * MINUTE_MS) for m in range(first, last + 1))


class CronSource(Protocol):
    def fire_due(self, now_ms: int) -> list[str]: ...


class Scheduler:
    def __init__(self, backend: SecretManagerBackend, interval: float = 1.0) -> None:
        self.backend = backend
        self.interval = interval
        #: Cloud Functions, whose cron triggers run on these ticks (set by the emulator).
        self.functions: CronSource | None = None
        #: Every cron firing so far: ``(epoch ms, trigger name)``.
        self.cron_runs: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[JobEvent]:
        """Raise a job for every secret whose ``nextRotationDate`` has passed, and run the
        cron triggers one of whose minutes has come since the last tick."""
        self.backend.destroy_expired()
        fired = []
        for secret_id in self.backend.due_for_rotation():
            event = self.backend.fire_scheduled(secret_id)
            if event is not None:
                fired.append(event)
        if self.functions is not None:
            now = self.backend.now_ms()
            self.cron_runs += [(now, name) for name in self.functions.fire_due(now)]
        return fired

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()
