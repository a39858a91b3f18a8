"""The zip (size, files, a reproducible SHA-256) and the peak memory of one activation.

Memory is read the way the runtime's limit applies to it: the resident peak
(``ru_maxrss``) of the action process, run by the emulator's action-loop runtime from the
extracted zip exactly as a deployed action is (its ``virtualenv/``, result on fd 3). The
activation runs under a helper process whose only children are the container's processes
(its compile step and the action), so ``RUSAGE_CHILDREN`` there, read once the emulator
has stopped and reaped them, is that process's peak, not the benchmark's. The action runs
on the runtime's Python 3.13 when it is on the machine (:mod:`deploy.runtime_python`; the
zip then carries its bytecode), else on this one. Goal: at most 64 MB, so that the
smallest memory setting (128 MB) is safe."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import ROOT, Figure, note
from deploy import runtime_python
from deploy.package import ZIP_LIMIT_BYTES, build_package

MEMORY_GOAL_MB = 64

# Runs in a helper process: argv[1] is the extracted zip, argv[2] the target kind, argv[3]
# the project, argv[4] the Python that runs the action.
_ONE_ACTIVATION = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[3])
from emulator import Emulator, ProcessAction
from bench import targets
from tests.factories import create_secret

kind_name = sys.argv[2]
make = {"store-only": targets.store_only, "mariadb": targets.mariadb}[kind_name]
with make() as kind, Emulator() as emu:
    if kind.skipped:
        print(json.dumps({"skipped": kind.skipped}))
        sys.exit(0)
    params = emu.action_params({"target": kind.target} if kind.target else {})
    action = ProcessAction(name="rotator", action_dir=sys.argv[1], module="__main__",
                           params=params, python=sys.argv[4])
    trigger = emu.add_trigger("bench", action)
    with emu.client() as client:
        sid = create_secret(client, value=dict(kind.value), targets=kind.targets,
                            trigger_id=trigger.trigger_id).secret_id
        client.execute_rotation_job(sid)
    [activation] = emu.wait_idle(timeout=120)
    ok = bool(activation.result and activation.result.get("ok"))
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the warm process, reaped
print(json.dumps({"ok": ok, "peak_kb": peak_kb, "ms": activation.duration_ms}))
"""


def _activation_peak(action_dir: Path, kind: str, python: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _ONE_ACTIVATION, str(action_dir), kind, str(ROOT), python],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run() -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-zip-") as tmp:
        started = time.perf_counter()
        first = build_package(out=Path(tmp) / "a.zip")
        took = time.perf_counter() - started
        second = build_package(out=Path(tmp) / "b.zip")
        mb = first.size / 1_048_576
        lines.append(
            Figure(
                "zip size",
                f"{mb:.2f} MB",
                f"<= {ZIP_LIMIT_BYTES // 1_048_576} MB",
                first.size <= ZIP_LIMIT_BYTES,
            ).line()
        )
        lines.append(Figure("zip files", f"{first.files}").line())
        same = first.sha256 == second.sha256
        lines.append(
            Figure(
                "zip reproducible (two builds, same SHA-256)", "yes" if same else "NO", "same", same
            ).line()
        )
        lines.append(note(f"sha256 {first.sha256}; built in {took:.1f} s"))
        lines.append(note(first.bytecode_note if first.bytecode is None else (
            f"bytecode {first.bytecode}: {first.bytecode_note}")))  # fmt: skip
        action_dir = Path(tmp) / "action"
        with zipfile.ZipFile(first.path) as archive:
            archive.extractall(action_dir)
        found_python = runtime_python.find().found
        python = sys.executable if found_python is None else found_python.executable
        for kind in ("store-only", "mariadb"):
            found = _activation_peak(action_dir, kind, python)
            if "skipped" in found:
                lines.append(Figure(f"peak memory of one {kind} activation", "skipped").line())
                lines.append(note(str(found["skipped"])))
                continue
            peak_mb = int(str(found["peak_kb"])) / 1024
            lines.append(
                Figure(
                    f"peak memory of one {kind} activation",
                    f"{peak_mb:.1f} MB",
                    f"<= {MEMORY_GOAL_MB} MB",
                    peak_mb <= MEMORY_GOAL_MB and bool(found["ok"]),
                ).line()
            )
        lines.append(note(f"ru_maxrss of the action process, run from the zip by {python}"))
    return lines
