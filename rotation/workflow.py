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

* Every job ends known. A failure before the target is touched ends the job (``start`` if
  needed, then ``fail``); the result says how the job ended (``job``). A job is left
  running only when the target may hold the pending credential, or Secret Manager cannot
  be reached to end it: then ``leftForRetry`` says why, and ``resume`` finishes it.
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

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rotation import codes, logs, preflight
from rotation.codes import CodedError
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
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.settings import Settings
from rotation.targets import Change, Target, TargetContext, TargetError, build_target

T = TypeVar("T")

#: How many generated values a target may refuse (``accepts``) before the policy is blamed.
MAX_DRAWS = 10
#: Rounds of "read the chain, send complete again" after a complete of unknown outcome.
CONFIRM_ROUNDS = 6

TargetBuilder = Callable[[Mapping[str, Any] | None, SecretValue, TargetContext], Target]


@dataclass(frozen=True)
class StepRecord:
    step: str
    status: str
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status, "durationMs": self.duration_ms}


@dataclass
class Outcome:
    ok: bool
    outcome: str  # rotated | resumed | skipped | failed
    steps: list[StepRecord] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    #: How the job stands at the end: completed | failed | ended | running | unknown.
    job: str = "unknown"
    left_for_retry: bool = False
    left_reason: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: The secret's name, once the guard has read it (notifications and the CLI show it).
    secret_name: str | None = None


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
        self.started = False
        #: ``start`` itself failed after its retries: ending the job goes straight to fail.
        self.start_failed = False
        #: Could the target hold the pending credential? Once ``set`` was tried, or when
        #: the target was seen accepting an earlier run's pending value.
        self.touched = False
        self.resumed = False
        self._auth_enforced: bool | None = None
        #: An earlier run's pending value is waiting for the target's answer to the probe.
        self.unprobed_candidate = False
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
        finally:
            if self.target is not None:
                self.target.close()
            for client in self._owned:
                client.close()

    def _run(self) -> Outcome:
        try:
            self.guard()
            chain = self.start()
            policies = self.preflight(chain)
            change = self.pending(chain, policies)
        except JobUnusable as unusable:
            return self.outcome(unusable.ok, unusable.outcome, unusable, job=unusable.job)
        except (CodedError, NcpError) as exc:
            if self.unprobed_candidate:
                # An earlier run's pending value may be on the target, which could not be
                # asked: failing the job could discard the only stored copy of it.
                failure = as_failure(exc)
                return self.left_running(
                    RotationFailure(
                        codes.ROTATION_INCOMPLETE,
                        f"{failure.code}: {failure} -- an earlier run's pending value may be "
                        "on the target, which could not be asked",
                    ),
                    "an earlier run's pending value may be on the target, which could not "
                    "be probed; the job keeps it stored as pending",
                )
            return self.end_untouched(as_failure(exc))  # the target has not been changed
        try:
            self.apply(change)
            self.check(change)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the target must be recovered
            return self.recover(change, as_failure(exc))
        return self.complete(change)

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
            try:
                chain = self.forward.start_rotation_job(self.sid, self.token)
            except SecretValueError as exc:
                self.started = True  # the answer came: the job is started
                raise preflight.unreadable_value(exc) from None
            except NcpError as exc:
                self.start_failed = True
                raise start_failure(exc) from None
        self.started = True
        self.register(chain)
        return chain

    def preflight(self, chain: SecretChain) -> PolicySet:
        """Bad input stops here, before the target is touched; the job is then failed.
        The rules are :mod:`rotation.preflight`'s, the same ``rotation check`` runs."""
        with self.step("preflight", "rotation.preflight") as info:
            active = validate_chain(chain)
            self.ctx = TargetContext(
                secret_id=self.sid,
                deadline=self.forward.transport.deadline,
                register_secret=logs.REDACTOR.register,
                read_secret=self.read_other_secret,
                read_pending=self.read_pending,
                credentials=self.settings.credentials,
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
        self.unprobed_candidate = True  # until the target has answered
        with self.step("probe", "target.probe", stage="PENDING", purpose="reuse") as info:
            accepted = self.probe(change, Stage.PENDING)
            info["accepted"] = accepted
        if accepted:
            self.touched = True
            self.unprobed_candidate = False
            return True
        with self.step("probe", "target.probe", stage="ACTIVE", purpose="reuse") as info:
            active_ok = self.probe(change, Stage.ACTIVE)
            info["accepted"] = active_ok
        self.unprobed_candidate = False
        return not active_ok

    def new_pending(
        self, active: SecretValue, keys: tuple[str, ...], policies: PolicySet
    ) -> SecretValue:
        try:
            if policies.generator is Generator.SERVICE:
                stored = self.forward.add_pending_stage(self.sid, self.token)
                logs.REDACTOR.register_value(stored, keys)
            else:
                candidate = active.replace(self.generated(active, keys, policies))
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
        except NcpError as exc:
            raise job_call_failure(exc, "store the pending value") from None
        if not usable_candidate(active, stored, keys):
            raise RotationFailure(
                codes.PENDING_INVALID,
                "the pending value does not change exactly the rotation targets",
            )
        self._stored_pending = stored
        return stored

    def generated(
        self, active: SecretValue, keys: tuple[str, ...], policies: PolicySet
    ) -> dict[str, str]:
        """New values for the target keys: derived by the target where it says so
        (alternating users name the other user), random otherwise."""
        assert self.target is not None
        derived = dict(self.target.derive(active))
        random_keys = tuple(k for k in keys if k not in derived)
        return {**derived, **{k: self.draw(k, policies) for k in random_keys}}

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
            derived = set(self.target.derive(change.active))
            decoy = change.pending.replace(
                {k: "x-" + secrets.token_urlsafe(18) for k in change.keys if k not in derived}
            )
            logs.REDACTOR.register_value(decoy, change.keys)
            try:
                accepted = self.target.probe(
                    Change(self.sid, change.active, decoy, change.keys, change.previous),
                    Stage.PENDING,
                )
            except TargetError:
                accepted = False  # a refusal of any kind is what we hoped for
            self._auth_enforced = not accepted
            if accepted:
                logs.log.warning(
                    "target.auth_not_enforced",
                    target=self.target.kind,
                    note="the target accepted a random wrong password; set is never skipped",
                )
                self.warn(
                    codes.TARGET_AUTH_NOT_ENFORCED,
                    f"the {self.target.kind} target accepted a random wrong password: it does "
                    "not check passwords, so the rotation's test proves nothing",
                )
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
        with self.step("set", "target.set", target=self.target.kind) as info:
            self.touched = True
            if accepted and not self.target.reapply and self.auth_enforced(change):
                info.update(skipped=True, reason="the target already accepts the pending value")
                return
            try:
                self.target.set(change)
            except TargetError as exc:
                if exc.untouched:  # refused before any session: nothing of ours to undo
                    self.touched = False
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

    def end_untouched(self, failure: RotationFailure) -> Outcome:
        """The target was not changed: end the job as failed (``start`` first if it never
        started), so that the console shows the failure and the log the reason."""
        self.use_recovery_deadline()
        if not self.started and not self.start_failed:
            try:
                with self.step("start", "rotation.start", purpose="end the job"):
                    self.recovery.start_rotation_job(self.sid, self.token)
            except SecretValueError:
                pass  # started all the same; the value is the failure being reported
            except InvalidState:
                return self.outcome(False, "failed", failure, job="ended")
            except NotFound:
                return self.outcome(False, "failed", failure, job="unknown")
            except NcpError:
                pass  # fail may still be taken (NCP does not say it needs a started job)
        return self.report_fail(failure)

    def report_fail(self, failure: RotationFailure) -> Outcome:
        """``fail`` the job (retried within the deadline) and say how the job ended."""
        try:
            with self.step("fail", "rotation.fail"):
                self.recovery.fail_rotation_job(self.sid, self.token)
        except InvalidState:
            logs.log.info("rotation.fail_skipped", note="the job had already ended")
            return self.outcome(False, "failed", failure, job="ended")
        except NcpError as exc:
            return self.left_running(failure, cannot_end(exc))
        return self.outcome(False, "failed", failure, job="failed")

    def left_running(self, failure: RotationFailure, reason: str) -> Outcome:
        """End without ``fail``, and say so: the job stays ROTATING for a resume."""
        logs.log.error(
            "rotation.left_for_retry",
            reason=reason,
            action=codes.advice(failure.code),
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
        if not self.target.external or not (self.touched or self.resumed):
            return self.report_fail(failure)  # the target is as it was
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
        return self.report_fail(failure)

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
