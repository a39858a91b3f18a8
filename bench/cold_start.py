"""Cold start as deployed: a fresh runtime interpreter's ``import handler`` from the zip.

The runtime is Python 3.13 (:mod:`deploy.runtime_python` finds it; without it, this
interpreter stands in and the section says so). Both zips ``make package`` can build are
extracted and timed the way a new container imports the action: ``-I -S`` (nothing of the
machine's site-packages), the zip's ``virtualenv/bin/activate_this.py`` executed first,
the standard library's own bytecode cached (as in the runtime's image), the zip's
bytecode exactly as shipped, and ``-B`` so that a run never leaves bytecode for the next.
Each child ends with ``os._exit(0)`` right after the import: a container never tears its
interpreter down between activations, so neither is the teardown timed.

* **deployed**: ``import handler`` from the zip with bytecode (what ``make package``
  deploys when 3.13 is on the machine) over the same import from the zip without
  (sources only: every module compiled at import). Goal: at most 0.55.
* **cached**: ``import handler`` over the dependency floor ``import requests, structlog``,
  both from the zip with bytecode. Every action process pays the floor; the ratio is what
  the action's own modules add. Goal: at most 1.08.

Ratios come from alternating pairs (median); the p50 wall times and the child's own CPU
time (``wait4``, steadier on a shared machine) are printed beside them.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import ChildRun, Figure, alternate, note, ratio_figure, run_child
from deploy import runtime_python
from deploy.package import build_package
from deploy.runtime_python import RuntimePython

DEPLOYED_GOAL = 0.55
CACHED_GOAL = 1.08
OURS = "import handler"
FLOOR = "import requests, structlog"
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

_ACTIVATE = (
    "import os, sys; sys.path.insert(0, '.'); p = './virtualenv/bin/activate_this.py'; "
    "exec(compile(open(p).read(), p, 'exec'), {'__file__': p}); "
)


def child(python: str, statement: str) -> list[str]:
    """The command timing ``statement`` in a fresh interpreter, as the runtime starts one."""
    return [python, "-I", "-S", "-B", "-c", _ACTIVATE + statement + "; os._exit(0)"]


def _runtime() -> tuple[RuntimePython, str]:
    search = runtime_python.find()
    if search.found is not None:
        return search.found, f"runtime: {search.reason}"
    major, minor = sys.version_info[:2]
    stand_in = RuntimePython(sys.executable, (major, minor))
    return stand_in, f"NOT the runtime: {search.reason}; measured on {major}.{minor} instead"


def extracted_zips(tmp: Path, python: RuntimePython) -> tuple[Path, Path]:
    """``(with bytecode, without)``: both zips built and extracted under ``tmp``."""
    dirs = []
    for name, compiler in (("bytecode", python), ("sources", None)):
        built = build_package(out=tmp / f"{name}.zip", python=compiler)
        target = tmp / name
        with zipfile.ZipFile(built.path) as archive:
            archive.extractall(target)
        dirs.append(target)
    return dirs[0], dirs[1]


def _paired(
    a: tuple[Sequence[str], Path], b: tuple[Sequence[str], Path], pairs: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    """``(wall ratios, CPU ratios, a's ms, b's ms)`` over alternating runs of a and b."""
    runs: dict[int, list[ChildRun]] = {0: [], 1: []}

    def timed(index: int, command: tuple[Sequence[str], Path]) -> float:
        run = run_child(command[0], env=_ENV, cwd=command[1])
        runs[index].append(run)
        return run.wall

    wall = alternate(lambda: timed(0, a), lambda: timed(1, b), pairs)
    first, second = runs[0][1:], runs[1][1:]  # the warm-up pair is left out
    cpu = [x.cpu / y.cpu for x, y in zip(first, second, strict=True)]
    return wall, cpu, [x.wall * 1000 for x in first], [y.wall * 1000 for y in second]


def _figure(
    label: str, goal: float | None, a: tuple[Sequence[str], Path],
    b: tuple[Sequence[str], Path], pairs: int, names: tuple[str, str],
) -> list[str]:  # fmt: skip
    """``a / b`` from alternating pairs, beside ``goal`` (``None``: context only)."""
    wall, cpu, ms_a, ms_b = _paired(a, b, pairs)
    if goal is None:
        lines = [
            Figure(label, f"{statistics.median(wall):.3f} x").line(),
            note(f"median of {len(wall)} alternating pairs (context, no goal)"),
        ]
    else:
        lines = ratio_figure(label, wall, goal)
    lines.append(
        note(
            f"p50 {names[0]} {statistics.median(ms_a):.0f} ms, {names[1]} "
            f"{statistics.median(ms_b):.0f} ms (wall); CPU-time ratio "
            f"{statistics.median(cpu):.3f} x"
        )
    )
    return lines


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _self_times(command: Sequence[str], cwd: Path) -> dict[str, int]:
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        cwd=cwd, env=_ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:  # a module can be listed twice (a package's submodule): both count
            found[match.group(4)] = found.get(match.group(4), 0) + int(match.group(1))
    return found


def importtime_top(python: str, cwd: Path, runs: int = 5, top: int = 10) -> list[str]:
    """What ``import handler`` loads beyond the floor, by self time (median of runs)."""
    floor = set(_self_times(child(python, FLOOR), cwd))
    samples: dict[str, list[int]] = {}
    for _ in range(runs):
        for name, us in _self_times(child(python, OURS), cwd).items():
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
    python, which = _runtime()
    lines = [note(which)]
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        compiled, sources = extracted_zips(Path(tmp), python)
        exe = python.executable
        lines += _figure(
            f"deployed cold start ({python.tag}): bytecode / sources zip",
            DEPLOYED_GOAL,
            (child(exe, OURS), compiled),
            (child(exe, OURS), sources),
            pairs,
            ("with", "without"),
        )
        lines += _figure(
            "cold start, bytecode cached: import handler / floor",
            CACHED_GOAL,
            (child(exe, OURS), compiled),
            (child(exe, FLOOR), compiled),
            pairs,
            ("handler", "floor"),
        )
        lines += _figure(
            "cold start, zip without bytecode: import handler / floor",
            None,
            (child(exe, OURS), sources),
            (child(exe, FLOOR), sources),
            max(9, pairs // 2),
            ("handler", "floor"),
        )
        lines += importtime_top(exe, compiled)
    return lines
