"""``webhook``: hand the credential to an HTTPS endpoint the user runs.

For services we have no driver for. The rotation POSTs signed JSON to two URLs the user
configures: ``url`` receives ``set``, ``rollback`` and ``finish``; ``testUrl`` receives
``test`` and must answer 2xx only if the credentials it was sent really work (401 or 403
if they do not). Each body is compact JSON::

    {"action": "set", "secretId": "...", "credentials": {"apiKey": "..."}, "sentAt": 1700000000000}

``test`` bodies also carry ``"stage"`` (``PENDING``, ``ACTIVE`` or ``PREVIOUS``). A retried
job repeats calls (with a new ``sentAt``), so every action must be idempotent.

Why the endpoint must check a signature: whoever can POST to ``url`` can make the service
accept a credential of their choosing. Every request is therefore signed with a key shared
with the receiver (``hmacKey``, or better ``hmacKeyEnv`` so the key stays out of the
action parameters)::

    X-Rotation-Timestamp: <epoch milliseconds, the same value as the body's sentAt>
    X-Rotation-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<raw body>")>

How a receiver verifies a request, before it parses or acts on anything:

1. Read ``X-Rotation-Timestamp``; reject the request if it is not an integer or lies more
   than 5 minutes from the receiver's clock (in either direction): a captured request
   must not be replayable later.
2. Compute HMAC-SHA256 with the shared key over the timestamp text, a ``.``, and the body
   bytes exactly as received (not re-serialised JSON), hex-encode it, and compare it with
   the header after its ``sha256=`` prefix using a constant-time comparison.
3. Only then parse the body, and check that ``secretId`` is the secret you expect.

In Python::

    def verified(key: bytes, headers: Mapping[str, str], body: bytes) -> bool:
        stamp = headers.get("X-Rotation-Timestamp", "")
        if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 300_000:
            return False
        mac = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-Rotation-Signature", ""), f"sha256={mac}")

Choices, and why:

* HTTPS only, with certificate verification always on (``caBundle`` adds a private CA, it
  cannot switch checking off): the bodies carry credentials in clear.
* Redirects are not followed. A 3xx is a non-2xx answer: following it would re-send the
  credentials to a host the user did not configure.
* No retries here: the workflow already re-runs a failed job from ``probe``, and a blind
  re-send of ``set`` after a timeout could race the first attempt.
* The CA bundle is passed to every request, not only set on the session: ``requests`` lets
  ``REQUESTS_CA_BUNDLE`` override a session-level ``verify``.
* Errors name the action, the URL without user info, query string or fragment (a token
  often rides there), and the HTTP status or the exception class. Never the response body,
  which a receiver may use to echo what it got.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from rotation import urls
from rotation.cafiles import ca_file_problem, resolve
from rotation.ncp.deadline import Deadline
from rotation.ncp.models import SecretValue, Stage, encodable
from rotation.ncp.transport import USER_AGENT
from rotation.targets.base import (
    Change,
    Target,
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetRollbackFailed,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)

TIMESTAMP_HEADER = "X-Rotation-Timestamp"
SIGNATURE_HEADER = "X-Rotation-Signature"
#: How far from its clock a receiver should accept a timestamp (documented above).
MAX_CLOCK_SKEW_SECONDS = 300

MIN_KEY_LENGTH = 16
#: An environment variable's name, as a shell writes it (``hmacKeyEnv``).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 60.0
KNOWN_KEYS = frozenset(
    {"kind", "url", "testUrl", "hmacKey", "hmacKeyEnv", "caBundle", "timeoutSeconds"}
)


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Rotation-Signature`` value for one request."""
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class _Endpoint:
    url: str
    #: ``https://host[:port]/path``: what messages show (no user info, query or fragment).
    shown: str


def _endpoint(config: Mapping[str, Any], key: str) -> _Endpoint:
    """``url`` / ``testUrl`` by the one URL rule (:mod:`rotation.urls`): https only (the
    bodies carry credentials), a query allowed (a token may ride there), no fragment."""
    raw = config.get(key)
    if not isinstance(raw, str) or not raw.strip():
        raise TargetConfigError(f"webhook needs {key}: the https:// URL to POST to")
    url = raw.strip()
    problem = urls.url_problem(url, urls.WEBHOOK)
    if problem is not None:
        hint = (
            ": the HMAC signature (hmacKey) authenticates the request"
            if problem.kind == "credentials"
            else ""
        )
        raise TargetConfigError(f"webhook {key} {problem}{hint}")
    return _Endpoint(url=url, shown=urls.shown(url))


def _hmac_key(config: Mapping[str, Any]) -> str:
    inline, env_name = config.get("hmacKey"), config.get("hmacKeyEnv")
    if inline is not None and env_name is not None:
        raise TargetConfigError("webhook takes hmacKey or hmacKeyEnv, not both: remove one")
    if env_name is not None:
        if not isinstance(env_name, str) or not ENV_NAME.fullmatch(env_name):
            raise TargetConfigError(
                "webhook hmacKeyEnv must name an environment variable (letters, digits, '_')"
            )
        value = os.environ.get(env_name)
        if not value:
            raise TargetConfigError(
                f"webhook hmacKeyEnv names {env_name}, which is not set in the environment"
            )
        source = f"the environment variable {env_name}"
    elif inline is not None:
        if not isinstance(inline, str):
            raise TargetConfigError("webhook hmacKey must be a string")
        value, source = inline, "hmacKey"
    else:
        raise TargetConfigError(
            "webhook needs a signing key: set hmacKeyEnv (the name of an environment "
            "variable holding the key) or hmacKey"
        )
    if len(value) < MIN_KEY_LENGTH:
        raise TargetConfigError(
            f"webhook signing key from {source} is too short: use at least "
            f"{MIN_KEY_LENGTH} characters"
        )
    if not encodable(value):
        raise TargetConfigError(
            f"webhook signing key from {source} holds text that is not valid Unicode"
        )
    return value


def _ca_bundle(config: Mapping[str, Any]) -> str | None:
    """``caBundle``: loaded now, as ``requests`` will load it (:mod:`rotation.cafiles`)."""
    raw = config.get("caBundle")
    if raw is None:
        return None
    problem = ca_file_problem("webhook caBundle", raw)
    if problem is not None:
        raise TargetConfigError(problem)
    assert isinstance(raw, str)
    return resolve(raw)  # relative: in the action's folder


def _timeout(config: Mapping[str, Any]) -> float:
    raw = config.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    if (
        isinstance(raw, bool)
        or not isinstance(raw, (int, float))
        or math.isnan(raw)
        or not 0 < raw <= MAX_TIMEOUT_SECONDS
    ):
        raise TargetConfigError(
            f"webhook timeoutSeconds must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT_SECONDS:g}"
        )
    return float(raw)


def build_webhook(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> WebhookTarget:
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown:
        raise TargetConfigError(
            f"webhook does not know {', '.join(unknown)}; it takes {', '.join(sorted(KNOWN_KEYS))}"
        )
    kind = config.get("kind", WebhookTarget.kind)
    if kind != WebhookTarget.kind:
        raise TargetConfigError(f"webhook configuration has kind {kind!r}")
    url = _endpoint(config, "url")
    test_url = _endpoint(config, "testUrl")
    key = _hmac_key(config)
    ca_bundle = _ca_bundle(config)
    timeout = _timeout(config)
    ctx.register_secret(key)
    return WebhookTarget(
        url=url,
        test_url=test_url,
        hmac_key=key.encode("utf-8"),
        ca_bundle=ca_bundle,
        timeout_seconds=timeout,
        deadline=ctx.deadline,
    )


class WebhookTarget(Target):
    """Signed POSTs to the user's endpoint; see the module docstring for the protocol."""

    kind = "webhook"
    external = True

    def __init__(
        self,
        *,
        url: _Endpoint,
        test_url: _Endpoint,
        hmac_key: bytes,
        ca_bundle: str | None,
        timeout_seconds: float,
        deadline: Deadline,
    ) -> None:
        self._url = url
        self._test_url = test_url
        self._key = hmac_key
        self._verify: str | bool = ca_bundle if ca_bundle is not None else True
        self.timeout_seconds = timeout_seconds
        self._deadline = deadline
        self._session = requests.Session()
        self._session.verify = self._verify
        self._session.headers["User-Agent"] = f"{USER_AGENT} webhook"

    def __repr__(self) -> str:
        return f"WebhookTarget(url={self._url.shown!r}, test_url={self._test_url.shown!r})"

    def __enter__(self) -> WebhookTarget:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def probe(self, change: Change, stage: Stage) -> bool:
        status = self._post(
            self._test_url,
            "test",
            {
                "action": "test",
                "secretId": change.secret_id,
                "stage": stage.value,
                "credentials": change.changed(stage),
            },
        )
        if _ok(status):
            return True
        if status in (401, 403):
            return False
        raise TargetUnreachable(self._answered(self._test_url, status, "test"))

    def set(self, change: Change) -> None:
        status = self._post(self._url, "set", _body("set", change, Stage.PENDING))
        if not _ok(status):
            raise TargetSetFailed(self._answered(self._url, status, "set"))

    def test(self, change: Change) -> None:
        if not self.probe(change, Stage.PENDING):
            raise TargetTestFailed(
                f"webhook {self._test_url.shown} rejected the pending credentials"
            )

    def rollback(self, change: Change) -> None:
        try:
            status = self._post(self._url, "rollback", _body("rollback", change, Stage.ACTIVE))
        except TargetUnreachable as exc:
            raise TargetRollbackFailed(str(exc)) from None
        if not _ok(status):
            raise TargetRollbackFailed(self._answered(self._url, status, "rollback"))

    def finish(self, change: Change) -> None:
        # Transport failures stay TargetUnreachable, a TargetError like the rest.
        status = self._post(self._url, "finish", _body("finish", change, Stage.PENDING))
        if not _ok(status):
            raise TargetError(self._answered(self._url, status, "finish"))

    def close(self) -> None:
        self._session.close()

    def _post(self, endpoint: _Endpoint, action: str, payload: Mapping[str, Any]) -> int:
        """Send one signed request and return the HTTP status (the body is never read)."""
        left = self._deadline.remaining()
        if left <= 0:
            raise TargetUnreachable(
                f"webhook {endpoint.shown} not called for {action}: the deadline has passed"
            )
        timeout = min(self.timeout_seconds, left)
        sent_at = _epoch_ms()
        body = _encode({**payload, "sentAt": sent_at})
        stamp = str(sent_at)
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self._key, stamp, body),
        }
        try:
            response = self._session.post(
                endpoint.url,
                data=body,
                headers=headers,
                timeout=(timeout, timeout),
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # str(exc) carries the full URL (query string included): keep the class only.
            raise TargetUnreachable(
                f"webhook {endpoint.shown} unreachable for {action}: {type(exc).__name__}"
            ) from None
        with response:
            return response.status_code

    @staticmethod
    def _answered(endpoint: _Endpoint, status: int, action: str) -> str:
        return f"webhook {endpoint.shown} answered HTTP {status} to {action}"


def _ok(status: int) -> bool:
    return 200 <= status < 300


def _body(action: str, change: Change, stage: Stage) -> dict[str, Any]:
    return {
        "action": action,
        "secretId": change.secret_id,
        "credentials": change.changed(stage),
    }
