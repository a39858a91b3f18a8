"""A fleet for the watchdog to watch, on an emulator whose clock a test moves, and an
HTTPS receiver for its alerts. Shared by the watchdog's tests and ``bench/watch.py`` (the
simulated month, the 1,000-secret sweep).

The watchdog runs in this process (:func:`rotation.watch.action.run`) with the
emulator's clock, on a Cloud Functions cron trigger the emulator's scheduler fires as
the clock passes its minutes: the action runtime's processes keep the wall clock, so a
simulated month must run the sweep here. Everything it calls is the emulator over real
HTTP, and the rotations it starts run the real handler in the action runtime.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trustme

from emulator import CallableAction, Emulator, ProcessAction
from rotation.ncp.models import SecretDetail
from rotation.watch import action
from tests.factories import ManualClock, create_secret, unique_name
from tests.webhook_receiver import serving

KEY = "watch-signing-key-0123456789"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: 2026-03-02 00:00 UTC, a Monday.
MONDAY = 1772409600.0


@dataclass
class Inbox:
    """What the alert receiver got (it answers 200 to every post)."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self.lock:
            self.posts.append(json.loads(body))
        return 200, b"{}"

    def take(self) -> list[dict[str, Any]]:
        """The alerts received since the last take."""
        with self.lock:
            got, self.posts = self.posts, []
        return got


@contextmanager
def inbox(ca: trustme.CA) -> Iterator[Inbox]:
    with serving(ca, Inbox()) as state:
        yield state


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%a %m-%d %H:%M")


@dataclass
class World:
    """An emulator, its clock, the rotation trigger and action, and the watchdog's args."""

    emu: Emulator
    clock: ManualClock
    trigger: str
    rotator: ProcessAction
    notify: dict[str, Any] | None = None
    watch: dict[str, Any] = field(default_factory=dict)
    secrets: list[dict[str, Any]] = field(default_factory=list)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def advance(self, minutes: float) -> None:
        self.clock.now += minutes * 60

    def secret(
        self, name: str | None = None, *, period: int = 30, auto: bool = True,
        window: dict[str, str] | None = None, fleet: bool = True,
    ) -> SecretDetail:  # fmt: skip
        """A store-only secret on the rotation trigger (auto rotation on unless a window
        or ``auto=False``), listed in the watchdog's fleet."""
        trigger_id = self.emu.backend.trigger_by_name(self.trigger)
        assert trigger_id is not None
        with self.emu.client() as client:
            on = auto and window is None
            detail = create_secret(
                client,
                secret_name=name or unique_name("w"),
                value={"username": "app", "password": f"initial-Pw-{unique_name('v')}"},
                trigger_id=trigger_id.trigger_id,
                auto_rotation=on,
                auto_rotation_period=period if on else None,
            )
        if fleet:
            item: dict[str, Any] = {"id": detail.secret_id, "periodDays": period}
            if window is not None:
                item["window"] = window
            self.secrets.append(item)
        return detail

    def args(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "accessKey": self.emu.access_key,
            "secretKey": self.emu.secret_key,
            "secretManagerEndpoint": self.emu.endpoint,
            "cloudFunctionsEndpoint": self.emu.cloud_functions_endpoint,
            "watch": {
                "trigger": self.trigger, "action": self.rotator.name,
                "secrets": list(self.secrets), **self.watch,
            },
        }  # fmt: skip
        if self.notify is not None:
            params["notify"] = self.notify
        return params

    def run(self) -> dict[str, Any]:
        """One watchdog run now, in this process, on the emulator's clock."""
        result = action.run(self.args(), {}, self.now_ms)
        json.dumps(result)
        return result

    def on_cron(self, schedule: str, results: list[dict[str, Any]]) -> None:
        """The watchdog on a Cloud Functions cron trigger the scheduler fires."""

        def watchdog(params: dict[str, Any]) -> dict[str, Any]:
            result = action.run({**self.args(), **params}, {}, self.now_ms)
            results.append(result)
            return result

        self.emu.add_cron_trigger(
            unique_name("cron"), schedule, CallableAction(name=unique_name("watch"),
                                                          function=watchdog),
        )  # fmt: skip


@contextmanager
def world(
    *, start: float = MONDAY, ca: trustme.CA | None = None, ca_file: str | None = None,
    timeout_ms: int = 60_000,
) -> Iterator[tuple[World, Inbox | None]]:  # fmt: skip
    """A world starting at ``start`` (epoch seconds); with ``ca``, an alert receiver the
    watchdog posts signed JSON to."""
    clock = ManualClock(start)
    with Emulator(clock=clock) as emu:
        rotator = emu.handler_action(unique_name("rotator"), timeout_ms=timeout_ms)
        trigger = unique_name("rot")
        emu.add_function_trigger(trigger, rotator)
        w = World(emu, clock, trigger, rotator)
        if ca is None:
            yield w, None
            return
        with inbox(ca) as box:
            w.notify = {"webhooks": [{"url": box.base + "/alerts", "format": "json",
                                      "hmacKey": KEY, "caBundle": ca_file}],
                        "environment": "test"}  # fmt: skip
            yield w, box


# -- the simulated month -----------------------------------------------------------------------


@dataclass
class Month:
    """What a month of hourly watchdog runs did: each run's result, the windowed secret's
    rotations (when they completed), and a transcript condensed to a line per day."""

    results: list[dict[str, Any]] = field(default_factory=list)
    executed_at: list[int] = field(default_factory=list)
    rotated_at: list[int] = field(default_factory=list)
    scheduled_at: list[int] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


#: (day, hour UTC, what the operator does to ``scheduled``) during the month.
INCIDENT = ((18, 9, "off"), (20, 9, "on"))


def simulate_month(w: World, box: Inbox | None, *, days: int = 30, incident: bool = True) -> Month:
    """Two secrets: ``windowed`` (every 2 days, Tue and Thu 02:00-04:00 at +09:00: Secret
    Manager's schedule off, the watchdog starts its jobs) and ``scheduled`` (every 10 days
    by Secret Manager's own schedule, at any hour). The watchdog runs on a cron trigger
    every hour for ``days`` days; each hour the emulator's scheduler ticks (which fires
    the cron trigger and Secret Manager's schedule) and the rotations it raised finish.
    With ``incident``, an operator turns ``scheduled``'s auto rotation off by hand on day
    18 and back on on day 20 (:data:`INCIDENT`)."""
    window = {"days": "tue,thu", "hours": "02:00-04:00", "timezone": "+09:00"}
    windowed = w.secret("windowed", period=2, window=window)
    scheduled = w.secret("scheduled", period=10)
    month = Month()
    w.on_cron("0 * * * *", month.results)
    seen_rotation = {windowed.secret_id: windowed.last_rotation_date,
                     scheduled.secret_id: scheduled.last_rotation_date}  # fmt: skip
    day_lines: dict[int, list[str]] = {}
    start = w.now_ms()
    for _ in range(days * 24):
        w.advance(60)
        now = w.now_ms()
        before = len(month.results)
        fired = w.emu.scheduler.tick()
        w.emu.wait_idle(timeout=120)
        day = (now - start) // DAY_MS + 1
        notes = day_lines.setdefault(day, [])
        hour = (now - start) % DAY_MS // HOUR_MS
        for when, at, what in INCIDENT if incident else ():
            if (day, hour) == (when, at):
                with w.emu.client() as client:
                    if what == "off":
                        client.disable_auto_rotation(scheduled.secret_id)
                    else:
                        client.enable_auto_rotation(scheduled.secret_id, rotation_period=10)
                notes.append(f"{iso(now)} operator: auto rotation of scheduled turned {what}")
        for _ in fired:
            month.scheduled_at.append(now)
            notes.append(f"{iso(now)} Secret Manager's schedule raised a job for scheduled")
        for result in month.results[before:]:
            for item in result.get("executed", []):
                month.executed_at.append(now)
                notes.append(f"{iso(now)} watchdog: due in window, started {item['secretName']}")
            for item in result.get("problems", []):
                if item.get("new"):
                    notes.append(
                        f"{iso(now)} watchdog: NEW {item['problem']}: {item['secretName']}"
                    )
            if result.get("reminded"):
                notes.append(f"{iso(now)} watchdog: {result['reminded']} reminder(s)")
            if result.get("resolved"):
                notes.append(f"{iso(now)} watchdog: {result['resolved']} problem(s) cleared")
        with w.emu.client() as client:
            for sid, seen in list(seen_rotation.items()):
                last = client.get_secret(sid).last_rotation_date
                if last != seen:
                    seen_rotation[sid] = last
                    name = "windowed" if sid == windowed.secret_id else "scheduled"
                    if name == "windowed":
                        month.rotated_at.append(now)
                    notes.append(f"{iso(now)} {name} rotated (job completed by the action)")
        if box is not None:
            month.alerts += box.take()
    last_day = (w.now_ms() - start) // DAY_MS + 1
    for day in range(1, last_day + 1):
        runs = [r for r in month.results if (_ms(r["at"]) - start) // DAY_MS + 1 == day]
        if not runs:
            continue
        head = f"day {day:2d} ({iso(start + (day - 1) * DAY_MS)[:9]}): {len(runs)} runs"
        shown = ", ".join(f"{k} {v}" for k, v in runs[-1]["counts"].items())
        events = day_lines.get(day) or [f"quiet (last run: {shown})"]
        month.transcript.append(head + "; " + "; ".join(events))
    return month


def _ms(stamp: str) -> int:
    return int(
        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() * 1000
    )
