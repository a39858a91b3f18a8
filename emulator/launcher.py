"""A stand-in for the OpenWhisk Python launcher that NCP Cloud Functions runs an action with.

Run as a *file* in a fresh interpreter (``python -I launcher.py --action-dir DIR``), never
imported: like the real launcher it must not see the project on ``sys.path``, only the
action's own directory and, when the action ships one, its ``virtualenv/``.

What it copies from the runtime, because actions break on exactly these points:

* ``virtualenv/`` without ``virtualenv/bin/activate_this.py`` is refused; with it, the file
  is executed to put the bundled packages on ``sys.path``.
* The action module is ``__main__.py`` loaded under another name (``main__``), so its
  ``if __name__ == "__main__"`` block does not run; ``main`` is looked up on it.
* Each stdin line is one activation: ``{"value": params, "activation_id": ..., ...}``.
  Every key other than ``value`` becomes the environment variable ``__OW_`` + KEY upper-
  cased; ``value`` is the argument of ``main``.
* ``main``'s result must be a dict; it is written as one JSON line to the result file
  descriptor (3 by default). An exception becomes ``{"error": str(exception)}``, which is
  why the rotation handler never lets one escape.

Only the standard library may be used here.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import traceback
from types import ModuleType


def _activate(action_dir: str) -> None:
    venv = os.path.join(action_dir, "virtualenv")
    if not os.path.isdir(venv):
        return
    activate = os.path.join(venv, "bin", "activate_this.py")
    if not os.path.isfile(activate):
        sys.stderr.write("Invalid virtualenv. Zip file does not include 'activate_this.py'.\n")
        sys.exit(1)
    with open(activate, encoding="utf-8") as fh:
        code = compile(fh.read(), activate, "exec")
    exec(code, {"__file__": activate, "__name__": "__activate__"})  # noqa: S102


def _load(action_dir: str, module: str) -> ModuleType:
    sys.path.insert(0, action_dir)
    if module != "__main__":
        return importlib.import_module(module)
    path = os.path.join(action_dir, "__main__.py")
    spec = importlib.util.spec_from_file_location("main__", path)
    if spec is None or spec.loader is None:
        sys.stderr.write(f"cannot load {path}\n")
        sys.exit(1)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--action-dir", required=True)
    parser.add_argument("--module", default="__main__")
    parser.add_argument("--function", default="main")
    parser.add_argument("--result-fd", type=int, default=3)
    opts = parser.parse_args()
    action_dir = os.path.abspath(opts.action_dir)
    os.chdir(action_dir)
    _activate(action_dir)
    entry = getattr(_load(action_dir, opts.module), opts.function)
    out = os.fdopen(opts.result_fd, "wb")
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        payload = {}
        for key, value in message.items():
            if key == "value":
                payload = value
            else:
                os.environ["__OW_" + key.upper()] = (
                    value if isinstance(value, str) else json.dumps(value)
                )
        try:
            result = entry(payload)
        except Exception as exc:  # noqa: BLE001 - the runtime reports any exception this way
            traceback.print_exc()
            result = {"error": str(exc)}
        if not isinstance(result, dict):
            result = {"error": "The action did not return a dictionary."}
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(json.dumps(result, ensure_ascii=False).encode("utf-8") + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
