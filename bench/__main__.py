"""``python -m bench`` (``make bench``): every figure beside its goal, in a few minutes.
``python -m bench --fleet`` (``make bench-fleet``): a fleet of secrets due at once.

Figures are for reading, never asserted in tests: a timing fails on a busy machine, not
on a regression. Ratios come from alternating pairs (the two commands run one after the
other, median of the pairs), so a machine that slows down mid-run slows both sides.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench import calls, cold_start, common, fleet, footprint, overhead, worst_case
from rotation import logs


def figures(pairs: int) -> int:
    print(common.machine(), flush=True)
    sections = (
        ("cold start (fresh process; reference: import requests, structlog)",
         lambda: cold_start.run(pairs)),
        ("API calls and connections per rotation (counted by the emulator)", calls.run),
        ("requests per invocation under a persistent fault, beside the retry budget's bound",
         worst_case.run),
        ("rotation overhead (reference: the same number of bare signed calls)",
         lambda: overhead.run(max(pairs, 9))),
        ("footprint: the zip and one activation's memory", footprint.run),
    )  # fmt: skip
    for title, section in sections:
        started = time.monotonic()
        print(f"\n[{title}]", flush=True)
        for line in section():
            print(line, flush=True)
        print(common.note(f"({time.monotonic() - started:.0f} s)"), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", action="store_true", help="run the fleet benchmark instead")
    parser.add_argument("--secrets", type=int, default=1000, help="fleet: store-only secrets")
    parser.add_argument("--concurrency", type=int, default=50, help="fleet: actions at once")
    parser.add_argument("--mariadb", type=int, default=50, help="fleet: MariaDB users (0: none)")
    parser.add_argument("--seed", type=int, default=12, help="fleet: the faults' seed")
    parser.add_argument("--pairs", type=int, default=15, help="alternating pairs per ratio")
    opts = parser.parse_args(argv)
    if opts.secrets < 1 or opts.concurrency < 1 or opts.mariadb < 0 or opts.pairs < 9:
        parser.error("--secrets and --concurrency at least 1, --mariadb at least 0, --pairs 9+")
    os.environ["LOG_LEVEL"] = "WARNING"  # handler.main reads it on every invocation
    logs.configure("WARNING")
    if opts.fleet:
        return fleet.run(opts.secrets, opts.concurrency, opts.mariadb, opts.seed)
    return figures(opts.pairs)


if __name__ == "__main__":
    sys.exit(main())
