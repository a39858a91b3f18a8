"""``python -m rotation``: operate secret rotation from a terminal, cron or CI.

One module per command group: ``secrets`` (secret create/show/values/list/update,
triggers), ``jobs`` (rotate, retry, cancel, resume, rollback, pause, unpause), ``status``,
``history``, ``check`` and ``invoke``; ``common`` holds exit codes, clients and output,
``args`` the parser that never echoes what it was given.

This module stays light (the command modules are imported when the parser is built):
the deployed action imports :mod:`rotation.cli.advice` for its notifications.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import argparse

VERSION = "0.1.0"

EPILOG = """\
Commands that read take --json; data goes to stdout, progress and messages to stderr.

credentials:
  NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY, from the environment only.
endpoints:
  --endpoint (or NCLOUD_SECRET_MANAGER_ENDPOINT) for Secret Manager;
  --functions-endpoint (or NCLOUD_CLOUD_FUNCTIONS_ENDPOINT) for Cloud Functions,
  which explains failures and runs `resume --remote`.

exit codes:
  0  done; every check passed; no secret needs attention
  1  the rotation failed, a check failed, or `status` found a secret needing attention
  2  bad usage or input, or a request the secret's state does not allow (nothing changed)
  3  Secret Manager or Cloud Functions could not be reached, refused the keys, or does not
     know the secret
  4  gave up waiting for a job that is still running"""


def build_parser() -> argparse.ArgumentParser:
    from rotation.cli import check, history, invoke, jobs, secrets, status  # noqa: PLC0415
    from rotation.cli.args import QuietParser  # noqa: PLC0415
    from rotation.ncp.secretmanager import DEFAULT_ENDPOINT  # noqa: PLC0415

    parser = QuietParser(
        prog="python -m rotation",
        description="Operate NCP Secret Manager rotation: rotate, see why a job failed, act "
        "on it, watch the fleet, check a secret before enabling it.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"ncp-secret-rotator {VERSION}")
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("NCLOUD_SECRET_MANAGER_ENDPOINT") or DEFAULT_ENDPOINT,
        metavar="URL",
        help=f"Secret Manager base URL (default: $NCLOUD_SECRET_MANAGER_ENDPOINT, else "
        f"{DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--functions-endpoint",
        metavar="URL",
        help="Cloud Functions API base URL (default: $NCLOUD_CLOUD_FUNCTIONS_ENDPOINT; the "
        "local server itself when --endpoint is a local emulator; else NCP's)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (jobs, status, history, check, secrets, invoke):
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; the exit code it documents, never a traceback."""
    from rotation import logs  # noqa: PLC0415
    from rotation.cli.common import (  # noqa: PLC0415
        Output,
        checked_url,
        resolve_secret_args,
        stray_output_to,
    )

    opts = build_parser().parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "WARNING"))
    output = Output(data=out or sys.stdout, messages=sys.stderr)
    with stray_output_to(sys.stderr):  # library log lines never mix with the answer
        try:
            if opts.functions_endpoint:  # checked even when this command never needs it
                checked_url(opts.functions_endpoint, "--functions-endpoint")
            resolve_secret_args(opts)  # a secret's name is accepted wherever its id is
            return int(opts.handler(opts, output))
        except KeyboardInterrupt:
            output.note("interrupted")
            return 130
        except Exception as exc:  # noqa: BLE001 - a clear line and an exit code, no traceback
            message, code = _failure(exc, opts.endpoint)
            output.note(message)
            return code


def _failure(exc: Exception, endpoint: str) -> tuple[str, int]:
    """The one line and the exit code for what stopped a command."""
    from rotation import logs  # noqa: PLC0415
    from rotation.cli.common import EXIT_API, EXIT_USAGE, CliError  # noqa: PLC0415
    from rotation.ncp.errors import (  # noqa: PLC0415
        BadRequest,
        DeadlineExceeded,
        InvalidState,
        NcpError,
        TransportError,
    )

    if isinstance(exc, CliError):
        return f"error: {exc}", exc.exit_code
    if isinstance(exc, (BadRequest, InvalidState)):
        return f"refused, nothing changed: {exc}", EXIT_USAGE
    if isinstance(exc, (TransportError, DeadlineExceeded)):
        return f"error: cannot reach {_host(endpoint)}: {exc}", EXIT_API
    if isinstance(exc, NcpError):
        return f"error: {exc}", EXIT_API
    logs.log.debug("cli.crash", exc_info=exc)
    return (
        f"error: unexpected {type(exc).__name__} (a bug; LOG_LEVEL=DEBUG shows where)",
        EXIT_USAGE,
    )


def _host(url: str) -> str:
    """``host:port`` of an endpoint, for messages (never its user info or path)."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the endpoint"
    return f"{parts.hostname}:{port}"
