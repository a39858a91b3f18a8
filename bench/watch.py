"""``python -m bench.watch``: what one watchdog run costs for a fleet, and a simulated month.

The sweep: ``--secrets`` (1,000) store-only secrets on one trigger, the watchdog's memory
made as deploy makes it, one run of the watchdog in this process against the emulator.
The emulator counts every call by operation; the run is timed twice, as the emulator
answers (a millisecond or two a call) and with ``--latency`` (50 ms) added to every
Secret Manager and Cloud Functions call, which is what decides the time on NCP (a
regional API call from a VPC action takes tens of milliseconds; NCP publishes no figure,
so the latency is an assumption, printed beside the result). The goal: the sweep fits
the watchdog's timeout (120 s by default, 300 s at most) with room to spare.

``--month``: the simulated month of tests/watch_world.py, its day-by-day transcript.
Figures are for reading, never asserted in tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from bench.common import Figure, note
from rotation import logs
from rotation.ncp.admin_models import CreateSecretRequest
from rotation.watch import memory
from tests.watch_world import simulate_month, world

#: The watchdog action's default timeout (deploy's [watch] timeout_ms) and the maximum.
TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 300.0
DELAYED = ("get_secret_detail", "get_secret_logs", "get_trigger_list", "get_action",
           "get_secret_stage_value", "get_secret_list")  # fmt: skip


def sweep(secrets: int, latency_ms: float, workers: int) -> list[str]:
    lines = []
    with world() as (w, _):
        for _ in range(secrets):
            w.secret(period=30)
        with w.emu.client() as client:
            state = client.create_secret(
                CreateSecretRequest(
                    secret_name="rotator-watch", value=memory.initial_value(0),
                    rotation_targets=(memory.KEY,), memo=memory.MEMO,
                )
            )  # fmt: skip
        w.watch = {"stateSecretId": state.secret_id, "workers": workers}
        for delay in (0.0, latency_ms / 1000):
            w.emu.stats.reset()
            w.emu.faults.clear()
            if delay:
                for operation in DELAYED:
                    w.emu.faults.add(operation, delay=delay, times=10 * secrets + 100)
            started = time.monotonic()
            result = w.run()
            took = time.monotonic() - started
            calls = Counter(w.emu.stats.calls)
            if not result["ok"] or result["secrets"] != secrets:
                raise RuntimeError(f"the sweep did not read every secret: {result.get('warnings')}")
            label = "emulator" if not delay else f"+{latency_ms:.0f} ms a call"
            lines.append(
                Figure(
                    f"{secrets} secrets, {workers} workers, {label}: time",
                    f"{took:.1f} s",
                    goal=f"< {TIMEOUT_S:.0f} s",
                    met=took < TIMEOUT_S,
                ).line()
            )
            if not delay:
                shown = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
                lines.append(Figure(f"{secrets} secrets: calls", str(sum(calls.values()))).line())
                lines.append(note(shown))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.watch", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--secrets", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=50.0, help="ms added to every call")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--month", action="store_true", help="print the simulated month")
    opts = parser.parse_args(argv)
    logs.configure("WARNING")
    if opts.month:
        with world() as (w, _):
            for line in simulate_month(w, None).transcript:
                print(line, flush=True)
        return 0
    print("[the watchdog: one sweep of a fleet]", flush=True)
    for line in sweep(opts.secrets, opts.latency, opts.workers):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
