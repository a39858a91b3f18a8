"""What to do about a result code, in one sentence an operator can act on.

The CLI prints it under a failed rotation and the failure notifications carry it, so the
person told about a failure is also told the command that fixes it. The texts live in the
result code registry (:mod:`rotation.codes`, which the README's table is printed from);
this adds what the registry does not hold yet and a useful sentence for a code nobody
knows (an action newer than this CLI), never nothing. ``SECRET_ID`` in a text is replaced
by the secret's id where it is known.

No imports from the rest of the CLI: the deployed action (notifications) reads this too,
and must not pay for argparse and the command modules.
"""

from __future__ import annotations

from rotation.codes import CODES

CLI = "python -m rotation"

_PREFIXES = (
    ("MISSING_", "fix the action's parameters (python -m deploy, or the console), then retry"),
    ("INVALID_", "fix the action's parameters (python -m deploy, or the console), then retry"),
    ("TARGET_", f"fix the cause shown in the log, check with `{CLI} check SECRET_ID`, then "
     f"`{CLI} retry SECRET_ID`"),
)  # fmt: skip

FALLBACK = (
    f"read the action's log lines for the cause, fix it, then `{CLI} retry SECRET_ID` "
    "(README: every result code and its fix)"
)


def advice_for(code: str | None) -> str:
    """What to do about ``code`` (a result code of the action), never empty."""
    if not code:
        return FALLBACK
    known = CODES.get(code)
    if known is not None:
        return known.action
    return next((text for prefix, text in _PREFIXES if code.startswith(prefix)), FALLBACK)
