"""The emulator runs actions the way NCP's Python runtime (OpenWhisk's action loop,
``python:3.13``) does: one test (or a few) per row of what the runtime does.

| row | the runtime |
|---|---|
| process | one process per container, kept warm for the next activations |
| environment | built from scratch: ``__OW_*`` and ``PYTHONIOENCODING`` |
| activation fields | every field a string, set as ``__OW_<KEY>`` and never unset |
| init | unzip, compile (any output fails the init), import at /init |
| sys.path | the zip's ``virtualenv`` before the action folder; site-packages visible |
| results | an object or an array; anything that kills the process kills the container |
| logs | stdout and stderr apart, cut per activation by the end marker |
| deadline | counted from the /run, after the init |
| Python | the runtime's (3.13) when installed |

Each test writes a tiny action of its own and waits on events (sockets, the container's
``gone`` event), never on sleeps.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.package import ACTIVATE_THIS_PY
from emulator import Activation, Emulator, ProcessAction
from emulator.actionloop import COMMAND_EXITED, COMPILE_FAILED, NOT_OBJECT, SENTINEL, START_FAILED
from emulator.runtime_python import (
    OVERRIDE,
    RuntimePythonError,
    find,
    probe,
    runtime_python,
)

WAIT_S = 60.0  # a cold start on a busy machine; every wait ends on an event before this


def folder_action(tmp_path: Path, source: str, name: str = "a", **kwargs: Any) -> ProcessAction:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__main__.py").write_text(source, encoding="utf-8")
    return ProcessAction(name, folder, "__main__", **kwargs)


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def invoke(
    emu: Emulator, action: ProcessAction, params: dict[str, Any] | None = None, **fields: Any
) -> Activation:
    if emu.runner.actions.get(action.name) is not action:
        emu.runner.register(action)
    return emu.runner.invoke(action, params or {}, fields)


def gone(emu: Emulator, activation: Activation) -> bool:
    return emu.runner.container(activation).gone.wait(WAIT_S)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(WAIT_S)
        yield server


def port(server: socket.socket) -> int:
    return int(server.getsockname()[1])


# -- process: one process per container, kept for every activation -------------------------

STATEFUL = """
import os, socket, sys
COUNT = 0
CONN = None

def main(args):
    global COUNT, CONN
    COUNT += 1
    had_fractions = "fractions" in sys.modules
    if COUNT == 1:
        import fractions  # imported by the first activation only
        CONN = socket.create_connection(("127.0.0.1", args["port"]))
    CONN.sendall(b"%d" % COUNT)  # the socket the first activation opened
    return {"count": COUNT, "pid": os.getpid(), "had_fractions": had_fractions,
            "mark": os.environ.get("__OW_MARK")}
"""


def test_a_warm_container_keeps_state_env_imports_and_sockets(
    emu: Emulator, tmp_path: Path, listener: socket.socket
) -> None:
    action = folder_action(tmp_path, STATEFUL)
    first = invoke(emu, action, {"port": port(listener)}, mark="from the first")
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(WAIT_S)
        assert conn.recv(1) == b"1"
        second = invoke(emu, action)  # no mark field this time
        assert conn.recv(1) == b"2"  # same connection, still open
    assert (first.status, second.status) == ("success", "success"), second.logs
    assert first.cold and not second.cold and first.container == second.container
    assert first.init_ms is not None and second.init_ms is None
    assert (first.result["count"], second.result["count"]) == (1, 2)
    assert first.result["pid"] == second.result["pid"]
    assert (first.result["had_fractions"], second.result["had_fractions"]) == (False, True)
    assert second.result["mark"] == "from the first"  # __OW_MARK is never unset


BLOCKING = """
import os, socket

def main(args):
    with socket.create_connection(("127.0.0.1", args["port"])) as conn:
        conn.settimeout(60)
        conn.recv(1)
    return {"pid": os.getpid()}
"""


def test_a_busy_container_is_not_shared_a_new_one_starts(
    emu: Emulator, tmp_path: Path, listener: socket.socket
) -> None:
    action = folder_action(tmp_path, BLOCKING)
    emu.runner.register(action)
    done: list[Activation] = []
    threads = [
        threading.Thread(target=lambda: done.append(invoke(emu, action, {"port": port(listener)})))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    held = [listener.accept()[0] for _ in threads]  # both run at once
    for conn in held:
        with conn:
            conn.sendall(b"go")
    for thread in threads:
        thread.join(WAIT_S)
    assert [a.status for a in done] == ["success", "success"], [a.logs for a in done]
    assert all(a.cold for a in done)
    assert done[0].container != done[1].container
    assert done[0].result["pid"] != done[1].result["pid"]
    again = threading.Thread(
        target=lambda: done.append(invoke(emu, action, {"port": port(listener)}))
    )
    again.start()
    with listener.accept()[0] as conn:
        conn.sendall(b"go")
    again.join(WAIT_S)
    assert not done[2].cold and done[2].container in {done[0].container, done[1].container}


def test_an_idle_container_is_discarded_after_the_idle_time(tmp_path: Path) -> None:
    with Emulator(container_idle_s=0.2) as emu:
        action = folder_action(tmp_path, "def main(args):\n    return {}\n")
        first = invoke(emu, action)
        assert gone(emu, first), "an idle container outlived its idle time"
        second = invoke(emu, action)
    assert first.status == second.status == "success"
    assert second.cold and second.container != first.container


def test_a_new_version_of_an_action_gets_new_containers(emu: Emulator, tmp_path: Path) -> None:
    old = folder_action(tmp_path, "def main(args):\n    return {'v': 1}\n", name="old")
    old.name = "act"
    first = invoke(emu, old)
    new = folder_action(tmp_path, "def main(args):\n    return {'v': 2}\n", name="new")
    new.name = "act"
    second = invoke(emu, new)
    assert (first.result, second.result) == ({"v": 1}, {"v": 2})
    assert second.cold and gone(emu, first)


# -- environment: built from scratch -------------------------------------------------------

ENVIRON = "import os\ndef main(args):\n    return dict(os.environ)\n"
#: Set by the runtime's ``exec`` script itself (bash: PWD, OLDPWD, SHLVL) and by Python
#: (LC_CTYPE: its C-locale coercion, as no LANG is set): not passed by the proxy.
SHELL_AND_PYTHON = {"PWD", "OLDPWD", "SHLVL", "LC_CTYPE"}


def test_the_environment_holds_only_the_runtime_s_variables(emu: Emulator, tmp_path: Path) -> None:
    assert {"PATH", "HOME"} <= set(os.environ), "the emulator's own environment has them"
    activation = invoke(emu, folder_action(tmp_path, ENVIRON, name="envy"))
    env = activation.result
    assert activation.status == "success", activation.logs
    assert not {"PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV"} & set(env)
    assert env["PYTHONIOENCODING"] == "UTF-8"
    others = {k for k in env if not k.startswith("__OW_")} - {"PYTHONIOENCODING"}
    assert others <= SHELL_AND_PYTHON, others
    assert env["__OW_NAMESPACE"] == "ncp"
    assert env["__OW_ACTION_NAME"] == "/ncp/envy"
    assert env["__OW_ACTION_VERSION"] == "0.0.1"
    assert env["__OW_ACTIVATION_ID"] == activation.activation_id
    assert env["__OW_TRANSACTION_ID"] and env["__OW_API_KEY"] and env["__OW_DEADLINE"]
    assert env["__OW_API_HOST"] == emu.base_url


# -- activation fields: every one a string, or the launcher dies ---------------------------


def test_a_field_that_is_not_a_string_kills_the_container(emu: Emulator, tmp_path: Path) -> None:
    action = folder_action(tmp_path, "def main(args):\n    return {'ran': True}\n")
    broken = invoke(emu, action, attempt=1)
    assert broken.status == "developer error"
    assert broken.result == {"error": COMMAND_EXITED}
    assert any("TypeError" in line for line in broken.stderr), broken.stderr
    assert gone(emu, broken)
    after = invoke(emu, action, attempt="1")
    assert after.status == "success" and after.result == {"ran": True}
    assert after.cold and after.container != broken.container


# -- init: unzip, compile, import at /init -------------------------------------------------

ZIPPED = """
import os
print("imported at init")

def main(args):
    return {"files": sorted(os.listdir(".")), "module": __name__}

if __name__ == "__main__":
    print("the __main__ block ran")
"""


def test_the_init_unzips_compiles_and_imports_the_action(emu: Emulator) -> None:
    action = ProcessAction("zipped", module="__main__", code=zipped({"__main__.py": ZIPPED}))
    activation = invoke(emu, action)
    assert activation.status == "success", activation.logs
    files = activation.result["files"]
    assert {"main__.py", "exec__.py", "exec", "exec.env"} <= set(files)
    assert "__main__.py" not in files
    assert activation.result["module"] == "main__"
    assert activation.stdout == ["imported at init"]  # the init's output, not the block's


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"__main__.py": "def main(args) return {}\n"}, "(main__.py, line 1)"),
        (
            {"__main__.py": "def main(args):\n    return {}\n", "requirements.txt": "requests\n"},
            "requirements.txt",
        ),
        ({"helper.py": "x = 1\n"}, "does not include __main__.py"),
    ],
    ids=["syntax-error", "requirements-without-virtualenv", "no-main"],
)
def test_any_output_of_the_compile_step_fails_the_init(
    emu: Emulator, files: dict[str, str], reason: str
) -> None:
    activation = invoke(emu, ProcessAction("c", module="__main__", code=zipped(files)))
    assert activation.status == "developer error"
    assert activation.result == {"error": COMPILE_FAILED}
    assert any(reason in line for line in activation.stderr), activation.stderr
    assert SENTINEL not in "".join(activation.logs)
    assert gone(emu, activation)


def test_an_import_error_fails_the_init(emu: Emulator, tmp_path: Path) -> None:
    source = "raise ImportError('no such thing at import')\ndef main(args):\n    return {}\n"
    activation = invoke(emu, folder_action(tmp_path, source))
    assert activation.status == "developer error"
    assert activation.result == {"error": START_FAILED}
    assert any("no such thing at import" in line for line in activation.stderr)
    assert "Command exited abruptly during initialization." in activation.stderr
    assert gone(emu, activation)


# -- sys.path: virtualenv first, the image's site-packages visible -------------------------

PATHS = """
import os, sys, sysconfig
import vpkg

def main(args):
    return {"path": sys.path, "here": os.getcwd(), "vpkg": vpkg.__file__,
            "site": sysconfig.get_paths()["purelib"],
            "isolated": sys.flags.isolated, "no_site": sys.flags.no_site}
"""


def test_the_virtualenv_comes_before_the_action_folder(emu: Emulator) -> None:
    site = "virtualenv/lib/python3.13/site-packages"
    code = zipped({
        "__main__.py": PATHS,
        "virtualenv/bin/activate_this.py": ACTIVATE_THIS_PY,
        f"{site}/vpkg.py": "",
    })  # fmt: skip
    activation = invoke(emu, ProcessAction("paths", module="__main__", code=code))
    assert activation.status == "success", activation.logs
    seen = activation.result
    path = [str(Path(p).resolve()) for p in seen["path"]]
    venv = str((Path(seen["here"]) / site).resolve())
    assert Path(seen["vpkg"]).resolve().is_relative_to(venv)
    assert path.index(venv) < path.index(str(Path(seen["here"]).resolve()))
    assert seen["site"] in seen["path"]  # the interpreter's own site-packages
    assert (seen["isolated"], seen["no_site"]) == (0, 0)


# -- results: an object or an array; a dead process is a dead container --------------------

BEHAVIOURS = """
import os, sys

def main(args):
    how = args.get("how")
    if how == "array":
        return [1, "two"]
    if how == "raise":
        raise ValueError("a handled kind of failure")
    if how == "unserializable":
        return {"when": object()}
    if how == "exit":
        sys.exit(3)
    if how == "os-exit":
        os._exit(0)
    if how == "number":
        return 42
    return {"pid": os.getpid()}
"""


def test_an_array_or_an_error_result_keeps_the_container(emu: Emulator, tmp_path: Path) -> None:
    action = folder_action(tmp_path, BEHAVIOURS)
    array = invoke(emu, action, {"how": "array"})
    failed = invoke(emu, action, {"how": "raise"})
    fine = invoke(emu, action)
    assert (array.status, array.result) == ("success", [1, "two"])
    assert (failed.status, failed.result) == (
        "application error", {"error": "a handled kind of failure"},
    )  # fmt: skip
    assert fine.status == "success"
    assert array.container == failed.container == fine.container
    assert not failed.cold and not fine.cold


@pytest.mark.parametrize(
    ("how", "error", "trace"),
    [
        ("unserializable", COMMAND_EXITED, "not JSON serializable"),
        ("exit", COMMAND_EXITED, None),
        ("os-exit", COMMAND_EXITED, None),
        ("number", NOT_OBJECT, None),
    ],
)
def test_a_result_that_kills_the_process_or_is_no_object_ends_the_container(
    emu: Emulator, tmp_path: Path, how: str, error: str, trace: str | None
) -> None:
    action = folder_action(tmp_path, BEHAVIOURS)
    bad = invoke(emu, action, {"how": how})
    assert bad.status == "developer error"
    assert bad.result == {"error": error}
    if trace is not None:
        assert any(trace in line for line in bad.stderr), bad.stderr
    assert gone(emu, bad)
    after = invoke(emu, action)
    assert after.status == "success" and after.cold and after.container != bad.container


# -- logs: stdout and stderr apart, cut per activation -------------------------------------

PRINTS = """
import sys
N = 0

def main(args):
    global N
    N += 1
    print(f"out-{N}")
    print(f"err-{N}", file=sys.stderr)
    return {}
"""


def test_stdout_and_stderr_are_kept_apart_per_activation(emu: Emulator, tmp_path: Path) -> None:
    action = folder_action(tmp_path, PRINTS)
    first, second = invoke(emu, action), invoke(emu, action)
    assert (first.stdout, first.stderr) == (["out-1"], ["err-1"])
    assert (second.stdout, second.stderr) == (["out-2"], ["err-2"])
    assert sorted(second.logs) == ["err-2", "out-2"]
    assert first.container == second.container


LATE = """
import socket, sys, threading

def late(port):
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(60)
        conn.recv(1)  # the test says when: after this activation has answered
        print("late line", flush=True)
        conn.sendall(b"k")

def main(args):
    if "port" in args:
        threading.Thread(target=late, args=(args["port"],), daemon=True).start()
    print("on time")
    return {}
"""


def test_output_after_the_answer_lands_in_the_next_activation(
    emu: Emulator, tmp_path: Path, listener: socket.socket
) -> None:
    action = folder_action(tmp_path, LATE)
    first = invoke(emu, action, {"port": port(listener)})
    assert first.stdout == ["on time"]
    with listener.accept()[0] as conn:
        conn.settimeout(WAIT_S)
        conn.sendall(b"g")
        assert conn.recv(1) == b"k"  # printed and flushed, between the two activations
    second = invoke(emu, action)
    assert second.stdout == ["late line", "on time"]
    assert "late line" not in first.logs


# -- deadline: counted from the run, after the init ----------------------------------------

DEADLINE = """
import os, time
INIT_DEADLINE = int(os.environ["__OW_DEADLINE"])
IMPORTED_MS = int(time.time() * 1000)

def main(args):
    return {"deadline": int(os.environ["__OW_DEADLINE"]), "init_deadline": INIT_DEADLINE,
            "imported_ms": IMPORTED_MS, "main_ms": int(time.time() * 1000)}
"""


def test_the_deadline_is_counted_from_the_run_after_the_init(emu: Emulator, tmp_path: Path) -> None:
    timeout_ms = 20_000
    activation = invoke(emu, folder_action(tmp_path, DEADLINE, timeout_ms=timeout_ms))
    seen = activation.result
    assert activation.status == "success", activation.logs
    run_started = seen["deadline"] - timeout_ms
    # after the import ended (1 ms for the rounding of both clocks), before main ran
    assert seen["imported_ms"] - 1 <= run_started <= seen["main_ms"] + 1
    assert seen["init_deadline"] < seen["deadline"]  # the init had a deadline of its own
    assert run_started > activation.started_ms


# -- Python: the runtime's -----------------------------------------------------------------

VERSION = "import sys\ndef main(args):\n    return {'version': '%d.%d.%d' % sys.version_info[:3]}\n"


def test_actions_run_on_the_runtime_python(emu: Emulator, tmp_path: Path) -> None:
    runtime = runtime_python()
    activation = invoke(emu, folder_action(tmp_path, VERSION))
    assert activation.result == {"version": runtime.version}
    assert activation.runtime == runtime.describe()
    assert runtime.is_runtime or runtime.fallback, "a lookup that found a Python must find 3.13"
    if runtime.is_runtime:
        assert runtime.version.startswith("3.13.")


def _fake_python(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_the_runtime_python_is_looked_up_in_order(tmp_path: Path) -> None:
    real = sys.executable
    found = probe(real)
    assert found is not None
    empty = tmp_path / "empty"
    empty.mkdir()
    # 1. the override, as given, and a broken one is an error
    assert find({OVERRIDE: real}).path == found[0]
    with pytest.raises(RuntimePythonError, match=OVERRIDE):
        find({OVERRIDE: str(tmp_path / "no-python")})
    # 2. python3.13 on PATH only if it answers (an unselected pyenv shim does not)
    shim = _fake_python(tmp_path / "shims" / "python3.13", "exit 127")
    pyenv = tmp_path / "pyenv"
    _fake_python(pyenv / "versions" / "3.13.1" / "bin" / "python3.13", f'exec "{real}" "$@"')
    chosen = find({"PATH": str(shim.parent), "PYENV_ROOT": str(pyenv)})
    assert (chosen.source, chosen.path) == ("pyenv", found[0])
    _fake_python(tmp_path / "ok" / "python3.13", f'exec "{real}" "$@"')
    assert find({"PATH": str(tmp_path / "ok"), "PYENV_ROOT": str(pyenv)}).source == "PATH"
    # 4. nothing found: the emulator's own interpreter, outside its virtual environment
    fallback = find({"PATH": str(empty), "PYENV_ROOT": str(empty)})
    base = probe(getattr(sys, "_base_executable", sys.executable))
    assert fallback.fallback and base is not None and fallback.path == base[0]
    # never the venv's interpreter (whose packages would leak into the action)
    assert fallback.path != sys.executable or sys.prefix == sys.base_prefix
    if not fallback.is_runtime:
        assert "install Python 3.13" in fallback.describe()
