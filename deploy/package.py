"""Build the Cloud Functions zip: ``python -m deploy.package [--out PATH]`` (``make package``).

The zip is what NCP Cloud Functions (Apache OpenWhisk underneath, runtime ``python:3.13``)
runs, laid out the way the OpenWhisk Python launcher expects it::

    __main__.py                                 generated: re-exports handler.main, and
                                                watch (rotation.watch.action.main)
    handler.py, rotation/**/*.py                the function itself, sources only
    virtualenv/bin/activate_this.py             generated: puts site-packages on sys.path
    virtualenv/lib/python3.13/site-packages/    requirements.txt, installed as pure wheels

Why it is built this way:

* **The launcher's virtualenv rule.** The runtime loads ``__main__.py`` of the zip (under the
  module name ``main__``, so the ``if __name__ == "__main__"`` idiom does not apply) and
  calls its ``main``. Third-party packages are only found when the zip carries a
  ``virtualenv/`` directory, and the launcher refuses a ``virtualenv/`` that lacks
  ``virtualenv/bin/activate_this.py``: it executes that file, and nothing else, to put the
  bundled packages on ``sys.path``. A real virtualenv is tied to the interpreter it was
  created with, so this builder writes its own small, standard-library-only
  ``activate_this.py`` that finds ``lib/python*/site-packages`` next to itself.
* **Pure-Python wheels only** (``--only-binary=:all: --platform any --implementation py
  --abi none``). A compiled dependency is built for one CPython version and one platform;
  when the provider upgrades the runtime it stops importing and every rotation fails,
  which is a top complaint about AWS's rotation functions and their bundled database
  drivers. With ``py3-none-any`` wheels only, the same zip runs on any CPython 3 runtime
  and on the interpreter the tests use, and a dependency that ships no pure wheel fails
  the build here rather than the rotation in production.
* **Reproducible.** The same commit builds a byte-identical zip (sorted entries, fixed
  timestamps, permissions and compression, no extra fields, pinned requirements), so the
  SHA-256 printed here identifies what is deployed and a deployed zip can be traced back
  to the commit that produced it by rebuilding it.
* **Bytecode for the runtime's version.** A new container imports the action from its
  sources, and compiling them is most of a cold start (the runtime compiles nothing ahead:
  its builder only renames ``__main__.py`` to ``main__.py``). So when the runtime's
  interpreter (3.13, :mod:`deploy.runtime_python`) is on this machine, it compiles every
  importable ``.py`` of the zip, the action and its dependencies, into
  ``__pycache__/NAME.cpython-313.pyc`` beside it, as *unchecked-hash* pycs: the import uses
  them without comparing them with the source's mtime (which the zip does not keep) or
  hash, and two builds of the same tree give the same bytes (``PYTHONHASHSEED=0``, the
  zip-relative name as the file name recorded in them). The sources stay: another
  interpreter ignores a ``cpython-313`` pyc and compiles the source, so a runtime upgrade
  costs cold-start time, never a failure. Without 3.13 the zip is built without bytecode
  and the command says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy import runtime_python
from deploy.runtime_python import RuntimePython

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ZIP_LIMIT_BYTES = 38 * 1024 * 1024  # Cloud Functions codeSize limit
RUNTIME_PYTHON = runtime_python.version_text()  # "3.13"

DEFAULT_OUT = Path("dist") / "rotation-action.zip"
SITE_PACKAGES = f"virtualenv/lib/python{RUNTIME_PYTHON}/site-packages"
ACTIVATE_THIS = "virtualenv/bin/activate_this.py"

_MB = 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip header can hold
_FILE_MODE = (stat.S_IFREG | 0o644) << 16
_CREATE_SYSTEM_UNIX = 3
_COMPRESS_LEVEL = 9
_PIP_TIMEOUT_S = 600
_COMPILE_TIMEOUT_S = 600
#: Executed, never imported: a pyc of it would never be read. ``__main__.py`` is renamed
#: ``main__.py`` by the runtime's builder, so a pyc under its own name would not be either.
_NOT_COMPILED = frozenset({"__main__.py", ACTIVATE_THIS})

#: Run by the runtime's interpreter: compile each listed file (zip-relative names, one a
#: line on stdin) under the tree in argv[1], recording the zip-relative name as its file.
_COMPILE_PY = '''\
import importlib.util, os, py_compile, sys
root = sys.argv[1]
for name in sys.stdin.read().splitlines():
    source = os.path.join(root, name)
    py_compile.compile(
        source, cfile=importlib.util.cache_from_source(source), dfile=name, doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
'''

MAIN_PY = '''\
"""Entry point of the deployed actions: the Cloud Functions runtime calls ``main`` here.

The OpenWhisk Python launcher loads an action zip's ``__main__.py`` (as the module
``main__``) and calls the function the action's ``exec.main`` names. The rotation action
runs ``main``: its code lives in ``handler.py`` so that the tests, the emulator and this
zip all run the very same module. The watchdog, deployed from the same zip as a second
action, runs ``watch``, which imports its module on its first call, so the rotation's cold
start does not load it. Generated by ``deploy/package.py``.
"""

from handler import main


def watch(args):
    """The watchdog (rotation/watch/action.py), on a cron trigger."""
    from rotation.watch.action import main as run

    return run(args)


__all__ = ["main", "watch"]
'''

ACTIVATE_THIS_PY = '''\
"""Put this action's bundled packages first on ``sys.path``.

The OpenWhisk Python launcher refuses a ``virtualenv/`` directory without
``virtualenv/bin/activate_this.py`` and executes this file (with ``__file__`` set, possibly
to a relative path) before it imports the action. Generated by ``deploy/package.py``:
standard library only, independent of the interpreter that built the zip, and working
when the interpreter runs with ``-S`` (``site`` is imported here explicitly).
"""

import glob
import os
import site
import sys

bin_dir = os.path.dirname(os.path.abspath(__file__))
base = os.path.dirname(bin_dir)
# Any lib/pythonX.Y: the wheels are pure Python, so the directory name does not have to
# match the interpreter that runs them.
site_dirs = sorted(glob.glob(os.path.join(base, "lib", "python*", "site-packages")))
if not site_dirs:
    raise ImportError("activate_this.py: no lib/python*/site-packages under " + base)

path = os.environ.get("PATH")
os.environ["PATH"] = bin_dir + os.pathsep + path if path else bin_dir
os.environ["VIRTUAL_ENV"] = base

prev_length = len(sys.path)
for site_dir in site_dirs:
    site.addsitedir(os.path.realpath(site_dir))
# addsitedir appends; move what it added to the front, as virtualenv's activate_this does
sys.path[:] = sys.path[prev_length:] + sys.path[0:prev_length]
'''


class PackageError(Exception):
    """The zip could not be built; the message says what to do about it."""


@dataclass(frozen=True)
class PackageResult:
    path: Path
    sha256: str
    size: int
    files: int
    #: The bytecode's tag (``cpython-313``), or ``None`` when the zip carries none.
    bytecode: str | None = None
    #: Which interpreter compiled it, or why there is no bytecode.
    bytecode_note: str = ""


class _Auto:
    """``python=AUTO``: look for the runtime's interpreter (:mod:`deploy.runtime_python`)."""


AUTO = _Auto()


def build_package(
    root: Path = PROJECT_ROOT,
    out: Path | None = None,
    *,
    limit: int = ZIP_LIMIT_BYTES,
    python: RuntimePython | _Auto | None = AUTO,
) -> PackageResult:
    """Build the action zip from the tree at ``root`` into ``out``.

    ``out`` defaults to ``<root>/dist/rotation-action.zip``. The file is written under a
    temporary name and moved into place only once complete and within ``limit`` bytes, so
    ``out`` is never a partial or oversized zip. ``python`` compiles the bytecode: ``AUTO``
    finds the runtime's interpreter (none found: no bytecode), ``None`` ships sources only.
    """
    root = root.resolve()
    out = (root / DEFAULT_OUT) if out is None else out.resolve()
    requirements = root / "requirements.txt"
    _check_sources(root, requirements)
    if isinstance(python, _Auto):
        search = runtime_python.find()
        python, note = search.found, search.reason
    else:
        note = "sources only, as asked" if python is None else f"compiled by {python.executable}"
    with tempfile.TemporaryDirectory(prefix="rotation-package-") as work:
        site_packages = Path(work) / "site-packages"
        _install_requirements(requirements, site_packages)
        entries = dict(_source_entries(root))
        entries["__main__.py"] = MAIN_PY.encode()
        entries[ACTIVATE_THIS] = ACTIVATE_THIS_PY.encode()
        for name, data in _site_package_entries(site_packages):
            entries[f"{SITE_PACKAGES}/{name}"] = data
        if python is not None:
            entries.update(_bytecode(entries, python, Path(work) / "tree"))
        result = _write_zip(entries, out, limit)
    tag = python.tag if python is not None else None
    if python is None:
        note = f"no bytecode: {note}"
    return dataclasses.replace(result, bytecode=tag, bytecode_note=note)


def _bytecode(entries: dict[str, bytes], python: RuntimePython, tree: Path) -> dict[str, bytes]:
    """``__pycache__/NAME.<tag>.pyc`` for every importable ``.py`` of ``entries``,
    compiled by ``python`` in a fresh process (its version writes what it will read)."""
    names = sorted(n for n in entries if n.endswith(".py") and n not in _NOT_COMPILED)
    for name in names:
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(entries[name])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env["PYTHONHASHSEED"] = "0"  # frozenset constants are ordered by hash
    try:
        done = subprocess.run(  # noqa: S603 - the runtime's interpreter, fixed arguments
            [python.executable, "-I", "-c", _COMPILE_PY, str(tree)],
            input="\n".join(names), capture_output=True, text=True,
            timeout=_COMPILE_TIMEOUT_S, check=False, env=env,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackageError(
            f"compiling the zip's bytecode with {python.executable} failed "
            f"({type(exc).__name__}); set {runtime_python.ENV_OVERRIDE} to a working Python "
            f"{RUNTIME_PYTHON}"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise PackageError(
            f"a file of the zip does not compile on Python {RUNTIME_PYTHON} "
            f"({python.executable}), so the runtime could not import it either:\n{tail}"
        )
    compiled = {}
    for name in names:
        pyc = Path(name).parent / "__pycache__" / f"{Path(name).stem}.{python.tag}.pyc"
        compiled[pyc.as_posix()] = (tree / pyc).read_bytes()
    return compiled


def _check_sources(root: Path, requirements: Path) -> None:
    for needed in (root / "handler.py", root / "rotation" / "__init__.py", requirements):
        if not needed.is_file():
            raise PackageError(
                f"{needed} is missing; build from the project checkout (or pass its root)"
            )
    for number, raw in enumerate(requirements.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line and "==" not in line:
            raise PackageError(
                f"{requirements.name} line {number} ({line!r}) is not pinned; pin it with "
                "'==' (transitive dependencies too) so the same commit builds the same zip"
            )


def _install_requirements(requirements: Path, target: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input",
        "--no-deps", "--no-compile",
        "--only-binary=:all:", "--platform", "any", "--implementation", "py",
        "--python-version", RUNTIME_PYTHON, "--abi", "none",
        "--target", str(target),
        "-r", str(requirements),
    ]  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            command,
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PackageError(
            f"installing requirements.txt with pip took over {_PIP_TIMEOUT_S} s; "
            "check the network access to the package index and retry"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise PackageError(
            f"installing requirements.txt with pip (pure-Python wheels for Python "
            f"{RUNTIME_PYTHON}) failed with exit {done.returncode}. Every runtime dependency "
            "must be reachable on the index and ship a py3-none-any wheel; replace one that "
            f"does not. pip said:\n{tail}"
        )


def _source_entries(root: Path) -> Iterator[tuple[str, bytes]]:
    yield "handler.py", (root / "handler.py").read_bytes()
    for path in (root / "rotation").rglob("*.py"):
        relative = path.relative_to(root)
        if "__pycache__" in relative.parts or not path.is_file():
            continue
        yield relative.as_posix(), path.read_bytes()


def _site_package_entries(site_packages: Path) -> Iterator[tuple[str, bytes]]:
    for path in site_packages.rglob("*"):
        relative = path.relative_to(site_packages)
        # bin/: console scripts whose shebang names the building interpreter; not needed
        if relative.parts[0] == "bin" or "__pycache__" in relative.parts:
            continue
        if not path.is_file() or path.suffix in {".pyc", ".pyo"}:
            continue
        if path.suffix in {".so", ".pyd", ".dylib"}:
            raise PackageError(
                f"{relative.as_posix()} is compiled code; the zip must hold pure-Python "
                "packages only, so replace the dependency that brought it"
            )
        data = path.read_bytes()
        if relative.name == "RECORD" and relative.parent.name.endswith(".dist-info"):
            data = _strip_record(data)
        yield relative.as_posix(), data


def _strip_record(data: bytes) -> bytes:
    """Drop a RECORD's lines for files outside site-packages (the console scripts left
    out of the zip): their hashes depend on the building interpreter's path."""
    lines = data.decode("utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("../")).encode("utf-8")


def _write_zip(entries: dict[str, bytes], out: Path, limit: int) -> PackageResult:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.create_system = _CREATE_SYSTEM_UNIX
                info.external_attr = _FILE_MODE
                info.compress_type = zipfile.ZIP_DEFLATED
                info.extra = b""
                archive.writestr(
                    info,
                    entries[name],
                    compress_type=zipfile.ZIP_DEFLATED,
                    compresslevel=_COMPRESS_LEVEL,
                )
        size = temp.stat().st_size
        if size > limit:
            raise PackageError(
                f"{out.name} is {size / _MB:.1f} MB, over the {limit / _MB:.4g} MB Cloud "
                f"Functions code limit ({size} > {limit} bytes); "
                "drop dependencies from requirements.txt or move large ones out of the zip"
            )
        digest = hashlib.sha256(temp.read_bytes()).hexdigest()
        temp.chmod(0o644)  # mkstemp made it private; the zip holds no secrets
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return PackageResult(path=out, sha256=digest, size=size, files=len(entries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.package",
        description="Build the Cloud Functions zip of the rotation action.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the zip (default: {DEFAULT_OUT.as_posix()} in the project)",
    )
    opts = parser.parse_args(argv)
    try:
        result = build_package(out=opts.out)
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{result.path}  sha256={result.sha256}  "
        f"size={result.size} bytes ({result.size / _MB:.2f} MB)  files={result.files}"
    )
    if result.bytecode is None:
        print(f"note: {result.bytecode_note}", file=sys.stderr)
    else:
        print(f"bytecode: {result.bytecode} ({result.bytecode_note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
