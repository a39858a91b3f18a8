"""Finding the runtime's Python (``deploy/runtime_python.py``): every candidate is run, not
just found, in the documented order, and "not found" says where it looked and whether
anything was there at all (CI skips only when nothing was).

The interpreters here are small scripts that answer the finder's probe as a Python of a
given version would (or exit 127 as pyenv's shim does when the version is not selected),
so each rule is tested without the machine's own Pythons deciding the outcome; the e2e
package tests run the real 3.13.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from deploy import runtime_python
from deploy.runtime_python import ENV_OVERRIDE, RuntimePython


def fake_python(path: Path, version: str | None) -> Path:
    """A script answering the probe as Python ``version``; ``None``: a shim exiting 127."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = (
        f"#!/bin/sh\necho {version}\necho {path}\n"
        if version is not None
        else "#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n"
    )
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def env_for(tmp_path: Path, *, path_dirs: list[Path] | None = None) -> dict[str, str]:
    """No real Python on PATH, a pyenv root of our own."""
    dirs = [*(path_dirs or []), Path("/usr/bin"), Path("/bin")]
    return {"PATH": ":".join(str(d) for d in dirs), "PYENV_ROOT": str(tmp_path / "pyenv")}


def test_a_pyenv_install_is_found_behind_a_shim_that_does_not_answer(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    fake_python(shims / "python3.13", None)
    real = fake_python(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3.13", "3.13")
    search = runtime_python.find(env_for(tmp_path, path_dirs=[shims]))
    assert search.found == RuntimePython(str(real), (3, 13))
    assert search.found.tag == "cpython-313"


def test_python3_13_on_path_comes_first_and_the_newest_pyenv_patch_next(tmp_path: Path) -> None:
    on_path = fake_python(tmp_path / "bin" / "python3.13", "3.13")
    versions = tmp_path / "pyenv" / "versions"
    fake_python(versions / "3.13.0" / "bin" / "python3.13", "3.13")
    newest = fake_python(versions / "3.13.2" / "bin" / "python3.13", "3.13")
    assert runtime_python.find(env_for(tmp_path, path_dirs=[on_path.parent])).found == (
        RuntimePython(str(on_path), (3, 13))
    )
    on_path.unlink()
    assert runtime_python.find(env_for(tmp_path)).found == RuntimePython(str(newest), (3, 13))


def test_the_override_alone_is_tried_and_must_answer_as_3_13(tmp_path: Path) -> None:
    fake_python(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3.13", "3.13")
    env = env_for(tmp_path)
    search = runtime_python.find({**env, ENV_OVERRIDE: sys.executable})
    assert search.found is None and not search.absent  # configured, but not 3.13: broken
    assert f"is Python {sys.version_info[0]}.{sys.version_info[1]}" in search.reason
    missing = str(tmp_path / "nowhere" / "python")
    search = runtime_python.find({**env, ENV_OVERRIDE: missing})
    assert search.found is None and not search.absent
    assert missing in search.reason and ENV_OVERRIDE in search.reason
    good = fake_python(tmp_path / "custom" / "py", "3.13")
    assert runtime_python.find({**env, ENV_OVERRIDE: str(good)}).found is not None


def test_nothing_anywhere_is_absent_and_says_where_it_looked(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    fake_python(shims / "python3.13", None)
    search = runtime_python.find(env_for(tmp_path, path_dirs=[shims]))
    assert search.found is None and search.absent
    assert "python3.13 on PATH and $(pyenv root)/versions" in search.reason
    assert "exited 127" in search.reason and ENV_OVERRIDE in search.reason


def test_an_install_that_does_not_run_is_not_absent(tmp_path: Path) -> None:
    """A pyenv 3.13 that exists but fails is a broken machine: CI must fail, not skip."""
    fake_python(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3.13", None)
    search = runtime_python.find(env_for(tmp_path))
    assert search.found is None and not search.absent


def test_another_version_on_path_is_refused(tmp_path: Path) -> None:
    liar = fake_python(tmp_path / "bin" / "python3.13", "3.12")
    search = runtime_python.find(env_for(tmp_path, path_dirs=[liar.parent]))
    assert search.found is None and "is Python 3.12" in search.reason
