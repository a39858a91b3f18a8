"""How a failed run leaves the job: one decision from two explicit values.

A rotation that fails must choose how the job ends, and the invariant (DESIGN.md) decides
it from two things only: how the job stands (:class:`JobState`) and what the target may
hold besides the stored active value (:class:`Holds`). Everything else (a code, a message)
is reported, not decided on. :func:`decide` is that rule, written once, so the workflow
never reads flags set elsewhere and a test can walk every pair.

Fail is never sent while the target may hold a pending value that is stored nowhere else:
NCP documents neither that Fail Rotation Job keeps the pending stage nor that it discards
it (https://api.ncloud-docs.com/docs/secretmanager-fail-rotation-job.md), so the strict
reading is that it may discard it, and then a single-user target would hold a password
stored nowhere.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """How the job stands, as far as this run knows."""

    #: ``start`` has not been sent: the chain is unread.
    NOT_STARTED = "not-started"
    #: ``start`` failed without a definite answer (5xx, lost, throttled, refused key):
    #: whether the job started is unknown, and so is the chain.
    START_UNKNOWN = "start-unknown"
    #: ``start`` was refused with a 4xx other than 401/403. Not proof that no job runs: a
    #: lost ``start`` retried by the client is refused too, and NCP documents no status
    #: for a dead token. The detail and the chain must say how the job stands.
    REFUSED = "refused"
    #: ``start`` answered: the job is ours and its chain was read.
    STARTED = "started"


class Holds(StrEnum):
    """What the target may hold besides the stored active value."""

    #: The chain is not read yet: an earlier run may have left its pending value on it.
    UNREAD = "unread"
    #: Only the stored active value (no earlier pending value, and this run changed nothing).
    ACTIVE = "active"
    #: An earlier run's pending value, stored as pending, that the target was not asked about.
    EARLIER_PENDING = "earlier-pending"
    #: A pending value: this run tried ``set``, or the target accepted an earlier one.
    PENDING = "pending"
    #: Unknown: the target refused the stored credentials before this run changed anything,
    #: so someone else did (another invocation of the job may have set its pending value).
    UNKNOWN = "unknown"


class Exit(StrEnum):
    """The ways a failed run ends the job."""

    #: Send ``start`` to read the chain (and to have a job to end), then decide again.
    START = "start"
    #: End the job with ``fail``: the target holds the stored active value only.
    FAIL = "fail"
    #: Read the chain, converge forward or roll back, read again, then ``fail``.
    RECOVER = "recover"
    #: Leave the job running with ``leftForRetry`` and the reason: a resume finishes it.
    LEAVE = "leave"
    #: Read the chain (Get Secret Value) to learn whether an earlier pending value exists,
    #: then decide again; unreadable, leave the job running.
    READ = "read"
    #: ``start`` was refused: read whether the secret is rotating and its chain, then end
    #: the job (``fail``, accepted only for this job's token) or report it left running.
    INSPECT = "inspect"


def decide(job: JobState, holds: Holds) -> Exit:
    """The one exit rule of a failed run.

    * Before ``start``: start, so the chain says whether an earlier pending value exists.
    * ``start`` refused (4xx): find out whether a job runs before saying there is none.
    * ``start`` unanswered: read the chain another way (Get Secret Value); no earlier
      pending value, ``fail``; one, or the chain unreadable too (Secret Manager cannot be
      reached), leave the job running: failing it could discard that value.
    * Started, the target holds active only: ``fail``.
    * Started, this run may have put pending on the target: recover (never blind). The
      same when the target refused the stored credentials before this run changed
      anything: recovery reads the chain to learn whether another invocation's pending
      value may be on it.
    * Started, an earlier pending value the target was not asked about (or the chain still
      unread): leave it running; a resume probes it.
    """
    if job is JobState.NOT_STARTED:
        return Exit.START
    if job is JobState.REFUSED:
        return Exit.INSPECT
    if job is JobState.START_UNKNOWN and holds is Holds.UNREAD:
        return Exit.READ
    if holds is Holds.ACTIVE:
        return Exit.FAIL
    if holds in (Holds.PENDING, Holds.UNKNOWN) and job is JobState.STARTED:
        return Exit.RECOVER
    return Exit.LEAVE


def leave_reason(job: JobState, holds: Holds) -> str:
    """What ``leftForRetryReason`` says when :func:`decide` leaves the job running."""
    if holds is Holds.UNREAD:
        return (
            "Secret Manager could not be read (neither start nor the chain answered), and an "
            "earlier run's pending value may be on the target: the job is kept for a resume"
        )
    if holds is Holds.EARLIER_PENDING:
        return (
            "an earlier run's pending value may be on the target, which could not be asked; "
            "the job keeps it stored as pending"
        )
    return "the chain could not be read, so the target's state is unknown"


__all__ = ["Exit", "Holds", "JobState", "decide", "leave_reason"]
