"""Be told: post a rotation's failure (and, if asked, its success) to webhooks.

Nobody watches a scheduled rotation. A failed one waits a whole period for the next try,
and a job left running for ``resume`` waits for ever. So the action's ``notify`` parameter
names webhooks that hear about it::

    "notify": {
      "webhooks": [
        {"url": "https://hooks.slack.com/services/T000/B000/XXXX"},
        {"url": "https://ops.example.com/rotation", "format": "json", "hmacKeyEnv": "NOTIFY_KEY"}
      ],
      "onSuccess": false
    }

``notify`` may also be a list of such webhooks, one URL, or the same as JSON text (consoles
keep object parameters as text). Per webhook:

``url``
    ``https://`` only, no ``user:password@``. The whole URL is treated as a secret (a Slack
    webhook URL *is* the credential): logs and errors show its host only.
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

When: on a failure and on ``leftForRetry`` (the job was left running: ``resume`` it); on
success only with ``onSuccess: true``; never for a skipped job. What: ``event``
(``rotation.failed``, ``rotation.left_for_retry``, ``rotation.succeeded``), ``secretId``,
``secretName``, ``outcome``, ``code``, ``message``, ``advice`` (what to do),
``leftForRetry``, ``sentAt``. Never a value: the result carries none, and the body is
scrubbed by the log redactor once more before it leaves.

A notification never changes the rotation's outcome: :func:`send` never raises, each
webhook gets one attempt bounded by the invocation's deadline, and each delivery or failure
is one log line (``notify.sent`` / ``notify.failed``) naming the host, not the URL.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from rotation import codes, logs, urls
from rotation.cafiles import ca_file_problem, resolve
from rotation.ncp.deadline import Deadline
from rotation.ncp.transport import USER_AGENT
from rotation.settings import SettingsError
from rotation.targets.webhook import ENV_NAME, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

EVENT_HEADER = "X-Rotation-Event"
MAX_WEBHOOKS = 5
MIN_KEY_LENGTH = 16
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_TIMEOUT_SECONDS = 30.0
#: Not worth starting a request with less time than this left.
MIN_TIME_SECONDS = 0.5

TOP_KEYS = frozenset({"webhooks", "onSuccess"})
HOOK_KEYS = frozenset({"url", "format", "hmacKey", "hmacKeyEnv", "caBundle", "timeoutSeconds"})
FORMATS = ("slack", "json")


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

    def __bool__(self) -> bool:
        return bool(self.webhooks)


# -- configuration ----------------------------------------------------------------------------


def parse_notify(obj: object) -> NotifyConfig:
    """The ``notify`` parameter, checked; ``None`` means no notifications."""
    if obj is None:
        return NotifyConfig()
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
            f"unknown key {', '.join(unknown)}; it takes {', '.join(sorted(TOP_KEYS))}"
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
    return NotifyConfig(
        webhooks=tuple(_webhook(h, i + 1) for i, h in enumerate(hooks)), on_success=on_success
    )


def _webhook(raw: object, number: int) -> Webhook:
    where = f"webhook {number}"
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, Mapping):
        raise NotifyConfigError(f"{where} must be a URL or an object with a url")
    unknown = sorted(str(k) for k in raw if k not in HOOK_KEYS)
    if unknown:
        raise NotifyConfigError(
            f"{where}: unknown key {', '.join(unknown)}; it takes {', '.join(sorted(HOOK_KEYS))}"
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


# -- sending ------------------------------------------------------------------------------------


def event_of(result: Mapping[str, Any], on_success: bool) -> str | None:
    """Which notification a result calls for, if any."""
    if result.get("leftForRetry"):
        return "left_for_retry"
    if not result.get("ok"):
        return "failed"
    if on_success and result.get("outcome") in ("rotated", "resumed"):
        return "succeeded"
    return None


def payload(
    result: Mapping[str, Any], event: str, *, secret_name: str | None = None
) -> dict[str, Any]:
    error = result.get("error")
    error = error if isinstance(error, Mapping) else {}
    code = error.get("code")
    secret_id = result.get("secretId")
    advice = (error.get("action") or codes.advice(code)) if event != "succeeded" else None
    if advice is not None and isinstance(secret_id, str):
        advice = advice.replace("SECRET_ID", secret_id)
    body: dict[str, Any] = {
        "event": f"rotation.{event}",
        "secretId": secret_id,
        "secretName": secret_name or result.get("secretName"),
        "outcome": result.get("outcome"),
        "code": code,
        "message": error.get("message"),
        "advice": advice,
        "leftForRetry": bool(result.get("leftForRetry")),
    }
    return logs.REDACTOR.scrub_any(body)  # type: ignore[no-any-return]


def slack_text(body: Mapping[str, Any]) -> str:
    name = body.get("secretName") or "a secret"
    where = f"*{name}* (`{body.get('secretId')}`)"
    if body["event"] == "rotation.succeeded":
        return f":white_check_mark: Rotation of {where} succeeded ({body.get('outcome')})."
    head = (
        f":warning: Rotation of {where} was left running for a resume"
        if body["event"] == "rotation.left_for_retry"
        else f":rotating_light: Rotation of {where} failed"
    )
    return (
        f"{head}: `{body.get('code') or 'unknown'}` {body.get('message') or ''}".rstrip()
        + f"\nWhat to do: {body.get('advice')}"
    )


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
    session: requests.Session | None = None,
) -> None:
    """Post ``result`` to every webhook it concerns. Never raises; logs each delivery."""
    try:
        event = event_of(result, config.on_success) if config.webhooks else None
        if event is None:
            return
        for hook in config.webhooks:
            logs.REDACTOR.register(hook.url)
        body = payload(result, event, secret_name=secret_name)
        own = session is None
        http = session or requests.Session()
        http.headers["User-Agent"] = f"{USER_AGENT} notify"
        try:
            for hook in config.webhooks:
                _post(http, hook, body, deadline)
        finally:
            if own:
                http.close()
    except Exception as exc:  # noqa: BLE001 - a notification never changes the outcome
        logs.log.warning("notify.failed", error=type(exc).__name__, reason="unexpected")


def _post(
    http: requests.Session, hook: Webhook, body: Mapping[str, Any], deadline: Deadline
) -> None:
    left = deadline.remaining()
    if left < MIN_TIME_SECONDS:
        logs.log.warning(
            "notify.skipped", to=hook.shown, notification=body["event"], reason="deadline"
        )
        return
    timeout = min(hook.timeout_seconds, left)
    raw, headers = _request(hook, body)
    started = time.monotonic()
    try:
        response = http.post(
            hook.url,
            data=raw,
            headers=headers,
            timeout=(timeout, timeout),
            verify=hook.ca_bundle or True,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        # str(exc) holds the URL, which may be the credential: keep the class only.
        logs.log.warning(
            "notify.failed", to=hook.shown, notification=body["event"], error=type(exc).__name__
        )
        return
    with response:
        status = response.status_code
    duration = round((time.monotonic() - started) * 1000, 1)
    if 200 <= status < 300:
        logs.log.info(
            "notify.sent",
            to=hook.shown,
            notification=body["event"],
            status=status,
            duration_ms=duration,
        )
    else:
        logs.log.warning(
            "notify.failed",
            to=hook.shown,
            notification=body["event"],
            status=status,
            duration_ms=duration,
        )
