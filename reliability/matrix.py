"""The scenarios: which fault, where, and what the harness does meanwhile.

Secret Manager faults are placed by call: a calibration run (the plain rotation, or a
failure path) records the API calls the action makes, in order, and every call of it
gets every fault kind, addressed as "operation, n-th occurrence" (``after=n``). When the
workflow makes fewer or other calls, the matrix follows; names stay stable because they
name the operation, not the index.

Families:

``baseline``     the plain rotation on each target kind
``sm``           a Secret Manager fault at one call (kinds: :data:`SM_KINDS`)
``kill``         kill -9 of the action while one call is in flight, before or after
                 the call took effect, then a retry with the same token
``db``           database faults: down, a connection reset, the password change dropped
                 or applied with its answer lost, killed mid-change, accounts that refuse
``late``         invocation A is held at one call while invocation B of the same job runs
                 to its end; then A goes on
``race``         two invocations of the same job at once, and the ordered races the
                 issue lists (A's slow password change, A's late Update Pending Stage)
``writer``       another writer replaces pending (Update Pending Stage) while the action
                 waits at one call

The NCP-native kinds go through the same families, with every call of their own APIs in
the list: ``ncp-api-key`` (the Sub Account API's list, create and change-status, STS
caller-identity) gets a kill at each call, lost answers and 5xx at each (create and
disable included), A held at each call while B runs, and two invocations at once; the
harness watches every change of a key (never three active, always a stored pair that
works) and, the job ended, that no active key is stored nowhere. ``clouddb-alternating``
(Cloud DB for MySQL's add/change user over the real MariaDB) gets kills, lost answers
and the race.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from reliability.checks import ScenarioResult
from reliability.databases import Database, MariaDB, PostgreSQL, Redis
from reliability.harness import TIMEOUT_MS, Case, HarnessError, Scenario
from reliability.proxy import FaultProxy

D = TypeVar("D", MariaDB, PostgreSQL, Redis)

#: Faults at one call: fault-plan arguments, and the action timeout (ms) where it matters.
SLOW_TIMEOUT_MS = 3_000
SLOW_DELAY = 3.5
SM_KINDS: dict[str, dict[str, Any]] = {
    "5xx": {"status": 503, "times": 1000},
    "429": {"status": 429, "retry_after": 0.5, "times": 2},
    "reset": {"drop": True},
    "lost": {"lose_response": True},
    "slow": {"delay": SLOW_DELAY},
    "401": {"status": 401, "times": 1000},
    "404": {"status": 404, "times": 1000},
}


@dataclass(frozen=True)
class Call:
    operation: str
    occurrence: int

    @property
    def label(self) -> str:
        return f"{self.operation}#{self.occurrence}"


def calls_of(operations: Iterable[str]) -> list[Call]:
    seen: Counter[str] = Counter()
    calls = []
    for op in operations:
        calls.append(Call(op, seen[op]))
        seen[op] += 1
    return calls


# -- acts ---------------------------------------------------------------------------------


def plain(case: Case) -> None:
    case.run()


def sm_fault(call: Call, kind: str, case: Case) -> None:
    case.fault(call.operation, after=call.occurrence, **SM_KINDS[kind])
    case.run()


def then_sm_fault(trigger: Callable[[Case], None], call: Call, kind: str, case: Case) -> None:
    """A failure path (``trigger``) and a fault at one of its calls."""
    trigger(case)
    case.fault(call.operation, after=call.occurrence, **SM_KINDS[kind])
    case.run()


def slow_after_complete(case: Case) -> None:
    """The first call after ``complete``, whatever it is (the read that verifies), answers
    later than the deadline: the way out must still fit."""
    complete = case.fault("complete_rotation_job", hold=True)
    a = case.start("A")
    case.reached(complete, "complete_rotation_job")
    case.fault("*", **SM_KINDS["slow"])
    complete.release()
    case.finish(a)


def kill_at(call: Call, applied: bool, case: Case) -> None:
    hold = case.fault(call.operation, after=call.occurrence, hold=True, drop=not applied)
    running = case.start("A")
    case.reached(hold, call.label)
    running.kill()
    case.finish(running)
    case.release(hold)


def late_at(call: Call, case: Case) -> None:
    hold = case.fault(call.operation, after=call.occurrence, hold=True)
    a = case.start("A")
    case.reached(hold, call.label)
    case.run("B")
    hold.release()
    case.finish(a)


def writer_at(call: Call, case: Case) -> None:
    hold = case.fault(call.operation, after=call.occurrence, hold=True)
    a = case.start("A")
    case.reached(hold, call.label)
    case.write_pending(case.writer_value())
    hold.release()
    case.finish(a)


def together(case: Case) -> None:
    a, b = case.start("A"), case.start("B")
    case.finish(a)
    case.finish(b)


def slow_set_then_fails(case: Case) -> None:
    """Issue case 1: A's password change is slow; B finishes the job; then A's change fails
    and A recovers."""
    db, proxy = _db(case)
    held = proxy.cut(db.set_marker, hold=True)
    a = case.start("A")
    case.reached(held, "the password change")
    case.run("B")
    held.release()  # dropped with its connection: A's change fails
    case.finish(a)


def late_pending_put(case: Case) -> None:
    """Issue case 3: A's Update Pending Stage lands late, between B's and B's complete."""
    put = case.fault("update_pending_stage", hold=True)
    a = case.start("A")
    case.reached(put, "update_pending_stage")
    complete = case.fault("complete_rotation_job", hold=True)
    b = case.start("B")
    case.reached(complete, "B's complete")
    case.release(put)
    case.finish(a)
    complete.release()
    case.finish(b)


def late_complete(case: Case) -> None:
    """Issue case 2: ``complete`` times out; the action reads the chain (not completed yet)
    and recovers; then the complete lands, before the action's ``fail``."""
    complete = case.fault("complete_rotation_job", hold=True)
    fail = case.faults.add("fail_rotation_job", hold=True)  # not watched: a fix may not fail
    a = case.start("A")
    case.reached(complete, "complete_rotation_job")
    while not fail.reached.is_set() and not a.done:
        time.sleep(0.02)
    case.release(complete)
    fail.release()
    case.finish(a)


# -- database acts -----------------------------------------------------------------------


def _db(case: Case) -> tuple[Database, FaultProxy]:
    if case.db is None or case.proxy is None:
        raise HarnessError("a database scenario on a target without a database")
    return case.db, case.proxy


def _engine(case: Case, kind: type[D]) -> D:
    if not isinstance(case.db, kind):
        raise HarnessError(f"this scenario needs {kind.__name__}")
    return case.db


def db_down(case: Case) -> None:
    _, proxy = _db(case)
    proxy.down()
    case.run()


def db_reset(number: int, case: Case) -> None:
    _, proxy = _db(case)
    proxy.reset(number)
    case.watched.append((proxy, number))
    case.run()


def db_cut(apply: bool, case: Case) -> None:
    db, proxy = _db(case)
    marker = db.commit_marker if apply else db.set_marker
    case.watched.append(proxy.cut(marker, apply=apply))
    case.run()


def refuse_set(case: Case) -> None:
    """The failure-path trigger: the password change is dropped with its connection."""
    db, proxy = _db(case)
    case.watched.append(proxy.cut(db.set_marker))


def complete_unavailable(case: Case) -> None:
    case.fault("complete_rotation_job", status=503, times=1000)


def complete_lost(case: Case) -> None:
    case.fault("complete_rotation_job", lose_response=True)


def db_kill_during_set(apply: bool, case: Case) -> None:
    db, proxy = _db(case)
    held = proxy.cut(db.commit_marker, apply=apply, hold=True)
    case.watched.append(held)
    running = case.start("A")
    case.reached(held, "the password change")
    running.kill()
    case.finish(running)
    held.release()
    held.done.wait(10)


# -- accounts that refuse -------------------------------------------------------------------


def alter_account(clause: str, case: Case) -> None:
    """``ALTER USER ... <clause>`` on the scenario's MariaDB account."""
    _engine(case, MariaDB).execute(f"ALTER USER %s@'%%' {clause}", (case.username,))


def pg_can_login(can: bool, case: Case) -> None:
    _engine(case, PostgreSQL).set_login(case.username, can)


def redis_user(enabled: bool, case: Case) -> None:
    with contextlib.closing(_engine(case, Redis).admin()) as r:
        r.acl_setuser(case.username, enabled=enabled)


def refused_pending(case: Case) -> None:
    """A pending value the server refuses: the user's own name as its password, which
    PostgreSQL's passwordcheck refuses (even sent as a SCRAM verifier)."""
    value = case.writer_value()
    value["password"] = case.username
    case.write_pending(value)


# -- the list ------------------------------------------------------------------------------

#: The calibration runs' results, by scenario name: the calls and connections they made.
Calibrations = dict[str, ScenarioResult]

#: Failure paths whose calls get faults too: name -> (target, trigger).
FAILURE_PATHS: dict[str, tuple[str, Callable[[Case], None]]] = {
    "set-refused": ("mariadb", refuse_set),
    "complete-5xx": ("mariadb", complete_unavailable),
    "complete-lost": ("store-only", complete_lost),
}
FAILURE_KINDS = ("5xx", "lost", "slow", "401")
BASELINES = (
    "store-only", "mariadb", "mariadb-alternating", "postgresql", "postgresql-trust", "redis",
    "redis-dual", "ncp-api-key", "clouddb-alternating",
)  # fmt: skip
#: Full Secret Manager fault matrix on these; the other kinds get the faults that bite most.
SM_FULL = ("store-only", "mariadb")
SM_SOME = {
    "postgresql": ("lost", "slow"), "redis": ("lost", "5xx"), "postgresql-trust": ("lost",),
    "ncp-api-key": ("lost", "5xx"), "clouddb-alternating": ("lost",),
}  # fmt: skip
KILL_TARGETS = (
    "store-only", "mariadb", "postgresql", "redis", "mariadb-alternating", "ncp-api-key",
    "clouddb-alternating",
)  # fmt: skip
LATE_TARGETS = ("store-only", "mariadb", "ncp-api-key")
#: Two invocations of one job at once.
TOGETHER_TARGETS = (
    "store-only", "mariadb", "postgresql", "redis", "ncp-api-key", "clouddb-alternating",
)  # fmt: skip
WRITER_TARGETS = ("store-only", "mariadb", "postgresql")
DB_TARGETS = ("mariadb", "postgresql", "redis")


def calibration_scenarios() -> list[Scenario]:
    """What must run first: the plain rotation per kind, and each failure path alone."""
    found = [Scenario(f"baseline/{t}", t, plain, family="baseline") for t in BASELINES]
    for path, (target, trigger) in FAILURE_PATHS.items():
        act = partial(_alone, trigger)
        found.append(Scenario(f"path/{target}/{path}", target, act, family="path"))
    return found


def _alone(trigger: Callable[[Case], None], case: Case) -> None:
    trigger(case)
    case.run()


class _Builder:
    """Collects scenarios; knows the calls each calibration run made."""

    def __init__(self, calibrated: Calibrations) -> None:
        self.calibrated = calibrated
        self.out: list[Scenario] = []

    def add(self, name: str, target: str, act: Callable[[Case], None], **kw: Any) -> None:
        self.out.append(Scenario(name, target, act, family=name.split("/", 1)[0], **kw))

    def calls(self, name: str) -> list[Call]:
        found = self.calibrated.get(name)
        return calls_of(found.calls) if found is not None and found.ok else []

    def faulted(self, name: str) -> set[str]:
        found = self.calibrated.get(name)
        return found.faulted if found is not None else set()

    def happy(self, target: str) -> list[Call]:
        return self.calls(f"baseline/{target}")

    def until_complete(self, target: str) -> list[Call]:
        """The happy path's calls up to ``complete``: while pending can still be written."""
        calls = self.happy(target)
        ends = [i for i, c in enumerate(calls) if c.operation == "complete_rotation_job"]
        return calls[: ends[0] + 1] if ends else calls

    def connections(self, target: str) -> int:
        found = self.calibrated.get(f"baseline/{target}")
        return found.connections if found is not None and found.ok else 0

    def sm_faults(self) -> None:
        for target in (*SM_FULL, *SM_SOME):
            kinds = tuple(SM_KINDS) if target in SM_FULL else SM_SOME[target]
            for call in self.happy(target):
                for kind in kinds:
                    act = partial(sm_fault, call, kind)
                    name = f"sm/{target}/{call.label}/{kind}"
                    self.add(name, target, act, timeout_ms=timeout_for(kind))
        for target in SM_FULL:
            self.add(f"sm/{target}/after-complete/slow", target, slow_after_complete,
                     timeout_ms=SLOW_TIMEOUT_MS)  # fmt: skip
        for path, (target, trigger) in FAILURE_PATHS.items():
            path_calls = self.calls(f"path/{target}/{path}")
            happy = self.happy(target)
            diverged = next(
                (i for i, c in enumerate(path_calls) if i >= len(happy) or c != happy[i]),
                len(path_calls),
            )
            # The trigger's own operation is the trigger's: a second fault there never strikes.
            trigger_ops = self.faulted(f"path/{target}/{path}")
            for call in path_calls[diverged:]:
                if call.operation in trigger_ops:
                    continue
                for kind in FAILURE_KINDS:
                    self.add(f"sm/{target}/{path}/{call.label}/{kind}", target,
                             partial(then_sm_fault, trigger, call, kind),
                             timeout_ms=timeout_for(kind))  # fmt: skip

    def kills(self) -> None:
        for target in KILL_TARGETS:
            for call in self.happy(target):
                for applied in (False, True):
                    when = "after" if applied else "before"
                    self.add(f"kill/{target}/{call.label}/{when}", target,
                             partial(kill_at, call, applied))  # fmt: skip
        for target in DB_TARGETS:
            for apply in (False, True):
                when = "after" if apply else "before"
                self.add(f"kill/{target}/password-change/{when}", target,
                         partial(db_kill_during_set, apply))  # fmt: skip

    def concurrency(self) -> None:
        for target in LATE_TARGETS:
            for call in self.happy(target):
                self.add(f"late/{target}/{call.label}", target, partial(late_at, call))
        for target in TOGETHER_TARGETS:
            self.add(f"race/{target}/together", target, together)
        for target in DB_TARGETS:
            self.add(f"race/{target}/slow-password-change", target, slow_set_then_fails)
        for target in ("store-only", "mariadb", "ncp-api-key"):
            self.add(f"race/{target}/late-pending", target, late_pending_put)
        for target in DB_TARGETS:
            self.add(f"race/{target}/late-complete", target, late_complete,
                     timeout_ms=SLOW_TIMEOUT_MS)  # fmt: skip
        for target in WRITER_TARGETS:
            for call in self.until_complete(target):
                self.add(f"writer/{target}/{call.label}", target, partial(writer_at, call))

    def database_faults(self) -> None:
        for target in DB_TARGETS:
            self.add(f"db/{target}/down", target, db_down)
            self.add(f"db/{target}/change-dropped", target, partial(db_cut, False))
            self.add(f"db/{target}/change-answer-lost", target, partial(db_cut, True))
            for number in range(self.connections(target)):
                self.add(f"db/{target}/reset-connection-{number}", target,
                         partial(db_reset, number))  # fmt: skip
        self.add("db/mariadb/account-locked", "mariadb", plain,
                 prepare=partial(alter_account, "ACCOUNT LOCK"),
                 repair=partial(alter_account, "ACCOUNT UNLOCK"))  # fmt: skip
        # No repair: an expired password allows SET PASSWORD, all a rotation needs.
        self.add("db/mariadb/password-expired", "mariadb", plain,
                 prepare=partial(alter_account, "PASSWORD EXPIRE"))  # fmt: skip
        self.add("db/postgresql/role-nologin", "postgresql", plain,
                 prepare=partial(pg_can_login, False),
                 repair=partial(pg_can_login, True))  # fmt: skip
        # No repair: the server refuses that value for good; a retry must draw a fresh one.
        self.add("db/postgresql/value-refused", "postgresql", plain, prepare=refused_pending)
        self.add("db/redis/user-off", "redis", plain, prepare=partial(redis_user, False),
                 repair=partial(redis_user, True))  # fmt: skip


def timeout_for(kind: str) -> int:
    """A short action timeout where the fault is an answer later than the deadline."""
    return SLOW_TIMEOUT_MS if kind == "slow" else TIMEOUT_MS


def scenarios(calibrated: Calibrations) -> list[Scenario]:
    """Every scenario but the calibration runs, from the calls they recorded."""
    builder = _Builder(calibrated)
    builder.sm_faults()
    builder.kills()
    builder.concurrency()
    builder.database_faults()
    return builder.out
