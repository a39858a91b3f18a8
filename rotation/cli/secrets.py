"""``secret create|show|values|list|update`` and ``triggers``: Secret Manager by hand.

Values are read from a file or stdin only and checked before any call (see
:mod:`rotation.cli.values`); what is printed back is masked (rotation targets and
secret-looking keys) unless ``--reveal`` asks for it.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rotation import logs
from rotation.cli.advice import running_job
from rotation.cli.common import (
    EXIT_OK,
    Output,
    Refused,
    UsageError,
    bounded_int,
    secret_id,
    sm_client,
)
from rotation.cli.joblog import live
from rotation.cli.values import read_value, target_keys
from rotation.display import detail_json, format_chain, format_detail, masked_value
from rotation.ncp.admin_models import CreateSecretRequest
from rotation.ncp.models import ProtectionKeyType, SecretDetail


def _show(detail: SecretDetail, opts: argparse.Namespace, out: Output) -> None:
    if opts.json:
        out.json(detail_json(detail))
    else:
        out.write(format_detail(detail))


#: Create Secret's documented name rule.
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{2,14}")


def cmd_create(opts: argparse.Namespace, out: Output) -> int:
    if not NAME_PATTERN.fullmatch(opts.name):
        raise UsageError("--name must be 3-15 letters, digits, - or _, starting with a letter")
    targets = target_keys(opts.targets)
    if opts.auto_rotation and (opts.period is None or opts.trigger_id is None):
        raise UsageError("--auto-rotation needs --period DAYS and --trigger-id ID")
    if opts.protection_key_type == ProtectionKeyType.USER_MANAGED_KEY and not opts.kms_key_tag:
        raise UsageError("--protection-key-type USER_MANAGED_KEY needs --kms-key-tag")
    client = sm_client(opts)  # credentials first: no point reading a value we cannot send
    with client:
        value = read_value(opts.value_file, targets)
        request = CreateSecretRequest(
            secret_name=opts.name,
            value=value,
            rotation_targets=targets,
            memo=opts.memo,
            secret_type=opts.secret_type,
            auto_rotation=opts.auto_rotation,
            auto_rotation_period=opts.period,
            trigger_id=opts.trigger_id,
            protection_key_type=ProtectionKeyType(opts.protection_key_type),
            kms_key_tag=opts.kms_key_tag,
            kms_boundary_type=opts.kms_boundary_type,
        )
        detail = client.create_secret(request)
    if not opts.json:
        out.note(f"created {detail.secret_name} ({detail.secret_id}); value stored, not shown")
    _show(detail, opts, out)
    return EXIT_OK


def cmd_update(opts: argparse.Namespace, out: Output) -> int:
    """Put a new active value; the old active becomes previous (as a rotation would)."""
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        chain = client.get_secret_values(detail.secret_id)
        for stage in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(stage, chain.rotation_targets)
        if detail.rotating or live(client, detail) is not None:
            raise Refused(
                f"{detail.secret_name} has a rotation job running; values cannot change until "
                "it ends: "
                + running_job(detail.secret_id, pending_stored=chain.pending is not None)
            )
        targets = chain.rotation_targets
        if opts.targets is not None and target_keys(opts.targets) != targets:
            raise UsageError(
                f"the secret's rotation targets are {', '.join(targets)}; Secret Manager "
                "documents no call that changes them (create a new secret for other targets)"
            )
        value = read_value(opts.value_file, targets)
        if chain.active is not None and value == chain.active:
            raise Refused("the new value is the active value already: nothing changed")
        client.update_secret_values(
            detail.secret_id,
            active=value,
            **({"previous": chain.active} if chain.active is not None else {}),
        )
    old: Mapping[str, Any] = chain.active or {}
    changed = sorted(k for k in value if k not in old or old[k] != value[k])
    removed = sorted(k for k in old if k not in value)
    summary: dict[str, Any] = {
        "secretId": detail.secret_id,
        "changedKeys": changed,
        "removedKeys": removed,
        "rotationTargets": list(targets),
        "previousKept": chain.active is not None,
    }
    if opts.json:
        out.json(summary)
    else:
        out.write(
            f"updated the active value of {detail.secret_name} ({detail.secret_id}): "
            f"keys changed: {', '.join(changed) or '-'}"
            + (f"; keys removed: {', '.join(removed)}" if removed else "")
            + "; the old active value is now previous (values not shown)"
        )
    return EXIT_OK


def cmd_show(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        _show(client.get_secret(opts.secret_id), opts, out)
    return EXIT_OK


def cmd_values(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        chain = client.get_secret_values(opts.secret_id)
    for stage in (chain.previous, chain.active, chain.pending):
        logs.REDACTOR.register_value(stage, chain.rotation_targets)
    if opts.json:
        stages = {"previous": chain.previous, "active": chain.active, "pending": chain.pending}
        payload: dict[str, Any] = {
            name: None if v is None else masked_value(v, chain.rotation_targets, reveal=opts.reveal)
            for name, v in stages.items()
        }
        payload["rotationTargets"] = list(chain.rotation_targets)
        text = json.dumps(payload, indent=2, ensure_ascii=False)
    else:
        text = format_chain(chain, reveal=opts.reveal)
    if opts.reveal:
        out.data.write(text + "\n")  # asked for in clear: not scrubbed
    else:
        out.write(text)
    return EXIT_OK


def cmd_list(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        secrets = list(client.iter_secrets())
    if opts.json:
        out.json(
            [
                {"secretId": s.secret_id, "secretName": s.secret_name, "secretStatus": s.status}
                for s in secrets
            ]
        )
    elif not secrets:
        out.write("no secrets")
    else:
        width = max(len(s.secret_id) for s in secrets)
        for s in secrets:
            out.write(f"{s.secret_id.ljust(width)}  {s.secret_name}  {s.status.value}")
    return EXIT_OK


def cmd_triggers(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        triggers = client.list_triggers()
    if opts.json:
        out.json(
            [
                {
                    "id": t.id,
                    "name": t.name,
                    "actions": [a.name for a in t.actions],
                    "linkedSecrets": list(t.linked_secrets),
                }
                for t in triggers
            ]
        )
        return EXIT_OK
    for trigger in triggers:
        actions = ", ".join(a.name for a in trigger.actions) or "-"
        out.write(
            f"{trigger.id}  {trigger.name}  actions: {actions}  secrets: "
            f"{len(trigger.linked_secrets)}"
        )
    if not triggers:
        out.write("no triggers")
    return EXIT_OK


def register(commands: Any) -> None:
    secret = commands.add_parser(
        "secret",
        help="create, update and inspect secrets",
        description="Create, update and inspect secrets. Values come from a file or stdin, "
        "never from a flag, and are shown masked.",
    ).add_subparsers(dest="secret_command", required=True, metavar="COMMAND")

    create = secret.add_parser(
        "create",
        help="Create Secret (value from --value-file or stdin)",
        description="Create a secret. The value (a flat JSON object holding every rotation "
        "target) comes from --value-file or stdin; on a terminal the command says it is "
        "waiting for it.",
    )
    create.add_argument("--name", required=True, help="3-15 letters, digits, - or _")
    create.add_argument("--targets", required=True, help="rotation target keys, comma-separated")
    create.add_argument(
        "--value-file", type=Path, metavar="FILE", help="JSON object file ('-' or absent: stdin)"
    )
    create.add_argument("--memo", help="a note kept with the secret (up to 1000 bytes)")
    create.add_argument("--secret-type", default="BASIC", help="BASIC (the only documented type)")
    create.add_argument(
        "--auto-rotation", action="store_true", help="turn auto rotation on (autoRotationYN=Y)"
    )
    create.add_argument(
        "--period", type=bounded_int(1, 730, "days"), help="autoRotationPeriod in days (1-730)"
    )
    create.add_argument("--trigger-id", help="the Secret Manager trigger that runs the rotation")
    create.add_argument(
        "--protection-key-type",
        default="DEFAULT",
        choices=[t.value for t in ProtectionKeyType],
        help="DEFAULT or USER_MANAGED_KEY (then --kms-key-tag)",
    )
    create.add_argument("--kms-key-tag", help="the KMS key protecting the secret")
    create.add_argument(
        "--kms-boundary-type", choices=["GLOBAL", "ISOLATED"], help="the KMS key's boundary"
    )
    create.add_argument("--json", action="store_true", help="print the new secret as JSON")
    create.set_defaults(handler=cmd_create)

    update = secret.add_parser(
        "update",
        help="put a new active value (from --value-file or stdin)",
        description="Put a new active value (from --value-file or stdin); the old active "
        "value becomes previous. The value must keep every rotation target. Refused while a "
        "rotation job runs.",
    )
    update.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    update.add_argument(
        "--value-file", type=Path, metavar="FILE", help="JSON object file ('-' or absent: stdin)"
    )
    update.add_argument(
        "--targets",
        help="the rotation targets you expect, comma-separated (checked, not changed: no "
        "documented call changes them)",
    )
    update.add_argument("--json", action="store_true", help="print what changed as JSON")
    update.set_defaults(handler=cmd_update)

    show = secret.add_parser(
        "show", help="Get Secret Detail", description="Get Secret Detail, as a table or JSON."
    )
    show.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    show.add_argument("--json", action="store_true", help="print the API's fields as JSON")
    show.set_defaults(handler=cmd_show)

    values = secret.add_parser(
        "values",
        help="the chain (previous, active, pending), masked unless --reveal",
        description="Get Secret Value: the chain, with rotation targets and secret-looking "
        "keys masked unless --reveal.",
    )
    values.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    values.add_argument("--reveal", action="store_true", help="print rotation targets in clear")
    values.add_argument("--json", action="store_true", help="print the chain as JSON")
    values.set_defaults(handler=cmd_values)

    listing = secret.add_parser(
        "list", help="every secret", description="Get Secret List, every page."
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(handler=cmd_list)

    triggers = commands.add_parser(
        "triggers",
        help="the Secret Manager triggers and their links",
        description="Get Trigger List: each trigger's actions and linked secrets.",
    )
    triggers.add_argument("--json", action="store_true", help="print the triggers as JSON")
    triggers.set_defaults(handler=cmd_triggers)
