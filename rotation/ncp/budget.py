"""A retry budget: how many retries one invocation may send, whatever the clock says.

The deadline bounds retries by time only. Under a persistent fault that is not enough: a
Complete answered 429 (``Retry-After: 1``) every time made one invocation send 61 calls
before the deadline, and a fleet under a throttle multiplies the load that causes it.
AWS's SDKs bound this with a retry quota, a token bucket per client (botocore's
``RetryQuotaChecker``, "standard" retry mode); this is our own, sized for one invocation.

**The bucket.** It starts full at :data:`CAPACITY` tokens. A retry costs
:data:`RETRY_COST` after an answer that asked for one (429, 5xx) and
:data:`NO_ANSWER_COST` after no answer at all (reset, refused, timed out: each of those
may have held a connection for the whole timeout, and says more about the route than a
429 does). A call that succeeds at its first attempt puts :data:`SUCCESS_REFILL` back; a
call that succeeds after retries gets the cost of its last retry back (the fault has
cleared). Never above capacity. When the bucket cannot pay for a retry, the retry is not
sent: the error surfaces, and the workflow takes its recovery path. The first attempt of
a call is always sent; only retries are budgeted.

50 tokens is ten throttled retries: one call can still take all ten attempts it is
allowed (``RetryPolicy.throttled_attempts``), so a fleet throttled at 20 % loses no more
calls than before (simulated: 429 to 20 % and 503 to 1 % of the attempts of a rotation's
five calls lose the same 33 of 300,000 invocations with the budget as without), while a
persistent fault stops costing retries after ten.

**The recovery allowance.** Forward steps that drain the bucket must not starve what
comes after them: reading the chain after a failure, ``fail``, confirming a ``complete``
of unknown outcome. So a separate :data:`RECOVERY_ALLOWANCE` (20 tokens: four retries
after a 429/5xx, two after no answer) is kept apart and never refilled. It pays only a
call's *first* :data:`RECOVERY_RETRIES_PER_CALL` (2) retries, and only when the bucket
cannot: every call is promised two retries while the allowance lasts, and beyond two
only the bucket pays. The forward call that drains the bucket has taken more than two
retries by then, so its error surfaces (the point of the budget); each call after it,
the recovery path's, still gets up to two.

Why not reserve the allowance for calls marked as recovery? The transport cannot tell
them apart (forward and recovery are both ``bounded()`` twins of one client, and the
same operations, Get Secret Value or Complete, run on both sides), and it need not: the
workflow's forward path stops at its first failing call, so the calls that find the
bucket dry are the recovery path's. A forward call reaches the allowance only when the
bucket is nearly dry as it starts (earlier calls spent it and still succeeded); it then
gets two retries at most, from an allowance that is small and bounded in all.

**The bound.** When ``F`` of an invocation's ``L`` logical calls fail at every attempt
and ``S`` go through, it sends at most ``L + (50 + S) // 5 + min(4, 2F)`` requests under
429/5xx, ``L + (50 + S) // 10 + min(2, 2F)`` under resets, and never more retries than
the calls' own attempt limits allow (:func:`worst_case_retries`). It is counted, not
timed: the same whatever the deadline. Per call of a rotation (at most 31 requests, for
a persistent fault on Complete; 61 before the budget) the numbers are in the README,
measured by ``bench/worst_case.py``.

One budget per invocation: :class:`~rotation.ncp.transport.SignedTransport` makes one per
client, its ``bounded()`` twins and ``SecretManagerClient.at()`` share it, and
``handler.main`` builds a new client, hence a new budget, for every activation. Nothing
is kept at module level: a warm process serves many activations.
"""

from __future__ import annotations

import threading

#: Tokens in a full bucket: ten retries after 429/5xx, five after no answer.
CAPACITY = 50
#: Tokens a retry after 429 or 5xx costs.
RETRY_COST = 5
#: Tokens a retry after no answer (reset, refused, timed out) costs.
NO_ANSWER_COST = 10
#: Tokens a call that succeeds at its first attempt puts back.
SUCCESS_REFILL = 1
#: Tokens kept for the recovery path, apart from the bucket; never refilled.
RECOVERY_ALLOWANCE = 20
#: A call's first this-many retries may be paid by the recovery allowance.
RECOVERY_RETRIES_PER_CALL = 2


class RetryBudget:
    """The retries one invocation may still send, shared by all its clients.

    Thread-safe (one lock): a budget is meant for one invocation, but a CLI session may
    share a client across threads.
    """

    __slots__ = (
        "_lock", "available", "capacity", "no_answer_cost", "recovery_left",
        "recovery_per_call", "refill", "refused", "retries", "retry_cost",
    )  # fmt: skip

    def __init__(
        self,
        capacity: int = CAPACITY,
        recovery: int = RECOVERY_ALLOWANCE,
        *,
        retry_cost: int = RETRY_COST,
        no_answer_cost: int = NO_ANSWER_COST,
        refill: int = SUCCESS_REFILL,
        recovery_per_call: int = RECOVERY_RETRIES_PER_CALL,
    ) -> None:
        if min(capacity, recovery, refill, recovery_per_call) < 0:
            raise ValueError("capacity, recovery, refill and recovery_per_call must be >= 0")
        if min(retry_cost, no_answer_cost) < 1:
            raise ValueError("a retry must cost at least one token")
        self.capacity = capacity
        self.available = capacity
        self.recovery_left = recovery
        self.retry_cost = retry_cost
        self.no_answer_cost = no_answer_cost
        self.refill = refill
        self.recovery_per_call = recovery_per_call
        #: Retries paid for, and retries refused, so far (for logs, tests and the bench).
        self.retries = 0
        self.refused = 0
        self._lock = threading.Lock()

    def cost(self, *, no_answer: bool) -> int:
        return self.no_answer_cost if no_answer else self.retry_cost

    def call(self) -> CallBudget:
        """The budget as one logical call spends it (a call's first attempt is free)."""
        return CallBudget(self)

    def first_attempt_succeeded(self) -> None:
        """A call went through at once: the route is healthy, put a little back."""
        if self.refill:
            with self._lock:
                self.available = min(self.capacity, self.available + self.refill)

    def pay(self, call: CallBudget, cost: int) -> str | None:
        """Charge ``call``'s next retry (see :meth:`CallBudget.take`): from the bucket if
        it holds ``cost``; else from the recovery allowance, if this is one of the call's
        first ``recovery_per_call`` retries and the allowance holds ``cost``."""
        with self._lock:
            if self.available >= cost:
                self.available -= cost
                source: str | None = "bucket"
            elif call.retries < self.recovery_per_call and self.recovery_left >= cost:
                self.recovery_left -= cost
                source = "recovery"
            else:
                self.refused += 1
                return None
            self.retries += 1
            call.retries += 1
            call.last_cost = cost
            return source

    def refund(self, cost: int) -> None:
        """Put ``cost`` back in the bucket (never above capacity)."""
        with self._lock:
            self.available = min(self.capacity, self.available + cost)

    def __repr__(self) -> str:
        return (
            f"RetryBudget(available={self.available}/{self.capacity}, "
            f"recovery_left={self.recovery_left}, retries={self.retries}, "
            f"refused={self.refused})"
        )


class CallBudget:
    """One logical call's dealings with the budget: how many retries it was paid, and
    what the last one cost (refunded if the call then succeeds)."""

    __slots__ = ("budget", "last_cost", "retries")

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget
        #: Retries paid for this call so far, from either source.
        self.retries = 0
        self.last_cost = 0

    def take(self, *, no_answer: bool) -> str | None:
        """Pay for one more retry: ``"bucket"`` or ``"recovery"`` (where it came from), or
        ``None`` when the budget refuses it (the caller must then give up)."""
        return self.budget.pay(self, self.budget.cost(no_answer=no_answer))

    def succeeded(self) -> None:
        """The call went through after retries: its last retry's cost goes back to the
        bucket (AWS's rule: the fault has cleared, so the spend was not waste)."""
        if self.last_cost:
            self.budget.refund(self.last_cost)


def worst_case_retries(
    *,
    successes: int,
    failing_calls: int,
    attempts_per_call: int,
    no_answer: bool,
    capacity: int = CAPACITY,
    recovery: int = RECOVERY_ALLOWANCE,
    retry_cost: int = RETRY_COST,
    no_answer_cost: int = NO_ANSWER_COST,
    refill: int = SUCCESS_REFILL,
    recovery_per_call: int = RECOVERY_RETRIES_PER_CALL,
) -> int:
    """The most retries an invocation can send when ``failing_calls`` logical calls fail
    at every attempt (one fault kind) and ``successes`` calls go through at once.

    Every success refills at most ``refill`` (no call succeeds after a retry, so nothing
    is refunded); the bucket pays ``(capacity + successes * refill) // cost`` retries,
    the recovery allowance ``recovery // cost``, at most ``recovery_per_call`` per call;
    and no call takes more than ``attempts_per_call - 1`` retries, whatever the budget.
    """
    cost = no_answer_cost if no_answer else retry_cost
    from_bucket = (capacity + successes * refill) // cost
    from_recovery = min(recovery // cost, failing_calls * recovery_per_call)
    by_attempts = failing_calls * max(attempts_per_call - 1, 0)
    return min(by_attempts, from_bucket + from_recovery)
