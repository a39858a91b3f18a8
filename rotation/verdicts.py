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


# -- what only the watchdog looks at (rotation/watch/) -----------------------------------------
#
# The verdicts above judge a secret by its own state. The watchdog also judges what that
# state cannot show: whether the secret is still linked to the trigger that rotates it,
# whether the trigger's action still exists, and, for a secret rotated inside a window
# (auto rotation off on purpose), whether a window went by while it was due.
#
#     unlinked           the configuration says it rotates, but it has no trigger
#                        or another one                                        attention
#     action missing     the trigger runs no action, or one that is gone         attention
#     schedule on        a windowed secret whose auto rotation is on: Secret
#                        Manager rotates it outside its window                   attention
#     overdue            (windowed) due, and a whole window went by without a
#                        rotation (by more than the overdue limit)             attention
#     waiting            (windowed) due, its next window has not closed yet

UNLINKED = "unlinked"
ACTION_MISSING = "action missing"
SCHEDULE_ON = "schedule on"
WAITING = "waiting"


def linkage(detail: SecretDetail, trigger_id: str | None, trigger_name: str) -> Verdict | None:
    """``unlinked`` when a secret the configuration rotates is not on its trigger
    (``trigger_id``: the trigger's Secret Manager id; ``None``: the trigger is gone)."""
    if detail.status in DISABLED:
        return None
    linked = detail.trigger
    if linked is not None and trigger_id is not None and linked.id == trigger_id:
        return None
    where = (
        f"linked to another trigger ({linked.name or linked.id})"
        if linked is not None
        else "linked to no trigger"
    )
    return Verdict(
        UNLINKED, True, f"{where}, not {trigger_name}: nothing rotates it; `python -m deploy` "
        "links it again"
    )  # fmt: skip


def trigger_actions(trigger_name: str, listed: Sequence[str], missing: Sequence[str]) -> Verdict:
    """``action missing`` when the trigger runs no action or names one that is gone (the
    names the trigger lists, and those of them Cloud Functions no longer has); else ok."""
    if not listed:
        return Verdict(
            ACTION_MISSING, True, f"trigger {trigger_name} runs no action: every job it raises "
            "waits for ever; `python -m deploy` links the action"
        )  # fmt: skip
    if missing:
        return Verdict(
            ACTION_MISSING, True, f"trigger {trigger_name} runs {', '.join(missing)}, which "
            "Cloud Functions no longer has: `python -m deploy` puts it back"
        )  # fmt: skip
    return Verdict("ok", False, "")


def judge_windowed(
    detail: SecretDetail,
    now_ms: int,
    *,
    due_ms: int | None,
    missed_close_ms: int | None,
    running: bool | None = None,
    job_started: int | None,
    overdue_after_ms: int,
    stale_after_ms: int,
    window: str,
) -> Verdict:
    """The verdict of a secret rotated inside a window (Secret Manager's schedule off on
    purpose, so ``auto rotation off`` is its normal state).

    ``due_ms``: when its period ran out (from the last rotation, else its registration);
    ``missed_close_ms``: when the first window open at or after that instant closed (or
    closes). Overdue once that close is more than ``overdue_after_ms`` past with no
    rotation; a failed or running job is judged as :func:`judge` judges it."""
    base = judge(
        detail, now_ms, running=running, job_started=job_started,
        overdue_after_ms=overdue_after_ms, stale_after_ms=stale_after_ms, require_auto=False,
    )  # fmt: skip
    if base.verdict not in ("ok", "auto rotation off", "overdue", "warn"):
        return base  # disabled, failed, left running, rotating
    if detail.auto_rotation:
        return Verdict(
            SCHEDULE_ON, True, f"auto rotation is on, so Secret Manager rotates it outside its "
            f"window ({window}): `python -m deploy` turns it off"
        )  # fmt: skip
    if due_ms is None or now_ms < due_ms:
        return Verdict("ok", False, "")
    if missed_close_ms is not None and now_ms - missed_close_ms > overdue_after_ms:
        late = (now_ms - due_ms) // MINUTE_MS
        return Verdict(
            "overdue", True, f"due {late} min ago and its window ({window}) went by without "
            f"a rotation: `history {detail.secret_id}` shows why"
        )  # fmt: skip
    return Verdict(WAITING, False, f"due; rotates in its next window ({window})")
