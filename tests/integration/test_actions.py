"""The emulated runtime runs a trigger's actions the way the action-loop runtime does, faults
included (tests/integration/test_action_runtime.py covers the runtime row by row)."""

from __future__ import annotations

from pathlib import Path

from emulator import Activation, Emulator, ProcessAction
from emulator.actionloop import COMPILE_FAILED, NOT_OBJECT
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
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__"))
    assert activation.status == "application error"
    assert activation.result == {"error": "boom"}
    assert any("RuntimeError" in line for line in activation.stderr)


def test_a_result_neither_object_nor_array_is_a_developer_error(
    emu: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "__main__.py").write_text("def main(args):\n    return 42\n")
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__"))
    assert activation.status == "developer error"
    assert activation.result == {"error": NOT_OBJECT}
    assert emu.runner.container(activation).gone.is_set()  # not reused


def test_timeout_kills_the_action(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("import time\ndef main(args):\n    time.sleep(30)\n")
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__", timeout_ms=500))
    assert activation.status == "timeout"
    assert activation.result == {
        "error": "The action exceeded its time limits of 500 milliseconds."
    }
    assert activation.duration_ms is not None and activation.duration_ms < 5000
    assert emu.runner.container(activation).gone.is_set()  # the container went with it


def test_virtualenv_without_activate_this_is_refused(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("def main(args):\n    return {}\n")
    (tmp_path / "virtualenv" / "bin").mkdir(parents=True)
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__"))
    assert activation.status == "developer error"
    assert activation.result == {"error": COMPILE_FAILED}
    assert any("activate_this.py" in line for line in activation.stderr)


def test_stdout_is_kept_as_activation_logs(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text(
        "def main(args):\n    print('hello from the action')\n    return {'ok': True}\n"
    )
    activation = _run(emu, ProcessAction("a", tmp_path, "__main__"))
    assert activation.result == {"ok": True}
    assert activation.stdout == ["hello from the action"] == activation.logs
