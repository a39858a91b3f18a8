"""A missing database server fails the run under CI=true and skips elsewhere."""

from __future__ import annotations

import pytest

from tests.databases import unavailable


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires it"):
        unavailable("MariaDB at 127.0.0.1:3306", "ConnectionRefusedError")


def test_missing_server_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="ConnectionRefusedError"):
        unavailable("MariaDB at 127.0.0.1:3306", "ConnectionRefusedError")
