"""The retry budget over real HTTP: faults injected by the emulator, retries counted by it.

No test sleeps for real: retries use the production attempt limits with waits of a few
milliseconds (:data:`SHORT_WAITS`), throttling answers ``Retry-After: 0``, and the
workflow's pause between confirmation rounds is skipped (it only waits; the rounds are
the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import handler
from emulator import Emulator
from rotation.ncp.budget import CAPACITY, RETRY_COST, RetryBudget, worst_case_retries
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import NcpError, RateLimited
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.transport import RetryPolicy
from rotation.workflow import Rotation
from tests.factories import executed_job, invoke

#: Production's attempt limits (5, and 10 for a 429), with waits of milliseconds.
SHORT_WAITS = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)

#: Each fault as the emulator injects it: a 429 asking to come back at once, a 503, and a
#: connection closed without an answer.
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retry_after": 0},
    "503": {"status": 503},
    "reset": {"drop": True},
}
PERSISTENT = 100_000


def attempts_per_call(emu: Emulator, client: SecretManagerClient, calls: int) -> list[int]:
    """``calls`` calls of Get Trigger List, each failing for good: the requests each sent."""
    sent = []
    for _ in range(calls):
        before = emu.stats.calls["get_trigger_list"]
        with pytest.raises(NcpError):
            client.list_triggers()
        sent.append(emu.stats.calls["get_trigger_list"] - before)
    return sent


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # 9 retries (all a 429 may take) leave one retry's worth; then each call gets two,
        # paid by what is left and the recovery allowance (four retries), then none.
        ("429", [10, 3, 3, 2, 1]),
        # 4 retries a call until the bucket (ten retries) runs short; the allowance tops
        # the third call up to two; two more calls get two each; then none.
        ("503", [5, 5, 3, 3, 3, 1]),
        # no answer costs double: five retries in the bucket, two in the allowance.
        ("reset", [5, 3, 2, 1]),
    ],
)
def test_a_persistent_fault_drains_the_budget_then_calls_stop_retrying(
    emu: Emulator, fault: str, expected: list[int]
) -> None:
    emu.faults.add("get_trigger_list", times=PERSISTENT, **FAULTS[fault])
    with emu.client(retry=SHORT_WAITS) as client:
        assert attempts_per_call(emu, client, len(expected)) == expected
        budget = client.transport.budget
    assert (budget.available, budget.recovery_left) == (0, 0), "both parts spent"
    assert budget.retries == sum(expected) - len(expected)


def test_successes_refill_the_budget(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=503, times=PERSISTENT)
    with emu.client(retry=SHORT_WAITS) as client:
        assert attempts_per_call(emu, client, 6) == [5, 5, 3, 3, 3, 1]  # drained, both parts
        emu.faults.clear()
        for _ in range(RETRY_COST):
            assert client.list_triggers() == ()  # each puts a token back
        emu.faults.add("get_trigger_list", status=503, times=PERSISTENT)
        assert attempts_per_call(emu, client, 2) == [2, 1], "one retry refilled, then none"


def test_a_call_that_succeeds_after_retries_gets_its_last_retry_refunded(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=503, times=2)
    with emu.client(retry=SHORT_WAITS) as client:
        assert client.list_triggers() == ()
        assert client.transport.budget.available == CAPACITY - 2 * RETRY_COST + RETRY_COST
    assert emu.stats.calls["get_trigger_list"] == 3


def test_a_retry_the_deadline_cannot_afford_costs_nothing(emu: Emulator) -> None:
    """``Retry-After`` is still honoured: a retry it would push past the deadline is not
    sent, and not charged either."""
    emu.faults.add("get_trigger_list", status=429, retry_after=5)
    with (
        emu.client(retry=SHORT_WAITS, deadline=Deadline.after(2.0)) as client,
        pytest.raises(RateLimited),
    ):
        client.list_triggers()
    assert emu.stats.calls["get_trigger_list"] == 1
    assert (client.transport.budget.available, client.transport.budget.retries) == (CAPACITY, 0)


def test_derived_clients_share_one_budget(emu: Emulator) -> None:
    """What the workflow derives (a bounded twin for forward steps and one for recovery,
    a client for another host) spends the budget of the client it came from."""
    other_host = emu.endpoint.replace("127.0.0.1", "localhost")
    with emu.client(retry=SHORT_WAITS) as client, client.at(other_host) as elsewhere:
        forward = client.bounded(Deadline.after(60))
        recovery = elsewhere.bounded(Deadline.after(60))
        budget = client.transport.budget
        assert forward.transport.budget is budget
        assert elsewhere.transport.budget is budget and recovery.transport.budget is budget
        assert elsewhere.transport.session is not client.transport.session
        emu.faults.add("get_trigger_list", status=429, retry_after=0, times=PERSISTENT)
        assert attempts_per_call(emu, forward, 1) == [10]
        assert attempts_per_call(emu, recovery, 1) == [3], "the drained budget, not a new one"
    with emu.client(retry=SHORT_WAITS) as fresh:
        assert attempts_per_call(emu, fresh, 1) == [10], "a new client, a new budget"


# -- through handler.main and the workflow --------------------------------------------------


@pytest.fixture
def budgets(monkeypatch: pytest.MonkeyPatch) -> list[RetryBudget]:
    """The budget of every client ``handler.main`` builds, in order; its clients retry
    with :data:`SHORT_WAITS`, and the workflow does not pause between confirmation rounds."""
    seen: list[RetryBudget] = []

    class Recording(SecretManagerClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("retry", SHORT_WAITS)
            super().__init__(*args, **kwargs)
            seen.append(self.transport.budget)

    no_pause: Callable[[Rotation, int], bool] = lambda _self, _attempt: True  # noqa: E731
    monkeypatch.setattr(handler, "SecretManagerClient", Recording)
    monkeypatch.setattr(Rotation, "pause", no_pause)
    return seen


def test_each_activation_gets_a_fresh_budget(emu: Emulator, budgets: list[RetryBudget]) -> None:
    """A warm process serves many activations: what one spent must not carry over."""
    with emu.client() as client:
        sid, token = executed_job(emu, client)
    emu.faults.add("*", status=429, retry_after=0, times=PERSISTENT)
    sent = []
    for _ in range(2):
        emu.stats.reset()
        result = invoke(emu, sid, token)
        assert result["ok"] is False and result["error"]["code"] == "API_UNAVAILABLE", result
        sent.append(dict(emu.stats.calls))
    # detail takes its ten attempts; start (to end the job) and the chain (an earlier
    # pending value?) get three each; then the job is left running, never failed blind.
    expected = {"get_secret_detail": 10, "start_rotation_job": 3, "get_secret_value": 3}
    assert sent == [expected, expected]
    assert len(budgets) == 2 and budgets[0] is not budgets[1]
    assert budgets[0].retries == budgets[1].retries == 13


@pytest.mark.parametrize("fault", ["429", "503", "reset"])
def test_a_rotation_under_a_persistent_fault_on_complete_sends_at_most_the_bound(
    emu: Emulator, budgets: list[RetryBudget], fault: str
) -> None:
    """Complete fails at every attempt: its outcome is unknown, so the workflow confirms
    it: six rounds of (read the chain, complete again), then leaves the job for a resume.
    Sixteen logical calls: detail, start, pending, complete, and the six rounds; nine of
    them succeed. The budget bounds their retries (before it: 61 requests under a 429)."""
    with emu.client() as client:
        sid, token = executed_job(emu, client)
    emu.faults.add("complete_rotation_job", times=PERSISTENT, **FAULTS[fault])
    emu.stats.reset()
    result = invoke(emu, sid, token)
    assert result["error"]["code"] == "COMPLETE_UNCONFIRMED", result
    assert result["job"] == "running" and result["leftForRetry"] is True
    retries = worst_case_retries(
        successes=9,
        failing_calls=7,
        attempts_per_call=10 if fault == "429" else 5,
        no_answer=fault == "reset",
    )
    bound = 16 + retries
    assert bound == {"429": 31, "503": 31, "reset": 23}[fault]
    sent = sum(emu.stats.calls.values())
    assert sent <= bound
    assert emu.stats.calls["complete_rotation_job"] <= 7 + retries
    assert emu.stats.calls["get_secret_value"] == 6, "every confirmation round ran"
    assert budgets[0].retries == sent - 16


def test_recovery_still_gets_retries_after_a_forward_step_drained_the_budget(
    emu: Emulator, budgets: list[RetryBudget]
) -> None:
    """Get Secret Detail is throttled for ten attempts (all it may take): one retry's
    worth is left. ``fail`` then meets two 503s: the bucket pays one retry, the recovery
    allowance the other, and the job ends failed instead of being left running."""
    with emu.client() as client:
        sid, token = executed_job(emu, client)
    emu.faults.add("get_secret_detail", status=429, retry_after=0, times=10)
    emu.faults.add("fail_rotation_job", status=503, times=2)
    emu.stats.reset()
    result = invoke(emu, sid, token)
    assert result["error"]["code"] == "API_UNAVAILABLE", result
    assert result["job"] == "failed", result
    assert emu.stats.calls["get_secret_detail"] == 10
    assert emu.stats.calls["fail_rotation_job"] == 3
    assert budgets[0].recovery_left < budgets[0].capacity  # the allowance paid a retry
