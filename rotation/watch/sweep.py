"""One sweep: read every watched secret, the trigger and its action, and judge them.

The verdicts are :mod:`rotation.verdicts`' (the rule ``python -m rotation status``
prints), read the way ``status`` reads them: Get Secret Detail, and Get Secret Logs for
when the live job was raised (a job raised and never started shows only there; it is
what a deleted action leaves). Unlike ``status``, the activations are not read: paging a
shared action's activations costs more than the whole sweep, so "left running" is
decided by time (a job older than the rotation action's timeout plus a margin), and the
``warn`` verdict (an activation's warnings) is ``status``'s alone.

Calls, for N secrets: Get Trigger List (1), Get Action per action the trigger runs (1),
Get Secret List when the scope is every secret (N/20 pages), and per secret Get Secret
Detail and Get Secret Logs (2N); plus Execute Rotation Job for each windowed secret that
is due inside its window. The secrets are read side by side (``workers``), each worker
with its own connection, all sharing the invocation's deadline and retry budget.

A secret that cannot be read is not a problem of the secret: it makes the sweep
incomplete (``WATCH_INCOMPLETE``) and is named in the result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from rotation import logs, verdicts
from rotation.cli.joblog import LOG_WINDOW_MS, Job, jobs_of, live_job, raises_job, read_log
from rotation.ncp.admin_models import Trigger
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.errors import NcpError, NotFound
from rotation.ncp.models import RotationPhase, SecretDetail, SecretStatus
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.watch.config import (
    DEFAULT_STALE_MINUTES,
    STALE_MARGIN_MINUTES,
    Member,
    WatchConfig,
)
from rotation.watch.memory import problem_key

DAY_MS = 86_400_000
MINUTE_MS = verdicts.MINUTE_MS
#: A fleet secret Get Secret Detail answers 404 for.
MISSING = "missing"


@dataclass(frozen=True)
class Problem:
    """Something a person must look at: a secret's (``subject`` is its id) or a
    trigger's (``trigger:<name>``), of one ``kind`` (the verdict)."""

    subject: str
    name: str
    kind: str
    note: str

    @property
    def key(self) -> int:
        return problem_key(self.subject, self.kind)

    @property
    def secret_id(self) -> str | None:
        return None if self.subject.startswith("trigger:") else self.subject


@dataclass
class SecretReport:
    secret_id: str
    name: str
    verdict: str
    attention: bool
    note: str
    fleet: bool
    linked: bool = True
    window: str | None = None
    executed: bool = False
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Sweep:
    reports: list[SecretReport] = field(default_factory=list)
    trigger_problems: list[Problem] = field(default_factory=list)
    #: What could not be read, one line each (no values).
    unreadable: list[str] = field(default_factory=list)
    stale_after_minutes: int = DEFAULT_STALE_MINUTES

    @property
    def problems(self) -> list[Problem]:
        return [*self.trigger_problems, *(p for r in self.reports for p in r.problems)]

    @property
    def executed(self) -> list[SecretReport]:
        return [r for r in self.reports if r.executed]

    def counts(self) -> dict[str, int]:
        """Secrets per verdict, plus ``unlinked`` and ``action missing``."""
        counts: dict[str, int] = {}
        for report in self.reports:
            counts[report.verdict] = counts.get(report.verdict, 0) + 1
            if not report.linked:
                counts[verdicts.UNLINKED] = counts.get(verdicts.UNLINKED, 0) + 1
        missing = sum(p.kind == verdicts.ACTION_MISSING for p in self.trigger_problems)
        if missing:
            counts[verdicts.ACTION_MISSING] = missing
        return dict(sorted(counts.items()))


def action_ref(listed: str) -> tuple[str, str]:
    """``(package, action)`` of a name as a trigger lists it: ``act``, ``pkg/act`` or
    ``/namespace/pkg/act``."""
    parts = [p for p in listed.split("/") if p]
    if listed.startswith("/") and len(parts) >= 2:
        parts = parts[1:]  # the namespace
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return "-", parts[-1] if parts else listed


@dataclass(frozen=True)
class _Read:
    detail: SecretDetail
    running: bool
    started: int | None
    last: Job | None
    raised_since: list[int]


class Sweeper:
    """Reads and judges; ``execute`` runs due windowed rotations (off for a dry look)."""

    def __init__(
        self,
        config: WatchConfig,
        secrets: SecretManagerClient,
        functions: CloudFunctionsClient | None,
        now_ms: Callable[[], int],
        *,
        execute: bool = True,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.functions = functions
        self.now_ms = now_ms
        self.execute = execute
        self._local = threading.local()
        self._clients: list[SecretManagerClient] = []
        self._lock = threading.Lock()

    # -- the trigger and its action ------------------------------------------------------

    def _trigger(self, sweep: Sweep) -> Trigger | None:
        try:
            found = [t for t in self.secrets.list_triggers() if t.name == self.config.trigger]
        except NcpError as exc:
            sweep.unreadable.append(f"Get Trigger List: {type(exc).__name__}")
            return None
        return found[0] if found else None

    def _actions(self, sweep: Sweep, trigger: Trigger | None) -> None:
        """Every action the trigger runs must exist; the rotation action's timeout sets
        how long a job may run."""
        c = self.config
        stale = c.stale_after_minutes
        names = [a.name for a in trigger.actions] if trigger is not None else []
        refs = dict.fromkeys([c.package_and_action, *(action_ref(n) for n in names)])
        missing: list[str] = []
        for package, name in refs:
            shown = name if package == "-" else f"{package}/{name}"
            if self.functions is None:
                break
            try:
                action = self.functions.get_action(package, name)
            except NcpError as exc:
                sweep.unreadable.append(f"Get Action {shown}: {type(exc).__name__}")
                continue
            if action is None:
                if shown in names or any(action_ref(n) == (package, name) for n in names):
                    missing.append(shown)
                elif (package, name) == c.package_and_action and trigger is not None:
                    missing.append(f"{shown} (configured, not linked)")
            elif (package, name) == c.package_and_action and stale is None and action.timeout_ms:
                stale = -(-action.timeout_ms // MINUTE_MS) + STALE_MARGIN_MINUTES
        sweep.stale_after_minutes = stale or DEFAULT_STALE_MINUTES
        if trigger is None:
            return
        verdict = verdicts.trigger_actions(c.trigger, names, missing)
        if verdict.attention:
            sweep.trigger_problems.append(
                Problem(f"trigger:{c.trigger}", c.trigger, verdict.verdict, verdict.note)
            )

    # -- the secrets ---------------------------------------------------------------------

    def _ids(self, sweep: Sweep) -> list[str]:
        ids = [m.id for m in self.config.secrets]
        if self.config.scope == "all":
            try:
                listed = [
                    s.secret_id
                    for s in self.secrets.iter_secrets()
                    if s.secret_name != self.config.state_secret
                ]
            except NcpError as exc:
                sweep.unreadable.append(f"Get Secret List: {type(exc).__name__}")
                listed = []
            ids = list(dict.fromkeys([*ids, *listed]))
        return ids

    def _client(self) -> SecretManagerClient:
        client: SecretManagerClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self.secrets.at(self.secrets.endpoint)  # shares deadline and budget
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    @contextmanager
    def _pool(self) -> Iterator[ThreadPoolExecutor]:
        pool = ThreadPoolExecutor(max(1, self.config.workers), thread_name_prefix="watch")
        try:
            yield pool
        finally:
            pool.shutdown(wait=True)
            for client in self._clients:
                client.close()
            self._clients.clear()

    def _read(self, client: SecretManagerClient, secret_id: str, now: int) -> _Read:
        detail = client.get_secret(secret_id)
        entries = read_log(client, secret_id, since_ms=now - LOG_WINDOW_MS)
        job = live_job(entries, rotating=detail.rotating)
        jobs = [r for r in jobs_of(entries) if isinstance(r, Job)]
        raised = [e.when for e in entries if e.when is not None and raises_job(e.action)]
        last = jobs[-1] if jobs else None
        if job is not None and job.started is not None:
            return _Read(detail, True, job.started, last, raised)
        started = detail.update_date if detail.rotating else None
        return _Read(detail, detail.rotating, started, last, raised)

    def _one(self, secret_id: str, trigger: Trigger | None, stale_minutes: int) -> SecretReport:
        c = self.config
        now = self.now_ms()
        member = c.member(secret_id)
        client = self._client()
        try:
            read = self._read(client, secret_id, now)
        except NotFound:
            if member is None:
                raise
            note = "Get Secret Detail answers 404: deleted, or behind another endpoint"
            return SecretReport(
                secret_id, member.name or secret_id, MISSING, True, note, True,
                problems=[Problem(secret_id, member.name or secret_id, MISSING, note)],
            )  # fmt: skip
        detail = read.detail
        report = SecretReport(
            detail.secret_id, detail.secret_name, "ok", False, "", member is not None
        )
        link = (
            verdicts.linkage(detail, trigger.id if trigger else None, c.trigger)
            if member is not None
            else None
        )
        report.linked = link is None
        stale_ms = stale_minutes * MINUTE_MS
        overdue_ms = c.overdue_after_minutes * MINUTE_MS
        if member is not None and member.window is not None:
            verdict = self._windowed(
                client, read, member=member, now=now, report=report, stale_ms=stale_ms,
                overdue_ms=overdue_ms,
            )  # fmt: skip
        else:
            verdict = verdicts.judge(
                detail, now, running=read.running, job_started=read.started,
                overdue_after_ms=overdue_ms, stale_after_ms=stale_ms,
                require_auto=member is not None,
            )  # fmt: skip
        report.verdict, report.attention, report.note = verdict
        if link is not None:
            report.problems.append(Problem(secret_id, detail.secret_name, link.verdict, link.note))
        if verdict.attention and not (link is not None and verdict.verdict == "auto rotation off"):
            report.problems.append(
                Problem(secret_id, detail.secret_name, verdict.verdict, verdict.note)
            )
        return report

    def _windowed(
        self,
        client: SecretManagerClient,
        read: _Read,
        *,
        member: Member,
        now: int,
        report: SecretReport,
        stale_ms: int,
        overdue_ms: int,
    ) -> verdicts.Verdict:
        """Judge a windowed secret, and raise its job when it is due inside its window
        and none was raised this period (never twice for one period): a job raised after
        the last rotation (a job is raised before the rotation it makes completes, so the
        one that made the last rotation is not counted), whatever became of it."""
        assert member.window is not None
        assert member.period_days is not None
        detail = read.detail
        window = member.window
        report.window = window.describe()
        base = detail.last_rotation_date or detail.register_date
        due = None if base is None else base + member.period_days * DAY_MS
        running, started = read.running, read.started
        if (
            self.execute
            and due is not None
            and due <= now
            and window.contains(now)
            and not any(when > (base or 0) for when in read.raised_since)
            and detail.status is SecretStatus.ENABLE
            and detail.rotation_phase is RotationPhase.NONE
            and not running
            and report.linked
            and not detail.auto_rotation
        ):
            try:
                client.execute_rotation_job(detail.secret_id)
            except NcpError as exc:
                logs.log.warning(
                    "watch.execute_failed", secret_id=detail.secret_id, error=type(exc).__name__
                )
            else:
                report.executed = True
                running, started = True, now
                logs.log.info(
                    "watch.executed", secret_id=detail.secret_id, window=report.window,
                    due_ms=due,
                )  # fmt: skip
        return verdicts.judge_windowed(
            detail, now, due_ms=due,
            missed_close_ms=window.first_close_after(due) if due is not None else None,
            running=running, job_started=started, overdue_after_ms=overdue_ms,
            stale_after_ms=stale_ms, window=report.window,
        )  # fmt: skip

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Sweep:
        sweep = Sweep()
        trigger = self._trigger(sweep)
        self._actions(sweep, trigger)
        ids = self._ids(sweep)
        stale = sweep.stale_after_minutes
        with self._pool() as pool:
            futures = {sid: pool.submit(self._one, sid, trigger, stale) for sid in ids}
            for sid, future in futures.items():
                try:
                    sweep.reports.append(future.result())
                except NcpError as exc:
                    sweep.unreadable.append(f"secret {sid}: {type(exc).__name__}")
        return sweep
