"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    name: str
    runs: int
    p50_ms: float
    p95_ms: float
    mean_ms: float

    def line(self) -> str:
        return (
            f"{self.name:<44} n={self.runs:<5} p50={self.p50_ms:8.3f} ms  "
            f"p95={self.p95_ms:8.3f} ms  mean={self.mean_ms:8.3f} ms"
        )


def measure(name: str, fn: Callable[[], object], runs: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return Timing(
        name=name,
        runs=runs,
        p50_ms=statistics.median(samples),
        p95_ms=samples[min(len(samples) - 1, int(len(samples) * 0.95))],
        mean_ms=statistics.fmean(samples),
    )
