"""The action loop: the one process of an emulated container, alive for all its activations.

Written for the emulator from the Python action-loop protocol NCP Cloud Functions runs
actions with (Apache OpenWhisk ``python:3.13``). The emulator's compiler copies this file
into the action folder as ``exec__.py`` with ``FUNCTION`` set to the action's ``main``; the
``exec`` script starts it there with ``python exec__.py`` (no ``-I``, no ``-S``: the
interpreter's own site-packages stay visible, as the runtime image's are). What it does:

1. **virtualenv.** If the action folder holds ``virtualenv/``, its
   ``bin/activate_this.py`` (or ``Scripts/activate_this.py``) is executed, which puts the
   bundled packages on ``sys.path`` *before* the action folder; a ``virtualenv/`` without
   it ends the process with "Invalid virtualenv" on stderr.
2. **Import, once.** ``main__`` (the zip's ``__main__.py``, renamed) is imported and
   ``FUNCTION`` looked up on it; an import error ends the process, so the container's init
   fails. Module-level state lives as long as the process: it is shared by every
   activation this container runs.
3. **Ack.** When ``__OW_WAIT_FOR_ACK`` is set, ``{"ok": true}`` is written to file
   descriptor 3: the proxy's init waits for it.
4. **One stdin line per activation**, ``{"value": {...}, "namespace": ..., ...}``:
   ``value`` is the argument; every other key ``k`` is assigned, as it is, to
   ``os.environ["__OW_" + k.upper()]``. A value that is not a string raises ``TypeError``
   and ends the process (the container dies with it). Nothing is ever removed, so a key
   one activation lacks keeps an earlier activation's value.
5. **Result.** An ``Exception`` from ``main`` becomes ``{"error": str(exception)}`` with
   the traceback on stderr; anything else (``SystemExit``, ``os._exit``) ends the process.
   The result is serialized as it is (object, array or anything JSON can hold: judging it
   is the proxy's job); a result JSON cannot hold ends the process. stdout and stderr are
   flushed, then the result is written to fd 3 as one line, so the proxy's end-of-
   activation marker lands after everything the activation flushed.

The options are for a harness that runs the loop outside a container
(``reliability/action.py``): ``--action-dir`` (default: the current directory),
``--module`` (default ``main__``), ``--function`` and ``--result-fd`` (default 3).

Standard library only: it runs in the action's interpreter, beside the action's code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

#: The action's entry point; the emulator's compiler rewrites this line.
FUNCTION = "main"


def _activate_virtualenv(action_dir: str) -> None:
    venv = os.path.join(action_dir, "virtualenv")
    if not os.path.isdir(venv):
        return
    for folder in ("bin", "Scripts"):
        script = os.path.join(venv, folder, "activate_this.py")
        if os.path.exists(script):
            break
    else:
        sys.stderr.write("Invalid virtualenv. Zip file does not include 'activate_this.py'.\n")
        sys.exit(1)
    try:
        with open(script, encoding="utf-8") as fh:
            code = compile(fh.read(), script, "exec")
        exec(code, {"__file__": script})  # noqa: S102 - the action's own activation script
    except Exception:  # noqa: BLE001 - any failure of the script stops the container
        traceback.print_exc(limit=0)
        sys.exit(1)


def _entry(action_dir: str, module: str, function: str) -> Callable[[Any], Any]:
    if action_dir not in sys.path:
        sys.path.insert(0, action_dir)
    _activate_virtualenv(action_dir)
    entry: Callable[[Any], Any] = getattr(importlib.import_module(module), function)
    return entry


def serve(entry: Callable[[Any], Any], result_fd: int) -> None:
    """Answer activations from stdin until it closes."""
    out = os.fdopen(result_fd, "wb")
    if os.environ.get("__OW_WAIT_FOR_ACK", ""):
        out.write(b'{"ok": true}\n')
        out.flush()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        message = json.loads(line)
        argument: Any = {}
        for key, value in message.items():
            if key == "value":
                argument = value
            else:
                os.environ["__OW_" + key.upper()] = value  # a non-string raises: by design
        try:
            result = entry(argument)
        except Exception as exc:  # noqa: BLE001 - the runtime turns any exception into this
            traceback.print_exc()
            result = {"error": str(exc)}
        data = json.dumps(result, ensure_ascii=False).encode("utf-8")
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(data + b"\n")
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--action-dir", default=None)
    parser.add_argument("--module", default="main__")
    parser.add_argument("--function", default=FUNCTION)
    parser.add_argument("--result-fd", type=int, default=3)
    opts = parser.parse_args()
    if opts.action_dir is not None:
        os.chdir(opts.action_dir)
    action_dir = os.path.abspath(".")
    serve(_entry(action_dir, opts.module, opts.function), opts.result_fd)


if __name__ == "__main__":
    main()
