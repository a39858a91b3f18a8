"""Secret Manager's log of a secret (Get Secret Logs), read as rotation jobs.

NCP documents the page (``result``, ``totalPage``, ...) and that "the job token of a
rotation run can be found here", but not the fields of an entry. The emulator answers
``{"logId", "timestamp", "actionType", "message", "jobToken"?}`` (its assumption A16);
the real service may spell them otherwise. So every field is looked up under the plausible
names, an action is classified by the words it contains (``SCHEDULE``, ``RETRY``,
``COMPLETE``, ``FAIL``, ``CANCEL``, ``ROLLBACK``), entries without a time keep the order the
service gave, and an entry we cannot read is skipped, never fatal.

The job token opens a job's API calls: it is registered with the redactor the moment it is
read, and jobs are shown by :func:`rotation.logs.fingerprint`, the same 12 characters the
action's own log lines carry as ``job``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation import logs
from rotation.ncp.errors import NcpError
from rotation.ncp.models import SecretDetail
from rotation.ncp.secretmanager import SecretManagerClient

PAGE_SIZE = 100
MAX_PAGES = 20
#: How far back the log is read to find a live job. A job raised longer ago and still live
#: blocks every later rotation, so ``status`` already shows the secret as overdue.
LOG_WINDOW_MS = 31 * 24 * 3_600_000

_TIME_KEYS = ("timestamp", "createdDate", "createDate", "logDate", "time", "date", "createdAt")
_ACTION_KEYS = ("actionType", "action", "type", "eventType", "event", "logType")
_MESSAGE_KEYS = ("message", "description", "detail", "details", "msg")
_TOKEN_KEYS = ("jobToken", "job_token", "token", "rotationJobToken")


@dataclass(frozen=True)
class LogEntry:
    when: int | None  # epoch ms
    action: str
    message: str
    token: str | None = field(default=None, repr=False)
    order: int = 0

    @property
    def job(self) -> str | None:
        return logs.fingerprint(self.token) if self.token else None


def _first(entry: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if entry.get(key) not in (None, ""):
            return entry[key]
    return None


def _when(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return int(raw)
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def parse_entry(entry: Mapping[str, Any], order: int = 0) -> LogEntry:
    token = _first(entry, _TOKEN_KEYS)
    token = token if isinstance(token, str) and token else None
    if token is not None:
        logs.REDACTOR.register(token)
    action = _first(entry, _ACTION_KEYS)
    message = _first(entry, _MESSAGE_KEYS)
    return LogEntry(
        when=_when(_first(entry, _TIME_KEYS)),
        action=str(action) if action is not None else "-",
        message=str(message) if message is not None else "",
        token=token,
        order=order,
    )


def read_log(
    client: SecretManagerClient, secret_id: str, *, since_ms: int | None = None
) -> list[LogEntry]:
    """Every entry (up to ``MAX_PAGES`` pages), oldest first."""
    entries: list[LogEntry] = []
    page_no = 1
    while True:
        page = client.get_secret_logs(
            secret_id, page_no=page_no, page_size=PAGE_SIZE, timestamp_from=since_ms
        )
        entries.extend(parse_entry(e, len(entries) + i) for i, e in enumerate(page.entries))
        if page_no >= min(page.total_pages, MAX_PAGES) or not page.entries:
            break
        page_no += 1
    # The service's order is undocumented: sort by time where known, keeping its order
    # for ties and for entries without one.
    if all(e.when is not None for e in entries):
        entries.sort(key=lambda e: (e.when or 0, e.order))
    return entries


# -- jobs -----------------------------------------------------------------------------------


def _has(action: str, *words: str) -> bool:
    upper = action.upper()
    return any(w in upper for w in words)


def how_triggered(action: str) -> str:
    if _has(action, "SCHEDULE", "AUTO"):
        return "scheduled"
    if _has(action, "RETRY"):
        return "retry"
    if _has(action, "EXECUTE", "MANUAL"):
        return "manual"
    return action.lower()


def ending(action: str) -> str | None:
    """The outcome an entry records, if it ends a job."""
    if _has(action, "COMPLETE"):
        return "completed"
    if _has(action, "FAIL"):
        return "failed"
    if _has(action, "CANCEL"):
        return "cancelled"
    return None


def raises_job(action: str) -> bool:
    return _has(action, "EXECUTE", "RETRY", "SCHEDULE", "MANUAL") and ending(action) is None


@dataclass
class Job:
    """One rotation job as the log tells it."""

    token: str = field(repr=False)
    started: int | None
    triggered: str
    outcome: str = "running"
    ended: int | None = None
    entries: list[LogEntry] = field(default_factory=list)

    @property
    def job(self) -> str:
        return logs.fingerprint(self.token)


@dataclass(frozen=True)
class Rollback:
    when: int | None
    message: str


def jobs_of(entries: Iterable[LogEntry]) -> list[Job | Rollback]:
    """Jobs (grouped by token) and rollbacks, oldest first. A job without an ending entry
    is ``running`` if it is the newest, else ``no outcome logged``."""
    jobs: dict[str, Job] = {}
    rows: list[Job | Rollback] = []
    for entry in entries:
        if entry.token is None:
            if _has(entry.action, "ROLLBACK"):
                rows.append(Rollback(entry.when, entry.message))
            continue
        job = jobs.get(entry.token)
        if job is None:
            job = Job(
                token=entry.token,
                started=entry.when,
                triggered=how_triggered(entry.action) if raises_job(entry.action) else "-",
            )
            jobs[entry.token] = job
            rows.append(job)
        job.entries.append(entry)
        outcome = ending(entry.action)
        if outcome is not None:
            job.outcome, job.ended = outcome, entry.when
    newest = [r for r in rows if isinstance(r, Job)]
    for job in newest[:-1]:
        if job.outcome == "running":
            job.outcome = "no outcome logged"
    return rows


def running_job(entries: Iterable[LogEntry]) -> Job | None:
    """The newest job, if the log shows no end for it."""
    jobs = [r for r in jobs_of(entries) if isinstance(r, Job)]
    if jobs and jobs[-1].outcome == "running":
        return jobs[-1]
    return None


def _starts(action: str) -> bool:
    return _has(action, "START")


def live_job(entries: Iterable[LogEntry], *, rotating: bool) -> Job | None:
    """The job that is still live, if any.

    ``rotating`` (the secret's phase or status says so): the newest job without an end.
    Otherwise a job can still be live without showing: Start Rotation Job is the call that
    makes a secret ROTATING (documented), so a job that was raised and never started shows
    only in the log. Only a newest job whose entries are all "raised" counts then, so a log
    that never records how jobs end cannot make every old job look live.
    """
    job = running_job(entries)
    if job is None or rotating:
        return job
    if all(raises_job(e.action) and not _starts(e.action) for e in job.entries):
        return job
    return None


def live(client: SecretManagerClient, detail: SecretDetail) -> Job | None:
    """The secret's live job as its log shows it (see :func:`live_job`); ``None`` too when
    the log cannot be read, and then only the secret's phase tells."""
    try:
        entries = read_log(
            client, detail.secret_id, since_ms=time.time_ns() // 1_000_000 - LOG_WINDOW_MS
        )
    except NcpError:
        return None
    return live_job(entries, rotating=detail.rotating)
