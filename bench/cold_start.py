"""Cold start: a fresh interpreter's ``import handler`` beside ``import requests, structlog``.

The reference is the dependency floor: the two libraries the action cannot run without (HTTP
and structured logs). Every action process pays both; what ``import handler`` adds on top is
ours. Two conditions, each command run in its own fresh process, alternately:

* bytecode cached (``.pyc`` present for everything, in a private ``PYTHONPYCACHEPREFIX``):
  what a warm container, the emulator's actions and the tests see;
* no bytecode at all (every module compiled at import): what the deployed zip sees, since
  it ships sources only and each new container starts from them.

Wall time is the figure; the child's own CPU time (``wait4``) is shown beside it because it
is steadier on a shared machine.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, ChildRun, Figure, alternate, note, ratio_figure, run_child

GOAL = 1.08
OURS = "import handler"
FLOOR = "import requests, structlog"


def _env(cache: Path, *, write: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pairs(code_a: str, code_b: str, env: dict[str, str], pairs: int) -> tuple[list[float], ...]:
    runs: dict[str, list[ChildRun]] = {code_a: [], code_b: []}

    def timed(code: str) -> float:
        run = run_child([sys.executable, "-c", code], env=env)
        runs[code].append(run)
        return run.wall

    wall = alternate(lambda: timed(code_a), lambda: timed(code_b), pairs)
    a, b = runs[code_a][1:], runs[code_b][1:]  # the warm-up pair is left out
    cpu = [x.cpu / y.cpu for x, y in zip(a, b, strict=True)]
    ms_a = [x.wall * 1000 for x in a]
    ms_b = [y.wall * 1000 for y in b]
    return wall, cpu, ms_a, ms_b


def _condition(name: str, env: dict[str, str], pairs: int) -> list[str]:
    wall, cpu, ms_a, ms_b = _pairs(OURS, FLOOR, env, pairs)
    lines = ratio_figure(f"cold start, {name}: import handler / floor", wall, GOAL)
    lines.append(
        note(
            f"p50 {statistics.median(ms_a):.0f} ms vs {statistics.median(ms_b):.0f} ms "
            f"(wall); CPU-time ratio {statistics.median(cpu):.3f} x"
        )
    )
    return lines


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _self_times(code: str, env: dict[str, str]) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            found[match.group(4)] = int(match.group(1))
    return found


def importtime_top(env: dict[str, str], runs: int = 5, top: int = 10) -> list[str]:
    """What ``import handler`` loads beyond the floor, by self time (median of runs)."""
    floor = set(_self_times(FLOOR, env))
    samples: dict[str, list[int]] = {}
    for _ in range(runs):
        for name, us in _self_times(OURS, env).items():
            if name not in floor:
                samples.setdefault(name, []).append(us)
    medians = {name: statistics.median(v) for name, v in samples.items()}
    total = sum(medians.values()) / 1000
    lines = [
        Figure(
            "  beyond the floor: modules / self time",
            f"{len(medians)} modules, {total:.1f} ms",
        ).line()
    ]
    for name, us in sorted(medians.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(note(f"{us / 1000:6.2f} ms  {name}"))
    return lines


def run(pairs: int = 15) -> list[str]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-pyc-") as warm,
        tempfile.TemporaryDirectory(prefix="bench-nopyc-") as empty,
    ):
        cached = _env(Path(warm), write=True)
        lines = _condition("bytecode cached", cached, pairs)
        lines += _condition("no bytecode (as the zip)", _env(Path(empty), write=False), 9)
        lines += importtime_top(cached)
    return lines
