"""The CLI's readings: Secret Manager's log as jobs, a secret's verdict, an action log line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rotation import logs
from rotation.cli.activations import carried_job, warnings_of
from rotation.cli.explain import render_line
from rotation.cli.joblog import Job, Rollback, jobs_of, parse_entry, running_job
from rotation.cli.status import judge
from rotation.ncp.cloudfunctions_models import Activation
from rotation.ncp.models import SecretDetail

TOKEN_A = "tokenAAAAAAAAAAAAAAAAAAAAAAA"
TOKEN_B = "tokenBBBBBBBBBBBBBBBBBBBBBBB"
MIN = 60_000


def test_entries_are_read_under_other_plausible_field_names() -> None:
    entry = parse_entry(
        {
            "createdDate": "1700000000000",
            "type": "SCHEDULE_ROTATION",
            "description": "raised",
            "token": TOKEN_A,
        }
    )
    assert entry.when == 1_700_000_000_000
    assert entry.action == "SCHEDULE_ROTATION" and entry.message == "raised"
    assert entry.job == logs.fingerprint(TOKEN_A)
    assert TOKEN_A in logs.REDACTOR.values()  # a token read is a token registered
    odd = parse_entry({"something": "else"})
    assert odd.when is None and odd.action == "-" and odd.token is None


def _entry(when: int, action: str, token: str | None = None) -> Any:
    raw: dict[str, Any] = {"timestamp": when, "actionType": action, "message": action.lower()}
    if token:
        raw["jobToken"] = token
    return parse_entry(raw)


def test_jobs_are_grouped_by_token_with_their_outcome() -> None:
    entries = [
        _entry(1, "EXECUTE_ROTATION", TOKEN_A),
        _entry(2, "START_ROTATION_JOB", TOKEN_A),
        _entry(3, "FAIL_ROTATION_JOB", TOKEN_A),
        _entry(4, "UPDATE_SECRET_VALUE"),
        _entry(5, "ROLLBACK_ROTATION"),
        _entry(6, "RETRY_ROTATION", TOKEN_B),
        _entry(7, "START_ROTATION_JOB", TOKEN_B),
    ]
    rows = jobs_of(entries)
    assert [type(r) for r in rows] == [Job, Rollback, Job]
    first, _, second = rows
    assert isinstance(first, Job) and isinstance(second, Job)
    assert (first.triggered, first.outcome, first.ended) == ("manual", "failed", 3)
    assert (second.triggered, second.outcome) == ("retry", "running")
    assert running_job(entries) == second
    assert running_job([*entries, _entry(8, "COMPLETE_ROTATION_JOB", TOKEN_B)]) is None


def test_an_older_job_without_an_end_is_not_called_running() -> None:
    rows = jobs_of(
        [_entry(1, "SCHEDULE_ROTATION", TOKEN_A), _entry(2, "EXECUTE_ROTATION", TOKEN_B)]
    )
    assert [r.outcome for r in rows if isinstance(r, Job)] == ["no outcome logged", "running"]
    assert [r.triggered for r in rows if isinstance(r, Job)] == ["scheduled", "manual"]


def _detail(**fields: Any) -> SecretDetail:
    base = {
        "secretId": "s1",
        "secretName": "app",
        "secretStatus": "ENABLE",
        "autoRotationYN": "Y",
        "autoRotationPeriod": 30,
        "rotationPhase": "NONE",
    }
    return SecretDetail.from_api({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "started", "verdict", "attention"),
    [
        ({"nextRotationDate": 100 * MIN}, None, "ok", False),
        ({"nextRotationDate": 10 * MIN}, None, "overdue", True),
        ({"nextRotationDate": 50 * MIN}, None, "ok", False),  # within the 60 min grace
        ({"rotationPhase": "ROTATION_FAILED"}, None, "failed", True),
        ({"rotationPhase": "ROTATING", "secretStatus": "ROTATING"}, 95 * MIN, "rotating", False),
        ({"rotationPhase": "ROTATING", "secretStatus": "ROTATING"}, 60 * MIN, "left running", True),
        ({"autoRotationYN": "N"}, None, "auto rotation off", False),
        ({"secretStatus": "DISABLE", "rotationPhase": "ROTATION_FAILED"}, None, "disabled", False),
    ],
)
def test_verdicts(
    fields: dict[str, Any], started: int | None, verdict: str, attention: bool
) -> None:
    got, needs, _note = judge(
        _detail(**fields),
        100 * MIN,
        job_started=started,
        overdue_after_ms=60 * MIN,
        stale_after_ms=15 * MIN,
        require_auto=False,
    )
    assert (got, needs) == (verdict, attention)


def test_require_auto_makes_a_manual_secret_need_attention() -> None:
    _, needs, note = judge(
        _detail(autoRotationYN="N"),
        0,
        job_started=None,
        overdue_after_ms=0,
        stale_after_ms=MIN,
        require_auto=True,
    )
    assert needs and "unpause s1" in note


AUTH = "TARGET_AUTH_NOT_ENFORCED"


@pytest.mark.parametrize(
    ("fields", "warnings", "ended", "verdict", "attention"),
    [
        ({"nextRotationDate": 100 * MIN}, [AUTH], None, "warn", True),
        ({"autoRotationYN": "N"}, [AUTH], None, "warn", True),  # a manual rotation warned
        ({"nextRotationDate": 10 * MIN}, [AUTH], None, "overdue", True),
        ({"rotationPhase": "ROTATION_FAILED"}, [AUTH], None, "failed", True),
        ({"secretStatus": "DISABLE"}, [AUTH], None, "disabled", False),
        ({"nextRotationDate": 100 * MIN}, [], None, "ok", False),  # a later clean job clears it
        ({"rotationPhase": "ROTATING", "secretStatus": "ROTATING"}, [], "ROTATION_INCOMPLETE",
         "left running", True),
        ({"rotationPhase": "ROTATING", "secretStatus": "ROTATING"}, [AUTH], None, "rotating",
         False),
    ],
)  # fmt: skip
def test_verdicts_from_the_last_jobs_activation(
    fields: dict[str, Any], warnings: list[str], ended: str | None, verdict: str, attention: bool
) -> None:
    got = judge(
        _detail(**fields),
        100 * MIN,
        job_started=99 * MIN,
        overdue_after_ms=60 * MIN,
        stale_after_ms=15 * MIN,
        require_auto=False,
        action_ended=ended,
        warnings=warnings,
        job="0123456789ab",
    )
    assert (got.verdict, got.attention) == (verdict, attention)
    if verdict == "warn":
        assert "(0123456789ab) warned TARGET_AUTH_NOT_ENFORCED" in got.note
        assert "require password authentication" in got.note and "history s1" in got.note
    if verdict == "left running":
        assert "ROTATION_INCOMPLETE" in got.note and "resume s1" in got.note


def _activation(result: dict[str, Any] | None, log_lines: tuple[str, ...] = ()) -> Activation:
    return Activation(activation_id="a1", result=result, logs=log_lines, status="success")


def test_an_activation_names_its_job_by_the_fingerprint_it_carries() -> None:
    fp = logs.fingerprint(TOKEN_A)
    assert carried_job(_activation({"ok": True, "jobFingerprint": fp})) == fp
    # An action that does not return it (older, or crashed before its result) still logs it.
    line = json.dumps({"event": "rotation.begin", "job": fp, "secret_id": "s1"})
    assert carried_job(_activation({"ok": False}, ("plain text", f"2026Z stdout: {line}"))) == fp
    assert carried_job(_activation({"ok": True, "jobFingerprint": TOKEN_A})) is None  # not one
    assert carried_job(_activation({"ok": True}, ('{"job": "completed"}', "{broken"))) is None


def test_warnings_are_read_leniently() -> None:
    result = {"warnings": [{"code": AUTH, "message": "m"}, "RECONCILED", {"message": "x"}, 7]}
    assert warnings_of(result) == [
        {"code": AUTH, "message": "m"},
        {"code": "RECONCILED", "message": ""},
    ]
    assert warnings_of({"warnings": "odd"}) == warnings_of(None) == []


def test_action_log_lines_are_shortened_and_others_kept() -> None:
    line = json.dumps(
        {
            "event": "target.probe",
            "status": "error",
            "step": "probe",
            "error_message": "could not connect",
            "timestamp": "2026-01-02T03:04:05Z",
            "secret_id": "s1",
        }
    )
    shown = render_line(f"2026-01-02T03:04:05.1Z stdout: {line}")
    assert shown == (
        "03:04:05 target.probe status=error step=probe error_message=could not connect"
    )
    assert render_line("plain text from the runtime") == "plain text from the runtime"
    assert render_line("{not json") == "{not json"
