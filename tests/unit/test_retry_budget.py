"""The retry budget's arithmetic: what drains it, what refills it, what the recovery
allowance pays, and that the stated bound holds for the sequences a rotation makes.

The same rules over real HTTP (and a whole rotation) are in
``tests/integration/test_retry_budget.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rotation.ncp.budget import (
    CAPACITY,
    NO_ANSWER_COST,
    RECOVERY_ALLOWANCE,
    RETRY_COST,
    RetryBudget,
    worst_case_retries,
)


def failing_call(budget: RetryBudget, attempts: int, *, no_answer: bool = False) -> int:
    """A call whose every attempt fails: the retries the budget pays before it refuses
    (or the call's own attempt limit stops it)."""
    spent = budget.call()
    retries = 0
    while retries < attempts - 1 and spent.take(no_answer=no_answer) is not None:
        retries += 1
    return retries


def test_a_fresh_budget_pays_ten_retries_after_429_or_5xx_then_refuses() -> None:
    budget = RetryBudget()
    assert CAPACITY // RETRY_COST == 10
    spent = budget.call()
    sources = [spent.take(no_answer=False) for _ in range(10)]
    assert sources == ["bucket"] * 10
    assert budget.available == 0
    assert spent.take(no_answer=False) is None, "the call that drained it surfaces"
    assert (budget.retries, budget.refused) == (10, 1)
    assert budget.recovery_left == RECOVERY_ALLOWANCE, "the drainer never touches it"


def test_no_answer_costs_twice_as_much() -> None:
    budget = RetryBudget()
    assert NO_ANSWER_COST == 2 * RETRY_COST
    assert failing_call(budget, attempts=100, no_answer=True) == CAPACITY // NO_ANSWER_COST


def test_successes_refill_the_bucket_up_to_its_capacity() -> None:
    budget = RetryBudget()
    budget.first_attempt_succeeded()
    assert budget.available == CAPACITY, "never above capacity"
    assert failing_call(budget, attempts=100) == 10
    for _ in range(RETRY_COST):
        budget.first_attempt_succeeded()
    assert budget.available == RETRY_COST
    assert failing_call(budget, attempts=100) == 2  # one paid by the refill, one by the allowance


def test_a_call_that_succeeds_after_retries_gets_its_last_retry_back() -> None:
    budget = RetryBudget()
    spent = budget.call()
    spent.take(no_answer=True)
    spent.take(no_answer=False)
    assert budget.available == CAPACITY - NO_ANSWER_COST - RETRY_COST
    spent.succeeded()
    assert budget.available == CAPACITY - NO_ANSWER_COST


def test_after_the_bucket_ran_dry_each_call_still_gets_two_retries_while_the_allowance_lasts() -> (
    None
):
    budget = RetryBudget()
    assert failing_call(budget, attempts=100) == 10  # forward: drains it, then surfaces
    assert [failing_call(budget, attempts=100) for _ in range(3)] == [2, 2, 0]
    assert budget.recovery_left == 0


def test_a_call_that_took_the_last_of_the_bucket_is_topped_up_by_the_allowance() -> None:
    """``fail`` after a forward step left one retry's worth: it still gets its two."""
    budget = RetryBudget()
    spent = budget.call()
    for _ in range(9):
        spent.take(no_answer=False)
    recovery = budget.call()
    assert recovery.take(no_answer=False) == "bucket"
    assert recovery.take(no_answer=False) == "recovery"
    assert recovery.take(no_answer=False) is None, "beyond two, only the bucket pays"


@pytest.mark.parametrize(
    ("capacity", "recovery", "kwargs"),
    [(-1, 20, {}), (50, -1, {}), (50, 20, {"retry_cost": 0}), (50, 20, {"refill": -1})],
)
def test_nonsense_sizes_are_refused(capacity: int, recovery: int, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryBudget(capacity, recovery, **kwargs)


def confirm_loop(no_answer: bool, attempts: int) -> int:
    """The calls a rotation makes when ``complete`` fails at every attempt: detail, start
    and pending go through, complete fails, then six rounds of (read the chain, complete
    again). The retries the budget pays."""
    budget = RetryBudget()
    for _ in range(3):
        budget.first_attempt_succeeded()
    retries = failing_call(budget, attempts, no_answer=no_answer)
    for _ in range(6):
        budget.first_attempt_succeeded()
        retries += failing_call(budget, attempts, no_answer=no_answer)
    return retries


@pytest.mark.parametrize(
    ("no_answer", "attempts"), [(False, 10), (False, 5), (True, 5)], ids=["429", "5xx", "reset"]
)
def test_the_stated_bound_holds_for_a_persistent_fault_on_complete(
    no_answer: bool, attempts: int
) -> None:
    bound = worst_case_retries(
        successes=9, failing_calls=7, attempts_per_call=attempts, no_answer=no_answer
    )
    assert confirm_loop(no_answer, attempts) <= bound
    assert bound == (15 if not no_answer else 7)


def test_the_bound_is_capped_by_each_calls_attempt_limit() -> None:
    """One failing call under 5xx: its five attempts bind, not the budget."""
    assert (
        worst_case_retries(successes=2, failing_calls=1, attempts_per_call=5, no_answer=False) == 4
    )
    assert (
        worst_case_retries(successes=0, failing_calls=3, attempts_per_call=10, no_answer=False)
        == 14
    )


def test_the_readme_states_the_bounds_the_bench_measures_against() -> None:
    """The README's table of bounds is the one ``bench.worst_case`` computes."""
    from bench.worst_case import CALLS, FAULTS  # noqa: PLC0415 - bench only here

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1].isdigit():
            rows[cells[0].split(" (")[0]] = [int(cells[1]), *map(int, cells[2:])]
    by_label = {f.label: f for f in FAULTS}
    columns = [by_label["429, Retry-After 1"], by_label["503"], by_label["reset"]]
    expected = {c.name: [c.logical, *(c.bound(f) for f in columns)] for c in CALLS}
    assert rows == expected
    assert by_label["429, Retry-After 0"].attempts == by_label["429, Retry-After 1"].attempts
