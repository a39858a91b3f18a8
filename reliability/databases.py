"""The real systems a scenario rotates, and the one question asked of them afterwards:
does the server accept this stored credential?

The answer is read from the server's own record of the credential, not from a login:
MariaDB's account hash (``mysql.user``), PostgreSQL's SCRAM verifier (``pg_authid``),
Redis's ACL password hashes. A login would say "yes" to any password on a ``trust``
PostgreSQL and "no" to the right one on a locked MariaDB account; the record says what
the server would accept with authentication enforced, which is what a lost credential
means. (``agrees_with_login`` checks the record against a real login once per engine, so
a broken check cannot make every scenario pass.)

Each kind knows how to make a login for a scenario (a unique user), the secret value that
points the rotation at it (through the scenario's fault proxy), and how to break and
repair the account for the database fault scenarios.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pg8000.native
import pymysql
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from scramp.utils import saslprep  # type: ignore[import-untyped]

from reliability.servers import PgCluster, unique

NO_RETRY = Retry(NoBackoff(), 0)
MARIADB = ("127.0.0.1", 3306)
REDIS = ("127.0.0.1", 6379)


class Database(Protocol):
    """One engine as the harness drives it. ``accepts`` is the invariant's question."""

    engine: str

    @property
    def upstream(self) -> tuple[str, int]: ...

    #: What the rotation's password change looks like on the wire (the proxy's marker for
    #: "the statement that changes the password"), and the one that makes it take effect.
    set_marker: bytes
    commit_marker: bytes

    def create_login(self, name: str, pw: str) -> None: ...

    def create_admin(self) -> tuple[str, str]: ...

    def track(self, name: str) -> None:
        """A user the rotation will create (a clone): dropped at cleanup too."""

    def accepts(self, username: str, pw: str) -> bool: ...

    def logs_in(self, username: str, pw: str) -> bool: ...

    def value(self, username: str, pw: str, port: int) -> dict[str, Any]: ...

    def cleanup(self) -> None: ...


def native_hash(pw: str) -> str:
    """MariaDB's ``mysql_native_password`` record of a password."""
    return "*" + hashlib.sha1(hashlib.sha1(pw.encode()).digest()).hexdigest().upper()  # noqa: S324


def scram_matches(verifier: str | None, pw: str) -> bool:
    """Does a ``pg_authid`` SCRAM-SHA-256 verifier belong to this password?"""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        head, keys = verifier[len("SCRAM-SHA-256$") :].split("$", 1)
        iterations, salt = head.split(":", 1)
        stored_key, _server_key = keys.split(":", 1)
        salted = hashlib.pbkdf2_hmac(
            "sha256", saslprep(pw).encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))


@dataclass
class MariaDB:
    engine: str = "mariadb"
    upstream: tuple[str, int] = MARIADB
    set_marker: bytes = b"PASSWORD"  # SET PASSWORD = PASSWORD(...), ALTER USER ... (admin)
    commit_marker: bytes = b"PASSWORD"  # autocommit: the statement is the change
    users: list[tuple[str, str]] = field(default_factory=list)

    def admin(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host=self.upstream[0], port=self.upstream[1], user="root", password="",
            connect_timeout=5, autocommit=True,
        )  # fmt: skip

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with contextlib.closing(self.admin()) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def create_login(self, name: str, pw: str) -> None:
        self.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, pw))
        self.users.append((name, "%"))

    def create_admin(self) -> tuple[str, str]:
        name, pw = unique("relad"), "Adm-" + hashlib.sha256(unique("x").encode()).hexdigest()[:20]
        self.create_login(name, pw)
        self.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (name,))
        return name, pw

    def track(self, name: str) -> None:
        self.users.append((name, "%"))

    def accepts(self, username: str, pw: str) -> bool:
        rows = self.execute(
            "SELECT authentication_string FROM mysql.user WHERE User = %s AND Host = '%%'",
            (username,),
        )
        return bool(rows) and rows[0][0] == native_hash(pw)

    def logs_in(self, username: str, pw: str) -> bool:
        try:
            conn = pymysql.connect(
                host=self.upstream[0], port=self.upstream[1], user=username, password=pw,
                connect_timeout=5,
            )  # fmt: skip
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                return False
            raise
        conn.close()
        return True

    def value(self, username: str, pw: str, port: int) -> dict[str, Any]:
        return {"engine": "mariadb", "host": "127.0.0.1", "port": port, "username": username,
                "password": pw, "ssl": "disable"}  # fmt: skip

    def cleanup(self) -> None:
        for name, host in self.users:
            with contextlib.suppress(pymysql.err.MySQLError):
                self.execute("DROP USER IF EXISTS %s@%s", (name, host))
        self.users.clear()


@dataclass
class PostgreSQL:
    """Roles on a shared throwaway cluster; each scenario drops only its own."""

    cluster: PgCluster
    engine: str = "postgresql"
    set_marker: bytes = b"ALTER ROLE"
    #: The password change runs in BEGIN ... COMMIT: only COMMIT makes it take effect.
    commit_marker: bytes = b"COMMIT"
    roles: list[str] = field(default_factory=list)

    @property
    def upstream(self) -> tuple[str, int]:
        return (self.cluster.host, self.cluster.port)

    def create_login(self, name: str, pw: str, extra: str = "") -> None:
        ident, literal = pg8000.native.identifier(name), pg8000.native.literal(pw)
        self.cluster.run(f"CREATE ROLE {ident} LOGIN PASSWORD {literal} {extra}")
        self.roles.append(name)

    def create_admin(self) -> tuple[str, str]:
        name, pw = unique("relad"), "Adm-" + hashlib.sha256(unique("x").encode()).hexdigest()[:20]
        self.create_login(name, pw, "CREATEROLE")
        return name, pw

    def track(self, name: str) -> None:
        self.roles.append(name)

    def accepts(self, username: str, pw: str) -> bool:
        rows = self.cluster.run(
            "SELECT rolpassword FROM pg_authid WHERE rolname = :name", name=username
        )
        return bool(rows) and scram_matches(rows[0][0], pw)

    def logs_in(self, username: str, pw: str) -> bool:
        return self.cluster.logs_in(username, pw)

    def value(self, username: str, pw: str, port: int) -> dict[str, Any]:
        # Plain text through the proxy, so that it can see the statements; SCRAM still
        # checks the password (the transport is not what is under test here).
        return {"engine": "postgresql", "host": "127.0.0.1", "port": port, "dbname": "postgres",
                "username": username, "password": pw, "ssl": "disable"}  # fmt: skip

    def set_login(self, username: str, can_login: bool) -> None:
        ident = pg8000.native.identifier(username)
        self.cluster.run(f"ALTER ROLE {ident} {'LOGIN' if can_login else 'NOLOGIN'}")

    def cleanup(self) -> None:
        for role in reversed(self.roles):
            with contextlib.suppress(pg8000.native.DatabaseError):
                ident = pg8000.native.identifier(role)
                self.cluster.run(f"DROP OWNED BY {ident}")
                self.cluster.run(f"DROP ROLE IF EXISTS {ident}")
        self.roles.clear()


@dataclass
class Redis:
    engine: str = "redis"
    upstream: tuple[str, int] = REDIS
    set_marker: bytes = b"SETUSER"
    commit_marker: bytes = b"SETUSER"
    users: list[str] = field(default_factory=list)

    def admin(self) -> redis.Redis:
        return redis.Redis(
            host=self.upstream[0], port=self.upstream[1], socket_connect_timeout=5,
            retry=NO_RETRY,
        )  # fmt: skip

    def create_login(self, name: str, pw: str) -> None:
        with contextlib.closing(self.admin()) as r:
            r.acl_setuser(name, enabled=True, passwords=[f"+{pw}"], keys=["*"], commands=["+@all"])
        self.users.append(name)

    def create_admin(self) -> tuple[str, str]:
        name, pw = unique("relad"), "Adm-" + hashlib.sha256(unique("x").encode()).hexdigest()[:20]
        self.create_login(name, pw)
        return name, pw

    def track(self, name: str) -> None:
        self.users.append(name)

    def accepts(self, username: str, pw: str) -> bool:
        with contextlib.closing(self.admin()) as r:
            acl: Mapping[str, Any] = r.acl_getuser(username) or {}
        hashes = {h.decode() if isinstance(h, bytes) else h for h in acl.get("passwords", [])}
        return hashlib.sha256(pw.encode()).hexdigest() in hashes

    def logs_in(self, username: str, pw: str) -> bool:
        client = redis.Redis(
            host=self.upstream[0], port=self.upstream[1], username=username, password=pw,
            socket_connect_timeout=5, retry=NO_RETRY,
        )  # fmt: skip
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        finally:
            client.close()

    def value(self, username: str, pw: str, port: int) -> dict[str, Any]:
        return {"engine": "redis", "host": "127.0.0.1", "port": port, "username": username,
                "password": pw, "ssl": "disable"}  # fmt: skip

    def cleanup(self) -> None:
        with contextlib.closing(self.admin()) as r:
            for name in self.users:
                with contextlib.suppress(redis.RedisError):
                    r.acl_deluser(name)
        self.users.clear()


def agrees_with_login(db: Database, username: str, right: str, wrong: str) -> bool:
    """The record-based check says what a login says, on a server that checks passwords."""
    return (
        db.accepts(username, right) is True
        and db.accepts(username, wrong) is False
        and db.logs_in(username, right) is True
        and db.logs_in(username, wrong) is False
    )
