"""Cold start: ``import handler`` loads what every invocation needs and nothing more.

Each check runs in a fresh interpreter (``sys.modules`` of this test process holds
everything the other tests imported). What must stay out at start: the database drivers
(only their target kind needs them), the retry library (only a retry needs it), the other
API clients, the CLI and the emulator. How long the import takes is measured by
``make bench``, never asserted here: a timing test fails on a busy machine, not on a
regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Loaded on demand only, each with the reason it can wait.
LATER = {
    "stamina": "the retry library: imported on the first retry",
    "tenacity": "under stamina",
    "pymysql": "the mysql/mariadb targets' driver",
    "pg8000": "the postgresql target's driver",
    "scramp": "the postgresql target's SCRAM verifier",
    "redis": "the redis target's driver",
    "rotation.targets.mysql": "a target kind: imported when a secret uses it",
    "rotation.targets.postgresql": "a target kind",
    "rotation.targets.redis": "a target kind",
    "rotation.targets.webhook": "a target kind",
    "rotation.targets.clouddb": "a target kind",
    "rotation.targets.database": "shared by the database target kinds only",
    "rotation.ncp.clouddb": "the Cloud DB client: only the clouddb targets need it",
    "rotation.ncp.cloudfunctions": "the Cloud Functions client: deploy only",
    "rotation.ncp.admin_models": "answers of the operator's calls (lists, logs, triggers)",
    "rotation.cli": "the operator's command line",
    "emulator": "never deployed",
}


def _modules_after(code: str) -> set[str]:
    probe = f"import json, sys; {code}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _top(name: str) -> str:
    return name if name.startswith("rotation.") else name.split(".", maxsplit=1)[0]


def test_import_handler_leaves_drivers_retries_and_other_clients_for_later() -> None:
    loaded = _modules_after("import handler")
    assert "handler" in loaded and "rotation.workflow" in loaded  # the probe did run
    early = sorted({_top(m) for m in loaded} & set(LATER))
    assert early == [], "imported at start: " + "; ".join(f"{m} ({LATER[m]})" for m in early)


def test_the_retry_library_arrives_with_the_first_retry() -> None:
    """A retried call still works, and it is what brings stamina in."""
    code = (
        "from emulator import Emulator; from rotation.ncp.transport import RetryPolicy; "
        "emu = Emulator().start(); "
        "before = 'stamina' in sys.modules; "
        "client = emu.client(retry=RetryPolicy(attempts=2, wait_initial=0.01, wait_jitter=0)); "
        "client.list_triggers(); clean = 'stamina' in sys.modules; "
        "emu.faults.add('get_trigger_list', status=503); client.list_triggers(); "
        "print(json.dumps([before, clean, 'stamina' in sys.modules, "
        "emu.stats.calls['get_trigger_list']])); client.close(); emu.stop()"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import json, sys; {code}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    before, clean, after, calls = json.loads(done.stdout.strip().splitlines()[-1])
    assert (before, clean, after) == (False, False, True)
    assert calls == 3  # one clean call, then one failed and one retried


def _probe(code: str) -> list[object]:
    done = subprocess.run(
        [sys.executable, "-c", f"import gc, json, sys; {code}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    answer: list[object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_the_handlers_modules_load_with_the_collector_paused_then_frozen() -> None:
    """What a cold start of the handler skips: a collection of objects that live as long as
    the process. The collector is running again afterwards, and every object then alive is
    frozen (a warm container's collections never scan them); no garbage was left behind."""
    code = (
        "import requests, structlog; seen = []; "
        "gc.callbacks.append(lambda phase, info: phase == 'start' and seen.append("
        "[info['generation'], len(sys.modules)])); "
        "floor = len(sys.modules); import handler; gc.callbacks.clear(); "
        "during = [s for s in seen if s[1] > floor]; "
        "print(json.dumps([during, gc.isenabled(), gc.get_freeze_count() > 10000, "
        "gc.collect()]))"
    )
    during, enabled, frozen, garbage = _probe(code)
    assert during == []  # no collection started while the handler's modules loaded
    assert (enabled, frozen, garbage) == (True, True, 0)


def test_a_collector_paused_by_the_host_stays_paused() -> None:
    code = "gc.disable(); import handler; print(json.dumps([gc.isenabled()]))"
    assert _probe(code) == [False]
