"""What the watchdog tells people, through the same ``notify`` webhooks as the rotation.

One alert per new problem, one reminder per open problem each ``remindEvery``, never one
per run (:mod:`rotation.watch.memory` decides which). At most ``maxMessages`` alerts go
out in one run; the rest are folded into one ``watch.summary`` alert, so a fleet-wide
outage (a NAT route removed: every secret overdue at once) is one page, not a thousand.

The body, for a ``json`` webhook (signed like every alert, :mod:`rotation.notify`)::

    {"event": "watch.problem" | "watch.reminder" | "watch.summary" | "watch.executed",
     "alertId", "time", "environment", "action", "activationId",
     "secretId", "secretName", "trigger", "problem", "message",
     "since", "openMinutes", "problems": [...], "text", "sentAt"}

``problem`` is the verdict (``overdue``, ``failed``, ``left running``, ``auto rotation
off``, ``unlinked``, ``action missing``, ``schedule on``, ``missing``); ``message`` says why
and what to do; ``since`` is when the watchdog first saw it. A ``slack`` webhook gets
``text``. ``watch.executed`` (a windowed rotation was started) goes out only with
``onSuccess: true``: the rotation's own alerts follow from its action.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rotation import logs
from rotation.ncp.deadline import Deadline
from rotation.notify import NotifyConfig, post
from rotation.watch.sweep import Problem, SecretReport

MINUTE_MS = 60_000
MARKS = {"watch.problem": ":rotating_light:", "watch.reminder": ":alarm_clock:"}


@dataclass(frozen=True)
class Context:
    environment: str | None
    action: str | None
    activation_id: str | None
    trigger: str


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return " ".join(p for p in parts if p) or "0m"


def _base(event: str, ctx: Context, now_ms: int) -> dict[str, Any]:
    return {
        "event": event,
        "alertId": uuid.uuid4().hex,
        "time": iso(now_ms),
        "environment": ctx.environment,
        "action": ctx.action,
        "activationId": ctx.activation_id,
        "trigger": ctx.trigger,
    }


def problem_body(
    problem: Problem, event: str, since_ms: int, now_ms: int, ctx: Context
) -> dict[str, Any]:
    """A ``watch.problem`` or ``watch.reminder`` alert for one problem."""
    open_minutes = max(0, (now_ms - since_ms) // MINUTE_MS)
    body = {
        **_base(event, ctx, now_ms),
        "secretId": problem.secret_id,
        "secretName": problem.name,
        "problem": problem.kind,
        "message": problem.note,
        "since": iso(since_ms),
        "openMinutes": open_minutes,
    }
    label = f"[{ctx.environment}] " if ctx.environment else ""
    what = (
        f"*{problem.name}* (`{problem.secret_id}`)"
        if problem.secret_id
        else f"trigger *{problem.name}*"
    )
    if event == "watch.reminder":
        head = (
            f"{MARKS[event]} {label}Still open after {_ago(open_minutes)}: {what} is {problem.kind}"
        )
    else:
        head = f"{MARKS[event]} {label}Watchdog: {what} is {problem.kind}"
    facts = f"since `{body['since']}` | watchdog activation `{ctx.activation_id or '-'}`"
    body["text"] = f"{head}\n{problem.note}\n{facts}"
    return logs.REDACTOR.scrub_any(body)  # type: ignore[no-any-return]


def summary_body(
    new: Sequence[Problem], reminders: Sequence[Problem], now_ms: int, ctx: Context
) -> dict[str, Any]:
    """The alerts past ``maxMessages``, folded into one."""
    kinds = Counter(p.kind for p in [*new, *reminders])
    listed = [
        {"secretId": p.secret_id, "secretName": p.name, "problem": p.kind, "new": p in new}
        for p in [*new, *reminders]
    ]
    body = {**_base("watch.summary", ctx, now_ms), "problems": listed}
    label = f"[{ctx.environment}] " if ctx.environment else ""
    counted = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    names = ", ".join(p.name for p in [*new, *reminders][:20])
    more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
    body["text"] = (
        f":rotating_light: {label}Watchdog: {len(new)} more new and {len(reminders)} more "
        f"still-open problems ({counted}): {names}{more}.\n"
        "`python -m rotation status` shows them all."
    )
    return logs.REDACTOR.scrub_any(body)  # type: ignore[no-any-return]


def executed_body(report: SecretReport, now_ms: int, ctx: Context) -> dict[str, Any]:
    body = {
        **_base("watch.executed", ctx, now_ms),
        "secretId": report.secret_id,
        "secretName": report.name,
        "message": f"rotation started inside its window ({report.window})",
    }
    label = f"[{ctx.environment}] " if ctx.environment else ""
    body["text"] = (
        f":arrows_counterclockwise: {label}Watchdog started the rotation of *{report.name}* "
        f"(`{report.secret_id}`) inside its window ({report.window})."
    )
    return logs.REDACTOR.scrub_any(body)  # type: ignore[no-any-return]


@dataclass
class Outcome:
    sent: int = 0
    warnings: list[dict[str, str]] | None = None
    #: Every alert reached at least one webhook (or there was nothing to send).
    delivered: bool = True


def send_all(
    config: NotifyConfig,
    new: Sequence[Problem],
    reminders: Sequence[Problem],
    since: Mapping[int, int],
    executed: Sequence[SecretReport],
    *,
    limit: int,
    now_ms: int,
    ctx: Context,
    deadline: Deadline,
) -> Outcome:
    """Post the run's alerts: new problems first, then reminders, ``limit`` of them one by
    one and the rest in one summary; ``watch.executed`` only with ``onSuccess``."""
    out = Outcome(warnings=[])
    if not config.webhooks:
        return out
    bodies: list[dict[str, Any]] = []
    ordered = [(p, "watch.problem") for p in new] + [(p, "watch.reminder") for p in reminders]
    for problem, event in ordered[:limit]:
        bodies.append(problem_body(problem, event, since.get(problem.key, now_ms), now_ms, ctx))
    rest = ordered[limit:]
    if rest:
        bodies.append(
            summary_body(
                [p for p, e in rest if e == "watch.problem"],
                [p for p, e in rest if e == "watch.reminder"],
                now_ms,
                ctx,
            )
        )
    if config.on_success:
        bodies += [executed_body(r, now_ms, ctx) for r in executed]
    assert out.warnings is not None
    for body in bodies:
        failed = post(config, body, deadline=deadline)
        out.warnings += failed
        if len(failed) >= len(config.webhooks):
            out.delivered = False
        else:
            out.sent += 1
        logs.log.info("watch.alert", notification=body["event"], secret_id=body.get("secretId"))
    return out
