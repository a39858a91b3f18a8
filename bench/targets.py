"""Real systems for the target kinds, set up and torn down by the benchmarks.

Each ``*_target`` context manager yields a :class:`Kind`: the secret value to store, its
rotation targets and the ``target`` action parameter, plus how to check afterwards that
the system accepts the stored active credential. It yields ``None`` (with the reason in
``skipped``) when the system is not there, so ``make bench`` still runs on a machine
without one. MariaDB, Redis: the machine's own servers. PostgreSQL: a throwaway cluster
that checks passwords (the machine's own trusts any, and the target rightly refuses to
trust a probe there). Webhook: the tests' fake credential service over real TLS.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


@dataclass
class Kind:
    name: str
    value: dict[str, Any]
    targets: tuple[str, ...] = ("password",)
    target: dict[str, Any] | None = None
    #: active value -> does the system accept it (and only it, where that can be seen)?
    accepts: Callable[[Mapping[str, Any]], bool] = lambda _v: True
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def password() -> str:
    return "Bench-" + secrets.token_urlsafe(18)


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@contextlib.contextmanager
def store_only() -> Iterator[Kind]:
    yield Kind("store-only", {"username": "app", "password": password()})


# -- MariaDB -------------------------------------------------------------------------------


def _mariadb_admin() -> Any:
    import pymysql  # noqa: PLC0415 - only the database benchmarks need the driver

    return pymysql.connect(host=HOST, user="root", password="", autocommit=True)


def mariadb_logs_in(user: str, pw: str) -> bool:
    import pymysql  # noqa: PLC0415

    try:
        pymysql.connect(host=HOST, user=user, password=pw, connect_timeout=5).close()
    except pymysql.err.OperationalError:
        return False
    return True


@contextlib.contextmanager
def mariadb_users(count: int) -> Iterator[list[Kind] | str]:
    """``count`` real users, each with its own secret value; dropped afterwards."""
    try:
        admin = _mariadb_admin()
    except Exception as exc:  # noqa: BLE001 - any failure means: no MariaDB to use here
        yield f"no MariaDB at {HOST}:3306 ({type(exc).__name__})"
        return
    users: list[str] = []
    try:
        kinds = []
        with admin.cursor() as cur:
            for _ in range(count):
                user, pw = unique("bench"), password()
                cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, pw))
                users.append(user)
                kinds.append(
                    Kind(
                        "mariadb",
                        {
                            "engine": "mariadb",
                            "host": HOST,
                            "username": user,
                            "password": pw,
                            "ssl": "disable",
                        },
                        accepts=lambda v: mariadb_logs_in(v["username"], v["password"]),
                        extra={"initial": pw},
                    )
                )
        yield kinds
    finally:
        with admin.cursor() as cur:
            for user in users:
                cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()


@contextlib.contextmanager
def mariadb() -> Iterator[Kind]:
    with mariadb_users(1) as found:
        if isinstance(found, str):
            yield Kind("mariadb", {}, skipped=found)
        else:
            yield found[0]


# -- Redis ---------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_user() -> Iterator[Kind]:
    import redis  # noqa: PLC0415 - only this benchmark needs the driver

    admin = redis.Redis(host=HOST, port=6379)
    user, pw = unique("bench"), password()
    try:
        admin.acl_setuser(user, enabled=True, reset_passwords=True, passwords=[f"+{pw}"],
                          keys=["*"], commands=["+@all"])  # fmt: skip
    except redis.RedisError as exc:
        yield Kind("redis", {}, skipped=f"no Redis at {HOST}:6379 ({type(exc).__name__})")
        return

    def accepts(value: Mapping[str, Any]) -> bool:
        try:
            redis.Redis(host=HOST, username=value["username"], password=value["password"]).ping()
        except redis.AuthenticationError:
            return False
        return True

    try:
        yield Kind(
            "redis",
            {"engine": "redis", "host": HOST, "username": user, "password": pw, "ssl": "disable"},
            accepts=accepts,
        )
    finally:
        admin.acl_deluser(user)
        admin.close()


# -- PostgreSQL: a throwaway cluster that checks passwords ---------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgresql() -> Iterator[Kind]:
    import pg8000.native  # noqa: PLC0415 - only this benchmark needs the driver

    bindir = _pg_bindir()
    if bindir is None:
        yield Kind("postgresql", {}, skipped="no initdb/pg_ctl installed")
        return
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data, superpass, port = root / "data", password(), _free_port()
    (root / "pw").write_text(superpass)
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    pg_ctl = str(bindir / "pg_ctl")
    try:
        subprocess.run(
            _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "bench_admin",
                          f"--pwfile={root / 'pw'}", "--auth=scram-sha-256", "-E", "UTF8"]),
            check=True, capture_output=True,
        )  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '{HOST}'\nport = {port}\nunix_socket_directories = "
                f"'{data}'\npassword_encryption = 'scram-sha-256'\nfsync = off\n"
            )
        (data / "pg_hba.conf").write_text(f"host all all {HOST}/32 scram-sha-256\n")
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "30",
                          "start"]),
            check=True, capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        yield Kind("postgresql", {}, skipped=f"the throwaway cluster did not start ({exc})")
        return
    try:
        user, pw = unique("bench"), password()
        admin = pg8000.native.Connection(
            "bench_admin", host=HOST, port=port, password=superpass, database="postgres"
        )
        admin.run(f"CREATE ROLE {user} LOGIN PASSWORD {pg8000.native.literal(pw)}")
        admin.close()

        def accepts(value: Mapping[str, Any]) -> bool:
            try:
                pg8000.native.Connection(
                    value["username"],
                    host=HOST,
                    port=port,
                    password=value["password"],
                    database="postgres",
                ).close()
            except pg8000.native.DatabaseError:
                return False
            return True

        yield Kind(
            "postgresql",
            {
                "engine": "postgresql",
                "host": HOST,
                "port": port,
                "dbname": "postgres",
                "username": user,
                "password": pw,
                "ssl": "disable",
            },
            accepts=accepts,
        )
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


# -- Webhook -------------------------------------------------------------------------------


@contextlib.contextmanager
def webhook() -> Iterator[Kind]:
    try:
        import trustme  # noqa: PLC0415 - a dev dependency, for the fake service's TLS

        from tests.webhook_receiver import running  # noqa: PLC0415
    except ImportError as exc:
        yield Kind("webhook", {}, skipped=f"needs the dev dependencies ({exc.name})")
        return
    key, api_key = secrets.token_urlsafe(24), "Bench-" + secrets.token_urlsafe(18)
    ca = trustme.CA()
    with tempfile.TemporaryDirectory(prefix="bench-hook-") as tmp:
        ca_file = str(Path(tmp) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        with running(ca, key, {"apiKey": api_key}) as service:
            yield Kind(
                "webhook",
                {"apiKey": api_key, "account": "bench"},
                targets=("apiKey",),
                target=service.target(ca_file),
                accepts=lambda v: service.accepted == {"apiKey": v["apiKey"]},
            )


KINDS: tuple[Callable[[], contextlib.AbstractContextManager[Kind]], ...] = (
    store_only, webhook, mariadb, postgresql, redis_user,
)  # fmt: skip
