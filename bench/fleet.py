"""A fleet at once (``make bench-fleet``): every secret of one period falls due in the same
hour, so Secret Manager raises all their jobs together.

``--secrets`` store-only secrets (default 1,000) on one trigger, rotated by action
processes that the emulator's trigger starts (the launcher, as the runtime does), at most
``--concurrency`` at a time (default 50), while Secret Manager answers 429 with
``Retry-After`` to 20 % of calls and 503 to 1 % (seeded). Then ``--mariadb`` real MariaDB
users (default 50) rotated at once the same way. Checked afterwards, from the emulator's
state and the databases: every job completed, every active value changed and is what the
system accepts, the chain is consistent (previous = the old active, no pending), every
phase NONE. Reported: throughput, rotation time percentiles, retries per call, how the
retries were spread in time, and where the CPU went (what limits throughput).
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bench.common import Figure, machine, note, percentile
from bench.targets import Kind, mariadb_logs_in, mariadb_users, store_only
from emulator import Emulator
from emulator.server import RequestRecord
from rotation.ncp.admin_models import CreateSecretRequest

THROTTLE_SHARE, RETRY_AFTER_S, UNAVAILABLE_SHARE = 0.20, 1.0, 0.01
PERIOD_DAYS = 1


class ShiftedClock:
    """Secret Manager's clock, movable: the fleet falls due when it jumps a period on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class FleetResult:
    lines: list[str]
    failures: int


def _create(emu: Emulator, kinds: list[Kind], trigger_id: str) -> dict[str, Kind]:
    """The secrets, on auto rotation, created the documented way; a few threads at once."""
    made: dict[str, Kind] = {}
    lock = threading.Lock()
    numbered = list(enumerate(kinds))
    chunks = [numbered[i::4] for i in range(4)]

    def create(chunk: list[tuple[int, Kind]]) -> None:
        with emu.client() as client:
            for number, kind in chunk:
                detail = client.create_secret(
                    CreateSecretRequest(
                        f"fleet{number:06d}",
                        dict(kind.value),
                        kind.targets,
                        auto_rotation=True,
                        auto_rotation_period=PERIOD_DAYS,
                        trigger_id=trigger_id,
                    )
                )
                with lock:
                    made[detail.secret_id] = kind

    threads = [threading.Thread(target=create, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(made) != len(kinds):
        raise RuntimeError(f"created {len(made)} of {len(kinds)} secrets; see the errors above")
    return made


def _retries(records: Iterable[RequestRecord]) -> tuple[list[float], list[float]]:
    """Per connection (one per action process), each error answer and the request that
    followed it: ``(delays, arrival times of those retries)``."""
    by_connection: dict[int, list[RequestRecord]] = {}
    for record in records:
        by_connection.setdefault(record.connection, []).append(record)
    delays, arrivals = [], []
    for seq in by_connection.values():
        for failed, following in itertools.pairwise(seq):
            if failed.status in (429, 503):
                delays.append(following.received - failed.answered)
                arrivals.append(following.received)
    return delays, arrivals


def _burst(times: Iterable[float], window: float = 0.1) -> tuple[int, float]:
    """Retries arriving per ``window``: the busiest window, and the mean over windows
    that had any."""
    ordered = sorted(times)
    if not ordered:
        return 0, 0.0
    buckets = Counter(int((t - ordered[0]) / window) for t in ordered)
    return max(buckets.values()), statistics.fmean(buckets.values())


def _check(emu: Emulator, made: dict[str, Kind]) -> list[str]:
    """What is wrong with each secret after the run (empty: nothing lost)."""
    problems = []
    backend = emu.backend
    with backend.lock:
        state = {sid: backend.secrets[sid] for sid in made}
    for sid, secret in state.items():
        kind = made[sid]
        chain = {k: (json.loads(v) if v else None) for k, v in secret.chain.items()}
        active, previous, pending = chain.get("active"), chain.get("previous"), chain.get("pending")
        last = secret.jobs[-1] if secret.jobs else None
        why = []
        if last is None or last.outcome != "COMPLETED":
            why.append(f"job {None if last is None else last.outcome}")
        if secret.phase != "NONE" or secret.status != "ENABLE":
            why.append(f"phase {secret.phase}, status {secret.status}")
        if previous != kind.value:
            why.append("previous is not the old active")
        if pending is not None:
            why.append("pending left")
        if active is None or active == kind.value:
            why.append("active unchanged")
        elif not kind.accepts(active):
            why.append("the system does not accept the stored active value")
        elif kind.name == "mariadb" and mariadb_logs_in(
            kind.value["username"], kind.value["password"]
        ):
            why.append("the old password still works")
        if why:
            problems.append(f"{sid}: {'; '.join(why)}")
    return problems


def rotate_fleet(
    label: str, kinds: list[Kind], concurrency: int, seed: int, faults: bool = True
) -> FleetResult:
    clock = ShiftedClock()
    lines = [f"[fleet: {label}]"]
    with Emulator(clock=clock) as emu:
        emu.runner.limit(concurrency)
        action = emu.handler_action("rotator", timeout_ms=120_000)
        trigger = emu.add_trigger("fleet", action)
        made = _create(emu, kinds, trigger.trigger_id)
        if faults:
            emu.faults.add_random(
                "*", THROTTLE_SHARE, status=429, retry_after=RETRY_AFTER_S, seed=seed
            )
            emu.faults.add_random("*", UNAVAILABLE_SHARE, status=503)
        emu.stats.reset()
        clock.offset = (PERIOD_DAYS + 1) * 86_400  # a period later: every secret is due
        cpu_self, cpu_children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        started = time.monotonic()
        fired = emu.scheduler.tick()
        activations = emu.wait_idle(timeout=3600)
        elapsed = time.monotonic() - started
        after_self, after_children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        emu.faults.clear_random()
        with emu.stats.lock:
            records = list(emu.stats.requests)
            calls = Counter(emu.stats.calls)
        problems = _check(emu, made)
        peak_mb = after_self.ru_maxrss / 1024
    failed = [a for a in activations if not (a.result and a.result.get("ok"))]
    n = len(made)
    process_ms = [float(a.duration_ms or 0) for a in activations]
    handler_ms = [
        float(a.result["durationMs"]) for a in activations if a.result and "durationMs" in a.result
    ]
    statuses = Counter(r.status for r in records)
    answered = statuses[200]
    retries = statuses[429] + statuses[503]
    delays, arrivals = _retries(records)
    busiest, mean_busy = _burst(arrivals)
    lost = len(problems)
    lines += [
        Figure(
            "jobs raised at once / activations",
            f"{len(fired)} / {len(activations)}",
            f"{n}",
            len(fired) == n == len(activations),
        ).line(),
        Figure("failed rotations", f"{len(failed)}", "0", not failed).line(),
        Figure("lost credentials (state checked per secret)", f"{lost}", "0", lost == 0).line(),
        Figure("throughput", f"{n / elapsed:.2f} rotations/s").line(),
        note(f"{n} rotations in {elapsed:.1f} s, {concurrency} at a time"),
        Figure(
            "rotation time, activation (process start + rotation)",
            f"p50 {percentile(process_ms, 50) / 1000:.2f} s",
        ).line(),
        note(
            f"p95 {percentile(process_ms, 95) / 1000:.2f} s, p99 "
            f"{percentile(process_ms, 99) / 1000:.2f} s, max {max(process_ms) / 1000:.2f} s"
        ),
    ]
    if handler_ms:
        lines.append(
            note(
                f"of which handler.main: p50 {percentile(handler_ms, 50):.0f} ms, p95 "
                f"{percentile(handler_ms, 95):.0f} ms, p99 {percentile(handler_ms, 99):.0f} ms"
            )
        )
    lines += [
        Figure("retries per call", f"{retries / max(answered, 1):.3f}").line(),
        note(
            f"{answered} calls answered, {statuses[429]} x 429 (Retry-After "
            f"{RETRY_AFTER_S:g} s), {statuses[503]} x 503, {sum(calls.values())} requests"
        ),
    ]
    if delays:
        lines.append(
            Figure(
                "retry delay after 429/503 (spread)", f"p50 {percentile(delays, 50):.2f} s"
            ).line()
        )
        lines.append(
            note(
                f"min {min(delays):.2f} s, p5 {percentile(delays, 5):.2f} s, p95 "
                f"{percentile(delays, 95):.2f} s, max {max(delays):.2f} s; busiest 100 ms: "
                f"{busiest} retries, mean {mean_busy:.1f} (close: no synchronized burst)"
            )
        )
    cpu_actions = (after_children.ru_utime + after_children.ru_stime) - (
        cpu_children.ru_utime + cpu_children.ru_stime
    )
    cpu_emulator = (after_self.ru_utime + after_self.ru_stime) - (
        cpu_self.ru_utime + cpu_self.ru_stime
    )
    capacity = elapsed * (os.cpu_count() or 1)
    lines += [
        Figure(
            "CPU: action processes / emulator / idle",
            f"{cpu_actions / capacity:.0%} / {cpu_emulator / capacity:.0%} / "
            f"{max(0.0, 1 - (cpu_actions + cpu_emulator) / capacity):.0%}",
        ).line(),
        note(
            f"{cpu_actions:.0f} s in action processes ({cpu_actions / max(n, 1) * 1000:.0f} ms "
            f"each), {cpu_emulator:.0f} s in the emulator, of {capacity:.0f} CPU-s"
        ),
        Figure("emulator peak memory (this process)", f"{peak_mb:.0f} MB").line(),
    ]
    for problem in problems[:10]:
        lines.append(note(f"LOST: {problem}"))
    for activation in failed[:10]:
        lines.append(note(f"FAILED: {activation.secret_id}: {activation.result}"))
    return FleetResult(lines, len(failed) + lost)


def run(secrets: int = 1000, concurrency: int = 50, mariadb: int = 50, seed: int = 12) -> int:
    print(machine())
    print(
        f"fleet: {secrets} store-only secrets, {concurrency} at a time; faults: "
        f"{THROTTLE_SHARE:.0%} 429 (Retry-After {RETRY_AFTER_S:g} s), "
        f"{UNAVAILABLE_SHARE:.0%} 503, seed {seed}",
        flush=True,
    )
    failures = 0
    kinds = []
    for _ in range(secrets):
        with store_only() as kind:
            kinds.append(kind)
    result = rotate_fleet("store-only", kinds, concurrency, seed)
    print("\n".join(result.lines), flush=True)
    failures += result.failures
    if mariadb:
        with mariadb_users(mariadb) as users:
            if isinstance(users, str):
                print(f"[fleet: mariadb] skipped: {users}")
            else:
                result = rotate_fleet(f"{mariadb} MariaDB users", users, mariadb, seed + 1)
                print("\n".join(result.lines), flush=True)
                failures += result.failures
    print(f"fleet: {'PASS' if failures == 0 else f'FAIL ({failures})'}")
    return 0 if failures == 0 else 1
