"""``python -m reliability``: run the fault matrix and print what it found.

    python -m reliability                      # every scenario; the summary line last
    python -m reliability -k kill/mariadb -v   # only names containing the text, with stories
    python -m reliability --list               # the scenario names (runs the calibrations)
    python -m reliability explore ...          # seeded fault schedules, in process
                                               # (reliability/explore/cli.py)

The calibration runs (the plain rotation per target kind, and each failure path alone)
come first, one at a time: the other scenarios are placed on the calls they record. The
rest run ``--jobs`` at a time (each has its own emulator, proxy and users; most of a
scenario is waiting on backoffs and deadlines). The report lists them in a fixed order.

Exit 0 when every count is zero, 1 when any is not, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from reliability.checks import HARNESS, ScenarioResult
from reliability.harness import Scenario, Servers, execute
from reliability.matrix import calibration_scenarios, scenarios
from reliability.report import summary_line, table


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reliability",
        description="Run the rotation's fault matrix.",
        epilog="Exit 0 when every count is zero, 1 when any is not, 2 on bad usage.",
    )
    parser.add_argument(
        "-k",
        dest="only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only scenarios whose name contains TEXT (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="print the scenario names")
    parser.add_argument("--seed", type=int, default=9, help="seed of the harness's choices")
    parser.add_argument("--jobs", type=int, default=4, help="scenarios run at once (default 4)")
    parser.add_argument("-v", "--verbose", action="store_true", help="each scenario's story")
    opts = parser.parse_args(argv)
    if not 1 <= opts.jobs <= 16:
        parser.error("--jobs must be 1 to 16")
    return opts


def wanted(name: str, only: list[str]) -> bool:
    return not only or any(text in name for text in only)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["explore"]:
        from reliability.explore.cli import main as explore  # noqa: PLC0415 - its own command

        return explore(args[1:])
    opts = parse(args)
    # The harness's own client calls (set up, operator retries) need not chatter.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    servers = Servers()
    started = time.monotonic()
    results: list[ScenarioResult] = []

    def run(scenario: Scenario) -> ScenarioResult:
        result = execute(scenario, servers, opts.seed, keep_emulator=False)
        progress(result, verbose=opts.verbose)
        return result

    try:
        calibrated = {}
        for scenario in calibration_scenarios():
            calibrated[scenario.name] = result = execute(
                scenario, servers, opts.seed, keep_emulator=False
            )
            if not opts.list and wanted(scenario.name, opts.only):
                progress(result, verbose=opts.verbose)
                results.append(result)
        matrix = scenarios(calibrated)
        if opts.list:
            for scenario in (*calibration_scenarios(), *matrix):
                print(scenario.name)
            return 0
        chosen = [s for s in matrix if wanted(s.name, opts.only)]
        with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
            results += pool.map(run, chosen)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    finally:
        servers.close()
    if not opts.verbose:
        print(file=sys.stderr)
    if not results:
        print("reliability: no scenario matched", file=sys.stderr)
        return 2
    print(f"{len(results)} scenarios in {time.monotonic() - started:.0f} s", file=sys.stderr)
    report = table(results) + summary_line(results)
    secrets = {s for r in results for s in r.secrets if len(s) >= 8}
    if any(s in report for s in secrets):
        print("reliability: the report would show a secret value; not printed", file=sys.stderr)
        return 1
    print(report, end="")
    return 0 if all(r.ok for r in results) else 1


def progress(result: ScenarioResult, *, verbose: bool) -> None:
    if verbose:
        mark = "ok" if result.ok else "FAIL " + ",".join(sorted(result.problems))
        lines = [f"{result.duration_s:5.1f}s {mark:<14} {result.name}"]
        lines += [f"{'':21}{line}" for line in result.story]
        print("\n".join(lines), file=sys.stderr, flush=True)
        return
    mark = "." if result.ok else ("E" if HARNESS in result.problems else "F")
    print(mark, end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
