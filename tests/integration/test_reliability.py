"""A representative slice of the fault matrix (``make reliability`` runs all of it).

Each case is a scenario of ``reliability/matrix.py`` under the same name, so one that
fails here reruns with its story as ``python -m reliability -k NAME -v``. The harness runs
the handler in its own process against the emulator and real MariaDB, PostgreSQL (a
throwaway cluster) and Redis, and checks the invariant after every scenario: the target
accepts a stored value, the active one once the job has ended; a job left running says
``leftForRetry``; a retry converges; no secret value in any output; no crash.

``ISSUE_9_CASES`` are the failures issue 9 listed, found by this harness against the
workflow before it was fixed (each with the case it reproduces); they hold now.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from functools import partial

import pymysql
import pytest
import redis

from emulator import Emulator
from reliability import matrix
from reliability import servers as servers_module
from reliability.action import ActionRun
from reliability.checks import (
    HARNESS,
    Observation,
    ScenarioResult,
    check_runs,
    check_state,
    find_leaks,
)
from reliability.databases import MariaDB, PostgreSQL, Redis, agrees_with_login
from reliability.harness import TARGETS, TIMEOUT_MS, Scenario, Servers, execute
from reliability.matrix import Call
from reliability.report import table
from reliability.servers import ServerUnavailable, unique
from tests.databases import unavailable

pytestmark = pytest.mark.reliability


def scenario(
    name: str,
    act: matrix.Act,
    *,
    prepare: matrix.Act | None = None,
    repair: matrix.Act | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> Scenario:
    """The matrix's scenario of that name (its second part names the target kind)."""
    target = name.split("/")[1]
    return Scenario(name, target, act, prepare=prepare, repair=repair, timeout_ms=timeout_ms)


GUARD = Call("get_secret_detail", 0)
START = Call("start_rotation_job", 0)
PENDING = Call("update_pending_stage", 0)
COMPLETE = Call("complete_rotation_job", 0)
FAIL = Call("fail_rotation_job", 0)
SLOW = matrix.SLOW_TIMEOUT_MS

CASES = [
    scenario("baseline/mariadb", matrix.plain),
    scenario("baseline/mariadb-alternating", matrix.plain),
    scenario("baseline/postgresql", matrix.plain),
    scenario("baseline/redis-dual", matrix.plain),
    scenario("sm/store-only/update_pending_stage#0/reset",
             partial(matrix.sm_fault, PENDING, "reset")),
    scenario("sm/mariadb/start_rotation_job#0/429", partial(matrix.sm_fault, START, "429")),
    scenario("sm/mariadb/complete_rotation_job#0/lost", partial(matrix.sm_fault, COMPLETE, "lost")),
    scenario("kill/store-only/complete_rotation_job#0/before",
             partial(matrix.kill_at, COMPLETE, False)),
    scenario("kill/mariadb/update_pending_stage#0/after", partial(matrix.kill_at, PENDING, True)),
    scenario("kill/redis/start_rotation_job#0/after", partial(matrix.kill_at, START, True)),
    scenario("kill/postgresql/password-change/after", partial(matrix.db_kill_during_set, True)),
    scenario("late/mariadb/update_pending_stage#0", partial(matrix.late_at, PENDING)),
    scenario("db/mariadb/change-answer-lost", partial(matrix.db_cut, True)),
    scenario("db/redis/down", matrix.db_down),
    scenario("db/postgresql/role-nologin", matrix.plain,
             prepare=partial(matrix.pg_can_login, False),
             repair=partial(matrix.pg_can_login, True)),
]  # fmt: skip

ISSUE_9_CASES = [
    # issue 9: case 1: A's slow password change fails after B finished; A rolls back
    scenario("race/mariadb/slow-password-change", matrix.slow_set_then_fails),
    # issue 9: case 2: complete timed out, read-back, rollback, then complete landed
    scenario("race/mariadb/late-complete", matrix.late_complete, timeout_ms=SLOW),
    # issue 9: case 3: A's late PUT pending replaced B's value before B completed
    scenario("race/mariadb/late-pending", matrix.late_pending_put),
    # issue 9: case 4: another writer replaced pending just before complete
    scenario("writer/mariadb/complete_rotation_job#0", partial(matrix.writer_at, COMPLETE)),
    # issue 9: 401 at guard leaves the job ROTATING without fail or leftForRetry
    scenario("sm/store-only/get_secret_detail#0/401", partial(matrix.sm_fault, GUARD, "401")),
    # issue 9: fail itself failed: the job is left ROTATING without leftForRetry
    scenario("sm/mariadb/set-refused/fail_rotation_job#0/401",
             partial(matrix.then_sm_fault, matrix.refuse_set, FAIL, "401")),
    # issue 9: the way out overruns the deadline: a slow read after complete
    scenario("sm/mariadb/after-complete/slow", matrix.slow_after_complete, timeout_ms=SLOW),
    # issue 9: a server that does not check passwords fools the probe (trust)
    scenario("baseline/postgresql-trust", matrix.plain),
    # issue 9: a refused pending value is reused by every Retry
    scenario("db/postgresql/value-refused", matrix.plain, prepare=matrix.refused_pending),
    # issue 9: an expired password cannot be rotated (SELECT before SET PASSWORD)
    scenario("db/mariadb/password-expired", matrix.plain,
             prepare=partial(matrix.alter_account, "PASSWORD EXPIRE")),
]  # fmt: skip


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    found = Servers()
    try:
        yield found
    finally:
        found.close()


def require(servers: Servers, target: str) -> None:
    """A missing server: a failure in CI, a skip elsewhere (as every database test)."""
    engine = TARGETS[target].engine
    try:
        if engine == "mariadb":
            MariaDB().execute("SELECT 1")
        elif engine == "redis":
            with contextlib.closing(Redis().admin()) as r:
                r.ping()
        elif engine == "postgresql":
            servers.cluster("scram-sha-256")
        elif engine == "postgresql-trust":
            servers.cluster("trust")
    except (pymysql.err.MySQLError, redis.RedisError, ServerUnavailable) as exc:
        unavailable(f"the {engine} server", str(exc) or type(exc).__name__)


def run(servers: Servers, case: Scenario) -> None:
    require(servers, case.target)
    result = execute(case, servers, seed=9)
    if HARNESS in result.problems:
        raise RuntimeError("the harness could not run the scenario:\n" + table([result]))
    assert result.ok, "\n" + table([result])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_scenario_holds_the_invariant(servers: Servers, case: Scenario) -> None:
    run(servers, case)


@pytest.mark.parametrize("case", ISSUE_9_CASES, ids=lambda c: c.name)
def test_scenario_issue_9_lists(servers: Servers, case: Scenario) -> None:
    run(servers, case)


@pytest.mark.parametrize("engine", ["mariadb", "postgresql", "redis"])
def test_the_stored_record_check_agrees_with_a_login(servers: Servers, engine: str) -> None:
    """The harness asks the server's record of a password, not a login (see databases.py):
    on a server that checks passwords both must say the same, or every scenario lies."""
    require(servers, engine)
    db = servers.database(engine)
    user = unique("relchk")
    try:
        db.create_login(user, "Right-Passw0rd-123")
        assert agrees_with_login(db, user, "Right-Passw0rd-123", "Wrong-Passw0rd-456")
    finally:
        db.cleanup()


def test_a_trust_server_is_caught_by_the_record_check(servers: Servers) -> None:
    require(servers, "postgresql-trust")
    db = servers.database("postgresql-trust")
    assert isinstance(db, PostgreSQL)
    user = unique("relchk")
    try:
        db.create_login(user, "Right-Passw0rd-123")
        assert db.logs_in(user, "Wrong-Passw0rd-456")  # trust: anything logs in
        assert not db.accepts(user, "Wrong-Passw0rd-456")
        assert db.accepts(user, "Right-Passw0rd-123")
    finally:
        db.cleanup()


def test_a_held_request_waits_for_its_release() -> None:
    """The emulator's ``hold`` fault: the request arrives, waits, then is served."""
    with Emulator() as emu:
        hold = emu.faults.add("get_trigger_list", hold=True)
        answers: list[object] = []

        def call() -> None:
            with emu.client() as client:
                answers.append(client.list_triggers())

        caller = threading.Thread(target=call)
        caller.start()
        assert hold.wait_reached(60)
        caller.join(0.2)
        assert caller.is_alive() and not answers  # held (until released, or for 60 s)
        hold.release()
        caller.join(60)
        assert answers == [()]


# -- the checks themselves can fail ------------------------------------------------------------


def test_a_value_in_any_output_is_a_leak() -> None:
    quiet = ActionRun("A", result={"ok": True}, stdout='{"event":"rotation.end"}')
    talkative = ActionRun("B", result={"ok": True}, stderr="password=Sekret-Value-0001")
    assert find_leaks([quiet, talkative], {"Sekret-Value-0001", "short"}) == ["B stderr"]
    escaped = ActionRun("C", result={"error": {"message": 'quote"Sekret-Value-0002'}})
    assert find_leaks([escaped], {'quote"Sekret-Value-0002'}) == ["C result"]


def test_a_run_without_a_result_is_a_crash_unless_the_harness_killed_it() -> None:
    result = ScenarioResult("x")
    check_runs(result, [ActionRun("A", status="killed"), ActionRun("B", status="timeout")])
    assert result.problems == {"crash": ["B: timeout (exit None), no result"]}


def test_a_target_on_no_stored_value_is_a_lost_credential() -> None:
    result = ScenarioResult("x")
    check_state(result, Observation("held", "ROTATING", False, True, has_pending=True))
    assert result.ok  # on pending, while the job runs: fine
    check_state(result, Observation("ended", "ROTATION_FAILED", False, True, has_pending=True))
    check_state(result, Observation("lost", "ROTATING", False, False, has_pending=True))
    assert [note.split(":")[0] for note in result.problems["lost"]] == ["ended", "lost"]


def test_a_cluster_whose_port_is_taken_starts_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between "this port is free" and the server's bind, another suite on the machine may
    take it: the cluster then tries the next free port instead of failing the run."""
    if servers_module.pg_bindir() is None:
        unavailable("a throwaway PostgreSQL cluster", "initdb and pg_ctl are not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ports = [taken.getsockname()[1]]
        real = servers_module.free_port
        monkeypatch.setattr(servers_module, "free_port", lambda: ports.pop() if ports else real())
        cluster = servers_module.start_pg_cluster("trust")  # the port taken: not unavailable
        try:
            assert not ports and cluster.port != taken.getsockname()[1]
            assert cluster.run("SELECT 1") == [[1]]
        finally:
            cluster.stop()


def test_the_same_scenario_twice_at_once_shares_no_login(servers: Servers) -> None:
    """Other checkouts on the machine run the same scenarios on the same MariaDB at the
    same time (same name, same seed): each run must have logins of its own."""
    require(servers, "mariadb")
    case = scenario("baseline/mariadb", matrix.plain)
    results: list[ScenarioResult] = []
    runs = [threading.Thread(target=lambda: results.append(execute(case, servers, seed=9)))
            for _ in range(2)]  # fmt: skip
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(100)  # a bound for a hung run only: each takes about a second
    assert not any(t.is_alive() for t in runs) and len(results) == 2
    assert all(r.ok for r in results), "\n" + table(results)
