"""Rotation windows: when, by the clock of a time zone, a secret may rotate.

Secret Manager's own schedule has a period in days and rounds ``nextRotationDate`` to the
hour (the emulator's A11); nothing else. A secret given a window in the deploy
configuration keeps Secret Manager's schedule off, and the watchdog runs Execute Rotation
Job itself, inside the window, once the period since the last rotation is over. A window
is weekdays, an hour range and a time zone::

    window = { days = "mon-fri", hours = "02:00-05:00", timezone = "Asia/Seoul" }

``days``: ``"mon-fri"``, ``"sat,sun"``, ``"daily"`` or a list (``["mon", "wed"]``).
``hours``: ``HH:MM-HH:MM``, the end not included; an end at or before the start crosses
midnight, and the window then belongs to the day it opens on (``"22:00-02:00"`` on
``"fri"`` is Friday 22:00 to Saturday 02:00). ``timezone``: an IANA name (the zip carries
``tzdata``, so the runtime's own database does not matter) or a fixed offset
(``"+09:00"``, ``"UTC"``); default ``UTC``. Wall-clock times follow the zone's daylight
saving rules; a window is judged by the watchdog's runs, so a window shorter than the
watchdog's schedule may be missed (deploy refuses one shorter than 30 minutes).

Pure: nothing here reads the clock; callers pass epoch milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Shorter windows are refused: the watchdog, on a 10-minute schedule, might not run inside.
MIN_WINDOW_MINUTES = 30
KEYS = frozenset({"days", "hours", "timezone"})
_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_OFFSET = re.compile(r"(?:UTC)?([+-])(\d{1,2}):?(\d{2})")
#: Occurrences looked at around an instant: a week and a day covers every weekday set.
_SPAN_DAYS = 8


class WindowError(ValueError):
    """A window setting that cannot be read; the message names the key, never a value."""


@dataclass(frozen=True)
class Window:
    """Weekdays (0 = Monday), the opening minute of the day and the length, in a zone."""

    days: frozenset[int]
    start_minute: int
    minutes: int
    zone: tzinfo
    zone_name: str

    def describe(self) -> str:
        """``mon-fri 02:00-05:00 Asia/Seoul``: what a note or the plan shows."""
        end = (self.start_minute + self.minutes) % 1440
        return f"{_days_text(self.days)} {_hhmm(self.start_minute)}-{_hhmm(end)} {self.zone_name}"

    def to_api(self) -> dict[str, str]:
        end = (self.start_minute + self.minutes) % 1440
        return {
            "days": ",".join(DAY_NAMES[d] for d in sorted(self.days)),
            "hours": f"{_hhmm(self.start_minute)}-{_hhmm(end)}",
            "timezone": self.zone_name,
        }

    def _opening(self, day: date) -> datetime:
        wall = datetime.combine(day, time(self.start_minute // 60, self.start_minute % 60))
        return wall.replace(tzinfo=self.zone)

    def occurrences(self, around_ms: int) -> list[tuple[int, int]]:
        """``(open, close)`` epoch ms of every occurrence from a day before ``around_ms``
        to a week after it, in order."""
        local = datetime.fromtimestamp(around_ms / 1000, self.zone).date()
        found = []
        for offset in range(-1, _SPAN_DAYS):
            day = local + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = self._opening(day)
            # Length in wall-clock terms: 02:00-05:00 stays three hours of the day's clock.
            closing_wall = (
                datetime.combine(day, time(0)) + timedelta(minutes=self.start_minute + self.minutes)
            ).replace(tzinfo=self.zone)
            found.append((_ms(opening), _ms(closing_wall)))
        return found

    def contains(self, at_ms: int) -> bool:
        return any(start <= at_ms < end for start, end in self.occurrences(at_ms))

    def first_close_after(self, at_ms: int) -> int | None:
        """When the occurrence open at ``at_ms``, or else the next one, closes: by then a
        secret due at ``at_ms`` should have rotated."""
        for _start, end in self.occurrences(at_ms):
            if end > at_ms:
                return end
        return None

    def next_open(self, at_ms: int) -> int | None:
        """The next opening at or after ``at_ms`` (``at_ms`` itself when inside)."""
        for start, end in self.occurrences(at_ms):
            if start <= at_ms < end:
                return at_ms
            if start > at_ms:
                return start
        return None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _days_text(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if len(ordered) == 7:
        return "daily"
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
    return ",".join(DAY_NAMES[d] for d in ordered)


def _day(name: str, where: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAY_NAMES or len(name.strip()) < 3:
        raise WindowError(f"{where}: days: {name.strip()[:12]!r} is not a weekday (mon .. sun)")
    return DAY_NAMES.index(key)


def _days(raw: object, where: str) -> frozenset[int]:
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in ("daily", "every day", "*"):
            return frozenset(range(7))
        parts: list[object] = [p for p in text.split(",") if p.strip()]
    elif isinstance(raw, list):
        parts = list(raw)
    else:
        raise WindowError(f'{where}: days must be like "mon-fri", "sat,sun", "daily" or a list')
    days: set[int] = set()
    for part in parts:
        if not isinstance(part, str):
            raise WindowError(f"{where}: days must be weekday names")
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first, where), _day(last, where)
            if b < a:
                raise WindowError(f"{where}: days: a range runs forward (mon-fri, not fri-mon)")
            days.update(range(a, b + 1))
        else:
            days.add(_day(part, where))
    if not days:
        raise WindowError(f"{where}: days names no weekday")
    return frozenset(days)


def _hours(raw: object, where: str) -> tuple[int, int]:
    if not isinstance(raw, str):
        raise WindowError(f'{where}: hours must be text like "02:00-05:00"')
    m = _HOURS.fullmatch(raw.strip())
    if m is None:
        raise WindowError(f'{where}: hours must be HH:MM-HH:MM, like "02:00-05:00"')
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise WindowError(f"{where}: hours: not a time of day")
    start, end = h1 * 60 + m1, (h2 * 60 + m2) % 1440
    length = (end - start) % 1440 or 1440
    if length < MIN_WINDOW_MINUTES:
        raise WindowError(
            f"{where}: hours: a window of {length} minutes is shorter than "
            f"{MIN_WINDOW_MINUTES}; the watchdog might not run inside it"
        )
    return start, length


def zone_of(raw: object, where: str) -> tuple[tzinfo, str]:
    """An IANA zone or a fixed offset, and the name it is shown by."""
    if raw is None:
        return UTC, "UTC"
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise WindowError(f'{where}: timezone must be a name like "Asia/Seoul" or "+09:00"')
    text = raw.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC, "UTC"
    m = _OFFSET.fullmatch(text.upper())
    if m is not None:
        sign, hours, minutes = m.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta > timedelta(hours=14) or int(minutes) > 59:
            raise WindowError(f"{where}: timezone: an offset is at most +/-14:00")
        shown = f"{sign}{int(hours):02d}:{int(minutes):02d}"
        return timezone(delta if sign == "+" else -delta, shown), shown
    try:
        return ZoneInfo(text), text
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            f'{where}: timezone: no zone by that name (an IANA name like "Asia/Seoul", or "+09:00")'
        ) from None


def parse_window(raw: object, where: str = "window") -> Window:
    """A window setting (deploy's TOML table or the watchdog's parameter), checked."""
    if not isinstance(raw, Mapping):
        raise WindowError(f"{where} must be a table: {{ days, hours, timezone }}")
    unknown = sorted(str(k) for k in raw if k not in KEYS)
    if unknown:
        shown = ", ".join(k if k.isidentifier() else "(a key)" for k in unknown)
        raise WindowError(f"{where}: unknown key {shown} (known: days, hours, timezone)")
    for key in ("days", "hours"):
        if key not in raw:
            raise WindowError(f'{where}: {key} is required (e.g. days = "mon-fri", '
                              'hours = "02:00-05:00")')  # fmt: skip
    start, length = _hours(raw["hours"], where)
    zone, name = zone_of(raw.get("timezone"), where)
    return Window(_days(raw["days"], where), start, length, zone, name)
