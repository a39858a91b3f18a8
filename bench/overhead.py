"""Rotation overhead: what a rotation costs beyond the API calls it has to make.

Reference: the same number of bare signed round trips (sign, send over a kept-alive
connection, read the answer; no parsing, no workflow) to the same emulator. Measured in
alternating pairs: one in-process store-only rotation (``handler.main``: settings, logs,
a fresh connection, five calls, generation, the result), then ``calls`` bare round trips.

The log redactor is emptied before each rotation, as a fresh action process starts. In one
long-lived process it keeps up to ``MAX_REGISTERED`` values and recompiles its pattern
after each rotation registers new ones, a cost that grows with what it holds (about 30 ms
per compile at 1,000 values, 140 ms at 4,000 on a 2-core machine; see ``rotation/logs.py``).
"""

from __future__ import annotations

import time

import requests

import handler
from bench.common import alternate, ratio_figure
from emulator import Emulator
from rotation import logs
from rotation.ncp.signing import signed_headers
from tests.factories import executed_job

GOAL = 1.5
VALUE = {"username": "app", "password": "bench-initial-Pw-1"}


def run(pairs: int = 21) -> list[str]:
    with Emulator() as emu, emu.client() as client, requests.Session() as session:
        params = emu.action_params()
        probe_id, _ = executed_job(emu, client, value=dict(VALUE))
        url = f"{emu.endpoint}/api/v1/secrets/{probe_id}"
        calls = 5

        def rotation() -> float:
            sid, token = executed_job(emu, client, value=dict(VALUE))
            emu.stats.reset()
            logs.REDACTOR.clear()  # as in a fresh activation: see the module's docstring
            started = time.perf_counter()
            result = handler.main({**params, "secretId": sid, "jobToken": token})
            took = time.perf_counter() - started
            assert result["ok"], result
            nonlocal calls
            calls = sum(emu.stats.calls.values())
            return took

        def bare() -> float:
            started = time.perf_counter()
            for _ in range(calls):
                headers = signed_headers("GET", url, emu.credentials)
                answer = session.get(url, headers=headers, timeout=10)
                answer.raise_for_status()
                answer.content  # noqa: B018 - read the whole answer, as a call does
            return time.perf_counter() - started

        ratios = alternate(rotation, bare, pairs, warmup=2)
    return ratio_figure(f"rotation overhead: rotation / ({calls} x bare call)", ratios, GOAL)
