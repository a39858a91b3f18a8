"""What to do about a result code, in one sentence an operator can act on.

The CLI prints it under a failed rotation and the failure notifications carry it, so the
person told about a failure is also told the command that fixes it. The project's result
code registry is the long-term home of these texts; until every code is there, this table
answers, and an unknown code still gets a useful sentence (read the log, then the README's
table) rather than nothing.

No imports from the rest of the CLI: the deployed action (notifications) reads this too,
and must not pay for argparse and the command modules.
"""

from __future__ import annotations

CLI = "python -m rotation"

_FIX_PARAMS = "fix the action's parameters (deploy config), then run `{cli} resume SECRET_ID`"
_FIX_VALUE = (
    "fix the secret's value or its rotation targets (`{cli} secret update SECRET_ID`), "
    "then `{cli} retry SECRET_ID`"
)
_RETRY = "fix the cause shown in the log, then run `{cli} retry SECRET_ID`"
_RESUME = (
    "the target may hold the pending credential: run `{cli} resume SECRET_ID` "
    "(never cancel this job: cancelling discards the pending value)"
)

ADVICE: dict[str, str] = {
    # bad parameters: nothing was changed
    "MISSING_SECRET_ID": _FIX_PARAMS,
    "MISSING_JOB_TOKEN": "run the action from the secret's trigger (`{cli} rotate SECRET_ID`), "
    "or pass jobToken; `{cli} resume SECRET_ID` finds the running job's token",
    "MISSING_CREDENTIALS": "give the action accessKey/secretKey parameters or set "
    "NCLOUD_ACCESS_KEY/NCLOUD_SECRET_KEY, then `{cli} resume SECRET_ID`",
    "INVALID_INPUT": _FIX_PARAMS,
    "INVALID_ENDPOINT": _FIX_PARAMS,
    "INVALID_TIMEOUT": _FIX_PARAMS,
    "INVALID_DEADLINE": _FIX_PARAMS,
    "INVALID_NOTIFY": _FIX_PARAMS,
    "UNKNOWN_TARGET_KIND": "set target.kind (or the value's engine key) to a supported kind, "
    "check with `{cli} check SECRET_ID`, then `{cli} retry SECRET_ID`",
    "INVALID_TARGET": "fix the target settings (action parameter or the value's connection "
    "keys), check with `{cli} check SECRET_ID`, then `{cli} retry SECRET_ID`",
    "INVALID_POLICY": "fix the action's policy parameter, check with `{cli} check SECRET_ID`, "
    "then `{cli} retry SECRET_ID`",
    # the stored value cannot be rotated
    "VALUE_NOT_JSON_OBJECT": _FIX_VALUE,
    "VALUE_MISSING": _FIX_VALUE,
    "NO_ROTATION_TARGETS": _FIX_VALUE,
    "ROTATION_TARGET_MISSING": _FIX_VALUE,
    "ROTATION_TARGET_NOT_TEXT": _FIX_VALUE,
    "LINKED_SECRET_EMPTY": "give the admin secret (adminSecretId) an active value with "
    "username and password, then `{cli} retry SECRET_ID`",
    # state or identity
    "SECRET_NOT_ROTATABLE": "enable the secret (only an ENABLE secret rotates), then "
    "`{cli} rotate SECRET_ID`",
    "SECRET_NOT_FOUND": "check the secret id (`{cli} secret list`) and the Secret Manager "
    "endpoint (regional secrets live behind https://ocapi-kr.ncloud.com/secretmanager)",
    "JOB_NOT_FOUND": "the job token is not this secret's: start a new job with "
    "`{cli} rotate SECRET_ID`",
    "JOB_NOT_RUNNING": "nothing to do: the job had already ended (`{cli} history SECRET_ID`)",
    "JOB_ENDED": "nothing to do: the job had already ended (`{cli} history SECRET_ID`)",
    "AUTHENTICATION_FAILED": "check the access key pair, its sub-account policy "
    "NCP_SECRETMANAGER_MANAGER and the clock, then `{cli} retry SECRET_ID`",
    # the target refused
    "TARGET_UNREACHABLE": "make the target reachable from the action (host, port, ACG, VPC "
    "route), check with `{cli} check SECRET_ID`, then `{cli} retry SECRET_ID`",
    "TARGET_LOGIN_REFUSED": "the target refused the stored active credential: make it accept "
    "the active value (`{cli} secret values SECRET_ID --reveal`), then `{cli} retry SECRET_ID`",
    "TARGET_ACCOUNT_LOCKED": "unlock the database account, then `{cli} retry SECRET_ID`",
    "TARGET_PASSWORD_EXPIRED": "the stored password has expired on the target: `{cli} retry "
    "SECRET_ID` sets a new one (an expired password may still change itself)",
    "TARGET_SET_FAILED": _RETRY,
    "TARGET_TEST_FAILED": _RETRY,
    "TARGET_ERROR": _RETRY,
    "PENDING_MISSING": _RETRY,
    "PENDING_MISMATCH": "another writer changed the pending value: `{cli} retry SECRET_ID`",
    "PENDING_INVALID": _RETRY,
    # Secret Manager
    "API_UNAVAILABLE": "Secret Manager could not be reached after retries: `{cli} status` "
    "shows whether the job failed (then `{cli} retry SECRET_ID`) or is still running (then "
    "`{cli} resume SECRET_ID`)",
    "API_ERROR": _RETRY,
    "DEADLINE_EXCEEDED": "raise the action's timeout, then `{cli} retry SECRET_ID` (or "
    "`{cli} resume SECRET_ID` if the job is still running)",
    # left running on purpose
    "ROTATION_INCOMPLETE": _RESUME,
    "COMPLETE_UNCONFIRMED": _RESUME,
    "TARGET_ROLLBACK_FAILED": _RESUME,
    "INTERNAL_ERROR": "a bug: keep the action's log, report it, then `{cli} status` and "
    "`{cli} retry SECRET_ID` or `{cli} resume SECRET_ID`",
}

_PREFIXES = (
    ("MISSING_", _FIX_PARAMS),
    ("INVALID_", _FIX_PARAMS),
    ("TARGET_", _RETRY),
)

FALLBACK = (
    "read the action's log lines for the cause, fix it, then `{cli} retry SECRET_ID` "
    "(README: every result code and its fix)"
)


def advice_for(code: str | None) -> str:
    """What to do about ``code`` (a result code of the action), never empty."""
    if not code:
        return FALLBACK.format(cli=CLI)
    text = ADVICE.get(code)
    if text is None:
        text = next((t for prefix, t in _PREFIXES if code.startswith(prefix)), FALLBACK)
    return text.format(cli=CLI)
