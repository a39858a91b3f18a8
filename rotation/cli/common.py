"""What every command shares: exit codes, errors, clients, output streams, progress.

Output rule: the command's answer (a table, a JSON document, a confirmation) goes to the
``out`` stream (stdout); everything else (progress, notes, warnings, errors, and the JSON
log lines of the libraries underneath) goes to stderr, so ``... --json | jq`` always works.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from rotation import ids, logs, urls
from rotation.ncp.admin_models import SecretSummary
from rotation.ncp.cloudfunctions import DEFAULT_ENDPOINT as FUNCTIONS_ENDPOINT
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy

EXIT_OK = 0
#: The rotation failed, a check failed, or ``status`` found a secret needing attention.
EXIT_FAILED = 1
#: Bad usage or input, or a request the secret's state does not allow: nothing changed.
EXIT_USAGE = 2
#: Secret Manager (or Cloud Functions) could not be reached, refused the credentials or
#: does not know the secret.
EXIT_API = 3
#: Gave up waiting for a job that is still running.
EXIT_TIMEOUT = 4

LOOPBACK_HOSTS = urls.LOOPBACK_HOSTS


class CliError(Exception):
    """An error the CLI reports as one line on stderr, then exits with ``exit_code``."""

    exit_code = EXIT_USAGE


class UsageError(CliError):
    """Bad usage or input, found before anything changed."""


class Refused(CliError):
    """The request does not fit the secret's current state; nothing was changed."""


class Failed(CliError):
    exit_code = EXIT_FAILED


class Unreachable(CliError):
    """An API other than Secret Manager could not be reached or refused the call."""

    exit_code = EXIT_API


class UnknownSecret(CliError):
    """Secret Manager knows no secret by this id or name."""

    exit_code = EXIT_API


# -- arguments ------------------------------------------------------------------------------


def secret_id(text: str) -> str:
    """An argparse type: a secret id or name (:func:`rotation.ids.secret_id_problem`, the
    rule the action and deploy use; every name Create Secret allows passes it too), checked
    without ever echoing what was given (a value pasted in the wrong place must not end up
    in the terminal's scrollback). A name becomes an id in :func:`resolve_secret_args`."""
    problem = ids.secret_id_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(
            f"not a secret id or name: {problem} (`secret list` shows ids and names)"
        )
    return text


# -- names ----------------------------------------------------------------------------------

#: The ids NCP hands out: 64 lowercase hex characters. Such a text is used as an id as it
#: is (no list call); a name (3 to 15 characters) never looks like one.
NCP_SECRET_ID = re.compile(r"[0-9a-f]{64}")

#: Commands whose secret argument is not looked up here (``invoke`` hands it to the
#: handler, which may run with other keys and another endpoint).
NOT_RESOLVED = frozenset({"invoke"})


def resolve_secret(listing: Sequence[SecretSummary], text: str) -> str:
    """The id of the secret ``text`` names: a secret with that id, else the one secret
    with that name. Several secrets of one name (Secret Manager allows it) are refused
    with each name and id, so the operator picks one; none is :class:`UnknownSecret`.
    ``text`` is never repeated: it may be something pasted in the wrong place."""
    if any(s.secret_id == text for s in listing):
        return text
    named = [s for s in listing if s.secret_name == text]
    if len(named) == 1:
        return named[0].secret_id
    if named:
        candidates = "; ".join(f"{s.secret_name} ({s.secret_id}, {s.status.value})" for s in named)
        raise UsageError(
            f"{len(named)} secrets have this name, so it names none of them: give the id of "
            f"the one you mean: {candidates}"
        )
    raise UnknownSecret(
        "Secret Manager knows no secret with this id or name (`secret list` shows both)"
    )


def resolve_secret_args(opts: argparse.Namespace) -> None:
    """Names accepted wherever an id is: ``opts.secret_id`` / ``opts.secret_ids`` become
    ids. An id as NCP hands them out is used as is, without a call (the command's own
    call then says whether it exists); anything else is looked up in Get Secret List,
    read once for all of a command's arguments."""
    if getattr(opts, "command", None) in NOT_RESOLVED:
        return
    listing: list[SecretSummary] | None = None

    def one(text: str) -> str:
        nonlocal listing
        if NCP_SECRET_ID.fullmatch(text):
            return text
        if listing is None:
            with sm_client(opts) as client:
                listing = list(client.iter_secrets())
        return resolve_secret(listing, text)

    if isinstance(getattr(opts, "secret_id", None), str):
        opts.secret_id = one(opts.secret_id)
    if isinstance(getattr(opts, "secret_ids", None), list):
        opts.secret_ids = [one(text) for text in opts.secret_ids]


def action_name(text: str) -> str:
    """An argparse type: a Cloud Functions action, ``action`` or ``package/action``
    (:func:`rotation.ids.action_name_problem`): a name that could change the API path
    (``../x``) is a usage error before any call."""
    problem = ids.action_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"not an action name: {problem}")
    return text


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return value


def non_negative_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    return 0.0 if text.strip() in ("0", "0.0") else positive_seconds(text)


def bounded_int(low: int, high: int, what: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high} {what}")
        return value

    return parse


def checked_url(url: str, what: str) -> str:
    """An API base URL, by the one URL rule (:mod:`rotation.urls`): absolute, https (http
    only to this machine), no credentials, no query. Messages never repeat the URL: it may
    carry a password in its user info."""
    problem = urls.url_problem(url.strip(), urls.API_ENDPOINT)
    if problem is not None:
        hint = (
            "; the CLI reads keys from NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY only"
            if problem.kind == "credentials"
            else ""
        )
        raise UsageError(f"{what} {problem}{hint}")
    return url.strip().rstrip("/")


def functions_endpoint(opts: argparse.Namespace) -> str:
    """The Cloud Functions API base: the flag, the environment, or (when Secret Manager is
    a local emulator) the same local server, which also serves ``/ncf/api/v2``."""
    given = opts.functions_endpoint or os.environ.get("NCLOUD_CLOUD_FUNCTIONS_ENDPOINT")
    if given:
        return checked_url(given, "--functions-endpoint")
    parts = urlsplit(checked_url(opts.endpoint, "--endpoint"))
    if parts.hostname in LOOPBACK_HOSTS:
        return urlunsplit((parts.scheme, parts.netloc, "/ncf/api/v2", "", ""))
    return FUNCTIONS_ENDPOINT


# -- clients --------------------------------------------------------------------------------


def credentials() -> Credentials:
    access_key = os.environ.get("NCLOUD_ACCESS_KEY", "")
    secret_key = os.environ.get("NCLOUD_SECRET_KEY", "")
    if not access_key or not secret_key:
        raise UsageError("set NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY (never passed as flags)")
    logs.REDACTOR.register(secret_key)
    if access_key.strip() != access_key or secret_key.strip() != secret_key:
        raise UsageError(
            "NCLOUD_ACCESS_KEY or NCLOUD_SECRET_KEY has leading or trailing spaces: remove them"
        )
    return Credentials(access_key, secret_key)


def sm_client(opts: argparse.Namespace) -> SecretManagerClient:
    endpoint = checked_url(opts.endpoint, "--endpoint")
    return SecretManagerClient(credentials(), endpoint=endpoint)


def functions_client(opts: argparse.Namespace) -> CloudFunctionsClient:
    # One attempt per call: the Cloud Functions side only explains, it must not stall.
    return CloudFunctionsClient(
        credentials(), endpoint=functions_endpoint(opts), retry=RetryPolicy(attempts=2)
    )


# -- output ---------------------------------------------------------------------------------


@dataclass
class Output:
    """The two streams: ``data`` for the answer, ``messages`` for everything else."""

    data: TextIO
    messages: TextIO = field(default_factory=lambda: sys.stderr)

    def write(self, text: str = "") -> None:
        self.data.write(logs.printable(logs.REDACTOR.scrub(text)) + "\n")

    def json(self, payload: Any) -> None:
        clean = logs.REDACTOR.scrub_any(payload)
        text = json.dumps(clean, indent=2, ensure_ascii=False, default=str)
        self.data.write(logs.printable(text) + "\n")

    def note(self, text: str) -> None:
        self.messages.write(logs.printable(logs.REDACTOR.scrub(text)) + "\n")
        self.messages.flush()


class Progress:
    """Progress of a long wait, on stderr: a live line on a terminal, else one line per
    phase change (so a CI log shows the job moving without a line per poll)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.live = stream.isatty()
        self.last: str | None = None
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, phase: str) -> None:
        if self.live:
            self.stream.write(f"\r{self.label}: {phase:<16} {self.elapsed:6.1f}s")
        elif phase != self.last:
            self.stream.write(f"{self.label}: {phase} after {self.elapsed:.1f}s\n")
        self.stream.flush()
        self.last = phase

    def finish(self) -> None:
        if self.live and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def stray_output_to(stream: TextIO) -> Iterator[None]:
    """Send whatever writes to ``sys.stdout`` (the JSON log lines of the libraries, a
    handler run in-process) to ``stream``, keeping stdout for the command's answer."""
    saved = sys.stdout
    sys.stdout = stream
    try:
        yield
    finally:
        sys.stdout = saved


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000
