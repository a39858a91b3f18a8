"""A new operator's day (``reliability/day.py``, issue 17), in its short mode: four secrets
on one trigger, deploy, failures on purpose, fixes, retry, resume, pause through a redeploy,
alerts at an HTTPS receiver, all through the user-facing commands on the emulator and the
machine's real databases. Every check of the day must pass: what history, status, check,
rotate and the alerts told the operator agrees with what happened."""

from __future__ import annotations

import io

import pytest

from reliability.day import run_day
from reliability.servers import ServerUnavailable
from tests.databases import unavailable
from tests.leaks import LeakGuard

pytestmark = pytest.mark.e2e


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
    failed = [f"{v}\n    " + "\n    ".join(v.details) for v in result.verdicts if not v.passed]
    assert not failed, "\n".join(failed) + "\n\n" + out.getvalue()
