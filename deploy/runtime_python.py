"""Find the interpreter of the Cloud Functions runtime (``python:3.13``) on this machine.

The zip is built for that runtime: its bytecode is compiled by that interpreter, and
``make test`` and ``make bench`` run the zip on it. The project's own venv may be another
version, so the runtime's interpreter is looked for, in this order:

1. ``ROTATOR_RUNTIME_PYTHON``: a path or command name, when set (it must then answer as
   3.13, or the finder says why it was refused);
2. ``python3.13`` on ``PATH``;
3. ``$(pyenv root)/versions/3.13*/bin/python3.13`` (``PYENV_ROOT``, else ``pyenv root``,
   else ``~/.pyenv``).

Every candidate is *run* (``-c`` printing its version), not just found: pyenv's shim for
``python3.13`` is on ``PATH`` but exits 127 unless that version is selected, so a name
that exists proves nothing. Standard library only: the tests, the bench and the packager
share it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

RUNTIME_VERSION = (3, 13)
ENV_OVERRIDE = "ROTATOR_RUNTIME_PYTHON"
_PROBE = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"
_PROBE_TIMEOUT_S = 20


@dataclass(frozen=True)
class RuntimePython:
    """An interpreter that answered as the runtime's version."""

    executable: str
    version: tuple[int, int]

    @property
    def tag(self) -> str:
        """The bytecode tag this interpreter reads and writes (``cpython-313``)."""
        return f"cpython-{self.version[0]}{self.version[1]}"


@dataclass(frozen=True)
class Search:
    """The finder's answer: the interpreter, or ``None`` and why (every place looked).

    ``absent`` tells a machine without the runtime's Python (nothing configured, no pyenv
    install of it, no ``python3.13`` on ``PATH`` that runs) from one where it is there but
    broken or misconfigured: CI skips the runtime's tests only in the first case."""

    found: RuntimePython | None
    reason: str
    absent: bool = False


def version_text(version: tuple[int, int] = RUNTIME_VERSION) -> str:
    return f"{version[0]}.{version[1]}"


def probe(command: str, timeout: float = _PROBE_TIMEOUT_S) -> RuntimePython | str:
    """Run ``command`` and read its version: the interpreter, or why it did not answer."""
    try:
        done = subprocess.run(  # noqa: S603 - a Python interpreter, fixed arguments
            [command, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{command}: did not run ({type(exc).__name__})"
    lines = done.stdout.splitlines()
    major, _, minor = (lines[0] if lines else "").partition(".")
    if done.returncode != 0 or len(lines) != 2 or not (major + minor).isdigit():
        return f"{command}: exited {done.returncode} without a version"
    return RuntimePython(executable=lines[1], version=(int(major), int(minor)))


def _pyenv_root(env: Mapping[str, str]) -> Path | None:
    if env.get("PYENV_ROOT"):
        return Path(env["PYENV_ROOT"])
    pyenv = shutil.which("pyenv", path=env.get("PATH"))
    if pyenv is not None:
        try:
            done = subprocess.run(  # noqa: S603 - pyenv's own command, fixed arguments
                [pyenv, "root"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    home = Path.home() / ".pyenv"
    return home if home.is_dir() else None


def candidates(
    env: Mapping[str, str], version: tuple[int, int] = RUNTIME_VERSION
) -> Iterator[tuple[str, str]]:
    """``(kind, command)`` to try, most specific first: ``override`` alone when it is set,
    else ``path`` (``python3.13`` on ``PATH``, maybe a shim) and ``pyenv`` installs."""
    override = env.get(ENV_OVERRIDE)
    if override:
        yield "override", override
        return
    name = f"python{version_text(version)}"
    on_path = shutil.which(name, path=env.get("PATH"))
    if on_path is not None:
        yield "path", on_path
    root = _pyenv_root(env)
    if root is not None:
        pattern = f"{version_text(version)}*/bin/{name}"
        for found in sorted((root / "versions").glob(pattern), reverse=True):
            yield "pyenv", str(found)


def find(
    env: Mapping[str, str] | None = None, version: tuple[int, int] = RUNTIME_VERSION
) -> Search:
    """The runtime's interpreter, or ``None`` with every place looked and what each said."""
    env = os.environ if env is None else env
    tried: list[str] = []
    installed = False  # something that should have been the runtime's Python is there
    for kind, command in dict.fromkeys(candidates(env, version)):
        answer = probe(command)
        if isinstance(answer, RuntimePython):
            if answer.version == version:
                return Search(answer, f"Python {version_text(version)} at {answer.executable}")
            answer = f"{command}: is Python {version_text(answer.version)}"
            installed = True
        installed = installed or kind != "path"  # a PATH shim that does not run is no install
        tried.append(answer)
    looked = "; ".join(tried) if tried else "no candidate exists"
    where = (
        f"{ENV_OVERRIDE}={env[ENV_OVERRIDE]}"
        if env.get(ENV_OVERRIDE)
        else f"python{version_text(version)} on PATH and $(pyenv root)/versions"
    )
    return Search(
        None,
        f"Python {version_text(version)} (the Cloud Functions runtime) not found: looked at "
        f"{where} ({looked}); install it (e.g. pyenv install {version_text(version)}) or "
        f"set {ENV_OVERRIDE} to its path",
        absent=not installed,
    )


__all__ = ["ENV_OVERRIDE", "RUNTIME_VERSION", "RuntimePython", "Search", "find", "probe"]
