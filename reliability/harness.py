"""One scenario, start to end: set up, act, settle, check, retry, check again.

A :class:`Case` holds everything one scenario touches: its own emulator (so faults, call
counts and known values are its own), the real database behind a :class:`FaultProxy`, a
fresh user and secret, and every activation it ran. Scenarios (``matrix.py``) only say
what happens during the first run; what follows is the same for all of them
(:func:`execute`): the checks of ``checks.py`` after the first run; then, if the job is
still running, the action again with the same token, and if the job failed, an
operator's Retry Rotation Job (after the scenario's repair); the checks again; and the
job must end completed with the target accepting active.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator import Emulator
from emulator.faults import Fault, FaultPlan
from emulator.subaccount import SubAccount
from reliability.action import ActionRun, RunningAction, start_action
from reliability.checks import (
    CONVERGE,
    HARNESS,
    LEAK,
    LEFT,
    LOST,
    Observation,
    ScenarioResult,
    check_runs,
    check_state,
    find_leaks,
    run_summary,
)
from reliability.databases import Database, MariaDB, PostgreSQL, Redis
from reliability.proxy import Cut, FaultProxy
from reliability.servers import PgCluster, ServerUnavailable, start_pg_cluster
from rotation.ncp.admin_models import CreateSecretRequest
from rotation.ncp.models import SecretChain, SecretValue
from rotation.ncp.secretmanager import SecretManagerClient

TIMEOUT_MS = 8_000
#: The runs after the scenario (the retry with the same token, the operator's Retry): no
#: fault is left, only the load of the machine, which can push a retry past 8 s. Both
#: runs and the first still fit pytest's 120 s limit on a scenario that hangs.
CONVERGE_TIMEOUT_MS = 30_000
#: Upper bounds on waits for an event that comes within a second when all is well: only a
#: broken run waits this long, so a loaded machine never turns them into a failure.
WAIT_REACHED = 60.0
WAIT_LANDED = 60.0


@dataclass(frozen=True)
class TargetKind:
    name: str
    engine: str | None  # None: store-only
    strategy: str | None = None
    admin: bool = False
    targets: tuple[str, ...] = ("password",)
    #: An NCP API the rotation goes through: ``subaccount`` (the sub account's access
    #: keys are the target) or ``clouddb`` (Cloud DB for MySQL in front of the database).
    service: str | None = None


TARGETS = {
    t.name: t
    for t in (
        TargetKind("store-only", None),
        TargetKind("mariadb", "mariadb"),
        TargetKind(
            "mariadb-alternating",
            "mariadb",
            "alternating-users",
            admin=True,
            targets=("username", "password"),
        ),
        TargetKind("postgresql", "postgresql"),
        TargetKind("postgresql-trust", "postgresql-trust"),
        TargetKind("redis", "redis"),
        TargetKind("redis-dual", "redis", "dual-password"),
        TargetKind("ncp-api-key", None, targets=("accessKey", "secretKey"), service="subaccount"),
        TargetKind(
            "clouddb-alternating",
            "mariadb",
            "alternating-users",
            targets=("username", "password"),
            service="clouddb",
        ),
    )
}


class Servers:
    """The database servers of one harness run; throwaway clusters start on first use."""

    def __init__(self) -> None:
        self._clusters: dict[str, PgCluster | str] = {}
        self._lock = threading.Lock()

    def cluster(self, auth: str) -> PgCluster:
        with self._lock:
            return self._cluster(auth)

    def _cluster(self, auth: str) -> PgCluster:
        if auth not in self._clusters:
            try:
                # passwordcheck: a server that refuses some passwords (one equal to the
                # user name, even as a SCRAM verifier), for the "refused value" scenarios.
                preload = "passwordcheck" if auth == "scram-sha-256" else ""
                self._clusters[auth] = start_pg_cluster(auth, preload=preload)
            except ServerUnavailable as exc:
                self._clusters[auth] = str(exc)
        found = self._clusters[auth]
        if isinstance(found, str):
            raise ServerUnavailable(found)
        return found

    def database(self, engine: str) -> Database:
        if engine == "mariadb":
            db: Database = MariaDB()
        elif engine == "redis":
            db = Redis()
        elif engine == "postgresql":
            db = PostgreSQL(self.cluster("scram-sha-256"))
        elif engine == "postgresql-trust":
            db = PostgreSQL(self.cluster("trust"))
        else:
            raise ValueError(f"unknown engine {engine}")
        return db

    def close(self) -> None:
        for cluster in self._clusters.values():
            if not isinstance(cluster, str):
                cluster.stop()
        self._clusters.clear()


@dataclass
class Strike:
    """One request a fault struck, and whether the emulator has answered (or dropped) it."""

    fault: Fault
    thread: int  # the emulator thread serving the request, which also records its answer
    answered: bool = False


class WatchedFaults(FaultPlan):
    """The emulator's fault plan, knowing which struck requests are still in the emulator.

    A held or delayed request takes effect late: after the caller was killed, or after
    the action gave up at its deadline. The harness must look only once it has landed,
    whatever the load of the machine; a fixed sleep would guess. So each strike notes the
    thread serving it, and :meth:`answered_by` (called as the emulator records an answer,
    in that same thread; :meth:`Case.setup` installs it) marks it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.struck: list[Strike] = []
        self._changed = threading.Condition()

    def take(self, operation: str) -> Fault | None:
        fault = super().take(operation)
        if fault is not None:
            with self._changed:
                self.struck.append(Strike(fault, threading.get_ident()))
        return fault

    def answered_by(self, thread: int) -> None:
        """The emulator answered the request this thread serves (one at a time)."""
        with self._changed:
            for strike in self.struck:
                if strike.thread == thread:
                    strike.answered = True
            self._changed.notify_all()

    def wait_answered(self, which: Callable[[Strike], bool], timeout: float) -> bool:
        """Block until every strike ``which`` selects has been answered."""
        with self._changed:
            return self._changed.wait_for(
                lambda: all(s.answered for s in self.struck if which(s)), timeout
            )


class Case:
    """The state of one scenario run, and the moves scenarios are written with."""

    def __init__(self, name: str, kind: TargetKind, servers: Servers, seed: int) -> None:
        self.name = name
        self.kind = kind
        self.servers = servers
        self.rng = random.Random(f"{seed}/{name}")
        self.emu = Emulator()
        self.emu.faults = self.faults = WatchedFaults()
        self.db: Database | None = None
        self.proxy: FaultProxy | None = None
        self.params: dict[str, Any] = {}
        self.secret_id = ""
        self.token = ""
        self.username = ""
        self.runs: list[ActionRun] = []
        self.started: list[RunningAction] = []
        self.extra_secrets: set[str] = set()
        self.watched: list[Fault | Cut | tuple[FaultProxy, int]] = []
        self.repairs: list[Callable[[], None]] = []
        self.timeout_ms = TIMEOUT_MS
        #: ``ncp-api-key``: the sub account whose keys rotate, and what was seen wrong at
        #: any change of a key's state (checked after the scenario).
        self.sub: SubAccount | None = None
        self.key_problems: list[str] = []

    # -- set up and tear down -----------------------------------------------------------

    def password(self, prefix: str = "Pw-") -> str:
        alphabet = string.ascii_letters + string.digits + "-_"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(24))

    def setup(self) -> None:
        self.emu.start()
        self._watch_answers()
        pw = self.password()
        self.extra_secrets.add(pw)
        if self.kind.service == "subaccount":
            value: dict[str, Any] = self.setup_api_key()
        elif self.kind.engine is None:
            value = {"engine": "store-only", "username": "app", "password": pw}
        else:
            self.db = self.servers.database(self.kind.engine)
            self.proxy = FaultProxy(self.db.upstream)
            # Cloud DB names are at most 16 characters, "_clone" included
            self.username = unique_login(7 if self.kind.service == "clouddb" else 10)
            self.db.create_login(self.username, pw)
            value = self.db.value(self.username, pw, self.proxy.port)
            if self.kind.strategy:
                value["strategy"] = self.kind.strategy
            if self.kind.strategy == "alternating-users":
                self.db.track(self.username + "_clone")
            if self.kind.service == "clouddb":
                value.update(self.setup_clouddb())
        with self.client() as client:
            if self.kind.admin:
                assert self.db is not None
                admin_name, admin_pw = self.db.create_admin()
                self.extra_secrets.add(admin_pw)
                admin = {"username": admin_name, "password": admin_pw}
                admin_id = self.create_secret(client, admin, ("password",))
                self.params["target"] = {"adminSecretId": admin_id}
            trigger = self.emu.backend.register_trigger(f"t{self.rng.randrange(10**8)}")
            targets, trigger_id = self.kind.targets, trigger.trigger_id
            self.secret_id = self.create_secret(client, value, targets, trigger_id)
            client.execute_rotation_job(self.secret_id)
            self.token = self.newest_token(client)

    def _watch_answers(self) -> None:
        """Tell the fault plan about every answer, from the thread that served it."""
        stats = self.emu.stats
        record, faults = stats.record, self.faults

        def recorded(*args: Any, **kwargs: Any) -> None:
            record(*args, **kwargs)
            faults.answered_by(threading.get_ident())

        stats.record = recorded  # type: ignore[method-assign]

    def setup_api_key(self) -> dict[str, Any]:
        """A sub account with one key, the action's target settings for it, and a watch
        on every change of its keys: never more than two active, and a stored pair
        (active or pending) the gateway accepts."""
        self.sub = self.emu.subaccounts.add_sub_account(f"rel{self.rng.randrange(10**8)}")
        access, secret = self.emu.subaccounts.issue_key(self.sub.sub_account_id)
        self.params["target"] = {
            "subAccountEndpoint": self.emu.base_url,
            "stsEndpoint": self.emu.base_url,
            # The scenario's sub account holds this secret's keys alone (README): a key
            # a killed run made and stored nowhere is disabled by the next run.
            "strayKeys": "disable",
            "settleSeconds": 2,
        }
        self.emu.subaccounts.listeners.append(self.watch_keys)
        return {"engine": "ncp-api-key", "subAccountId": self.sub.sub_account_id,
                "accessKey": access, "secretKey": secret}  # fmt: skip

    def watch_keys(self) -> None:
        assert self.sub is not None
        if self.sub.active_count > 2:
            self.key_problems.append(f"{self.sub.active_count} keys active at once")
        if not self.secret_id:
            return
        with self.emu.backend.lock:
            secret = self.emu.backend.secrets[self.secret_id]
            stored = [secret.chain.get(stage) for stage in ("active", "pending")]
        values = [SecretValue(json.loads(text)) for text in stored if text]
        if not any(self.accepts(v) for v in values):
            self.key_problems.append("at a change of a key, no stored pair worked")

    def setup_clouddb(self) -> dict[str, Any]:
        """A Cloud DB for MySQL instance over the scenario's MariaDB, knowing its user."""
        assert self.db is not None
        admin, admin_pw = self.db.create_admin()
        self.extra_secrets.add(admin_pw)
        # A poll well after SETUP ends and one well before: two polls per change, the
        # same in every run, so the calibration's calls are the scenarios' calls.
        self.emu.clouddb.setup_seconds = 0.25
        host, port = self.db.upstream
        number = self.emu.clouddb.add_instance(
            "mysql", host=host, port=port, admin_user=admin, admin_password=admin_pw
        )
        self.emu.clouddb.add_user(number, self.username, hostIp="%", authority="CRUD",
                                  isSystemTableAccess=False)  # fmt: skip
        self.params["target"] = {"cloudDbEndpoint": self.emu.base_url, "pollSeconds": 0.75}
        return {"engine": "ncp-clouddb-mysql", "cloudDbInstanceNo": number, "regionCode": "KR"}

    def create_secret(
        self,
        client: SecretManagerClient,
        value: Mapping[str, Any],
        targets: tuple[str, ...],
        trigger_id: str | None = None,
    ) -> str:
        request = CreateSecretRequest(
            secret_name=f"rel{self.rng.randrange(10**8):08d}",
            value=value,
            rotation_targets=targets,
            trigger_id=trigger_id,
        )
        return client.create_secret(request).secret_id

    def newest_token(self, client: SecretManagerClient) -> str:
        entries = client.get_secret_logs(self.secret_id).entries
        return str([e["jobToken"] for e in entries if "jobToken" in e][-1])

    def client(self) -> SecretManagerClient:
        return self.emu.client()

    def close(self) -> None:
        for running in self.started:  # a scenario that broke off may leave one behind
            if not running.done:
                running.kill()
                running.proc.wait()
        self.faults.clear()
        if self.proxy is not None:
            self.proxy.close()
        with contextlib.suppress(Exception):
            self.emu.stop()
        if self.db is not None:
            with contextlib.suppress(Exception):
                self.db.cleanup()

    # -- moves ----------------------------------------------------------------------------

    def start(self, label: str = "A", token: str | None = None) -> RunningAction:
        running = start_action(
            label,
            self.emu.action_params(self.params),
            secret_id=self.secret_id,
            job_token=token or self.token,
            timeout_ms=self.timeout_ms,
        )
        self.started.append(running)
        return running

    def finish(self, running: RunningAction) -> ActionRun:
        run = running.wait()
        self.runs.append(run)
        return run

    def run(self, label: str = "A", token: str | None = None) -> ActionRun:
        return self.finish(self.start(label, token))

    def fault(self, operation: str, **kwargs: Any) -> Fault:
        fault = self.faults.add(operation, **kwargs)
        self.watched.append(fault)
        return fault

    def reached(self, hold: Fault | Cut, what: str) -> None:
        """Wait until a request is held; give up at once if every action has ended (it
        never will be), and after :data:`WAIT_REACHED` only if one hangs."""
        end = time.monotonic() + WAIT_REACHED
        while not hold.wait_reached(0.05):
            if all(running.done for running in self.started):
                if hold.wait_reached(0):  # reached just before the action ended
                    return
                raise HarnessError(f"the action ended before it reached {what}")
            if time.monotonic() >= end:
                raise HarnessError(f"the action never reached {what}")

    def release(self, fault: Fault) -> None:
        """Let a held request go on, and wait until the emulator has answered (or dropped) it."""
        fault.release()
        if not self.faults.wait_answered(lambda s: s.fault is fault, WAIT_LANDED):
            raise HarnessError(f"a released {fault.operation} never landed")

    def writer_value(self) -> dict[str, Any]:
        """Another writer's pending value: active with fresh rotation targets."""
        chain = self.chain()
        assert chain.active is not None
        value = dict(chain.active)
        for key in self.kind.targets:
            value[key] = self.password("Wr-")
        return value

    def write_pending(self, value: Mapping[str, Any]) -> None:
        """Update Pending Stage with the job's token, as another writer would."""
        with self.client() as client:
            client.start_rotation_job(self.secret_id, self.token)  # repeatable; needed first
            client.update_pending_stage(self.secret_id, self.token, SecretValue(dict(value)))

    def settle(self) -> None:
        """Wait for late effects (delayed requests), lift every fault, and wait for what
        that lets go (held requests and statements) to land: then the state is final."""
        if not self.faults.wait_answered(lambda s: s.fault.delay > 0, WAIT_LANDED):
            raise HarnessError("a delayed request never landed")
        for item in self.watched:
            if not fired(item, self.faults):
                raise HarnessError("a fault of this scenario never struck (the path changed?)")
        self.faults.clear()
        if self.proxy is not None:
            self.proxy.heal()
            if not self.proxy.wait_settled(WAIT_LANDED):
                raise HarnessError("a held database statement never landed")
        if not self.faults.wait_answered(lambda s: True, WAIT_LANDED):
            raise HarnessError("a held request never landed")

    # -- looking -------------------------------------------------------------------------

    def chain(self) -> SecretChain:
        return SecretChain.from_api(self.emu.backend.get_values(self.secret_id))

    def phase(self) -> str:
        return str(self.emu.backend.get_detail(self.secret_id)["rotationPhase"])

    def accepts(self, value: SecretValue | None) -> bool | None:
        if self.sub is not None and value is not None:
            access, secret = value.get("accessKey"), value.get("secretKey")
            if not isinstance(access, str) or not isinstance(secret, str):
                return False
            return self.emu.subaccounts.secret_for(access) == secret
        if self.db is None or value is None:
            return None
        username, pw = value.get("username"), value.get("password")
        if not isinstance(username, str) or not isinstance(pw, str):
            return False
        return self.db.accepts(username, pw)

    def observe(self, when: str) -> Observation:
        chain = self.chain()
        return Observation(
            when=when,
            phase=self.phase(),
            accepts_active=self.accepts(chain.active),
            accepts_pending=self.accepts(chain.pending),
            has_pending=chain.pending is not None,
        )

    def secrets(self) -> set[str]:
        return self.emu.known_secret_values | self.extra_secrets


def unique_login(length: int = 10) -> str:
    """A login name no other run shares. The database servers are the machine's: another
    checkout's suite, or ``make reliability`` beside ``make test``, runs the same scenario
    at the same moment, and a name drawn from the seeded generator (the same for a
    scenario every time) made its CREATE USER fail, or its cleanup drop ours mid-run.
    Lowercase letters and digits: valid unquoted on every engine, and with ``_clone``."""
    return "rel" + secrets.token_hex(5)[:length]


class HarnessError(Exception):
    """The harness could not run the scenario as written (not a finding about the product)."""


def fired(item: Fault | Cut | tuple[FaultProxy, int], plan: FaultPlan) -> bool:
    if isinstance(item, Fault):
        return any(f is item for _, f in plan.injected)
    if isinstance(item, Cut):
        return item.fired
    proxy, number = item
    return number in proxy.reset_done


# -- one scenario -------------------------------------------------------------------------

Act = Callable[[Case], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str
    act: Act
    #: Before the faults: break the account (locked, expired, ...). The repair undoes it.
    prepare: Act | None = None
    repair: Act | None = None
    timeout_ms: int = TIMEOUT_MS
    family: str = ""


def execute(
    scenario: Scenario, servers: Servers, seed: int, *, keep_emulator: bool = True
) -> ScenarioResult:
    """Run one scenario. ``keep_emulator=False`` drops the emulator from
    ``Emulator.created`` afterwards (a long run; the test suite's leak guard wants it)."""
    started = time.monotonic()
    result = ScenarioResult(scenario.name)
    case = Case(scenario.name, TARGETS[scenario.target], servers, seed)
    case.timeout_ms = scenario.timeout_ms
    try:
        case.setup()
        if scenario.prepare is not None:
            scenario.prepare(case)
        case.emu.stats.reset()
        scenario.act(case)
        # A request the gateway's signature check refuses (the decoy pair an API key's
        # rotation probes with) never reaches the fault plan: it is not a call to fault.
        result.calls = [r.operation for r in case.emu.stats.requests if r.status != 401]
        result.connections = case.proxy.connections if case.proxy is not None else 0
        result.faulted = {op for op, _ in case.faults.injected}
        case.settle()
        first = list(case.runs)
        result.story.append("first: " + ", ".join(run_summary(r) for r in first))
        seen = case.observe("after the first run")
        check_state(result, seen)
        ended = [r for r in first if r.status != "killed"]
        if seen.phase == "ROTATING" and ended and not any(r.left_for_retry for r in ended):
            result.add(LEFT, "the job is ROTATING and no activation said leftForRetry")
        case.timeout_ms = CONVERGE_TIMEOUT_MS
        converge(case, scenario, result, seen)
        check_keys(case, result)
    except ServerUnavailable as exc:
        result.add(HARNESS, f"server unavailable: {exc}")
    except HarnessError as exc:
        result.add(HARNESS, str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the matrix
        result.add(HARNESS, f"{type(exc).__name__} in the harness")
    finally:
        check_runs(result, case.runs)
        result.secrets = case.secrets()
        leaks = find_leaks(case.runs, result.secrets)
        if leaks:
            result.add(LEAK, "a secret value appeared in: " + ", ".join(leaks))
        case.close()
        if not keep_emulator:
            with contextlib.suppress(ValueError):
                Emulator.created.remove(case.emu)
        result.duration_s = time.monotonic() - started
    return result


def check_keys(case: Case, result: ScenarioResult) -> None:
    """``ncp-api-key``: what the watch saw, and, the job ended, no active key stored nowhere
    (a slot lost for good) and the stored active pair the only other one active."""
    if case.sub is None:
        return
    for note in sorted(set(case.key_problems)):
        result.add(LOST, note)
    if case.sub.max_active > 2:
        result.add(LOST, f"{case.sub.max_active} keys were active at once")
    chain = case.chain()
    stored = {v.get("accessKey") for v in (chain.previous, chain.active, chain.pending) if v}
    stray = [k for k in case.sub.keys if k.active and k.access_key not in stored]
    if stray and case.phase() == "NONE":
        result.add(CONVERGE, f"{len(stray)} active key(s) stored nowhere after the job")
    result.story.append(
        f"keys: {sum(k.active for k in case.sub.keys)} active of {len(case.sub.keys)}, "
        f"at most {case.sub.max_active} active at once"
    )


def converge(case: Case, scenario: Scenario, result: ScenarioResult, seen: Observation) -> None:
    """Run the job to its end the way an operator would, and check where it lands."""
    if seen.phase == "NONE":
        return
    if scenario.repair is not None:
        scenario.repair(case)
    if seen.phase == "ROTATING":
        run = case.run("retry")
        result.story.append("retry with the same token: " + run_summary(run))
        seen = case.observe("after the retry")
        check_state(result, seen)
    if seen.phase == "ROTATION_FAILED":
        with case.client() as client:
            client.retry_rotation_job(case.secret_id)
            token = case.newest_token(client)
        run = case.run("operator-retry", token)
        result.story.append("Retry Rotation Job: " + run_summary(run))
        seen = case.observe("after Retry Rotation Job")
        check_state(result, seen)
    if seen.phase != "NONE":
        result.add(CONVERGE, f"the job did not complete: {seen.phase}")
    elif seen.accepts_active is False:
        result.add(CONVERGE, "the job completed but the target refuses active")
