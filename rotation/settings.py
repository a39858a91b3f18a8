"""One frozen object from the action's parameters and its environment.

Args first, the environment second, for every setting (DESIGN.md, Contracts). The secret id
and the job token come from wherever the runtime put them: NCP says they are "injected"
and "visible as environment variables" without naming them, and the OpenWhisk launcher
turns every activation-level key ``K`` into ``__OW_`` + ``K`` upper-cased, so all of these
are read, in order:

    secret id   args.secretId, env secretId, SECRET_ID, __OW_SECRETID
    job token   args.jobToken, env jobToken, JOB_TOKEN, __OW_JOBTOKEN

Everything is validated here, before any API call: a missing id, a malformed endpoint or a
target that is not an object ends the invocation with a clear error and changes nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rotation.codes import CodedError
from rotation.ncp.deadline import Deadline
from rotation.ncp.secretmanager import DEFAULT_ENDPOINT
from rotation.ncp.signing import Credentials

DEFAULT_TIMEOUT_SECONDS = 60.0  # Cloud Functions' default action timeout
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(CodedError, ValueError):
    """Bad input. ``code`` is stable for callers (:mod:`rotation.codes`); the message says
    what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class Settings:
    secret_id: str
    job_token: str = field(repr=False)
    credentials: Credentials
    endpoint: str
    deadline: Deadline
    target: Mapping[str, Any] | None = None
    policy: Mapping[str, Any] | None = None
    activation_id: str | None = None
    action_name: str | None = None

    @classmethod
    def load(cls, args: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if env is None else env
        if not isinstance(args, Mapping):
            raise SettingsError("INVALID_INPUT", "the action parameters must be a JSON object")
        secret_id = _first(args, environ, "secretId", ("secretId", "SECRET_ID", "__OW_SECRETID"))
        if not secret_id:
            raise SettingsError(
                "MISSING_SECRET_ID",
                "no secret id: pass secretId, or set secretId / SECRET_ID / __OW_SECRETID",
            )
        if "/" in secret_id or secret_id.strip() != secret_id:
            raise SettingsError("INVALID_SECRET_ID", "the secret id must not contain '/' or spaces")
        job_token = _first(args, environ, "jobToken", ("jobToken", "JOB_TOKEN", "__OW_JOBTOKEN"))
        if not job_token:
            raise SettingsError(
                "MISSING_JOB_TOKEN",
                "no job token: pass jobToken, or set jobToken / JOB_TOKEN / __OW_JOBTOKEN "
                "(Secret Manager injects it when it runs the rotation trigger)",
            )
        access_key = _first(args, environ, "accessKey", ("NCLOUD_ACCESS_KEY",))
        secret_key = _first(args, environ, "secretKey", ("NCLOUD_SECRET_KEY",))
        if not access_key or not secret_key:
            raise SettingsError(
                "MISSING_CREDENTIALS",
                "no API credentials: pass accessKey and secretKey, or set NCLOUD_ACCESS_KEY "
                "and NCLOUD_SECRET_KEY",
            )
        endpoint = _first(
            args, environ, "secretManagerEndpoint", ("NCLOUD_SECRET_MANAGER_ENDPOINT",)
        )
        return cls(
            secret_id=secret_id,
            job_token=job_token,
            credentials=Credentials(access_key, secret_key),
            endpoint=_endpoint(endpoint or DEFAULT_ENDPOINT),
            deadline=_deadline(args, environ),
            target=_object(args.get("target"), "target", "INVALID_TARGET"),
            policy=_object(args.get("policy"), "policy", "INVALID_POLICY"),
            activation_id=environ.get("__OW_ACTIVATION_ID") or None,
            action_name=environ.get("__OW_ACTION_NAME") or None,
        )


def _first(
    args: Mapping[str, Any], env: Mapping[str, str], arg: str, names: tuple[str, ...]
) -> str | None:
    value = args.get(arg)
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"INVALID_{_snake(arg).upper()}", f"{arg} must be a string")
    if value:
        return value
    for name in names:
        if env.get(name):
            return env[name]
    return None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SettingsError(
            "INVALID_ENDPOINT",
            "secretManagerEndpoint must be an absolute https URL, e.g. "
            "https://secretmanager.apigw.ntruss.com or https://ocapi-kr.ncloud.com/secretmanager",
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise SettingsError(
            "INVALID_ENDPOINT", "plain http is only allowed to a local emulator (127.0.0.1)"
        )
    if parts.query or parts.fragment:
        raise SettingsError("INVALID_ENDPOINT", "secretManagerEndpoint must not have a query")
    return url.rstrip("/")


def _deadline(args: Mapping[str, Any], env: Mapping[str, str]) -> Deadline:
    raw = env.get("__OW_DEADLINE")
    if raw:
        try:
            return Deadline.at_epoch_ms(float(raw))
        except ValueError:
            raise SettingsError(
                "INVALID_DEADLINE", "__OW_DEADLINE must be epoch milliseconds"
            ) from None
    timeout: Any = args.get("timeoutSeconds", env.get("ROTATION_TIMEOUT_SECONDS"))
    if timeout is None:
        return Deadline.after(DEFAULT_TIMEOUT_SECONDS)
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(timeout, bool) or not 0 < seconds <= 3600:
        raise SettingsError("INVALID_TIMEOUT", "timeoutSeconds must be a number of seconds, 0-3600")
    return Deadline.after(seconds)


def _object(value: Any, name: str, code: str) -> Mapping[str, Any] | None:
    """An object parameter; a string holding a JSON object is accepted too (consoles often
    store default parameters as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SettingsError(code, f"{name} must be a JSON object") from None
    if not isinstance(value, Mapping):
        raise SettingsError(code, f"{name} must be a JSON object")
    return value
