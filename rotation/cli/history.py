"""``history SECRET_ID``: the secret's rotation jobs, newest first.

From Get Secret Logs: when each job was raised, how (scheduled, manual, retry), how it
ended (completed, failed, cancelled, running), and its fingerprint; rollbacks are rows too.
The result code comes from the action's activations (Cloud Functions), matched to a job by
time, when they can be read; Secret Manager itself does not know why a job failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from rotation.cli.common import (
    EXIT_OK,
    Output,
    bounded_int,
    epoch_ms,
    functions_client,
    secret_id,
    sm_client,
)
from rotation.cli.explain import CLOCK_SLACK_MS, ActionRecords
from rotation.cli.joblog import Job, Rollback, jobs_of, read_log
from rotation.display import iso_ms

DESCRIPTION = """\
The secret's rotation history, newest first: when each job was raised, how it was
triggered (scheduled, manual, retry), how it ended (completed, failed, cancelled,
running) and the action's result code where Cloud Functions keeps it. Jobs are shown by
their fingerprint, the "job" field of the action's own log lines, never by their token."""


def match_codes(
    jobs: list[Job], results: list[tuple[int, Mapping[str, Any]]], now_ms: int
) -> dict[str, str | None]:
    """Each job's result code: the unused activation that started within the job's span
    (with slack for clock differences) and closest to when the job was raised."""
    codes: dict[str, str | None] = {}
    unused = list(results)
    for job in sorted(jobs, key=lambda j: j.started or 0):
        started = job.started
        if started is None:
            continue
        low, high = started - CLOCK_SLACK_MS, (job.ended or now_ms) + CLOCK_SLACK_MS
        inside = [pair for pair in unused if low <= pair[0] <= high]
        if not inside:
            continue
        best = min(inside, key=lambda pair: abs(pair[0] - started))
        unused.remove(best)
        error = best[1].get("error")
        codes[job.token] = (
            str(error["code"]) if isinstance(error, Mapping) and error.get("code") else None
        )
    return codes


def cmd_history(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        rows = jobs_of(read_log(client, opts.secret_id))
        rows = rows[-opts.limit :]
        results: list[tuple[int, Mapping[str, Any]]] = []
        failed = [r for r in rows if isinstance(r, Job) and r.outcome != "completed"]
        if failed and not opts.no_codes:
            since = min((r.started for r in failed if r.started is not None), default=None)
            if since is not None:
                with ActionRecords(
                    client, lambda: functions_client(opts), detail, out.note
                ) as records:
                    results = records.results(since, limit=len(failed))
    jobs = [r for r in rows if isinstance(r, Job)]
    codes = match_codes(jobs, results, epoch_ms())
    items: list[dict[str, Any]] = []
    for row in reversed(rows):
        if isinstance(row, Rollback):
            items.append(
                {
                    "when": row.when,
                    "triggered": "operator",
                    "outcome": "rolled back",
                    "code": None,
                    "job": None,
                    "ended": row.when,
                }
            )
            continue
        items.append(
            {
                "when": row.started,
                "triggered": row.triggered,
                "outcome": row.outcome,
                "code": codes.get(row.token) if row.outcome != "completed" else None,
                "job": row.job,
                "ended": row.ended,
            }
        )
    if opts.json:
        out.json({"secretId": detail.secret_id, "secretName": detail.secret_name, "jobs": items})
        return EXIT_OK
    if not items:
        out.write(f"{detail.secret_name} ({detail.secret_id}): no rotation jobs in its log")
        return EXIT_OK
    header = ("WHEN", "TRIGGERED", "OUTCOME", "CODE", "JOB")
    table = [header] + [
        (iso_ms(i["when"]), i["triggered"], i["outcome"], i["code"] or "-", i["job"] or "-")
        for i in items
    ]
    widths = [max(len(line[c]) for line in table) for c in range(len(header))]
    out.write(f"{detail.secret_name} ({detail.secret_id})")
    for line in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


def register(commands: Any) -> None:
    history = commands.add_parser(
        "history", help="the secret's rotation jobs: when, how triggered, outcome, code",
        description=DESCRIPTION,
    )  # fmt: skip
    history.add_argument("secret_id", type=secret_id, help="the secret's id")
    history.add_argument(
        "--limit", type=bounded_int(1, 1000, "jobs"), default=20,
        help="show the newest N jobs (default 20)",
    )  # fmt: skip
    history.add_argument(
        "--no-codes", action="store_true",
        help="do not ask Cloud Functions for the actions' result codes",
    )  # fmt: skip
    history.add_argument("--json", action="store_true", help="print the jobs as JSON")
    history.set_defaults(handler=cmd_history)
