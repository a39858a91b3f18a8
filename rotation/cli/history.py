"""``history SECRET_ID``: the secret's rotation jobs, newest first.

From Get Secret Logs: when each job was raised, how (scheduled, manual, retry), how it
ended (completed, failed, cancelled, running), and its fingerprint; rollbacks are rows too.
What the action said about each job (its result code, its warnings) comes from the
activation that carries the job's fingerprint (:mod:`rotation.cli.activations`): the shared
action's activations are read page by page until every job shown is matched or they are
older than the oldest of them. Never by time: in a fleet, jobs of several secrets run
seconds apart. Secret Manager itself does not know why a job failed.
"""

from __future__ import annotations

import argparse
from typing import Any

from rotation.cli.activations import JobActivations, JobResult
from rotation.cli.common import (
    EXIT_OK,
    Output,
    bounded_int,
    functions_client,
    secret_id,
    sm_client,
)
from rotation.cli.joblog import Job, Rollback, jobs_of, read_log
from rotation.display import iso_ms

DESCRIPTION = """\
The secret's rotation history, newest first: when each job was raised, how it was
triggered (scheduled, manual, retry), how it ended (completed, failed, cancelled,
running), the action's result code and its warnings where Cloud Functions keeps the job's
activation ("?": not found). Jobs are shown by their fingerprint, the "job" field of the
action's own log lines and the "jobFingerprint" of its result, never by their token."""

UNKNOWN = "?"


def _job_item(job: Job, found: JobResult | None) -> dict[str, Any]:
    """One job as ``--json`` shows it: ``code``/``warnings`` are ``None`` when its
    activation was not found, ``warnings`` ``[]`` when it carried none."""
    return {
        "when": job.started,
        "triggered": job.triggered,
        "outcome": job.outcome,
        "code": found.code if found is not None and job.outcome != "completed" else None,
        "warnings": found.warnings if found is not None else None,
        "activationId": found.activation.activation_id if found is not None else None,
        "job": job.job,
        "ended": job.ended,
    }


def _rollback_item(row: Rollback) -> dict[str, Any]:
    return {
        "when": row.when,
        "triggered": "operator",
        "outcome": "rolled back",
        "code": None,
        "warnings": [],
        "activationId": None,
        "job": None,
        "ended": row.when,
    }


def cmd_history(opts: argparse.Namespace, out: Output) -> int:
    found: dict[str, JobResult] = {}
    looked = False
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        rows = jobs_of(read_log(client, opts.secret_id))[-opts.limit :]
        jobs = [r for r in rows if isinstance(r, Job)]
        if jobs and not opts.no_codes and detail.trigger is not None:
            with JobActivations(client, lambda: functions_client(opts), out.note) as lookups:
                found = lookups.find([(detail, {j.job: j.started for j in jobs})])
            looked = not lookups.failed
    items = [
        _rollback_item(row) if isinstance(row, Rollback) else _job_item(row, found.get(row.job))
        for row in reversed(rows)
    ]
    if opts.json:
        out.json({"secretId": detail.secret_id, "secretName": detail.secret_name, "jobs": items})
        return EXIT_OK
    if not items:
        out.write(f"{detail.secret_name} ({detail.secret_id}): no rotation jobs in its log")
        return EXIT_OK
    _table(out, detail.secret_name, detail.secret_id, items)
    if any(i["job"] and i["warnings"] is None for i in items):
        why = (
            "no activation of the action carries that job (older than Cloud Functions keeps, "
            "not visible yet, or run elsewhere)"
            if looked
            else "the action's activations were not read"
        )
        out.write(f"{UNKNOWN}: {why}")
    return EXIT_OK


def _table(out: Output, name: str, sid: str, items: list[dict[str, Any]]) -> None:
    header = ("WHEN", "TRIGGERED", "OUTCOME", "CODE", "WARN", "JOB")
    table = [header]
    for i in items:
        unknown = i["job"] is not None and i["warnings"] is None
        code = i["code"] or (UNKNOWN if unknown and i["outcome"] != "completed" else "-")
        warn = UNKNOWN if unknown else ",".join(w["code"] for w in i["warnings"]) or "-"
        table.append((iso_ms(i["when"]), i["triggered"], i["outcome"], code, warn, i["job"] or "-"))
    widths = [max(len(line[c]) for line in table) for c in range(len(header))]
    out.write(f"{name} ({sid})")
    for line in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def register(commands: Any) -> None:
    history = commands.add_parser(
        "history", help="the secret's rotation jobs: when, how triggered, outcome, code, warnings",
        description=DESCRIPTION,
    )  # fmt: skip
    history.add_argument("secret_id", type=secret_id, help="the secret's id")
    history.add_argument(
        "--limit", type=bounded_int(1, 1000, "jobs"), default=20,
        help="show the newest N jobs (default 20)",
    )  # fmt: skip
    history.add_argument(
        "--no-codes", action="store_true",
        help="do not ask Cloud Functions for the action's result codes and warnings",
    )  # fmt: skip
    history.add_argument("--json", action="store_true", help="print the jobs as JSON")
    history.set_defaults(handler=cmd_history)
