"""The deployment zip (``deploy/package.py``): reproducible, holding exactly the action and
its pure-Python dependencies (and their bytecode for the runtime's Python), and runnable as
the runtime runs it.

The proof is :func:`test_the_extracted_zip_rotates_a_secret_in_a_bare_interpreter`: the
zip is extracted into an empty directory and run by the emulated action-loop runtime on
the runtime's Python (its own site-packages hold none of the dependencies, and the project
is not on ``sys.path``), so the rotation can only have worked with what the zip carries.
It runs on the runtime's Python 3.13 (:mod:`deploy.runtime_python` finds it) and on this
venv's Python, whose version the shipped bytecode is not for: a runtime upgrade costs
compile time, not the action. Without 3.13 on the machine those tests are skipped, and the
reason says where it was looked for; under ``CI=true`` a 3.13 that is there but does not
run fails instead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy import package, runtime_python
from deploy.package import (
    ACTIVATE_THIS,
    SITE_PACKAGES,
    ZIP_LIMIT_BYTES,
    PackageError,
    PackageResult,
    build_package,
)
from deploy.runtime_python import RuntimePython
from emulator import Activation, Emulator, ProcessAction
from tests.factories import create_secret, unique_name
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]
VALUE = {"engine": "store-only", "username": "app", "password": "zip-initial-Passw0rd-2718"}


@pytest.fixture(scope="module")
def search() -> runtime_python.Search:
    return runtime_python.find()


@pytest.fixture(scope="module")
def runtime(search: runtime_python.Search) -> RuntimePython:
    """The runtime's Python 3.13, or a skip that says why (a failure under CI=true when a
    3.13 is there but does not run: only a truly absent one may skip there)."""
    if search.found is not None:
        return search.found
    if os.environ.get("CI") == "true":
        if not search.absent:
            pytest.fail(f"CI=true and Python 3.13 is installed but unusable: {search.reason}")
        pytest.skip(f"CI=true, skipped only because Python 3.13 is truly absent: {search.reason}")
    pytest.skip(search.reason)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    """What ``make package`` builds here: with bytecode when 3.13 is on the machine."""
    return build_package(ROOT, tmp_path_factory.mktemp("package") / "rotation-action.zip")


@pytest.fixture(scope="module")
def names(built: PackageResult) -> list[str]:
    with zipfile.ZipFile(built.path) as archive:
        return archive.namelist()


def extract(built: PackageResult, dest: Path) -> Path:
    dest.mkdir()
    assert not any(dest.iterdir())
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(dest)
    return dest


def rotate_with(
    emu: Emulator, action_dir: Path, python: str = sys.executable
) -> tuple[str, Activation]:
    """A secret on a trigger whose action is ``action_dir`` run as the runtime runs a zip
    (by ``python``), one Execute Rotation Job, and the finished activation."""
    action = ProcessAction(
        name=unique_name("deployed"),
        action_dir=action_dir,
        module="__main__",
        params=emu.action_params(),
        python=python,
    )
    trigger = emu.add_trigger(unique_name("trigger"), action)
    with emu.client() as client:
        sid = create_secret(client, value=dict(VALUE), trigger_id=trigger.trigger_id).secret_id
        client.execute_rotation_job(sid)
    emu.wait_idle()
    [activation] = [a for a in emu.activations if a.secret_id == sid]
    return sid, activation


def requirements() -> list[tuple[str, str]]:
    pins = []
    for raw in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins.append((name.strip(), version.strip()))
    return pins


# -- reproducible ----------------------------------------------------------------------


def test_two_builds_of_the_same_tree_are_byte_identical(
    built: PackageResult, search: runtime_python.Search, tmp_path: Path
) -> None:
    """Bytecode included when 3.13 is here: unchecked-hash pycs hold no timestamp."""
    assert built.bytecode == (search.found.tag if search.found else None), built.bytecode_note
    again = build_package(ROOT, tmp_path / "again.zip")
    assert again.sha256 == built.sha256
    assert again.size == built.size and again.files == built.files
    assert again.path.read_bytes() == built.path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["again.zip"]  # no temp file left


def test_entries_are_sorted_with_fixed_metadata(built: PackageResult, names: list[str]) -> None:
    assert names == sorted(names)
    assert len(names) == len(set(names)) == built.files
    with zipfile.ZipFile(built.path) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.external_attr >> 16 == 0o100644, info.filename
            assert info.create_system == 3
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.extra == b""
            assert not info.is_dir()
        assert archive.comment == b""
        assert archive.testzip() is None


# -- contents --------------------------------------------------------------------------


def test_the_listing_holds_the_action_and_its_virtualenv(names: list[str]) -> None:
    for expected in ("__main__.py", "handler.py", "rotation/workflow.py", ACTIVATE_THIS):
        assert expected in names
    sources = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "rotation").rglob("*.py"))
    sources = [s for s in sources if "__pycache__" not in s]
    assert [n for n in names if n.startswith("rotation/") and "__pycache__" not in n] == sources
    top = {n.split("/", 1)[0] for n in names} - {"__pycache__"}  # handler's pyc, if any
    assert top == {"__main__.py", "handler.py", "rotation", "virtualenv"}
    assert {
        n for n in names if n.startswith("virtualenv/") and not n.startswith(SITE_PACKAGES)
    } == {ACTIVATE_THIS}


@pytest.mark.parametrize(("name", "version"), requirements())
def test_each_pinned_requirement_is_installed(
    built: PackageResult, names: list[str], name: str, version: str
) -> None:
    """The pinned version's dist-info, and every file its RECORD lists, top-level package
    included, under site-packages."""
    canonical = re.sub(r"[-_.]+", "_", name).lower()
    prefix = f"{SITE_PACKAGES}/{canonical}-{version}.dist-info/".lower()
    [record] = [n for n in names if n.lower() == prefix + "record"]
    with zipfile.ZipFile(built.path) as archive:
        lines = archive.read(record).decode().splitlines()
    listed = [line.rsplit(",", 2)[0] for line in lines if line]
    assert not [p for p in listed if p.startswith("../")]  # the left-out console scripts
    installed = [p for p in listed if ".dist-info/" not in p]
    tops = {p.split("/", 1)[0] for p in installed}
    assert tops, f"{name} installs no package"
    for path in listed:
        assert f"{SITE_PACKAGES}/{path}" in names, path
    for top in tops:
        assert any(n.startswith(f"{SITE_PACKAGES}/{top}") for n in names)


def _pyc_source(pyc: str) -> str:
    """``a/__pycache__/b.cpython-313.pyc`` -> ``a/b.py``."""
    cache = Path(pyc).parent
    assert cache.name == "__pycache__", pyc
    return (cache.parent / f"{Path(pyc).name.split('.', 1)[0]}.py").as_posix()


def test_the_listing_holds_nothing_else(built: PackageResult, names: list[str]) -> None:
    for name in names:
        first = name.split("/", 1)[0]
        assert first not in {"tests", "emulator", "bench", "deploy", "events", "dist"}, name
        if "__pycache__" in name.split("/"):  # only the runtime's pyc of a shipped source
            assert built.bytecode is not None, name
            assert name.endswith(f".{built.bytecode}.pyc"), name
            assert name.split("/").index("__pycache__") == name.count("/") - 1, name
            assert _pyc_source(name) in names, name
            continue
        assert not name.endswith((".pyc", ".pyo", ".so", ".pyd")), name
        assert not name.startswith(f"{SITE_PACKAGES}/bin/"), name
        assert not re.match(r"virtualenv/lib/[^/]+/bin/", name), name
        assert "/." not in name and not name.startswith("."), name  # no caches, no dotfiles


def test_main_py_only_delegates_to_the_handler(built: PackageResult) -> None:
    with zipfile.ZipFile(built.path) as archive:
        main_py = archive.read("__main__.py").decode()
        handler = archive.read("handler.py")
    assert "from handler import main" in main_py
    assert main_py.startswith('"""')
    assert handler == (ROOT / "handler.py").read_bytes()


# -- size and the command ----------------------------------------------------------------


def test_the_zip_fits_the_code_size_limit(built: PackageResult) -> None:
    assert 0 < built.size < ZIP_LIMIT_BYTES == 38 * 1024 * 1024
    assert built.size == built.path.stat().st_size


def test_over_the_limit_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "tiny.zip"
    with pytest.raises(PackageError, match=r"MB, over the .* Cloud Functions code limit"):
        build_package(ROOT, out, limit=1024, python=None)
    assert list(tmp_path.iterdir()) == []


def test_the_command_prints_the_sha256_and_size(
    built: PackageResult, tmp_path: Path, leak_guard: LeakGuard
) -> None:
    out = tmp_path / "cli.zip"
    done = subprocess.run(
        [sys.executable, "-m", "deploy.package", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    leak_guard.observe("package stdout", done.stdout)
    leak_guard.observe("package stderr", done.stderr)
    assert done.returncode == 0, done.stderr
    line, *bytecode = done.stdout.splitlines()
    assert str(out) in line
    assert f"sha256={built.sha256}" in line
    assert f"size={built.size} bytes ({built.size / 1024 / 1024:.2f} MB)" in line
    if built.bytecode is None:
        assert bytecode == [] and done.stderr.startswith("note: no bytecode: Python 3.13")
    else:
        assert bytecode == [f"bytecode: {built.bytecode} ({built.bytecode_note})"]
    assert out.read_bytes() == built.path.read_bytes()


def test_without_the_runtime_python_the_zip_has_no_bytecode_and_says_so(
    tmp_path: Path, leak_guard: LeakGuard
) -> None:
    out = tmp_path / "plain.zip"
    missing = str(tmp_path / "no-such" / "python3.13")
    done = subprocess.run(
        [sys.executable, "-m", "deploy.package", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, runtime_python.ENV_OVERRIDE: missing},
    )  # fmt: skip
    leak_guard.observe("package stdout", done.stdout)
    leak_guard.observe("package stderr", done.stderr)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
    [note] = done.stderr.splitlines()
    assert note.startswith("note: no bytecode: Python 3.13 (the Cloud Functions runtime) not")
    assert missing in note and runtime_python.ENV_OVERRIDE in note
    with zipfile.ZipFile(out) as archive:
        listed = archive.namelist()
    assert "handler.py" in listed
    assert not [n for n in listed if n.endswith(".pyc") or "__pycache__" in n]


def test_the_command_reports_a_package_error(
    monkeypatch: pytest.MonkeyPatch, leak_guard: LeakGuard
) -> None:
    def refuse(**_: object) -> PackageResult:
        raise PackageError("it is 40.0 MB, over the 38 MB Cloud Functions code limit; trim")

    monkeypatch.setattr(package, "build_package", refuse)
    assert package.main([]) == 1
    out, err = leak_guard.read()
    assert out == ""
    assert err == "error: it is 40.0 MB, over the 38 MB Cloud Functions code limit; trim\n"


# -- the proof: it runs as the runtime runs it -------------------------------------------


@pytest.mark.parametrize("interpreter", ["runtime", "venv"])
def test_the_extracted_zip_rotates_a_secret_in_a_bare_interpreter(
    emu: Emulator, built: PackageResult, tmp_path: Path, interpreter: str,
    request: pytest.FixtureRequest,
) -> None:
    """On the runtime's 3.13 (its bytecode), and on this venv's Python (another version:
    the cpython-313 pycs are ignored and the sources compiled, as after a runtime upgrade)."""
    python = (
        request.getfixturevalue("runtime").executable if interpreter == "runtime"
        else sys.executable
    )
    action_dir = extract(built, tmp_path / "action")
    sid, activation = rotate_with(emu, action_dir, python)
    assert activation.status == "success", activation.logs
    assert activation.result is not None
    assert activation.result["ok"] is True and activation.result["outcome"] == "rotated"
    with emu.client() as client:
        chain = client.get_secret_values(sid)
    assert chain.previous == VALUE
    assert chain.active is not None and chain.active["password"] != VALUE["password"]
    assert {k: chain.active[k] for k in ("engine", "username")} == {
        "engine": "store-only",
        "username": "app",
    }


def test_without_its_virtualenv_the_action_cannot_import_its_dependencies(
    emu: Emulator, built: PackageResult, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same zip minus ``virtualenv/`` fails on the runtime's Python (whose own
    site-packages, like the image's, hold none of the dependencies): the bundled
    packages, not the test environment's, are what made the proof above work."""
    action_dir = extract(built, tmp_path / "action")
    shutil.rmtree(action_dir / "virtualenv")
    _, activation = rotate_with(emu, action_dir, request.getfixturevalue("runtime").executable)
    assert activation.status == "developer error"
    assert any("ModuleNotFoundError" in line for line in activation.logs), activation.logs


def test_without_activate_this_the_launcher_refuses_the_zip(
    emu: Emulator, built: PackageResult, tmp_path: Path
) -> None:
    action_dir = extract(built, tmp_path / "action")
    (action_dir / ACTIVATE_THIS).unlink()
    _, activation = rotate_with(emu, action_dir)
    assert activation.status == "developer error"
    assert any("activate_this.py" in line for line in activation.logs), activation.logs


def test_activate_this_puts_the_bundled_packages_first(
    built: PackageResult, tmp_path: Path
) -> None:
    """Run the way OpenWhisk's own launcher runs it: from the action directory, with a
    relative ``__file__``, in an interpreter without ``site``."""
    action_dir = extract(built, tmp_path / "action")
    probe = (
        "import json, os, sys\n"
        "path = './virtualenv/bin/activate_this.py'\n"
        "exec(compile(open(path).read(), path, 'exec'), {'__file__': path})\n"
        "import structlog\n"
        "print(json.dumps({'first': sys.path[0], 'structlog': structlog.__file__,\n"
        "    'venv': os.environ['VIRTUAL_ENV'], 'path': os.environ['PATH']}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        cwd=action_dir, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    site_packages = (action_dir / SITE_PACKAGES).resolve()
    assert Path(seen["first"]) == site_packages
    assert Path(seen["structlog"]).is_relative_to(site_packages)
    assert Path(seen["venv"]).resolve() == (action_dir / "virtualenv").resolve()
    bin_dir, *rest = seen["path"].split(":")
    assert Path(bin_dir).resolve() == (action_dir / "virtualenv" / "bin").resolve()
    assert rest == ["/usr/bin", "/bin"]


# -- bytecode for the runtime's Python (issue 16, item 4) ---------------------------------

#: Run by the runtime's Python over an extracted zip: every pyc's header, and its source.
_CHECK_PYCS = r"""
import importlib.util, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
rows = []
for pyc in sorted(root.rglob("*.pyc")):
    data = pyc.read_bytes()
    source = importlib.util.source_from_cache(str(pyc))
    rows.append({
        "pyc": pyc.relative_to(root).as_posix(),
        "magic": data[:4] == importlib.util.MAGIC_NUMBER,
        "flags": int.from_bytes(data[4:8], "little"),
        "hash": data[8:16] == importlib.util.source_hash(pathlib.Path(source).read_bytes()),
    })
print(json.dumps({"tag": sys.implementation.cache_tag, "rows": rows}))
"""


def test_the_zip_carries_unchecked_bytecode_for_the_runtime(
    runtime: RuntimePython, built: PackageResult, names: list[str], tmp_path: Path
) -> None:
    """One pyc per importable source (not ``__main__.py``, which the runtime renames, nor
    ``activate_this.py``, which it executes), written by 3.13 for 3.13: its magic number,
    flags 0b01 (hash-based, source never checked: the zip keeps no mtimes) and the hash
    of the very source beside it."""
    assert built.bytecode == runtime.tag == "cpython-313"
    sources = {n for n in names if n.endswith(".py")} - {"__main__.py", ACTIVATE_THIS}
    pycs = {n for n in names if n.endswith(".pyc")}
    assert {_pyc_source(n) for n in pycs} == sources and len(pycs) == len(sources)
    action_dir = extract(built, tmp_path / "action")
    done = subprocess.run(
        [runtime.executable, "-I", "-S", "-c", _CHECK_PYCS, str(action_dir)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    seen = json.loads(done.stdout)
    assert seen["tag"] == runtime.tag
    assert {row["pyc"] for row in seen["rows"]} == pycs
    bad = [row for row in seen["rows"] if (row["magic"], row["flags"], row["hash"]) != (
        True, 0b01, True)]
    assert bad == []


_IMPORT_HANDLER = (
    "import sys; sys.path.insert(0, '.'); p = './virtualenv/bin/activate_this.py'; "
    "exec(compile(open(p).read(), p, 'exec'), {'__file__': p}); "
    "import handler, rotation.workflow; print(handler.__cached__)"
)


def test_the_runtime_imports_the_shipped_bytecode_another_python_the_sources(
    runtime: RuntimePython, built: PackageResult, tmp_path: Path
) -> None:
    """Replace two sources with code that cannot run: 3.13 still imports them (it never
    reads a source its unchecked pyc stands for, so the bytecode is what it runs), while
    this venv's Python, for which the zip has no bytecode, reads the sources and fails."""
    action_dir = extract(built, tmp_path / "action")
    for source in ("handler.py", "rotation/workflow.py"):
        (action_dir / source).write_text("raise SystemExit('the source was read')\n")

    def run(python: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-I", "-S", "-B", "-c", _IMPORT_HANDLER],
            cwd=action_dir, capture_output=True, text=True, timeout=120, check=False,
            env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    on_runtime = run(runtime.executable)
    assert on_runtime.returncode == 0, on_runtime.stderr
    assert on_runtime.stdout.strip().endswith(f"__pycache__/handler.{runtime.tag}.pyc")
    if sys.version_info[:2] != runtime.version:  # the venv is 3.11 here, and in CI
        elsewhere = run(sys.executable)
        assert elsewhere.returncode != 0 and "the source was read" in elsewhere.stderr
