"""Does the target check passwords at all? One probe with a random wrong password.

A server that accepts any password (PostgreSQL ``trust`` in ``pg_hba.conf``, a Redis
``nopass`` user) makes every login probe say "yes": the rotation would then skip ``set``
for a value the server never received and its ``test`` would prove nothing. The rotation
(:meth:`rotation.workflow.Rotation.auth_enforced`) asks once per run and warns
``TARGET_AUTH_NOT_ENFORCED``; ``python -m rotation check`` asks the same question with the
same probe and reports the same code as a ``warn`` line. One function, so the two can
never disagree about what counts as "accepts anything".

The wrong password is random (never stored, registered with the redactor all the same),
and it is tried as a login only: nothing is set.
"""

from __future__ import annotations

import secrets

from rotation import logs
from rotation.ncp.models import Stage
from rotation.targets.base import Change, Target, TargetError


def accepts_any_password(target: Target, change: Change) -> bool:
    """True when ``target`` logs in with ``change.pending``'s user and a random wrong
    value in every rotation target it does not derive. Any refusal, an error included,
    counts as "checks passwords": that is what a well-configured server does."""
    derived = set(target.derive(change.active))
    decoy = change.pending.replace(
        {k: "x-" + secrets.token_urlsafe(18) for k in change.keys if k not in derived}
    )
    logs.REDACTOR.register_value(decoy, change.keys)
    try:
        return target.probe(
            Change(change.secret_id, change.active, decoy, change.keys, change.previous),
            Stage.PENDING,
        )
    except TargetError:
        return False


def not_enforced_message(kind: str) -> str:
    """The warning's text, the same in the rotation's result and in ``check``."""
    return (
        f"the {kind} target accepted a random wrong password: it does not check passwords, "
        "so the rotation's test proves nothing"
    )
