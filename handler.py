"""Cloud Functions entry point: ``main(args) -> dict``.

Thin on purpose: read the settings, run the rotation, shape the result. It never raises
(the OpenWhisk launcher would put ``str(exception)`` into the activation result, and an
exception can carry anything) and never returns a secret value: every string in the
result goes through the same redactor as the logs.

Result: ``{"ok", "secretId", "outcome", "job", "jobFingerprint", "steps", "durationMs"}``
(``jobFingerprint``: the job's :func:`rotation.logs.fingerprint`, the ``job`` of every log
line, by which ``history`` and ``status`` find the activation of a job) plus, on failure,
``"error": {"code", "message", "action"}``; ``"leftForRetry"`` and its reason when the job
was deliberately left running for a resume; ``"warnings"`` when something needs a look.
``job`` says how the job stands at the end: completed, failed, ended (by someone else),
running, or unknown (no job could be identified).

What a warm process keeps between activations, and why each is safe (audited; the
warm tests in ``tests/integration/test_warm_activations.py`` check the first three):

* the ``__OW_`` id fields: taken out of ``os.environ`` when read (:mod:`rotation.settings`);
* ``logs.REDACTOR``'s values and structlog's bound context: cleared when an activation
  starts and when it ends, so they hold one activation's at most (and the registry is
  capped within one, ``logs.MAX_REGISTERED``);
* clients, sessions, targets and database connections: made per activation, closed by it;
* process-wide and activation-free: structlog's configuration (the level re-read from
  ``LOG_LEVEL`` each time), ``logs``' sinks (added by the CLI, the emulator and tests
  only), the retry library imported on the first retry (``transport._retry_library``),
  and constant tables (``codes.CODES``, ``targets.KINDS``, ``ncp.hosts``). No
  ``lru_cache`` holds activation data.

Cold start: the action's own modules are imported with the cyclic garbage collector
paused, and everything then alive is frozen (``gc.freeze``). Defining them allocates
enough to start a collection of the young generations (8-10 ms on 3.13, measured: a
third of what the action adds to ``import requests, structlog``) that finds nothing to
free, since import-time objects live as long as the process; frozen, no later collection
of a warm container scans them again either. The dependencies are imported first, with the
collector running, so the pause covers only this project's modules.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from typing import Any

import requests  # noqa: F401 - the dependency floor, imported before the pause below
import structlog

_collecting = gc.isenabled()
gc.disable()
try:
    from rotation import codes, logs
    from rotation.ncp.secretmanager import SecretManagerClient
    from rotation.settings import (
        Settings,
        SettingsError,
        secret_id_hint,
        take_activation_environment,
    )
    from rotation.workflow import Outcome, Rotation
finally:
    gc.freeze()
    if _collecting:
        gc.enable()


def main(args: Mapping[str, Any]) -> dict[str, Any]:
    """One activation. The runtime keeps the process warm and calls ``main`` again for the
    next one, so nothing of this activation outlives it: the environment is read once
    through :func:`take_activation_environment` (which takes this activation's ``__OW_`` ids
    out of ``os.environ``), settings, keys and clients are made here, and the log context
    and the redactor's values are dropped on the way out (see :func:`_forget`)."""
    try:
        return _activation(args, take_activation_environment())
    finally:
        _forget()


def _activation(args: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    logs.configure()
    logs.start_invocation(activation_id=env.get("__OW_ACTIVATION_ID"))
    secret_id = secret_id_hint(args, env)
    settings: Settings | None = None
    try:
        dry_run = _dry_run(args)
        settings = Settings.load(args, env, need_job=not dry_run)
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
        result = _result(settings.secret_id, outcome, logs.fingerprint(settings.job_token))
    except SettingsError as exc:
        result = _error(secret_id, exc.code, str(exc))
    except Exception as exc:  # noqa: BLE001 - the runtime must get a result, not a traceback
        logs.log.exception("rotation.crash")
        result = _error(
            secret_id, codes.INTERNAL_ERROR, f"unexpected {type(exc).__name__}; see the logs"
        )
    if isinstance(args, Mapping) and args.get("notify") is not None:
        from rotation.notify import alert  # noqa: PLC0415 - only actions that notify pay for it

        # After the rotation, before the result is finished: a bad notify setting or an
        # alert not delivered lands in its warnings; never raises, ends before the deadline.
        result = alert(args["notify"], result, settings)
    return _finish(started, result)


def _forget() -> None:
    """End of an activation: drop its log context and the secret values registered for
    scrubbing. Every output of the activation (log lines, the result, the notification)
    was written before this, with the values still registered; the next activation starts
    from nothing (``logs.start_invocation`` clears both again, should this one have been
    cut short). So the registry holds one activation's values at most, never grows across
    a warm container's life, and cannot scrub (or keep alive) another activation's."""
    structlog.contextvars.clear_contextvars()
    logs.REDACTOR.clear()


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


def _result(secret_id: str, outcome: Outcome, job_fingerprint: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ok": outcome.ok,
        "secretId": secret_id,
        "secretName": outcome.secret_name,
        "outcome": outcome.outcome,
        "job": outcome.job,
        "jobFingerprint": job_fingerprint,
        "steps": [s.to_dict() for s in outcome.steps],
    }
    if outcome.error_code:
        # a skipped job is not an error, but the caller should still learn why
        key = "error" if not outcome.ok else "reason"
        result[key] = _coded(outcome.error_code, outcome.error_message or "")
    if outcome.left_for_retry:
        result["leftForRetry"] = True
        result["leftForRetryReason"] = outcome.left_reason
    if outcome.warnings:
        result["warnings"] = outcome.warnings
    return result


def _coded(code: str, message: str) -> dict[str, str]:
    """A code with its message and what the operator should do about it."""
    return {"code": code, "message": message, "action": codes.advice(code)}


def _error(secret_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "secretId": secret_id,
        "outcome": "failed",
        "job": "unknown",
        "steps": [],
        "error": _coded(code, message),
    }
