"""The emulator's ``bin/compile``: turn an unzipped action into what the action loop runs.

The proxy runs ``python compiler.py MAIN SRC BIN`` with the runtime's interpreter after
unzipping the action into ``SRC``, at every container's init. Any output, or a non-zero
exit, fails the init (the proxy answers 502 and puts the output in the activation's log),
so this script stays silent unless something is wrong. Written for the emulator from what
the Python runtime's compile step does:

1. **Sources.** A plain-source action arrives as a file named ``exec``: it becomes
   ``__main__.py``. ``__main__.py`` is renamed ``main__.py`` (so an
   ``if __name__ == "__main__"`` block never runs), and the launcher is written beside it
   as ``exec__.py`` with its entry point set to MAIN.
2. **Build.** ``SRC`` replaces ``BIN``; ``BIN/exec`` is a bash script that exports
   ``PYTHONIOENCODING``, checks ``exec.env`` against ``__OW_EXECUTION_ENV``, moves to its
   folder and replaces itself with *this* interpreter on ``exec__.py`` (an absolute path:
   the action's environment has no ``PATH``). ``exec.env`` records ``__OW_EXECUTION_ENV``.
3. **requirements.txt** without ``virtualenv/``: the runtime would build a virtualenv with
   pip at init. The emulator does not install packages; it says so, and the init fails
   (ship the packages in ``virtualenv/``, as ``deploy/package.py`` does).
4. **Check.** With ``virtualenv/`` activated, ``main__`` must be found and must parse; a
   ``virtualenv/`` without ``bin/activate_this.py`` is reported.

Standard library only; run as a file, never imported by the emulator.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import sys
from pathlib import Path

LAUNCHER = Path(__file__).with_name("launcher.py")
ENTRY_LINE = 'FUNCTION = "main"'

EXEC = """#!/bin/bash
# Written by the emulator's compiler: start this action's loop in its own folder.
export PYTHONIOENCODING=UTF-8
built_for="$(cat "$0.env" 2>/dev/null)"
if [ -n "$__OW_EXECUTION_ENV" ] && [ "$built_for" != "$__OW_EXECUTION_ENV" ]; then
  echo "Execution Environment Mismatch: built for '$built_for', run in '$__OW_EXECUTION_ENV'"
  exit 1
fi
cd "$(dirname "$0")" || exit 1
exec {python} exec__.py "$@"
"""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def sources(main: str, src: Path) -> None:
    if (src / "exec").exists():
        (src / "exec").rename(src / "__main__.py")
    if (src / "__main__.py").exists():
        (src / "__main__.py").rename(src / "main__.py")
    launcher = LAUNCHER.read_text(encoding="utf-8")
    if launcher.count(ENTRY_LINE) != 1:
        raise SystemExit(f"the launcher has no single line {ENTRY_LINE!r}")
    (src / "exec__.py").write_text(
        launcher.replace(ENTRY_LINE, f"FUNCTION = {main!r}"), encoding="utf-8"
    )


def build(src: Path, bin_dir: Path) -> None:
    shutil.rmtree(bin_dir, ignore_errors=True)
    shutil.move(str(src), str(bin_dir))
    script = bin_dir / "exec"
    script.write_text(EXEC.replace("{python}", _quote(sys.executable)), encoding="utf-8")
    script.chmod(0o755)
    environment = os.environ.get("__OW_EXECUTION_ENV")
    if environment:
        (bin_dir / "exec.env").write_text(environment, encoding="utf-8")


def requirements(bin_dir: Path) -> None:
    if (bin_dir / "requirements.txt").exists() and not (bin_dir / "virtualenv").is_dir():
        sys.stderr.write(
            "requirements.txt without virtualenv/: the runtime would pip install it at init; "
            "the emulator installs nothing. Ship the packages in virtualenv/.\n"
        )


def check(bin_dir: Path) -> None:
    venv = bin_dir / "virtualenv"
    if venv.is_dir():
        scripts = [venv / "bin" / "activate_this.py", venv / "Scripts" / "activate_this.py"]
        script = next((s for s in scripts if s.exists()), None)
        if script is None:
            sys.stderr.write("Invalid virtualenv. Zip file does not include 'activate_this.py'.\n")
        else:
            code = compile(script.read_text(encoding="utf-8"), str(script), "exec")
            exec(code, {"__file__": str(script)})  # noqa: S102 - the action's own script
    sys.path.append(str(bin_dir))
    spec = importlib.util.find_spec("main__")
    if spec is None or spec.origin is None:
        sys.stderr.write("Zip file does not include __main__.py\n")
        return
    try:
        ast.parse(Path(spec.origin).read_bytes(), spec.origin)
    except SyntaxError as exc:
        sys.stderr.write(f"{exc.msg} ({Path(spec.origin).name}, line {exc.lineno})\n")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: compiler.py MAIN SRC BIN")
        return 1
    main_name, src, bin_dir = argv[0], Path(argv[1]).resolve(), Path(argv[2]).resolve()
    if not main_name.isidentifier():
        print(f"the action's main {main_name!r} is not a Python name")
        return 1
    sources(main_name, src)
    build(src, bin_dir)
    requirements(bin_dir)
    check(bin_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
