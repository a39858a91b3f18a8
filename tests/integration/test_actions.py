"""The emulated runtime starts actions the way OpenWhisk does, faults included."""

from __future__ import annotations

import sys
from pathlib import Path

from emulator import Activation, Emulator, ProcessAction
from tests.factories import create_secret


def _run(emu: Emulator, action: ProcessAction) -> Activation:
    with emu.client() as client:
        trigger = emu.add_trigger("t", action)
        secret = create_secret(client, trigger_id=trigger.trigger_id)
        client.execute_rotation_job(secret.secret_id)
        [activation] = emu.wait_idle()
    return activation


def test_exception_becomes_an_error_result(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("def main(args):\n    raise RuntimeError('boom')\n")
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__", python=sys.executable))
    assert activation.status == "application error"
    assert activation.result == {"error": "boom"}
    assert any("RuntimeError" in line for line in activation.logs)


def test_a_non_dict_result_is_refused(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("def main(args):\n    return 42\n")
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__", python=sys.executable))
    assert activation.result == {"error": "The action did not return a dictionary."}


def test_timeout_kills_the_action(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("import time\ndef main(args):\n    time.sleep(30)\n")
    activation = _run(
        emu, ProcessAction("a", tmp_path, "__main__", python=sys.executable, timeout_ms=500)
    )
    assert activation.status == "timeout"
    assert activation.duration_ms < 5000


def test_virtualenv_without_activate_this_is_refused(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("def main(args):\n    return {}\n")
    (tmp_path / "virtualenv" / "bin").mkdir(parents=True)
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__", python=sys.executable))
    assert activation.status == "developer error"
    assert any("activate_this.py" in line for line in activation.logs)


def test_stdout_is_kept_as_activation_logs(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text(
        "def main(args):\n    print('hello from the action')\n    return {'ok': True}\n"
    )
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__", python=sys.executable))
    assert activation.result == {"ok": True}
    assert "hello from the action" in activation.logs
