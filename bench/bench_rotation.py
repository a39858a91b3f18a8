"""Cold start, calls per rotation, and rotation latency (in-process and via the trigger)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import handler
from bench.common import measure
from emulator import Emulator
from rotation import logs
from rotation.ncp.models import CreateSecretRequest

ROOT = Path(__file__).resolve().parents[1]
VALUE = {"engine": "store-only", "username": "app", "password": "bench-initial-Pw-1"}


def _python_ms(code: str, runs: int = 15) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def cold_start() -> list[str]:
    bare = _python_ms("pass")
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import handler"
    imported = _python_ms(code)
    return [
        f"{'interpreter start (python -I -c pass)':<44} p50={bare:8.1f} ms",
        f"{'interpreter start + import handler':<44} p50={imported:8.1f} ms",
        f"{'=> cold-start cost of our code and deps':<44} p50={imported - bare:8.1f} ms",
    ]


def rotations() -> list[str]:
    lines = []
    with Emulator() as emu, emu.client() as client:
        trigger = emu.backend.register_trigger("bench")
        state = {"n": 0}

        def one() -> None:
            state["n"] += 1
            secret = client.create_secret(
                CreateSecretRequest(
                    f"b{state['n']:05d}", VALUE, ("password",), trigger_id=trigger.trigger_id
                )
            )
            client.execute_rotation_job(secret.secret_id)
            token = [
                e for e in client.get_secret_logs(secret.secret_id).entries if "jobToken" in e
            ][-1]
            emu.stats.reset()
            result = handler.main(
                {
                    "secretId": secret.secret_id,
                    "jobToken": token["jobToken"],
                    "accessKey": emu.access_key,
                    "secretKey": emu.secret_key,
                    "secretManagerEndpoint": emu.endpoint,
                }
            )
            assert result["ok"], result

        timing = measure("store-only rotation, handler.main in-process", one, runs=200)
        lines.append(timing.line())
        calls = Counter(emu.stats.calls)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        lines.append(f"{'API calls per rotation':<44} {sum(calls.values())} ({detail})")
        lines.append(f"{'connections per rotation':<44} {emu.stats.connections}")

        action_trigger = emu.add_trigger("bench-process", emu.handler_action("rotator"))

        def via_trigger() -> None:
            state["n"] += 1
            secret = client.create_secret(
                CreateSecretRequest(
                    f"p{state['n']:05d}", VALUE, ("password",), trigger_id=action_trigger.trigger_id
                )
            )
            client.execute_rotation_job(secret.secret_id)
            emu.wait_idle()

        lines.append(
            measure(
                "Execute Rotation Job -> action process -> done", via_trigger, runs=20, warmup=1
            ).line()
        )
        durations = [
            a.result["durationMs"] for a in emu.activations if a.result and "durationMs" in a.result
        ]
        label = "  of which handler.main (durationMs, p50)"
        lines.append(f"{label:<44} {statistics.median(durations):8.1f} ms")
    return lines


def run() -> list[str]:
    logs.configure("WARNING")
    return cold_start() + rotations()
