"""Check before enabling: would a rotation of this secret work, without starting one?

``python -m rotation check SECRET_ID`` runs it with the operator's credentials; the
deployed action runs it on a dry-run invocation (``dryRun: true``), from inside its VPC,
which is where a database's reachability actually matters. Each check is one line:

    api      reach the Secret Manager host and read the secret (proves the keys too)
    identity who the action signs as (STS caller-identity; the main account's pair warns)
    secret   its status, phase and trigger allow a rotation
    params   (``python -m rotation check`` only) where ``target`` and ``policy`` come
             from: the deployed action's parameters, this secret's ``bySecretId`` entry
             laid over them as the action does, unless ``--params`` names a file
    value    the active value is a JSON object holding every rotation target as a
             non-empty string, of plain text, bounded in depth and size
    target   the target builds from the value and the ``target`` parameter (every
             setting checked, files loaded), and derives only rotation targets
    login    the target accepts the *active* credential (a probe, and a database's test
             query with it, as the rotation's test runs it; nothing is set), and
             refuses a random wrong one: a server that accepts any password (``trust``,
             ``nopass``) is a ``warn`` line with the rotation's own warning,
             TARGET_AUTH_NOT_ENFORCED (:mod:`rotation.auth_probe`, the rotation's probe)
    access   the target's API reads a rotation needs are allowed (a 403 names the policy)
    policy   the value policy parses, names only rotation targets, the target accepts
             what it generates, and the new value fits Secret Manager's limit

``value``, ``target`` and ``policy`` are the rotation's own preflight rules
(:mod:`rotation.preflight`): a check that passes them is a rotation that passes them,
and a failure reports the code the rotation would end with.

Nothing changes: only reads (Get Secret Detail, Get Secret Value, an admin secret's value)
and probes of the active credential and of a random wrong one, which are logins, or signed
``test`` requests for a webhook. No job is started, no pending value is written. A check
that cannot run because an earlier one failed says so (``skip``). ``run_check`` never
raises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from rotation import codes, identity, logs, preflight
from rotation.auth_probe import accepts_any_password, not_enforced_message
from rotation.codes import CODES, CodedError
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import (
    AuthenticationFailed,
    Forbidden,
    NcpError,
    NotFound,
    TransportError,
)
from rotation.ncp.models import (
    NOT_ROTATABLE,
    RotationPhase,
    SecretChain,
    SecretDetail,
    SecretValue,
    SecretValueError,
    Stage,
)
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials
from rotation.targets import Change, Target, TargetContext, TargetError, build_target

#: Generated samples per key when checking that the target accepts the policy's values.
SAMPLES = preflight.SAMPLES

TargetBuilder = Callable[[Mapping[str, Any] | None, SecretValue, TargetContext], Target]


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckLine:
    name: str
    status: CheckStatus
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status.value, "message": self.message}

    def __str__(self) -> str:
        return f"{self.status.value:<4}  {self.name:<6}  {self.message}"


class CheckInputs(Protocol):
    """What a check needs; :class:`rotation.settings.Settings` has all of it."""

    @property
    def secret_id(self) -> str: ...
    @property
    def target(self) -> Mapping[str, Any] | None: ...
    @property
    def policy(self) -> Mapping[str, Any] | None: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def deadline(self) -> Deadline: ...


@dataclass(frozen=True)
class ActionParameters:
    """The ``target`` and ``policy`` a rotation of this secret gets, and where they came
    from (for the ``params`` line). ``status`` is ``WARN`` when the deployed action's
    parameters could not be read and the check goes on without them, ``FAIL`` when the
    check cannot tell which parameters apply (the trigger runs several actions)."""

    target: Mapping[str, Any] | None
    policy: Mapping[str, Any] | None
    source: str
    status: CheckStatus = CheckStatus.OK


#: Finds the parameters of the action that will rotate the secret, from its detail and
#: the actions its trigger runs (``None``: the trigger list could not be read). Raises a
#: :class:`~rotation.codes.CodedError` with the code the action would end with when they
#: are parameters the action refuses.
ParamsSource = Callable[[SecretDetail, list[str] | None], ActionParameters]


def passed(lines: list[CheckLine]) -> bool:
    """No line failed (warnings and skips after warnings do not fail a check)."""
    return all(line.status is not CheckStatus.FAIL for line in lines)


class _Stop(Exception):
    """A check failed in a way that leaves nothing for the next ones to look at."""


class _Checker:
    def __init__(
        self,
        inputs: CheckInputs,
        client: SecretManagerClient,
        builder: TargetBuilder,
        params: ParamsSource | None = None,
    ) -> None:
        self.inputs = inputs
        self.client = client
        self.builder = builder
        self.source = params
        self.sid = inputs.secret_id
        self.lines: list[CheckLine] = []
        self.actions: list[str] | None = None
        self.target_config: Mapping[str, Any] | None = inputs.target
        self.policy_config: Mapping[str, Any] | None = inputs.policy

    def add(self, name: str, status: CheckStatus, message: str) -> None:
        self.lines.append(CheckLine(name, status, logs.REDACTOR.scrub(message)))

    def fail(self, name: str, message: str) -> _Stop:
        self.add(name, CheckStatus.FAIL, message)
        return _Stop()

    # -- the checks -------------------------------------------------------------------------

    def api(self) -> SecretDetail:
        host = urlsplit(self.client.endpoint).netloc
        started = time.monotonic()
        try:
            detail = self.client.get_secret(self.sid)
        except TransportError as exc:
            raise self.fail("api", f"cannot reach {host}: {exc}") from None
        except (AuthenticationFailed, Forbidden) as exc:
            raise self.fail(
                "api",
                f"reached {host}, which refused the key pair: {exc} (check the keys, their "
                "sub-account policy NCP_SECRETMANAGER_MANAGER, and the clock)",
            ) from None
        except NotFound:
            raise self.fail("api", f"reached {host}; it knows no secret with this id") from None
        except NcpError as exc:
            raise self.fail("api", f"reached {host}, which answered: {exc}") from None
        ms = round((time.monotonic() - started) * 1000)
        self.add("api", CheckStatus.OK, f"reached {host} and read the secret in {ms} ms")
        return detail

    def secret(self, detail: SecretDetail) -> None:
        if detail.status in NOT_ROTATABLE:
            raise self.fail("secret", f"the secret is {detail.status.value}: it cannot rotate")
        notes = []
        status = CheckStatus.OK
        if detail.rotating:
            status = CheckStatus.WARN
            notes.append("a rotation job is running now")
        elif detail.rotation_phase is RotationPhase.ROTATION_FAILED:
            status = CheckStatus.WARN
            notes.append("the last rotation failed")
        if detail.trigger is None:
            status = CheckStatus.WARN
            notes.append("no rotation trigger is linked, so no rotation can run")
        else:
            actions = self.actions = self.trigger_actions(detail.trigger.id)
            if actions is None:
                notes.append("its trigger's actions could not be read (Get Trigger List)")
            elif not actions:
                status = CheckStatus.WARN
                notes.append("its trigger runs no action: link the rotation action (deploy)")
            else:
                notes.append(f"its trigger runs {', '.join(actions)}")
        auto = (
            f"auto rotation every {detail.auto_rotation_period} days"
            if detail.auto_rotation
            else "auto rotation off"
        )
        base = f"{detail.secret_name}: {detail.status.value}, {auto}"
        self.add("secret", status, "; ".join([base, *notes]))

    def trigger_actions(self, trigger_id: str) -> list[str] | None:
        return trigger_actions(self.client, trigger_id)

    def params(self, detail: SecretDetail) -> None:
        """Where ``target`` and ``policy`` come from; a parameter the action would refuse
        fails here with the action's code."""
        assert self.source is not None
        try:
            found = self.source(detail, self.actions)
        except CodedError as exc:
            raise self.coded("params", exc) from None
        if found.status is CheckStatus.FAIL:
            raise self.fail("params", found.source)
        self.target_config, self.policy_config = found.target, found.policy
        self.add("params", found.status, found.source)

    def coded(self, name: str, exc: CodedError) -> _Stop:
        """A failed rule of :mod:`rotation.preflight`, as the rotation would report it."""
        return self.fail(name, f"{exc.code}: {exc}")

    def value(self) -> SecretChain:
        try:
            chain = self.client.get_secret_values(self.sid)
        except SecretValueError as exc:
            raise self.coded("value", preflight.unreadable_value(exc)) from None
        except NcpError as exc:
            raise self.fail("value", f"cannot read the value: {exc}") from None
        self.register(chain)
        try:
            preflight.active_value(chain)
        except CodedError as exc:
            raise self.coded("value", exc) from None
        targets = ", ".join(chain.rotation_targets)
        self.add("value", CheckStatus.OK, f"active value holds the rotation targets ({targets})")
        return chain

    @staticmethod
    def register(chain: SecretChain) -> None:
        for stage in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(stage, chain.rotation_targets)

    def read_other(self, secret_id: str) -> SecretValue:
        return preflight.linked_value(
            lambda: self.client.get_secret_values(secret_id), register=self.register
        )

    def target(self, chain: SecretChain) -> Target:
        assert chain.active is not None
        ctx = TargetContext(
            secret_id=self.sid,
            deadline=self.inputs.deadline,
            register_secret=logs.REDACTOR.register,
            read_secret=self.read_other,
            read_pending=lambda: None,
            credentials=self.inputs.credentials,
        )
        try:
            target = self.builder(self.target_config, chain.active, ctx)
        except CodedError as exc:
            raise self.coded("target", exc) from None
        try:
            preflight.derived_keys(target, chain.active, chain.rotation_targets)
        except CodedError as exc:
            target.close()
            raise self.coded("target", exc) from None
        self.add("target", CheckStatus.OK, f"{target.kind} target built")
        return target

    def login(self, target: Target, chain: SecretChain) -> None:
        if not target.external:
            self.add("login", CheckStatus.SKIP, "store-only: nothing outside Secret Manager")
            return
        assert chain.active is not None
        change = Change(
            self.sid, chain.active, chain.active, chain.rotation_targets, chain.previous
        )
        try:
            accepted = target.probe(change, Stage.ACTIVE)
        except TargetError as exc:
            self.add("login", CheckStatus.FAIL, f"{exc.code}: {exc}")
            return
        if not accepted:
            self.add(
                "login",
                CheckStatus.FAIL,
                "the target refused the active credential: a rotation could not log in",
            )
            return
        try:
            target.use(change)  # the rotation's test, with the active credential
        except TargetError as exc:
            self.add("login", CheckStatus.FAIL, f"{exc.code}: {exc}")
            return
        if accepts_any_password(target, change):
            code = codes.TARGET_AUTH_NOT_ENFORCED
            self.add(
                "login",
                CheckStatus.WARN,
                f"{code}: the target accepts the active credential, but "
                f"{not_enforced_message(target.kind)} ({CODES[code].action})",
            )
            return
        self.add(
            "login",
            CheckStatus.OK,
            "the target accepts the active credential and refuses a random wrong one",
        )

    def identity(self) -> None:
        endpoint = identity.sts_endpoint(self.client.endpoint, self.inputs.target)
        status, message = identity.identity_line(
            self.inputs.credentials, endpoint, self.inputs.deadline
        )
        self.add("identity", CheckStatus(status), message)

    def access(self, target: Target) -> None:
        found = identity.access_line(target)
        if found is not None:
            self.add("access", CheckStatus(found[0]), found[1])

    def policy(self, target: Target, chain: SecretChain) -> None:
        try:
            policies = preflight.policies_for(self.policy_config, target, chain)
        except CodedError as exc:
            self.add("policy", CheckStatus.FAIL, f"{exc.code}: {exc}")
            return
        length = policies.default.length
        self.add(
            "policy",
            CheckStatus.OK,
            f"generator {policies.generator.value}, {length} characters by default; the "
            "target accepts its values",
        )

    def run(self) -> list[CheckLine]:
        order = ("api", "secret", *(("params",) if self.source else ()), "value", "target",
                 "login", "policy")  # fmt: skip
        target: Target | None = None
        try:
            detail = self.api()
            self.identity()
            self.secret(detail)
            if self.source is not None:
                self.params(detail)
            chain = self.value()
            target = self.target(chain)
            self.login(target, chain)
            self.access(target)
            self.policy(target, chain)
        except _Stop:
            pass
        except Exception as exc:  # noqa: BLE001 - a check reports, it never raises
            self.add("error", CheckStatus.FAIL, f"unexpected {type(exc).__name__}")
        finally:
            if target is not None:
                with contextlib.suppress(Exception):  # closing must not hide the result
                    target.close()
        done = {line.name for line in self.lines}
        if any(line.status is CheckStatus.FAIL for line in self.lines):
            for name in order:
                if name not in done:
                    self.add(name, CheckStatus.SKIP, "not checked: an earlier check failed")
        return self.lines


def trigger_actions(client: SecretManagerClient, trigger_id: str) -> list[str] | None:
    """The actions the secret's trigger runs (Get Trigger List), ``[]`` for none, ``None``
    when the list cannot be read: which deployed parameters a rotation of it uses."""
    try:
        triggers = client.list_triggers()
    except NcpError:
        return None
    for trigger in triggers:
        if trigger.id == trigger_id:
            return [a.name for a in trigger.actions]
    return []


def run_check(
    inputs: CheckInputs,
    client: SecretManagerClient,
    *,
    target_builder: TargetBuilder = build_target,
    params: ParamsSource | None = None,
) -> list[CheckLine]:
    """Every check, one line each, in order. Never raises, never changes anything.

    Without ``params`` the target and policy are ``inputs``' (the action's dry run: its
    own settings); with it, they are what ``params`` finds (``python -m rotation
    check``: the deployed action's), reported on a ``params`` line."""
    return _Checker(inputs, client, target_builder, params).run()
