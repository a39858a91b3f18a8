"""Which Python runs the emulator's actions: the runtime's (``python:3.13``) when installed.

NCP Cloud Functions runs a Python action on the ``python:3.13`` runtime, whatever the
emulator itself runs on; an action tested on another version can import, parse or behave
differently there. So the emulator looks for a 3.13 interpreter, in this order:

1. ``EMULATOR_RUNTIME_PYTHON`` (a path or a command), used as given: it must answer, or
   the emulator refuses to start actions (a wrong override is an error, not a fallback).
2. ``python3.13`` on ``PATH``, if it answers (a pyenv shim answers only when 3.13 is
   selected, so a shim that does not is skipped).
3. ``$(pyenv root)/versions/3.13*/bin/python3.13`` (``PYENV_ROOT``, else ``pyenv root``,
   else ``~/.pyenv``), the newest first.
4. Otherwise the emulator's own interpreter, with a warning. When the emulator runs in a
   virtual environment its *base* installation is used: a runtime image has no venv, and
   the test environment's packages must not be importable by an action that forgot to
   bundle them.

The interpreter's real path is recorded (``sys.executable`` as it reports it), so the
action's ``exec`` script can start it without ``PATH``, which the action's environment
does not have.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RUNTIME = (3, 13)
OVERRIDE = "EMULATOR_RUNTIME_PYTHON"
_PROBE = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
_PROBE_TIMEOUT_S = 30

log = logging.getLogger("emulator.runtime")


class RuntimePythonError(Exception):
    """``EMULATOR_RUNTIME_PYTHON`` names no working interpreter."""


@dataclass(frozen=True)
class RuntimePython:
    """An interpreter the emulator starts actions with."""

    path: str
    version: str
    #: How it was found: ``EMULATOR_RUNTIME_PYTHON``, ``PATH``, ``pyenv``, ``given`` or
    #: ``fallback``.
    source: str

    @property
    def fallback(self) -> bool:
        return self.source == "fallback"

    @property
    def is_runtime(self) -> bool:
        """The runtime's own major.minor (3.13)."""
        return tuple(int(p) for p in self.version.split(".")[:2]) == RUNTIME

    def describe(self) -> str:
        """One line for logs, the activation record and the startup message."""
        text = f"python {self.version} ({self.path}, {self.source})"
        if not self.is_runtime:
            wanted = ".".join(map(str, RUNTIME))
            text += f"; not the runtime's {wanted}: install Python {wanted} or set {OVERRIDE}"
        return text


def probe(command: str) -> tuple[str, str] | None:
    """``(real path, version)`` of the interpreter ``command``, or ``None`` if it does not
    answer (missing, not executable, a pyenv shim for a version not selected)."""
    try:
        done = subprocess.run(  # noqa: S603 - a Python interpreter asked for its version
            [command, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or not re.fullmatch(r"\d+\.\d+\.\d+", lines[1]):
        return None
    return lines[0], lines[1]


def _pyenv_root(environ: dict[str, str]) -> Path:
    if environ.get("PYENV_ROOT"):
        return Path(environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv", path=environ.get("PATH"))
    if pyenv is not None:
        try:
            done = subprocess.run(  # noqa: S603 - pyenv, found on PATH
                [pyenv, "root"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    return Path.home() / ".pyenv"


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"versions/(\d+)\.(\d+)\.?(\d*)", path)
    return tuple(int(p or 0) for p in match.groups()) if match else ()


def _own_base() -> str:
    """The emulator's interpreter, outside any virtual environment it runs in."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return str(base)


def find(environ: dict[str, str]) -> RuntimePython:
    """Look the runtime's Python up in ``environ`` (see the module docstring)."""
    name = ".".join(map(str, RUNTIME))
    override = environ.get(OVERRIDE, "").strip()
    if override:
        found = probe(override)
        if found is None:
            raise RuntimePythonError(
                f"{OVERRIDE}={override!r} does not run a Python interpreter; fix it or unset it"
            )
        return RuntimePython(*found, source=OVERRIDE)
    on_path = shutil.which(f"python{name}", path=environ.get("PATH"))
    if on_path is not None:
        found = probe(on_path)
        if found is not None:
            return RuntimePython(*found, source="PATH")
    pattern = str(_pyenv_root(environ) / "versions" / f"{name}*" / "bin" / f"python{name}")
    for candidate in sorted(glob.glob(pattern), key=_version_key, reverse=True):
        found = probe(candidate)
        if found is not None:
            return RuntimePython(*found, source="pyenv")
    found = probe(_own_base())
    if found is None:  # the base is gone (a venv outliving its Python): this one, then
        found = (sys.executable, ".".join(map(str, sys.version_info[:3])))
    return RuntimePython(*found, source="fallback")


@functools.lru_cache(maxsize=8)
def _cached(override: str, path: str, pyenv_root: str) -> RuntimePython:
    environ = {OVERRIDE: override, "PATH": path, "PYENV_ROOT": pyenv_root}
    runtime = find({k: v for k, v in environ.items() if v})
    if runtime.fallback:
        log.warning("no Python %s found: actions run on %s", RUNTIME, runtime.describe())
    else:
        log.info("actions run on %s", runtime.describe())
    return runtime


def runtime_python() -> RuntimePython:
    """The interpreter for actions, looked up once per environment (cached)."""
    env = os.environ
    return _cached(env.get(OVERRIDE, ""), env.get("PATH", ""), env.get("PYENV_ROOT", ""))


@functools.lru_cache(maxsize=32)
def given_python(command: str) -> RuntimePython:
    """An interpreter an action names itself (``ProcessAction.python``)."""
    found = probe(command)
    if found is None:
        raise RuntimePythonError(f"the action's python {command!r} does not run")
    return RuntimePython(*found, source="given")
