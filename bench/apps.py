"""``make bench-apps`` (``python -m bench.apps``): applications under load through rotations,
with the application kit (``appcreds``) and without it.

For each engine and each strategy the project supports (PostgreSQL on a throwaway
``scram-sha-256`` cluster: the machine's own trusts any password, which would prove
nothing; the machine's MariaDB and Redis), two application processes run the same load
against the same secret at the same time (:mod:`bench.apps_load`): ``kit`` takes its
credentials from the kit, ``naive`` reads the active value once at start. Each has N
worker threads: half open a new connection per request at a steady rate, half query
through a pool that recycles its connections. Meanwhile this process rotates the secret
``--rotations`` times back to back, each through the emulator's Execute Rotation Job (the
handler runs in its own process, as Cloud Functions runs it), with ``--gap`` seconds
between rotations and ``--settle`` seconds of steady load before the first and after the
last.

Reported per engine, strategy and application: requests, failed requests, p50/p99 latency
of the successful requests in steady state and within a rotation window (from Execute
Rotation Job to the action's end), and Secret Manager calls per minute per process (the
kit's own count, checked against the emulator's). The goal: 0 failed requests with the
kit, for every engine and strategy. Exit status 1 when the kit failed a request, a
rotation failed, or the rotated system does not accept the stored active value.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import ROOT, machine, note, percentile

COMBOS = (
    ("postgresql", "single-user"),
    ("postgresql", "alternating-users"),
    ("mariadb", "single-user"),
    ("mariadb", "alternating-users"),
    ("redis", "single-user"),
    ("redis", "dual-password"),
)
APPS = ("kit", "naive")
READY_TIMEOUT = 60.0


@dataclass
class Options:
    rotations: int = 20
    workers: int = 8
    connect_rate: float = 5.0
    query_rate: float = 50.0
    recycle: float = 1.0
    gap: float = 0.5
    settle: float = 3.0
    combos: tuple[tuple[str, str], ...] = COMBOS


@dataclass
class AppFigures:
    """One application process's run, read against the rotation windows."""

    requests: int = 0
    failed: int = 0
    failed_in_window: int = 0
    p50_steady: float = 0.0
    p99_steady: float = 0.0
    p50_window: float = 0.0
    p99_window: float = 0.0
    calls_per_minute: float = 0.0
    reads: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class ComboResult:
    engine: str
    strategy: str
    skipped: str = ""
    rotations: int = 0
    rotations_failed: list[str] = field(default_factory=list)
    rotation_p50_s: float = 0.0
    accepted_at_end: bool = True
    emulator_kit_reads: int = 0
    apps: dict[str, AppFigures] = field(default_factory=dict)


# -- the systems ----------------------------------------------------------------------------------


class Servers:
    """The machine's MariaDB and Redis; a throwaway PostgreSQL cluster, started on first use."""

    def __init__(self) -> None:
        self._pg: Any = None

    def database(self, engine: str) -> Any:
        from reliability.databases import MariaDB, PostgreSQL, Redis  # noqa: PLC0415
        from reliability.servers import ServerUnavailable, start_pg_cluster  # noqa: PLC0415

        if engine == "mariadb":
            db: Any = MariaDB()
            db.execute("SELECT 1")
            return db
        if engine == "redis":
            db = Redis()
            with contextlib.closing(db.admin()) as r:
                r.ping()
            return db
        if self._pg is None:
            try:
                self._pg = start_pg_cluster("scram-sha-256")
            except ServerUnavailable as exc:
                self._pg = str(exc)
        if isinstance(self._pg, str):
            raise ServerUnavailable(self._pg)
        return PostgreSQL(self._pg)

    def admin_login(self, engine: str, db: Any) -> tuple[str, str]:
        """PostgreSQL: the cluster's superuser (creating the clone as a member of the base
        role with ``SET role`` needs more than CREATEROLE); MariaDB: a user with every
        privilege WITH GRANT OPTION (root has no password to store)."""
        if engine == "postgresql":
            return self._pg.superuser, self._pg.superpass
        name, pw = db.create_admin()
        return str(name), str(pw)

    def close(self) -> None:
        if self._pg is not None and not isinstance(self._pg, str):
            self._pg.stop()


# -- one engine and strategy ----------------------------------------------------------------------


def start_app(kind: str, spec: dict[str, Any], keys: dict[str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, **keys}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.apps_load", kind, json.dumps(spec)],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError("an application process did not answer in time")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"an application process ended early (exit {proc.wait()})")
    return line.strip()


@contextlib.contextmanager
def apps_running(spec: dict[str, Any], keys: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Both applications, ready; on leaving, stopped, with their results in the dict."""
    procs = {kind: start_app(kind, spec, keys) for kind in APPS}
    results: dict[str, Any] = {}
    try:
        for proc in procs.values():
            if read_line(proc, READY_TIMEOUT) != "ready":
                raise RuntimeError("an application process did not start")
        yield results
        for kind, proc in procs.items():
            assert proc.stdin is not None
            proc.stdin.close()
            results[kind] = json.loads(read_line(proc, 120))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    if proc.stdin is not None:
                        proc.stdin.close()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def figures(result: dict[str, Any], windows: Sequence[tuple[float, float]]) -> AppFigures:
    starts = [a for a, _ in windows]

    def in_window(t: float) -> bool:
        i = bisect.bisect_right(starts, t) - 1
        return i >= 0 and t <= windows[i][1]

    steady: list[float] = []
    rotating: list[float] = []
    failed = failed_in_window = 0
    for start, latency, ok, _kind in result["samples"]:
        inside = in_window(start)
        if not ok:
            failed += 1
            failed_in_window += inside
            continue
        (rotating if inside else steady).append(latency)
    minutes = max(result["ended"] - result["began"], 1e-9) / 60
    reads = int(result["stats"].get("fetches", 1))

    def pct(samples: list[float], q: float) -> float:
        return percentile(samples, q) if samples else float("nan")

    return AppFigures(
        requests=len(result["samples"]), failed=failed, failed_in_window=failed_in_window,
        p50_steady=pct(steady, 50), p99_steady=pct(steady, 99),
        p50_window=pct(rotating, 50), p99_window=pct(rotating, 99),
        calls_per_minute=reads / minutes, reads=reads, errors=result["errors"],
        events=result["events"], stats=result["stats"],
    )  # fmt: skip


def run_combo(emu: Any, servers: Servers, engine: str, strategy: str, opts: Options) -> ComboResult:
    from tests.factories import create_secret, unique_name  # noqa: PLC0415

    combo = ComboResult(engine, strategy)
    try:
        db = servers.database(engine)
    except Exception as exc:  # noqa: BLE001 - any failure: this server is not here
        combo.skipped = f"{engine} is not available ({type(exc).__name__}: {exc})"
        return combo
    try:
        user = "bapp" + os.urandom(4).hex()
        first = "Bench-" + os.urandom(12).hex()
        db.create_login(user, first)
        value = db.value(user, first, db.upstream[1])
        targets: tuple[str, ...] = ("password",)
        params: dict[str, Any] = {}
        if strategy != "single-user":
            value["strategy"] = strategy
        alternating = strategy == "alternating-users"
        if alternating:
            db.track(user + "_clone")
            targets = ("username", "password")
            admin_name, admin_pw = servers.admin_login(engine, db)
            with emu.client() as client:
                admin_id = create_secret(
                    client, value={"username": admin_name, "password": admin_pw}
                ).secret_id
            params["target"] = {"adminSecretId": admin_id}
        action = emu.handler_action(unique_name("rotator"), params, timeout_ms=60_000)
        trigger = emu.add_trigger(unique_name("trigger"), action)
        with emu.client() as client:
            secret_id = create_secret(
                client, value=value, targets=targets, trigger_id=trigger.trigger_id
            ).secret_id
        spec = {"engine": engine, "secret_id": secret_id, "endpoint": emu.endpoint,
                "workers": opts.workers, "connect_rate": opts.connect_rate,
                "query_rate": opts.query_rate, "recycle": opts.recycle}  # fmt: skip
        keys = {"NCLOUD_ACCESS_KEY": emu.access_key, "NCLOUD_SECRET_KEY": emu.secret_key}
        windows: list[tuple[float, float]] = []
        with apps_running(spec, keys) as results, emu.client() as client:
            emu.stats.reset()
            time.sleep(opts.settle)
            for _ in range(opts.rotations):
                began = time.monotonic()
                client.execute_rotation_job(secret_id)
                emu.wait_idle(timeout=120)
                windows.append((began, time.monotonic()))
                last = [a for a in emu.activations if a.secret_id == secret_id][-1]
                if not (last.result or {}).get("ok"):
                    code = ((last.result or {}).get("error") or {}).get("code", last.status)
                    combo.rotations_failed.append(str(code))
                time.sleep(opts.gap)
            time.sleep(opts.settle)
            reads_seen = emu.stats.calls["get_secret_value"]
        combo.rotations = len(windows)
        combo.rotation_p50_s = percentile([b - a for a, b in windows], 50) if windows else 0.0
        for kind in APPS:
            combo.apps[kind] = figures(results[kind], windows)
        # The action reads the chain once per rotation (verify), and the admin's secret
        # once more with alternating users; the rest is the kit's (after its first read).
        action_reads = combo.rotations * (2 if alternating else 1)
        combo.emulator_kit_reads = reads_seen - action_reads
        with emu.client() as client:
            active = client.get_secret_values(secret_id).active
        combo.accepted_at_end = active is not None and bool(
            db.logs_in(active["username"], active["password"])
        )
    finally:
        with contextlib.suppress(Exception):
            db.cleanup()
    return combo


# -- the report -----------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # NaN: no sample in that window


def table(results: Sequence[ComboResult]) -> list[str]:
    head = (f"  {'engine':<11}{'strategy':<19}{'app':<7}{'requests':>9}{'failed':>8}"
            f"{'p50 ms':>8}{'p99 ms':>8}{'p50 rot':>9}{'p99 rot':>9}{'SM/min':>8}")  # fmt: skip
    lines = [head, "  " + "-" * (len(head) - 2)]
    for combo in results:
        if combo.skipped:
            lines.append(f"  {combo.engine:<11}{combo.strategy:<19}skipped: {combo.skipped}")
            continue
        for kind, app in combo.apps.items():
            name = (combo.engine, combo.strategy) if kind == "kit" else ("", "")
            lines.append(
                f"  {name[0]:<11}{name[1]:<19}{kind:<7}{app.requests:>9}{app.failed:>8}"
                f"{ms(app.p50_steady):>8}{ms(app.p99_steady):>8}{ms(app.p50_window):>9}"
                f"{ms(app.p99_window):>9}{app.calls_per_minute:>8.1f}"
            )
    return lines


def details(results: Sequence[ComboResult]) -> list[str]:
    lines = []
    for combo in results:
        if combo.skipped:
            continue
        kit, naive = combo.apps["kit"], combo.apps["naive"]
        lines.append(
            f"  {combo.engine} {combo.strategy}: {combo.rotations} rotations "
            f"(p50 {combo.rotation_p50_s:.2f} s, {len(combo.rotations_failed)} failed"
            f"{': ' + ', '.join(combo.rotations_failed) if combo.rotations_failed else ''}), "
            f"stored active accepted at the end: {'yes' if combo.accepted_at_end else 'NO'}"
        )
        stats = kit.stats
        per_rotation = (int(stats.get("fetches", 1)) - 1) / max(combo.rotations, 1)
        lines.append(note(
            f"kit: {stats.get('fetches')} reads of Secret Manager ({combo.emulator_kit_reads + 1}"
            f" by the emulator's count; {per_rotation:.2f} per rotation after the first read), "
            f"{stats.get('refusals')} refused attempts, "
            f"{stats.get('fallbacks')} requests saved by another stage, {stats.get('gave_up')} "
            f"gave up; log events {dict(sorted(kit.events.items()))}"
        ))  # fmt: skip
        if kit.errors:
            lines.append(note(f"kit errors: {kit.errors}"))
        lines.append(note(
            f"naive: {naive.failed} failed ({naive.failed_in_window} within a rotation "
            f"window), errors {naive.errors or '{}'}"
        ))  # fmt: skip
    return lines


def verdict(results: Sequence[ComboResult]) -> tuple[bool, str]:
    ran = [c for c in results if not c.skipped]
    kit_failed = sum(c.apps["kit"].failed for c in ran)
    bad_rotations = sum(len(c.rotations_failed) for c in ran)
    not_accepted = sum(not c.accepted_at_end for c in ran)
    ok = bool(ran) and kit_failed == 0 and bad_rotations == 0 and not_accepted == 0
    line = (
        f"bench-apps: {len(ran)} engine/strategy runs, {sum(c.rotations for c in ran)} "
        f"rotations, kit {kit_failed} failed requests (goal 0: "
        f"{'meets' if kit_failed == 0 else 'MISSES'}), naive "
        f"{sum(c.apps['naive'].failed for c in ran)} failed requests, {bad_rotations} failed "
        f"rotations, {not_accepted} systems not accepting the stored active value"
    )
    return ok, line


def parse(argv: Sequence[str] | None) -> tuple[Options, str | None]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.apps", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rotations", type=int, default=20, help="rotations per run (20)")
    parser.add_argument("--workers", type=int, default=8, help="threads per application (8)")
    parser.add_argument(
        "--connect-rate",
        type=float,
        default=5.0,
        help="new connections per second per connecting worker (5)",
    )
    parser.add_argument(
        "--query-rate", type=float, default=50.0, help="queries per second per pooled worker (50)"
    )
    parser.add_argument(
        "--recycle",
        type=float,
        default=1.0,
        help="the pool replaces a connection this many seconds old (1)",
    )
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between rotations")
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds of steady load before the first and after the last",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ENGINE[:STRATEGY]",
        help="run these only (repeatable), e.g. redis or postgresql:single-user",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.rotations < 1 or args.workers < 2 or min(args.connect_rate, args.query_rate) <= 0:
        parser.error("--rotations at least 1, --workers at least 2, rates above 0")
    if args.recycle <= 0 or args.gap < 0 or args.settle < 0:
        parser.error("--recycle above 0, --gap and --settle 0 or more")
    combos = COMBOS
    if args.only:
        wanted = [tuple(item.split(":", 1)) for item in args.only]
        combos = tuple(c for c in COMBOS if any(c[: len(w)] == w for w in wanted))
        if not combos:
            known = ", ".join(f"{e}:{s}" for e, s in COMBOS)
            parser.error(f"--only matches nothing; known: {known}")
    opts = Options(args.rotations, args.workers, args.connect_rate, args.query_rate,
                   args.recycle, args.gap, args.settle, combos)  # fmt: skip
    return opts, args.json


def main(argv: Sequence[str] | None = None) -> int:
    opts, json_out = parse(argv)
    os.environ["LOG_LEVEL"] = "WARNING"  # the actions' logs (they run in their own process)
    from emulator import Emulator  # noqa: PLC0415
    from rotation import logs  # noqa: PLC0415

    logs.configure("WARNING")
    print(machine(), flush=True)
    print(
        f"  {opts.workers} threads per application (half new connections at "
        f"{opts.connect_rate:g}/s each, half on a pool recycling at {opts.recycle:g} s, "
        f"{opts.query_rate:g} queries/s each); {opts.rotations} rotations per run, "
        f"{opts.gap:g} s apart; latencies of successful requests", flush=True,
    )  # fmt: skip
    results: list[ComboResult] = []
    servers = Servers()
    try:
        with Emulator() as emu:
            for engine, strategy in opts.combos:
                started = time.monotonic()
                results.append(run_combo(emu, servers, engine, strategy, opts))
                print(f"  ... {engine} {strategy}: {time.monotonic() - started:.0f} s", flush=True)
    finally:
        servers.close()
    print()
    for line in [*table(results), "", *details(results)]:
        print(line)
    ok, line = verdict(results)
    print("\n" + line)
    if json_out:
        from dataclasses import asdict  # noqa: PLC0415

        with open(json_out, "w", encoding="utf-8") as out:
            json.dump([asdict(c) for c in results], out, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
