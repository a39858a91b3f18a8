"""Fixtures shared by every suite: a running emulator, a client, and the leak guard."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from rotation import logs
from rotation.ncp.secretmanager import SecretManagerClient
from tests.factories import FAST_RETRY
from tests.leaks import LeakGuard

# Deploy keeps a copy of the CA files it packs under $XDG_CACHE_HOME; the suite's runs
# (and the CLI processes they start, which inherit this) keep theirs apart from the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="rotator-test-cache-")

# Shared fixtures: the fake HTTPS credential service (ca, ca_file) and the real database
# servers (mariadb, redis_server, pg_cluster).
pytest_plugins = ["tests.webhook_receiver", "tests.databases"]

# Every test logs through the production configuration (JSON lines, redaction), at DEBUG
# so that the per-call lines are exercised too.
logs.configure("DEBUG")


E2E = Path(__file__).resolve().parent / "e2e"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail the run if a test under tests/e2e lacks the ``e2e`` marker (tests/e2e/conftest.py
    adds it): ``-m "not e2e"`` must never run one of them."""
    unmarked = [
        item
        for item in items
        if item.path.resolve().is_relative_to(E2E) and item.get_closest_marker("e2e") is None
    ]
    if unmarked:
        modules = sorted({item.path.name for item in unmarked})
        raise pytest.UsageError(
            f"{len(unmarked)} tests under tests/e2e lack the e2e marker (in {', '.join(modules)})"
        )


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[SecretManagerClient]:
    with emu.client(retry=FAST_RETRY) as c:
        yield c


@pytest.fixture(autouse=True)
def leak_guard(capfd: pytest.CaptureFixture[str]) -> Iterator[LeakGuard]:
    """Fails any test whose output, logs or results contain a secret value (tests/leaks.py)."""
    Emulator.created.clear()
    logs.REDACTOR.clear()
    guard = LeakGuard(capfd)
    logs.REDACTOR.listener = guard.registered.add
    yield guard
    logs.configure("DEBUG")  # a command run in-process (deploy: WARNING) must not leak its level
    logs.REDACTOR.listener = None
    guard.collect()
    leaked = guard.leaks()
    Emulator.created.clear()
    if leaked:
        pytest.fail(f"a secret value appeared in: {', '.join(leaked)}", pytrace=False)
