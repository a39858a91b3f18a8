"""Cloud Functions entry point: ``main(args) -> dict``.

Thin on purpose: read the settings, run the rotation, shape the result. It never raises
(the OpenWhisk launcher would put ``str(exception)`` into the activation result, and an
exception can carry anything) and never returns a secret value: every string in the
result goes through the same redactor as the logs.

Result: ``{"ok", "secretId", "outcome", "job", "steps", "durationMs"}`` plus, on failure,
``"error": {"code", "message", "action"}``; ``"leftForRetry"`` and its reason when the job
was deliberately left running for a resume; ``"warnings"`` when something needs a look.
``job`` says how the job stands at the end: completed, failed, ended (by someone else),
running, or unknown (no job could be identified).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from rotation import codes, logs
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.settings import Settings, SettingsError, secret_id_hint
from rotation.workflow import Outcome, Rotation

if TYPE_CHECKING:
    from rotation.ncp.deadline import Deadline
    from rotation.notify import NotifyConfig


def main(args: Mapping[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    logs.configure()
    logs.start_invocation(activation_id=os.environ.get("__OW_ACTIVATION_ID"))
    secret_id = _safe_secret_id(args)
    notify: NotifyConfig | None = None
    deadline: Deadline | None = None
    try:
        dry_run = _dry_run(args)
        settings = Settings.load(args, need_job=not dry_run)
        notify = _notify_config(args)
        deadline = settings.deadline
        logs.REDACTOR.register(settings.credentials.secret_key)
        logs.REDACTOR.register(settings.job_token)
        structlog.contextvars.bind_contextvars(
            secret_id=settings.secret_id,
            job=logs.fingerprint(settings.job_token),
            activation_id=settings.activation_id,
        )
        logs.log.info(
            "rotation.begin",
            endpoint=settings.endpoint,
            ids_from=settings.ids_from,
            deadline_s=round(settings.deadline.remaining(), 1),
        )
        with SecretManagerClient(
            settings.credentials, endpoint=settings.endpoint, deadline=settings.deadline
        ) as client:
            if dry_run:
                return _finish(started, _checked(settings, client))
            outcome = Rotation(settings, client).run()
        result = _result(settings.secret_id, outcome)
    except SettingsError as exc:
        result = _error(secret_id, exc.code, str(exc))
    except Exception as exc:  # noqa: BLE001 - the runtime must get a result, not a traceback
        logs.log.exception("rotation.crash")
        result = _error(
            secret_id, codes.INTERNAL_ERROR, f"unexpected {type(exc).__name__}; see the logs"
        )
    clean = _finish(started, result)
    if notify and deadline is not None:
        from rotation.notify import send  # noqa: PLC0415 - only actions that notify pay for it

        send(notify, clean, deadline=deadline)  # never raises, never changes the result
    return clean


def _finish(started: float, result: dict[str, Any]) -> dict[str, Any]:
    """Time, scrub and log the result: every way out of ``main`` passes here."""
    result["durationMs"] = round((time.monotonic() - started) * 1000, 1)
    clean: dict[str, Any] = logs.REDACTOR.scrub_any(result)
    logs.log.info(
        "rotation.end",
        ok=clean["ok"],
        outcome=clean["outcome"],
        duration_ms=clean["durationMs"],
        error_code=(clean.get("error") or {}).get("code"),
        job_state=clean.get("job"),
        left_for_retry=clean.get("leftForRetry", False),
    )
    return clean


def _dry_run(args: Mapping[str, Any]) -> bool:
    value = args.get("dryRun", False) if isinstance(args, Mapping) else False
    if not isinstance(value, bool):
        raise SettingsError(codes.INVALID_PARAMETER, "dryRun must be true or false")
    return value


def _notify_config(args: Mapping[str, Any]) -> NotifyConfig | None:
    """The ``notify`` parameter, checked before anything is called (bad config is bad
    input); ``None`` when there is none, so most actions never import the notifier."""
    if args.get("notify") is None:
        return None
    from rotation.notify import parse_notify  # noqa: PLC0415 - see above

    return parse_notify(args["notify"])


def _checked(settings: Settings, client: SecretManagerClient) -> dict[str, Any]:
    """``dryRun: true``: every check of ``python -m rotation check``, from inside the
    action's network, with no job started and nothing changed."""
    from rotation.check import passed, run_check  # noqa: PLC0415 - dry runs only

    lines = run_check(settings, client)
    return {
        "ok": passed(lines),
        "secretId": settings.secret_id,
        "outcome": "checked",
        "job": "none",
        "checks": [line.to_dict() for line in lines],
        "steps": [],
    }


def _safe_secret_id(args: Mapping[str, Any]) -> str | None:
    return secret_id_hint(args)


def _result(secret_id: str, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ok": outcome.ok,
        "secretId": secret_id,
        "secretName": outcome.secret_name,
        "outcome": outcome.outcome,
        "job": outcome.job,
        "steps": [s.to_dict() for s in outcome.steps],
    }
    if outcome.error_code:
        # a skipped job is not an error, but the caller should still learn why
        key = "error" if not outcome.ok else "reason"
        result[key] = _coded(outcome.error_code, outcome.error_message or "", outcome.job)
    if outcome.left_for_retry:
        result["leftForRetry"] = True
        result["leftForRetryReason"] = outcome.left_reason
    if outcome.warnings:
        result["warnings"] = outcome.warnings
    return result


def _coded(code: str, message: str, job: str | None = None) -> dict[str, str]:
    """A code with its message and what the operator should do about it, for the job as
    it stands (a job left running is resumed, never retried or cancelled)."""
    return {"code": code, "message": message, "action": codes.advice(code, job)}


def _error(secret_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "secretId": secret_id,
        "outcome": "failed",
        "job": "unknown",
        "steps": [],
        "error": _coded(code, message),
    }
