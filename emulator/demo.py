"""``make demo``: the Create secret / Get secret detail round trip on the embedded emulator.

Starts the emulator on an ephemeral port, creates a secret with every field of the Create
secret document (seed 000), reads it back with Get secret detail (seed 002) and prints the
detail. Values are never printed.
"""

from __future__ import annotations

import logging
import sys

import structlog

from emulator.app import Emulator
from rotation.display import format_chain, format_detail
from rotation.models import CreateSecretRequest, ProtectionKeyType


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    # The per-call debug lines would drown the walk-through.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    with Emulator() as emu, emu.client() as client:
        banner(f"Secret Manager emulator listening on {emu.endpoint}")
        trigger = emu.backend.register_trigger("demo-rotation-trigger")
        key = client.list_protection_keys()[0]
        request = CreateSecretRequest(
            secret_name="demo-db",
            memo="app database password (demo)",
            value={"engine": "store-only", "username": "app", "password": "initial-Passw0rd"},
            rotation_targets=("password",),
            secret_type="BASIC",
            auto_rotation=True,
            auto_rotation_period=30,
            trigger_id=trigger.trigger_id,
            protection_key_type=ProtectionKeyType.USER_MANAGED_KEY,
            kms_key_tag=key.kms_key_tag,
        )
        banner("Create secret: POST /api/v1/secrets")
        created = client.create_secret(request)
        print(f"created {created.secret_name} ({created.secret_id})")
        banner("Get secret detail: GET /api/v1/secrets/{secretId}")
        detail = client.get_secret(created.secret_id)
        print(format_detail(detail))
        banner("Get secret value: GET /api/v1/secrets/{secretId}/values (masked)")
        print(format_chain(client.get_secret_values(created.secret_id)))
        stats = emu.stats
        calls = ", ".join(f"{op} x{n}" for op, n in sorted(stats.calls.items()))
        total = sum(stats.calls.values())
        banner(f"{total} signed calls over {stats.connections} connection(s): {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
