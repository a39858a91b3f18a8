"""What every benchmark shares: timing, alternating pairs, and a figure beside its goal."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 58


@dataclass(frozen=True)
class Figure:
    """One measured figure and the goal it is read against (``None``: context only)."""

    label: str
    value: str
    goal: str = ""
    met: bool | None = None

    def line(self) -> str:
        verdict = {True: "meets", False: "MISSES", None: ""}[self.met]
        goal = f"goal {self.goal}" if self.goal else ""
        return f"  {self.label:<{WIDTH}} {self.value:<24} {goal:<14} {verdict}".rstrip()


def note(text: str) -> str:
    return f"    {text}"


def machine() -> str:
    return (
        f"machine: {os.cpu_count()} CPUs (nproc), {platform.machine()} {platform.system()}, "
        f"python {platform.python_version()} ({sys.executable}), load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def alternate(
    first: Callable[[], float], second: Callable[[], float], pairs: int, warmup: int = 1
) -> list[float]:
    """``first() / second()`` for ``pairs`` pairs, the two run one after the other so each
    pair shares the machine's conditions of the moment (a busy shared machine drifts)."""
    for _ in range(warmup):
        first()
        second()
    return [first() / second() for _ in range(pairs)]


def ratio_figure(label: str, ratios: Sequence[float], goal: float) -> list[str]:
    median = statistics.median(ratios)
    lines = [Figure(label, f"{median:.3f} x", f"<= {goal}", median <= goal).line()]
    lines.append(
        note(
            f"median of {len(ratios)} alternating pairs; "
            f"pairs ranged {min(ratios):.3f}..{max(ratios):.3f}"
        )
    )
    return lines


@dataclass(frozen=True)
class ChildRun:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    max_rss_kb: int


def run_child(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path = ROOT) -> ChildRun:
    """Run a process to the end and read its own resource use (``wait4``), not its
    children's or ours: the figures belong to exactly that process."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {proc.returncode}")
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
