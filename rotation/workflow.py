"""The rotation, one method per step, as NCP's process documents it (DESIGN.md).

    guard      GET detail; refuse DISABLE / REVOKE / DESTROYED; note ROTATING, ROTATION_FAILED
    preflight  GET values; the value must be a JSON object holding every rotation target;
               build the target and the value policy.  Bad input stops here: no job call.
    start      POST .../start: the job's chain and rotation targets
    pending    reuse a pending value a retried job left, else generate and PUT .../pending
    probe/set  the target already accepts pending? else make it accept pending
    test       prove pending works on the target
    complete   POST .../complete: the chain shifts, pending becomes active
    verify     GET detail: rotationPhase back to NONE
    finish     let the target retire what was replaced (dual-credential targets)

The invariant: at every instant the target accepts at least one credential Secret
Manager stores (active or pending). Hence the failure rules:

* Before the target is touched, a failure reports ``fail`` (best effort) and stops.
* After, the target is rolled back to active and ``fail`` is reported only once the
  target is *seen* accepting active. If that cannot be shown, ``fail`` is not called (a
  failed job's pending value may be discarded): the job is left running for a retry,
  which will find the pending value and resume, and the result says so.
* If ``complete`` errors, the chain is read before anything else: a lost answer to a
  complete that happened must not roll the target back to what is now ``previous``.

Forward steps run on a client bounded by the deadline minus a reserve; recovery runs on
the full deadline, so a slow API cannot leave no time to roll back and report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rotation import logs
from rotation.generate import Generator, PolicyError, PolicySet, generate_values
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import (
    AuthenticationFailed,
    DeadlineExceeded,
    Forbidden,
    InvalidState,
    NcpError,
    NotFound,
)
from rotation.ncp.models import (
    RotationPhase,
    SecretChain,
    SecretDetail,
    SecretStatus,
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

REFUSED_STATUSES = frozenset({SecretStatus.DISABLE, SecretStatus.REVOKE, SecretStatus.DESTROYED})

TargetBuilder = Callable[[Mapping[str, Any] | None, SecretValue, TargetContext], Target]


class RotationFailure(Exception):
    """A step failed. The message is ours and secret-free; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
    left_for_retry: bool = False


def reserve_for(deadline: Deadline) -> float:
    """Seconds kept back for rollback and ``fail``: a quarter of the budget, 1 to 15 s."""
    return min(15.0, max(1.0, deadline.remaining() * 0.25))


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
        self.forward = client.bounded(self.deadline.minus(reserve_for(self.deadline)))
        self.target_builder = target_builder
        self.steps: list[StepRecord] = []
        self.target: Target | None = None
        self.ctx: TargetContext | None = None
        #: Could the target hold the pending credential? Only once ``set`` was tried or the
        #: target was seen accepting pending, or when an earlier run's pending was reused.
        self.touched = False
        self.resumed = False

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
        error: RotationFailure | None = None,
        *,
        left_for_retry: bool = False,
    ) -> Outcome:
        return Outcome(
            ok=ok,
            outcome=outcome,
            steps=self.steps,
            error_code=error.code if error else None,
            error_message=str(error) if error else None,
            left_for_retry=left_for_retry,
        )

    @staticmethod
    def register(chain: SecretChain) -> None:
        for value in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(value, chain.rotation_targets)

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Outcome:
        try:
            try:
                self.guard()
                policies = self.preflight()
            except RotationFailure as failure:
                return self.outcome(False, "failed", failure)  # bad input: no job call
            return self._run_job(policies)
        finally:
            if self.target is not None:
                self.target.close()

    def _run_job(self, policies: PolicySet) -> Outcome:
        assert self.target is not None
        try:
            started = self.start()
        except RotationFailure as failure:
            if failure.code == "JOB_NOT_RUNNING":
                return self.outcome(True, "skipped", failure)
            self.report_fail()
            return self.outcome(False, "failed", failure)
        try:
            change, resumed = self.pending(started, policies)
            self.resumed = resumed
        except RotationFailure as failure:
            self.report_fail()  # the target has not been touched
            return self.outcome(False, "failed", failure)
        try:
            self.apply(change)
            self.check(change)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the target must be recovered
            return self.recover(change, as_failure(exc))
        try:
            self.complete()
        except NcpError as exc:
            confirmed = self.confirm_complete(change, exc)
            if isinstance(confirmed, Outcome):
                return confirmed
        self.verify()
        self.finish(change)
        return self.outcome(True, "resumed" if resumed else "rotated")

    # -- steps before the job -------------------------------------------------------------

    def guard(self) -> SecretDetail:
        with self.step("guard", "rotation.guard") as info:
            detail = call_api(lambda: self.forward.get_secret(self.sid), "read the secret")
            info.update(
                secret_status=detail.status.value, rotation_phase=detail.rotation_phase.value
            )
            if detail.status in REFUSED_STATUSES:
                raise RotationFailure(
                    "SECRET_NOT_ROTATABLE",
                    f"the secret is {detail.status.value}; only an enabled secret can rotate",
                )
        if detail.rotation_phase is RotationPhase.ROTATION_FAILED:
            logs.log.info("rotation.retry", note="retrying a job that failed before")
        elif detail.rotating:
            logs.log.info(
                "rotation.in_progress", note="the job is running: a fresh run or a retried one"
            )
        return detail

    def preflight(self) -> PolicySet:
        with self.step("preflight", "rotation.preflight") as info:
            try:
                chain = call_api(lambda: self.forward.get_secret_values(self.sid), "read the value")
            except SecretValueError as exc:
                raise RotationFailure(
                    "VALUE_NOT_JSON_OBJECT",
                    f"{exc}; a rotatable secret value is a JSON object of key/value pairs",
                ) from None
            self.register(chain)
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
            except TargetError as exc:
                raise RotationFailure(exc.code, str(exc)) from None
            try:
                derived = set(self.target.derive(active))
            except TargetError as exc:
                raise RotationFailure(exc.code, str(exc)) from None
            if not derived <= set(chain.rotation_targets):
                raise RotationFailure(
                    "INVALID_TARGET",
                    f"this target changes {', '.join(sorted(derived))} too: add it to the "
                    "secret's rotationTargets",
                )
            try:
                policies = PolicySet.from_mapping(
                    self.settings.policy, base=self.target.default_policy
                )
            except PolicyError as exc:
                raise RotationFailure(PolicyError.code, str(exc)) from None
            self.check_policy_fits(chain.rotation_targets, derived, policies)
            info.update(
                target=self.target.kind,
                keys=list(chain.rotation_targets),
                generator=policies.generator.value,
            )
        return policies

    def check_policy_fits(
        self, keys: tuple[str, ...], derived: set[str], policies: PolicySet
    ) -> None:
        """A policy the target can never accept is bad input: find out before the job.

        Sample values are drawn and thrown away; only local generation can be sampled.
        """
        assert self.target is not None
        if policies.generator is not Generator.LOCAL:
            return
        for key in keys:
            if key in derived:
                continue
            samples = (generate_values([key], policies)[key] for _ in range(MAX_DRAWS))
            if not any(self.target.accepts(key, sample) for sample in samples):
                raise RotationFailure(
                    "INVALID_POLICY",
                    f"values this policy generates for {key!r} are refused by the "
                    f"{self.target.kind} target (its password rules)",
                )

    def read_other_secret(self, secret_id: str) -> SecretValue:
        chain = call_api(lambda: self.forward.get_secret_values(secret_id), "read a linked secret")
        self.register(chain)
        if chain.active is None:
            raise RotationFailure("LINKED_SECRET_EMPTY", "the linked secret has no active value")
        return chain.active

    def read_pending(self) -> SecretValue | None:
        try:
            stage = self.forward.get_secret_stage_value(self.sid, Stage.PENDING)
        except NotFound:
            return None
        except NcpError as exc:
            raise api_failure(exc, "read the pending value back") from None
        return stage.value

    # -- job steps ------------------------------------------------------------------------

    def start(self) -> SecretChain:
        with self.step("start", "rotation.start"):
            try:
                chain = self.forward.start_rotation_job(self.sid, self.token)
            except InvalidState:
                raise RotationFailure(
                    "JOB_NOT_RUNNING", "the rotation job is no longer running; nothing to do"
                ) from None
            except NotFound:
                raise RotationFailure(
                    "JOB_NOT_FOUND", "Secret Manager knows no job with that token"
                ) from None
            except NcpError as exc:
                raise api_failure(exc, "start the rotation job") from None
        self.register(chain)
        return chain

    def pending(self, chain: SecretChain, policies: PolicySet) -> tuple[Change, bool]:
        active = validate_chain(chain)
        keys = chain.rotation_targets
        with self.step("pending", "rotation.pending", keys=list(keys)) as info:
            if usable_candidate(active, chain.pending, keys):
                assert chain.pending is not None
                info["source"] = "reused"
                logs.log.info(
                    "rotation.resume", note="a pending value from an earlier run is reused"
                )
                return Change(self.sid, active, chain.pending, keys, chain.previous), True
            info["source"] = policies.generator.value
            pending = self.new_pending(active, keys, policies)
        return Change(self.sid, active, pending, keys, chain.previous), False

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
                stored = self.forward.update_pending_stage(self.sid, self.token, candidate)
                if stored != candidate:
                    raise RotationFailure(
                        "PENDING_MISMATCH", "Secret Manager stored another pending value than sent"
                    )
        except NcpError as exc:
            raise api_failure(exc, "store the pending value") from None
        if not usable_candidate(active, stored, keys):
            raise RotationFailure(
                "PENDING_INVALID", "the pending value does not change exactly the rotation targets"
            )
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
                value = self.forward.generate_random_secret(
                    self.sid, self.token, policies.for_key(key).to_random_secret_options()
                )
            else:
                value = generate_values([key], policies)[key]
            if self.target.accepts(key, value):
                return value
        raise RotationFailure(
            "INVALID_POLICY", f"the target refused {MAX_DRAWS} values generated for {key!r}"
        )

    def apply(self, change: Change) -> None:
        assert self.target is not None
        if not self.target.external:
            with self.step("set", "target.set") as info:
                info.update(skipped=True, reason="store-only: nothing outside Secret Manager")
            return
        with self.step("probe", "target.probe", stage="PENDING") as info:
            accepted = self.target.probe(change, Stage.PENDING)
            info["accepted"] = accepted
        with self.step("set", "target.set", target=self.target.kind) as info:
            self.touched = True
            if accepted and not self.target.reapply:
                info.update(skipped=True, reason="the target already accepts the pending value")
                return
            self.target.set(change)

    def check(self, change: Change) -> None:
        assert self.target is not None
        with self.step("test", "target.test", target=self.target.kind):
            self.target.test(change)

    def complete(self) -> None:
        with self.step("complete", "rotation.complete"):
            self.forward.complete_rotation_job(self.sid, self.token)

    def verify(self) -> None:
        with self.step("verify", "rotation.verify") as info:
            try:
                detail = self.client.get_secret(self.sid)
            except NcpError as exc:
                info.update(status="unverified", error=type(exc).__name__)
                return
            info["rotation_phase"] = detail.rotation_phase.value
            if detail.rotation_phase is not RotationPhase.NONE:
                info["status"] = "mismatch"

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

    # -- failure paths --------------------------------------------------------------------

    def report_fail(self) -> bool:
        """``fail`` the job, best effort. True if Secret Manager took it."""
        try:
            with self.step("fail", "rotation.fail"):
                self.client.fail_rotation_job(self.sid, self.token)
        except InvalidState:
            logs.log.info("rotation.fail_skipped", note="the job is no longer running")
            return False
        except NcpError:
            return False
        return True

    def recover(self, change: Change, failure: RotationFailure) -> Outcome:
        """Roll the target back to active; report ``fail`` only if it then accepts active."""
        assert self.target is not None
        assert self.ctx is not None
        self.ctx.deadline = self.deadline  # the reserve is for exactly this
        may_hold_pending = self.touched or self.resumed  # else the target is as it was
        if self.target.external and may_hold_pending and not self.rolled_back(change):
            return self.left_for_retry(
                "ROTATION_INCOMPLETE",
                f"{failure} -- and the target could not be shown to accept the active "
                "credential again, so the job is left running for a retry to resume",
                reason="the target may still hold the pending credential",
            )
        self.report_fail()
        return self.outcome(False, "failed", failure)

    def left_for_retry(self, code: str, message: str, *, reason: str) -> Outcome:
        """End without ``fail``: the target may hold the pending credential, which Secret
        Manager stores as pending only while the job runs."""
        logs.log.error(
            "rotation.left_for_retry",
            reason=reason,
            action="retry the rotation job; do not cancel it (the pending value is stored)",
        )
        return self.outcome(False, "failed", RotationFailure(code, message), left_for_retry=True)

    def rolled_back(self, change: Change) -> bool:
        assert self.target is not None
        try:
            with self.step("rollback", "target.rollback"):
                self.target.rollback(change)
        except Exception:  # noqa: BLE001, S110 - what counts is whether active works now
            pass
        try:
            with self.step("probe", "target.probe", stage="ACTIVE") as info:
                accepted = self.target.probe(change, Stage.ACTIVE)
                info["accepted"] = accepted
        except Exception:  # noqa: BLE001 - unknown state counts as "not shown"
            return False
        return accepted

    def confirm_complete(self, change: Change, error: NcpError) -> Outcome | None:
        """``complete`` errored: did it happen anyway? ``None`` means yes, carry on."""
        try:
            chain = self.client.get_secret_values(self.sid)
        except NcpError:
            return self.left_for_retry(
                "COMPLETE_UNCONFIRMED",
                f"{api_failure(error, 'complete the job')}; the chain could not be read back, so "
                "the target keeps the pending credential and the job is left for a retry",
                reason="complete failed and the chain cannot be read to see whether it took",
            )
        if chain.active == change.pending:
            logs.log.info(
                "rotation.complete_confirmed", note="complete took effect; its answer was lost"
            )
            return None
        return self.recover(change, api_failure(error, "complete the job"))


# -- helpers ------------------------------------------------------------------------------


def validate_chain(chain: SecretChain) -> SecretValue:
    """The active value, if it can be rotated: bad input otherwise (no job call yet)."""
    if chain.active is None:
        raise RotationFailure("VALUE_MISSING", "the secret has no active value")
    if not chain.rotation_targets:
        raise RotationFailure("NO_ROTATION_TARGETS", "the secret names no rotation targets")
    for key in chain.rotation_targets:
        if key not in chain.active:
            raise RotationFailure(
                "ROTATION_TARGET_MISSING",
                f"rotation target {key!r} is not a key of the secret value; add it to the "
                "value or remove it from rotationTargets",
            )
        if not isinstance(chain.active[key], str):
            raise RotationFailure(
                "ROTATION_TARGET_NOT_TEXT", f"rotation target {key!r} must hold a string"
            )
    return chain.active


def api_failure(exc: NcpError, doing: str) -> RotationFailure:
    if isinstance(exc, (AuthenticationFailed, Forbidden)):
        return RotationFailure(
            "AUTHENTICATION_FAILED",
            f"could not {doing}: {exc} (check the access key pair, its sub-account policy "
            "NCP_SECRETMANAGER_MANAGER, and the clock)",
        )
    if isinstance(exc, DeadlineExceeded):
        return RotationFailure("DEADLINE_EXCEEDED", f"could not {doing} before the deadline")
    if isinstance(exc, NotFound):
        return RotationFailure("SECRET_NOT_FOUND", f"could not {doing}: {exc}")
    code = "API_UNAVAILABLE" if exc.retryable else "API_ERROR"
    return RotationFailure(code, f"could not {doing}: {exc}")


def call_api(fn: Callable[[], T], doing: str) -> T:
    """Run one API call; turn its error into a :class:`RotationFailure` that says what
    could not be done (a bad value is left to the caller, which knows the stage)."""
    try:
        return fn()
    except SecretValueError:
        raise
    except NotFound:
        raise RotationFailure("SECRET_NOT_FOUND", f"could not {doing}: no such secret") from None
    except NcpError as exc:
        raise api_failure(exc, doing) from None


def as_failure(exc: Exception) -> RotationFailure:
    if isinstance(exc, RotationFailure):
        return exc
    if isinstance(exc, TargetError):
        return RotationFailure(exc.code, str(exc))
    if isinstance(exc, NcpError):
        return api_failure(exc, "finish the step")
    return RotationFailure("INTERNAL_ERROR", type(exc).__name__)
