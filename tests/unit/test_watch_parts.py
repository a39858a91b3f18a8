"""The watchdog's pure parts: windows, the memory and its rule, the watch parameter, the
verdicts it adds, cron options and the zip's entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deploy.config import ConfigError, load
from emulator.scheduler import CronError, CronSchedule
from rotation import verdicts
from rotation.ncp.models import SecretDetail
from rotation.watch import memory
from rotation.watch.config import WatchConfigError, parse_watch
from rotation.watch.windows import MIN_WINDOW_MINUTES, WindowError, parse_window

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
SID = "a" * 64


def ms(text: str) -> int:
    """``2026-03-03 02:30`` (UTC) as epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# -- windows ---------------------------------------------------------------------------------


def test_a_window_opens_on_its_days_in_its_zone() -> None:
    window = parse_window({"days": "tue,thu", "hours": "02:00-04:00", "timezone": "+09:00"})
    # 2026-03-03 is a Tuesday; 02:00-04:00 at +09:00 is Monday 17:00-19:00 UTC.
    assert not window.contains(ms("2026-03-02 16:59"))
    assert window.contains(ms("2026-03-02 17:00"))
    assert window.contains(ms("2026-03-02 18:59"))
    assert not window.contains(ms("2026-03-02 19:00"))
    assert not window.contains(ms("2026-03-03 17:30"))  # Wednesday there
    assert window.contains(ms("2026-03-04 17:30"))  # Thursday there
    assert window.describe() == "tue,thu 02:00-04:00 +09:00"
    assert window.to_api() == {"days": "tue,thu", "hours": "02:00-04:00", "timezone": "+09:00"}


def test_a_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    window = parse_window({"days": "fri", "hours": "22:00-02:00"})
    assert window.contains(ms("2026-03-06 23:00"))  # Friday 23:00
    assert window.contains(ms("2026-03-07 01:59"))  # Saturday 01:59: Friday's window
    assert not window.contains(ms("2026-03-07 22:30"))  # Saturday's own evening
    assert not window.contains(ms("2026-03-06 01:00"))  # Friday early: Thursday's, none


def test_the_first_close_after_a_due_date_and_the_next_opening() -> None:
    window = parse_window({"days": "mon-fri", "hours": "02:00-05:00", "timezone": "UTC"})
    due = ms("2026-03-06 06:00")  # Friday, after the window
    assert window.first_close_after(due) == ms("2026-03-09 05:00")  # Monday's closes
    assert window.next_open(due) == ms("2026-03-09 02:00")
    inside = ms("2026-03-09 03:00")
    assert window.first_close_after(inside) == ms("2026-03-09 05:00")
    assert window.next_open(inside) == inside


def test_wall_clock_hours_follow_daylight_saving() -> None:
    window = parse_window({"days": "daily", "hours": "02:00-05:00", "timezone": "Europe/Berlin"})
    assert window.contains(ms("2026-01-15 01:30"))  # 02:30 CET (UTC+1)
    assert window.contains(ms("2026-07-15 00:30"))  # 02:30 CEST (UTC+2)
    assert not window.contains(ms("2026-07-15 03:30"))  # 05:30 CEST


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("mon-fri", "must be a table"),
        ({"days": "mon"}, "hours is required"),
        ({"days": "someday", "hours": "02:00-03:00"}, "not a weekday"),
        ({"days": "fri-mon", "hours": "02:00-03:00"}, "runs forward"),
        ({"days": "mon", "hours": "2am-3am"}, "HH:MM-HH:MM"),
        ({"days": "mon", "hours": "25:00-26:00"}, "not a time of day"),
        ({"days": "mon", "hours": "02:00-02:10"}, f"shorter than {MIN_WINDOW_MINUTES}"),
        ({"days": "mon", "hours": "02:00-04:00", "timezone": "Mars/Olympus"}, "no zone"),
        ({"days": "mon", "hours": "02:00-04:00", "timezone": "+15:00"}, "at most"),
        ({"days": "mon", "hours": "02:00-04:00", "zone": "UTC"}, "unknown key zone"),
    ],
)
def test_a_bad_window_is_refused_by_name(raw: Any, words: str) -> None:
    with pytest.raises(WindowError, match=words):
        parse_window(raw, "window")


# -- the memory --------------------------------------------------------------------------------


def test_the_memory_round_trips_and_a_full_one_fits_a_secret_value() -> None:
    now = ms("2026-03-02 10:00")
    opened = {memory.problem_key(f"s{i}", "overdue"): now - i * HOUR for i in range(1000)}
    text = memory.encode(memory.Memory(opened), now)
    back = memory.decode(text)
    assert back.open == {k: v // MINUTE * MINUTE for k, v in opened.items()}
    assert back.saved_ms == now
    full = {i: now - i * MINUTE for i in range(memory.CAPACITY)}
    value = json.dumps({memory.KEY: memory.encode(memory.Memory(full), now)})
    assert memory.CAPACITY >= 1100 and len(value.encode()) <= 10_000
    with pytest.raises(memory.StateError):
        memory.decode("not base85 at all ~~~")


def test_new_once_reminded_once_per_interval_resolved_when_gone() -> None:
    day = DAY
    t0 = ms("2026-03-02 10:00")
    a, b = memory.problem_key("s1", "failed"), memory.problem_key("s2", "overdue")
    first = memory.plan([a], memory.Memory(), t0, day)
    assert first.new == (a,) and first.reminders == () and first.changed
    kept = memory.Memory(first.memory.open, t0)  # as saved by that run
    again = memory.plan([a], kept, t0 + 10 * MINUTE, day)
    assert not again.changed  # nothing new, no reminder yet: not written
    later = memory.plan([a, b], kept, t0 + day + 5 * MINUTE, day)
    assert later.new == (b,) and later.reminders == (a,)
    saved = memory.Memory(later.memory.open, t0 + day + 5 * MINUTE)
    assert memory.plan([a, b], saved, t0 + day + 15 * MINUTE, day).reminders == ()
    assert memory.plan([a, b], saved, t0 + 2 * day + 1 * MINUTE, day).reminders == (a,)
    gone = memory.plan([b], saved, t0 + day + 20 * MINUTE, day)
    assert gone.resolved == (a,) and a not in gone.memory.open and gone.changed


# -- the watch parameter -----------------------------------------------------------------------


def _watch(**extra: Any) -> dict[str, Any]:
    return {"trigger": "t", "action": "a", "secrets": [{"id": SID, "periodDays": 7}], **extra}


def test_the_watch_parameter_is_read_with_defaults() -> None:
    config = parse_watch(json.dumps(_watch(secrets=[
        {"id": SID, "periodDays": 7, "window": {"days": "sat", "hours": "01:00-03:00"}}
    ])))  # fmt: skip
    assert config.scope == "fleet" and config.remind_every_minutes == 1440
    assert config.max_messages == 10 and config.state_secret == "rotator-watch"
    assert config.package_and_action == ("-", "a")
    member = config.member(SID)
    assert member is not None and member.window is not None
    assert parse_watch(_watch(action="pkg/act")).package_and_action == ("pkg", "act")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (None, "required"),
        ("[1, 2]", "must be a JSON object"),
        (_watch(scope="everything"), 'scope must be "fleet" or "all"'),
        (_watch(secrets=[]), "needs the fleet"),
        (_watch(secrets=[{"id": SID}, {"id": SID}]), "twice"),
        (_watch(secrets=[{"id": "a/b"}]), "secrets #1"),
        (
            _watch(secrets=[{"id": SID, "window": {"days": "mon", "hours": "01:00-03:00"}}]),
            "needs periodDays",
        ),
        (_watch(remindEveryMinutes=5), "remindEveryMinutes"),
        (_watch(metrics={"endpoint": "https://cw.example"}), "cwKey is required"),
        (_watch(metrics={"cwKey": "k", "prodName": "Mine"}), "Custom/"),
        (_watch(colour="blue"), "unknown key colour"),
    ],
)
def test_a_bad_watch_parameter_is_refused(raw: Any, words: str) -> None:
    with pytest.raises(WatchConfigError, match=words) as caught:
        parse_watch(raw)
    assert caught.value.code == "WATCH_INVALID"


# -- deploy's [watch] table --------------------------------------------------------------------

ENV = {"NCLOUD_ACCESS_KEY": "AK", "NCLOUD_SECRET_KEY": "SK"}
BASE = """
[action]
vpc_no = 1
subnet_no = 2
"""


def _load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "deploy.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return load(path, {}, ENV)


def test_deploy_reads_watch_and_windows(tmp_path: Path) -> None:
    config = _load(tmp_path, """
[watch]
schedule = "*/5 * * * *"
remind_every_minutes = 720
[watch.metrics]
per_secret = false
[[secrets]]
name = "app-db"
window = { days = "mon-fri", hours = "02:00-05:00", timezone = "Asia/Seoul" }
[[secrets]]
name = "cache"
""")  # fmt: skip
    assert config.watch is not None and config.watch.schedule == "*/5 * * * *"
    assert config.watch.action == "secret-rotator-watch"
    assert config.watch.trigger == "secret-rotator-watch-cron"
    assert config.watch.metrics is not None and config.watch.metrics.per_secret is False
    assert config.secrets[0].window is not None and config.secrets[1].window is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            '[[secrets]]\nname = "a"\nwindow = { days = "mon", hours = "01:00-03:00" }\n',
            "a window needs \\[watch\\]",
        ),
        ('[watch]\nschedule = "every ten minutes"\n[[secrets]]\nname = "a"\n', "five crontab"),
        ('[watch]\naction = "secret-rotator"\n[[secrets]]\nname = "a"\n', "names of their own"),
        ('[watch]\nstate_secret = "x"\n[[secrets]]\nname = "a"\n', "3-15"),
        ('[watch]\nfrequency = 3\n[[secrets]]\nname = "a"\n', "unknown key frequency"),
        ('[watch]\n[watch.metrics]\nprod_name = "Mine"\n[[secrets]]\nname = "a"\n', "Custom/"),
        ('[watch]\n[[secrets]]\nname = "a"\nwindow = { days = "mon", hours = "1-3" }\n', "HH:MM"),
    ],
)
def test_deploy_refuses_a_bad_watch_table(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        _load(tmp_path, text)


# -- the verdicts the watchdog adds -------------------------------------------------------------


def _detail(**fields: Any) -> SecretDetail:
    data = {
        "secretId": SID, "secretName": "app", "secretStatus": "ENABLE", "autoRotationYN": "N",
        "rotationPhase": "NONE", "registerDate": ms("2026-03-01 00:00"),
        "trigger": {"id": "t1", "name": "rot"}, **fields,
    }  # fmt: skip
    return SecretDetail.from_api(data)


def test_linkage_and_trigger_actions() -> None:
    assert verdicts.linkage(_detail(), "t1", "rot") is None
    other = verdicts.linkage(_detail(trigger={"id": "t9", "name": "old"}), "t1", "rot")
    assert other is not None and other.verdict == "unlinked" and "another trigger" in other.note
    none = verdicts.linkage(_detail(trigger=None), "t1", "rot")
    assert none is not None and "no trigger" in none.note
    assert verdicts.linkage(_detail(secretStatus="DISABLE", trigger=None), "t1", "rot") is None
    assert verdicts.trigger_actions("rot", [], []).verdict == "action missing"
    assert verdicts.trigger_actions("rot", ["a"], ["a"]).attention
    assert not verdicts.trigger_actions("rot", ["a"], []).attention


def test_a_windowed_secret_is_waiting_then_overdue_once_a_window_went_by() -> None:
    due = ms("2026-03-08 00:00")
    close = ms("2026-03-09 05:00")
    kwargs: dict[str, Any] = {
        "due_ms": due, "missed_close_ms": close, "job_started": None,
        "overdue_after_ms": HOUR, "stale_after_ms": 15 * MINUTE, "window": "w",
    }  # fmt: skip
    assert verdicts.judge_windowed(_detail(), due - 1, **kwargs).verdict == "ok"
    assert verdicts.judge_windowed(_detail(), due + HOUR, **kwargs).verdict == "waiting"
    assert verdicts.judge_windowed(_detail(), close + HOUR, **kwargs).verdict == "waiting"
    late = verdicts.judge_windowed(_detail(), close + HOUR + 1, **kwargs)
    assert late.verdict == "overdue" and late.attention
    on = _detail(autoRotationYN="Y", autoRotationPeriod=7, nextRotationDate=due)
    assert verdicts.judge_windowed(on, due - 1, **kwargs).verdict == "schedule on"
    failed = verdicts.judge_windowed(_detail(rotationPhase="ROTATION_FAILED"), due, **kwargs)
    assert failed.verdict == "failed"


# -- cron options (the emulator's F10) ---------------------------------------------------------


def test_cron_options_are_crontab() -> None:
    every10 = CronSchedule.parse("*/10 * * * *")
    assert every10.matches(ms("2026-03-02 10:20")) and not every10.matches(ms("2026-03-02 10:21"))
    weekdays = CronSchedule.parse("30 2 * * mon-fri")
    assert weekdays.matches(ms("2026-03-02 02:30")) and not weekdays.matches(ms("2026-03-07 02:30"))
    sunday = CronSchedule.parse("0 0 * * 7")
    assert sunday.matches(ms("2026-03-08 00:00"))
    either = CronSchedule.parse("0 0 1 * sun")  # the 1st, or a Sunday (crontab's rule)
    assert either.matches(ms("2026-04-01 00:00")) and either.matches(ms("2026-03-08 00:00"))
    assert every10.fires_between(ms("2026-03-02 10:05"), ms("2026-03-02 10:10"))
    assert not every10.fires_between(ms("2026-03-02 10:10"), ms("2026-03-02 10:19"))
    for bad in ("* * * *", "61 * * * *", "* * * 0 *", "* * * mon *", "5-1 * * * *", 7):
        with pytest.raises(CronError):
            CronSchedule.parse(bad)


# -- the entry point in the zip ---------------------------------------------------------------


def test_the_rotation_action_does_not_load_the_watchdog() -> None:
    probe = (
        "import json, sys, handler; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('rotation.watch'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
