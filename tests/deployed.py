"""Actions deployed the documented way: Put Action, a Secret Manager trigger, Link Action.

The emulator's Cloud Functions API then runs them when Secret Manager raises a job, keeps
their activations (result and log lines) and answers Post Action and the activation calls,
which is what the CLI reads to say why a job failed and uses for ``resume --remote``.

The zip holds a two-line shim instead of the packaged dependencies (building the real
package is ``tests/e2e/test_package.py``'s business): it puts this checkout and the test
interpreter's site-packages on ``sys.path`` and runs ``source`` (by default this project's
``handler.main``), in a fresh interpreter, the way the emulator runs any deployed action.
"""

from __future__ import annotations

import base64
import io
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

from emulator import Emulator
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from tests.factories import unique_name

ROOT = Path(__file__).resolve().parents[1]
PATHS = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
HANDLER = "from handler import main  # noqa: F401\n"


def _zip(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__main__.py", f"import sys\nsys.path[:0] = {PATHS!r}\n{source}")
    return base64.b64encode(buffer.getvalue()).decode()


def deploy(
    emu: Emulator,
    params: dict[str, Any] | None = None,
    *,
    source: str = HANDLER,
    timeout_ms: int = 60_000,
) -> tuple[str, str]:
    """Deploy ``source`` as an action with the emulator's endpoint and keys (and
    ``params``) as its default parameters, on a Secret Manager trigger of its own.
    Returns ``(Secret Manager trigger id, action name)``."""
    action, trigger = unique_name("act"), unique_name("trg")
    body = {
        "description": "rotation action under test",
        "parameters": emu.action_params(params),
        "limits": {"timeout": timeout_ms, "memory": 256},
        "exec": {"kind": "python:3.13", "binary": True, "main": "main", "code": _zip(source)},
        "vpc": [{"vpcNo": 1, "subnetNo": 2}],
    }
    with CloudFunctionsClient(emu.credentials, endpoint=emu.cloud_functions_endpoint) as cf:
        cf.put_action("-", action, body)
        cf.put_trigger(trigger, {"secretManagerLink": []}, kind="secret_manager")
        cf.link_action(trigger, "-", action)
    record = emu.backend.trigger_by_name(trigger)
    assert record is not None
    return record.trigger_id, action
