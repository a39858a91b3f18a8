"""``make bench-apps`` in its quick mode: the load proof's machinery, end to end, on Redis.

Two rotations of a single-user Redis secret under eight threads per application: the
application on the kit fails no request, the one that read its password once fails (the
control: it shows the run can fail). The bench runs in its own process, as ``make`` runs
it, so its log configuration and emulator stay out of this test session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_the_kit_fails_no_request_and_the_naive_app_does(
    tmp_path: Path, leak_guard: LeakGuard
) -> None:
    figures = tmp_path / "figures.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.apps", "--rotations", "2", "--only", "redis:single-user",
         "--settle", "1", "--gap", "0.2", "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    leak_guard.observe("bench-apps stdout", run.stdout)
    leak_guard.observe("bench-apps stderr", run.stderr)
    if "skipped: redis is not available" in run.stdout:
        return  # no Redis here: tests/databases.py reports it for the other Redis tests
    assert run.returncode == 0, run.stdout + run.stderr
    [combo] = json.loads(figures.read_text())
    assert combo["rotations"] == 2 and combo["rotations_failed"] == []
    kit, naive = combo["apps"]["kit"], combo["apps"]["naive"]
    assert kit["requests"] > 100 and kit["failed"] == 0
    assert kit["stats"]["fallbacks"] >= 2  # the refused logins were saved, not absent
    assert naive["failed"] > 0
    assert combo["accepted_at_end"]
    assert "kit 0 failed requests (goal 0: meets)" in run.stdout
