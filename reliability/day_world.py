"""The world a new operator's day happens in (``python -m reliability.day``): the NCP
stand-in, the machine's real databases, an HTTPS alert receiver, and the operator's own
folder with the deploy config and the CA files it names.

Nothing here runs the product: the day drives it only through its commands
(:mod:`reliability.day_ops`). This module is what stands around it: servers the operator
does not own (a DBA revokes a grant, disables a user, opens ``pg_hba.conf`` to ``trust``)
and the receiver an on-call engineer reads alerts from.

* **Secret Manager and Cloud Functions**: an in-process :class:`emulator.Emulator` on a
  free port; the CLI and deploy reach it over real HTTP with the key pair in their
  environment.
* **MariaDB** (127.0.0.1:3306, root): a user with ``SELECT`` on its own database, which
  its ``testQuery`` reads.
* **PostgreSQL**: a throwaway ``scram-sha-256`` cluster with TLS from its own CA
  (:func:`reliability.servers.start_pg_cluster`); the secret verifies the server with
  that CA (``ssl = "verify-full"``), a file deploy must pack into the zip.
* **Redis** (127.0.0.1:6379): an ACL user.
* **Alerts**: :class:`AlertInbox` behind real TLS from a throwaway CA
  (``tests/webhook_receiver.serving``); it checks each alert's signature the documented
  way, independently of ``rotation.notify``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.native
import pymysql
import redis
import trustme

from emulator import Emulator
from reliability.databases import MariaDB, Redis
from reliability.servers import (
    PgCluster,
    ServerUnavailable,
    as_server_user,
    password,
    start_pg_cluster,
    unique,
)
from tests.webhook_receiver import serving

#: The receiver's signing key (the deploy config names it; the plan masks it).
ALERT_KEY = "day-alert-signing-key-" + secrets.token_hex(8)
#: What day-maria's rotation runs with the new credential to prove the app can work.
TEST_QUERY = "SELECT COUNT(*) FROM items"
#: An alert older than this is refused, as the README's receiver does.
MAX_SKEW_MS = 5 * 60 * 1000


@dataclass
class Alert:
    """One POST the receiver got: the JSON body and whether its signature verified."""

    path: str
    payload: dict[str, Any]
    signed: bool
    raw: str


@dataclass
class AlertInbox:
    """The on-call engineer's receiver: records every alert, answers 204."""

    key: str
    alerts: list[Alert] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def verified(self, headers: dict[str, str], body: bytes) -> bool:
        """The README's recipe: a fresh timestamp, then HMAC-SHA256 over ``stamp.body``."""
        stamp = headers.get("X-Rotation-Timestamp", "")
        if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > MAX_SKEW_MS:
            return False
        mac = hmac.new(self.key.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(
            headers.get("X-Rotation-Signature", ""), "sha256=" + mac.hexdigest()
        )

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        signed = self.verified(headers, body)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        with self.lock:
            self.alerts.append(
                Alert(path, payload if isinstance(payload, dict) else {}, signed, body.decode())
            )
        return (204, b"") if signed else (401, b"")

    def received(self) -> list[Alert]:
        with self.lock:
            return list(self.alerts)


@dataclass
class Fleet:
    """The four secrets' names, and the database users behind three of them."""

    maria_db: str
    maria_user: str
    pg_user: str
    redis_user: str
    #: Initial passwords (never printed; the leak check looks for them).
    passwords: dict[str, str]

    MARIA = "day-maria"
    PG = "day-pg"
    REDIS = "day-redis"
    STORE = "day-store"
    NAMES = (MARIA, PG, REDIS, STORE)


class World:
    """Everything the day needs besides the product; :meth:`close` removes all of it."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.ops = Path(tempfile.mkdtemp(prefix="rotator-day-"))
        stack.callback(shutil.rmtree, self.ops, True)
        self.emu = Emulator().start()
        stack.callback(self.emu.stop)
        self.pg = start_pg_cluster("scram-sha-256")
        stack.callback(self.pg.stop)
        self.maria = MariaDB()
        self.redis = Redis()
        _reachable(self.maria, self.redis)
        stack.callback(self.maria.cleanup)
        stack.callback(self.redis.cleanup)
        self.receiver_ca = trustme.CA()
        self.inbox: AlertInbox = stack.enter_context(
            serving(self.receiver_ca, AlertInbox(key=ALERT_KEY))
        )
        self.fleet = self._make_fleet(stack)
        self.restore_ca_files()

    # -- the fleet's accounts ------------------------------------------------------------

    def _make_fleet(self, stack: contextlib.ExitStack) -> Fleet:
        maria_db, maria_user = unique("dayapp"), unique("day_maria")
        pg_user, redis_user = unique("day_pg"), unique("day_redis")
        pws = {name: password() for name in Fleet.NAMES}
        self.maria.execute(f"CREATE DATABASE `{maria_db}`")
        stack.callback(self._drop_maria_db, maria_db)
        self.maria.execute(f"CREATE TABLE `{maria_db}`.items (id INT PRIMARY KEY)")
        self.maria.create_login(maria_user, pws[Fleet.MARIA])
        self.maria.execute(f"GRANT SELECT, INSERT ON `{maria_db}`.* TO %s@'%%'", (maria_user,))
        self.pg.create_role(pg_user, pws[Fleet.PG])
        self.redis.create_login(redis_user, pws[Fleet.REDIS])
        return Fleet(maria_db, maria_user, pg_user, redis_user, pws)

    def _drop_maria_db(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.maria.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def values(self) -> dict[str, dict[str, Any]]:
        """Each secret's first value, as the operator stores it (``secret create``)."""
        f = self.fleet
        return {
            Fleet.MARIA: {"engine": "mariadb", "host": "127.0.0.1", "port": 3306,
                          "dbname": f.maria_db, "username": f.maria_user,
                          "password": f.passwords[Fleet.MARIA]},
            Fleet.PG: {"engine": "postgresql", "host": self.pg.host, "port": self.pg.port,
                       "dbname": "postgres", "username": f.pg_user,
                       "password": f.passwords[Fleet.PG]},
            Fleet.REDIS: {"engine": "redis", "host": "127.0.0.1", "port": 6379,
                          "username": f.redis_user, "password": f.passwords[Fleet.REDIS]},
            Fleet.STORE: {"engine": "store-only", "client": "billing",
                          "apiKey": f.passwords[Fleet.STORE]},
        }  # fmt: skip

    @staticmethod
    def targets(name: str) -> str:
        """The rotation target keys of each secret (``secret create --targets``)."""
        return "apiKey" if name == Fleet.STORE else "password"

    # -- the operator's folder: config and CA files --------------------------------------

    @property
    def pg_ca(self) -> Path:
        return self.ops / "pg-ca.pem"

    @property
    def receiver_ca_file(self) -> Path:
        return self.ops / "alerts-ca.pem"

    @property
    def config(self) -> Path:
        return self.ops / "day.toml"

    @property
    def zip(self) -> Path:
        return self.ops / "rotation-action.zip"

    def restore_ca_files(self) -> None:
        """The CA files on the deploying machine, where the config names them."""
        shutil.copyfile(self.pg.ca_file, self.pg_ca)
        self.receiver_ca.cert_pem.write_to_path(str(self.receiver_ca_file))

    def remove_ca_files(self) -> None:
        """Gone from the deploying machine: only the copies deploy packed can work now."""
        self.pg_ca.unlink()
        self.receiver_ca_file.unlink()

    def write_config(self, *, redis_ssl: str) -> None:
        """The deploy config: one action and one trigger for the fleet, per-secret targets,
        alerts to the receiver with its CA file named."""
        self.config.write_text(
            f"""\
[ncloud]
cloud_functions_endpoint = "{self.emu.cloud_functions_endpoint}"
secret_manager_endpoint = "{self.emu.endpoint}"

[action]
vpc_no = 101
subnet_no = 202
zip = "{self.zip}"

[action.parameters.notify]
environment = "day-local"

[[action.parameters.notify.webhooks]]
url = "{self.inbox.base}/alerts"
format = "json"
hmacKey = "{ALERT_KEY}"
caBundle = "{self.receiver_ca_file}"

[rotation]
period_days = 30

[[secrets]]
name = "{Fleet.MARIA}"
target = {{ ssl = "disable", testQuery = "{TEST_QUERY}" }}

[[secrets]]
name = "{Fleet.PG}"
target = {{ ssl = "verify-full", sslRootCert = "{self.pg_ca}" }}

[[secrets]]
name = "{Fleet.REDIS}"
rotation_period_days = 7
target = {{ ssl = "{redis_ssl}" }}

[[secrets]]
name = "{Fleet.STORE}"
rotation_period_days = 90
"""
        )

    # -- what a DBA does to the servers --------------------------------------------------

    def maria_grant(self, privileges: str, *, granted: bool) -> None:
        """Give or take ``privileges`` (e.g. ``SELECT``) on the user's database."""
        f = self.fleet
        sql = (
            f"GRANT {privileges} ON `{f.maria_db}`.* TO %s@'%%'"
            if granted
            else f"REVOKE {privileges} ON `{f.maria_db}`.* FROM %s@'%%'"
        )
        self.maria.execute(sql, (f.maria_user,))

    def redis_login(self, *, allowed: bool) -> None:
        """``ACL SETUSER user on|off``: an off user cannot log in, whatever its password."""
        with contextlib.closing(self.redis.admin()) as r:
            r.execute_command(  # type: ignore[no-untyped-call]
                "ACL", "SETUSER", self.fleet.redis_user, "on" if allowed else "off"
            )

    def pg_auth(self, method: str) -> None:
        """``pg_hba.conf`` set to ``method`` (``trust``: any password logs in), reloaded."""
        assert self.pg.root is not None
        assert self.pg.bindir is not None
        data = self.pg.root / "data"
        (data / "pg_hba.conf").write_text(f"host all all 127.0.0.1/32 {method}\n")
        subprocess.run(
            as_server_user([str(self.pg.bindir / "pg_ctl"), "-D", str(data), "reload"]),
            check=True, capture_output=True,
        )  # fmt: skip
        self._wait_for_auth(method)

    def _wait_for_auth(self, method: str) -> None:
        """Until the server applies the reload: a wrong password is refused under
        scram-sha-256 and accepted under trust (the reload is asynchronous)."""
        want = method == "trust"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._pg_accepts_wrong_password() is want:
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL did not apply pg_hba.conf {method}")

    def _pg_accepts_wrong_password(self) -> bool:
        try:
            self.pg.connect(self.fleet.pg_user, "not-" + password()).close()
        except pg8000.native.DatabaseError:
            return False
        return True

    # -- what the day reads back at the end -----------------------------------------------

    def active_values(self) -> dict[str, dict[str, Any]]:
        """Each secret's active value, read straight from the stand-in (never printed)."""
        out: dict[str, dict[str, Any]] = {}
        with self.emu.client() as client:
            for detail in client.iter_secrets():
                chain = client.get_secret_values(detail.secret_id)
                if chain.active is not None:
                    out[detail.secret_name] = dict(chain.active)
        return out

    def target_accepts(self, name: str, value: dict[str, Any]) -> bool | None:
        """Does the database behind ``name`` accept its stored credential? ``None`` for the
        store-only secret. (PostgreSQL must be on scram-sha-256 for the answer to mean
        anything.)"""
        user, pw = str(value.get("username", "")), str(value.get("password", ""))
        if name == Fleet.MARIA:
            return self.maria.logs_in(user, pw)
        if name == Fleet.REDIS:
            return self.redis.logs_in(user, pw)
        if name == Fleet.PG:
            return pg_logs_in(self.pg, user, pw)
        return None

    def secret_values(self) -> set[str]:
        """Every value the day must never print: what the stand-in saw (secret values, its
        secret key, job tokens), the first passwords and the alert key."""
        return {*self.emu.known_secret_values, *self.fleet.passwords.values(), ALERT_KEY}


def _reachable(maria: MariaDB, redis_server: Redis) -> None:
    """The machine's MariaDB and Redis answer, or :class:`ServerUnavailable` says which."""
    try:
        maria.execute("SELECT 1")
    except pymysql.err.MySQLError as exc:
        raise ServerUnavailable(f"MariaDB at {maria.upstream}: {type(exc).__name__}") from None
    try:
        with contextlib.closing(redis_server.admin()) as r:
            r.ping()
    except redis.RedisError as exc:
        raise ServerUnavailable(f"Redis at {redis_server.upstream}: {type(exc).__name__}") from None


def pg_logs_in(cluster: PgCluster, user: str, pw: str) -> bool:
    try:
        cluster.connect(user, pw).close()
    except pg8000.native.DatabaseError:
        return False
    return True


@contextlib.contextmanager
def world() -> Iterator[World]:
    with contextlib.ExitStack() as stack:
        yield World(stack)
