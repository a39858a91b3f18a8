"""The one exit rule (issue 15 item 4): every pair of job state and what the target may
hold has exactly one way out, and none of them fails a job whose pending value the target
may hold."""

from __future__ import annotations

import itertools

import pytest

from rotation.exits import Exit, Holds, JobState, decide, leave_reason

J, H, E = JobState, Holds, Exit

EXPECTED = {
    (J.NOT_STARTED, H.UNREAD): E.START,
    (J.NOT_STARTED, H.ACTIVE): E.START,
    (J.NOT_STARTED, H.EARLIER_PENDING): E.START,
    (J.NOT_STARTED, H.PENDING): E.START,
    (J.NOT_STARTED, H.UNKNOWN): E.START,
    (J.REFUSED, H.UNREAD): E.INSPECT,
    (J.REFUSED, H.ACTIVE): E.INSPECT,
    (J.REFUSED, H.EARLIER_PENDING): E.INSPECT,
    (J.REFUSED, H.PENDING): E.INSPECT,
    (J.REFUSED, H.UNKNOWN): E.INSPECT,
    (J.START_UNKNOWN, H.UNREAD): E.READ,
    (J.START_UNKNOWN, H.ACTIVE): E.FAIL,
    (J.START_UNKNOWN, H.EARLIER_PENDING): E.LEAVE,
    (J.START_UNKNOWN, H.PENDING): E.LEAVE,
    (J.START_UNKNOWN, H.UNKNOWN): E.LEAVE,
    (J.STARTED, H.UNREAD): E.LEAVE,
    (J.STARTED, H.ACTIVE): E.FAIL,
    (J.STARTED, H.EARLIER_PENDING): E.LEAVE,
    (J.STARTED, H.PENDING): E.RECOVER,
    (J.STARTED, H.UNKNOWN): E.RECOVER,
}


def test_every_pair_is_listed() -> None:
    assert set(EXPECTED) == set(itertools.product(JobState, Holds))


@pytest.mark.parametrize(("job", "holds"), list(EXPECTED), ids=lambda v: v.value)
def test_the_exit_of_each_state(job: JobState, holds: Holds) -> None:
    assert decide(job, holds) is EXPECTED[job, holds]


@pytest.mark.parametrize(("job", "holds"), list(EXPECTED), ids=lambda v: v.value)
def test_fail_only_when_the_target_holds_active_alone(job: JobState, holds: Holds) -> None:
    """The invariant's rule: ``fail`` may discard the pending stage (NCP does not say it
    keeps it), so it is chosen only when nothing but active can be on the target."""
    if decide(job, holds) is Exit.FAIL:
        assert holds is Holds.ACTIVE


@pytest.mark.parametrize("holds", [Holds.UNREAD, Holds.EARLIER_PENDING])
def test_a_job_left_running_says_why(holds: Holds) -> None:
    reason = leave_reason(JobState.STARTED, holds)
    assert "pending value may be on the target" in reason
