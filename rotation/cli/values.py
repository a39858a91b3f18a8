"""Secret values for ``secret create`` and ``secret update``: read, checked, never shown.

A value comes from a file or stdin, never from a flag. It is checked here against the
documented limits (a flat JSON object of 1-100 keys, at most 10,000 UTF-8 bytes, every
rotation target a non-empty string) *before* any API call, so a bad value changes nothing
and the error says what is wrong without quoting the value. The value and its target keys
are registered with the redactor as soon as they are parsed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from rotation import logs
from rotation.cli.common import UsageError
from rotation.ncp.models import (
    MAX_VALUE_BYTES,
    MAX_VALUE_DEPTH,
    MAX_VALUE_KEYS,
    SecretValue,
    text_depth,
    value_problem,
)

#: Read at most this much, so a wrong file (a disk image, /dev/zero) fails fast.
READ_LIMIT = MAX_VALUE_BYTES * 4

WAITING = (
    "waiting for the secret value on stdin: a JSON object such as "
    '{"username": "app", "password": "..."}; end with Ctrl-D (or use --value-file FILE)'
)


def target_keys(text: str) -> tuple[str, ...]:
    """``--targets a,b``: non-empty key names, no spaces, no repeats."""
    keys = tuple(k.strip() for k in text.split(","))
    if not keys or any(not k for k in keys):
        raise UsageError("--targets takes key names separated by commas, e.g. password")
    if any(k != k.strip() or any(c.isspace() for c in k) for k in keys):
        raise UsageError("--targets: key names cannot contain spaces")
    if len(set(keys)) != len(keys):
        raise UsageError("--targets names a key twice")
    return keys


def read_bytes(path: Path | None, stdin: TextIO | None = None) -> bytes:
    """The raw value: from ``path``, or stdin when ``path`` is absent or ``-``."""
    if path is None or str(path) == "-":
        stream = stdin or sys.stdin
        if stream.isatty():
            sys.stderr.write(WAITING + "\n")
            sys.stderr.flush()
        buffer: BinaryIO | None = getattr(stream, "buffer", None)
        if buffer is not None:
            return buffer.read(READ_LIMIT + 1)
        return stream.read(READ_LIMIT + 1).encode("utf-8", "surrogateescape")
    try:
        with path.open("rb") as handle:
            return handle.read(READ_LIMIT + 1)
    except OSError as exc:
        # The path is not repeated: it may be a value typed where a path belongs.
        raise UsageError(f"cannot read the --value-file: {exc.strerror or 'unreadable'}") from None


def parse_value(raw: bytes, targets: Sequence[str]) -> SecretValue:
    """A value Secret Manager will accept, holding every rotation target."""
    if len(raw) > MAX_VALUE_BYTES:
        raise UsageError(
            f"the secret value is over {MAX_VALUE_BYTES:,} bytes (Secret Manager's limit)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the secret value is not valid UTF-8 text") from None
    text = text.removeprefix("\ufeff").strip()
    if not text:
        raise UsageError('the secret value is empty: give a JSON object, e.g. {"password": "..."}')
    logs.REDACTOR.register(text)
    data = _json_object(text)
    value = SecretValue(data)
    logs.REDACTOR.register_value(value, [t for t in targets if t in data])
    _check_shape(data, targets)
    return value


def _json_object(text: str) -> dict[str, Any]:
    """The text as a JSON object, its depth bounded before it is parsed (the value
    model's rule, :func:`rotation.ncp.models.text_depth`)."""
    if text_depth(text) > MAX_VALUE_DEPTH:
        raise UsageError(
            f"the secret value nests deeper than {MAX_VALUE_DEPTH} levels; values must be flat"
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(
            'the secret value must be a JSON object, e.g. {"password": "..."} (it is not JSON)'
        ) from None
    if not isinstance(data, dict):
        raise UsageError('the secret value must be a JSON object, e.g. {"password": "..."}')
    return data


def _check_shape(data: dict[str, Any], targets: Sequence[str]) -> None:
    if not 1 <= len(data) <= MAX_VALUE_KEYS:
        raise UsageError(f"the secret value must have 1 to {MAX_VALUE_KEYS} keys")
    problem = value_problem(data)
    if problem is not None:
        raise UsageError(f"the secret value: {problem}")
    for key, item in data.items():
        if not key:
            raise UsageError("the secret value has an empty key")
        if isinstance(item, (dict, list)):
            raise UsageError(f"key {key!r} holds a nested object or list; values must be flat")
    for key in targets:
        if key not in data:
            raise UsageError(
                f"rotation target {key!r} is not a key of the secret value: add it, or change "
                "the rotation targets"
            )
        if not isinstance(data[key], str) or not data[key]:
            raise UsageError(f"rotation target {key!r} must hold non-empty text")


def read_value(
    path: Path | None, targets: Sequence[str], stdin: TextIO | None = None
) -> SecretValue:
    return parse_value(read_bytes(path, stdin), targets)
