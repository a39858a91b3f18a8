"""``python -m reliability explore``: run seeded fault schedules and say what broke.

    python -m reliability explore --schedules 10000       # seeds 1..10000, summary last
    python -m reliability explore --seed 393 -v           # one schedule, its whole story
    python -m reliability explore --first 5001 --schedules 100 --jobs 1
    python -m reliability explore --real --schedules 200   # on the machine's MariaDB

``--real`` runs the same schedules with a single-user account on the machine's MariaDB
as the target (``reliability/explore/real.py``), a few hundred milliseconds each.
Schedules run ``--jobs`` processes at a time (default: one per core, at most 2), each
process a block of seeds in turn. Exit 0 when every count is zero, 1 when any is not,
2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from reliability.explore.real import available
from reliability.explore.report import Finding, failing, summary_line
from reliability.explore.run import run_schedule

#: Seeds per task handed to a worker process.
BLOCK = 250
MAX_SCHEDULES = 1_000_000


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reliability explore",
        description="Run seeded fault schedules against the rotation, in process.",
        epilog="Exit 0 when every count is zero, 1 when any is not, 2 on bad usage.",
    )
    parser.add_argument("--seed", type=int, help="run this one schedule")
    parser.add_argument(
        "--schedules", type=int, default=1000, help="how many schedules (default 1000)"
    )
    parser.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)"
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="the target is a single-user account on the machine's MariaDB (127.0.0.1:3306)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="each schedule's story")
    opts = parser.parse_args(argv)
    if opts.seed is not None and opts.seed < 0:
        parser.error("--seed must be 0 or more")
    if not 1 <= opts.schedules <= MAX_SCHEDULES:
        parser.error(f"--schedules must be 1 to {MAX_SCHEDULES:,}")
    if opts.first < 0:
        parser.error("--first must be 0 or more")
    if not 1 <= opts.jobs <= 16:
        parser.error("--jobs must be 1 to 16")
    return opts


def run_block(
    first: int, last: int, verbose: bool = False, real: bool = False
) -> tuple[int, list[Finding]]:
    """Seeds ``first..last``: how many ran, and the failing ones."""
    findings = []
    for seed in range(first, last + 1):
        result = run_schedule(seed, real=real)
        if verbose:
            mark = "ok" if result.ok else "FAIL " + ",".join(sorted(result.problems))
            print(f"seed {seed}: {mark}", file=sys.stderr, flush=True)
            if not result.ok:
                print("\n".join(f"    {line}" for line in result.describe()), file=sys.stderr)
        if result.problems:
            findings.append(Finding(seed, result.problems))
    return last - first + 1, findings


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse(argv)
    if opts.real:
        missing = available()
        if missing is not None:
            print(f"explorer: --real needs MariaDB: {missing}", file=sys.stderr)
            return 2
    if opts.seed is not None:
        result = run_schedule(opts.seed, real=opts.real)
        if opts.verbose or result.problems:
            print("\n".join(result.describe()))
        findings = [Finding(opts.seed, result.problems)] if result.problems else []
        print(summary_line(1, findings, opts.seed, opts.seed))
        return 0 if result.ok else 1
    first, last = opts.first, opts.first + opts.schedules - 1
    started = time.monotonic()
    blocks = [(s, min(s + BLOCK - 1, last)) for s in range(first, last + 1, BLOCK)]
    total, findings = 0, []
    try:
        if opts.jobs == 1 or len(blocks) == 1:
            for a, b in blocks:
                ran, found = run_block(a, b, opts.verbose, opts.real)
                total, findings = total + ran, findings + found
        else:
            with ProcessPoolExecutor(max_workers=opts.jobs) as pool:
                futures = [pool.submit(run_block, a, b, opts.verbose, opts.real) for a, b in blocks]
                for future in futures:
                    ran, found = future.result()
                    total, findings = total + ran, findings + found
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"{total} schedules in {elapsed:.0f} s", file=sys.stderr)
    for line in failing(findings, real=opts.real):
        print(line)
    print(summary_line(total, findings, first, last))
    return 1 if any(f.failed for f in findings) else 0
