"""The invariant, checked after every step of a schedule.

At every instant the target accepts at least one credential Secret Manager stores
(active or pending), and once the job has ended (no started job is live: the secret is
not ROTATING), the active one (DESIGN.md).

Checked after every Secret Manager request and every database statement. A step of an
invocation that sees the world alone must never break it. Two things can break it that
no rotation can prevent, only repair: a request landing after its client gave up or died
(a late ``complete``, a late pending value), and a step of one invocation that another
invocation of the same job had changed the state under (its own view was stale). Such a
break is *tolerated* until its phase ends: by the time every invocation of the phase has
returned, the state must hold again. A break left at the end of a phase is a violation
(a run that took a refused ``fail`` as the end of the story, say) when it could have been
repaired: the target still accepts a value of the chain (previous, active or pending),
so a run could log in with it and set active. When the target accepts nothing the chain
holds (an invocation's pending value overwritten by another's, then the first one
killed), no rotation could repair it without a compare-and-swap NCP does not offer: that
is recorded as a *race* (reported, not counted as a violation; the job cannot converge
either).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from emulator.secretmanager.models import PHASE_ROTATING

if TYPE_CHECKING:
    from reliability.explore.baton import Actor
    from reliability.explore.world import World

Credential = tuple[str, str]


class Invariant:
    def __init__(self, world: World) -> None:
        self.world = world
        #: The first violation found, with the step that made it.
        self.violation: str | None = None
        #: A break excused until the end of its phase (see the module docstring).
        self.tolerated: str | None = None
        #: A tolerated break that nothing could repair (see the module docstring).
        self.race: str | None = None
        self._parsed: dict[str, Credential | None] = {}

    def credential(self, text: str | None) -> Credential | None:
        if text is None:
            return None
        if text not in self._parsed:
            value = json.loads(text)
            user, password = value.get("username"), value.get("password")
            ok = isinstance(user, str) and isinstance(password, str)
            self._parsed[text] = (user, password) if ok else None
        return self._parsed[text]

    def problem(self) -> str | None:
        """What is wrong now, or ``None``."""
        world = self.world
        if not world.schedule.external:
            return None
        secret = world.secret()
        accepted = world.server.accepted()
        active = self.credential(secret.chain.get("active"))
        pending = self.credential(secret.chain.get("pending"))
        if secret.phase != PHASE_ROTATING and active not in accepted:
            return f"the job has ended ({secret.phase}) and the target refuses active"
        if active not in accepted and (pending is None or pending not in accepted):
            stored = "active" + (" or pending" if pending is not None else "")
            return f"the target accepts no stored value (refuses {stored})"
        return None

    def after_step(self, step: str, actor: Actor | None, *, stale: bool) -> None:
        problem = self.problem()
        if problem is None:
            if self.tolerated is not None:
                self.world.note(f"invariant holds again after {step}")
            self.tolerated = None
            return
        if self.tolerated is not None:
            return
        if stale or (actor is not None and actor.interfered):
            who = actor.label if actor is not None else "?"
            why = "a late request landed" if stale else f"{who}'s view was stale"
            self.tolerated = f"{step}: {problem}"
            self.world.note(f"invariant broken, tolerated until the phase ends ({why}): {problem}")
            return
        self.fail(f"{step}: {problem}")

    def phase_end(self, phase: str, *, settling: bool = False) -> None:
        """Every invocation of ``phase`` has returned (and, ``settling``, the requests
        still in flight have landed): a break must have been repaired by now."""
        problem = self.problem()
        if problem is None:
            self.tolerated = None
            return
        if settling:
            # Landed after every invocation had returned: the next phase must repair it.
            if self.tolerated is None:
                self.tolerated = f"after the {phase} phase: {problem}"
            return
        if self.violation is not None or self.race is not None:
            return  # already reported: one finding per schedule
        if self.tolerated is not None and not self.repairable():
            self.race = f"end of the {phase} phase: {problem} (broken at {self.tolerated})"
            self.world.note(f"RACE: the target accepts no value of the chain: {self.race}")
            return
        since = f" (broken at {self.tolerated})" if self.tolerated else ""
        self.fail(f"end of the {phase} phase: {problem}{since}")

    def repairable(self) -> bool:
        """Does the target accept some value of the chain (a run could log in with it)?"""
        chain = self.world.secret().chain
        accepted = self.world.server.accepted()
        held = (self.credential(chain.get(stage)) for stage in ("previous", "active", "pending"))
        return any(c is not None and c in accepted for c in held)

    def fail(self, note: str) -> None:
        if self.violation is None:
            self.world.note(f"INVARIANT VIOLATED: {note}")
            self.violation = note
