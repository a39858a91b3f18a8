"""``check SECRET_ID``: would a rotation work? One line per check, nothing changed.

The logic is :func:`rotation.check.run_check`, shared with the action's dry run; this
command runs it here, with the operator's credentials and network (so a database reachable
only from the action's VPC fails ``login`` here and passes there: run the action's dry run
for the definitive answer). The target and policy are the deployed action's, read from
Cloud Functions and laid out for this secret as the action lays them out
(:func:`rotation.cli.params.deployed_source`), unless ``--params`` names a file.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotation.check import CheckLine, CheckStatus, passed, run_check
from rotation.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Output,
    action_name,
    credentials,
    functions_client,
    positive_seconds,
    secret_id,
    sm_client,
)
from rotation.cli.params import deployed_source, file_source, params_file
from rotation.ncp.deadline import Deadline
from rotation.ncp.signing import Credentials

DESCRIPTION = """\
Check, without starting a job or changing anything, that a rotation of the secret would
work: the API host answers and accepts the keys (api), the secret can rotate (secret),
the active value holds every rotation target (value), the target builds (target), logs in
with the active credential (login), and the value policy fits the target (policy).

The target and policy are those a rotation will use (params): the parameters of the
deployed action the secret's trigger runs (Cloud Functions Get Action; --action names it
when the trigger runs several), with the secret's own bySecretId entry laid over them, as
the action does; --params FILE checks with a JSON file of action parameters instead. When
neither can be read, the value's own keys (engine, host, ...) are used and the params line
says so (warn). A server that accepts a random wrong password is a warn line
(TARGET_AUTH_NOT_ENFORCED), as the rotation warns.

Exit code 0 when nothing failed (warnings included), 1 otherwise. The deployed action
runs the same checks from its own network on an invocation with {"dryRun": true}."""


@dataclass(frozen=True)
class CheckArgs:
    secret_id: str
    target: Mapping[str, Any] | None
    policy: Mapping[str, Any] | None
    credentials: Credentials
    deadline: Deadline


def cmd_check(opts: argparse.Namespace, out: Output) -> int:
    keys = credentials()
    source = (
        file_source(opts.params, keys)
        if opts.params is not None
        else deployed_source(lambda: functions_client(opts), opts.action)
    )
    inputs = CheckArgs(
        secret_id=opts.secret_id,
        target=None,
        policy=None,
        credentials=keys,
        deadline=Deadline.after(opts.timeout),
    )
    with sm_client(opts) as client:
        lines = run_check(inputs, client, params=source)
    ok = passed(lines)
    if opts.json:
        out.json({"secretId": opts.secret_id, "ok": ok, "checks": [x.to_dict() for x in lines]})
    else:
        for line in lines:
            out.write(str(line))
        out.write(verdict(lines))
    return EXIT_OK if ok else EXIT_FAILED


def verdict(lines: list[CheckLine]) -> str:
    """The last line: passed or not, and whether warnings need a look."""
    if not passed(lines):
        return "a rotation would fail: see the fail lines"
    warned = [line.name for line in lines if line.status is CheckStatus.WARN]
    if not warned:
        return "all checks passed"
    return f"all checks passed, with warnings ({', '.join(warned)}): see the warn lines"


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="check that a rotation would work, without starting one",
        description=DESCRIPTION,
    )
    check.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    check.add_argument(
        "--params",
        type=params_file,
        metavar="FILE",
        help="JSON file of the action's parameters (target, policy, bySecretId) to check "
        "with, instead of the deployed action's",
    )
    check.add_argument(
        "--action",
        type=action_name,
        help="the deployed action whose parameters to check with ([package/]action; default: "
        "the one the secret's trigger runs)",
    )
    check.add_argument(
        "--timeout",
        type=positive_seconds,
        default=60.0,
        help="seconds the checks may take in all (default 60)",
    )
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.set_defaults(handler=cmd_check)
