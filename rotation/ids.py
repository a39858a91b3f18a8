"""The rules for identifiers the project accepts: secret ids, job tokens, action names.

One place, so the action's settings, the CLI and deploy refuse the same ids the same way,
before any call: an id that becomes a path segment must not be able to change the path
(``.``, ``..``, ``/``), and one that no NCP resource can have is bad input, not an API
error after the round trip (a million-character id came back as a 414).

NCP documents the secret id only as a string (Get Secret Detail,
https://api.ncloud-docs.com/docs/secretmanager-get-secret-detail.md); the ids it hands out
are 64 hex characters. The rule here is a guess, strict but wide enough for any plausible
id: 1 to 128 letters, digits, ``-`` and ``_``. Job tokens are opaque: 1 to 1,024 visible
ASCII characters, not ``.`` or ``..``, no ``/``. Action names follow Apache OpenWhisk's
entity names (a word character first, then word characters, ``@``, ``.``, ``-`` or spaces;
at most 256), optionally ``package/action``.
"""

from __future__ import annotations

import re

MAX_SECRET_ID = 128
MAX_JOB_TOKEN = 1024
MAX_ACTION_NAME = 256

_SECRET_ID = re.compile(r"[A-Za-z0-9_-]+")
_JOB_TOKEN = re.compile(r"[!-~]+")  # visible ASCII, no space
#: One part of an action name. Only the CLI checks action names: ``re`` compiles it on
#: first use, not at every cold start.
_ENTITY = r"\w|\w[\w@ .-]*[\w@.-]"


def secret_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a secret id, or ``None`` when it can. Never echoes it."""
    if not isinstance(value, str) or not value:
        return "the secret id must be a non-empty string"
    if len(value) > MAX_SECRET_ID:
        return f"the secret id is {len(value):,} characters; at most {MAX_SECRET_ID} are allowed"
    if not _SECRET_ID.fullmatch(value):
        return "the secret id may hold only letters, digits, '-' and '_'"
    return None


def job_token_problem(value: object) -> str | None:
    """Why ``value`` cannot be a job token, or ``None``. The token is a secret: never
    echoed."""
    if not isinstance(value, str) or not value:
        return "the job token must be a non-empty string"
    if len(value) > MAX_JOB_TOKEN:
        return f"the job token is over {MAX_JOB_TOKEN:,} characters"
    if value in (".", "..") or "/" in value or not _JOB_TOKEN.fullmatch(value):
        return "the job token may hold only visible ASCII characters, no '/', not '.' or '..'"
    return None


def action_name_problem(value: object) -> str | None:
    """Why ``value`` cannot name a Cloud Functions action (``action`` or
    ``package/action``), or ``None``."""
    if not isinstance(value, str) or not value:
        return "the action name must be a non-empty string"
    if len(value) > MAX_ACTION_NAME:
        return f"the action name is over {MAX_ACTION_NAME} characters"
    parts = value.split("/")
    if len(parts) > 2 or not all(re.fullmatch(_ENTITY, p, re.ASCII) for p in parts):
        return (
            "an action name is 'action' or 'package/action', each part starting with a "
            "letter, digit or '_' (then letters, digits, '_', '@', '.', '-' or spaces)"
        )
    return None


__all__ = ["action_name_problem", "job_token_problem", "secret_id_problem"]
