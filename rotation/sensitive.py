"""Which names and values are secret: one rule for logs, results and the CLI.

A key is sensitive when its *last word* says so: ``password``, ``db_password``,
``secretKey``, ``job_token`` and ``Authorization`` are; ``secret_id``, ``secretName`` and
``token_fingerprint`` are not. Matching the last word rather than any substring keeps the
identifiers an operator needs (``secret_id``) readable while catching the values; a few
words (password, signature, authorization) mark a name wherever they stand.
"""

from __future__ import annotations

import re

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
