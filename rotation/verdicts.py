"""A secret's verdict: does it need a look, and why. One rule, pure, for every reader.

``python -m rotation status`` prints it for the fleet and exits 1 when any secret needs
attention; a watchdog that alerts on the same question must reach the same answer, so the
rule lives here, apart from the CLI: it takes what was read (the secret's detail, what
Secret Manager's log and the action's activations say about the newest job) and decides,
calling nothing.

    ok                 nothing to do
    rotating           a job is running, and has not been running for long
    failed             the last job failed (rotationPhase ROTATION_FAILED)      attention
    left running       a job has been running longer than the stale limit, or
                       its action already ended with a code                    attention
    overdue            auto rotation is on and the next rotation is past
                       (by more than the overdue limit)                        attention
    warn               the last job's activation carried warnings (the
                       rotation ended, but something needs a look)             attention
    auto rotation off  the secret never rotates by itself     (attention when required)
    disabled           DISABLE, REVOKE or DESTROYED: not expected to rotate

``warn`` stays until a later job ends without warnings: fix the cause, then rotate again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rotation import codes
from rotation.ncp.models import RotationPhase, SecretDetail, SecretStatus

MINUTE_MS = 60_000
DISABLED = frozenset({SecretStatus.DISABLE, SecretStatus.REVOKE, SecretStatus.DESTROYED})


class Verdict(NamedTuple):
    verdict: str
    attention: bool
    note: str


def judge(
    detail: SecretDetail,
    now_ms: int,
    *,
    running: bool | None = None,
    job_started: int | None,
    overdue_after_ms: int,
    stale_after_ms: int,
    require_auto: bool,
    action_ended: str | None = None,
    warnings: Sequence[str] = (),
    job: str | None = None,
) -> Verdict:
    """The verdict for one secret.

    ``running``: a job is live (default: the secret's phase says so); ``job_started``:
    when it was raised. ``action_ended``: the code a finished activation of that running
    job returned (its action ended, yet the job runs). ``warnings``: the warning codes the
    newest job's activation carried; ``job``: that job's fingerprint, for the note.
    """
    if detail.status in DISABLED:
        return Verdict("disabled", False, f"secret is {detail.status.value}")
    if detail.rotation_phase is RotationPhase.ROTATION_FAILED:
        return Verdict("failed", True, f"`history {detail.secret_id}` shows why, then `retry` it")
    if detail.rotating if running is None else running:
        return _running(detail, now_ms, job_started, stale_after_ms, action_ended)
    return _settled(
        detail, now_ms, overdue_after_ms=overdue_after_ms, require_auto=require_auto,
        warnings=warnings, job=job,
    )  # fmt: skip


def _settled(
    detail: SecretDetail,
    now_ms: int,
    *,
    overdue_after_ms: int,
    require_auto: bool,
    warnings: Sequence[str],
    job: str | None,
) -> Verdict:
    """No job runs: is the schedule kept, and did the last job end cleanly?"""
    sid = detail.secret_id
    due = detail.next_rotation_date
    if detail.auto_rotation and due is not None and now_ms - due > overdue_after_ms:
        late = (now_ms - due) // MINUTE_MS
        return Verdict("overdue", True, f"next rotation was due {late} min ago")
    if warnings:
        which = ", ".join(dict.fromkeys(warnings))
        advice = codes.advice(warnings[0]).replace("SECRET_ID", sid)
        return Verdict(
            "warn", True, f"the last job ({job or '-'}) warned {which}: {advice}; "
            f"`history {sid}` shows it"
        )  # fmt: skip
    if not detail.auto_rotation:
        return Verdict("auto rotation off", require_auto, f"`unpause {sid}` turns it on")
    return Verdict("ok", False, "")


def _running(
    detail: SecretDetail,
    now_ms: int,
    job_started: int | None,
    stale_after_ms: int,
    action_ended: str | None,
) -> Verdict:
    """A job is live: for how long, and is its action still at it?"""
    if action_ended is not None:
        return Verdict(
            "left running", True, f"the action ended ({action_ended}) but the job runs: "
            f"`resume {detail.secret_id}`"
        )  # fmt: skip
    if job_started is not None and now_ms - job_started > stale_after_ms:
        minutes = (now_ms - job_started) // MINUTE_MS
        how = "running" if detail.rotating else "raised and never started"
        return Verdict(
            "left running", True, f"{how} for {minutes} min: `resume {detail.secret_id}`"
        )
    return Verdict("rotating", False, "")
