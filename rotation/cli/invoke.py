"""``invoke --event FILE``: run ``handler.main`` here, as Cloud Functions would run it.

For trying the action locally with a sample event (``events/``): the result is printed as
JSON on stdout, the action's JSON log lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rotation import logs
from rotation.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Output,
    UsageError,
    checked_url,
    secret_id,
    stray_output_to,
)

MAX_EVENT_BYTES = 100_000


def run_handler(args: dict[str, Any], out: Output) -> dict[str, Any]:
    """The deployed entry point, run here; its JSON log lines go to stderr, live.

    The one place the CLI imports ``handler`` (``invoke`` and a local ``resume``), and
    only when it runs it: nothing else of the CLI needs the action's entry point.
    """
    import handler  # noqa: PLC0415

    with stray_output_to(out.messages):
        result: dict[str, Any] = handler.main(args)
    return result


def cmd_invoke(opts: argparse.Namespace, out: Output) -> int:
    endpoint = checked_url(opts.endpoint, "--endpoint")
    try:
        with opts.event.open("rb") as handle:
            raw = handle.read(MAX_EVENT_BYTES + 1)
        event = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the event {opts.event}: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError):
        raise UsageError(f"the event {opts.event} is not a JSON object") from None
    if len(raw) > MAX_EVENT_BYTES or not isinstance(event, dict):
        raise UsageError("the event must be a JSON object of action parameters (up to 100 kB)")
    if opts.secret_id:
        event["secretId"] = opts.secret_id
    if opts.job_token:
        logs.REDACTOR.register(opts.job_token)
        event["jobToken"] = opts.job_token
    event.setdefault("secretManagerEndpoint", endpoint)
    result = run_handler(event, out)
    out.json(result)
    return EXIT_OK if result.get("ok") else EXIT_FAILED


def register(commands: Any) -> None:
    invoke = commands.add_parser(
        "invoke",
        help="run handler.main here with a sample event (local invoke)",
        description="Run the action's entry point (handler.main) in this process with a sample "
        "event, as Cloud Functions would. The result is printed as JSON on stdout; the "
        "action's log lines go to stderr.",
    )
    invoke.add_argument(
        "--event", required=True, type=Path, metavar="FILE", help="a JSON file of action parameters"
    )
    invoke.add_argument("--secret-id", type=secret_id, help="override the event's secretId")
    invoke.add_argument(
        "--job-token",
        help="override the event's jobToken (`resume` finds the running job's token itself)",
    )
    invoke.set_defaults(handler=cmd_invoke)
