"""One advice per code, and no two pieces of advice that contradict each other (issue 17:
``retry`` said "do not cancel the job", then the next refusal suggested ``cancel``).

Every code's advice is read for each way a job can stand, and every advice the CLI's
refusals give for a job's state; each is checked for the commands it suggests against
the commands that state allows. tests/e2e/test_cli_advice.py does the same over the
real outputs of a day's commands."""

from __future__ import annotations

import re

import pytest

from rotation import codes
from rotation.cli import advice

SID = "9" * 64

#: A command suggested: ``python -m rotation <cmd>`` or a backticked ``<cmd> ...``.
_SUGGESTED = re.compile(r"(?:python -m rotation |`)(rotate|retry|resume|cancel|rollback)\b")
_NEGATED = re.compile(r"(?:do not|never) (?:`?(?:python -m rotation )?)(cancel|retry|rotate)\b")


def suggested(text: str) -> set[str]:
    """The commands ``text`` tells the operator to run (not those it tells them not to)."""
    told_not = {m.group(1) for m in _NEGATED.finditer(text)}
    return {m.group(1) for m in _SUGGESTED.finditer(text)} - told_not


#: What each state of a job allows: a running job (it may hold a pending value that only
#: a resume completes) is resumed; a failed job is retried; Secret Manager refuses the rest.
FORBIDDEN = {
    "running": {"retry", "rotate", "cancel", "rollback"},
    "failed": {"resume", "cancel"},
}


def test_suggested_reads_commands_and_their_negation() -> None:
    text = "python -m rotation resume X (runs ...); do not cancel the job"
    assert suggested(text) == {"resume"}
    assert suggested("`cancel X` ends it; `resume X`") == {"cancel", "resume"}


#: Parameters the action cannot read never reach a job, so they never fail one.
STATES = [
    (code, job)
    for code in sorted(codes.CODES)
    for job in ("running", "failed")
    if not (job == "failed" and codes.CODES[code].group == "parameters")
]


@pytest.mark.parametrize(("code", "job"), STATES)
def test_no_code_advises_what_the_job_state_forbids(code: str, job: str) -> None:
    text = codes.advice(code, job)
    assert not suggested(text) & FORBIDDEN[job], (code, job, text)
    if job == "running" and codes.CODES[code].group not in ("warning",):
        assert "resume" in suggested(text) and "do not cancel the job" in text, text


@pytest.mark.parametrize("code", sorted(codes.CODES))
def test_every_advice_is_self_consistent_and_complete(code: str) -> None:
    for job in (None, "running", "failed", "ended", "unknown"):
        text = codes.advice(code, job)
        assert text, code
        if "do not cancel" in text:
            assert "cancel" not in suggested(text), text
        # one way to say retry: the whole command, so it can become resume where it must
        assert not re.search(r"then retry\b", text), text
        assert not ({"retry", "resume"} <= suggested(text)), text


def test_the_cli_uses_the_registry_for_a_code() -> None:
    for code in codes.CODES:
        assert advice.advice_for(code) == codes.CODES[code].action
        assert advice.advice_for(code, "running") == codes.advice(code, "running")
    # the action's left-running advice is the registry's ROTATION_INCOMPLETE text
    assert advice.running_job(SID, pending_stored=True) == advice.for_secret(
        codes.CODES[codes.ROTATION_INCOMPLETE].action, SID
    )


def test_job_state_advice_offers_cancel_only_without_a_pending_value() -> None:
    for stored in (True, None):
        text = advice.running_job(SID, pending_stored=stored)
        assert suggested(text) == {"resume"} and "do not cancel the job" in text
        assert SID in text and "SECRET_ID" not in text
    free = advice.running_job(SID, pending_stored=False)
    assert suggested(free) == {"resume", "cancel"} and "no pending value is stored" in free
    assert suggested(advice.failed_job(SID)) == {"retry"}
    assert suggested(advice.no_job(SID)) == {"rotate"}


def test_a_job_left_running_is_resumed_whatever_the_code() -> None:
    """API_UNAVAILABLE can end with the job failed or left running (Secret Manager could
    not be reached to fail it): the advice follows the job, not only the code."""
    assert "retry" in suggested(codes.advice(codes.API_UNAVAILABLE, "failed"))
    running = codes.advice(codes.API_UNAVAILABLE, "running")
    assert running.startswith("check the route out of the action's VPC (NAT Gateway)")
    assert suggested(running) == {"resume"}
    # a failed job cannot be resumed, even where the code's usual advice is resume
    assert suggested(codes.advice(codes.INTERNAL_ERROR, "failed")) == {"retry"}
