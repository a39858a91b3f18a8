"""Signed, timed-out, retried HTTP to one NCP API base URL.

Shared by every API client in the project (Secret Manager, Cloud DB, Cloud Functions): they
differ in paths and payloads, not in how a request is signed, bounded and retried.

Choices, and why:

* One ``requests.Session`` per transport, so a rotation's dozen calls share one kept-alive
  connection (a TLS handshake to the gateway costs more than most calls).
* Retries go through ``stamina`` (exponential backoff with jitter, on top of tenacity), not
  urllib3's ``Retry``: urllib3 replays the *same* prepared request, with the same timestamp
  header, while the gateway wants a fresh timestamp (and so a fresh signature) per attempt.
  Retries are rare, so stamina (and tenacity under it, a tenth of the cold start) is imported
  on the first retry, not at start: the first attempt is sent directly.
* Under load every waiting client is spread out: the backoff has random jitter, and a
  ``Retry-After`` is honoured as a minimum with jitter on top (up to a quarter of it, at
  least ``wait_jitter``), so a fleet throttled at the same instant does not come back at the
  same instant. No wait is started that would end past the deadline. A 429 may take
  ``throttled_attempts`` (10), any other failure ``attempts`` (5): throttling is a refusal
  with a time to come back, and a fleet throttled at 20 % would otherwise lose a call in
  a few thousand.
* Only what may succeed later is retried: 429, 5xx and transport failures. 4xx never is;
  sending a bad signature again only gets the key throttled.
* Every attempt is bounded by the caller's :class:`~rotation.ncp.deadline.Deadline`; a retry is
  not started when the worst-case backoff would leave no time for the answer.
* Retries are bounded by count too: every retry is paid from a
  :class:`~rotation.ncp.budget.RetryBudget` (a token bucket that persistent throttling and
  failures drain, and successes refill; a recovery allowance apart), one per invocation,
  shared by every ``bounded()`` twin and every client derived for another host. When it
  refuses, the error surfaces as if the attempts had run out. See that module for the
  sizes and the bound they give.
* The path is built here, from the documented template and its values
  (``request(op, "GET", "/api/v1/secrets/{secretId}", path_params={"secretId": sid})``):
  each value is percent-encoded as exactly one segment, so no client keeps its own quoting,
  and the template, not the filled path, is what errors and logs show.
* The signed URI is taken from the *prepared* request, i.e. the URL exactly as ``requests``
  will send it, so percent-encoding can never differ between what is signed and what is sent.
* Nothing from the URL, headers or body reaches an exception or a log line: the job token is
  in the URL and the secret values are in bodies (see :mod:`rotation.ncp.errors`).
"""

from __future__ import annotations

import copy
import email.utils
import functools
import json
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode, urlsplit

import requests
import structlog

from rotation.ncp.budget import CallBudget, RetryBudget
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import (
    DeadlineExceeded,
    ErrorBody,
    NcpError,
    RateLimited,
    ResponseFormatError,
    TransportError,
    error_for_status,
)
from rotation.ncp.records import Record
from rotation.ncp.signing import Credentials, signed_headers

if TYPE_CHECKING:
    from types import ModuleType

log = structlog.get_logger("rotation.ncp.secretmanager")

USER_AGENT = "ncp-secret-rotator/0.1"

#: A ``Retry-After`` wait gets up to this share of itself as random jitter on top.
RETRY_AFTER_JITTER = 0.25


@functools.cache
def _retry_library() -> ModuleType:
    """stamina, imported on the first retry (retries are rare; its import is not)."""
    import stamina  # noqa: PLC0415 - a tenth of the cold start, needed only to retry

    # stamina reports retries through its own hooks, which would log the exception repr
    # with its own field names; we log retries ourselves, with the operation only.
    stamina.instrumentation.set_on_retry_hooks([])
    return stamina


class Timeouts(Record):
    """Per-attempt limits in seconds; each is further capped by the deadline."""

    __slots__ = ("connect", "read")

    def __init__(self, connect: float = 3.05, read: float = 10.0) -> None:
        self.connect: Final = connect
        self.read: Final = read


class RetryPolicy(Record):
    """How a failed call is tried again. ``attempts`` counts the first one (at least 1)."""

    __slots__ = (
        "attempts", "min_attempt_time", "throttled_attempts", "wait_initial", "wait_jitter",
        "wait_max",
    )  # fmt: skip

    def __init__(
        self,
        *,
        attempts: int = 5,
        wait_initial: float = 0.2,
        wait_max: float = 2.0,
        wait_jitter: float = 0.3,
        min_attempt_time: float = 0.5,
        throttled_attempts: int = 10,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts: Final = attempts
        self.wait_initial: Final = wait_initial
        self.wait_max: Final = wait_max
        self.wait_jitter: Final = wait_jitter
        #: Do not start another attempt with less than this left before the deadline.
        self.min_attempt_time: Final = min_attempt_time
        #: Attempts for a call answered 429 (rate limited), deadline permitting. More than
        #: ``attempts``: a throttled call was refused, not failed, and ``Retry-After``
        #: spaces the tries. A fleet throttled at 20 % loses one call in ~3,000 with 5
        #: attempts, none with 10. ``attempts=1`` still means one attempt.
        self.throttled_attempts: Final = throttled_attempts

    def limit_for(self, error: Exception) -> int:
        """How many attempts a call that failed with ``error`` may make in all."""
        if self.attempts > 1 and isinstance(error, RateLimited):
            return max(self.attempts, self.throttled_attempts)
        return self.attempts

    def backoff_bound(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt`` (1-based), jitter included:
        stamina waits ``min(wait_max, wait_initial * 2 ** (attempt - 1) + U(0, wait_jitter))``."""
        try:
            grown = self.wait_initial * 2.0 ** max(attempt - 1, 0) + self.wait_jitter
        except OverflowError:  # pragma: no cover - only with absurd attempt counts
            return self.wait_max
        return min(self.wait_max, grown)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_path(template: str, values: Mapping[str, str] | None = None) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``, percent-encoded as one
    path segment (``/`` included, so an id can never climb into another route).

    Every placeholder needs a value and every value a placeholder; an empty value, ``.``
    or ``..`` would silently address a different endpoint and is refused. The messages
    name the placeholder, never the value (it may be a job token).
    """
    given = dict(values or {})
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in given:
            raise ValueError(f"no value for {{{name}}} in {template}")
        value = given[name]
        if not isinstance(value, str) or value in ("", ".", ".."):
            raise ValueError(f"{name} must be a non-empty string (and not '.' or '..')")
        used.add(name)
        return quote(value, safe="")

    path = _PLACEHOLDER.sub(fill, template)
    unused = sorted(set(given) - used)
    if unused:
        raise ValueError(f"{template} has no placeholder for {', '.join(unused)}")
    return path


def encode_query(params: Mapping[str, object]) -> str:
    """Percent-encode every reserved character, so ``requests`` has nothing left to re-quote."""
    pairs = [(k, _query_value(v)) for k, v in params.items() if v is not None]
    return urlencode(pairs, quote_via=quote, safe="")


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_error_body(payload: object) -> ErrorBody:
    """Read either NCP error envelope: ``error`` (gateway, Secret Manager, Cloud Functions)
    or ``responseError`` (the legacy ``ncloud.apigw`` APIs such as Cloud DB)."""
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping):
            return ErrorBody(
                code=str(error.get("errorCode", "") or ""),
                message=str(error.get("message", "") or ""),
                details=str(error.get("details", "") or error.get("detail", "") or ""),
            )
        legacy = payload.get("responseError")
        if isinstance(legacy, Mapping):
            return ErrorBody(
                code=str(legacy.get("returnCode", "") or ""),
                message=str(legacy.get("returnMessage", "") or ""),
            )
    return ErrorBody()


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class SignedTransport:
    """Sends signed requests to one base URL (host plus optional path prefix)."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        session: requests.Session | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        deadline: Deadline | None = None,
        budget: RetryBudget | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base URL must be an absolute http(s) URL, e.g. https://host/prefix")
        if parts.query or parts.fragment:
            raise ValueError("base URL must not carry a query string or fragment")
        self.base_url = base_url.rstrip("/")
        #: ``host:port`` for messages: an error that cannot reach the API names where it
        #: tried (never the URL: its path carries the job token).
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self.prefix = parts.path.rstrip("/")
        self.credentials = credentials
        self.session = session if session is not None else requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.deadline = deadline or Deadline.never()
        #: The retries this transport and everything derived from it may still send.
        self.budget = budget if budget is not None else RetryBudget()
        self._env_settings: dict[str, Any] = {}  # shared with bounded() twins

    def close(self) -> None:
        self.session.close()

    def _environment(self) -> dict[str, Any]:
        """Proxies and CA bundle from the environment (what ``requests`` adds per call), read
        once per transport: every URL here has the same host, and scanning ``os.environ``
        on each call cost a sixth of a rotation."""
        if not self._env_settings:
            self._env_settings.update(
                self.session.merge_environment_settings(self.base_url, {}, None, None, None)
            )
        return self._env_settings

    def bounded(self, deadline: Deadline) -> SignedTransport:
        """The same transport (same session, connection and retry budget) with a tighter
        deadline."""
        twin = copy.copy(self)
        twin.deadline = deadline.earlier(self.deadline)
        return twin

    def request(
        self,
        operation: str,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, object] | None = None,
        json_body: object = None,
        form: Mapping[str, object] | None = None,
        deadline: Deadline | None = None,
        read_timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Send one logical call (with retries) and return the parsed JSON of the answer.

        ``template`` is the documented path with placeholders (``/jobs/{jobToken}/start``)
        and ``path_params`` their values; the path is built once, here (:func:`expand_path`).
        The template is what errors and logs show, so a job token in the real path never
        leaves this method. ``read_timeout`` lifts the per-attempt read limit for a call
        that is slow by design (a blocking action invocation); ``retry`` replaces the
        policy for one call (``RetryPolicy(attempts=1)`` for one that must not be repeated).
        """
        budget = self.deadline if deadline is None else deadline.earlier(self.deadline)
        url = self.base_url + expand_path(template, path_params)
        if query:
            encoded = encode_query(query)
            if encoded:
                url = f"{url}?{encoded}"
        body: bytes | None = None
        content_type: str | None = None
        if form is not None:
            body = encode_query(form).encode("ascii")
            content_type = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            content_type = "application/json"
        call = _Call(
            operation=operation,
            method=method.upper(),
            url=url,
            shown_path=self.prefix + template,
            body=body,
            content_type=content_type,
            budget=budget,
            read_timeout=self.timeouts.read if read_timeout is None else read_timeout,
        )
        remaining = budget.remaining()
        if remaining <= 0:
            raise DeadlineExceeded("no time left to send the request", operation=operation)
        policy = retry or self.retry
        try:
            answer = self._send_once(call)
        except NcpError as exc:
            if policy.limit_for(exc) < 2 or not exc.retryable:
                raise
            first = exc
        else:
            self.budget.first_attempt_succeeded()
            return answer
        hook = _RetryHook(call, policy, self.budget.call())
        answer = _retried(lambda: self._send_once(call), first, hook)
        hook.spent.succeeded()
        return answer

    def _send_once(self, call: _Call) -> Any:
        left = call.budget.remaining()
        if left <= 0:
            raise DeadlineExceeded("deadline passed before the request", operation=call.operation)
        timeout = (min(self.timeouts.connect, left), min(call.read_timeout, left))
        headers = {"Accept": "application/json"}
        if call.content_type:
            headers["Content-Type"] = call.content_type
        prepared = self.session.prepare_request(
            requests.Request(call.method, call.url, data=call.body, headers=headers)
        )
        assert prepared.url is not None
        prepared.headers.update(signed_headers(call.method, prepared.url, self.credentials))
        started = time.monotonic()
        try:
            response = self.session.send(
                prepared, timeout=timeout, allow_redirects=False, **self._environment()
            )
        except requests.Timeout:
            if call.budget.expired():
                raise DeadlineExceeded(
                    f"deadline passed waiting for {call.method} {call.shown_path}",
                    operation=call.operation,
                ) from None
            raise TransportError(
                f"timed out: {call.method} {call.shown_path} at {self.where}",
                operation=call.operation,
            ) from None
        except requests.RequestException as exc:
            # str(exc) would carry the full URL, and with it the job token: keep the class only.
            raise TransportError(
                f"{type(exc).__name__}: {call.method} {call.shown_path} at {self.where}",
                operation=call.operation,
            ) from None
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        log.debug(
            "api.call",
            operation=call.operation,
            method=call.method,
            path=call.shown_path,
            status=response.status_code,
            duration_ms=elapsed_ms,
        )
        return self._parse(call, response)

    @staticmethod
    def _parse(call: _Call, response: requests.Response) -> Any:
        status = response.status_code
        payload: object = None
        if response.content:
            try:
                payload = response.json()
            except ValueError:
                payload = None
                if 200 <= status < 300:
                    raise ResponseFormatError(
                        f"HTTP {status} answer is not JSON", operation=call.operation
                    ) from None
        if 200 <= status < 300:
            return payload
        raise error_for_status(
            status,
            parse_error_body(payload),
            operation=call.operation,
            method=call.method,
            path=call.shown_path,
            retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
        )


class _Call:
    """One logical call, as every attempt of it sends it. A plain class, not a dataclass:
    a dataclass costs import time at every cold start, and this one needs no methods."""

    __slots__ = (
        "body", "budget", "content_type", "method", "operation", "read_timeout", "shown_path",
        "url",
    )  # fmt: skip

    def __init__(
        self,
        *,
        operation: str,
        method: str,
        url: str,
        shown_path: str,
        body: bytes | None,
        content_type: str | None,
        budget: Deadline,
        read_timeout: float,
    ) -> None:
        self.operation = operation
        self.method = method
        self.url = url
        self.shown_path = shown_path
        self.body = body
        self.content_type = content_type
        self.budget = budget
        self.read_timeout = read_timeout


def _retried(send: Callable[[], Any], first: NcpError, hook: _RetryHook) -> Any:
    """Attempts 2.. of a call whose first attempt failed with ``first`` (retryable).

    stamina's loop starts with a pass that re-raises ``first`` instead of sending, so its
    backoff, attempt count and timeout see the same sequence as if it had sent attempt 1.
    """
    stamina = _retry_library()
    policy = hook.policy
    remaining = hook.call.budget.remaining()
    pending: NcpError | None = first
    for attempt in stamina.retry_context(
        on=hook,
        attempts=max(policy.attempts, policy.throttled_attempts),
        timeout=None if math.isinf(remaining) else max(remaining, 1e-3),
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    ):
        with attempt:
            hook.attempt = attempt.num
            if pending is not None:
                error, pending = pending, None
                raise error
            return send()
    raise AssertionError("unreachable: stamina either returns or re-raises")  # pragma: no cover


def retry_after_wait(retry_after: float, policy: RetryPolicy) -> tuple[float, float]:
    """``(lowest, highest)`` wait for a ``Retry-After`` of that many seconds: never sooner
    than asked, and spread over up to a quarter more (at least ``wait_jitter``), so clients
    throttled together come back apart."""
    spread = max(policy.wait_jitter, retry_after * RETRY_AFTER_JITTER)
    return retry_after, retry_after + spread


class _RetryHook:
    """stamina's ``on=``: decides per failure whether (and how long) to wait and retry:
    attempts left, time left (``Retry-After`` included), then the retry budget, which is
    charged only for a retry that is actually sent."""

    def __init__(self, call: _Call, policy: RetryPolicy, spent: CallBudget) -> None:
        self.call = call
        self.policy = policy
        self.spent = spent
        self.attempt = 0

    def __call__(self, exc: Exception) -> bool | float:
        if not isinstance(exc, NcpError) or not exc.retryable:
            return False
        if self.attempt >= self.policy.limit_for(exc):
            return False
        left = self.call.budget.remaining()
        wait: float | None = None
        worst_wait = self.policy.backoff_bound(self.attempt)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            lowest, worst_wait = retry_after_wait(exc.retry_after, self.policy)
            wait = random.uniform(lowest, worst_wait)  # noqa: S311 - jitter, not a secret
        if worst_wait + self.policy.min_attempt_time > left:
            return self._abandon(exc, "deadline")
        paid_from = self.spent.take(no_answer=isinstance(exc, TransportError))
        if paid_from is None:
            return self._abandon(exc, "retry budget")
        log.info(
            "api.retry",
            operation=self.call.operation,
            attempt=self.attempt,
            error=type(exc).__name__,
            status=getattr(exc, "status", None),
            budget=paid_from,
        )
        return wait if wait is not None else True

    def _abandon(self, exc: Exception, reason: str) -> bool:
        log.warning(
            "api.retry_abandoned",
            operation=self.call.operation,
            attempt=self.attempt,
            error=type(exc).__name__,
            reason=reason,
        )
        return False
