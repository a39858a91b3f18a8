"""Be told: post a rotation's failure, a success that needs a look (and, if asked, every
success) to webhooks, in a form an on-call engineer can act on alone.

Nobody watches a scheduled rotation. A failed one waits a whole period for the next try,
and a job left running for ``resume`` waits for ever. So the action's ``notify`` parameter
names webhooks that hear about it::

    "notify": {
      "webhooks": [
        {"url": "https://hooks.slack.com/services/T000/B000/XXXX"},
        {"url": "https://ops.example.com/rotation", "format": "json", "hmacKeyEnv": "NOTIFY_KEY"}
      ],
      "onSuccess": false,
      "environment": "prod-kr"
    }

``notify`` may also be a list of such webhooks, one URL, or the same as JSON text (consoles
keep object parameters as text). ``environment`` is a label the alert leads with (default:
the region, the Secret Manager host and the action's name). Per webhook:

``url``
    ``https://`` only, no ``user:password@``. The whole URL is treated as a secret (a Slack
    webhook URL *is* the credential): logs, warnings and errors show its host only.
``format``
    ``slack``: ``{"text": "..."}``, which Slack, Mattermost and Rocket.Chat incoming
    webhooks accept. ``json``: the fields below as a JSON object, signed. Default: ``json``
    when a key is given, else ``slack``.
``hmacKey`` / ``hmacKeyEnv``
    The signing key (at least 16 characters; ``hmacKeyEnv`` names an environment variable,
    which keeps the key out of the parameters). Required for ``json``: a receiver must be
    able to tell our alert from anyone's. Requests are signed exactly like the webhook
    target's (``X-Rotation-Timestamp``, ``X-Rotation-Signature: sha256=HMAC(key,
    "<timestamp>.<raw body>")``; recipe in :mod:`rotation.targets.webhook`), plus
    ``X-Rotation-Event``.
``caBundle``, ``timeoutSeconds``
    A private CA (verification is never off); seconds per request, default 5, at most 30.

When: on a failure and on ``leftForRetry`` (the job was left running: ``resume`` it); on a
success that carries ``warnings`` (always: a warning needs a look); on every other success
only with ``onSuccess: true``; never for a skipped job or a dry run. What: ``event``
(``rotation.failed``, ``rotation.left_for_retry``, ``rotation.succeeded``), ``alertId``
(the same on every retry: receivers may dedupe on it), ``time`` (ISO-8601 UTC),
``environment``, ``region``, ``endpoint`` (the Secret Manager host), ``action``,
``activationId``, ``job`` (the token's fingerprint, as in every log line), ``trigger``
(``schedule``, ``manual``, ``retry`` or ``unknown``), ``secretId``, ``secretName``,
``outcome``, ``code``, ``message``, ``advice`` (what to do), ``warnings`` (each with its
``advice``), ``leftForRetry``, ``sentAt``. Never a value: the result carries none, and the
body is scrubbed by the log redactor once more before it leaves.

How the job was triggered is not in anything the activation is given (the event carries the
secret id and job token only, events/README.md), so it is read from Secret Manager's log:
Get Secret Logs with the job token as the keyword, the entry that raised the job, read as
:mod:`rotation.cli.joblog` reads it (``SCHEDULE`` -> schedule, ``RETRY`` -> retry,
``EXECUTE`` -> manual). NCP documents that the log holds the job token, not the names of
its action types (a guess, the emulator's A16): anything else, or no answer within a
couple of seconds, is ``unknown``. One call, made only when an alert is sent.

A notification never changes the rotation's outcome, and a notification problem never
goes unseen. The action calls :func:`alert` once, after the rotation and before the result
is finished: a bad ``notify`` setting never blocks the rotation (``deploy`` refuses it
with ``INVALID_NOTIFY``; the action rotates anyway, sends to the webhooks that are fine,
and the result and log carry ``NOTIFY_INVALID`` naming the setting). Each webhook gets up
to :data:`MAX_ATTEMPTS` attempts (a connection error, a timeout, 408, 425, 429 or 5xx is
retried after :data:`BACKOFF_SECONDS`; a TLS failure or another status is not), all
within the action's deadline minus :data:`EXIT_MARGIN_SECONDS`, so alerts never make the
action miss its deadline. A webhook not reached adds ``NOTIFY_FAILED`` (host only) to the
result's warnings. Each delivery, retry or failure is one log line (``notify.sent``,
``notify.retry``, ``notify.failed``, ``notify.skipped``) naming the host, not the URL.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from rotation import codes, logs, urls
from rotation.cafiles import ca_file_problem, resolve
from rotation.ncp.deadline import Deadline
from rotation.ncp.transport import USER_AGENT
from rotation.settings import SettingsError
from rotation.targets.webhook import ENV_NAME, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

if TYPE_CHECKING:
    from rotation.settings import Settings

EVENT_HEADER = "X-Rotation-Event"
MAX_WEBHOOKS = 5
MIN_KEY_LENGTH = 16
MAX_ENVIRONMENT_LENGTH = 100
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_TIMEOUT_SECONDS = 30.0
#: Not worth starting a request with less time than this left.
MIN_TIME_SECONDS = 0.5
#: Attempts per webhook, and the wait before the second and the third.
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 1.0)
#: Statuses worth another attempt (besides every 5xx): the receiver is busy, not refusing.
RETRIED_STATUSES = frozenset({408, 425, 429})
#: Kept back from the action's deadline for the result, ``rotation.end`` and the
#: interpreter's exit (the workflow keeps 0.5 to 1.5 s for the same: ``exit_margin_for``).
EXIT_MARGIN_SECONDS = 1.5
#: At most this long (and a quarter of what is left) to learn how the job was triggered.
TRIGGER_LOOKUP_SECONDS = 2.0
#: The deadline when the settings (and so ``__OW_DEADLINE``'s reading) failed to load.
FALLBACK_SECONDS = 15.0
#: How a job-raising log entry's kind (:func:`rotation.cli.joblog.how_triggered`) is named.
TRIGGERS = {"scheduled": "schedule", "retry": "retry", "manual": "manual"}

TOP_KEYS = frozenset({"webhooks", "onSuccess", "environment"})
HOOK_KEYS = frozenset({"url", "format", "hmacKey", "hmacKeyEnv", "caBundle", "timeoutSeconds"})
FORMATS = ("slack", "json")
#: A key quoted in a message: a name, never a value pasted in the wrong place (a URL).
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,40}")


class NotifyConfigError(SettingsError):
    """A bad ``notify`` parameter. Messages never repeat a URL or a key."""

    def __init__(self, message: str) -> None:
        super().__init__(codes.INVALID_NOTIFY, f"notify: {message}")


@dataclass(frozen=True)
class Webhook:
    url: str = field(repr=False)
    #: ``https://host[:port]``: what logs show (the path and query may be the credential).
    shown: str
    format: str
    key: bytes | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...] = ()
    on_success: bool = False
    #: The label alerts lead with; ``None``: region, host and action name.
    environment: str | None = None

    def __bool__(self) -> bool:
        return bool(self.webhooks)


@dataclass(frozen=True)
class Context:
    """Where and how the job ran: what an alert needs besides the result, so whoever reads
    it can find the log (activation id, job fingerprint) and act without asking anyone."""

    environment: str | None = None
    region: str | None = None
    #: ``https://host[:port]`` of Secret Manager.
    endpoint: str | None = None
    action: str | None = None
    activation_id: str | None = None
    #: The job token's fingerprint (:func:`rotation.logs.fingerprint`), never the token.
    job: str | None = None
    trigger: str = "unknown"


# -- configuration ----------------------------------------------------------------------------


def parse_notify(obj: object) -> NotifyConfig:
    """The ``notify`` parameter, checked strictly (deploy refuses a bad one); ``None``
    means no notifications."""
    top = _top(obj)
    if top is None:
        return NotifyConfig()
    hooks, on_success, environment = top
    return NotifyConfig(
        webhooks=tuple(_webhook(h, i + 1) for i, h in enumerate(hooks)),
        on_success=on_success,
        environment=environment,
    )


def read_notify(obj: object) -> tuple[NotifyConfig, list[str]]:
    """The ``notify`` parameter as the action reads it: every webhook that is fine, and
    what is wrong with the others (or with the whole setting), so a bad webhook silences
    itself only and never the rotation or the other webhooks."""
    try:
        top = _top(obj)
    except NotifyConfigError as exc:
        return NotifyConfig(), [str(exc)]
    if top is None:
        return NotifyConfig(), []
    raw_hooks, on_success, environment = top
    hooks: list[Webhook] = []
    problems: list[str] = []
    for number, raw in enumerate(raw_hooks, start=1):
        try:
            hooks.append(_webhook(raw, number))
        except NotifyConfigError as exc:
            problems.append(str(exc))
    config = NotifyConfig(webhooks=tuple(hooks), on_success=on_success, environment=environment)
    return config, problems


def _names(keys: list[str]) -> str:
    return ", ".join(k if _KEY_NAME.fullmatch(k) else "(a key that is not a name)" for k in keys)


def _top(obj: object) -> tuple[list[object], bool, str | None] | None:
    """The webhooks (unchecked), ``onSuccess`` and ``environment``; ``None``: no notify."""
    if obj is None:
        return None
    if isinstance(obj, str):
        text = obj.strip()
        if text.startswith(("{", "[")):
            try:
                obj = json.loads(text)
            except ValueError:
                raise NotifyConfigError("is not valid JSON") from None
    if isinstance(obj, (str, list)):
        obj = {"webhooks": obj if isinstance(obj, list) else [obj]}
    if not isinstance(obj, Mapping):
        raise NotifyConfigError(
            'must be an object {"webhooks": [...], "onSuccess": false}, a list of '
            "webhooks, or one URL"
        )
    unknown = sorted(str(k) for k in obj if k not in TOP_KEYS)
    if unknown:
        raise NotifyConfigError(
            f"unknown key {_names(unknown)}; it takes {', '.join(sorted(TOP_KEYS))}"
        )
    on_success = obj.get("onSuccess", False)
    if not isinstance(on_success, bool):
        raise NotifyConfigError("onSuccess must be true or false")
    hooks = obj.get("webhooks")
    if isinstance(hooks, (str, Mapping)):
        hooks = [hooks]
    if not isinstance(hooks, list) or not hooks:
        raise NotifyConfigError("webhooks must list at least one webhook")
    if len(hooks) > MAX_WEBHOOKS:
        raise NotifyConfigError(f"at most {MAX_WEBHOOKS} webhooks")
    return hooks, on_success, _environment(obj.get("environment"))


def _environment(raw: object) -> str | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, str)
        or not raw.strip()
        or len(raw) > MAX_ENVIRONMENT_LENGTH
        or not raw.isprintable()
    ):
        raise NotifyConfigError(
            f"environment must be a label of 1 to {MAX_ENVIRONMENT_LENGTH} printable "
            'characters (e.g. "prod-kr")'
        )
    return raw.strip()


def _webhook(raw: object, number: int) -> Webhook:
    where = f"webhook {number}"
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, Mapping):
        raise NotifyConfigError(f"{where} must be a URL or an object with a url")
    unknown = sorted(str(k) for k in raw if k not in HOOK_KEYS)
    if unknown:
        raise NotifyConfigError(
            f"{where}: unknown key {_names(unknown)}; it takes {', '.join(sorted(HOOK_KEYS))}"
        )
    url, shown = _url(raw.get("url"), where)
    key = _key(raw, where)
    fmt = raw.get("format", "json" if key is not None else "slack")
    if fmt not in FORMATS:
        raise NotifyConfigError(f"{where}: format must be slack or json")
    if fmt == "json" and key is None:
        raise NotifyConfigError(
            f"{where}: format json needs hmacKeyEnv (or hmacKey), so the receiver can check "
            "that the alert is ours"
        )
    ca = raw.get("caBundle")
    problem = None if ca is None else ca_file_problem("caBundle", ca)
    if problem is not None:
        raise NotifyConfigError(f"{where}: {problem}")
    timeout = raw.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or math.isnan(timeout)
        or not 0 < timeout <= MAX_TIMEOUT_SECONDS
    ):
        raise NotifyConfigError(
            f"{where}: timeoutSeconds must be above 0 and at most {MAX_TIMEOUT_SECONDS:g}"
        )
    return Webhook(
        url=url,
        shown=shown,
        format=str(fmt),
        key=key.encode("utf-8") if key is not None else None,
        ca_bundle=None if ca is None else resolve(ca),  # relative: in the action's folder
        timeout_seconds=float(timeout),
    )


def _url(raw: object, where: str) -> tuple[str, str]:
    """The webhook's URL by the one URL rule (:mod:`rotation.urls`): https only, a query
    allowed (Slack's token is in the path, others put it in the query), no fragment."""
    if not isinstance(raw, str) or not raw.strip():
        raise NotifyConfigError(f"{where} needs a url (https://...)")
    url = raw.strip()
    logs.REDACTOR.register(url)  # a Slack webhook URL is itself the credential
    problem = urls.url_problem(url, urls.WEBHOOK)
    if problem is not None:
        raise NotifyConfigError(f"{where}: url {problem}")
    return url, urls.shown(url, path=False)


def _key(raw: Mapping[str, Any], where: str) -> str | None:
    inline, env_name = raw.get("hmacKey"), raw.get("hmacKeyEnv")
    if inline is not None and env_name is not None:
        raise NotifyConfigError(f"{where}: give hmacKey or hmacKeyEnv, not both")
    if env_name is not None:
        if not isinstance(env_name, str) or not ENV_NAME.fullmatch(env_name):
            raise NotifyConfigError(
                f"{where}: hmacKeyEnv must name an environment variable (letters, digits, '_')"
            )
        value = os.environ.get(env_name)
        if not value:
            raise NotifyConfigError(f"{where}: hmacKeyEnv names {env_name}, which is not set")
    elif inline is not None:
        if not isinstance(inline, str):
            raise NotifyConfigError(f"{where}: hmacKey must be text")
        value = inline
    else:
        return None
    logs.REDACTOR.register(value)
    if len(value) < MIN_KEY_LENGTH:
        raise NotifyConfigError(f"{where}: the signing key must be at least {MIN_KEY_LENGTH} long")
    return value


# -- what an alert says -------------------------------------------------------------------------


def event_of(result: Mapping[str, Any], on_success: bool) -> str | None:
    """Which notification a result calls for, if any. A success with warnings always does:
    a warning is something a person should look at."""
    if result.get("leftForRetry"):
        return "left_for_retry"
    if not result.get("ok"):
        return "failed"
    if result.get("outcome") in ("rotated", "resumed") and (on_success or result.get("warnings")):
        return "succeeded"
    return None


def _advice(code: object, secret_id: object) -> str:
    text = codes.advice(code if isinstance(code, str) else None)
    return text.replace("SECRET_ID", secret_id) if isinstance(secret_id, str) else text


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def payload(
    result: Mapping[str, Any],
    event: str,
    *,
    secret_name: str | None = None,
    context: Context | None = None,
) -> dict[str, Any]:
    """The alert's fields (the ``json`` format's body, and what ``slack`` renders), scrubbed."""
    ctx = context or Context()
    error = result.get("error")
    error = error if isinstance(error, Mapping) else {}
    code = error.get("code")
    secret_id = result.get("secretId")
    warnings = [
        {
            "code": w.get("code"),
            "message": w.get("message"),
            "advice": _advice(w.get("code"), secret_id),
        }
        for w in result.get("warnings") or ()
        if isinstance(w, Mapping)
    ]
    if event == "succeeded":
        advice = "; ".join(dict.fromkeys(str(w["advice"]) for w in warnings)) or None
    else:
        advice = error.get("action") or codes.advice(code)
        if isinstance(secret_id, str):
            advice = advice.replace("SECRET_ID", secret_id)
    job = ctx.job or result.get("jobFingerprint")
    body: dict[str, Any] = {
        "event": f"rotation.{event}",
        "alertId": uuid.uuid4().hex,
        "time": _now_iso(),
        "environment": ctx.environment,
        "region": ctx.region,
        "endpoint": ctx.endpoint,
        "action": ctx.action,
        "activationId": ctx.activation_id,
        "job": job,
        "trigger": ctx.trigger,
        "secretId": secret_id,
        "secretName": secret_name or result.get("secretName"),
        "outcome": result.get("outcome"),
        "code": code,
        "message": error.get("message"),
        "advice": advice,
        "warnings": warnings,
        "leftForRetry": bool(result.get("leftForRetry")),
    }
    return logs.REDACTOR.scrub_any(body)  # type: ignore[no-any-return]


def slack_text(body: Mapping[str, Any]) -> str:
    """The alert as one chat message: what happened, what to do, where to look. An alert
    built elsewhere (the watchdog's, :mod:`rotation.watch.alerts`) brings its own ``text``."""
    if not str(body.get("event", "")).startswith("rotation.") and isinstance(
        body.get("text"), str
    ):
        return str(body["text"])
    name = body.get("secretName") or "a secret"
    where = f"*{name}* (`{body.get('secretId')}`)"
    label = f"[{body['environment']}] " if body.get("environment") else ""
    warnings = [w for w in body.get("warnings") or () if isinstance(w, Mapping)]
    if body["event"] == "rotation.succeeded":
        mark, verdict = (
            (":warning:", "succeeded with warnings")
            if warnings
            else (":white_check_mark:", "succeeded")
        )
        lines = [f"{mark} {label}Rotation of {where} {verdict} ({body.get('outcome')})."]
    else:
        head = (
            f":warning: {label}Rotation of {where} was left running for a resume"
            if body["event"] == "rotation.left_for_retry"
            else f":rotating_light: {label}Rotation of {where} failed"
        )
        code, message = body.get("code") or "unknown", body.get("message") or ""
        lines = [f"{head}: `{code}` {message}".rstrip()]
    lines += [f"Warning `{w.get('code')}`: {w.get('message')}" for w in warnings]
    if body.get("advice"):
        lines.append(f"What to do: {body['advice']}")
    facts = (
        ("job", body.get("job")),
        ("activation", body.get("activationId")),
        ("trigger", body.get("trigger")),
        ("at", body.get("time")),
    )
    lines.append(" | ".join(f"{what} `{value}`" for what, value in facts if value))
    return "\n".join(lines)


# -- the action's one call ----------------------------------------------------------------------


def alert(raw: object, result: Mapping[str, Any], settings: Settings | None) -> dict[str, Any]:
    """Read ``notify`` (``raw``), send what ``result`` calls for, and return ``result``
    with what went wrong added to its ``warnings`` (``NOTIFY_INVALID``, ``NOTIFY_FAILED``).

    Called by the handler once, after the rotation and before the result is finished, so
    the notify outcome is in the returned and logged result. Never raises, never changes
    anything but ``warnings``, and ends :data:`EXIT_MARGIN_SECONDS` before the deadline.
    ``settings`` is ``None`` when they failed to load (the alert says what it can)."""
    out = dict(result)
    try:
        config, problems = read_notify(raw)
        for problem in problems:
            logs.log.warning("notify.invalid", code=codes.NOTIFY_INVALID, problem=problem)
        _add(out, [_warning(codes.NOTIFY_INVALID, p) for p in problems])
        if not config.webhooks or event_of(out, config.on_success) is None:
            return out
        budget = _deadline_of(settings).minus(EXIT_MARGIN_SECONDS)
        context = _context(config, settings, out, budget)
        _add(out, send(config, out, deadline=budget, context=context))
    except Exception as exc:  # noqa: BLE001 - a notification never changes the outcome
        logs.log.warning("notify.failed", error=type(exc).__name__, reason="unexpected")
        _add(out, [_warning(codes.NOTIFY_FAILED, f"alerts not sent: {type(exc).__name__}")])
    return out


def _warning(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _add(result: dict[str, Any], warnings: list[dict[str, str]]) -> None:
    if warnings:
        result["warnings"] = [*(result.get("warnings") or ()), *warnings]


def _deadline_of(settings: Settings | None) -> Deadline:
    if settings is not None:
        return settings.deadline
    try:
        epoch_ms = float(os.environ.get("__OW_DEADLINE", ""))
    except ValueError:
        epoch_ms = math.nan
    if math.isfinite(epoch_ms):
        return Deadline.at_epoch_ms(epoch_ms)
    return Deadline.after(FALLBACK_SECONDS)


def _context(
    config: NotifyConfig, settings: Settings | None, result: Mapping[str, Any], budget: Deadline
) -> Context:
    action = (settings.action_name if settings else None) or os.environ.get("__OW_ACTION_NAME")
    activation = (settings.activation_id if settings else None) or os.environ.get(
        "__OW_ACTIVATION_ID"
    )
    region = settings.region if settings else None
    endpoint = urls.shown(settings.endpoint, path=False) if settings else None
    host = urlsplit(settings.endpoint).netloc if settings else None
    job = logs.fingerprint(settings.job_token) if settings and settings.job_token else None
    label = config.environment or " ".join(p for p in (region, host, action) if p) or None
    return Context(
        environment=label,
        region=region,
        endpoint=endpoint,
        action=action or None,
        activation_id=activation or None,
        job=job or result.get("jobFingerprint"),
        trigger=trigger_of(settings, budget) if settings and settings.job_token else "unknown",
    )


def trigger_of(settings: Settings, budget: Deadline) -> str:
    """How the job was raised (``schedule``, ``manual``, ``retry``), read from Secret
    Manager's log; ``unknown`` when the log does not say within a short time."""
    from rotation.cli.joblog import how_triggered, parse_entry, raises_job  # noqa: PLC0415
    from rotation.ncp.errors import NotFound  # noqa: PLC0415
    from rotation.ncp.secretmanager import SecretManagerClient  # noqa: PLC0415

    seconds = min(TRIGGER_LOOKUP_SECONDS, budget.remaining() / 4)
    if seconds < MIN_TIME_SECONDS / 2:
        return "unknown"
    deadline = Deadline.after(seconds)
    try:
        for endpoint in settings.endpoints or (settings.endpoint,):
            with SecretManagerClient(
                settings.credentials, endpoint=endpoint, deadline=deadline
            ) as client:
                try:
                    page = client.get_secret_logs(
                        settings.secret_id, keyword=settings.job_token, page_size=20
                    )
                except NotFound:  # the secret lives behind the other host
                    continue
            for raw in page.entries:
                entry = parse_entry(raw)
                if entry.token == settings.job_token and raises_job(entry.action):
                    return TRIGGERS.get(how_triggered(entry.action), "unknown")
            break
    except Exception as exc:  # noqa: BLE001 - an alert without it beats no alert
        logs.log.info("notify.trigger_unknown", error=type(exc).__name__)
    return "unknown"


# -- sending ------------------------------------------------------------------------------------


def _encode(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _request(hook: Webhook, body: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    sent_at = time.time_ns() // 1_000_000
    document = {"text": slack_text(body)} if hook.format == "slack" else {**body, "sentAt": sent_at}
    raw = _encode(document)
    headers = {"Content-Type": "application/json", EVENT_HEADER: str(body["event"])}
    if hook.key is not None:
        stamp = str(sent_at)
        headers[TIMESTAMP_HEADER] = stamp
        headers[SIGNATURE_HEADER] = sign(hook.key, stamp, raw)
    return raw, headers


def send(
    config: NotifyConfig,
    result: Mapping[str, Any],
    *,
    deadline: Deadline,
    secret_name: str | None = None,
    context: Context | None = None,
) -> list[dict[str, str]]:
    """Post ``result`` to every webhook it concerns, each retried within ``deadline``.
    Never raises; logs each delivery; returns a ``NOTIFY_FAILED`` warning per webhook
    that was not reached (naming its host only).

    Webhooks are posted to side by side, each on its own connection, so a receiver that
    stalls or keeps failing does not use up the time of the others (the pager behind the
    second webhook still hears in time)."""
    try:
        event = event_of(result, config.on_success) if config.webhooks else None
        if event is None:
            return []
        body = payload(result, event, secret_name=secret_name, context=context)
    except Exception as exc:  # noqa: BLE001 - a notification never changes the outcome
        logs.log.warning("notify.failed", error=type(exc).__name__, reason="unexpected")
        return [_warning(codes.NOTIFY_FAILED, f"alerts not sent: {type(exc).__name__}")]
    return post(config, body, deadline=deadline)


def post(
    config: NotifyConfig, body: Mapping[str, Any], *, deadline: Deadline
) -> list[dict[str, str]]:
    """Post an alert ``body`` (scrubbed; a ``json`` webhook gets it whole, a ``slack`` one
    its :func:`slack_text`) to every webhook, as :func:`send` does: side by side, each
    retried within ``deadline``. Never raises; a ``NOTIFY_FAILED`` warning per webhook not
    reached. The watchdog's alerts (:mod:`rotation.watch.alerts`) go out through here."""
    if not config.webhooks:
        return []
    try:
        for hook in config.webhooks:
            logs.REDACTOR.register(hook.url)
        with ThreadPoolExecutor(len(config.webhooks), thread_name_prefix="notify") as pool:
            # Each in a copy of this context, so its log lines carry the job's fields; each
            # ends by the deadline, so leaving the block waits no longer than that.
            futures = [
                pool.submit(contextvars.copy_context().run, _deliver, hook, body, deadline)
                for hook in config.webhooks
            ]
            outcomes = [future.result() for future in futures]
    except Exception as exc:  # noqa: BLE001 - a notification never changes the outcome
        logs.log.warning("notify.failed", error=type(exc).__name__, reason="unexpected")
        return [_warning(codes.NOTIFY_FAILED, f"alerts not sent: {type(exc).__name__}")]
    return [
        _warning(
            codes.NOTIFY_FAILED,
            f"the {body['event']} alert to {hook.shown} was not delivered: {why}",
        )
        for hook, why in zip(config.webhooks, outcomes, strict=True)
        if why is not None
    ]


@dataclass(frozen=True)
class Attempt:
    """One POST's outcome: a status, or the class of the exception (``str(exc)`` holds the
    URL, which may be the credential)."""

    status: int | None
    error: str | None
    retryable: bool
    duration_ms: float

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def what(self) -> dict[str, Any]:
        return {"status": self.status} if self.status is not None else {"error": self.error}

    def __str__(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else str(self.error)


def _deliver(hook: Webhook, body: Mapping[str, Any], deadline: Deadline) -> str | None:
    """One webhook, up to :data:`MAX_ATTEMPTS` times, never past ``deadline``: ``None``
    when delivered, else why not (host-free, secret-free)."""
    with requests.Session() as http:
        http.headers["User-Agent"] = f"{USER_AGENT} notify"
        return _attempts(http, hook, body, deadline)


def _attempts(
    http: requests.Session, hook: Webhook, body: Mapping[str, Any], deadline: Deadline
) -> str | None:
    notification = body["event"]
    if deadline.remaining() < MIN_TIME_SECONDS:
        logs.log.warning(
            "notify.skipped", to=hook.shown, notification=notification, reason="deadline"
        )
        return "no time was left before the action's deadline"
    for number in range(1, MAX_ATTEMPTS + 1):
        attempt = _attempt(http, hook, body, deadline)
        if attempt.delivered:
            logs.log.info(
                "notify.sent",
                to=hook.shown,
                notification=notification,
                status=attempt.status,
                duration_ms=attempt.duration_ms,
                attempts=number,
            )
            return None
        wait = BACKOFF_SECONDS[number - 1] if number < MAX_ATTEMPTS else 0.0
        again = attempt.retryable and number < MAX_ATTEMPTS
        if again and deadline.remaining() - wait >= MIN_TIME_SECONDS:
            logs.log.warning(
                "notify.retry",
                to=hook.shown,
                notification=notification,
                attempt=number,
                wait_s=wait,
                **attempt.what,
            )
            time.sleep(wait)
            continue
        logs.log.warning(
            "notify.failed",
            to=hook.shown,
            notification=notification,
            attempts=number,
            duration_ms=attempt.duration_ms,
            **attempt.what,
        )
        if not attempt.retryable:
            return f"{attempt} (not retried: the receiver refused it, or TLS failed)"
        if again:
            return f"{attempt} after {number} attempt(s); the action's deadline came first"
        return f"{attempt} after {number} attempts"
    return None  # not reached: the last attempt returns above


def _attempt(
    http: requests.Session, hook: Webhook, body: Mapping[str, Any], deadline: Deadline
) -> Attempt:
    # Connect and read are timed apart: together they never pass the deadline.
    left = deadline.remaining()
    connect = min(hook.timeout_seconds, left / 2)
    read = min(hook.timeout_seconds, left - connect)
    raw, headers = _request(hook, body)
    started = time.monotonic()

    def took() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        response = http.post(
            hook.url,
            data=raw,
            headers=headers,
            timeout=(connect, read),
            verify=hook.ca_bundle or True,
            allow_redirects=False,
        )
    except requests.exceptions.SSLError:  # a ConnectionError, but no retry will fix it
        return Attempt(None, "SSLError", False, took())
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as exc:
        return Attempt(None, type(exc).__name__, True, took())
    except requests.RequestException as exc:
        return Attempt(None, type(exc).__name__, False, took())
    with response:
        status = response.status_code
    return Attempt(status, None, status >= 500 or status in RETRIED_STATUSES, took())
