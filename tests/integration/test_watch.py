"""The watchdog against the emulator, on a clock the tests move: each broken state it must
find is made on purpose and reported exactly once, then reminded on schedule; a windowed
secret rotates only inside its window over a simulated month, once per period; the
counts reach the emulated Cloud Insight collector in the documented shape.

Alerts go to a real HTTPS receiver (tests/watch_world.py); the watchdog runs in this
process with the emulator's clock (the action runtime's processes keep the wall clock),
on a cron trigger the emulator's scheduler fires where the test is about the schedule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import trustme

from emulator import Emulator
from rotation.ncp.cloudinsight import CloudInsightClient
from rotation.ncp.models import RotationPhase
from rotation.watch import action
from rotation.watch.metrics import FIELDS
from rotation.watch.windows import parse_window
from tests.watch_world import DAY_MS, simulate_month, world

ROOT = Path(__file__).resolve().parents[2]
DAY_MINUTES = 24 * 60
#: Every field a problem or reminder alert carries.
ALERT_FIELDS = {
    "event", "alertId", "time", "environment", "action", "activationId", "trigger",
    "secretId", "secretName", "problem", "message", "since", "openMinutes", "text", "sentAt",
}  # fmt: skip


def fail_a_job(emu: Emulator, secret_id: str) -> None:
    """A job raised, started and failed (ROTATION_FAILED), with no action run for it."""
    dispatcher, emu.backend.dispatcher = emu.backend.dispatcher, None
    try:
        event = emu.backend.execute_rotation(secret_id)
    finally:
        emu.backend.dispatcher = dispatcher
    with emu.client() as client:
        client.start_rotation_job(secret_id, event.job_token)
        client.fail_rotation_job(secret_id, event.job_token)


def _seen(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(a["event"], a.get("problem", ""), a.get("secretId")) for a in alerts]


def test_each_broken_state_is_reported_once_then_reminded(ca: trustme.CA, ca_file: str) -> None:
    with world(ca=ca, ca_file=ca_file) as (w, box):
        assert box is not None
        w.watch = {"remindEveryMinutes": DAY_MINUTES, "maxMessages": 20}
        w.secret("fine", period=30)
        late = w.secret("late", period=1).secret_id
        failing = w.secret("failing").secret_id
        stalled = w.secret("stalled").secret_id
        paused = w.secret("paused").secret_id
        loose = w.secret("loose").secret_id
        first = w.run()
        assert first["ok"] and first["needAttention"] == 0 and box.take() == []
        assert first["staleAfterMinutes"] == 3  # the rotation action's 60 s, plus 2 min

        def pause() -> None:
            with w.emu.client() as client:
                client.disable_auto_rotation(paused)

        breaks = [
            ("overdue", late, lambda: w.advance(DAY_MINUTES + 61)),
            ("failed", failing, lambda: fail_a_job(w.emu, failing)),
            ("left running", stalled, lambda: (w.emu.stall_job(stalled), w.advance(4))),
            ("auto rotation off", paused, pause),
            ("unlinked", loose, lambda: w.emu.unlink(loose)),
            ("action missing", None,
             lambda: w.emu.cloud_functions.delete_action("-", w.rotator.name)),
        ]  # fmt: skip
        for kind, secret_id, breaker in breaks:
            breaker()
            w.advance(1)
            result = w.run()
            alerts = box.take()
            assert _seen(alerts) == [("watch.problem", kind, secret_id)], kind
            assert result["new"] == 1 and result["alertsSent"] == 1, kind
            assert set(alerts[0]) == ALERT_FIELDS
            assert alerts[0]["environment"] == "test" and kind in alerts[0]["text"]
            w.advance(10)
            again = w.run()
            assert box.take() == [] and again["new"] == 0 and again["reminded"] == 0, kind
        assert again["needAttention"] == 6
        assert again["counts"] == {
            "action missing": 1,
            "auto rotation off": 2,
            "failed": 1,
            "left running": 1,
            "ok": 1,
            "overdue": 1,
            "unlinked": 1,
        }  # fmt: skip  (the unlinked secret's own verdict is auto rotation off, not alerted)
        w.advance(DAY_MINUTES)
        reminded = w.run()
        alerts = box.take()
        assert sorted(_seen(alerts)) == sorted(
            ("watch.reminder", kind, sid) for kind, sid, _ in breaks
        )
        assert reminded["reminded"] == 6 and reminded["new"] == 0
        assert all(a["openMinutes"] >= DAY_MINUTES for a in alerts)
        w.advance(60)
        assert w.run()["reminded"] == 0 and box.take() == []
        with w.emu.client() as client:  # fixed: resolved, and no alert about it
            client.enable_auto_rotation(paused, rotation_period=30)
        w.advance(1)
        fixed = w.run()
        assert fixed["resolved"] == 1 and fixed["needAttention"] == 5 and box.take() == []


def test_alerts_past_the_limit_are_one_summary(ca: trustme.CA, ca_file: str) -> None:
    with world(ca=ca, ca_file=ca_file) as (w, box):
        assert box is not None
        w.watch = {"maxMessages": 2}
        ids = [w.secret(auto=False).secret_id for _ in range(5)]
        result = w.run()
        alerts = box.take()
        assert [a["event"] for a in alerts] == ["watch.problem", "watch.problem", "watch.summary"]
        summary = alerts[-1]
        assert {p["secretId"] for p in summary["problems"]} | {
            a["secretId"] for a in alerts[:2]
        } == set(ids)
        assert "3 more new" in summary["text"] and result["alertsSent"] == 3
        assert w.run()["new"] == 0 and box.take() == []


def test_a_windowed_start_is_alerted_only_with_on_success(ca: trustme.CA, ca_file: str) -> None:
    with world(ca=ca, ca_file=ca_file) as (w, box):
        assert box is not None and w.notify is not None
        w.secret("win", period=1, window={"days": "daily", "hours": "00:00-23:00"})
        w.advance(DAY_MINUTES + 30)
        assert [e["secretName"] for e in w.run()["executed"]] == ["win"]
        w.emu.wait_idle()  # the rotation action completes the job
        assert box.take() == []  # a rotation started is no problem
        w.notify["onSuccess"] = True
        w.advance(DAY_MINUTES)  # the next period: due again, inside the window
        assert len(w.run()["executed"]) == 1
        [alert] = box.take()
        assert alert["event"] == "watch.executed" and "inside its window" in alert["message"]


def test_a_windowed_job_is_started_once_per_period() -> None:
    with world() as (w, _):
        win = w.secret("win", period=1, window={"days": "daily", "hours": "00:00-23:00"})
        w.emu.backend.dispatcher = None  # nothing runs the jobs, as when the action is gone
        w.advance(DAY_MINUTES + 30)  # due (one day), inside the day's window
        first = w.run()
        assert [e["secretName"] for e in first["executed"]] == ["win"]
        assert first["counts"] == {"rotating": 1}
        w.advance(30)
        assert w.run()["executed"] == []  # its job is live
        with w.emu.client() as client:
            client.cancel_rotation_job(win.secret_id)
            assert client.get_secret(win.secret_id).rotation_phase is RotationPhase.NONE
        w.advance(30)
        third = w.run()
        assert third["executed"] == []  # a job was raised this period: never twice
        assert third["counts"] == {"waiting": 1}
        w.advance(DAY_MINUTES)  # the window closed without a rotation
        late = w.run()
        assert late["executed"] == [] and [p["problem"] for p in late["problems"]] == ["overdue"]
        assert "went by without a rotation" in late["problems"][0]["note"]


def test_a_windowed_secret_rotates_only_inside_its_window_over_a_month(
    ca: trustme.CA, ca_file: str
) -> None:
    with world(ca=ca, ca_file=ca_file) as (w, box):
        month = simulate_month(w, box)
        with w.emu.client() as client:
            windowed = next(s for s in client.iter_secrets() if s.secret_name == "windowed")
            kinds = [e["actionType"] for e in client.get_secret_logs(windowed.secret_id).entries]
    window = parse_window({"days": "tue,thu", "hours": "02:00-04:00", "timezone": "+09:00"})
    assert len(month.results) == 30 * 24  # the cron trigger ran it every hour
    assert len(month.executed_at) == 8  # every 2 days, waiting over the weekends
    assert all(window.contains(t) for t in month.executed_at)
    assert month.rotated_at == month.executed_at  # each job completed within its hour
    gaps = [b - a for a, b in zip(month.executed_at, month.executed_at[1:], strict=False)]
    assert min(gaps) >= 2 * DAY_MS  # never twice for one period
    assert "SCHEDULE_ROTATION" not in kinds  # Secret Manager's schedule never ran it
    assert len(month.scheduled_at) == 3  # the other secret: its own schedule, every 10 days
    assert all(r["ok"] for r in month.results)
    # The incident: auto rotation of "scheduled" off by hand on day 18 09:00, back on day 20.
    new = [(r["at"], p["problem"]) for r in month.results for p in r["problems"] if p["new"]]
    assert new == [("2026-03-19T10:00:00Z", "auto rotation off")]  # the next run, once
    assert [r["at"] for r in month.results if r.get("reminded")] == ["2026-03-20T10:00:00Z"]
    assert [r["at"] for r in month.results if r.get("resolved")] == ["2026-03-21T10:00:00Z"]
    alerts = [a for a in month.alerts if a["event"].startswith("watch.")]
    assert [(a["event"], a["secretName"]) for a in alerts] == [
        ("watch.problem", "scheduled"), ("watch.reminder", "scheduled"),
    ]  # fmt: skip
    print("\n".join(month.transcript))


def _readme_record() -> dict[str, Any]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- watch-record:begin -->\n", 1)[1].split("<!-- watch-record:end", 1)[0]
    found = re.search(r"```json\n(.*?)```", block, re.DOTALL)
    assert found is not None
    record: dict[str, Any] = json.loads(found.group(1))
    return record


def test_metrics_reach_the_collector_in_the_documented_shape() -> None:
    with world() as (w, _):
        fine = w.secret("m-fine").secret_id
        off = w.secret("m-off").secret_id
        with w.emu.client() as client:
            client.disable_auto_rotation(off)
        with CloudInsightClient(w.emu.credentials, endpoint=w.emu.cloud_insight_endpoint) as ci:
            schema = ci.create_schema("Custom/SecretRotator", FIELDS)
        w.watch = {"metrics": {"cwKey": schema.cw_key, "endpoint": w.emu.cloud_insight_endpoint}}
        result = w.run()
        assert result["ok"] and result["metrics"] == {"records": 3, "calls": 1}
        rows = [r.record for r in w.emu.cloud_insight.records("Custom/SecretRotator")]
        documented = _readme_record()
        assert all(set(row) == set(documented) for row in rows)
        fleet, *each = rows
        assert fleet["secretId"] == "_fleet" and fleet["fleet"] == w.trigger
        counted = (fleet["secrets"], fleet["ok"], fleet["auto_off"], fleet["attention"])
        assert counted == (2, 1, 1, 1)
        per = {row["secretId"]: row for row in each}
        assert per[fine]["ok"] == 1 and per[off]["auto_off"] == 1 and per[off]["attention"] == 1
        w.watch["metrics"] = {**w.watch["metrics"], "cwKey": "no-such-key", "perSecret": False}
        failed = w.run()
        assert failed["ok"] and [x["code"] for x in failed["warnings"]] == ["METRICS_FAILED"]
        assert "metrics" not in failed


def test_every_secret_the_key_sees_but_its_memory(ca: trustme.CA, ca_file: str) -> None:
    with world(ca=ca, ca_file=ca_file) as (w, box):
        assert box is not None
        member = w.secret("member").secret_id
        w.secret("outsider", auto=False, fleet=False)
        w.watch = {"scope": "all"}
        with w.emu.client() as client:
            client.disable_auto_rotation(member)
        first = w.run()
        assert first["secrets"] == 2 and first["new"] == 1  # the fleet member alone
        with w.emu.client() as client:
            names = [s.secret_name for s in client.iter_secrets()]
        assert "rotator-watch" in names  # the memory, made on the first change
        second = w.run()
        assert second["secrets"] == 2 and second["counts"] == {"auto rotation off": 2}
        assert second["needAttention"] == 1 and second["new"] == 0
        assert len(box.take()) == 1


def test_bad_settings_end_the_run_before_any_call(emu: Emulator) -> None:
    result = action.run(
        {"accessKey": "a", "secretKey": "b", "watch": {"trigger": "t", "scope": "some"}},
        {},
        lambda: 0,
    )
    assert result["ok"] is False and result["error"]["code"] == "WATCH_INVALID"
    assert "scope" in result["error"]["message"]
    missing = action.run({"watch": {"trigger": "t", "action": "a", "scope": "all"}}, {}, lambda: 0)
    assert missing["error"]["code"] == "MISSING_CREDENTIALS"
    assert sum(emu.stats.calls.values()) == 0


@pytest.mark.parametrize("unreadable", ["get_secret_detail", "get_trigger_list"])
def test_what_cannot_be_read_makes_the_run_incomplete(unreadable: str) -> None:
    with world() as (w, _):
        w.secret("alpha")
        w.emu.faults.add(unreadable, status=403, times=50)
        result = w.run()
        assert result["ok"] is False
        assert [x["code"] for x in result["warnings"]] == ["WATCH_INCOMPLETE"]
