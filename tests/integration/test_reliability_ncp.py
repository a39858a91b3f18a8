"""A slice of the fault matrix for the NCP-native kinds (``make reliability`` runs all of
it): an API key pair killed at its create and its disable, their answers lost, two
invocations at once, and Cloud DB alternating users killed after the clone was added.
Each reruns with its story as ``python -m reliability -k NAME -v``. And the harness's own
key checks, shown to fail when a key is lost or left behind."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from reliability import matrix
from reliability.checks import CONVERGE, HARNESS, LOST
from reliability.harness import Case, Scenario, Servers, execute
from reliability.matrix import Call
from reliability.report import table
from rotation.ncp.subaccount import SubAccountClient
from tests.databases import MariaDB

pytestmark = pytest.mark.reliability

CREATE = Call("create_access_key", 0)
DISABLE = Call("change_access_key_status", 0)
ADD_USER = Call("addCloudMysqlUserList", 0)

CASES = [
    Scenario("baseline/ncp-api-key", "ncp-api-key", matrix.plain),
    Scenario("kill/ncp-api-key/create_access_key#0/after", "ncp-api-key",
             partial(matrix.kill_at, CREATE, True)),
    Scenario("kill/ncp-api-key/change_access_key_status#0/before", "ncp-api-key",
             partial(matrix.kill_at, DISABLE, False)),
    Scenario("sm/ncp-api-key/create_access_key#0/lost", "ncp-api-key",
             partial(matrix.sm_fault, CREATE, "lost")),
    Scenario("sm/ncp-api-key/change_access_key_status#0/lost", "ncp-api-key",
             partial(matrix.sm_fault, DISABLE, "lost")),
    Scenario("race/ncp-api-key/together", "ncp-api-key", matrix.together),
    Scenario("kill/clouddb-alternating/addCloudMysqlUserList#0/after", "clouddb-alternating",
             partial(matrix.kill_at, ADD_USER, True)),
]  # fmt: skip


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    found = Servers()
    try:
        yield found
    finally:
        found.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_scenario_holds_the_invariant(servers: Servers, case: Scenario) -> None:
    if case.target == "clouddb-alternating":
        MariaDB().execute("SELECT 1")  # the database tests' server, or the error says why
    result = execute(case, servers, seed=9)
    if HARNESS in result.problems:
        raise RuntimeError("the harness could not run the scenario:\n" + table([result]))
    assert result.ok, "\n" + table([result])
    if case.target == "ncp-api-key":
        assert any("at most 2 active at once" in line for line in result.story), result.story


def disable_active_key(case: Case) -> None:
    """After a rotation, a person disables the stored active key."""
    case.run()
    active = case.chain().active
    assert active is not None and case.sub is not None
    with SubAccountClient(case.emu.credentials, endpoint=case.emu.base_url) as client:
        client.set_active(case.sub.sub_account_id, str(active["accessKey"]), False)


def leave_a_stray_key(case: Case) -> None:
    """After a rotation, a key that no stage stores is left active."""
    case.run()
    assert case.sub is not None
    case.emu.subaccounts.issue_key(case.sub.sub_account_id)


def test_the_key_checks_catch_a_lost_pair_and_a_stray_key(servers: Servers) -> None:
    lost = execute(Scenario("probe/lost", "ncp-api-key", disable_active_key), servers, seed=9)
    assert LOST in lost.problems, lost.story
    assert any("no stored pair worked" in note for note in lost.problems[LOST])
    stray = execute(Scenario("probe/stray", "ncp-api-key", leave_a_stray_key), servers, seed=9)
    assert stray.problems.get(CONVERGE) == ["1 active key(s) stored nowhere after the job"]
