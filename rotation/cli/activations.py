"""Which activation ran which rotation job: matched by the job fingerprint it carries.

A secret's jobs come from Secret Manager's log, each with its token (shown by its
fingerprint, :func:`rotation.logs.fingerprint`). What the action said about a job (its
result code, message, warnings) is in the activation record Cloud Functions keeps. The two
are joined by an identifier the activation carries, never by clock proximity: the action
returns ``jobFingerprint`` in its result, and binds the same 12 characters as ``job`` on
every log line it writes (which is how an activation of an older action, or one that
crashed before shaping its result, is still matched).

Clocks only say when to stop reading. One action serves a whole fleet, so its
activations are read page by page (Get Action's Activation List from a little before the
oldest wanted job, then one detail per activation, since the list answers ids and
status only: documented) until every wanted job is found, or the activations are older
than the oldest job, or ``MAX_DETAILS`` were read (then the caller is told). A job
resumed by a second activation is shown by its newest one, the last word on it.

Cloud Functions may be out of reach (no rights, an emulator without the API, no action
linked): the first error is noted once and every later lookup answers nothing, so the
commands still show what Secret Manager knows.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rotation import logs
from rotation.cli.advice import advice_for
from rotation.cli.common import CliError
from rotation.cli.explain import CLOCK_SLACK_MS, split_action
from rotation.ncp.cloudfunctions import GATEWAY_NOT_FOUND, CloudFunctionsClient
from rotation.ncp.cloudfunctions_models import Activation
from rotation.ncp.errors import NcpError, NotFound
from rotation.ncp.models import SecretDetail
from rotation.ncp.secretmanager import SecretManagerClient

#: Activation details read per lookup at most (each is one API call).
MAX_DETAILS = 500

FINGERPRINT = re.compile(r"[0-9a-f]{12}")

FunctionsFactory = Callable[[], CloudFunctionsClient]
Note = Callable[[str], None]


def carried_job(record: Activation) -> str | None:
    """The job fingerprint an activation carries: its result's ``jobFingerprint``, else the
    ``job`` field of the action's own JSON log lines; ``None`` for anything else."""
    result = record.result or {}
    own = result.get("jobFingerprint")
    if isinstance(own, str) and FINGERPRINT.fullmatch(own):
        return own
    for line in record.logs:
        brace = line.find("{")
        if brace < 0:
            continue
        try:
            event = json.loads(line[brace:])
        except ValueError:
            continue
        job = event.get("job") if isinstance(event, dict) else None
        if isinstance(job, str) and FINGERPRINT.fullmatch(job):
            return job
    return None


def warnings_of(result: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """A result's ``warnings`` as ``[{code, message}]``, read leniently (an entry that is a
    bare code, or lacks a message, still counts) and scrubbed like every CLI output."""
    raw = (result or {}).get("warnings")
    found: list[dict[str, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping) and item.get("code"):
            code, message = str(item["code"]), str(item.get("message") or "")
        elif isinstance(item, str) and item:
            code, message = item, ""
        else:
            continue
        found.append({"code": code, "message": logs.REDACTOR.scrub(message)})
    return found


def unknown_warnings(secret_id: str) -> str:
    """The note when a job's warnings could not be read (its activation not found)."""
    return (
        "the action's warnings are unknown (its activation record was not found in time); "
        f"`history {secret_id}` shows them once Cloud Functions has it"
    )


def warning_lines(warnings: list[dict[str, str]], secret_id: str) -> list[str]:
    """What ``rotate``/``resume`` print under their outcome: each warning with its message
    and what to do (the advice of :mod:`rotation.codes`)."""
    if not warnings:
        return []
    count = f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    lines = [f"{count} from the action (the rotation ended, but this needs a look):"]
    for warning in warnings:
        code = warning["code"]
        lines.append(f"  warning {code}: {warning['message'] or '-'}")
        lines.append(f"    what to do: {advice_for(code).replace('SECRET_ID', secret_id)}")
    return lines


@dataclass(frozen=True)
class JobResult:
    """What the action said about one job, from the activation that carries its
    fingerprint."""

    job: str
    action: str
    activation: Activation

    @property
    def result(self) -> Mapping[str, Any]:
        return self.activation.result or {}

    @property
    def code(self) -> str | None:
        error = self.result.get("error")
        if isinstance(error, Mapping) and error.get("code"):
            return str(error["code"])
        return None

    @property
    def warnings(self) -> list[dict[str, str]]:
        return warnings_of(self.result)

    @property
    def start_ms(self) -> int:
        return self.activation.start_ms or 0


class JobActivations:
    """Finds the activation of rotation jobs by their fingerprint, across the actions of
    the secrets' triggers. Cloud Functions is opened on first use; after the first error
    the lookups stay quiet and answer nothing (``failed`` tells)."""

    def __init__(
        self,
        client: SecretManagerClient,
        functions: FunctionsFactory | None,
        note: Note = lambda _text: None,
    ) -> None:
        self.client = client
        self.factory = functions
        self.note = note
        self.functions: CloudFunctionsClient | None = None
        self.broken = functions is None
        #: Cloud Functions (or the trigger list) answered with an error.
        self.failed = False
        self._actions: dict[str, list[str]] | None = None
        self._details: dict[tuple[str, str], Activation] = {}
        self._found: dict[str, JobResult] = {}

    def actions_for(self, detail: SecretDetail) -> list[str]:
        """The actions the secret's trigger runs (one Get Trigger List for every secret)."""
        if detail.trigger is None:
            return []
        if self._actions is None:
            self._actions = {t.id: [a.name for a in t.actions] for t in self.client.list_triggers()}
        return self._actions.get(detail.trigger.id, [])

    def find(
        self, wanted: Iterable[tuple[SecretDetail, Mapping[str, int | None]]]
    ) -> dict[str, JobResult]:
        """``{fingerprint: JobResult}`` for the wanted jobs (``{fingerprint: when the job
        was raised}`` per secret) whose finished activation was found."""
        by_action: dict[str, dict[str, int | None]] = {}
        every: set[str] = set()
        if self.broken:
            return {}
        try:
            for detail, jobs in wanted:
                every.update(jobs)
                for name in self.actions_for(detail):
                    by_action.setdefault(name, {}).update(jobs)
            for name, jobs in by_action.items():
                try:
                    self._search(name, jobs)
                except NotFound as exc:
                    if exc.code == GATEWAY_NOT_FOUND:  # no such API here: nothing will answer
                        raise
                    # One action gone (deleted, renamed): the others still answer.
                    self.failed = True
                    self.note(f"could not read the action's activations ({name}): {exc}")
        except (NcpError, CliError, ValueError) as exc:
            self.broken = self.failed = True
            self.note(f"could not read the action's activations from Cloud Functions: {exc}")
        return {fp: found for fp, found in self._found.items() if fp in every}

    def wait_for(
        self,
        detail: SecretDetail,
        job: str,
        raised_ms: int | None,
        *,
        wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JobResult | None:
        """The job's activation once it has finished and is visible (NCP is reported to
        take 30-40 s), waiting up to ``wait`` seconds; ``None`` if it did not show."""
        end = time.monotonic() + wait
        while True:
            found = self.find([(detail, {job: raised_ms})]).get(job)
            if found is not None or self.broken or self.failed or time.monotonic() >= end:
                return found
            sleep(1.0)

    def _client(self) -> CloudFunctionsClient:
        if self.functions is None:
            assert self.factory is not None
            self.functions = self.factory()
        return self.functions

    def _search(self, name: str, jobs: Mapping[str, int | None]) -> None:
        """Read ``name``'s activations, newest first, until every job in ``jobs`` is found
        or the activations are older than the oldest of them."""
        missing = {fp for fp in jobs if fp not in self._found}
        if not missing:
            return
        raised = [when for when in jobs.values() if when is not None]
        # Secret Manager logs the job, Cloud Functions starts the activation: two services,
        # two clocks, so the bound looks back a little further than the oldest job.
        low = min(raised) - CLOCK_SLACK_MS if raised else None
        package, action = split_action(name)
        functions = self._client()
        listed = functions.iter_activations(package, action, start_ms=low)
        for read, item in enumerate(listed, start=1):
            record = self._detail(functions, package, action, item)
            if record is not None:
                if low is not None and record.start_ms is not None and record.start_ms < low:
                    return  # listed newest first: the rest is older than every wanted job
                fp = carried_job(record) if record.finished and record.result else None
                if fp is not None:
                    self._keep(JobResult(fp, name, record))
                    missing.discard(fp)
                    if not missing:
                        return
            if read >= MAX_DETAILS:
                self.note(
                    f"stopped after reading {MAX_DETAILS} activations of {name}: older jobs "
                    "show no result"
                )
                return

    def _detail(
        self, functions: CloudFunctionsClient, package: str, action: str, item: Activation
    ) -> Activation | None:
        """The activation's detail (result, start, logs), read once once it has finished."""
        key = (f"{package}/{action}", item.activation_id)
        known = self._details.get(key)
        if known is not None:
            return known
        record = item
        if item.result is None or item.start_ms is None:
            record = functions.get_activation(package, action, item.activation_id) or item
        if record.finished and record.result is not None:
            self._details[key] = record
        return record

    def _keep(self, found: JobResult) -> None:
        """One job, one activation: its newest (a resumed job's last word)."""
        known = self._found.get(found.job)
        if known is None or found.start_ms > known.start_ms:
            self._found[found.job] = found

    def close(self) -> None:
        if self.functions is not None:
            self.functions.close()

    def __enter__(self) -> JobActivations:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
