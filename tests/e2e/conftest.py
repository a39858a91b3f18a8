"""Every test collected here is an ``e2e`` test: marked by this hook, not by each module.

A new module here cannot forget the marker, so ``-m "not e2e"`` always means "without the
slow whole-path tests". The root conftest fails the run if an item here is unmarked
(should this hook be lost or stop matching).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)
