"""What the workflow asks of the system behind a secret.

A target is whatever accepts the credential: a database user, a cache, a webhook, or
nothing at all (store-only). The workflow drives every target the same way, and the
invariant it defends is that at every instant the target accepts at least one credential
Secret Manager stores (active or pending):

1. ``probe(change, PENDING)``: does the target already accept the pending credential?
   (A retried job may have set it before crashing.) If so, ``set`` is skipped.
2. ``set(change)``: make the target accept the pending credential. Single-user targets
   switch the user's password (logging in with active, or previous after a half-finished
   run); dual-credential targets add the pending one beside the active one.
3. ``test(change)``: prove the pending credential works with a real round trip; raise
   :class:`TargetTestFailed` if it does not.
4. After Secret Manager's ``complete``: ``finish(change)`` retires what the rotation
   replaced, for targets that kept both credentials during the switch (no-op otherwise).
5. On failure before ``complete``: ``rollback(change)`` makes the target accept the
   active credential again; the workflow then checks ``probe(change, ACTIVE)`` before it
   reports the job failed.

Hooks with defaults on :class:`Target` shape the rotation before any of this:
``derive(active)`` returns target keys whose new value is not random (alternating users:
the other user's name), ``accepts(key, value)`` may refuse a generated value (Cloud DB
PostgreSQL: a password must not contain the user name; the workflow draws again),
``default_policy`` is the value policy when the action names none, and ``reapply`` asks
for ``set`` even when the probe already accepts pending.

Some values only the target can make: an NCP API key's secret exists only in the answer
that created the key. Such a target names those keys in ``creates``; the workflow calls
``create(active, keys)`` when it needs a new pending value, after every other key is
drawn, and stores what it returns as pending at once. If that store fails (or may have),
``discard(error)`` undoes what ``create`` made. ``creates`` keys are never drawn at
random, whatever the value policy's generator.

Every method receives the whole :class:`Change` (previous, active, pending values and
the rotation target keys). Errors must not carry secret values: raise
:class:`TargetError` subclasses with messages written here, not driver text that may echo
a statement (the log redactor scrubs known values as a second line of defence).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Final

from rotation import codes
from rotation.codes import CodedError
from rotation.generate import Policy
from rotation.ncp.budget import RetryBudget
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import AuthenticationFailed, Forbidden
from rotation.ncp.models import SecretChain, SecretValue, Stage
from rotation.ncp.records import Record
from rotation.ncp.signing import Credentials


class TargetError(CodedError):
    """A target could not do what was asked. ``code`` goes into the handler's result."""

    code = codes.TARGET_ERROR
    #: Raised before anything on the target could change (no session was ever opened):
    #: the workflow then need not roll back what this run never did.
    untouched: bool = False

    def __init__(self, message: str, *, code: str | None = None, untouched: bool = False) -> None:
        super().__init__(message, code=code)
        self.untouched = untouched or type(self).untouched


class TargetConfigError(TargetError):
    """The target configuration is wrong (bad input: nothing is changed)."""

    code = codes.INVALID_TARGET


class TargetUnreachable(TargetError):
    code = codes.TARGET_UNREACHABLE


class TargetSetFailed(TargetError):
    code = codes.TARGET_SET_FAILED


class TargetTestFailed(TargetError):
    code = codes.TARGET_TEST_FAILED


class TargetRollbackFailed(TargetError):
    code = codes.TARGET_ROLLBACK_FAILED


def permission_denied(exc: Exception, doing: str, policy: str) -> TargetError | None:
    """An NCP API's refusal for want of a policy (403, or the gateway's 401 code 210) as
    the coded error that names the policy; ``None`` for any other error."""
    refused = isinstance(exc, Forbidden) or (
        isinstance(exc, AuthenticationFailed) and getattr(exc, "code", "") == "210"
    )
    if not refused:
        return None
    return TargetError(
        f"could not {doing}: {exc} (the action's sub account needs {policy})",
        code=codes.TARGET_PERMISSION_DENIED,
        untouched=True,
    )


class Change(Record):
    """The values one rotation moves between, and which keys it changes.

    A :class:`~rotation.ncp.records.Record`, not a tuple: it holds secret values, and the log
    redactor walks into tuples; its ``repr`` shows each value masked."""

    __slots__ = ("active", "keys", "pending", "previous", "secret_id")

    def __init__(
        self,
        secret_id: str,
        active: SecretValue,
        pending: SecretValue,
        keys: tuple[str, ...],
        previous: SecretValue | None = None,
    ) -> None:
        self.secret_id: Final = secret_id
        self.active: Final = active
        self.pending: Final = pending
        self.keys: Final = keys
        self.previous: Final = previous

    def stage(self, stage: Stage) -> SecretValue | None:
        return {Stage.ACTIVE: self.active, Stage.PENDING: self.pending}.get(stage, self.previous)

    def changed(self, stage: Stage = Stage.PENDING) -> dict[str, Any]:
        """The rotation target keys with their value in ``stage``."""
        value = self.stage(stage)
        return {} if value is None else {k: value[k] for k in self.keys if k in value}


class Target(ABC):
    """The base every target kind inherits: the five steps, and every hook with its default.

    The hooks are declared here, not discovered, so that a misspelled override is a type
    error and the workflow calls each of them directly.
    """

    kind: str = "target"
    #: False for store-only: nothing outside Secret Manager holds the credential, so the
    #: workflow skips probe/set/rollback and the test reads the stored value back.
    external: bool = True
    #: The value policy used when the action parameters name none (``None``: the default).
    default_policy: Policy | None = None

    @property
    def reapply(self) -> bool:
        """Run ``set`` even when the probe already accepts pending (``set`` also re-syncs
        something besides the password, e.g. privileges)."""
        return False

    def derive(self, active: SecretValue) -> Mapping[str, str]:
        """Target keys whose new value is not random (alternating users: the other user)."""
        return {}

    def accepts(self, key: str, value: str) -> bool:
        """May ``value`` be used for ``key``? Refused values are drawn again."""
        return True

    #: Rotation target keys whose new value only the target can make (``create``).
    creates: frozenset[str] = frozenset()

    def create(self, active: SecretValue, keys: tuple[str, ...]) -> Mapping[str, str]:
        """Make the new values of the ``creates`` keys; the workflow stores them as pending
        at once. Nothing by default."""
        return {}

    def discard(self, error: BaseException) -> None:  # noqa: B027 - an optional hook
        """Storing what ``create`` made failed with ``error`` (or its outcome is unknown):
        undo it so nothing the chain does not hold is left on the target."""

    def access(self) -> tuple[bool, str] | None:
        """For ``rotation check``: try the reads a rotation of this kind needs (nothing
        changes) and say what they showed, ``(fine, message)``; raise
        :class:`TargetError` when they are refused. ``None``: no such reads."""
        return None

    @abstractmethod
    def probe(self, change: Change, stage: Stage) -> bool: ...

    @abstractmethod
    def set(self, change: Change) -> None: ...

    @abstractmethod
    def test(self, change: Change) -> None: ...

    @abstractmethod
    def rollback(self, change: Change) -> None: ...

    def finish(self, change: Change) -> None:  # noqa: B027 - an optional hook
        """Retire what the rotation replaced (dual-credential targets); nothing by default."""

    def use(self, change: Change) -> None:  # noqa: B027 - an optional hook
        """For ``rotation check``: use the active credential (``change.pending`` is the
        active value) as the rotation's ``test`` will use the new one, changing nothing
        (a database's test query), so the check fails wherever the test would; raise
        :class:`TargetError`. Nothing by default."""

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Release connections; nothing by default."""


class TargetContext:
    """What a target may use besides its own configuration.

    A plain class, not a dataclass (cold start: see :mod:`rotation.ncp.records`), and not
    frozen: the workflow gives a rollback its recovery ``deadline``."""

    __slots__ = (
        "credentials", "deadline", "read_chain", "read_pending", "read_secret",
        "register_secret", "retry_budget", "secret_id",
    )  # fmt: skip

    def __init__(
        self,
        *,
        secret_id: str,
        deadline: Deadline,
        register_secret: Callable[[str], None] = lambda _value: None,
        read_secret: Callable[[str], SecretValue] | None = None,
        read_pending: Callable[[], SecretValue | None] | None = None,
        read_chain: Callable[[], SecretChain | None] | None = None,
        credentials: Credentials | None = None,
        retry_budget: RetryBudget | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.deadline = deadline
        #: Tell the log redactor about a secret value the target learned (e.g. an admin password).
        self.register_secret = register_secret
        #: Read another secret's active value (alternating users read the admin secret).
        self.read_secret = read_secret
        #: Read back this secret's stored pending value (store-only's test).
        self.read_pending = read_pending
        #: Read this secret's chain afresh (``None`` when it cannot be read): a target that
        #: must not touch what another run of the job may have stored looks first.
        self.read_chain = read_chain
        #: The action's NCP API key pair (targets that call NCP APIs, e.g. Cloud DB).
        self.credentials = credentials
        #: The invocation's retry budget, so a target's own NCP client draws on the same
        #: quota as Secret Manager's (one bound per invocation, not one per client).
        self.retry_budget = retry_budget


TargetFactory = Callable[[Mapping[str, Any], SecretValue, TargetContext], Target]
"""Builds a target from its merged configuration and the active secret value.

Raises :class:`TargetConfigError` for bad configuration, before any job call."""
