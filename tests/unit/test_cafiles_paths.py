"""Where a CA path is read (rotation/cafiles.py): an absolute path as it is, a relative one
in the action's folder whatever the working directory, which is how the CA files deploy
packs into the zip as ``certs/<sha256>.pem`` are found by the check and the driver alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from rotation import cafiles
from rotation.cafiles import ACTION_DIR, ca_file_problem, resolve
from rotation.targets.database import parse_ssl


def test_the_action_folder_is_where_handler_py_is() -> None:
    assert (ACTION_DIR / "handler.py").is_file() and (ACTION_DIR / "rotation").is_dir()


def test_a_relative_path_is_read_in_the_action_folder_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    monkeypatch.chdir(tmp_path)  # a file here must not be taken for the action's
    problem = ca_file_problem("sslRootCert", "ca.pem")
    assert problem is not None and "does not exist" in problem and "action's folder" in problem
    inside = Path(ACTION_DIR) / "rotation" / "__init__.py"  # exists, and is no PEM file
    problem = ca_file_problem("sslRootCert", "rotation/__init__.py")
    assert problem is not None and "no PEM certificate" in problem
    assert resolve("rotation/__init__.py") == str(inside)
    absolute = str(tmp_path / "ca.pem")
    assert resolve(absolute) == absolute and ca_file_problem("caBundle", absolute) is None


def test_the_driver_gets_the_path_the_check_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip's ``certs/<sha256>.pem``: checked and handed to the driver as the file in the
    action's folder (here a stand-in folder), from any working directory."""
    folder, elsewhere = tmp_path / "action", tmp_path / "elsewhere"
    (folder / "certs").mkdir(parents=True)
    elsewhere.mkdir()
    (folder / "certs" / "abc.pem").write_bytes(trustme.CA().cert_pem.bytes())
    monkeypatch.setattr(cafiles, "ACTION_DIR", folder)
    monkeypatch.chdir(elsewhere)
    _, root = parse_ssl({"ssl": "verify-full", "sslRootCert": "certs/abc.pem"})
    assert root == str(folder / "certs" / "abc.pem")
    absolute = str(folder / "certs" / "abc.pem")
    assert parse_ssl({"ssl": "verify-full", "sslRootCert": absolute})[1] == absolute


def test_a_packed_path_missing_here_says_only_the_deployed_action_has_it() -> None:
    problem = ca_file_problem("sslRootCert", "certs/" + "0" * 64 + ".pem")
    assert problem is not None and "python -m deploy packs" in problem


def test_a_packed_file_missing_here_is_read_from_deploys_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rotation check`` in a checkout reads the deployed parameters, which name the zip's
    ``certs/<sha256>.pem``: the copy deploy kept on this machine is that file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    name = "0" * 64 + ".pem"
    missing = ca_file_problem("sslRootCert", f"certs/{name}")
    assert missing is not None and "python -m deploy --dry-run here" in missing
    kept = cafiles.packed_cache() / name
    kept.parent.mkdir(parents=True)
    kept.write_bytes(trustme.CA().cert_pem.bytes())
    assert resolve(f"certs/{name}") == str(kept)
    assert ca_file_problem("sslRootCert", f"certs/{name}") is None
