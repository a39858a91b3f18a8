"""Fixtures shared by every suite: a running emulator and a client that talks to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator import Emulator
from rotation.api import SecretManagerClient
from rotation.transport import RetryPolicy

#: Real backoff, just short: retry tests exercise the same code path as production.
FAST_RETRY = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[SecretManagerClient]:
    with emu.client(retry=FAST_RETRY) as c:
        yield c
