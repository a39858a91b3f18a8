"""The watchdog action's entry point: ``main(args) -> dict``, run by a cron trigger.

Deployed from the same zip as the rotation action (its ``__main__.py`` exports ``watch``,
which imports this module on first use, so the rotation action's cold start does not pay
for it), as a second action with ``exec.main = "watch"``. One run:

1. read the settings (:mod:`rotation.watch.config`); bad ones end here with a code;
2. read the memory (:mod:`rotation.watch.memory`), the secret that says which problems
   earlier runs reported;
3. sweep (:mod:`rotation.watch.sweep`): judge every watched secret, the trigger and its
   action with the verdicts of ``rotation status``, and start windowed rotations that are
   due inside their window;
4. alert new problems and due reminders through ``notify`` (:mod:`rotation.watch.alerts`),
   then save the memory if anything changed (not when no alert could be delivered: the
   next run tries again);
5. push the counts to Cloud Insight, when configured (:mod:`rotation.watch.metrics`);
6. return the summary, scrubbed, and log it as ``watch.end``.

It never raises to the runtime; a notification or metrics problem is a warning in the
result, never the end of the run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from rotation import codes, logs
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.cloudinsight import CloudInsightClient
from rotation.ncp.errors import NcpError
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.notify import EXIT_MARGIN_SECONDS, read_notify
from rotation.settings import SettingsError
from rotation.watch import alerts, memory, metrics
from rotation.watch.config import WatchSettings, load_settings
from rotation.watch.sweep import Sweep, Sweeper

#: Kept back from the deadline for alerts, the memory, metrics and the result.
SWEEP_RESERVE_SECONDS = 15.0
#: Problems listed in the result (the counts cover all of them).
MAX_LISTED = 200

Clock = Callable[[], int]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def main(args: Mapping[str, Any]) -> dict[str, Any]:
    """One run of the watchdog. Nothing of it outlives the activation (the log context and
    the redactor's values are dropped on the way out, as the rotation action does)."""
    try:
        return run(args, os.environ, wall_ms)
    finally:
        structlog.contextvars.clear_contextvars()
        logs.REDACTOR.clear()


def run(args: Mapping[str, Any], env: Mapping[str, str], clock: Clock) -> dict[str, Any]:
    """The run, with its environment and clock given (a test passes an emulator's)."""
    started = time.monotonic()
    logs.configure()
    logs.start_invocation(activation_id=env.get("__OW_ACTIVATION_ID"))
    try:
        settings = load_settings(args, env)
    except SettingsError as exc:
        return _finish(started, {"ok": False, "outcome": "failed",
                                 "error": _coded(exc.code, str(exc))})  # fmt: skip
    logs.REDACTOR.register(settings.credentials.secret_key)
    logs.log.info("watch.begin", scope=settings.config.scope, secrets=len(settings.config.secrets))
    try:
        result = _sweep(settings, clock)
    except Exception as exc:  # noqa: BLE001 - the runtime must get a result, not a traceback
        logs.log.exception("watch.crash")
        result = {
            "ok": False,
            "outcome": "failed",
            "error": _coded(codes.INTERNAL_ERROR, f"unexpected {type(exc).__name__}; see the logs"),
        }
    return _finish(started, result)


def _coded(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message, "action": codes.advice(code)}


def _warning(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _sweep(settings: WatchSettings, clock: Clock) -> dict[str, Any]:
    config = settings.config
    warnings: list[dict[str, str]] = []
    sweep_deadline = settings.deadline.minus(SWEEP_RESERVE_SECONDS)
    with (
        SecretManagerClient(
            settings.credentials, endpoint=settings.endpoint, deadline=settings.deadline
        ) as secrets,
        CloudFunctionsClient(
            settings.credentials, endpoint=settings.functions_endpoint, deadline=sweep_deadline
        ) as functions,
    ):
        store = memory.Store(secrets, config.state_secret, config.state_secret_id)
        remembered: memory.Memory | None
        try:
            remembered = store.load()
        except (NcpError, memory.StateError) as exc:
            remembered = None
            warnings.append(_warning(
                codes.WATCH_INCOMPLETE,
                f"the memory ({config.state_secret}) cannot be read ({type(exc).__name__}): "
                "no alert is sent this run, since every problem would look new",
            ))  # fmt: skip
        sweep = Sweeper(config, secrets.bounded(sweep_deadline), functions, clock).run()
        if sweep.unreadable:
            shown = "; ".join(sweep.unreadable[:5])
            more = f" and {len(sweep.unreadable) - 5} more" if len(sweep.unreadable) > 5 else ""
            warnings.append(_warning(codes.WATCH_INCOMPLETE, f"not read: {shown}{more}"))
        now = clock()
        problems = {p.key: p for p in sweep.problems}
        result = _summary(settings, sweep, now)
        if remembered is not None:
            warnings += _alert(
                settings, sweep, problems=problems, remembered=remembered, store=store,
                now=now, result=result,
            )  # fmt: skip
        if config.metrics is not None:
            warnings += _metrics(settings, sweep, result)
    if warnings:
        result["warnings"] = warnings
    result["ok"] = not any(w["code"] == codes.WATCH_INCOMPLETE for w in warnings)
    return result


def _alert(
    settings: WatchSettings,
    sweep: Sweep,
    *,
    problems: Mapping[int, Any],
    remembered: memory.Memory,
    store: memory.Store,
    now: int,
    result: dict[str, Any],
) -> list[dict[str, str]]:
    config = settings.config
    found = list(problems)
    if sweep.unreadable:  # what could not be read keeps its place in the memory
        found += [k for k in remembered.open if k not in problems]
    plan = memory.plan(found, remembered, now, config.remind_every_minutes * 60_000)
    notify, invalid = read_notify(settings.notify)
    warnings = [_warning(codes.NOTIFY_INVALID, p) for p in invalid]
    ctx = alerts.Context(
        environment=notify.environment or f"watch {config.trigger}",
        action=settings.action_name,
        activation_id=settings.activation_id,
        trigger=config.trigger,
    )
    sent = alerts.send_all(
        notify,
        [problems[k] for k in plan.new if k in problems],
        [problems[k] for k in plan.reminders if k in problems],
        plan.memory.open,
        sweep.executed,
        limit=config.max_messages,
        now_ms=now,
        ctx=ctx,
        deadline=settings.deadline.minus(EXIT_MARGIN_SECONDS + 3),
    )
    warnings += sent.warnings or []
    new = set(plan.new)
    for item in result["problems"]:
        item["new"] = item["key"] in new
        item["since"] = alerts.iso(plan.memory.open.get(item.pop("key"), now))
    result.update(new=len(plan.new), reminded=len(plan.reminders),
                  resolved=len(plan.resolved), alertsSent=sent.sent)  # fmt: skip
    if plan.changed and sent.delivered:
        try:
            store.save(plan.memory, now)
        except NcpError as exc:
            warnings.append(_warning(
                codes.WATCH_INCOMPLETE,
                f"the memory ({config.state_secret}) was not saved ({type(exc).__name__}): "
                "this run's alerts may be sent again",
            ))  # fmt: skip
    return warnings


def _metrics(settings: WatchSettings, sweep: Sweep, result: dict[str, Any]) -> list[dict[str, str]]:
    config = settings.config
    assert config.metrics is not None
    rows = metrics.records(sweep, config.trigger, per_secret=config.metrics.per_secret)
    try:
        with CloudInsightClient(
            settings.credentials, endpoint=config.metrics.endpoint,
            deadline=settings.deadline.minus(EXIT_MARGIN_SECONDS),
        ) as insight:  # fmt: skip
            calls = insight.send_data(config.metrics.cw_key, rows)
    except NcpError as exc:
        logs.log.warning("watch.metrics_failed", error=type(exc).__name__)
        return [_warning(codes.METRICS_FAILED, f"Cloud Insight: {type(exc).__name__}: {exc}")]
    result["metrics"] = {"records": len(rows), "calls": calls}
    return []


def _summary(settings: WatchSettings, sweep: Sweep, now: int) -> dict[str, Any]:
    problems = sweep.problems
    listed = [
        {
            "key": p.key,
            "secretId": p.secret_id,
            "secretName": p.name,
            "problem": p.kind,
            "note": p.note,
        }
        for p in problems[:MAX_LISTED]
    ]
    summary: dict[str, Any] = {
        "ok": True,
        "outcome": "swept",
        "at": alerts.iso(now),
        "scope": settings.config.scope,
        "secrets": len(sweep.reports),
        "counts": sweep.counts(),
        "needAttention": len(problems),
        "problems": listed,
        "executed": [
            {"secretId": r.secret_id, "secretName": r.name, "window": r.window}
            for r in sweep.executed
        ],
        "staleAfterMinutes": sweep.stale_after_minutes,
    }
    if len(problems) > MAX_LISTED:
        summary["problemsNotListed"] = len(problems) - MAX_LISTED
    return summary


def _finish(started: float, result: dict[str, Any]) -> dict[str, Any]:
    for item in result.get("problems", ()):
        item.pop("key", None)  # no memory was read: the keys were not turned into dates
    result["durationMs"] = round((time.monotonic() - started) * 1000, 1)
    clean: dict[str, Any] = logs.REDACTOR.scrub_any(result)
    logs.log.info(
        "watch.end",
        ok=clean["ok"],
        outcome=clean["outcome"],
        secrets=clean.get("secrets"),
        need_attention=clean.get("needAttention"),
        new=clean.get("new"),
        reminded=clean.get("reminded"),
        executed=len(clean.get("executed") or ()),
        duration_ms=clean["durationMs"],
        error_code=(clean.get("error") or {}).get("code"),
    )
    return clean
