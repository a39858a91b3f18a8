"""A share of the schedules on a real MariaDB (``python -m reliability explore --real``).

The simulated server is fast and exact about what it accepts; a real server is the
proof that the simulation does not flatter the rotation. Here the product's real MariaDB
engine (``rotation.targets.mysql.MARIADB``: PyMySQL, ``SET PASSWORD``) does the work on
the machine's MariaDB (127.0.0.1:3306, root), under the same steps and faults: each
connection and statement still goes through ``World.db_step`` first (a connection
refused, cut before or after the statement, the invocation killed there, a second
invocation starting there).

What the server accepts is read from its own record of the account (the password hash
in ``mysql.user``, as the fault matrix reads it: ``reliability/databases.py``), for the
credentials the chain holds, over one kept admin connection. Each schedule has its own
user, dropped afterwards. Single-user strategy only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pymysql

from reliability.databases import MARIADB as ADDRESS
from reliability.databases import native_hash
from reliability.servers import unique
from rotation.ncp.models import SecretValue
from rotation.targets.base import Target, TargetContext, TargetTestFailed
from rotation.targets.database import Connection, Login, build_database_target
from rotation.targets.mysql import MARIADB

if TYPE_CHECKING:
    from reliability.explore.invariant import Credential
    from reliability.explore.world import World

KIND = "explorer-mariadb"


class RealServer:
    """The machine's MariaDB, as the invariant asks it: which chain credentials log in."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.username = unique("exp")
        self._admin: Any = None

    def admin(self) -> Any:
        if self._admin is None:
            self._admin = pymysql.connect(
                host=ADDRESS[0], port=ADDRESS[1], user="root", password="",
                connect_timeout=5, autocommit=True,
            )  # fmt: skip
        return self._admin

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.admin().cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def create(self, password: str) -> None:
        self.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (self.username, password))

    def accepted(self) -> frozenset[Credential]:
        """The credentials of the chain (previous, active, pending) the account takes."""
        rows = self.execute(
            "SELECT authentication_string FROM mysql.user WHERE User = %s AND Host = '%%'",
            (self.username,),
        )
        stored_hash = rows[0][0] if rows else None
        chain = self.world.secret().chain
        found = set()
        for stage in ("previous", "active", "pending"):
            credential = self.world.invariant.credential(chain.get(stage))
            if (
                credential is not None
                and credential[0] == self.username
                and native_hash(credential[1]) == stored_hash
            ):
                found.add(credential)
        return frozenset(found)

    def describe(self) -> str:
        return "the account's password changed"

    def close(self) -> None:
        with contextlib.suppress(pymysql.err.MySQLError):
            self.execute("DROP USER IF EXISTS %s@'%%'", (self.username,))
        if self._admin is not None:
            with contextlib.suppress(pymysql.err.MySQLError):
                self._admin.close()
            self._admin = None


class RealEngine:
    """The product's MariaDB engine, each connection and statement a step of the world."""

    kind = MARIADB.kind
    default_port = MARIADB.default_port
    max_username_length = MARIADB.max_username_length
    strategies = MARIADB.strategies
    default_policy = MARIADB.default_policy

    def __init__(self, world: World) -> None:
        self.world = world

    def connect(self, conn: Connection, login: Login, timeout: float) -> Any:
        self.world.db_step("connect", None)
        return MARIADB.connect(conn, login, timeout)

    def close(self, handle: Any) -> None:
        MARIADB.close(handle)

    def check(self, handle: Any, test_query: str | None) -> None:
        self.world.db_step("check", None, error=TargetTestFailed)
        MARIADB.check(handle, test_query)

    def change_own_password(self, handle: Any, login: Login, new_password: str) -> None:
        self.world.db_step(
            "statement",
            lambda: MARIADB.change_own_password(handle, login, new_password),
            what="the user sets its own password",
        )

    def set_password(self, admin: Any, conn: Connection, username: str, new_password: str) -> None:
        self.world.db_step(
            "statement",
            lambda: MARIADB.set_password(admin, conn, username, new_password),
            what="the admin sets a password",
        )

    def ensure_alternate(
        self, admin: Any, conn: Connection, current: str, alternate: str, password: str
    ) -> None:
        raise NotImplementedError("the real share runs the single-user strategy")

    def add_password(self, handle: Any, username: str, password: str) -> None:
        MARIADB.add_password(handle, username, password)  # refuses: no dual on MariaDB

    def remove_password(self, handle: Any, username: str, password: str) -> None:
        MARIADB.remove_password(handle, username, password)


def build_real_target(config: Mapping[str, Any], active: SecretValue, ctx: TargetContext) -> Target:
    """The target factory of the ``explorer-mariadb`` kind (registered while it runs)."""
    from reliability.explore.database import current_world  # noqa: PLC0415 - a cycle

    world = current_world()
    return world.variant.wrap_target(build_database_target(RealEngine(world), config, active, ctx))


def available() -> str | None:
    """``None`` when the machine's MariaDB answers as root; else why not."""
    try:
        conn = pymysql.connect(
            host=ADDRESS[0], port=ADDRESS[1], user="root", password="", connect_timeout=3
        )
    except pymysql.err.MySQLError as exc:
        return f"MariaDB at {ADDRESS[0]}:{ADDRESS[1]} is not available ({type(exc).__name__})"
    conn.close()
    return None
