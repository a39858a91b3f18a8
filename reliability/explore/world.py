"""One schedule's world: the clock, Secret Manager, the database, the invocations, and
every step between them.

Each Secret Manager request (:meth:`World.sm_request`, from the in-process wire) and each
database connection or statement (:meth:`World.db_step`, from the simulated engine) is a
step, and the one place where a schedule acts:

1. the invocation is dead (killed by the schedule, or past its deadline): it dies again;
2. requests held back whose time has come land first;
3. the schedule's fault for this event, if one matches, strikes: an error answer, a
   reset, a delay, a request held back, a kill, a second invocation starting here;
4. the request or statement takes effect, and the invariant is checked;
5. a second invocation hands back at its chosen step.

Steps cost simulated time (a few milliseconds each, drawn from the seed), so deadlines,
read timeouts, backoff and ``Retry-After`` all play out as they would, in no real time.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from emulator.secretmanager.models import Secret
from reliability.databases import MARIADB as ADDRESS
from reliability.explore.baton import Actor, Baton, Killed
from reliability.explore.clock import SimClock
from reliability.explore.database import HOST, KIND, PORT, SimServer
from reliability.explore.invariant import Invariant
from reliability.explore.real import KIND as REAL_KIND
from reliability.explore.real import RealServer
from reliability.explore.schedule import (
    ALTERNATING,
    DUAL,
    FIRST,
    MARIADB,
    RETRY,
    STORE_ONLY,
    Fault,
    Schedule,
)
from reliability.explore.secretmanager import (
    REGIONAL,
    REGIONAL_PREFIX,
    Answer,
    ExplorerBackend,
    Hosts,
    Routed,
    injected,
)
from rotation.targets.base import TargetError, TargetSetFailed, TargetUnreachable
from rotation.targets.database import Login

if TYPE_CHECKING:
    from reliability.explore.variant import Variant

ACCESS_KEY = "explorer-access-key"
#: Steps cost this much simulated time (seconds), drawn per step.
SM_LATENCY = (0.004, 0.040)
DB_LATENCY = (0.002, 0.020)


@dataclass
class Landing:
    """A request the client gave up on, still on its way: it takes effect later."""

    label: str
    apply: Callable[[], Any]
    #: Lands before the request with this number arrives (any invocation) ...
    before_request: int | None = None
    #: ... or at the first step at or after this simulated time.
    at_time: float | None = None


@dataclass
class Struck:
    fault: Fault
    actor: str
    event: str


@dataclass
class PhaseState:
    name: str
    counters: Counter[tuple[str, str]] = field(default_factory=Counter)


class World:
    def __init__(self, schedule: Schedule, variant: Variant) -> None:
        self.schedule = schedule
        self.variant = variant
        self.rng = random.Random(f"world/{schedule.seed}")
        self.clock = SimClock()
        self.backend = ExplorerBackend(
            fail_discards_pending=schedule.fail_discards_pending, clock=self.clock.time
        )
        self.secret_key = f"explorer-secret-key-{self.rng.randrange(10**12):012d}"
        self.hosts = Hosts(self.backend, {ACCESS_KEY: self.secret_key})
        self.server: SimServer | RealServer = (
            RealServer(self) if schedule.kind == MARIADB else SimServer()
        )
        #: Counts the database changes (what the fingerprint compares; cheaper than
        #: asking a real server which credentials it accepts).
        self.db_changes = 0
        self.baton = Baton()
        self.invariant = Invariant(self)
        self.phase = PhaseState("setup")
        self.story: list[str] = []
        self.struck: list[Struck] = []
        self.landings: list[Landing] = []
        self.requests_seen = 0
        self.actors: list[Actor] = []
        self.secret_id = ""
        self.token = ""
        self.extra_secrets: set[str] = set()
        self.deadline_kills: list[str] = []
        self._second_started = False

    # -- set up ----------------------------------------------------------------------------

    def password(self, prefix: str) -> str:
        alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(20))

    def setup(self) -> None:
        """A secret on a trigger, its user on the server, one job executed (WAITING)."""
        kind = self.schedule.kind
        password = self.password("Init-")
        self.extra_secrets.add(password)
        value: dict[str, Any] = {"username": "app", "password": password}
        targets = ["password"]
        server = self.server
        if isinstance(server, RealServer):
            server.create(password)
            value = {
                "engine": REAL_KIND, "host": ADDRESS[0], "port": ADDRESS[1], "ssl": "disable",
                "username": server.username, "password": password,
            }  # fmt: skip
        elif kind != STORE_ONLY:
            value |= {"engine": KIND, "host": HOST, "port": PORT, "ssl": "disable"}
            server.users["app"] = {password}
        if kind == DUAL:
            value["strategy"] = "dual-password"
        if kind == ALTERNATING:
            assert isinstance(server, SimServer)
            admin = Login("admin", self.password("Adm-"))
            self.extra_secrets.add(admin.password)
            server.admin = admin
            admin_id = self.create_secret(
                "explorerAdmin", {"username": admin.username, "password": admin.password}
            )
            value |= {"strategy": "alternating-users", "adminSecretId": admin_id}
            targets = ["username", "password"]
        trigger = self.backend.register_trigger("explorer")
        self.secret_id = self.create_secret("explorerApp", value, targets, trigger.trigger_id)
        self.token = self.backend.execute_rotation(self.secret_id).job_token

    def create_secret(
        self,
        name: str,
        value: dict[str, Any],
        targets: list[str] | None = None,
        trigger_id: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "secretName": name,
            "secretType": "BASIC",
            "secretValue": {"value": json.dumps(value), "rotationTargets": targets or ["password"]},
            "protectionKeyType": "DEFAULT",
            "autoRotationYN": "N",
        }
        if trigger_id is not None:
            body["triggerId"] = trigger_id
        return str(self.backend.create_secret(body)["secretId"])

    def args(self, token: str) -> dict[str, Any]:
        """The parameters a deployed action carries, with this job's ids."""
        args: dict[str, Any] = {
            "secretId": self.secret_id,
            "jobToken": token,
            "accessKey": ACCESS_KEY,
            "secretKey": self.secret_key,
            "timeoutSeconds": self.schedule.timeout_s,
        }
        if self.schedule.endpoint_configured:
            args["secretManagerEndpoint"] = REGIONAL + REGIONAL_PREFIX
        if self.schedule.generator != "local":
            args["policy"] = {"generator": self.schedule.generator}
        return args

    # -- looking -----------------------------------------------------------------------------

    def close(self) -> None:
        """Drop what the schedule made outside the process (the real share's user)."""
        if isinstance(self.server, RealServer):
            self.server.close()

    def secret(self) -> Secret:
        return self.backend.secrets[self.secret_id]

    def fingerprint(self) -> tuple[Any, ...]:
        secret = self.secret()
        job = secret.job
        return (
            secret.chain.get("active"),
            secret.chain.get("pending"),
            secret.phase,
            None if job is None else (job.token, job.started, job.outcome),
            self.db_changes,
        )

    def note(self, line: str) -> None:
        self.story.append(f"{self.clock.now:8.3f}s {self.phase.name:<6} {line}")

    # -- invocations -------------------------------------------------------------------------

    def actor(self, label: str, token: str, phase: str) -> Actor:
        from reliability.explore.invocation import invocation  # noqa: PLC0415 - a cycle

        actor = Actor(label, lambda: None, phase)
        actor.body = invocation(self, actor, token)
        actor.extra["started_at"] = self.clock.now
        actor.extra["steps"] = 0
        self.actors.append(actor)
        return actor

    def run_phase(self, phase: str, label: str, token: str) -> list[Actor]:
        """Run one invocation (and the second one, if the schedule starts it) to the end."""
        self.phase = PhaseState(phase)
        first = self.actor(label, token, phase)
        self.note(f"{label} invoked")
        second = phase == FIRST and any(f.action == "second" for f in self.schedule.faults)
        self.baton.run(first, alone=not second)
        return [a for a in self.actors if a.phase == phase]

    def settle(self) -> None:
        """Every request still held back lands now, in the order it was sent."""
        while self.landings:
            self.land(self.landings.pop(0))

    def current(self) -> Actor:
        actor = self.baton.current
        assert actor is not None, "a step outside any invocation"
        return actor

    def alive(self, actor: Actor) -> None:
        """Dead invocations stay dead; one past its deadline is killed, as the runtime
        kills an action at its timeout."""
        if actor.extra.get("dead"):
            raise Killed
        limit = actor.extra["started_at"] + self.schedule.timeout_s
        if self.clock.now > limit:
            actor.extra["dead"] = True
            if not actor.extra.get("suspended"):
                self.deadline_kills.append(actor.label)
            self.note(f"{actor.label} killed by the runtime: past its deadline")
            raise Killed

    def die(self, actor: Actor, where: str) -> None:
        actor.extra["dead"] = True
        self.note(f"{actor.label} killed {where}")
        raise Killed

    def start_second(self, fault: Fault, where: str) -> None:
        if self._second_started:
            return
        self._second_started = True
        me = self.current()
        other = self.actor("B", self.token, self.phase.name)
        other.extra["back_at"] = fault.back_at
        other.extra["resume_at"] = fault.resume_at
        self.note(f"B invoked with the same job token, {where}")
        me.extra["suspended"] = True
        self.baton.start_other(other)

    def step_taken(self, actor: Actor) -> None:
        """Count the invocation's steps; at its hand-over step, let the waiting one run.

        The second invocation pauses at its ``back_at``-th step; the first then goes on
        for ``resume_at`` steps (or to its end) and hands the baton back in turn."""
        actor.extra["steps"] += 1
        if actor.extra.get("back_at") != actor.extra["steps"] or not self.baton.waiting:
            return
        actor.extra["back_at"] = None
        self.note(f"{actor.label} pauses at its step {actor.extra['steps']}")
        actor.extra["suspended"] = True
        resume_at = actor.extra.pop("resume_at", None)
        if resume_at is not None:
            other = self.baton.waiting[-1]
            other.extra["back_at"] = other.extra["steps"] + resume_at
        self.baton.yield_to_waiting()
        self.alive(actor)

    # -- faults ----------------------------------------------------------------------------

    def match(self, where: str, operation: str, actor: Actor) -> Fault | None:
        if self.phase.name not in (FIRST, RETRY):
            return None  # later retries run clean
        counters = self.phase.counters
        index = {op: counters[(where, op)] for op in (operation, "*")}
        counters[(where, operation)] += 1
        counters[(where, "*")] += 1
        for fault in self.schedule.faults:
            if fault.phase != self.phase.name or fault.where != where:
                continue
            if fault.operation not in (operation, "*"):
                continue
            n = index[fault.operation]
            if fault.occurrence <= n < fault.occurrence + fault.times:
                if fault.action == "second" and self._second_started:
                    continue
                self.struck.append(Struck(fault, actor.label, f"{where}:{operation}#{n}"))
                return fault
        return None

    # -- landing -----------------------------------------------------------------------------

    def land_due(self) -> None:
        due = [
            landing
            for landing in self.landings
            if (landing.before_request is not None and self.requests_seen >= landing.before_request)
            or (landing.at_time is not None and self.clock.now >= landing.at_time)
        ]
        for landing in due:
            self.landings.remove(landing)
            self.land(landing)

    def land(self, landing: Landing) -> None:
        result = self.effect(landing.apply, None, stale=True, step=f"{landing.label} landed late")
        status = result.status if isinstance(result, Answer) else "ok"
        self.note(f"{landing.label} landed late: {status}")

    def effect(
        self, apply: Callable[[], Any], actor: Actor | None, *, stale: bool, step: str
    ) -> Any:
        """Apply one step; tell the other invocations if it changed anything; check."""
        before = self.fingerprint()
        result = apply()
        if self.fingerprint() != before:
            for other in self.actors:
                if not other.done and (stale or other is not actor):
                    other.interfered = True
        self.invariant.after_step(step, actor, stale=stale)
        return result

    # -- Secret Manager steps ----------------------------------------------------------------

    def sm_request(self, prepared: requests.PreparedRequest, read_timeout: float) -> Answer:
        actor = self.current()
        self.alive(actor)
        self.requests_seen += 1  # this request's number: one held back "before" it lands now
        self.land_due()
        routed = self.hosts.route(prepared, int(self.clock.time() * 1000))
        if isinstance(routed, Answer):
            self.note(f"{actor.label} {prepared.method} -> {routed.status} (gateway)")
            return routed
        operation = routed.operation
        label = f"{actor.label} {operation}"
        started = self.clock.now
        self.clock.advance(self.rng.uniform(*SM_LATENCY))
        fault = self.match("sm", operation, actor)
        self.step_taken(actor)
        if fault is not None:
            self.note(f"{label}: fault {fault.describe()}")
            early = self.before_effect(fault, actor, routed, label, read_timeout)
            if early is not None:
                return early
        answer: Answer = self.effect(routed.apply, actor, stale=False, step=label)
        self.note(f"{label} -> {answer.status}{self.error_code(answer)}")
        if fault is not None:
            if fault.action == "lost":
                raise requests.ConnectionError("connection reset after the request took effect")
            if fault.action == "kill":
                self.die(actor, f"after {operation} took effect")
            if fault.action == "second" and fault.when == "after":
                self.start_second(fault, f"after {label} took effect")
        if self.clock.now - started > read_timeout:
            self.note(f"{label}: the answer came after the client's read timeout")
            raise requests.ReadTimeout("read timed out")
        return answer

    @staticmethod
    def error_code(answer: Answer) -> str:
        error = answer.payload.get("error") if isinstance(answer.payload, dict) else None
        return f" {error.get('errorCode')}" if isinstance(error, dict) else ""

    def before_effect(
        self, fault: Fault, actor: Actor, routed: Routed, label: str, read_timeout: float
    ) -> Answer | None:
        """The part of a fault that comes before the service; an answer ends the request."""
        action = fault.action
        if action == "status":
            assert fault.status is not None
            return injected(fault.status, fault.retry_after)
        if action == "reset":
            raise requests.ConnectionError("connection reset before the request arrived")
        if action == "kill" and fault.when == "before":
            if fault.lands:
                self.hold(label, routed, fault.late_after)
            self.die(actor, f"with {label} in flight")
        if action == "second" and fault.when == "before":
            started = self.clock.now
            self.start_second(fault, f"while {label} is held")
            actor.extra["suspended"] = True
            self.alive(actor)
            if self.clock.now - started > read_timeout:
                # The client gave up long ago; its request lands now, unanswered.
                self.effect(routed.apply, None, stale=True, step=f"{label} (held)")
                self.note(f"{label} landed after the client's read timeout")
                raise requests.ReadTimeout("read timed out")
        if action == "late":
            self.hold(label, routed, fault.late_after)
            if fault.timeout:
                self.clock.advance(read_timeout)
                raise requests.ReadTimeout("read timed out")
            raise requests.ConnectionError("connection reset; the request is still on its way")
        if action == "delay":
            if fault.delay > read_timeout:
                self.clock.advance(read_timeout)
                lands_at = self.clock.now - read_timeout + fault.delay
                self.landings.append(Landing(label, routed.apply, at_time=lands_at))
                raise requests.ReadTimeout("read timed out")
            self.clock.advance(fault.delay)
        return None

    def hold(self, label: str, routed: Routed, after: int) -> None:
        number = self.requests_seen + after
        self.landings.append(Landing(label, routed.apply, before_request=number))

    # -- database steps --------------------------------------------------------------------

    def db_step(
        self,
        operation: str,
        apply: Callable[[], None] | None,
        *,
        what: str = "",
        error: type[TargetError] = TargetSetFailed,
    ) -> None:
        actor = self.current()
        self.alive(actor)
        self.land_due()
        self.clock.advance(self.rng.uniform(*DB_LATENCY))
        label = f"{actor.label} db {operation}" + (f" ({what})" if what else "")
        fault = self.match("db", operation, actor)
        self.step_taken(actor)
        action = fault.action if fault is not None else None
        if fault is not None:
            self.note(f"{label}: fault {fault.describe()}")
        if action == "refuse" and operation == "connect":
            raise TargetUnreachable(f"cannot connect to {HOST}:{PORT} (connection refused)")
        if action == "kill" and fault is not None and fault.when == "before":
            self.die(actor, f"before {label}")
        if action == "second" and fault is not None and fault.when == "before":
            self.start_second(fault, f"while {label} waits")
            self.alive(actor)
        if action in ("cut-before", "refuse"):
            raise (TargetUnreachable if operation == "connect" else error)(
                f"the connection to {HOST}:{PORT} was lost"
            )
        if apply is not None:

            def change() -> None:
                self.db_changes += 1
                apply()

            self.effect(change, actor, stale=False, step=label)
            self.note(f"{label}: server now {self.server.describe()}")
        else:
            self.note(label)
        if action == "cut-after":
            raise (TargetUnreachable if operation == "connect" else error)(
                f"the connection to {HOST}:{PORT} was lost"
            )
        if action == "kill":
            self.die(actor, f"after {label}")
        if action == "second" and fault is not None and fault.when == "after":
            self.start_second(fault, f"after {label}")
