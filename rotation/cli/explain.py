"""Why a rotation job ended the way it did: the action's own words, else Secret Manager's.

Secret Manager knows that a job failed, not why. The action knows why (its result carries
``error.code`` and ``error.message``, its log lines every step), and Cloud Functions keeps
both in the activation record. So, for a secret whose trigger runs a deployed action:
Get Action's Activation List since the job began, the newest activation whose result names
this secret, and its detail (``response.result`` and ``logs``). When there is no deployed
action, or Cloud Functions cannot be read (no rights, the record not there yet, a local
emulator that does not serve activations), the job's entries from Get Secret Logs are the
next best thing, and the output says which source it shows.

What is shown is scrubbed like every CLI output, and an action's log lines were already
written without secret values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation import logs
from rotation.cli.advice import advice_for, for_secret
from rotation.cli.common import CliError
from rotation.cli.joblog import Job, LogEntry
from rotation.display import iso_ms
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.cloudfunctions_models import Activation
from rotation.ncp.errors import NcpError
from rotation.ncp.models import SecretDetail
from rotation.ncp.secretmanager import SecretManagerClient

#: How far this machine's clock may be from NCP's: a window that starts at a time read
#: here looks back this far.
CLOCK_SLACK_MS = 60_000
#: A window that starts at a time NCP gave (a job's log entry) looks back only this far.
SERVER_SLACK_MS = 2_000
#: Activation details read per lookup, newest first.
MAX_DETAILS = 5

FunctionsFactory = Callable[[], CloudFunctionsClient]


@dataclass
class Explanation:
    code: str | None = None
    message: str | None = None
    left_for_retry: bool = False
    lines: list[str] = field(default_factory=list)
    source: str = "nothing"
    result: Mapping[str, Any] | None = None
    secret_id: str | None = None
    #: How the job stands, when the CLI saw it itself (``running``: it is still going,
    #: whatever the action's result says); else the result's ``job`` decides.
    job_seen: str | None = None

    @property
    def job(self) -> str | None:
        """How the result says the job stands (``running``, ``failed``, ...)."""
        if self.left_for_retry:
            return "running"
        if self.job_seen is not None:
            return self.job_seen
        job = (self.result or {}).get("job")
        return str(job) if job else None

    @property
    def advice(self) -> str:
        """The registry's advice for the code, with the next command for the job as it
        stands (:func:`rotation.codes.advice`)."""
        return for_secret(advice_for(self.code, self.job), self.secret_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "advice": self.advice,
            "leftForRetry": self.left_for_retry,
            "source": self.source,
            "logs": self.lines,
        }

    def render(self) -> list[str]:
        out = [
            f"  code:       {self.code or 'unknown (no action result was found)'}",
            f"  message:    {self.message or '-'}",
            f"  what to do: {self.advice}",
        ]
        if self.left_for_retry:
            out.append("  the job was left running on purpose (leftForRetry): resume it")
        out.append(f"log ({self.source}):")
        out += [f"  {line}" for line in self.lines] or ["  (no lines)"]
        return out


def action_names(client: SecretManagerClient, detail: SecretDetail) -> list[str]:
    """The actions the secret's trigger runs (Get Trigger List), or none."""
    if detail.trigger is None:
        return []
    for trigger in client.list_triggers():
        if trigger.id == detail.trigger.id:
            return [a.name for a in trigger.actions]
    return []


def split_action(name: str) -> tuple[str, str]:
    """``(package, action)`` of ``action``, ``package/action`` or an OpenWhisk full name
    ``/namespace/[package/]action`` (package ``-``: none)."""
    parts = name.strip("/").split("/")
    if name.startswith("/"):
        parts = parts[1:]  # the namespace
    if len(parts) == 1 and parts[0]:
        return "-", parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ValueError(f"{name!r} is not an action name ([package/]action)")


def find_activation(
    functions: CloudFunctionsClient,
    action: str,
    secret_id: str,
    since_ms: int,
    slack_ms: int = CLOCK_SLACK_MS,
) -> Activation | None:
    """The newest *finished* activation of ``action`` that started after ``since_ms`` (less
    ``slack_ms``) and whose result names ``secret_id``. One not finished or not visible yet
    (NCP is reported to take 30-40 s) is passed over: the caller asks again later."""
    for record in _finished(functions, action, since_ms - slack_ms, MAX_DETAILS):
        if record.result is not None and record.result.get("secretId") == secret_id:
            return record
    return None


def _finished(
    functions: CloudFunctionsClient, action: str, low_ms: int, limit: int
) -> Iterator[Activation]:
    """Finished activations of ``action`` since ``low_ms``, newest first, details read
    for at most ``limit`` of them (the list answers ids and status only, documented)."""
    package, name = split_action(action)
    listed = functions.list_activations(package, name, start_ms=low_ms)
    for item in sorted(listed, key=lambda a: a.start_ms or 0, reverse=True)[:limit]:
        record: Activation | None = item
        if item.result is None:
            record = functions.get_activation(package, name, item.activation_id)
        if record is None or not record.finished or record.result is None:
            continue
        if record.start_ms is not None and record.start_ms < low_ms:
            continue
        yield record


def render_line(line: str) -> str:
    """An action log line, shortened when it is one of ours (JSON after the runtime's
    ``<time> stdout:`` prefix); anything else as it came."""
    brace = line.find("{")
    if brace < 0:
        return line
    try:
        event = json.loads(line[brace:])
    except ValueError:
        return line
    if not isinstance(event, dict) or "event" not in event:
        return line
    when = str(event.get("timestamp", ""))[11:19] or "-"
    parts = [when, str(event["event"])]
    for key in ("status", "step"):
        if event.get(key) not in (None, ""):
            parts.append(f"{key}={event[key]}")
    for key in ("error_code", "error", "error_message", "reason", "note", "action"):
        if event.get(key) not in (None, ""):
            parts.append(f"{key}={event[key]}")
    return " ".join(parts)


def _entry_line(entry: LogEntry) -> str:
    return f"{iso_ms(entry.when)} {entry.action} {entry.message}".rstrip()


def from_activation(record: Activation, action: str, secret_id: str | None = None) -> Explanation:
    result = record.result or {}
    error = result.get("error")
    error = error if isinstance(error, Mapping) else {}
    lines = [render_line(line) for line in record.logs]
    return Explanation(
        code=str(error["code"]) if error.get("code") else None,
        message=str(error["message"]) if error.get("message") else None,
        left_for_retry=bool(result.get("leftForRetry")),
        lines=lines,
        source=f"activation {record.activation_id} of action {action}",
        result=logs.REDACTOR.scrub_any(dict(result)),
        secret_id=secret_id,
    )


def from_secret_log(job: Job | None, secret_id: str | None = None) -> Explanation:
    if job is None:
        return Explanation(source="Secret Manager's log: no job found", secret_id=secret_id)
    return Explanation(
        lines=[_entry_line(e) for e in job.entries],
        source=f"Secret Manager's log of job {job.job}; the action's own log has the cause",
        secret_id=secret_id,
    )


class ActionRecords:
    """Cloud Functions lookups for one secret's trigger actions. Opened on first use; after
    the first error (no rights, no such API here) it stays quiet and answers ``None``."""

    def __init__(
        self,
        client: SecretManagerClient,
        functions: FunctionsFactory | None,
        detail: SecretDetail,
        note: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.client = client
        self.factory = functions
        self.detail = detail
        self.note = note
        self.names: list[str] | None = None
        self.functions: CloudFunctionsClient | None = None
        self.broken = functions is None
        #: Cloud Functions answered with an error (not merely: no action to look at).
        self.failed = False

    def latest(self, since_ms: int, slack_ms: int = CLOCK_SLACK_MS) -> Explanation | None:
        """The action's account of the newest activation for this secret, if finished."""
        if self.broken:
            return None
        try:
            if self.names is None:
                self.names = action_names(self.client, self.detail)
            if not self.names:
                self.broken = True
                return None
            if self.functions is None:
                assert self.factory is not None
                self.functions = self.factory()
            for name in self.names:
                record = find_activation(
                    self.functions, name, self.detail.secret_id, since_ms, slack_ms
                )
                if record is not None:
                    return from_activation(record, name, self.detail.secret_id)
        except (NcpError, CliError, ValueError) as exc:
            self.broken = self.failed = True
            self.note(f"could not read the action's activation from Cloud Functions: {exc}")
        return None

    def results(self, since_ms: int, limit: int) -> list[tuple[int, Mapping[str, Any]]]:
        """``(start ms, result)`` of up to ``limit`` finished activations for this secret
        since ``since_ms``, newest first; empty when Cloud Functions cannot tell."""
        found: list[tuple[int, Mapping[str, Any]]] = []
        if self.broken:
            return found
        try:
            if self.names is None:
                self.names = action_names(self.client, self.detail)
            if self.names and self.functions is None:
                assert self.factory is not None
                self.functions = self.factory()
            for name in self.names:
                assert self.functions is not None
                low = since_ms - CLOCK_SLACK_MS
                for record in _finished(self.functions, name, low, limit * 2):
                    assert record.result is not None
                    if record.result.get("secretId") == self.detail.secret_id:
                        found.append((record.start_ms or 0, record.result))
        except (NcpError, CliError, ValueError) as exc:
            self.broken = self.failed = True
            self.note(f"could not read the action's activations from Cloud Functions: {exc}")
        found.sort(key=lambda pair: pair[0], reverse=True)
        return found[:limit]

    def close(self) -> None:
        if self.functions is not None:
            self.functions.close()

    def __enter__(self) -> ActionRecords:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def window(job: Job | None, since_ms: int) -> tuple[int, int]:
    """Where to look for a job's activation: from when NCP logged the job, else from a
    time read on this machine, with the slack each clock needs."""
    if job is not None and job.started is not None:
        return job.started, SERVER_SLACK_MS
    return since_ms, CLOCK_SLACK_MS


def explain(
    records: ActionRecords,
    job: Job | None,
    *,
    since_ms: int,
    wait: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Explanation:
    """The action's explanation if it can be found within ``wait`` seconds, else what
    Secret Manager's log says about ``job``."""
    since, slack = window(job, since_ms)
    end = time.monotonic() + wait
    while not records.broken:
        found = records.latest(since, slack)
        if found is not None:
            return found
        if time.monotonic() >= end:
            records.note("the action's activation record was not found (yet)")
            break
        sleep(1.0)
    return from_secret_log(job, records.detail.secret_id)
