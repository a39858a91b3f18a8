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
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pg8000.native
import pymysql
import pytest
import redis
import trustme
from redis.backoff import NoBackoff
from redis.retry import Retry

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


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def password() -> str:
    """A test password: long enough for the leak guard, safe in every engine."""
    return "Pw-" + secrets.token_urlsafe(15)


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


# -- PostgreSQL: a throwaway cluster that checks passwords --------------------------------------


@dataclass
class PgCluster:
    host: str
    port: int
    superuser: str
    superpass: str
    ca_file: str
    roles: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    def connect(
        self, user: str, pw: str, database: str = "postgres", **kw: Any
    ) -> pg8000.native.Connection:
        return pg8000.native.Connection(
            user, host=self.host, port=self.port, password=pw, database=database, timeout=5, **kw
        )

    def admin(self) -> pg8000.native.Connection:
        return self.connect(self.superuser, self.superpass)

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        conn = self.admin()
        try:
            return conn.run(sql, **params) or []
        finally:
            conn.close()

    def create_role(self, name: str, pw: str, *, extra: str = "") -> None:
        ident = pg8000.native.identifier(name)
        self.run(f"CREATE ROLE {ident} LOGIN PASSWORD {pg8000.native.literal(pw)} {extra}")
        self.roles.append(name)

    def track_role(self, name: str) -> None:
        self.roles.append(name)

    def create_database(self, owner: str | None = None) -> str:
        name = unique("rotdb")
        owner_sql = f" OWNER {pg8000.native.identifier(owner)}" if owner else ""
        self.run(f"CREATE DATABASE {pg8000.native.identifier(name)}{owner_sql}")
        self.databases.append(name)
        return name

    def logs_in(self, user: str, pw: str, database: str = "postgres") -> bool:
        try:
            conn = self.connect(user, pw, database)
        except pg8000.native.DatabaseError as exc:
            code = exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else None
            if code == "28P01":  # invalid_password
                return False
            raise
        conn.close()
        return True

    def cleanup(self) -> None:
        for db in self.databases:
            with contextlib.suppress(pg8000.native.DatabaseError):
                self.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(db)} WITH (FORCE)")
        for role in reversed(self.roles):
            with contextlib.suppress(pg8000.native.DatabaseError):
                ident = pg8000.native.identifier(role)
                self.run(f"DROP OWNED BY {ident}")
                self.run(f"DROP ROLE IF EXISTS {ident}")
        self.roles.clear()
        self.databases.clear()


def _pg_bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def free_port() -> int:
    """A port nothing listens on (for a moment): the server, or "a target that is down"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to ``postgres`` when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def pg_cluster_session() -> Iterator[PgCluster | str]:
    bindir = _pg_bindir()
    if bindir is None:
        yield "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        return
    root = Path(tempfile.mkdtemp(prefix="rotator-pg-"))
    data = root / "data"
    superpass = password()
    ca = trustme.CA()
    ca_file = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    os.chmod(root, 0o755)
    (root / "pw").write_text(superpass)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    try:
        subprocess.run(
            _as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", "rot_admin",
                             f"--pwfile={root / 'pw'}", "--auth=scram-sha-256", "-E", "UTF8"]),
            check=True, capture_output=True,
        )  # fmt: skip
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.cert_chain_pems[0].write_to_path(str(data / "server.crt"))
        cert.private_key_pem.write_to_path(str(data / "server.key"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for name in ("server.crt", "server.key"):
                os.chown(data / name, owner.pw_uid, owner.pw_gid)
        os.chmod(data / "server.key", 0o600)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{data}'\nssl = on\n"
                "ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "password_encryption = 'scram-sha-256'\nfsync = off\nmax_connections = 60\n"
            )
        (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                             "-w", "-t", "30", "start"]),
            check=True, capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        yield f"the throwaway cluster did not start: {type(exc).__name__}"
        return
    try:
        yield PgCluster("127.0.0.1", port, "rot_admin", superpass, str(ca_file))
    finally:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


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
