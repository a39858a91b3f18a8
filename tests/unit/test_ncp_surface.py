"""``rotation.ncp`` exposes a curated surface and stays cheap to import (cold start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import rotation.ncp as ncp

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_resolves_to_its_module() -> None:
    for name in ncp.__all__:
        value = getattr(ncp, name)
        assert value.__name__ == name
        assert value.__module__.startswith("rotation.ncp.")
    assert set(ncp.__all__) <= set(dir(ncp))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ncp.nope  # noqa: B018


def test_importing_the_package_loads_no_http_stack() -> None:
    probe = (
        "import sys, rotation.ncp; "
        "heavy = [m for m in ('requests', 'urllib3', 'stamina', 'structlog', "
        "'rotation.ncp.transport') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
