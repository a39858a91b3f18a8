"""A new operator's day (``reliability/day.py``, issue 17), in its short mode: four secrets
on one trigger, deploy, failures on purpose, fixes, retry, resume, pause through a redeploy,
alerts at an HTTPS receiver, all through the user-facing commands on the emulator and the
machine's real databases. Every check of the day must pass: what history, status, check,
rotate and the alerts told the operator agrees with what happened.

First, so that a pass means something, the day's own checks are shown to fail on what they
exist to catch: the record of the very same day with one thing the operator read made
false (a history line's code, a lost warning, a status verdict, a check that passed, an
alert lost, advice that offers cancel, a secret value in an output).
"""

from __future__ import annotations

import copy
import dataclasses
import io
from collections.abc import Callable

import pytest

from reliability import day_checks as checks
from reliability.day import DayResult, run_day
from reliability.day_record import DayRecord
from reliability.servers import ServerUnavailable
from tests.databases import unavailable
from tests.leaks import LeakGuard

pytestmark = pytest.mark.e2e

WARNED = "TARGET_AUTH_NOT_ENFORCED"


def _caught(result: DayResult, mutate: Callable[[DayRecord], None], check: str) -> bool:
    """Does ``check`` fail on the day's record once ``mutate`` has made it false?"""
    record = copy.deepcopy(result.record)
    mutate(record)
    facts = checks.gather(result.world, record)
    verdict = {
        "history": lambda: checks.history_names_its_own_job(facts),
        "warnings": lambda: checks.warnings_reach_everything(facts),
        "check": lambda: checks.check_agrees_with_the_action(facts),
        "agree": lambda: checks.messages_agree(facts, result.term.runs),
    }[check]()
    return not verdict.passed


def _history_code(record: DayRecord) -> None:
    for index, (name, ran, jobs) in enumerate(record.histories):
        if "TARGET_UNREACHABLE" in ran.stdout:
            wrong = ran.stdout.replace("TARGET_UNREACHABLE", "TARGET_LOGIN_REFUSED")
            record.histories[index] = (name, dataclasses.replace(ran, stdout=wrong), jobs)
            return
    raise AssertionError("no history showed TARGET_UNREACHABLE")


def _warned(record: DayRecord) -> int:
    return next(i for i, step in enumerate(record.jobs) if step.expect.warnings)


def _history_warning(record: DayRecord) -> None:
    step = record.jobs[_warned(record)]
    assert step.history is not None
    step.history = dataclasses.replace(
        step.history, stdout=step.history.stdout.replace(WARNED, "-")
    )


def _status_ok(record: DayRecord) -> None:
    step = record.jobs[_warned(record)]
    assert step.status is not None
    step.status = dataclasses.replace(
        step.status, stdout=step.status.stdout.replace(" warn\n", " ok\n")
    )


def _check_passed(record: DayRecord) -> None:
    step = next(s for s in record.jobs if s.check is not None and s.check.code == 1)
    assert step.check is not None
    step.check = dataclasses.replace(step.check, code=0)


def _cancel_offered(record: DayRecord) -> None:
    step = next(s for s in record.jobs if s.shown.code == "ROTATION_INCOMPLETE")
    step.shown.advice = "python -m rotation cancel SECRET_ID"


def test_the_day_tells_the_operator_the_truth(leak_guard: LeakGuard) -> None:
    out = io.StringIO()
    try:
        result = run_day(short=True, out=out)
    except ServerUnavailable as exc:
        unavailable("a server the day needs", str(exc))
    for where, text in result.texts:
        leak_guard.observe(where, text)
    assert len(result.verdicts) == 11, [v.name for v in result.verdicts]
    assert len(result.record.jobs) == 14 and len(result.record.deploys) == 3

    mutations = {
        "a history line with another job's code": (_history_code, "history"),
        "a warning missing from history": (_history_warning, "warnings"),
        "status ok after a warning": (_status_ok, "agree"),
        "check passing before a failed job": (_check_passed, "check"),
        "cancel offered for a job left running": (_cancel_offered, "agree"),
    }
    missed = [name for name, (mutate, check) in mutations.items()
              if not _caught(result, mutate, check)]  # fmt: skip
    alerts = list(result.world.inbox.alerts)
    result.world.inbox.alerts[:] = [a for a in alerts if not a.payload.get("warnings")]
    if checks.alerts_stand_alone(checks.gather(result.world, result.record)).passed:
        missed.append("the warning's alert lost")
    result.world.inbox.alerts[:] = alerts
    leaked = checks.find_leaks([("out", "x " + result.world.fleet.passwords["day-pg"])],
                               result.world.secret_values())  # fmt: skip
    if not leaked:
        missed.append("a secret value in an output")
    assert not missed, f"the day's checks did not catch: {missed}"

    failed = [f"{v}\n    " + "\n    ".join(v.details) for v in result.verdicts if not v.passed]
    assert not failed, "\n".join(failed) + "\n\n" + out.getvalue()
