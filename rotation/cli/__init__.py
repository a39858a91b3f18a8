"""``python -m rotation``: run the handler locally and drive Secret Manager from a terminal.

    invoke --event events/NAME.json    run handler.main with a sample event (local invoke)
    secret create --name N --targets K [--value-file F]   value from a file or stdin only
    secret show ID [--json]            Get secret detail, as a table or JSON
    secret values ID [--reveal]        the chain, rotation targets masked unless --reveal
    secret list                        every secret
    rotate ID                          Execute Rotation Job and follow it to the end
    triggers                           the Secret Manager triggers and their links

Credentials come from ``NCLOUD_ACCESS_KEY`` / ``NCLOUD_SECRET_KEY`` only: a secret on the
command line ends up in shell history and process lists. ``--endpoint`` (or
``NCLOUD_SECRET_MANAGER_ENDPOINT``) points the CLI at the emulator or a regional host.

Exit codes: 0 done, 1 the rotation or invocation failed, 2 bad usage or input,
3 Secret Manager refused or could not be reached, 4 timed out waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from rotation import logs
from rotation.display import detail_json, format_chain, format_detail, masked_value, table
from rotation.ncp.errors import NcpError
from rotation.ncp.models import (
    CreateSecretRequest,
    ProtectionKeyType,
    RotationPhase,
    SecretDetail,
    SecretValue,
    SecretValueError,
)
from rotation.ncp.secretmanager import DEFAULT_ENDPOINT, SecretManagerClient
from rotation.ncp.signing import Credentials

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_API, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rotation", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("NCLOUD_SECRET_MANAGER_ENDPOINT", DEFAULT_ENDPOINT),
        help="Secret Manager base URL (default: $NCLOUD_SECRET_MANAGER_ENDPOINT, else global)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    invoke = commands.add_parser("invoke", help="run handler.main with a sample event")
    invoke.add_argument(
        "--event", required=True, type=Path, help="a JSON file of action parameters"
    )
    invoke.add_argument("--secret-id", help="override the event's secretId")
    invoke.add_argument("--job-token", help="override the event's jobToken")

    secret = commands.add_parser("secret", help="create and inspect secrets").add_subparsers(
        dest="secret_command", required=True
    )
    create = secret.add_parser("create", help="Create secret (value from --value-file or stdin)")
    create.add_argument("--name", required=True, help="3-15 letters, digits, - or _")
    create.add_argument("--targets", required=True, help="rotation target keys, comma-separated")
    create.add_argument("--value-file", type=Path, help="JSON object file; '-' or absent: stdin")
    create.add_argument("--memo")
    create.add_argument("--secret-type", default="BASIC")
    create.add_argument("--auto-rotation", action="store_true", help="autoRotationYN=Y")
    create.add_argument("--period", type=int, help="autoRotationPeriod in days (1-730)")
    create.add_argument("--trigger-id")
    create.add_argument(
        "--protection-key-type", default="DEFAULT", choices=[t.value for t in ProtectionKeyType]
    )
    create.add_argument("--kms-key-tag")
    create.add_argument("--kms-boundary-type", choices=["GLOBAL", "ISOLATED"])
    create.add_argument("--json", action="store_true")

    show = secret.add_parser("show", help="Get secret detail")
    show.add_argument("secret_id")
    show.add_argument("--json", action="store_true")

    values = secret.add_parser("values", help="the chain, masked unless --reveal")
    values.add_argument("secret_id")
    values.add_argument("--reveal", action="store_true", help="print rotation targets in clear")
    values.add_argument("--json", action="store_true")

    secret.add_parser("list", help="every secret")

    rotate = commands.add_parser("rotate", help="Execute Rotation Job and follow it")
    rotate.add_argument("secret_id")
    rotate.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (300)")
    rotate.add_argument("--interval", type=float, default=1.0, help="seconds between polls (1)")

    commands.add_parser("triggers", help="the Secret Manager triggers")
    return parser


def _client(opts: argparse.Namespace) -> SecretManagerClient:
    access_key = os.environ.get("NCLOUD_ACCESS_KEY")
    secret_key = os.environ.get("NCLOUD_SECRET_KEY")
    if not access_key or not secret_key:
        raise UsageError("set NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY")
    logs.REDACTOR.register(secret_key)
    try:
        return SecretManagerClient(Credentials(access_key, secret_key), endpoint=opts.endpoint)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# -- commands -------------------------------------------------------------------------------


def cmd_invoke(opts: argparse.Namespace, out: TextIO) -> int:
    import handler  # noqa: PLC0415 - the deployed entry point; only this command needs it

    try:
        event = json.loads(opts.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the event {opts.event}: {type(exc).__name__}") from None
    if not isinstance(event, dict):
        raise UsageError("the event must be a JSON object of action parameters")
    if opts.secret_id:
        event["secretId"] = opts.secret_id
    if opts.job_token:
        event["jobToken"] = opts.job_token
    event.setdefault("secretManagerEndpoint", opts.endpoint)
    # The logs go to stderr, so that stdout holds only the result (pipe it to jq).
    with contextlib.redirect_stdout(sys.stderr):
        result = handler.main(event)
    _print_json(result, out)
    return EXIT_OK if result.get("ok") else EXIT_FAILED


def _read_value(path: Path | None) -> SecretValue:
    if path is None or str(path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return SecretValue.parse(text)
    except SecretValueError:
        raise UsageError(
            'the secret value must be a JSON object, e.g. {"password": "..."}'
        ) from None


def cmd_secret_create(opts: argparse.Namespace, out: TextIO) -> int:
    value = _read_value(opts.value_file)
    logs.REDACTOR.register_value(value, [k.strip() for k in opts.targets.split(",")])
    request = CreateSecretRequest(
        secret_name=opts.name,
        value=value,
        rotation_targets=tuple(k.strip() for k in opts.targets.split(",") if k.strip()),
        memo=opts.memo,
        secret_type=opts.secret_type,
        auto_rotation=opts.auto_rotation,
        auto_rotation_period=opts.period,
        trigger_id=opts.trigger_id,
        protection_key_type=ProtectionKeyType(opts.protection_key_type),
        kms_key_tag=opts.kms_key_tag,
        kms_boundary_type=opts.kms_boundary_type,
    )
    with _client(opts) as client:
        detail = client.create_secret(request)
    _show(detail, opts.json, out)
    return EXIT_OK


def _show(detail: SecretDetail, as_json: bool, out: TextIO) -> None:
    if as_json:
        _print_json(detail_json(detail), out)
    else:
        out.write(format_detail(detail) + "\n")


def cmd_secret_show(opts: argparse.Namespace, out: TextIO) -> int:
    with _client(opts) as client:
        _show(client.get_secret(opts.secret_id), opts.json, out)
    return EXIT_OK


def cmd_secret_values(opts: argparse.Namespace, out: TextIO) -> int:
    with _client(opts) as client:
        chain = client.get_secret_values(opts.secret_id)
    if opts.json:
        stages = {"previous": chain.previous, "active": chain.active, "pending": chain.pending}
        _print_json(
            {
                **{
                    name: None
                    if v is None
                    else masked_value(v, chain.rotation_targets, reveal=opts.reveal)
                    for name, v in stages.items()
                },
                "rotationTargets": list(chain.rotation_targets),
            },
            out,
        )
    else:
        out.write(format_chain(chain, reveal=opts.reveal) + "\n")
    return EXIT_OK


def cmd_secret_list(opts: argparse.Namespace, out: TextIO) -> int:
    with _client(opts) as client:
        rows = [(s.secret_id, f"{s.secret_name}  {s.status.value}") for s in client.iter_secrets()]
    out.write((table(rows) if rows else "no secrets") + "\n")
    return EXIT_OK


def cmd_triggers(opts: argparse.Namespace, out: TextIO) -> int:
    with _client(opts) as client:
        triggers = client.list_triggers()
    for trigger in triggers:
        actions = ", ".join(a.name for a in trigger.actions) or "-"
        out.write(
            f"{trigger.id}  {trigger.name}  actions: {actions}  secrets: "
            f"{len(trigger.linked_secrets)}\n"
        )
    if not triggers:
        out.write("no triggers\n")
    return EXIT_OK


def cmd_rotate(
    opts: argparse.Namespace,
    out: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    live = out.isatty()
    with _client(opts) as client:
        before = client.get_secret(opts.secret_id)
        client.execute_rotation_job(opts.secret_id)
        started = time.monotonic()
        seen_rotating = False
        while True:
            detail = client.get_secret(opts.secret_id)
            elapsed = time.monotonic() - started
            phase = detail.rotation_phase
            seen_rotating = seen_rotating or detail.rotating
            if live:
                out.write(f"\r{detail.secret_name}: {phase.value:<16} {elapsed:6.1f}s")
                out.flush()
            done = phase is RotationPhase.NONE and (
                seen_rotating or detail.last_rotation_date != before.last_rotation_date
            )
            if done or phase is RotationPhase.ROTATION_FAILED:
                break
            if elapsed >= opts.timeout:
                out.write(
                    ("\n" if live else "") + f"still {phase.value} after {opts.timeout:.0f}s\n"
                )
                return EXIT_TIMEOUT
            sleep(opts.interval)
    if live:
        out.write("\n")
    if phase is RotationPhase.ROTATION_FAILED:
        out.write(f"rotation of {detail.secret_name} FAILED after {elapsed:.1f}s\n")
        return EXIT_FAILED
    out.write(f"rotation of {detail.secret_name} done in {elapsed:.1f}s (rotationPhase NONE)\n")
    return EXIT_OK


COMMANDS: dict[tuple[str, str | None], Callable[[argparse.Namespace, TextIO], int]] = {
    ("invoke", None): cmd_invoke,
    ("secret", "create"): cmd_secret_create,
    ("secret", "show"): cmd_secret_show,
    ("secret", "values"): cmd_secret_values,
    ("secret", "list"): cmd_secret_list,
    ("rotate", None): cmd_rotate,
    ("triggers", None): cmd_triggers,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    opts = _parser().parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "WARNING") if opts.command != "invoke" else None)
    command = COMMANDS[(opts.command, getattr(opts, "secret_command", None))]
    try:
        return command(opts, stream)
    except UsageError as exc:
        sys.stderr.write(f"error: {logs.REDACTOR.scrub(str(exc))}\n")
        return EXIT_USAGE
    except NcpError as exc:
        sys.stderr.write(f"error: {logs.REDACTOR.scrub(str(exc))}\n")
        return EXIT_API
