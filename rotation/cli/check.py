"""``check SECRET_ID``: would a rotation work? One line per check, nothing changed.

The logic is :func:`rotation.check.run_check`, shared with the action's dry run; this
command runs it here, with the operator's credentials and network (so a database reachable
only from the action's VPC fails ``login`` here and passes there: run the action's dry run
for the definitive answer).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rotation.check import passed, run_check
from rotation.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Output,
    credentials,
    positive_seconds,
    secret_id,
    sm_client,
)
from rotation.cli.params import read_params
from rotation.ncp.deadline import Deadline
from rotation.ncp.signing import Credentials

DESCRIPTION = """\
Check, without starting a job or changing anything, that a rotation of the secret would
work: the API host answers and accepts the keys (api), the secret can rotate (secret),
the active value holds every rotation target (value), the target builds (target), logs in
with the active credential (login), and the value policy fits the target (policy).

The target and policy come from --params (the action's parameters as a JSON file), else
from the value's own keys (engine, host, ...). Exit code 0 when nothing failed, 1 otherwise.
The deployed action runs the same checks on an invocation with {"dryRun": true}."""


@dataclass(frozen=True)
class CheckArgs:
    secret_id: str
    target: Mapping[str, Any] | None
    policy: Mapping[str, Any] | None
    credentials: Credentials
    deadline: Deadline


def cmd_check(opts: argparse.Namespace, out: Output) -> int:
    params = read_params(opts.params)
    inputs = CheckArgs(
        secret_id=opts.secret_id,
        target=params.get("target"),
        policy=params.get("policy"),
        credentials=credentials(),
        deadline=Deadline.after(opts.timeout),
    )
    with sm_client(opts) as client:
        lines = run_check(inputs, client)
    ok = passed(lines)
    if opts.json:
        out.json({"secretId": opts.secret_id, "ok": ok, "checks": [x.to_dict() for x in lines]})
    else:
        for line in lines:
            out.write(str(line))
        out.write("all checks passed" if ok else "a rotation would fail: see the fail lines")
    return EXIT_OK if ok else EXIT_FAILED


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="check that a rotation would work, without starting one",
        description=DESCRIPTION,
    )
    check.add_argument("secret_id", type=secret_id, help="the secret's id")
    check.add_argument(
        "--params",
        type=Path,
        metavar="FILE",
        help="JSON file of the action's parameters (target, policy)",
    )
    check.add_argument(
        "--timeout",
        type=positive_seconds,
        default=60.0,
        help="seconds the checks may take in all (default 60)",
    )
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.set_defaults(handler=cmd_check)
