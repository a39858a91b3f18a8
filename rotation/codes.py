"""Every result code the action can return, defined once: what it means, what to do.

Why one registry: an operator reads a code in a result, a log line or an alert and needs
the same meaning and the same next step wherever it came from. The README's table is
printed from here (``python -m rotation.codes``) and a test keeps the two equal, and
another test fails when code anywhere in ``rotation/`` raises a code that is not here.

Every error that carries a code derives from :class:`CodedError`; the workflow turns any
of them into the result's ``error`` without knowing which module raised it.
"""

from __future__ import annotations

import sys
from typing import Final

from rotation.ncp.records import Record


class Code(Record):
    __slots__ = ("action", "group", "meaning", "name")

    def __init__(self, name: str, group: str, meaning: str, action: str) -> None:
        self.name: Final = name
        #: Which part of the run it comes from, for the README's grouping.
        self.group: Final = group
        self.meaning: Final = meaning
        #: What the operator should do, as a command where there is one.
        self.action: Final = action


CODES: dict[str, Code] = {}


def _code(name: str, group: str, meaning: str, action: str) -> str:
    CODES[name] = Code(name, group, meaning, action)
    return name


#: Codes an action newer than this registry may return, by the prefix of their family.
_FAMILIES = (
    ("MISSING_", "fix the action's parameters (python -m deploy, or the console)"),
    ("INVALID_", "fix the action's parameters (python -m deploy, or the console)"),
    ("TARGET_", "fix the cause shown in the log (python -m rotation check SECRET_ID)"),
)
#: For a code nobody knows: never nothing.
_UNKNOWN = (
    "read the action's log lines for the cause (python -m rotation history SECRET_ID; the "
    "README lists every result code and its fix), fix it"
)


def advice(code: str | None, job: str | None = None) -> str:
    """What to do about ``code``: the registry's action, the one text every result, log
    line, alert and CLI message uses. ``job`` is how the result says the job stands, and
    the next command follows it, so that no two messages contradict each other:

    * ``running`` (left for a resume): ``resume``, and never cancel, whatever the code's
      usual fix (the target may hold the pending value; Retry Rotation Job would be
      refused while the job runs);
    * ``failed``: ``retry`` (a failed job cannot be resumed);
    * otherwise the registry's text as it is.

    A code this registry does not know gets its family's fix, else a pointer to the log."""
    known = CODES.get(code or "")
    if known is not None:
        text = known.action
    else:
        fix = next((t for prefix, t in _FAMILIES if (code or "").startswith(prefix)), _UNKNOWN)
        text = fix + _THEN_RETRY
    if job == "running":
        return _for_a_running_job(text)
    if job == "failed" and _RESUME in text:
        return text.replace(_RESUME, _RETRY_CMD).replace("; " + _KEEP, "")
    return text


def _for_a_running_job(text: str) -> str:
    if _RESUME in text:
        return text if _KEEP in text else f"{text}; {_KEEP}"
    fix = text.removesuffix(_THEN_RETRY)
    joiner = ", then " if fix != text else "; then "
    return f"{fix}{joiner}{_RESUME}; {_KEEP}"


class CodedError(Exception):
    """Base of every error that ends a rotation with a code. The message is ours and
    secret-free (never driver or server text that may quote a statement)."""

    code: str = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


#: The one way every advice says "retry" and "resume", so that :func:`advice` can turn
#: one into the other when the result says how the job stands.
_RETRY_CMD = "python -m rotation retry SECRET_ID"
_THEN_RETRY = ", then " + _RETRY_CMD
_RESUME = "python -m rotation resume SECRET_ID (runs the action again with the job's token)"
_KEEP = "do not cancel the job"
_FIX_PARAMS = "fix the action's parameters (python -m deploy, or the console)" + _THEN_RETRY
_RETRY = "fix the cause" + _THEN_RETRY

# -- the invocation's parameters: nothing was called --------------------------------------
INVALID_INPUT = _code(
    "INVALID_INPUT", "parameters", "the action's parameters are not a JSON object", _FIX_PARAMS
)
MISSING_SECRET_ID = _code(
    "MISSING_SECRET_ID",
    "parameters",
    "no secret id in the parameters or the environment (the message lists the names seen)",
    "link the secret to the trigger (python -m deploy) or pass secretId",
)
MISSING_JOB_TOKEN = _code(
    "MISSING_JOB_TOKEN",
    "parameters",
    "no job token in the parameters or the environment (the message lists the names seen)",
    "run the action from the rotation trigger, or pass jobToken (python -m rotation resume)",
)
INVALID_JOB_TOKEN = _code(
    "INVALID_JOB_TOKEN", "parameters", "the job token is not a string", _FIX_PARAMS
)
INVALID_REGION = _code(
    "INVALID_REGION",
    "parameters",
    "region (or NCLOUD_REGION) is not KR or JPN",
    _FIX_PARAMS,
)
INVALID_PARAMETER = _code(
    "INVALID_PARAMETER", "parameters", "a parameter has the wrong type or shape", _FIX_PARAMS
)
INVALID_NOTIFY = _code(
    "INVALID_NOTIFY",
    "parameters",
    "the notify setting is wrong (webhook URLs must be https without credentials, a json "
    "webhook needs an HMAC key): deploy refuses it; the action itself rotates anyway and "
    "warns NOTIFY_INVALID",
    "fix the notify setting in the deploy config, then python -m deploy",
)
INVALID_SECRET_ID = _code(
    "INVALID_SECRET_ID", "parameters", "the secret id contains '/' or spaces", _FIX_PARAMS
)
MISSING_CREDENTIALS = _code(
    "MISSING_CREDENTIALS",
    "parameters",
    "no API key pair (accessKey/secretKey or NCLOUD_ACCESS_KEY/NCLOUD_SECRET_KEY)",
    "set the action's accessKey and secretKey parameters (python -m deploy)",
)
INVALID_ENDPOINT = _code(
    "INVALID_ENDPOINT",
    "parameters",
    "secretManagerEndpoint is not an absolute https URL without a query",
    _FIX_PARAMS,
)
INVALID_DEADLINE = _code(
    "INVALID_DEADLINE", "parameters", "__OW_DEADLINE is not epoch milliseconds", _FIX_PARAMS
)
INVALID_TIMEOUT = _code(
    "INVALID_TIMEOUT", "parameters", "timeoutSeconds is not a number in 0-3600", _FIX_PARAMS
)

# -- target and policy: the job is ended as failed, the target untouched ------------------
UNKNOWN_TARGET_KIND = _code(
    "UNKNOWN_TARGET_KIND",
    "configuration",
    "target.kind (or the value's engine key) names no known target kind",
    "fix target.kind or the value's engine key, then python -m rotation retry SECRET_ID",
)
INVALID_TARGET = _code(
    "INVALID_TARGET",
    "configuration",
    "the target configuration is wrong (the message says which setting)",
    "fix the target parameters (python -m rotation check SECRET_ID)" + _THEN_RETRY,
)
INVALID_POLICY = _code(
    "INVALID_POLICY",
    "configuration",
    "the value policy is wrong, or generates values the target refuses",
    "fix the policy parameters (python -m rotation check SECRET_ID)" + _THEN_RETRY,
)

# -- the stored value: the job is ended as failed, the target untouched -------------------
VALUE_NOT_JSON_OBJECT = _code(
    "VALUE_NOT_JSON_OBJECT",
    "value",
    "the secret value is not a JSON object of key/value pairs",
    "python -m rotation secret update SECRET_ID (a JSON object)" + _THEN_RETRY,
)
VALUE_MISSING = _code(
    "VALUE_MISSING", "value", "the secret has no active value", "store a value" + _THEN_RETRY
)
NO_ROTATION_TARGETS = _code(
    "NO_ROTATION_TARGETS",
    "value",
    "the secret names no rotation targets",
    "python -m rotation secret update SECRET_ID --targets KEY" + _THEN_RETRY,
)
ROTATION_TARGET_MISSING = _code(
    "ROTATION_TARGET_MISSING",
    "value",
    "a rotation target is not a key of the secret value",
    "add the key to the value or remove it from rotationTargets" + _THEN_RETRY,
)
ROTATION_TARGET_NOT_TEXT = _code(
    "ROTATION_TARGET_NOT_TEXT",
    "value",
    "a rotation target holds something other than a non-empty string",
    "store a non-empty string under that key (python -m rotation secret update)" + _THEN_RETRY,
)
VALUE_UNSUPPORTED = _code(
    "VALUE_UNSUPPORTED",
    "value",
    "the secret value (or the admin secret's) is JSON the rotation cannot handle safely: "
    "nested deeper than 32 levels, text that is not valid Unicode (a lone surrogate such as "
    "\\ud800), or over 10,000 bytes; the message names the key",
    "python -m rotation secret update SECRET_ID with a flat JSON object of plain text"
    + _THEN_RETRY,
)
LINKED_SECRET_EMPTY = _code(
    "LINKED_SECRET_EMPTY",
    "value",
    "the admin secret the target names has no active value",
    "store the admin credential in that secret" + _THEN_RETRY,
)

# -- the secret and the job ---------------------------------------------------------------
SECRET_NOT_ROTATABLE = _code(
    "SECRET_NOT_ROTATABLE",
    "job",
    "the secret is DISABLE, REVOKE or DESTROYED; only an enabled secret rotates",
    "enable the secret if it should rotate; otherwise turn auto rotation off (rotation pause)",
)
SECRET_NOT_FOUND = _code(
    "SECRET_NOT_FOUND",
    "job",
    "Secret Manager knows no such secret at this endpoint (both hosts were tried when the "
    "endpoint was not set)",
    "check the secret id and secretManagerEndpoint (regional or global host)",
)
JOB_NOT_FOUND = _code(
    "JOB_NOT_FOUND",
    "job",
    "Secret Manager does not accept this job token (unknown or expired)",
    "nothing to undo; python -m rotation status SECRET_ID shows the job, rotate to start anew",
)
JOB_NOT_RUNNING = _code(
    "JOB_NOT_RUNNING",
    "job",
    "the job had already ended when the action started (a reason, not an error: skipped)",
    "nothing to do",
)
JOB_ENDED = _code(
    "JOB_ENDED",
    "job",
    "the job ended while this run worked on it (another run completed, failed or cancelled "
    "it); the target was brought onto the stored active value",
    "python -m rotation history SECRET_ID to see who ended it; nothing to undo",
)
JOB_TOKEN_REJECTED = _code(
    "JOB_TOKEN_REJECTED",
    "job",
    "Secret Manager answered 403 to a job call: the job token is no longer valid, or the "
    "sub-account may not act on rotation jobs",
    "python -m rotation status SECRET_ID; if the job runs, resume it; else check the "
    "sub-account policy NCP_SECRETMANAGER_MANAGER",
)

# -- the API ------------------------------------------------------------------------------
AUTHENTICATION_FAILED = _code(
    "AUTHENTICATION_FAILED",
    "api",
    "the API gateway refused the key pair (401/403)",
    "check the access key pair, its sub-account policy NCP_SECRETMANAGER_MANAGER, the clock",
)
API_UNAVAILABLE = _code(
    "API_UNAVAILABLE",
    "api",
    "Secret Manager kept answering 429/5xx or could not be reached, after retries",
    "check the route out of the action's VPC (NAT Gateway), then " + _RETRY,
)
API_ERROR = _code(
    "API_ERROR", "api", "Secret Manager refused a request (4xx) or answered oddly", _RETRY
)
DEADLINE_EXCEEDED = _code(
    "DEADLINE_EXCEEDED",
    "api",
    "the action's time ran out before the step finished",
    "raise the action's timeout (python -m deploy), then " + _RETRY,
)

# -- the pending value --------------------------------------------------------------------
PENDING_MISMATCH = _code(
    "PENDING_MISMATCH",
    "pending",
    "Secret Manager stored another pending value than the one sent",
    _RETRY,
)
PENDING_INVALID = _code(
    "PENDING_INVALID",
    "pending",
    "the pending value does not change exactly the rotation targets",
    _RETRY,
)
PENDING_MISSING = _code(
    "PENDING_MISSING",
    "pending",
    "the pending value was gone when read back (another writer, or the job ended)",
    "python -m rotation history SECRET_ID; then " + _RETRY,
)

# -- the target ---------------------------------------------------------------------------
TARGET_ERROR = _code("TARGET_ERROR", "target", "the target failed in an unclassified way", _RETRY)
TARGET_UNREACHABLE = _code(
    "TARGET_UNREACHABLE",
    "target",
    "the target could not be reached (the message names host and port) or refused TLS",
    "check the network route and TLS settings (python -m rotation check SECRET_ID)" + _THEN_RETRY,
)
TARGET_LOGIN_REFUSED = _code(
    "TARGET_LOGIN_REFUSED",
    "target",
    "the target refused every stored credential: the stored value no longer matches it, or "
    "(Redis, which answers both alike) the user is disabled",
    "first make sure the user is enabled (Redis: ACL GETUSER shows on), then set the stored "
    "value on the database by hand, or store the database's password (python -m rotation "
    "secret update)" + _THEN_RETRY,
)
TARGET_ACCOUNT_LOCKED = _code(
    "TARGET_ACCOUNT_LOCKED",
    "target",
    "the database account is locked",
    "unlock it (ALTER USER ... ACCOUNT UNLOCK), then " + _RETRY,
)
TARGET_USER_DISABLED = _code(
    "TARGET_USER_DISABLED",
    "target",
    "the database user may not log in (PostgreSQL NOLOGIN, a Redis ACL user that is off); "
    "its stored password is not the problem",
    "enable the user (PostgreSQL: ALTER ROLE ... LOGIN; Redis: ACL SETUSER ... on) and leave "
    "the stored value as it is, then python -m rotation retry SECRET_ID",
)
TARGET_DB_ACCESS_DENIED = _code(
    "TARGET_DB_ACCESS_DENIED",
    "target",
    "the server accepted the stored password but the user may not use its database (MySQL "
    "and MariaDB error 1044); its stored password is not the problem",
    "grant the user access to its database (GRANT ... ON db.* TO ...) and leave the stored "
    "value as it is" + _THEN_RETRY,
)
TARGET_SET_FAILED = _code(
    "TARGET_SET_FAILED",
    "target",
    "the target refused the new credential (a password rule, a privilege); it was rolled "
    "back and the job failed; the refused value is replaced on retry",
    "fix the rule or the policy, then python -m rotation retry SECRET_ID",
)
TARGET_TEST_FAILED = _code(
    "TARGET_TEST_FAILED",
    "target",
    "the new credential did not work on the target; it was rolled back and the job failed",
    _RETRY,
)
TARGET_ROLLBACK_FAILED = _code(
    "TARGET_ROLLBACK_FAILED",
    "target",
    "the target refused to take the old credential back",
    _RESUME + "; " + _KEEP,
)
TARGET_PERMISSION_DENIED = _code(
    "TARGET_PERMISSION_DENIED",
    "target",
    "the target's NCP API refused the action's key pair for want of a policy (403, or the "
    "gateway's 401 code 210); nothing was changed",
    "give the action's sub account the policy the README's Least privilege table names for this "
    "target kind (python -m rotation check SECRET_ID shows which read failed), then "
    "python -m rotation retry SECRET_ID",
)
NCP_KEY_SLOTS_FULL = _code(
    "NCP_KEY_SLOTS_FULL",
    "target",
    "the sub account already holds two active access keys and one is not this secret's to "
    "retire (a key stored nowhere, or another run's new key): a rotation needs a free slot",
    "disable the key the message names in the console (or set target.strayKeys to disable "
    "when the sub account's keys belong to this secret alone), then python -m rotation "
    "retry SECRET_ID",
)

# -- left running on purpose (leftForRetry) -----------------------------------------------
ROTATION_INCOMPLETE = _code(
    "ROTATION_INCOMPLETE",
    "left running",
    "the target may hold the pending credential (stored as pending while the job runs), so "
    "the job was left running",
    _RESUME + "; " + _KEEP,
)
COMPLETE_UNCONFIRMED = _code(
    "COMPLETE_UNCONFIRMED",
    "left running",
    "complete was sent but its outcome could not be read before the deadline; the target "
    "keeps the pending credential, stored as pending or already as active",
    _RESUME + "; " + _KEEP,
)
# -- warnings (in the result's warnings, the rotation still ends) ------------------------
TARGET_AUTH_NOT_ENFORCED = _code(
    "TARGET_AUTH_NOT_ENFORCED",
    "warning",
    "the target accepted a random wrong password (trust auth, nopass): set was not skipped, "
    "but the test proves nothing",
    "require password authentication on the target (pg_hba.conf, Redis ACL)",
)
RECONCILED = _code(
    "RECONCILED",
    "warning",
    "after complete, the stored active value was not the one this run set (another writer); "
    "the target was made to accept the stored one",
    "python -m rotation history SECRET_ID to find the other writer",
)
FINISH_FAILED = _code(
    "FINISH_FAILED",
    "warning",
    "the rotation completed but the replaced credential could not be retired",
    "remove the old password by hand, or let the next rotation retire it",
)
NOTIFY_INVALID = _code(
    "NOTIFY_INVALID",
    "warning",
    "a notify setting is wrong (the message names it: a webhook's url, key, caBundle, ...); "
    "the rotation ran, and no alert went to that webhook (or to any, if the whole setting "
    "is wrong)",
    "fix the notify setting in the deploy config, then python -m deploy (the rotation "
    "itself needs nothing)",
)
NOTIFY_FAILED = _code(
    "NOTIFY_FAILED",
    "warning",
    "an alert was not delivered: the webhook (named by host) kept failing, refused it, or "
    "the action's deadline came first; the rotation's outcome is unchanged",
    "check that the receiver is up, reachable from the action and accepts the signature "
    "(README, Notifications); the job is in python -m rotation history SECRET_ID",
)
# -- the watchdog (rotation/watch/): its own run, not a rotation -----------------------------
WATCH_INVALID = _code(
    "WATCH_INVALID",
    "watchdog",
    "the watchdog's watch parameter is wrong (the message names the setting: a window, a "
    "threshold, the fleet, metrics); no secret was swept",
    "fix [watch] (or a secret's window) in the deploy config, then python -m deploy",
)
WATCH_INCOMPLETE = _code(
    "WATCH_INCOMPLETE",
    "watchdog",
    "the sweep could not read part of what it watches (secrets, the trigger, its memory); "
    "problems there may be missing from this run, and with no memory no alert is sent",
    "the message says what failed; the next run tries again, and python -m rotation "
    "status shows the fleet now",
)
METRICS_FAILED = _code(
    "METRICS_FAILED",
    "watchdog",
    "the run's counts did not reach Cloud Insight (the collector refused them or did not "
    "answer); the sweep and its alerts are unchanged",
    "check [watch.metrics] (the schema's cw_key) and the key's Cloud Insight rights, then "
    "python -m deploy",
)
INTERNAL_ERROR = _code(
    "INTERNAL_ERROR",
    "internal",
    "an unexpected error in the action (its class is in the message, the trace in the log)",
    "report it with the activation's log; " + _RESUME,
)


def markdown_table() -> str:
    """The README's table, in registry order."""
    rows = ["| code | meaning | what to do |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.meaning} | {c.action} |" for c in CODES.values()]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
