"""The suite-wide proof that no secret value is ever printed, logged or returned.

Every test runs under :class:`LeakGuard` (autouse, in ``conftest``). At teardown it
gathers what the test produced: everything written to file descriptors 1 and 2 (the
rotation's JSON logs, the CLI's output), every activation log and result the emulators
recorded (the handler running in its own process), and anything a test hands it with
:meth:`observe` (a subprocess's captured output). Then it looks in all of it for every
value it must never find: each value registered with the log redactor during the test,
and each secret value, secret key and job token any emulator of the test saw.

Values shorter than :data:`MIN_LENGTH` are not searched for: "v1" occurs in every API
path. Tests that check leaks use longer values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from emulator import Emulator
from rotation import logs

MIN_LENGTH = 8


def forms(value: str) -> set[str]:
    """The value as it would appear raw or inside JSON text."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def find_leaks(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> list[str]:
    """Where (by label) any secret appears. Never returns the secret itself."""
    wanted = {form for s in secrets if len(s) >= MIN_LENGTH for form in forms(s)}
    return sorted({where for where, text in texts for form in wanted if form in text})


class LeakGuard:
    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.texts: list[tuple[str, str]] = []
        self.allowed: set[str] = set()
        #: Every value registered with the redactor during the test (each invocation
        #: clears the redactor itself, so the guard keeps its own record).
        self.registered: set[str] = set()

    def read(self) -> tuple[str, str]:
        """What the test printed so far (stdout, stderr); kept for the final check."""
        captured = self.capfd.readouterr()
        self.observe("stdout", captured.out)
        self.observe("stderr", captured.err)
        return captured.out, captured.err

    def observe(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def allow(self, value: str) -> None:
        """A test that prints a value on purpose (``secret values --reveal``)."""
        self.allowed |= forms(value)

    def secrets(self) -> set[str]:
        values = self.registered | set(logs.REDACTOR.values())
        for emu in Emulator.created:
            values |= emu.known_secret_values
        return values - self.allowed

    def collect(self) -> None:
        self.read()
        for emu in Emulator.created:
            for act in emu.runner.activations:
                self.observe(f"activation {act.action_name} logs", "\n".join(act.logs))
                self.observe(f"activation {act.action_name} result", json.dumps(act.result))

    def leaks(self) -> list[str]:
        return find_leaks(self.texts, self.secrets())
