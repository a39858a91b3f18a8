"""Which names and values are secret, and how they are shown: one rule for logs, results,
the CLI and the deployment plan.

A key is sensitive when its *last word* says so: ``password``, ``db_password``,
``secretKey``, ``job_token`` and ``Authorization`` are; ``secret_id``, ``secretName`` and
``token_fingerprint`` are not. Matching the last word rather than any substring keeps the
identifiers an operator needs (``secret_id``) readable while catching the values; a few
words (password, signature, authorization) mark a name wherever they stand.

:func:`masked` is the one display mask: the CLI's ``secret values`` and ``python -m deploy``'s
plan both call it, so a key hidden in one is hidden in the other, at every depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: What a hidden value is shown as.
MASK = "****"
#: Deeper than this a part of a value is hidden whole: it is not looked into (a value
#: nested thousands of levels deep made the masking raise RecursionError).
MAX_MASK_DEPTH = 64

SENSITIVE_WORDS = frozenset(
    {
        "password", "passwd", "pwd", "secret", "token", "key", "authorization",
        "signature", "credential", "credentials", "passphrase", "apikey",
    }
)  # fmt: skip

#: Words that make a name sensitive wherever they stand (``x-ncp-apigw-signature-v2``).
ALWAYS_SENSITIVE = frozenset({"password", "passwd", "signature", "authorization", "passphrase"})

_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def words(name: str) -> list[str]:
    """``secretKey`` -> ``["secret", "key"]``; ``DB_PASSWORD`` -> ``["db", "password"]``."""
    return [w.lower() for w in _WORDS.findall(name)]


def is_sensitive_key(name: str) -> bool:
    parts = words(name)
    if not parts:
        return False
    return parts[-1] in SENSITIVE_WORDS or any(p in ALWAYS_SENSITIVE for p in parts)


def masked(
    value: Mapping[str, Any], *, also: Iterable[str] = (), reveal: bool = False
) -> dict[str, Any]:
    """A copy of ``value`` for display, with the value of every secret-looking key, and of
    every key named in ``also`` (a secret's rotation targets), replaced by :data:`MASK`.

    Keys are checked at every depth, inside nested objects and inside lists, because a
    plan's ``target = {admin = {dbPassword = ...}}`` is as secret as a top-level
    ``password``. A hidden object or list is hidden whole. The other keys (host, port,
    username) stay visible so the shape remains readable. ``reveal`` returns a plain copy:
    the caller asked for the values on purpose (``--reveal``).
    """
    hidden = frozenset(also)
    if reveal:
        return dict(value)
    return {k: _masked_item(k, v, hidden) for k, v in value.items()}


def _masked_item(key: object, item: Any, hidden: frozenset[str], depth: int = 0) -> Any:
    if isinstance(key, str) and (key in hidden or is_sensitive_key(key)):
        return MASK
    return _masked_any(item, hidden, depth)


def _masked_any(item: Any, hidden: frozenset[str], depth: int = 0) -> Any:
    if isinstance(item, (Mapping, list, tuple)) and depth >= MAX_MASK_DEPTH:
        return MASK  # too deep to look into: hidden whole, never shown unchecked
    if isinstance(item, Mapping):
        return {k: _masked_item(k, v, hidden, depth + 1) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [_masked_any(v, hidden, depth + 1) for v in item]
    return item
