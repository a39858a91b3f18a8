"""The rotation, one method per step, as NCP's process documents it (ARCHITECTURE.md).

    guard      GET detail; refuse DISABLE / REVOKE / DESTROYED; note the phase
    start      POST .../start: the job's chain and rotation targets (the secret is
               ROTATING from here, as NCP documents)
    preflight  the value must be a JSON object holding every rotation target; build the
               target and the value policy
    pending    reuse a pending value only where the target may hold it; else generate and
               PUT .../pending (its answer is the stored value)
    probe/set  the target already accepts pending (and checks passwords)? else set it
    test       prove pending works on the target
    complete   POST .../complete: the chain shifts, pending becomes active
    verify     GET values: active must be what the target holds, else reconcile
    finish     let the target retire what was replaced (dual-credential targets)

Five API calls on the happy path: detail, start, pending, complete, values.

The invariant: at every instant the target accepts at least one credential Secret
Manager stores (active or pending), and once the job has ended, the active one. Hence:

* Every job ends known. Any error leaves through :meth:`Rotation.exit`, which takes the way
  out from :func:`rotation.exits.decide` on two explicit values: ``self.job`` (how the job
  stands) and ``self.holds`` (what the target may hold). A failure before the target is
  touched ends the job (``start`` if needed, then ``fail``) unless an earlier run's
  pending value may be on the target; the result says how the job ended (``job``). A job
  is left running only when the target may hold a pending credential, or Secret Manager
  cannot be reached to end it: then ``leftForRetry`` says why, and ``resume`` finishes it.
  A refused ``fail`` is never the end of the story: the chain is read and the target
  brought onto the stored active value.
* Never roll back blind. Before the target is touched again after a failure, the chain is
  read: if active is already this run's pending (another invocation, or a late
  ``complete``, finished the job) the run converges forward; if another value became
  active, the target is brought onto it; only when active is unchanged is the target
  rolled back to it, and the chain read once more before ``fail``.
* A ``complete`` whose outcome is unknown is never followed by a rollback: it is
  confirmed by reading the chain and sent again while the job still holds this run's
  pending; if time runs out the job is left for a resume.
* Forward steps run on a client bounded by the deadline minus a reserve; recovery shares
  that reserve minus a small exit margin, so the result and ``rotation.end`` are always
  written before the runtime's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from rotation import codes, logs, preflight
from rotation.auth_probe import accepts_any_password, not_enforced_message
from rotation.codes import CodedError
from rotation.exits import Exit, Holds, JobState, decide, leave_reason
from rotation.failures import (
    JobUnusable,
    RotationFailure,
    api_failure,
    as_failure,
    cannot_end,
    job_call_failure,
    outcome_unknown,
    start_failure,
)
from rotation.generate import Generator, PolicySet, generate_values
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import (
    AuthenticationFailed,
    ClientError,
    Forbidden,
    InvalidState,
    NcpError,
    NotFound,
)
from rotation.ncp.models import (
    MAX_VALUE_BYTES,
    NOT_ROTATABLE,
    SecretChain,
    SecretDetail,
    SecretValue,
    SecretValueError,
    Stage,
)
from rotation.ncp.records import Record
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.settings import Settings
from rotation.targets import Change, Target, TargetContext, TargetError, build_target

T = TypeVar("T")

#: How many generated values a target may refuse (``accepts``) before the policy is blamed.
MAX_DRAWS = 10
#: Rounds of "read the chain, send complete again" after a complete of unknown outcome.
CONFIRM_ROUNDS = 6

TargetBuilder = Callable[[Mapping[str, Any] | None, SecretValue, TargetContext], Target]


class StepRecord(Record):
    __slots__ = ("duration_ms", "status", "step")

    def __init__(self, step: str, status: str, duration_ms: float) -> None:
        self.step: Final = step
        self.status: Final = status
        self.duration_ms: Final = duration_ms

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status, "durationMs": self.duration_ms}


class Outcome(Record):
    """How one run ended (:meth:`Rotation.outcome` makes it, the handler shapes it)."""

    __slots__ = (
        "error_code", "error_message", "job", "left_for_retry", "left_reason", "ok",
        "outcome", "secret_name", "steps", "warnings",
    )  # fmt: skip

    def __init__(
        self,
        *,
        ok: bool,
        outcome: str,
        steps: list[StepRecord],
        error_code: str | None,
        error_message: str | None,
        job: str,
        left_for_retry: bool,
        left_reason: str | None,
        warnings: list[dict[str, str]],
        secret_name: str | None,
    ) -> None:
        self.ok: Final = ok
        #: rotated | resumed | skipped | failed
        self.outcome: Final = outcome
        self.steps: Final = steps
        self.error_code: Final = error_code
        self.error_message: Final = error_message
        #: How the job stands at the end: completed | failed | ended | running | unknown.
        self.job: Final = job
        self.left_for_retry: Final = left_for_retry
        self.left_reason: Final = left_reason
        self.warnings: Final = warnings
        #: The secret's name, once the guard has read it (notifications and the CLI show it).
        self.secret_name: Final = secret_name


def reserve_for(deadline: Deadline) -> float:
    """Seconds kept back for recovery and ``fail``: a quarter of the budget, 1 to 15 s."""
    return min(15.0, max(1.0, deadline.remaining() * 0.25))


def exit_margin_for(deadline: Deadline) -> float:
    """Seconds no API call may use: writing the result and ``rotation.end``, and the
    interpreter's exit, need them, on a machine that may be busy: a tenth of the budget,
    0.5 to 1.5 s (``make reliability`` kills an action at its deadline on two loaded
    cores; 0.1 s was not enough there)."""
    return min(1.5, max(0.5, deadline.remaining() * 0.1))


def usable_candidate(
    active: SecretValue, pending: SecretValue | None, keys: tuple[str, ...]
) -> bool:
    """Is ``pending`` a value this rotation may promote (a retried job's, say)?

    Same keys as active, every other key unchanged, every target a new non-empty string.
    """
    if pending is None or set(pending) != set(active):
        return False
    if any(pending[k] != v for k, v in active.items() if k not in keys):
        return False
    return all(
        isinstance(pending.get(k), str) and pending[k] and pending[k] != active.get(k) for k in keys
    )


class Rotation:
    """One invocation's rotation of one secret."""

    def __init__(
        self,
        settings: Settings,
        client: SecretManagerClient,
        *,
        target_builder: TargetBuilder = build_target,
    ) -> None:
        self.settings = settings
        self.sid = settings.secret_id
        self.token = settings.job_token
        self.deadline = settings.deadline
        self.client = client
        #: Clients this run opened itself (another host), closed when it ends.
        self._owned: list[SecretManagerClient] = []
        self.forward = client.bounded(self.deadline.minus(reserve_for(self.deadline)))
        self.recovery_deadline = self.deadline.minus(exit_margin_for(self.deadline))
        self.recovery = client.bounded(self.recovery_deadline)
        self.target_builder = target_builder
        self.steps: list[StepRecord] = []
        self.warnings: list[dict[str, str]] = []
        self.secret_name: str | None = None
        self.target: Target | None = None
        self.ctx: TargetContext | None = None
        #: How the job stands and what the target may hold: the two values every exit is
        #: decided on (:func:`rotation.exits.decide`), set by the steps as they learn them.
        self.job = JobState.NOT_STARTED
        self.holds = Holds.UNREAD
        #: The chain as ``start`` answered it (None until then).
        self.chain: SecretChain | None = None
        #: This run promotes an earlier run's pending value (the outcome says "resumed").
        self.resumed = False
        self._auth_enforced: bool | None = None
        #: The stored pending value as Secret Manager answered it (store-only's test).
        self._stored_pending: SecretValue | None = None

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def step(self, name: str, event: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """A logged step that also lands in the result's ``steps``."""
        with logs.step(name, event, on_end=self._record_step, **fields) as info:
            yield info

    def _record_step(self, name: str, status: str, duration_ms: float) -> None:
        self.steps.append(StepRecord(name, status, duration_ms))

    def outcome(
        self,
        ok: bool,
        outcome: str,
        error: CodedError | None = None,
        *,
        job: str,
        left_reason: str | None = None,
    ) -> Outcome:
        return Outcome(
            ok=ok,
            outcome=outcome,
            steps=self.steps,
            error_code=error.code if error else None,
            error_message=str(error) if error else None,
            job=job,
            left_for_retry=left_reason is not None,
            left_reason=left_reason,
            warnings=self.warnings,
            secret_name=self.secret_name,
        )

    def warn(self, code: str, message: str) -> None:
        self.warnings.append({"code": code, "message": message})

    @staticmethod
    def register(chain: SecretChain) -> None:
        for value in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(value, chain.rotation_targets)

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Outcome:
        try:
            return self._run()
        except Exception as exc:  # noqa: BLE001 - an exit path itself broke: never leave silent
            logs.log.exception("rotation.exit_crash", job_state=self.job.value)
            return self.outcome(
                False,
                "failed",
                as_failure(exc),
                job="running" if self.job is not JobState.NOT_STARTED else "unknown",
                left_reason="an unexpected error ended this run while it ended the job; "
                "resume finishes it",
            )
        finally:
            if self.target is not None:
                self.target.close()
            for client in self._owned:
                client.close()

    def _run(self) -> Outcome:
        """The steps; any error, expected or not, leaves through :meth:`exit`."""
        change: Change | None = None
        try:
            self.guard()
            chain = self.start()
            policies = self.preflight(chain)
            change = self.pending(chain, policies)
            self.apply(change)
            self.check(change)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the exit rule decides
            return self.exit(as_failure(exc), change)
        try:
            return self.complete(change)
        except Exception as exc:  # noqa: BLE001 - complete may have been sent: never undo
            failure = as_failure(exc)
            logs.log.exception("rotation.complete_crash", error_code=failure.code)
            return self.left_running(
                RotationFailure(
                    codes.ROTATION_INCOMPLETE,
                    f"{failure.code}: {failure} -- after complete was sent",
                ),
                "complete may have taken effect: the target keeps the pending value, stored "
                "as pending or already as active",
            )

    # -- before the target is touched -----------------------------------------------------

    def guard(self) -> SecretDetail:
        with self.step("guard", "rotation.guard") as info:
            detail = self.read_detail_on_some_host()
            self.secret_name = detail.secret_name
            info.update(
                secret_status=str(detail.status.value),
                rotation_phase=str(detail.rotation_phase.value),
            )
            if detail.notes:  # an answer NCP's pages do not describe: say so, carry on
                logs.log.warning(
                    "ncp.answer.unexpected", operation="get_secret_detail", notes=detail.notes
                )
            if detail.status in NOT_ROTATABLE:
                raise RotationFailure(
                    codes.SECRET_NOT_ROTATABLE,
                    f"the secret is {detail.status.value}; only an enabled secret can rotate",
                )
        return detail

    def read_detail_on_some_host(self) -> SecretDetail:
        """Get Secret Detail on the first host; on 404, once on each other candidate host
        (a secret made before isolated keys lives behind the global host). Costs nothing
        on the happy path: this is the guard's own read."""
        tried: list[str] = []
        for endpoint in self.settings.endpoints or (self.forward.endpoint,):
            if tried:
                self.use_endpoint(endpoint)
            try:
                detail = self.forward.get_secret(self.sid)
            except NotFound:
                tried.append(endpoint)
                logs.log.info("secretmanager.host.not_found", endpoint=endpoint)
                continue
            except NcpError as exc:
                raise api_failure(exc, "read the secret") from None
            if tried:
                logs.log.info("secretmanager.host", endpoint=endpoint, not_found_on=tried)
            return detail
        if len(tried) > 1:
            self.use_endpoint(tried[0])  # report, and end the job, where we started
        raise RotationFailure(
            codes.SECRET_NOT_FOUND,
            f"could not read the secret: no such secret behind {' or '.join(tried)}",
        )

    def use_endpoint(self, endpoint: str) -> None:
        """Talk to another Secret Manager host from now on, with the same budgets."""
        client = self.client.at(endpoint)
        self._owned.append(client)
        self.forward = client.bounded(self.forward.transport.deadline)
        self.recovery = client.bounded(self.recovery_deadline)

    def start(self) -> SecretChain:
        with self.step("start", "rotation.start"):
            return self.send_start(self.forward)

    def send_start(self, client: SecretManagerClient) -> SecretChain:
        """Send ``start`` and record what its answer says: the job's state and whether an
        earlier run's pending value may be on the target. Raises the coded failure when
        ``start`` failed, or answered a value a rotation cannot read."""
        try:
            chain = client.start_rotation_job(self.sid, self.token)
        except SecretValueError as exc:
            self.job, self.holds = JobState.STARTED, Holds.ACTIVE  # no usable pending exists
            raise preflight.unreadable_value(exc) from None
        except NcpError as exc:
            refused = isinstance(exc, ClientError) and not isinstance(
                exc, (AuthenticationFailed, Forbidden)
            )
            self.job = JobState.REFUSED if refused else JobState.START_UNKNOWN
            raise start_failure(exc) from None
        self.job = JobState.STARTED
        self.note_chain(chain)
        return chain

    def note_chain(self, chain: SecretChain) -> None:
        """Keep the chain ``start`` answered; an earlier run's usable pending value in it
        may be on the target until the target says otherwise."""
        self.chain = chain
        self.register(chain)
        earlier = chain.active is not None and usable_candidate(
            chain.active, chain.pending, chain.rotation_targets
        )
        self.holds = Holds.EARLIER_PENDING if earlier else Holds.ACTIVE

    def preflight(self, chain: SecretChain) -> PolicySet:
        """Bad input stops here, before the target is touched; the exit rule ends the job.
        The rules are :mod:`rotation.preflight`'s, the same ``rotation check`` runs."""
        with self.step("preflight", "rotation.preflight") as info:
            active = validate_chain(chain)
            self.ctx = TargetContext(
                secret_id=self.sid,
                deadline=self.forward.transport.deadline,
                register_secret=logs.REDACTOR.register,
                read_secret=self.read_other_secret,
                read_pending=self.read_pending,
                read_chain=self.read_chain,
                credentials=self.settings.credentials,
                retry_budget=self.forward.transport.budget,
            )
            try:
                self.target = self.target_builder(self.settings.target, active, self.ctx)
                policies = preflight.policies_for(self.settings.policy, self.target, chain)
            except CodedError as exc:
                raise RotationFailure(exc.code, str(exc)) from None
            info.update(
                target=self.target.kind,
                keys=list(chain.rotation_targets),
                generator=policies.generator.value,
            )
        return policies

    def read_other_secret(self, secret_id: str) -> SecretValue:
        return preflight.linked_value(
            lambda: self.forward.get_secret_values(secret_id), register=self.register
        )

    def read_pending(self) -> SecretValue | None:
        """This run's stored pending value: Update Pending Stage answered it, so it is not
        read again; a reused value is read back from Secret Manager."""
        if self._stored_pending is not None:
            return self._stored_pending
        try:
            stage = self.recovery.get_secret_stage_value(self.sid, Stage.PENDING)
        except NotFound:
            raise RotationFailure(
                codes.PENDING_MISSING, "the pending value was gone when read back"
            ) from None
        except NcpError as exc:
            raise api_failure(exc, "read the pending value back") from None
        return stage.value

    # -- the pending value ----------------------------------------------------------------

    def pending(self, chain: SecretChain, policies: PolicySet) -> Change:
        active = validate_chain(chain)
        keys = chain.rotation_targets
        assert self.target is not None
        if not self.target.external:
            self.holds = Holds.ACTIVE  # nothing outside Secret Manager can hold a value
        with self.step("pending", "rotation.pending", keys=list(keys)) as info:
            if usable_candidate(active, chain.pending, keys):
                assert chain.pending is not None
                reused = Change(self.sid, active, chain.pending, keys, chain.previous)
                if self.may_hold(reused):
                    info["source"] = "reused"
                    self.resumed = True
                    logs.log.info(
                        "rotation.resume", note="a pending value from an earlier run is reused"
                    )
                    return reused
                info["replaced"] = "the target refused the earlier pending value"
            info["source"] = policies.generator.value
            pending = self.new_pending(active, keys, policies)
        return Change(self.sid, active, pending, keys, chain.previous)

    def may_hold(self, change: Change) -> bool:
        """May the target hold this earlier pending value? Then it must be reused (a new
        one would strand it). Not when the target refuses it and accepts active: the
        earlier run's ``set`` was refused or never ran, so a fresh value is drawn (a value
        the target refused once, say by a password-history rule, would be refused forever)."""
        assert self.target is not None
        if not self.target.external:
            return True
        self.holds = Holds.EARLIER_PENDING  # until the target has answered
        with self.step("probe", "target.probe", stage="PENDING", purpose="reuse") as info:
            accepted = self.probe(change, Stage.PENDING)
            info["accepted"] = accepted
        if accepted:
            self.holds = Holds.PENDING
            return True
        with self.step("probe", "target.probe", stage="ACTIVE", purpose="reuse") as info:
            active_ok = self.probe(change, Stage.ACTIVE)
            info["accepted"] = active_ok
        # Active works: the earlier value never reached the target and is replaced.
        # Neither works: the target's state is unknown, so the earlier value is kept.
        self.holds = Holds.ACTIVE if active_ok else Holds.PENDING
        return not active_ok

    def new_pending(
        self, active: SecretValue, keys: tuple[str, ...], policies: PolicySet
    ) -> SecretValue:
        assert self.target is not None
        try:
            if policies.generator is Generator.SERVICE and not self.target.creates:
                stored = self.forward.add_pending_stage(self.sid, self.token)
                logs.REDACTOR.register_value(stored, keys)
            else:
                candidate = active.replace(self.generated(active, keys, policies))
                try:
                    stored = self.store_candidate(candidate, keys)
                except BaseException as exc:  # what the target created must not be stranded
                    self.target.discard(exc)
                    raise
        except NcpError as exc:
            raise job_call_failure(exc, "store the pending value") from None
        if not usable_candidate(active, stored, keys):
            raise RotationFailure(
                codes.PENDING_INVALID,
                "the pending value does not change exactly the rotation targets",
            )
        self._stored_pending = stored
        return stored

    def store_candidate(self, candidate: SecretValue, keys: tuple[str, ...]) -> SecretValue:
        """Update Pending Stage with ``candidate``; its answer must be the value sent."""
        logs.REDACTOR.register_value(candidate, keys)  # before it leaves the process
        size = len(candidate.to_json().encode("utf-8"))
        if size > MAX_VALUE_BYTES:
            raise RotationFailure(
                codes.INVALID_POLICY,
                f"the new value would be {size:,} bytes, over Secret Manager's "
                f"{MAX_VALUE_BYTES:,}-byte limit: shorten the policy's length or the value",
            )
        stored = self.forward.update_pending_stage(self.sid, self.token, candidate)
        logs.REDACTOR.register_value(stored, keys)
        if stored != candidate:
            raise RotationFailure(
                codes.PENDING_MISMATCH,
                "Secret Manager stored another pending value than sent",
            )
        return stored

    def generated(
        self, active: SecretValue, keys: tuple[str, ...], policies: PolicySet
    ) -> dict[str, str]:
        """New values for the target keys: derived by the target where it says so
        (alternating users name the other user), made by it (an API key), random
        otherwise. The target makes its values last: they are stored right after."""
        assert self.target is not None
        derived = dict(self.target.derive(active))
        made = self.target.creates
        random_keys = tuple(k for k in keys if k not in derived and k not in made)
        drawn = {k: self.draw(k, policies) for k in random_keys}
        return {**derived, **drawn, **(self.target.create(active, keys) if made else {})}

    def draw(self, key: str, policies: PolicySet) -> str:
        """One random value the target accepts; a few draws at most (refusals are rare)."""
        assert self.target is not None
        for _ in range(MAX_DRAWS):
            if policies.generator is Generator.SERVICE_RANDOM:
                try:
                    value = self.forward.generate_random_secret(
                        self.sid, self.token, policies.for_key(key).to_random_secret_options()
                    )
                except NcpError as exc:
                    raise job_call_failure(exc, "generate a random value") from None
            else:
                value = generate_values([key], policies)[key]
            if self.target.accepts(key, value):
                return value
        raise RotationFailure(
            codes.INVALID_POLICY, f"the target refused {MAX_DRAWS} values generated for {key!r}"
        )

    # -- the target -----------------------------------------------------------------------

    def probe(self, change: Change, stage: Stage) -> bool:
        assert self.target is not None
        return self.target.probe(change, stage)

    def auth_enforced(self, change: Change) -> bool:
        """Does the target refuse a wrong password? A random one is tried once per run. On
        a server that accepts anything (PostgreSQL ``trust``, a Redis ``nopass`` user) a
        probe proves nothing, so ``set`` is never skipped there, and the run warns."""
        assert self.target is not None
        if self._auth_enforced is None:
            accepted = accepts_any_password(self.target, change)
            self._auth_enforced = not accepted
            if accepted:
                logs.log.warning(
                    "target.auth_not_enforced",
                    target=self.target.kind,
                    note="the target accepted a random wrong password; set is never skipped",
                )
                self.warn(codes.TARGET_AUTH_NOT_ENFORCED, not_enforced_message(self.target.kind))
        return self._auth_enforced

    def apply(self, change: Change) -> None:
        assert self.target is not None
        if not self.target.external:
            with self.step("set", "target.set") as info:
                info.update(skipped=True, reason="store-only: nothing outside Secret Manager")
            return
        with self.step("probe", "target.probe", stage="PENDING") as info:
            accepted = self.probe(change, Stage.PENDING)
            info["accepted"] = accepted
        held_before = self.holds
        with self.step("set", "target.set", target=self.target.kind) as info:
            self.holds = Holds.PENDING
            if accepted and not self.target.reapply and self.auth_enforced(change):
                info.update(skipped=True, reason="the target already accepts the pending value")
                return
            try:
                self.target.set(change)
            except TargetError as exc:
                if exc.untouched:  # refused before any session: nothing of ours to undo
                    # ... but a refused login means the target no longer takes what this
                    # run read as stored: someone else changed it (another invocation?)
                    refused = exc.code == codes.TARGET_LOGIN_REFUSED
                    fresh = held_before is Holds.ACTIVE  # a reused value keeps its caution
                    self.holds = Holds.UNKNOWN if refused and fresh else held_before
                raise

    def check(self, change: Change) -> None:
        assert self.target is not None
        with self.step("test", "target.test", target=self.target.kind):
            self.target.test(change)

    def converge(self, value: SecretValue, held: Change) -> None:
        """Make the target accept the stored ``value``. It may hold any value of ``held``
        (this run's active, pending or previous); ``set`` logs in with those."""
        assert self.target is not None
        if not self.target.external:
            return
        change = Change(self.sid, held.pending, value, held.keys, held.active)
        with self.step("converge", "target.converge") as info:
            if self.probe(change, Stage.PENDING) and self.auth_enforced(change):
                info.update(skipped=True, reason="the target already accepts the stored value")
                return
            self.target.set(change)
            self.target.test(change)

    # -- complete and verify --------------------------------------------------------------

    def complete(self, change: Change) -> Outcome:
        try:
            with self.step("complete", "rotation.complete"):
                self.forward.complete_rotation_job(self.sid, self.token)
        except NcpError as exc:
            if not outcome_unknown(exc):
                # A definite refusal (the job ended, say): never a rollback without a read.
                return self.recover(change, job_call_failure(exc, "complete the job"))
            confirmed = self.confirm_complete(change, exc)
            if isinstance(confirmed, Outcome):
                return confirmed
            return self.verified(change, confirmed)
        return self.verified(change, None)

    def confirm_complete(self, change: Change, error: NcpError) -> SecretChain | Outcome:
        """``complete`` may or may not have happened, and may still land. Read the chain;
        send ``complete`` again while the job still holds this run's pending; never roll
        back unless a read shows the job ended without it."""
        self.use_recovery_deadline()
        with self.step("confirm", "rotation.complete_confirm") as info:
            for attempt in range(CONFIRM_ROUNDS):
                chain = self.read_chain()
                if chain is not None and chain.active == change.pending:
                    info["confirmed"] = "complete took effect"
                    return chain
                if chain is not None and chain.pending != change.pending:
                    info["confirmed"] = "the job no longer holds this run's pending value"
                    return self.recover(change, api_failure(error, "complete the job"))
                if chain is not None:  # still this run's pending: send it again
                    try:
                        self.recovery.complete_rotation_job(self.sid, self.token)
                    except InvalidState:
                        if self.job_running() is False:
                            info["confirmed"] = "the job ended without this run's value"
                            return self.recover(change, api_failure(error, "complete the job"))
                    except NcpError:
                        pass
                    else:
                        info["confirmed"] = "complete sent again"
                        return self.read_chain() or self.assumed(change)
                if not self.pause(attempt):
                    break
            info["status"] = "unconfirmed"
        return self.left_running(
            RotationFailure(
                codes.COMPLETE_UNCONFIRMED,
                f"{api_failure(error, 'complete the job')}; whether it took effect could not "
                "be read before the deadline",
            ),
            "complete's outcome is unknown: the target keeps the pending value, stored as "
            "pending or already as active",
        )

    def pause(self, attempt: int) -> bool:
        """Wait before the next confirmation round; False when no time is left for one."""
        wait = min(0.2 * 2**attempt, 2.0)
        if self.recovery_deadline.remaining() <= wait + 0.1:
            return False
        time.sleep(wait)
        return True

    def job_running(self) -> bool | None:
        """Is the job still running? ``None`` when the detail cannot be read."""
        try:
            detail = self.recovery.get_secret(self.sid)
        except NcpError:
            return None
        return detail.rotating

    @staticmethod
    def assumed(change: Change) -> SecretChain:
        """The chain ``complete`` leaves, when it answered but cannot be read back."""
        return SecretChain(change.active, change.pending, None, change.keys)

    def verified(self, change: Change, chain: SecretChain | None) -> Outcome:
        """Read the chain once: active must be the value the target holds."""
        with self.step("verify", "rotation.verify") as info:
            chain = chain or self.read_chain()
            if chain is None:
                info["status"] = "unverified"
            elif chain.active == change.pending:
                info["active"] = "this run's value"
            elif chain.active is not None:
                info["status"] = "reconcile"
        if chain is not None and chain.active is not None and chain.active != change.pending:
            self.reconcile(change, chain.active)
            # retire this run's value too: it is stored nowhere now
            change = Change(self.sid, change.pending, chain.active, change.keys, change.active)
        self.finish(change)
        return self.outcome(True, "resumed" if self.resumed else "rotated", job="completed")

    def reconcile(self, change: Change, stored: SecretValue) -> None:
        """Another writer's value became active: make the target accept it, and say so."""
        logs.REDACTOR.register_value(stored, change.keys)
        try:
            self.converge(stored, change)
        except Exception as exc:  # noqa: BLE001 - reported, the job has already completed
            failure = as_failure(exc)
            self.warn(
                codes.RECONCILED,
                f"the stored active value is not the one this run set, and the target could "
                f"not be brought onto it ({failure.code}: {failure}); run resume",
            )
            logs.log.error("rotation.reconciled", status="error", error_code=failure.code)
            return
        logs.log.warning(
            "rotation.reconciled",
            note="active was not this run's value; the target now accepts the stored one",
        )
        self.warn(
            codes.RECONCILED,
            "the stored active value was not the one this run set; the target now accepts "
            "the stored one",
        )

    def finish(self, change: Change) -> None:
        assert self.target is not None
        if not self.target.external:
            return
        with self.step("finish", "target.finish") as info:
            try:
                self.target.finish(change)
            except TargetError as exc:
                # The rotation is complete; a leftover old credential is worth a warning only.
                info.update(status="warning", error=exc.code, error_message=str(exc))
                self.warn(codes.FINISH_FAILED, f"{exc.code}: {exc}")

    # -- failure paths --------------------------------------------------------------------

    def use_recovery_deadline(self) -> None:
        if self.ctx is not None:
            self.ctx.deadline = self.recovery_deadline  # the reserve is for exactly this

    def read_chain(self) -> SecretChain | None:
        try:
            chain = self.recovery.get_secret_values(self.sid)
        except (NcpError, SecretValueError):
            return None
        self.register(chain)
        return chain

    def exit(self, failure: RotationFailure, change: Change | None = None) -> Outcome:
        """Every failed run ends here: :func:`rotation.exits.decide` picks the way out from
        how the job stands and what the target may hold, and nothing else."""
        self.use_recovery_deadline()
        decision = decide(self.job, self.holds)
        if decision is Exit.START:
            started = self.start_to_end(failure)
            if started is not None:
                return started
            decision = decide(self.job, self.holds)
        if decision is Exit.READ:
            chain = self.read_chain()
            if chain is not None:
                self.note_chain(chain)
                decision = decide(self.job, self.holds)
            else:
                decision = Exit.LEAVE
        logs.log.info(
            "rotation.exit",
            exit=decision.value,
            job_state=self.job.value,
            holds=self.holds.value,
            error_code=failure.code,
        )
        if decision is Exit.INSPECT:
            return self.inspect_refused_start(failure)
        if decision is Exit.FAIL:
            return self.report_fail(failure, change)
        if decision is Exit.RECOVER and change is not None:
            return self.recover(change, failure)
        return self.leave(failure)

    def leave(self, failure: RotationFailure) -> Outcome:
        """:attr:`Exit.LEAVE`: the job stays running, with the reason the rule gives."""
        if self.holds is Holds.EARLIER_PENDING:
            failure = RotationFailure(
                codes.ROTATION_INCOMPLETE,
                f"{failure.code}: {failure} -- an earlier run's pending value may be on the "
                "target, which could not be asked",
            )
        return self.left_running(failure, leave_reason(self.job, self.holds))

    def start_to_end(self, failure: RotationFailure) -> Outcome | None:
        """:attr:`Exit.START`: the run failed before ``start``. Start now, to read the chain
        (an earlier run's pending value may be on the target) and to have a job to end.
        ``None`` when the state is now known and the rule decides again."""
        try:
            with self.step("start", "rotation.start", purpose="end the job"):
                self.send_start(self.recovery)
        except CodedError:
            pass  # the state says what happened (refused, or unknown)
        return None

    def inspect_refused_start(self, failure: RotationFailure) -> Outcome:
        """:attr:`Exit.INSPECT`: ``start`` was refused (a 4xx other than 401/403). That does
        not prove there is no job (a lost ``start`` retried is refused too), so read it:
        not rotating, the job has ended; rotating, read the chain: an earlier pending
        value is kept (the job left running); else ``fail`` with this token, which only
        this job's token can do."""
        running = self.job_running()
        if running is False:
            if isinstance(failure, JobUnusable):  # start's own refusal says it all
                return self.outcome(failure.ok, failure.outcome, failure, job=failure.job)
            return self.outcome(False, "failed", failure, job="ended")
        chain = self.read_chain() if running else None
        if chain is None:
            return self.left_running(
                failure,
                "start was refused and Secret Manager could not be read to tell whether the "
                "job is still running",
            )
        self.job = JobState.STARTED
        self.note_chain(chain)
        if self.holds is Holds.EARLIER_PENDING:
            return self.leave(failure)
        try:
            with self.step("fail", "rotation.fail"):
                self.recovery.fail_rotation_job(self.sid, self.token)
        except NcpError as exc:
            return self.left_running(
                failure,
                f"the secret is rotating, but Secret Manager refused start and fail for this "
                f"job token ({exc}): another job may be running; see rotation status",
            )
        return self.outcome(False, "failed", failure, job="failed")

    def report_fail(self, failure: RotationFailure, change: Change | None = None) -> Outcome:
        """``fail`` the job (retried within the deadline) and say how the job ended. A
        refusal is not the end of the story: the job may have completed meanwhile."""
        try:
            with self.step("fail", "rotation.fail"):
                self.recovery.fail_rotation_job(self.sid, self.token)
        except ClientError as exc:
            return self.fail_refused(failure, exc, change)
        except NcpError as exc:
            return self.left_running(failure, cannot_end(exc))
        return self.outcome(False, "failed", failure, job="failed")

    def fail_refused(
        self, failure: RotationFailure, refusal: NcpError, change: Change | None
    ) -> Outcome:
        """``fail`` was refused (the job ended, a 403, any 4xx): another invocation's or a
        late ``complete`` may have landed just before. Read the chain and make the target
        accept the stored active value; then say how the job stands."""
        logs.log.info("rotation.fail_refused", note="reading the chain before reporting")
        chain = self.read_chain()
        held = change or self.held_untouched()
        if chain is None or chain.active is None:
            return self.left_running(
                RotationFailure(
                    codes.ROTATION_INCOMPLETE,
                    f"{failure}; fail was refused ({refusal}) and the chain could not be read",
                ),
                "fail was refused and the chain could not be read: the target may not accept "
                "the stored active value",
            )
        if held is not None and chain.active != held.active:
            return self.ended_elsewhere(held, chain.active, failure)
        if held is not None and self.holds is Holds.PENDING:
            try:
                self.converge(chain.active, held)
            except Exception as exc:  # noqa: BLE001 - reported: the target needs a look
                return self.left_running(
                    RotationFailure(
                        codes.ROTATION_INCOMPLETE,
                        f"{failure}; fail was refused and the target could not be shown to "
                        f"accept the stored active value ({as_failure(exc).code})",
                    ),
                    "the target may not accept the stored active value",
                )
        if self.job_running():
            return self.left_running(
                failure, f"Secret Manager refused fail ({refusal}) while the job still runs"
            )
        logs.log.info("rotation.fail_skipped", note="the job had already ended")
        return self.outcome(False, "failed", failure, job="ended")

    def held_untouched(self) -> Change | None:
        """The values an untouched target may hold (the chain ``start`` read), so that
        converging can log in with them; ``None`` when there is no target to converge."""
        if self.target is None or self.chain is None or self.chain.active is None:
            return None
        active = self.chain.active
        return Change(self.sid, active, active, self.chain.rotation_targets, self.chain.previous)

    def left_running(self, failure: RotationFailure, reason: str) -> Outcome:
        """End without ``fail``, and say so: the job stays ROTATING for a resume."""
        logs.log.error(
            "rotation.left_for_retry",
            reason=reason,
            action=codes.advice(failure.code, "running"),
        )
        return self.outcome(False, "failed", failure, job="running", left_reason=reason)

    def recover(self, change: Change, failure: RotationFailure) -> Outcome:
        """A step failed after the pending value was stored. Read the chain before
        anything else: the job may have completed (this run's late complete, another
        invocation) and must then never be undone."""
        assert self.target is not None
        self.use_recovery_deadline()
        chain = self.read_chain()
        if chain is not None and chain.active is not None and chain.active != change.active:
            return self.ended_elsewhere(change, chain.active, failure)
        if not self.target.external or self.holds is not Holds.PENDING:
            return self.not_changed_here(change, chain, failure)
        if chain is None:
            # Unknown: the job may have completed with this run's value. Rolling back could
            # strand active; leaving the target alone keeps it on a stored value.
            return self.left_running(
                RotationFailure(
                    codes.ROTATION_INCOMPLETE,
                    f"{failure}; the chain could not be read, so the target was left as is",
                ),
                "the target may hold the pending value and Secret Manager cannot be read",
            )
        if not self.rolled_back(change):
            return self.left_running(
                RotationFailure(
                    codes.ROTATION_INCOMPLETE,
                    f"{failure} -- and the target could not be shown to accept the active "
                    "value again",
                ),
                "the target may still hold the pending value",
            )
        again = self.read_chain()  # did another invocation finish while we rolled back?
        if again is not None and again.active is not None and again.active != change.active:
            return self.ended_elsewhere(change, again.active, failure)
        return self.report_fail(failure, change)

    def not_changed_here(
        self, change: Change, chain: SecretChain | None, failure: RotationFailure
    ) -> Outcome:
        """This run did not change the target: ``fail``. Unless the target refused the
        stored credentials before this run changed anything (:attr:`Holds.UNKNOWN`): if
        another invocation replaced the pending value, that value may be what the target
        holds now, and failing the job could discard it, so the job is left to that
        invocation (or a resume). Else the stored value no longer matches the target."""
        if self.holds is not Holds.UNKNOWN:
            return self.report_fail(failure, change)  # the target is as it was
        if chain is None:
            return self.left_running(
                failure,
                "the target refuses the stored credentials and the chain could not be read "
                "to tell whether another invocation's pending value is on it",
            )
        if chain.pending is not None and chain.pending != change.pending:
            return self.left_running(
                RotationFailure(
                    codes.ROTATION_INCOMPLETE,
                    f"{failure.code}: {failure} -- another invocation of this job replaced "
                    "the pending value, and the target may hold it",
                ),
                "another invocation's pending value may be on the target; the job keeps it "
                "stored as pending",
            )
        return self.report_fail(failure, change)

    def ended_elsewhere(
        self, change: Change, stored: SecretValue, failure: RotationFailure
    ) -> Outcome:
        """The job ended with ``stored`` as active (another invocation, a late complete):
        never undo it; bring the target onto it."""
        mine = stored == change.pending
        logs.log.warning(
            "rotation.ended_elsewhere",
            note="this run's value is active: converging forward"
            if mine
            else "another value became active: the target is brought onto it",
        )
        try:
            self.converge(stored, change)
        except Exception as exc:  # noqa: BLE001 - the target's state decides what comes next
            return self.left_running(
                RotationFailure(
                    codes.ROTATION_INCOMPLETE,
                    f"{failure}; the job ended elsewhere and the target could not be brought "
                    f"onto the stored active value ({as_failure(exc).code})",
                ),
                "the target may not accept the stored active value",
            )
        if mine:
            self.finish(change)
            return self.outcome(True, "resumed" if self.resumed else "rotated", job="completed")
        ended = RotationFailure(
            codes.JOB_ENDED,
            f"the job ended while this run worked on it ({failure.code} here); the target "
            "accepts the stored active value",
        )
        return self.outcome(True, "skipped", ended, job="ended")

    def rolled_back(self, change: Change) -> bool:
        assert self.target is not None
        try:
            with self.step("rollback", "target.rollback"):
                self.target.rollback(change)
        except Exception:  # noqa: BLE001, S110 - what counts is whether active works now
            pass
        try:
            with self.step("probe", "target.probe", stage="ACTIVE") as info:
                accepted = self.probe(change, Stage.ACTIVE)
                info["accepted"] = accepted
        except Exception:  # noqa: BLE001 - unknown state counts as "not shown"
            return False
        return accepted


# -- helpers ------------------------------------------------------------------------------


def validate_chain(chain: SecretChain) -> SecretValue:
    """The active value, if it can be rotated: bad input otherwise (the value rules of
    :func:`rotation.preflight.active_value`)."""
    return preflight.active_value(chain)


__all__ = ["Outcome", "Rotation", "StepRecord", "usable_candidate"]
