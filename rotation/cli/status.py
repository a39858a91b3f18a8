"""``status``: the fleet at a glance, with an exit code a cron job or CI can act on.

One row per secret: status, rotation phase, last and next rotation, and a verdict:

    ok                 nothing to do
    rotating           a job is running, and has not been running for long
    failed             the last job failed (rotationPhase ROTATION_FAILED)      attention
    left running       a job has been running longer than --stale-after       attention
    overdue            auto rotation is on and the next rotation is past
                       (by more than --overdue-after)                          attention
    auto rotation off  the secret never rotates by itself      (attention with --require-auto)
    disabled           DISABLE, REVOKE or DESTROYED: not expected to rotate

The exit code is 1 when any secret needs attention, 0 otherwise. A job's age comes from
Secret Manager's log (when the job was raised), else from the secret's update date. The
default of 15 minutes for --stale-after is three times the longest Cloud Functions action
timeout (5 minutes): an action still running after that is not running any more.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

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
from rotation.cli.explain import SERVER_SLACK_MS, ActionRecords
from rotation.cli.joblog import LOG_WINDOW_MS, live_job, read_log
from rotation.display import iso_ms
from rotation.ncp.errors import NcpError
from rotation.ncp.models import RotationPhase, SecretDetail, SecretStatus
from rotation.ncp.secretmanager import SecretManagerClient

DESCRIPTION = """\
Every secret with its status, rotation phase, last and next rotation, and a verdict:

  ok                 nothing to do
  rotating           a job is running, not for long yet
  failed             the last job failed                               (attention)
  left running       a job has run longer than --stale-after           (attention)
  overdue            next rotation more than --overdue-after past      (attention)
  auto rotation off  never rotates by itself       (attention with --require-auto)
  disabled           DISABLE, REVOKE or DESTROYED

Exit code 1 when any secret needs attention, else 0: run it from cron or CI."""

MINUTE_MS = 60_000
DISABLED = frozenset({SecretStatus.DISABLE, SecretStatus.REVOKE, SecretStatus.DESTROYED})


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


def _live(
    client: SecretManagerClient, detail: SecretDetail, now_ms: int
) -> tuple[bool, int | None]:
    """``(a job is live, when it was raised)``: from the phase, and from the log, where a
    job raised and never started is the only trace (Start is what makes a secret ROTATING)."""
    try:
        entries = read_log(client, detail.secret_id, since_ms=now_ms - LOG_WINDOW_MS)
        job = live_job(entries, rotating=detail.rotating)
    except NcpError:
        job = None
    if job is not None and job.started is not None:
        return True, job.started
    return detail.rotating, detail.update_date if detail.rotating else None


class _ActionLookups:
    """Asks Cloud Functions whether a running job's action has already ended (a job left
    running is then known at once, not after --stale-after); stops at the first error."""

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        self.opts = opts
        self.out = out
        self.usable = True

    def ended(self, client: SecretManagerClient, detail: SecretDetail, since: int) -> str | None:
        with ActionRecords(client, lambda: functions_client(self.opts), detail, self.out.note) as r:
            found = r.latest(since, SERVER_SLACK_MS)
            self.usable = not r.failed
        return found.code if found is not None else None


def judge(
    detail: SecretDetail,
    now_ms: int,
    *,
    running: bool | None = None,
    job_started: int | None,
    overdue_after_ms: int,
    stale_after_ms: int,
    require_auto: bool,
) -> tuple[str, bool, str]:
    """``(verdict, needs attention, note)`` for one secret."""
    if detail.status in DISABLED:
        return "disabled", False, f"secret is {detail.status.value}"
    if detail.rotation_phase is RotationPhase.ROTATION_FAILED:
        return "failed", True, f"`history {detail.secret_id}` shows why, then `retry` it"
    if detail.rotating if running is None else running:
        return _running(detail, now_ms, job_started, stale_after_ms)
    if not detail.auto_rotation:
        return "auto rotation off", require_auto, f"`unpause {detail.secret_id}` turns it on"
    due = detail.next_rotation_date
    if due is not None and now_ms - due > overdue_after_ms:
        late = (now_ms - due) // MINUTE_MS
        return "overdue", True, f"next rotation was due {late} min ago"
    return "ok", False, ""


def _running(
    detail: SecretDetail, now_ms: int, job_started: int | None, stale_after_ms: int
) -> tuple[str, bool, str]:
    if job_started is not None and now_ms - job_started > stale_after_ms:
        minutes = (now_ms - job_started) // MINUTE_MS
        how = "running" if detail.rotating else "raised and never started"
        return "left running", True, f"{how} for {minutes} min: `resume {detail.secret_id}`"
    return "rotating", False, ""


def cmd_status(opts: argparse.Namespace, out: Output) -> int:
    now = epoch_ms()
    rows: list[Row] = []
    lookups = _ActionLookups(opts, out)
    with sm_client(opts) as client:
        ids = opts.secret_ids or [s.secret_id for s in client.iter_secrets()]
        for sid in ids:
            detail = client.get_secret(sid)
            running, started = _live(client, detail, now)
            verdict, attention, note = judge(
                detail,
                now,
                running=running,
                job_started=started,
                overdue_after_ms=opts.overdue_after * MINUTE_MS,
                stale_after_ms=opts.stale_after * MINUTE_MS,
                require_auto=opts.require_auto,
            )
            if verdict == "rotating" and started is not None and lookups.usable:
                ended = lookups.ended(client, detail, started)
                if ended is not None:
                    verdict, attention = "left running", True
                    note = f"the action ended ({ended}) but the job runs: `resume {sid}`"
            rows.append(
                Row(
                    secretId=detail.secret_id,
                    secretName=detail.secret_name,
                    secretStatus=detail.status.value,
                    rotationPhase=detail.rotation_phase.value,
                    autoRotation=detail.auto_rotation,
                    lastRotationDate=detail.last_rotation_date,
                    nextRotationDate=detail.next_rotation_date if detail.auto_rotation else None,
                    verdict=verdict,
                    attention=attention,
                    note=note,
                )
            )
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
