"""Real database servers for the target tests, never mocks.

* MariaDB on 127.0.0.1:3306 (root, empty password) and Redis on 127.0.0.1:6379, as the
  machine starts them. Each test creates its own users and databases with unique names
  and drops them at teardown.
* PostgreSQL: the machine's server trusts every local connection, so a password test
  there would prove nothing. The suite starts a throwaway cluster from the installed
  server binaries instead (initdb/pg_ctl, as the ``postgres`` user when run as root),
  with ``scram-sha-256`` for every TCP login and TLS from a throwaway CA, on a free port.

Under ``CI=true`` a server that cannot be reached fails the test; elsewhere it is skipped
with the reason.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pymysql
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from reliability.servers import (  # noqa: F401 - re-exported for the tests
    PgCluster,
    ServerUnavailable,
    free_port,
    password,
    start_pg_cluster,
    unique,
)

#: redis-py 8 retries a refused login as if it were a network error (3.6 s each); a test
#: asking "does this password work?" wants the first answer.
NO_RETRY = Retry(NoBackoff(), 0)

MARIADB = ("127.0.0.1", 3306)
REDIS = ("127.0.0.1", 6379)


def unavailable(what: str, why: str) -> None:
    """A missing server: a failure in CI, a skip elsewhere."""
    message = f"{what} is not available: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
    pytest.skip(message)


# -- MariaDB ----------------------------------------------------------------------------------


@dataclass
class MariaDB:
    host: str = MARIADB[0]
    port: int = MARIADB[1]
    users: list[tuple[str, str]] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    def admin(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host=self.host, port=self.port, user="root", password="", connect_timeout=5,
            autocommit=True,
        )  # fmt: skip

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with contextlib.closing(self.admin()) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def create_database(self, name: str | None = None) -> str:
        name = name or unique("rotdb")
        self.execute(f"CREATE DATABASE `{name}`")
        self.databases.append(name)
        return name

    def create_user(
        self, name: str, pw: str, *, host: str = "%", grants: tuple[str, ...] = ()
    ) -> None:
        self.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, pw))
        self.users.append((name, host))
        for grant in grants:
            self.execute(f"GRANT {grant} TO %s@%s", (name, host))

    def track_user(self, name: str, host: str = "%") -> None:
        """A user the rotation will create (a clone): dropped at teardown too."""
        self.users.append((name, host))

    def logs_in(self, user: str, pw: str, database: str | None = None) -> bool:
        try:
            conn = pymysql.connect(
                host=self.host, port=self.port, user=user, password=pw, database=database,
                connect_timeout=5,
            )  # fmt: skip
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                return False
            raise
        conn.close()
        return True

    def grants(self, user: str, host: str = "%") -> list[str]:
        rows = self.execute("SHOW GRANTS FOR %s@%s", (user, host))
        return sorted(r[0].split(" IDENTIFIED BY")[0] for r in rows)

    def hosts(self, user: str) -> list[str]:
        return sorted(
            r[0] for r in self.execute("SELECT Host FROM mysql.user WHERE User = %s", (user,))
        )

    def cleanup(self) -> None:
        for name, host in self.users:
            with contextlib.suppress(pymysql.err.MySQLError):
                self.execute("DROP USER IF EXISTS %s@%s", (name, host))
        for db in self.databases:
            with contextlib.suppress(pymysql.err.MySQLError):
                self.execute(f"DROP DATABASE IF EXISTS `{db}`")


@pytest.fixture
def mariadb() -> Iterator[MariaDB]:
    server = MariaDB()
    try:
        server.execute("SELECT 1")
    except pymysql.err.MySQLError as exc:
        unavailable(f"MariaDB at {server.host}:{server.port}", type(exc).__name__)
    try:
        yield server
    finally:
        server.cleanup()


# -- Redis ------------------------------------------------------------------------------------


@dataclass
class Redis:
    host: str = REDIS[0]
    port: int = REDIS[1]
    users: list[str] = field(default_factory=list)

    def admin(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_connect_timeout=5, retry=NO_RETRY)

    def create_user(self, name: str, pw: str, rules: tuple[str, ...] = ("~*", "+@all")) -> None:
        with contextlib.closing(self.admin()) as r:
            r.acl_setuser(name, enabled=True, passwords=[f"+{pw}"], keys=["*"], commands=["+@all"])
            if rules != ("~*", "+@all"):
                # redis-py's execute_command is untyped (as in rotation/targets/redis.py)
                r.execute_command(  # type: ignore[no-untyped-call]
                    "ACL", "SETUSER", name, "resetkeys", "-@all", *rules
                )
        self.users.append(name)

    def logs_in(self, user: str, pw: str) -> bool:
        client = redis.Redis(
            host=self.host, port=self.port, username=user, password=pw,
            socket_connect_timeout=5, retry=NO_RETRY,
        )  # fmt: skip
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        finally:
            client.close()

    def acl(self, user: str) -> dict[str, Any]:
        with contextlib.closing(self.admin()) as r:
            return dict(r.acl_getuser(user) or {})

    def cleanup(self) -> None:
        with contextlib.closing(self.admin()) as r:
            for name in self.users:
                with contextlib.suppress(redis.RedisError):
                    r.acl_deluser(name)


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    server = Redis()
    try:
        with contextlib.closing(server.admin()) as r:
            r.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {server.host}:{server.port}", type(exc).__name__)
    try:
        yield server
    finally:
        server.cleanup()


# -- PostgreSQL: a throwaway cluster that checks passwords (reliability/servers.py) ----------


@pytest.fixture(scope="session")
def pg_cluster_session() -> Iterator[PgCluster | str]:
    try:
        cluster = start_pg_cluster("scram-sha-256")
    except ServerUnavailable as exc:
        yield str(exc)
        return
    try:
        yield cluster
    finally:
        cluster.stop()


T = TypeVar("T")


def started(session: T | str, what: str) -> T:
    """A session fixture yields the server, or the reason it could not start (a string):
    turn the reason into a failure under CI, a skip elsewhere."""
    if isinstance(session, str):
        unavailable(what, session)
    return session  # type: ignore[return-value]


@pytest.fixture
def pg_cluster(pg_cluster_session: PgCluster | str) -> Iterator[PgCluster]:
    cluster = started(pg_cluster_session, "a password-checking PostgreSQL")
    try:
        yield cluster
    finally:
        cluster.cleanup()
