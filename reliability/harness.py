"""One scenario, start to end: set up, act, settle, check, retry, check again.

A :class:`Case` holds everything one scenario touches: its own emulator (so faults, call
counts and known values are its own), the real database behind a :class:`FaultProxy`, a
fresh user and secret, and every activation it ran. Scenarios (``matrix.py``) only say
what happens during the first run; the checks are the same for all of them:

* **credential lost**: at any observation the target accepts no value Secret Manager
  stores (active or pending), or the job has ended and the target refuses active;
* **left running without leftForRetry**: after the first run the job is still ROTATING
  and no activation that ended by itself said ``leftForRetry``;
* **retry not converging**: the job still running is run again with the same token; a
  failed job gets an operator's Retry Rotation Job (the harness first repairs what the
  scenario broke). Either must complete the job with the target accepting active;
* **leak**: any stored value, job token or key in any activation's output or result;
* **crash**: an activation without a result (other than one the harness killed, the
  runtime's timeout kill included: the handler must answer before its deadline), an
  ``INTERNAL_ERROR``, or a traceback in the output.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator import Emulator
from emulator.faults import Fault, FaultPlan
from reliability.action import ActionRun, RunningAction, start_action
from reliability.databases import Database, MariaDB, PostgreSQL, Redis
from reliability.proxy import Cut, FaultProxy
from reliability.servers import PgCluster, ServerUnavailable, start_pg_cluster
from rotation.ncp.models import CreateSecretRequest, SecretChain, SecretValue
from rotation.ncp.secretmanager import SecretManagerClient

TIMEOUT_MS = 8_000
WAIT_REACHED = 15.0
LEAK_MIN_LENGTH = 8

LOST, LEFT, CONVERGE, LEAK, CRASH, HARNESS = (
    "lost", "left", "converge", "leak", "crash", "harness",
)  # fmt: skip
CATEGORIES = (LOST, LEFT, CONVERGE, LEAK, CRASH, HARNESS)


@dataclass(frozen=True)
class TargetKind:
    name: str
    engine: str | None  # None: store-only
    strategy: str | None = None
    admin: bool = False
    targets: tuple[str, ...] = ("password",)


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


class WatchedFaults(FaultPlan):
    """The emulator's fault plan, noting when each fault struck (late effects of delays)."""

    def __init__(self) -> None:
        super().__init__()
        self.struck: list[tuple[float, Fault]] = []

    def take(self, operation: str) -> Fault | None:
        fault = super().take(operation)
        if fault is not None:
            self.struck.append((time.monotonic(), fault))
        return fault

    def settled_at(self) -> float:
        """When every delayed request has reached the service."""
        return max((t + f.delay for t, f in self.struck if f.delay), default=0.0)


@dataclass
class Observation:
    when: str
    phase: str
    accepts_active: bool | None  # None: nothing outside Secret Manager to ask
    accepts_pending: bool | None
    has_pending: bool

    def describe(self) -> str:
        def yes(v: bool | None) -> str:
            return "-" if v is None else ("y" if v else "n")

        pending = yes(self.accepts_pending) if self.has_pending else "none"
        return f"{self.phase} target(active={yes(self.accepts_active)}, pending={pending})"


@dataclass
class ScenarioResult:
    name: str
    problems: dict[str, list[str]] = field(default_factory=dict)
    story: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    #: The API calls the first run made, in order, and the database connections it opened.
    calls: list[str] = field(default_factory=list)
    connections: int = 0
    #: Operations a fault of the scenario answered (a failure path's trigger).
    faulted: set[str] = field(default_factory=set)
    #: Every value the scenario must not show, for a last look at the report.
    secrets: set[str] = field(default_factory=set, repr=False)

    def add(self, category: str, note: str) -> None:
        self.problems.setdefault(category, []).append(note)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_summary(run: ActionRun) -> str:
    if run.result is None:
        return f"{run.label}:{run.status}"
    text = f"{run.label}:{run.result.get('outcome')}"
    if run.error_code:
        text += f"/{run.error_code}"
    if run.left_for_retry:
        text += "+leftForRetry"
    return text


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

    # -- set up and tear down -----------------------------------------------------------

    def password(self, prefix: str = "Pw-") -> str:
        alphabet = string.ascii_letters + string.digits + "-_"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(24))

    def setup(self) -> None:
        self.emu.start()
        pw = self.password()
        self.extra_secrets.add(pw)
        if self.kind.engine is None:
            value: dict[str, Any] = {"engine": "store-only", "username": "app", "password": pw}
        else:
            self.db = self.servers.database(self.kind.engine)
            self.proxy = FaultProxy(self.db.upstream)
            self.username = "rel" + "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in
                                            range(8))  # fmt: skip
            self.db.create_login(self.username, pw)
            value = self.db.value(self.username, pw, self.proxy.port)
            if self.kind.strategy:
                value["strategy"] = self.kind.strategy
            if self.kind.strategy == "alternating-users":
                self.db.track(self.username + "_clone")
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
        if not hold.wait_reached(WAIT_REACHED):
            raise HarnessError(f"the action never reached {what}")

    def release(self, fault: Fault) -> None:
        """Let a held request go on, and wait until the emulator has answered (or dropped) it."""
        before = len(self.emu.stats.requests)
        fault.release()
        end = time.monotonic() + 10
        while len(self.emu.stats.requests) <= before and time.monotonic() < end:
            time.sleep(0.01)

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
        """Wait for late effects (delayed requests), then lift every fault."""
        wait = self.faults.settled_at() - time.monotonic()
        if wait > 0:
            time.sleep(wait + 0.3)
        for item in self.watched:
            if not fired(item, self.faults):
                raise HarnessError("a fault of this scenario never struck (the path changed?)")
        self.faults.clear()
        if self.proxy is not None:
            self.proxy.heal()
        time.sleep(0.05)

    # -- looking -------------------------------------------------------------------------

    def chain(self) -> SecretChain:
        return SecretChain.from_api(self.emu.backend.get_values(self.secret_id))

    def phase(self) -> str:
        return str(self.emu.backend.get_detail(self.secret_id)["rotationPhase"])

    def accepts(self, value: SecretValue | None) -> bool | None:
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


class HarnessError(Exception):
    """The harness could not run the scenario as written (not a finding about the product)."""


def fired(item: Fault | Cut | tuple[FaultProxy, int], plan: FaultPlan) -> bool:
    if isinstance(item, Fault):
        return any(f is item for _, f in plan.injected)
    if isinstance(item, Cut):
        return item.fired
    proxy, number = item
    return number in proxy.reset_done


# -- the checks ---------------------------------------------------------------------------


def check_state(result: ScenarioResult, seen: Observation) -> None:
    result.story.append(f"{seen.when}: {seen.describe()}")
    if seen.accepts_active is None:
        return
    stored_ok = bool(seen.accepts_active) or bool(seen.has_pending and seen.accepts_pending)
    if not stored_ok:
        result.add(LOST, f"{seen.when}: the target accepts no stored value")
    elif seen.phase != "ROTATING" and not seen.accepts_active:
        result.add(LOST, f"{seen.when}: job ended ({seen.phase}) but the target refuses active")


def check_runs(result: ScenarioResult, runs: Iterable[ActionRun]) -> None:
    for run in runs:
        if run.status in ("developer error", "timeout"):
            result.add(CRASH, f"{run.label}: {run.status} (exit {run.exit_code}), no result")
        elif run.error_code == "INTERNAL_ERROR":
            result.add(CRASH, f"{run.label}: INTERNAL_ERROR")
        if "Traceback (most recent call last)" in run.stdout + run.stderr:
            result.add(CRASH, f"{run.label}: a traceback in its output")


def leak_forms(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def find_leaks(runs: Iterable[ActionRun], secrets: Iterable[str]) -> list[str]:
    """Where (by label) any secret appears; never the secret itself."""
    wanted = {form for s in secrets if len(s) >= LEAK_MIN_LENGTH for form in leak_forms(s)}
    found = set()
    for run in runs:
        texts = {"stdout": run.stdout, "stderr": run.stderr, "result": json.dumps(run.result)}
        for where, text in texts.items():
            if any(form in text for form in wanted):
                found.add(f"{run.label} {where}")
    return sorted(found)


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
        result.calls = [r.operation for r in case.emu.stats.requests]
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
        case.timeout_ms = TIMEOUT_MS
        converge(case, scenario, result, seen)
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
