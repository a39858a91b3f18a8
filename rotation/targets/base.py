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

Two optional hooks shape the pending value before any of this: ``derive(active)`` returns
target keys whose new value is not random (alternating users: the other user's name), and
``accepts(key, value)`` may refuse a generated value (Cloud DB PostgreSQL: a password must
not contain the user name), in which case the workflow draws again.

Every method receives the whole :class:`Change` (previous, active, pending values and
the rotation target keys). Errors must not carry secret values: raise
:class:`TargetError` subclasses with messages written here, not driver text that may echo
a statement (the log redactor scrubs known values as a second line of defence).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rotation.deadline import Deadline
from rotation.models import SecretValue, Stage
from rotation.signing import Credentials


class TargetError(Exception):
    """A target could not do what was asked. ``code`` goes into the handler's result."""

    code = "TARGET_ERROR"


class TargetConfigError(TargetError):
    """The target configuration is wrong (bad input: nothing is changed)."""

    code = "INVALID_TARGET"


class TargetUnreachable(TargetError):
    code = "TARGET_UNREACHABLE"


class TargetSetFailed(TargetError):
    code = "TARGET_SET_FAILED"


class TargetTestFailed(TargetError):
    code = "TARGET_TEST_FAILED"


class TargetRollbackFailed(TargetError):
    code = "TARGET_ROLLBACK_FAILED"


@dataclass(frozen=True)
class Change:
    """The values one rotation moves between, and which keys it changes."""

    secret_id: str
    active: SecretValue
    pending: SecretValue
    keys: tuple[str, ...]
    previous: SecretValue | None = None

    def stage(self, stage: Stage) -> SecretValue | None:
        return {Stage.ACTIVE: self.active, Stage.PENDING: self.pending}.get(stage, self.previous)

    def changed(self, stage: Stage = Stage.PENDING) -> dict[str, Any]:
        """The rotation target keys with their value in ``stage``."""
        value = self.stage(stage)
        return {} if value is None else {k: value[k] for k in self.keys if k in value}


@runtime_checkable
class Target(Protocol):
    kind: str
    #: False for store-only: nothing outside Secret Manager holds the credential, so the
    #: workflow skips probe/set/rollback and the test reads the stored value back.
    external: bool

    def probe(self, change: Change, stage: Stage) -> bool: ...

    def set(self, change: Change) -> None: ...

    def test(self, change: Change) -> None: ...

    def rollback(self, change: Change) -> None: ...

    def finish(self, change: Change) -> None: ...

    def close(self) -> None: ...


@dataclass
class TargetContext:
    """What a target may use besides its own configuration."""

    secret_id: str
    deadline: Deadline
    #: Tell the log redactor about a secret value the target learned (e.g. an admin password).
    register_secret: Callable[[str], None] = lambda _value: None
    #: Read another secret's active value (alternating users read the admin secret).
    read_secret: Callable[[str], SecretValue] | None = None
    #: Read back this secret's stored pending value (store-only's test).
    read_pending: Callable[[], SecretValue | None] | None = None
    #: The action's NCP API key pair (targets that call NCP APIs, e.g. Cloud DB).
    credentials: Credentials | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


TargetFactory = Callable[[Mapping[str, Any], SecretValue, TargetContext], Target]
"""Builds a target from its merged configuration and the active secret value.

Raises :class:`TargetConfigError` for bad configuration, before any job call."""
