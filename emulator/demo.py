"""``make demo``: one real rotation on the embedded emulator, as Secret Manager runs it.

1. Start the emulator (Secret Manager on 127.0.0.1, with the Cloud Functions runtime).
2. Deploy this project's ``handler.main`` as the action of a Secret Manager trigger; the
   emulator runs it in a warm container on Python 3.13, as NCP's action-loop runtime does.
3. Create a secret (every field of Create secret) linked to that trigger.
4. Execute Rotation Job: Secret Manager mints a job token and runs the trigger's action.
5. Print the action's log lines, its result, and the secret before and after.

Values are masked everywhere; the closing checks compare them without printing them.
"""

from __future__ import annotations

import json
import sys

from emulator.app import Emulator
from rotation import logs
from rotation.display import format_chain, format_detail
from rotation.ncp.admin_models import CreateSecretRequest
from rotation.ncp.models import ProtectionKeyType, RotationPhase

VALUE = {
    "engine": "store-only",
    "username": "app",
    "password": "initial-Passw0rd",
    "host": "db.internal",
}


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    logs.configure("WARNING")  # the demo's own API calls stay quiet; the action's logs print
    with Emulator() as emu, emu.client() as client:
        banner(f"Secret Manager emulator listening on {emu.endpoint}")
        trigger = emu.add_trigger("rotator-trigger", emu.handler_action("secret-rotator"))
        print(f"trigger {trigger.name} ({trigger.trigger_id}) runs handler.main as secret-rotator")

        banner("Create secret: POST /api/v1/secrets")
        key = next(k for k in client.list_protection_keys() if k.key_tag)
        created = client.create_secret(
            CreateSecretRequest(
                secret_name="demo-db",
                memo="app database password (demo)",
                value=VALUE,
                rotation_targets=("password",),
                secret_type="BASIC",
                auto_rotation=True,
                auto_rotation_period=30,
                trigger_id=trigger.trigger_id,
                protection_key_type=ProtectionKeyType.USER_MANAGED_KEY,
                kms_key_tag=key.kms_key_tag,
            )
        )
        sid = created.secret_id
        banner("Before: Get secret detail and values (masked)")
        print(format_detail(client.get_secret(sid)))
        before = client.get_secret_values(sid)
        print(format_chain(before))

        banner("Execute Rotation Job: POST /api/v1/secrets/{secretId}/rotation")
        client.execute_rotation_job(sid)
        [activation] = emu.wait_idle(timeout=120)
        took = f"{activation.status} in {activation.duration_ms} ms"
        print(f"activation {activation.activation_id}: {took}")

        banner("The action's log (JSON lines on its stdout, as Cloud Functions keeps them)")
        for line in activation.logs:
            print(line)
        banner("The action's result")
        print(json.dumps(activation.result))

        banner("After: Get secret detail and values (masked)")
        detail = client.get_secret(sid)
        print(format_detail(detail))
        after = client.get_secret_values(sid)
        print(format_chain(after))

        checks = {
            "the job ended with rotationPhase NONE": detail.rotation_phase is RotationPhase.NONE,
            "the password changed": after.active is not None
            and after.active["password"] != VALUE["password"],
            "every other key is unchanged": after.active is not None
            and {k: v for k, v in after.active.items() if k != "password"}
            == {k: v for k, v in VALUE.items() if k != "password"},
            "the old value is kept as previous": after.previous == VALUE,
            "no pending value is left behind": after.pending is None,
        }
        banner("Checks")
        for text, ok in checks.items():
            print(f"[{'ok' if ok else 'FAILED'}] {text}")
        calls = ", ".join(f"{op} x{n}" for op, n in sorted(emu.stats.calls.items()))
        print(f"\nsigned calls seen by the emulator: {calls}")
    return 0 if all(checks.values()) and (activation.result or {}).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
