"""Requests per invocation under a persistent fault, beside the bound the retry budget gives.

For each Secret Manager call of a store-only rotation (detail, start, pending, complete,
values, fail; and every call at once), the emulator answers that call with one fault at
every attempt: 429 with ``Retry-After: 1`` (and ``0``), 503, or a connection closed
without an answer. The rotation runs as an action process started the way the runtime
starts it (the emulator's launcher, ``__OW_DEADLINE`` set), with a 30 s timeout so the
whole section takes about half a minute: ten scenarios at a time, each on its own
emulator (a fault applies to one operation of one emulator).

The bound is counted, not timed (:mod:`rotation.ncp.budget`): ``L`` logical calls (the
workflow's, below) plus the retries the budget can pay, capped by each call's attempt
limit. It is the same at 30 s and at the default 300 s: the deadline only cuts the runs
shorter, and the workflow's six confirmation rounds (about 7 s of pauses) fit in both.
Before the budget, 300 s allowed 61 requests under a 429 on complete, 44 under a 5xx or
a reset (measured from outside).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.common import Figure, note
from emulator import Emulator
from rotation.ncp.budget import worst_case_retries
from rotation.ncp.transport import RetryPolicy
from tests.factories import executed_job, unique_name

#: The action's timeout in the bench; the bound holds for the default 300 s as well.
TIMEOUT_MS = 30_000
DEFAULT_TIMEOUT_S = 300
PERSISTENT = 100_000
#: Scenarios run at once (each mostly waits; starting its interpreter is what costs).
CONCURRENT = 10
#: A policy naming a key that is not a rotation target: the rotation fails in preflight,
#: after start, so that ``fail`` is called (a happy rotation never calls it).
BAD_POLICY = {"keys": {"not-a-target": {"length": 20}}}


@dataclass(frozen=True)
class Fault:
    label: str
    spec: dict[str, Any]
    attempts: int  # the most attempts one call may make after this fault
    no_answer: bool = False


_POLICY = RetryPolicy()
FAULTS = (
    Fault("429, Retry-After 1", {"status": 429, "retry_after": 1}, _POLICY.throttled_attempts),
    Fault("429, Retry-After 0", {"status": 429, "retry_after": 0}, _POLICY.throttled_attempts),
    Fault("503", {"status": 503}, _POLICY.attempts),
    Fault("reset", {"drop": True}, _POLICY.attempts, no_answer=True),
)


@dataclass(frozen=True)
class Call:
    """One faulted call and what the workflow does around it (``rotation/workflow.py``):
    ``logical`` calls in all, ``successes`` of them going through, ``failing`` failing at
    every attempt."""

    name: str
    operation: str
    logical: int
    successes: int
    failing: int

    def bound(self, fault: Fault) -> int:
        return self.logical + worst_case_retries(
            successes=self.successes,
            failing_calls=self.failing,
            attempts_per_call=fault.attempts,
            no_answer=fault.no_answer,
        )


CALLS = (
    # detail fails: the job is started only to be failed (start, fail)
    Call("detail", "get_secret_detail", logical=3, successes=2, failing=1),
    # start fails: the chain is read (an earlier pending value?), then fail
    Call("start", "start_rotation_job", logical=4, successes=3, failing=1),
    # pending fails: fail (the target was not touched)
    Call("pending", "update_pending_stage", logical=4, successes=3, failing=1),
    # complete's outcome is unknown: six rounds of (read the chain, complete again)
    Call("complete", "complete_rotation_job", logical=16, successes=9, failing=7),
    # the verifying read fails: the rotation is done, reported unverified
    Call("values", "get_secret_value", logical=5, successes=4, failing=1),
    # a bad policy fails the rotation after start; fail itself fails
    Call("fail", "fail_rotation_job", logical=3, successes=2, failing=1),
    # everything fails: detail, then start (to end the job), then the chain: left running
    Call("every call", "*", logical=3, successes=0, failing=3),
)


@dataclass(frozen=True)
class Measured:
    call: Call
    fault: Fault
    requests: int
    faulted: int
    seconds: float
    outcome: str


def measure(call: Call, fault: Fault) -> Measured:
    """One invocation with ``fault`` on ``call`` at every attempt, on its own emulator."""
    with Emulator() as emu:
        with emu.client() as client:
            sid, token = executed_job(emu, client)
        params = {"policy": BAD_POLICY} if call.name == "fail" else {}
        action = emu.handler_action(
            unique_name("worst"), params, timeout_ms=TIMEOUT_MS, env={"LOG_LEVEL": "WARNING"}
        )
        emu.faults.add(call.operation, times=PERSISTENT, **fault.spec)
        emu.stats.reset()
        started = time.monotonic()
        activation = emu.runner.invoke(action, {"secretId": sid, "jobToken": token})
        seconds = time.monotonic() - started
        counted = Counter(emu.stats.calls)
    result = activation.result or {}
    outcome = str((result.get("error") or {}).get("code") or result.get("outcome") or "?")
    if activation.status not in ("success", "application error"):
        outcome = activation.status
    faulted = sum(counted.values()) if call.operation == "*" else counted[call.operation]
    return Measured(call, fault, sum(counted.values()), faulted, seconds, outcome)


def run() -> list[str]:
    scenarios = [(call, fault) for fault in FAULTS for call in CALLS]
    # The longest first (complete's confirmation rounds, then one-second Retry-Afters),
    # a few at a time: 28 interpreters starting at once on a small machine would eat
    # their own 30 s before the first request.
    longest_first = sorted(
        scenarios, key=lambda s: (s[0].name != "complete", s[1] is not FAULTS[0])
    )
    with ThreadPoolExecutor(CONCURRENT) as pool:
        results = list(pool.map(lambda s: measure(*s), longest_first))
    results.sort(key=lambda m: scenarios.index((m.call, m.fault)))
    lines = [note("requests per invocation (of them to the faulted call), time; the outcome")]
    for fault in FAULTS:
        lines.append(note(f"{fault.label}, at every attempt of:"))
        for m in (r for r in results if r.fault is fault):
            bound = m.call.bound(fault)
            lines.append(
                Figure(
                    f"  {m.call.name} -> {m.outcome}",
                    f"{m.requests} ({m.faulted}), {m.seconds:.0f} s",
                    f"<= {bound}",
                    m.requests <= bound,
                ).line()
            )
    worst = {f.label: max(c.bound(f) for c in CALLS) for f in FAULTS}
    lines.append(
        note(
            f"the bound at the default {DEFAULT_TIMEOUT_S} s timeout is the same (counted, not "
            f"timed): at most " + "; ".join(f"{n} under {label}" for label, n in worst.items())
        )
    )
    lines.append(
        note("before the budget (300 s): 61 requests under a 429 on complete, 44 under 5xx/reset")
    )
    return lines
