"""``status``: the fleet at a glance, with an exit code a cron job or CI can act on.

One row per secret: status, rotation phase, last and next rotation, and a verdict (the
rule is :func:`rotation.verdicts.judge`, which a watchdog shares):

    ok                 nothing to do
    rotating           a job is running, and has not been running for long
    failed             the last job failed (rotationPhase ROTATION_FAILED)      attention
    left running       a job has been running longer than --stale-after, or
                       its action already ended                                attention
    overdue            auto rotation is on and the next rotation is past
                       (by more than --overdue-after)                          attention
    warn               the last job's activation carried warnings              attention
    auto rotation off  the secret never rotates by itself      (attention with --require-auto)
    disabled           DISABLE, REVOKE or DESTROYED: not expected to rotate

The exit code is 1 when any secret needs attention, 0 otherwise. A job's age comes from
Secret Manager's log (when the job was raised), else from the secret's update date. The
default of 15 minutes for --stale-after is three times the longest Cloud Functions action
timeout (5 minutes): an action still running after that is not running any more.

What the action said about a job (the code it ended with, its warnings) comes from the
activation that carries the job's fingerprint (:mod:`rotation.cli.activations`), read once
per shared action for the whole fleet. When Cloud Functions cannot be read, the verdicts
are Secret Manager's alone and a note says so.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from rotation.cli.activations import JobActivations, JobResult
from rotation.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Output,
    bounded_int,
    epoch_ms,
    functions_client,
    secret_id,
    sm_client,
)
from rotation.cli.joblog import LOG_WINDOW_MS, Job, jobs_of, live_job, read_log
from rotation.display import iso_ms
from rotation.ncp.errors import NcpError
from rotation.ncp.models import SecretDetail
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.verdicts import MINUTE_MS, judge

__all__ = ["Row", "cmd_status", "judge", "register"]

DESCRIPTION = """\
Every secret with its status, rotation phase, last and next rotation, and a verdict:

  ok                 nothing to do
  rotating           a job is running, not for long yet
  failed             the last job failed                               (attention)
  left running       a job has run longer than --stale-after, or its
                     action already ended                              (attention)
  overdue            next rotation more than --overdue-after past      (attention)
  warn               the last job ended with warnings                  (attention)
  auto rotation off  never rotates by itself       (attention with --require-auto)
  disabled           DISABLE, REVOKE or DESTROYED

Exit code 1 when any secret needs attention, else 0: run it from cron or CI."""


@dataclass(frozen=True)
class Row:
    """One secret's line; the field names are the API's, for ``--json``."""

    secretId: str
    secretName: str
    secretStatus: str
    rotationPhase: str
    autoRotation: bool
    lastRotationDate: int | None
    nextRotationDate: int | None
    verdict: str
    attention: bool
    note: str = ""
    #: The newest job's fingerprint and the warning codes its activation carried
    #: (``None``: its activation was not read or not found).
    lastJob: str | None = None
    warnings: list[str] | None = None


@dataclass
class _Read:
    """What was read about one secret before judging it."""

    detail: SecretDetail
    running: bool
    started: int | None
    last: Job | None


def _read(client: SecretManagerClient, detail: SecretDetail, now_ms: int) -> _Read:
    """Whether a job is live and when it was raised (from the phase, and from the log,
    where a job raised and never started is the only trace: Start is what makes a secret
    ROTATING), and the newest job."""
    try:
        entries = read_log(client, detail.secret_id, since_ms=now_ms - LOG_WINDOW_MS)
    except NcpError:
        entries = []
    job = live_job(entries, rotating=detail.rotating)
    jobs = [r for r in jobs_of(entries) if isinstance(r, Job)]
    last = jobs[-1] if jobs else None
    if job is not None and job.started is not None:
        return _Read(detail, True, job.started, last)
    started = detail.update_date if detail.rotating else None
    return _Read(detail, detail.rotating, started, last)


def cmd_status(opts: argparse.Namespace, out: Output) -> int:
    now = epoch_ms()
    with sm_client(opts) as client:
        ids = opts.secret_ids or [s.secret_id for s in client.iter_secrets()]
        reads = [_read(client, client.get_secret(sid), now) for sid in ids]
        wanted = [
            (r.detail, {r.last.job: r.last.started})
            for r in reads
            if r.last is not None and r.detail.trigger is not None
        ]
        found: dict[str, JobResult] = {}
        if wanted:
            with JobActivations(client, lambda: functions_client(opts), out.note) as lookups:
                found = lookups.find(wanted)
            if lookups.failed:
                out.note("verdicts are Secret Manager's alone: no action codes or warnings")
    rows = [_row(r, found, now, opts) for r in reads]
    needing = sum(r.attention for r in rows)
    if opts.json:
        out.json({"secrets": [asdict(r) for r in rows], "needAttention": needing})
    else:
        _table(out, rows)
        out.write(
            f"{len(rows)} secret{'s' if len(rows) != 1 else ''}, "
            f"{needing} need{'s' if needing == 1 else ''} attention"
        )
    return EXIT_FAILED if needing else EXIT_OK


def _row(read: _Read, found: dict[str, JobResult], now: int, opts: argparse.Namespace) -> Row:
    detail, last = read.detail, read.last
    record = found.get(last.job) if last is not None else None
    warnings = [w["code"] for w in record.warnings] if record is not None else None
    # The newest job's activation ended with a code while the job still runs: it was left.
    ended = record.code if record is not None and read.running else None
    verdict = judge(
        detail,
        now,
        running=read.running,
        job_started=read.started,
        overdue_after_ms=opts.overdue_after * MINUTE_MS,
        stale_after_ms=opts.stale_after * MINUTE_MS,
        require_auto=opts.require_auto,
        action_ended=ended,
        warnings=warnings or (),
        job=last.job if last is not None else None,
    )
    return Row(
        secretId=detail.secret_id,
        secretName=detail.secret_name,
        secretStatus=detail.status.value,
        rotationPhase=detail.rotation_phase.value,
        autoRotation=detail.auto_rotation,
        lastRotationDate=detail.last_rotation_date,
        nextRotationDate=detail.next_rotation_date if detail.auto_rotation else None,
        verdict=verdict.verdict,
        attention=verdict.attention,
        note=verdict.note,
        lastJob=last.job if last is not None else None,
        warnings=warnings,
    )


def _table(out: Output, rows: list[Row]) -> None:
    header = ("NAME", "ID", "STATUS", "PHASE", "LAST ROTATION", "NEXT ROTATION", "VERDICT")
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        verdict = r.verdict
        lines.append(
            (
                r.secretName,
                r.secretId,
                r.secretStatus,
                r.rotationPhase,
                iso_ms(r.lastRotationDate),
                iso_ms(r.nextRotationDate),
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.write("  ".join([*cells, line[-1]]))
    for r in rows:
        if r.attention and r.note:
            out.write(f"{r.secretName}: {r.verdict}: {r.note}")


def register(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="every secret's rotation state and a verdict; exit 1 if any needs attention",
        description=DESCRIPTION,
    )
    status.add_argument(
        "secret_ids", nargs="*", type=secret_id, metavar="SECRET_ID",
        help="only these secrets (default: every secret)",
    )  # fmt: skip
    status.add_argument(
        "--overdue-after", type=bounded_int(0, 525_600, "minutes"), default=60, metavar="MIN",
        help="minutes past nextRotationDate before a secret counts as overdue (default 60)",
    )  # fmt: skip
    status.add_argument(
        "--stale-after", type=bounded_int(1, 525_600, "minutes"), default=15, metavar="MIN",
        help="minutes a job may run before it counts as left running (default 15)",
    )  # fmt: skip
    status.add_argument(
        "--require-auto", action="store_true",
        help="count secrets with auto rotation off as needing attention",
    )  # fmt: skip
    status.add_argument("--json", action="store_true", help="print the rows as JSON")
    status.set_defaults(handler=cmd_status)
