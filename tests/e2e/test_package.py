"""The deployment zip (``deploy/package.py``): reproducible, holding exactly the action and
its pure-Python dependencies, and runnable as the runtime runs it.

The proof is :func:`test_the_extracted_zip_rotates_a_secret_in_a_bare_interpreter`: the
zip is extracted into an empty directory and run by the emulated action-loop runtime on
the runtime's Python (its own site-packages hold none of the dependencies, and the project
is not on ``sys.path``), so the rotation can only have worked with what the zip carries.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy import package
from deploy.package import (
    ACTIVATE_THIS,
    SITE_PACKAGES,
    ZIP_LIMIT_BYTES,
    PackageError,
    PackageResult,
    build_package,
)
from emulator import Activation, Emulator, ProcessAction
from tests.factories import create_secret, unique_name
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]
VALUE = {"engine": "store-only", "username": "app", "password": "zip-initial-Passw0rd-2718"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
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


def rotate_with(emu: Emulator, action_dir: Path) -> tuple[str, Activation]:
    """A secret on a trigger whose action is ``action_dir`` run as the runtime runs a zip,
    one Execute Rotation Job, and the finished activation."""
    action = ProcessAction(
        name=unique_name("deployed"),
        action_dir=action_dir,
        module="__main__",
        params=emu.action_params(),
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
    built: PackageResult, tmp_path: Path
) -> None:
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
    assert [n for n in names if n.startswith("rotation/")] == sources
    top = {n.split("/", 1)[0] for n in names}
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


def test_the_listing_holds_nothing_else(names: list[str]) -> None:
    for name in names:
        first = name.split("/", 1)[0]
        assert first not in {"tests", "emulator", "bench", "deploy", "events", "dist"}, name
        assert "__pycache__" not in name.split("/"), name
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
        build_package(ROOT, out, limit=1024)
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
    [line] = done.stdout.splitlines()
    assert str(out) in line
    assert f"sha256={built.sha256}" in line
    assert f"size={built.size} bytes ({built.size / 1024 / 1024:.2f} MB)" in line
    assert out.read_bytes() == built.path.read_bytes()


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


def test_the_extracted_zip_rotates_a_secret_in_a_bare_interpreter(
    emu: Emulator, built: PackageResult, tmp_path: Path
) -> None:
    action_dir = extract(built, tmp_path / "action")
    sid, activation = rotate_with(emu, action_dir)
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
    emu: Emulator, built: PackageResult, tmp_path: Path
) -> None:
    """The same zip minus ``virtualenv/`` fails: the bundled packages, not the test
    environment's, are what made the proof above work."""
    action_dir = extract(built, tmp_path / "action")
    shutil.rmtree(action_dir / "virtualenv")
    _, activation = rotate_with(emu, action_dir)
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
