"""A simulated database behind the product's own database target.

The rotation's :class:`~rotation.targets.database.DatabaseTarget` is the real thing (its
single-user, dual-password and alternating-users strategies, its login order, its
rollback and finish); only the :class:`~rotation.targets.database.Engine` under it is
simulated: :class:`SimEngine` logs in, changes and adds passwords on a
:class:`SimServer`, an in-memory server that knows which credentials it accepts at every
instant. Each connection and statement is a step of the schedule (``World.db_step``):
the place for its faults (connection refused, the connection cut before or after a
statement took effect, the invocation killed there) and for the invariant check after
every change.

The kind is registered as ``explorer-sim`` in ``rotation.targets.KINDS`` only while a
schedule runs (:func:`registered`), so ``handler.main`` builds it from the secret value's
``engine`` key exactly as it builds MariaDB's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rotation.generate import Policy
from rotation.ncp.models import SecretValue
from rotation.targets import KINDS
from rotation.targets.base import Target, TargetContext, TargetTestFailed
from rotation.targets.database import (
    Connection,
    Login,
    LoginRefused,
    Strategy,
    build_database_target,
)

if TYPE_CHECKING:
    from reliability.explore.world import World

KIND = "explorer-sim"
HOST = "simdb.explorer"
PORT = 5999


@dataclass
class SimServer:
    """Users and the passwords each accepts now; the admin is apart (never rotated)."""

    users: dict[str, set[str]] = field(default_factory=dict)
    admin: Login | None = None

    def accepts(self, username: str, password: str) -> bool:
        if self.admin is not None and (username, password) == (
            self.admin.username,
            self.admin.password,
        ):
            return True
        return password in self.users.get(username, set())

    def accepted(self) -> frozenset[tuple[str, str]]:
        """Every application credential that logs in now."""
        return frozenset((u, p) for u, ps in self.users.items() for p in ps)

    def describe(self) -> str:
        """Counts only: user names are rotation targets too, never shown."""
        counts = "+".join(str(len(ps)) for _, ps in sorted(self.users.items()))
        return f"passwords per user {counts or 'none'}"


@dataclass(frozen=True)
class SimSession:
    login: Login


class SimEngine:
    """The :class:`~rotation.targets.database.Engine` protocol on a :class:`SimServer`.

    Errors are the ones the real engines raise for the same events: a refused or lost
    connection is ``TargetUnreachable``, a refused login ``LoginRefused``, a statement cut
    off ``TargetSetFailed``, a failed round trip ``TargetTestFailed``.
    """

    kind = KIND
    default_port = PORT
    max_username_length = 32
    strategies = frozenset(Strategy)
    default_policy = Policy()

    def __init__(self, world: World) -> None:
        self.world = world

    @property
    def server(self) -> SimServer:
        server = self.world.server
        assert isinstance(server, SimServer)
        return server

    def connect(self, conn: Connection, login: Login, timeout: float) -> SimSession:
        self.world.db_step("connect", None)
        if not self.server.accepts(login.username, login.password):
            raise LoginRefused(f"{conn.host}:{conn.port} refused the login")
        return SimSession(login)

    def close(self, handle: Any) -> None:
        """Nothing held open."""

    def check(self, handle: Any, test_query: str | None) -> None:
        self.world.db_step("check", None, error=TargetTestFailed)

    def change_own_password(self, handle: Any, login: Login, new_password: str) -> None:
        def apply() -> None:
            self.server.users[login.username] = {new_password}

        self.world.db_step("statement", apply, what="the user sets its own password")

    def set_password(self, admin: Any, conn: Connection, username: str, new_password: str) -> None:
        def apply() -> None:
            self.server.users[username] = {new_password}

        self.world.db_step("statement", apply, what="the admin sets a password")

    def ensure_alternate(
        self, admin: Any, conn: Connection, current: str, alternate: str, password: str
    ) -> None:
        def apply() -> None:
            self.server.users[alternate] = {password}

        self.world.db_step("statement", apply, what="the admin (re)creates the other user")

    def add_password(self, handle: Any, username: str, password: str) -> None:
        def apply() -> None:
            self.server.users.setdefault(username, set()).add(password)

        self.world.db_step("statement", apply, what="the user gets a second password")

    def remove_password(self, handle: Any, username: str, password: str) -> None:
        def apply() -> None:
            self.server.users.get(username, set()).discard(password)

        self.world.db_step("statement", apply, what="the user loses a password")


#: The world of the schedule running now (one at a time per process).
_CURRENT: list[World] = []


@contextmanager
def registered(world: World) -> Iterator[None]:
    """The ``explorer-sim`` and ``explorer-mariadb`` kinds exist, served by ``world``,
    for the block."""
    from reliability.explore.real import KIND as REAL_KIND  # noqa: PLC0415 - a cycle

    _CURRENT.append(world)
    KINDS[KIND] = f"{__name__}:build_sim_target"
    KINDS[REAL_KIND] = "reliability.explore.real:build_real_target"
    try:
        yield
    finally:
        _CURRENT.pop()
        if not _CURRENT:
            KINDS.pop(KIND, None)
            KINDS.pop(REAL_KIND, None)


def current_world() -> World:
    return _CURRENT[-1]


def build_sim_target(config: Mapping[str, Any], active: SecretValue, ctx: TargetContext) -> Target:
    """The target factory of the ``explorer-sim`` kind (``rotation.targets.KINDS``)."""
    world = current_world()
    target = build_database_target(SimEngine(world), config, active, ctx)
    return world.variant.wrap_target(target)
