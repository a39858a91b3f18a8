"""Signing cost and signed-call latency against the emulator over one kept-alive connection."""

from __future__ import annotations

from bench.common import measure
from emulator import Emulator
from rotation.ncp.models import CreateSecretRequest
from rotation.ncp.signing import Credentials, signed_headers


def run() -> list[str]:
    lines = []
    creds = Credentials("AK" * 10, "SK" * 20)
    url = "https://secretmanager.apigw.ntruss.com/api/v1/secrets/abc/logs?keyword=x%20y&pageNo=1"
    lines.append(
        measure(
            "sign one request (3 headers)", lambda: signed_headers("GET", url, creds), 20_000
        ).line()
    )
    with Emulator() as emu, emu.client() as client:
        trigger = emu.backend.register_trigger("bench")
        secret = client.create_secret(
            CreateSecretRequest(
                "bench1", {"password": "p" * 32}, ("password",), trigger_id=trigger.trigger_id
            )
        )
        emu.stats.reset()
        lines.append(
            measure(
                "GET secret detail (signed, keep-alive)",
                lambda: client.get_secret(secret.secret_id),
                500,
            ).line()
        )
        lines.append(
            measure(
                "GET secret values (signed, keep-alive)",
                lambda: client.get_secret_values(secret.secret_id),
                500,
            ).line()
        )
        calls = sum(emu.stats.calls.values())
        label = f"new connections during {calls} calls"
        lines.append(f"{label:<44} {emu.stats.connections}")
    return lines
