"""The application kit on the real servers, with a real rotation in between.

Each test stores a secret linked to a trigger that runs this project's handler in its own
process (as Cloud Functions would), opens a connection through the kit, rotates with
Execute Rotation Job, and opens new connections: the kit's cached credential is now the
refused one, and the new connection must still succeed, through one read of the chain
and the stage the invariant names. The cache's clock is frozen (a :class:`Frozen` clock),
so nothing but the refusal can make it read again. (The load proof, every engine and
strategy under 8+ threads and 20+ rotations, is ``make bench-apps``.)
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Any

import pg8000.dbapi
import pytest
import redis

from appcreds import CredentialCache, pg8000_connector, pymysql_connector
from appcreds.redis_provider import redis_client
from appcreds.sqlalchemy_hook import do_connect_hook
from emulator import Emulator
from rotation.ncp.models import Stage
from rotation.ncp.secretmanager import SecretManagerClient
from tests.databases import NO_RETRY, MariaDB, PgCluster, Redis, password, unique
from tests.factories import admin_secret, create_secret, unique_name


class Frozen:
    """A clock that never moves: the cache's ttl never expires during a test."""

    def __call__(self) -> float:
        return 0.0


def linked_secret(
    emu: Emulator,
    client: SecretManagerClient,
    value: dict[str, Any],
    *,
    targets: tuple[str, ...] = ("password",),
    target: dict[str, Any] | None = None,
) -> str:
    """A secret on a trigger whose action is this project's handler, in its own process."""
    params = {"target": target} if target is not None else {}
    action = emu.handler_action(unique_name("rotator"), params, timeout_ms=60_000)
    trigger = emu.add_trigger(unique_name("trigger"), action)
    detail = create_secret(client, value=value, targets=targets, trigger_id=trigger.trigger_id)
    return detail.secret_id


def rotate(emu: Emulator, client: SecretManagerClient, secret_id: str) -> None:
    """Execute Rotation Job, as an operator or the schedule would, and wait for the action."""
    client.execute_rotation_job(secret_id)
    emu.wait_idle(timeout=90)
    last = [a for a in emu.activations if a.secret_id == secret_id][-1]
    assert last.result is not None and last.result["ok"], last.result


@pytest.fixture
def sm(emu: Emulator) -> Iterator[SecretManagerClient]:
    with emu.client() as c:
        yield c


def test_pg8000_single_user_new_connections_follow_a_rotation(
    emu: Emulator, sm: SecretManagerClient, pg_cluster: PgCluster
) -> None:
    user, old = unique("appkit"), password()
    pg_cluster.create_role(user, old)
    value = {"engine": "postgresql", "host": pg_cluster.host, "port": pg_cluster.port,
             "dbname": "postgres", "username": user, "password": old, "ssl": "verify-full",
             "sslRootCert": pg_cluster.ca_file}  # fmt: skip
    secret_id = linked_secret(emu, sm, value)
    tls = ssl.create_default_context(cafile=pg_cluster.ca_file)
    cache = CredentialCache(sm, secret_id, clock=Frozen())
    open_db = pg8000_connector(cache, ssl_context=tls, timeout=10)
    open_native = pg8000_connector(cache, native=True, ssl_context=tls, timeout=10)
    pooled = open_db()

    rotate(emu, sm, secret_id)

    assert not pg_cluster.logs_in(user, old)  # single user: the old password is gone
    with contextlib.closing(open_native()) as fresh:
        assert fresh.run("SELECT current_user") == [[user]]
    with contextlib.closing(open_db()) as again:
        cursor = again.cursor()
        cursor.execute("SELECT 1")
        assert list(cursor.fetchall()) == [[1]]
    cursor = pooled.cursor()  # an open session outlives the password change
    cursor.execute("SELECT 2")
    assert list(cursor.fetchall()) == [[2]]
    pooled.close()
    stats = cache.stats()
    assert (stats.fetches, stats.fallbacks, stats.refusals, stats.gave_up) == (2, 1, 1, 0)
    assert cache.credential().stage is Stage.ACTIVE


def test_sqlalchemy_do_connect_hook_on_pg8000_through_a_rotation(
    emu: Emulator, sm: SecretManagerClient, pg_cluster: PgCluster
) -> None:
    """The hook as SQLAlchemy calls it: ``(dialect, connection record, cargs, cparams)``
    with the URL's stale credentials in ``cparams``; ``dialect.connect`` is what
    SQLAlchemy's default dialect does (``dbapi.connect(*cargs, **cparams)``). SQLAlchemy
    itself is not installed here: its event plumbing is not exercised."""

    class Dialect:
        def connect(self, *cargs: Any, **cparams: Any) -> Any:
            return pg8000.dbapi.connect(*cargs, **cparams)

    user, old = unique("appkit"), password()
    pg_cluster.create_role(user, old)
    value = {"engine": "postgresql", "host": pg_cluster.host, "port": pg_cluster.port,
             "dbname": "postgres", "username": user, "password": old, "ssl": "verify-full",
             "sslRootCert": pg_cluster.ca_file}  # fmt: skip
    secret_id = linked_secret(emu, sm, value)
    cache = CredentialCache(sm, secret_id, clock=Frozen())
    hook = do_connect_hook(cache)
    cparams = {"host": pg_cluster.host, "port": pg_cluster.port, "database": "postgres",
               "user": "from-the-url", "password": "stale-url-password",
               "ssl_context": ssl.create_default_context(cafile=pg_cluster.ca_file)}  # fmt: skip
    hook(Dialect(), None, [], dict(cparams)).close()
    rotate(emu, sm, secret_id)
    conn = hook(Dialect(), None, [], dict(cparams))
    cursor = conn.cursor()
    cursor.execute("SELECT current_user")
    assert list(cursor.fetchall()) == [[user]]
    conn.close()
    assert cache.stats().fallbacks == 1


def test_pymysql_alternating_users_across_two_rotations(
    emu: Emulator, sm: SecretManagerClient, mariadb: MariaDB
) -> None:
    admin_name, admin_pw = unique("appadm"), password()
    mariadb.create_user(admin_name, admin_pw)
    mariadb.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (admin_name, "%"))
    user, old = unique("appkit"), password()
    mariadb.track_user(user + "_clone")
    db = mariadb.create_database()
    mariadb.create_user(user, old, grants=(f"SELECT ON `{db}`.*",))
    value = {"engine": "mariadb", "host": mariadb.host, "port": mariadb.port, "dbname": db,
             "username": user, "password": old, "ssl": "disable",
             "strategy": "alternating-users"}  # fmt: skip
    secret_id = linked_secret(
        emu, sm, value, targets=("username", "password"),
        target={"adminSecretId": admin_secret(emu, admin_name, admin_pw)},
    )  # fmt: skip
    cache = CredentialCache(sm, secret_id, clock=Frozen())
    open_db = pymysql_connector(cache, connect_timeout=5)

    def who() -> str:
        with contextlib.closing(open_db()) as conn, conn.cursor() as cur:
            cur.execute("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")
            return str(cur.fetchone()[0])

    assert who() == user
    rotate(emu, sm, secret_id)  # the clone gets a password; the active user is untouched
    assert who() == user
    assert cache.stats().fetches == 1
    rotate(emu, sm, secret_id)  # the base user's turn: refused with its old password...
    assert who() == user  # ...and logged in with the new active value (the base user again)
    assert cache.credential().stage is Stage.ACTIVE
    assert not mariadb.logs_in(user, old)
    stats = cache.stats()
    assert (stats.fetches, stats.fallbacks, stats.gave_up) == (2, 1, 0)


def test_redis_single_user_pool_reconnects_after_a_rotation(
    emu: Emulator, sm: SecretManagerClient, redis_server: Redis
) -> None:
    user, old = unique("appkit"), password()
    redis_server.create_user(user, old)
    value = {"engine": "redis", "host": redis_server.host, "port": redis_server.port,
             "username": user, "password": old, "ssl": "disable"}  # fmt: skip
    secret_id = linked_secret(emu, sm, value)
    cache = CredentialCache(sm, secret_id, clock=Frozen())
    client = redis_client(cache, retry=NO_RETRY, socket_connect_timeout=5)
    try:
        assert client.acl_whoami() == user
        rotate(emu, sm, secret_id)
        assert not redis_server.logs_in(user, old)
        client.connection_pool.disconnect()  # the pool recycles: every connection is new
        assert client.set("appkit-key", "v") and client.acl_whoami() == user
        assert client.delete("appkit-key") == 1
    finally:
        client.close()
    stats = cache.stats()
    assert (stats.fetches, stats.fallbacks, stats.gave_up) == (2, 1, 0)


def test_redis_without_the_kit_breaks_at_the_same_rotation(
    emu: Emulator, sm: SecretManagerClient, redis_server: Redis
) -> None:
    """The control: the same story with the credential read once at start."""
    user, old = unique("appkit"), password()
    redis_server.create_user(user, old)
    value = {"engine": "redis", "host": redis_server.host, "port": redis_server.port,
             "username": user, "password": old, "ssl": "disable"}  # fmt: skip
    secret_id = linked_secret(emu, sm, value)
    naive = redis.Redis(host=redis_server.host, port=redis_server.port, username=user,
                        password=old, retry=NO_RETRY)  # fmt: skip
    try:
        assert naive.ping()
        rotate(emu, sm, secret_id)
        naive.connection_pool.disconnect()
        with pytest.raises(redis.AuthenticationError):
            naive.ping()
    finally:
        naive.close()
