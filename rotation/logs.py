"""Structured logs: one JSON line per step, on stdout, with nothing secret in them.

Cloud Functions keeps an action's stdout as its activation log, so JSON lines there are the
audit trail. Every line carries ``secret_id``, ``job`` (a short fingerprint of the job
token, never the token), ``activation_id``, ``event``, ISO-8601 UTC ``timestamp`` and,
for steps, ``step`` and ``duration_ms``.

Redaction has two layers, the last processors before output:

* by key name: any field whose name is sensitive (:mod:`rotation.sensitive`: ``password``,
  ``secret_key``, ``job_token``, ``authorization``, ...) is replaced by ``[REDACTED]``,
  nested mappings included;
* by value: every secret value the invocation touches (the access secret key, every chain
  value and its target keys, every generated value, admin passwords) is registered with
  :data:`REDACTOR` and replaced wherever it appears in any string, exception text and
  tracebacks included, then once more in the rendered line (JSON escaping could hide a
  value containing ``"`` or ``\\`` from the first pass).

Warm containers reuse the process, so :func:`start_invocation` clears the bound context and
the registry of values at the start of every invocation: each invocation registers what it
touches, and a registry that grew across hundreds of warm rotations made every new
registration recompile a huge pattern (130 ms at 4,000 values, measured in ``bench/``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from rotation.ncp.models import SecretValue
from rotation.sensitive import is_sensitive_key

REDACTED = "[REDACTED]"
#: What stands for a part of a log line nested deeper than :data:`MAX_SCRUB_DEPTH`.
TOO_DEEP = "[TOO DEEP]"
MAX_SCRUB_DEPTH = 64

#: Values shorter than this are not scrubbed by value (they would shred ordinary words);
#: they are still scrubbed by key name.
MIN_SECRET_LENGTH = 4
MAX_REGISTERED = 4096


class Redactor:
    """Known secret values, and the scrubbing of any text against them. Thread-safe."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        #: Told of every registered value; the test suite's leak guard listens here.
        self.listener: Callable[[str], None] | None = None

    def register(self, value: str | None) -> None:
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        if self.listener is not None:
            self.listener(value)
        forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
        with self._lock:
            for form in forms:
                if len(form) >= MIN_SECRET_LENGTH:
                    self._values[form] = None
                    self._values.move_to_end(form)
            while len(self._values) > MAX_REGISTERED:
                self._values.popitem(last=False)
            self._pattern = None

    def register_value(self, value: SecretValue | None, keys: Iterable[str] | None = None) -> None:
        """A whole stage: its JSON text, and the values of ``keys`` (default: every key
        whose name is sensitive; rotation targets are always passed in)."""
        if value is None:
            return
        # Too deep to render: never from Secret Manager (models bounds what it reads).
        with contextlib.suppress(RecursionError, ValueError):
            self.register(value.to_json())
        wanted = set(keys or ()) | {k for k in value if is_sensitive_key(k)}
        for key in wanted:
            item = value.get(key)
            if isinstance(item, str):
                self.register(item)

    def values(self) -> list[str]:
        with self._lock:
            return list(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def scrub(self, text: str) -> str:
        pattern = self._compiled()
        return text if pattern is None else pattern.sub(REDACTED, text)

    def scrub_any(self, data: Any, _depth: int = 0) -> Any:
        """Scrub every string inside mappings and sequences, keys by name, values by value.
        Past :data:`MAX_SCRUB_DEPTH` levels a part is replaced whole: what no log line
        needs must not make the scrubbing itself fail (RecursionError)."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, (Mapping, list, tuple)) and _depth >= MAX_SCRUB_DEPTH:
            return TOO_DEEP
        if isinstance(data, Mapping):
            return {
                k: (
                    REDACTED
                    if isinstance(k, str) and is_sensitive_key(k) and v
                    else self.scrub_any(v, _depth + 1)
                )
                for k, v in data.items()
            }
        if isinstance(data, (list, tuple)):
            return [self.scrub_any(v, _depth + 1) for v in data]
        return data

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


REDACTOR = Redactor()

Sink = Callable[[str], None]
_sinks: list[Sink] = []


def add_sink(sink: Sink) -> None:
    """Also hand every rendered line to ``sink`` (the CLI, the emulator, the tests)."""
    _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


class _StdoutLogger:
    """Writes each rendered line to the *current* ``sys.stdout`` (so capture works) and
    to the registered sinks."""

    def msg(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()
        for sink in list(_sinks):
            sink(message)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _logger_factory(*_args: Any) -> _StdoutLogger:
    return _StdoutLogger()


def _redact_event(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
    return REDACTOR.scrub_any(event)


def printable(text: str) -> str:
    """``text`` as valid UTF-8 text: a lone surrogate (valid JSON, ``"\\ud800"``) becomes
    its escape, so writing a line can never raise UnicodeEncodeError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _render(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> str:
    try:
        line = json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))
    except (RecursionError, ValueError):  # scrub_any bounds depth; a cycle is still possible
        line = json.dumps(
            {k: str(v) for k, v in event.items()}, ensure_ascii=False, separators=(",", ":")
        )
    return printable(REDACTOR.scrub(line))


_configured_level: int | None = None


def configure(level: str | int | None = None) -> None:
    """Set up structlog for JSON lines. Idempotent; the level comes from ``LOG_LEVEL``."""
    global _configured_level  # noqa: PLW0603 - structlog's configuration is process-wide too
    wanted = level if level is not None else os.environ.get("LOG_LEVEL", "INFO")
    numeric = wanted if isinstance(wanted, int) else logging.getLevelName(str(wanted).upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    if _configured_level == numeric:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            _render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
    _configured_level = numeric


def fingerprint(job_token: str) -> str:
    """A stable short name for a job in logs; the token itself opens the job's API calls."""
    return hashlib.sha256(job_token.encode()).hexdigest()[:12]


def start_invocation(**fields: Any) -> None:
    """Forget the previous invocation's context and values (warm containers); bind this one's."""
    REDACTOR.clear()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


log = structlog.get_logger("rotation")


StepListener = Callable[[str, str, float], None]


@contextmanager
def step(
    name: str, event: str, *, on_end: StepListener | None = None, **fields: Any
) -> Iterator[dict[str, Any]]:
    """Log one step as one line when it ends, with its duration and outcome.

    The yielded dict collects fields learned during the step (``info["skipped"] = True``).
    An exception is logged (scrubbed) with ``status=error`` and re-raised. ``on_end`` hears
    ``(name, status, duration_ms)``, the same figures the line carries.
    """
    info: dict[str, Any] = {}
    started = time.monotonic()
    try:
        yield info
    except BaseException as exc:
        duration = round((time.monotonic() - started) * 1000, 1)
        log.warning(
            event,
            step=name,
            status="error",
            error=type(exc).__name__,
            error_message=str(exc),
            duration_ms=duration,
            **fields,
            **info,
        )
        if on_end is not None:
            on_end(name, "error", duration)
        raise
    status = str(info.pop("status", "skipped" if info.get("skipped") else "ok"))
    duration = round((time.monotonic() - started) * 1000, 1)
    log.info(event, step=name, status=status, duration_ms=duration, **fields, **info)
    if on_end is not None:
        on_end(name, status, duration)
