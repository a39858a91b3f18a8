"""The MySQL/MariaDB target against the machine's real MariaDB (no TLS there), never mocks.

What every test here defends: the database accepts a credential Secret Manager stores at
every instant, a user's account hosts and privileges survive a rotation, an alternate
user is an exact copy of the active one (privileges re-synced every rotation), names and
passwords never reach SQL unescaped, and TLS that was asked for is never silently
dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from emulator import Emulator
from rotation.ncp.models import RotationPhase, SecretValue, Stage
from rotation.targets.base import (
    TargetConfigError,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)
from rotation.targets.database import Connection, DatabaseTarget, Login, SslMode
from rotation.targets.mysql import MARIADB, MYSQL, build_mariadb, build_mysql, quote_account
from tests.databases import MariaDB, free_port, password, unique
from tests.factories import admin_secret, change, rotate_via_trigger, target_context

ADMIN_SECRET_ID = "admin-secret-id"
ALTERNATING = {"strategy": "alternating-users", "adminSecretId": ADMIN_SECRET_ID}


# -- helpers -----------------------------------------------------------------------------------


def value(server: MariaDB, user: str, pw: str, **extra: Any) -> SecretValue:
    return SecretValue(
        {
            "engine": "mariadb",
            "host": server.host,
            "port": server.port,
            "username": user,
            "password": pw,
            "ssl": "disable",  # the machine's MariaDB has no TLS
            **extra,
        }
    )


def build(
    active: SecretValue,
    config: dict[str, Any] | None = None,
    *,
    admin: tuple[str, str] | None = None,
) -> DatabaseTarget:
    admins = {ADMIN_SECRET_ID: admin} if admin is not None else None
    return build_mariadb(config or {}, active, target_context(seconds=60, admins=admins))


def make_admin(server: MariaDB) -> tuple[str, str]:
    """A dedicated admin: a stored value needs a text password, root here has none."""
    name, pw = unique("rotadm"), password()
    server.create_user(name, pw)
    server.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (name, "%"))
    return name, pw


def normalized(grants: list[str], user: str, host: str = "%") -> list[str]:
    """The grants with the grantee written as ``<user>``, to compare two users'."""
    return sorted(g.replace(quote_account(user, host), "<user>") for g in grants)


def hash_of(server: MariaDB, user: str, host: str) -> str:
    rows = server.execute(
        "SELECT authentication_string FROM mysql.user WHERE User = %s AND Host = %s",
        (user, host),
    )
    return str(rows[0][0])


def account_limit(server: MariaDB, user: str) -> int:
    rows = server.execute(
        "SELECT max_user_connections FROM mysql.user WHERE User = %s AND Host = '%%'", (user,)
    )
    return int(rows[0][0])


@pytest.fixture
def role(mariadb: MariaDB) -> Iterator[str]:
    name = unique("rotrole")
    mariadb.execute("CREATE ROLE %s", (name,))
    try:
        yield name
    finally:
        with contextlib.suppress(pymysql.err.MySQLError):
            mariadb.execute("DROP ROLE IF EXISTS %s", (name,))


# -- single user, the target's methods -----------------------------------------------------


def test_single_user_changes_its_own_password(mariadb: MariaDB) -> None:
    user, old, new = unique("rotu"), password(), password()
    db = mariadb.create_database()
    mariadb.create_user(user, old, grants=(f"SELECT, INSERT ON `{db}`.*",))
    hosts, grants = mariadb.hosts(user), mariadb.grants(user)
    active = value(mariadb, user, old, dbname=db)
    target = build(active)
    rotation = change(active, password=new)

    assert target.probe(rotation, Stage.ACTIVE)
    assert not target.probe(rotation, Stage.PENDING)
    target.set(rotation)
    assert mariadb.logs_in(user, new, db)
    assert not mariadb.logs_in(user, old)
    assert target.probe(rotation, Stage.PENDING)
    assert not target.probe(rotation, Stage.ACTIVE)
    target.test(rotation)

    target.rollback(rotation)
    assert mariadb.logs_in(user, old, db)
    assert not mariadb.logs_in(user, new)
    target.rollback(rotation)  # again: pending no longer logs in, nothing to undo
    assert mariadb.logs_in(user, old)
    assert (mariadb.hosts(user), mariadb.grants(user)) == (hosts, grants)
    target.finish(rotation)  # a no-op for this strategy
    target.close()


def test_single_user_falls_back_to_previous(mariadb: MariaDB) -> None:
    """An earlier run changed the password and died before complete: active no longer logs
    in, previous (what the database still has) does."""
    user, real, lost, new = unique("rotu"), password(), password(), password()
    mariadb.create_user(user, real)
    active = value(mariadb, user, lost)
    rotation = change(active, password=new, previous=active.replace({"password": real}))
    target = build(active)
    target.set(rotation)
    assert mariadb.logs_in(user, new)
    assert not mariadb.logs_in(user, real)

    nobody = change(active, password=password())  # neither active nor previous works
    with pytest.raises(TargetSetFailed, match="refused the active and previous") as caught:
        target.set(nobody)
    assert user not in str(caught.value)


def test_single_user_with_admin_sets_the_password(mariadb: MariaDB) -> None:
    admin = make_admin(mariadb)
    user, old, new = unique("rotu"), password(), password()
    db = mariadb.create_database()
    mariadb.create_user(user, old, grants=(f"SELECT ON `{db}`.*",))
    hosts, grants = mariadb.hosts(user), mariadb.grants(user)
    active = value(mariadb, user, old, adminSecretId=ADMIN_SECRET_ID)
    target = build(active, admin=admin)
    rotation = change(active, password=new)

    target.set(rotation)
    assert mariadb.logs_in(user, new) and not mariadb.logs_in(user, old)
    target.test(rotation)
    target.rollback(rotation)  # the admin sets active back
    assert mariadb.logs_in(user, old) and not mariadb.logs_in(user, new)
    assert (mariadb.hosts(user), mariadb.grants(user)) == (hosts, grants)


def test_admin_needs_user_host_when_the_user_has_several(mariadb: MariaDB) -> None:
    admin = make_admin(mariadb)
    user, old, new = unique("rotu"), password(), password()
    mariadb.create_user(user, old)
    mariadb.create_user(user, old, host="10.9.8.%")
    other_hash = hash_of(mariadb, user, "10.9.8.%")
    active = value(mariadb, user, old, adminSecretId=ADMIN_SECRET_ID)
    rotation = change(active, password=new)

    with pytest.raises(TargetConfigError, match="userHost") as caught:
        build(active, admin=admin).set(rotation)
    assert user not in str(caught.value)
    assert mariadb.logs_in(user, old)

    build(active, {"userHost": "%"}, admin=admin).set(rotation)
    assert mariadb.logs_in(user, new)
    assert hash_of(mariadb, user, "10.9.8.%") == other_hash  # the other account untouched
    assert mariadb.hosts(user) == ["%", "10.9.8.%"]


def test_a_user_that_does_not_exist_is_refused_every_time(mariadb: MariaDB) -> None:
    """MariaDB answers some logins of unknown users with 1698 instead of 1045 (it fakes
    a random auth plugin): both are a refusal, or a first alternating rotation's probe of
    the not yet created clone fails now and then."""
    active = value(mariadb, unique("nobody"), password())
    target = build(active)
    for _ in range(30):
        rotation = change(active, username=unique("nobody"), password=password())
        assert not target.probe(rotation, Stage.PENDING)


def test_admin_for_a_missing_user_fails_to_set(mariadb: MariaDB) -> None:
    admin = make_admin(mariadb)
    active = value(mariadb, unique("nobody"), password(), adminSecretId=ADMIN_SECRET_ID)
    with pytest.raises(TargetSetFailed, match="no such user"):
        build(active, admin=admin).set(change(active, password=password()))


# -- injection ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["quote", "backtick"])
def test_hostile_names_and_passwords_stay_data(mariadb: MariaDB, style: str) -> None:
    admin = make_admin(mariadb)
    decoy = unique("decoy")
    mariadb.create_user(decoy, password())
    if style == "quote":
        user = f"app'; DROP USER '{decoy}'@'%'; --"
    else:
        user = f"app`; DROP USER `{decoy}`@`%`; -- {unique('x')}"
    old = password()
    hostile = "Pw'\\\"%s%%`;--" + password()  # every quoting character at once
    mariadb.create_user(user, old)

    # The user changes its own password (no name in the SQL)...
    active = value(mariadb, user, old)
    own = change(active, password=hostile)
    target = build(active)
    target.set(own)
    assert mariadb.logs_in(user, hostile) and not mariadb.logs_in(user, old)
    target.test(own)
    target.rollback(own)
    assert mariadb.logs_in(user, old)

    # ...and the admin names it in ALTER USER and in the mysql.user look-up.
    active = value(mariadb, user, old, adminSecretId=ADMIN_SECRET_ID)
    by_admin = change(active, password=hostile)
    build(active, admin=admin).set(by_admin)
    assert mariadb.logs_in(user, hostile) and not mariadb.logs_in(user, old)

    assert mariadb.hosts(decoy) == ["%"]
    assert mariadb.hosts(user) == ["%"]


def test_hostile_name_alternates(mariadb: MariaDB) -> None:
    """The grantee is rewritten in SHOW GRANTS lines: backticks and quotes must survive."""
    admin = make_admin(mariadb)
    decoy = unique("decoy")
    mariadb.create_user(decoy, password())
    db = mariadb.create_database()
    user = f"a`b'c; DROP USER `{decoy}`@`%`; -- {unique('x')}"
    clone = user + "_clone"
    mariadb.track_user(clone)
    old, new = password(), "Pw'\\\"%s`" + password()
    mariadb.create_user(user, old, grants=(f"SELECT ON `{db}`.*",))
    active = value(mariadb, user, old, **ALTERNATING)
    rotation = change(active, keys=("username", "password"), username=clone, password=new)
    target = build(active, admin=admin)

    target.set(rotation)
    target.test(rotation)
    assert mariadb.logs_in(clone, new, db) and mariadb.logs_in(user, old, db)
    assert normalized(mariadb.grants(clone), clone) == normalized(mariadb.grants(user), user)
    assert mariadb.hosts(decoy) == ["%"]


# -- TLS and reachability -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_tls_that_is_not_negotiated_is_refused(mariadb: MariaDB, mode: str) -> None:
    user, pw = unique("rotu"), password()
    mariadb.create_user(user, pw)
    active = value(mariadb, user, pw, ssl=mode)
    rotation = change(active, password=password())
    with pytest.raises(TargetUnreachable, match="did not negotiate TLS; refusing plaintext"):
        build(active).probe(rotation, Stage.ACTIVE)
    with pytest.raises(TargetUnreachable, match="did not negotiate TLS"):
        build(active).set(rotation)
    assert mariadb.logs_in(user, pw)  # nothing was sent in plain text, nothing changed


def test_the_tls_check_after_connecting_refuses_a_plain_session(mariadb: MariaDB) -> None:
    """The driver's own refusal aside, a session that came up unencrypted is closed."""
    user, pw = unique("rotu"), password()
    mariadb.create_user(user, pw)
    plain = Connection(mariadb.host, mariadb.port, None, SslMode.DISABLE, None)
    session = MARIADB.connect(plain, Login(user, pw), 5.0)
    try:
        with pytest.raises(TargetUnreachable, match="did not negotiate TLS"):
            MARIADB.require_tls(session)
    finally:
        MARIADB.close(session)  # a second close is swallowed


def test_a_closed_port_is_unreachable(mariadb: MariaDB) -> None:
    active = value(mariadb, unique("rotu"), password(), port=free_port())
    with pytest.raises(TargetUnreachable, match=r"cannot connect to mariadb at 127\.0\.0\.1:\d+"):
        build(active).probe(change(active, password=password()), Stage.ACTIVE)


def test_a_missing_ca_file_is_a_config_error(mariadb: MariaDB) -> None:
    """Found when the target is built (before the job writes anything), naming the file."""
    active = value(mariadb, unique("rotu"), password(), ssl="verify-full")
    with pytest.raises(TargetConfigError, match=r"sslRootCert '/nonexistent/ca\.pem' does not"):
        build(active, {"sslRootCert": "/nonexistent/ca.pem"})


def test_a_failing_test_query_fails_the_test(mariadb: MariaDB) -> None:
    user, old, new = unique("rotu"), password(), password()
    db = mariadb.create_database()
    mariadb.create_user(user, old, grants=(f"SELECT ON `{db}`.*",))
    active = value(mariadb, user, old, dbname=db, testQuery="SELECT * FROM no_such_table")
    target = build(active)
    rotation = change(active, password=new)
    target.set(rotation)
    with pytest.raises(TargetTestFailed, match=r"the test query failed \(error 1146\)") as caught:
        target.test(rotation)
    assert "no_such_table" not in str(caught.value)
    target.rollback(rotation)
    assert mariadb.logs_in(user, old)

    passing = value(mariadb, user, old, dbname=db, testQuery="SELECT COUNT(*) FROM `" + db + "`.t")
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT)")
    build(passing).test(change(passing))


def test_unsupported_strategy_and_dual_password(mariadb: MariaDB) -> None:
    active = value(mariadb, "app", password(), strategy="dual-password")
    with pytest.raises(TargetConfigError, match="single-user"):
        build(active)
    with pytest.raises(TargetConfigError, match="dual-password"):
        MARIADB.add_password(None, "app", "x")
    with pytest.raises(TargetConfigError, match="dual-password"):
        MARIADB.remove_password(None, "app", "x")


# -- alternating users, the target's methods -----------------------------------------------


def test_alternating_users_clone_and_resync(mariadb: MariaDB, role: str) -> None:
    admin = make_admin(mariadb)
    db = mariadb.create_database()
    mariadb.execute(f"GRANT SELECT ON `{db}`.* TO %s", (role,))
    # Granting and revoking a role takes the role WITH ADMIN OPTION (error 1698 otherwise).
    mariadb.execute("GRANT %s TO %s@%s WITH ADMIN OPTION", (role, admin[0], "%"))
    base = unique("rotalt")
    clone = base + "_clone"
    mariadb.track_user(clone)
    pw0, pw1, pw2, pw3 = password(), password(), password(), password()
    mariadb.create_user(base, pw0, grants=(f"SELECT, INSERT ON `{db}`.*", role))
    mariadb.execute("SET DEFAULT ROLE %s FOR %s@%s", (role, base, "%"))
    mariadb.execute("ALTER USER %s@%s WITH MAX_USER_CONNECTIONS 7", (base, "%"))
    base_grants = mariadb.grants(base)

    # 1: base -> clone. The clone is created at base's host with base's privileges.
    first = value(mariadb, base, pw0, dbname=db, **ALTERNATING)
    target = build(first, admin=admin)
    assert target.derive(first) == {"username": clone}
    one = change(first, keys=("username", "password"), username=clone, password=pw1)
    assert not target.probe(one, Stage.PENDING)
    target.set(one)
    target.test(one)
    assert target.probe(one, Stage.PENDING)
    assert mariadb.hosts(clone) == mariadb.hosts(base) == ["%"]
    assert normalized(mariadb.grants(clone), clone) == normalized(base_grants, base)
    assert f"SET DEFAULT ROLE `{role}` FOR `{clone}`@`%`" in mariadb.grants(clone)
    assert account_limit(mariadb, clone) == 7  # the account's limits come along
    assert mariadb.logs_in(base, pw0, db) and mariadb.logs_in(clone, pw1, db)
    target.rollback(one)  # the active user was never touched: nothing to undo
    assert mariadb.logs_in(base, pw0, db)
    assert mariadb.grants(base) == base_grants

    # Drift: the active clone gains a privilege and loses the role.
    mariadb.execute(f"GRANT DELETE ON `{db}`.* TO %s@%s", (clone, "%"))
    mariadb.execute("REVOKE %s FROM %s@%s", (role, clone, "%"))
    mariadb.execute("SET DEFAULT ROLE NONE FOR %s@%s", (clone, "%"))

    # 2: clone -> base. Base gets clone's privileges (drift included) and a new password.
    second = first.replace({"username": clone, "password": pw1})
    target = build(second, admin=admin)
    assert target.derive(second) == {"username": base}
    two = change(second, keys=("username", "password"), username=base, password=pw2)
    target.set(two)
    target.test(two)
    assert mariadb.logs_in(base, pw2, db) and not mariadb.logs_in(base, pw0)
    assert mariadb.logs_in(clone, pw1, db)  # the active user keeps working
    assert normalized(mariadb.grants(base), base) == normalized(mariadb.grants(clone), clone)
    assert any("DELETE" in g for g in mariadb.grants(base))
    assert not any(role in g for g in mariadb.grants(base))

    # Drift again: the active base gains UPDATE and loses INSERT.
    mariadb.execute(f"GRANT UPDATE ON `{db}`.* TO %s@%s", (base, "%"))
    mariadb.execute(f"REVOKE INSERT ON `{db}`.* FROM %s@%s", (base, "%"))

    # 3: base -> clone again: exactly base's privileges now.
    third = first.replace({"password": pw2})
    target = build(third, admin=admin)
    three = change(third, keys=("username", "password"), username=clone, password=pw3)
    target.set(three)
    target.test(three)
    assert normalized(mariadb.grants(clone), clone) == normalized(mariadb.grants(base), base)
    [db_grant] = [g for g in mariadb.grants(clone) if f"`{db}`" in g]
    assert db_grant == f"GRANT SELECT, UPDATE, DELETE ON `{db}`.* TO `{clone}`@`%`"
    assert mariadb.logs_in(clone, pw3, db) and mariadb.logs_in(base, pw2, db)
    assert mariadb.hosts(clone) == mariadb.hosts(base) == ["%"]


def test_alternating_clone_follows_a_non_default_host(mariadb: MariaDB) -> None:
    admin = make_admin(mariadb)
    base = unique("rotalt")
    clone = base + "_clone"
    mariadb.track_user(clone, "10.9.8.%")
    mariadb.create_user(base, password(), host="10.9.8.%", grants=("SELECT ON *.*",))
    active = value(mariadb, base, "unused-password", **ALTERNATING)
    rotation = change(active, keys=("username", "password"), username=clone, password=password())
    build(active, admin=admin).set(rotation)
    assert mariadb.hosts(clone) == ["10.9.8.%"]
    assert normalized(mariadb.grants(clone, "10.9.8.%"), clone, "10.9.8.%") == normalized(
        mariadb.grants(base, "10.9.8.%"), base, "10.9.8.%"
    )


def test_alternating_needs_an_admin_that_logs_in(mariadb: MariaDB) -> None:
    base, pw = unique("rotalt"), password()
    mariadb.create_user(base, pw)
    active = value(mariadb, base, pw, **ALTERNATING)
    rotation = change(
        active, keys=("username", "password"), username=base + "_clone", password=password()
    )
    target = build(active, admin=(unique("noadmin"), password()))
    with pytest.raises(TargetSetFailed, match="admin user was refused"):
        target.set(rotation)
    with pytest.raises(TargetConfigError, match="adminSecretId"):
        build(value(mariadb, base, pw, strategy="alternating-users"))


def test_alternating_rollback_gives_the_previous_user_its_password_back(
    mariadb: MariaDB,
) -> None:
    """The other user is the one stored as previous: a failed rotation must leave the
    previous value logging in, not the abandoned pending one."""
    admin = make_admin(mariadb)
    base, clone = unique("rotalt"), ""
    clone = base + "_clone"
    pw_active, pw_previous, pw_pending = password(), password(), password()
    mariadb.create_user(base, pw_active, grants=("SELECT ON *.*",))
    mariadb.create_user(clone, pw_previous, grants=("SELECT ON *.*",))
    active = value(mariadb, base, pw_active, **ALTERNATING)
    previous = active.replace({"username": clone, "password": pw_previous})
    rotation = change(
        active, keys=("username", "password"), previous=previous, username=clone,
        password=pw_pending,
    )  # fmt: skip
    target = build(active, admin=admin)
    target.set(rotation)
    assert mariadb.logs_in(clone, pw_pending) and not mariadb.logs_in(clone, pw_previous)
    target.rollback(rotation)
    assert mariadb.logs_in(clone, pw_previous) and not mariadb.logs_in(clone, pw_pending)
    assert mariadb.logs_in(base, pw_active)


def test_alternating_sets_again_even_when_pending_already_logs_in(mariadb: MariaDB) -> None:
    """A resumed job finds the other user already on pending; set must still run, as it
    is also what re-syncs the other user's privileges."""
    target = build(value(mariadb, "app", "pw-unused-1", **ALTERNATING), admin=("a", "b"))
    assert target.reapply is True
    assert build(value(mariadb, "app", "pw-unused-1")).reapply is False


def test_the_admin_does_not_need_access_to_the_apps_database(mariadb: MariaDB) -> None:
    db = mariadb.create_database()
    user, pw = unique("rotusr"), password()
    mariadb.create_user(user, pw, grants=(f"SELECT ON `{db}`.*",))
    admin, admin_pw = unique("rotadm"), password()
    # ALTER USER, and reading the account host; nothing on the app's database
    mariadb.create_user(admin, admin_pw, grants=("CREATE USER ON *.*", "SELECT ON mysql.user"))
    active = value(mariadb, user, pw, dbname=db, adminSecretId=ADMIN_SECRET_ID)
    rotation = change(active, password=(new := password()))
    build(active, admin=(admin, admin_pw)).set(rotation)
    assert mariadb.logs_in(user, new, db) and not mariadb.logs_in(user, pw)


def test_the_mysql_flavor_limits_user_names(mariadb: MariaDB) -> None:
    assert (MYSQL.kind, MYSQL.max_username_length) == ("mysql", 32)
    assert (MARIADB.kind, MARIADB.max_username_length) == ("mariadb", 80)
    active = value(mariadb, "u" * 30, password(), engine="mysql", **ALTERNATING)
    ctx = target_context(seconds=60, admins={ADMIN_SECRET_ID: ("admin", password())})
    target = build_mysql({}, active, ctx)
    with pytest.raises(TargetConfigError, match="32-character"):
        target.derive(active)
    assert build(active, admin=("admin", password())).derive(active) == {
        "username": "u" * 30 + "_clone"
    }


# -- end to end: the handler in its own process, through the trigger ---------------------------


def e2e_value(server: MariaDB, user: str, pw: str, **extra: Any) -> dict[str, Any]:
    return dict(value(server, user, pw, **extra))


def chain_of(emu: Emulator, secret_id: str) -> Any:
    with emu.client() as client:
        return client.get_secret(secret_id), client.get_secret_values(secret_id)


def test_e2e_single_user(emu: Emulator, mariadb: MariaDB) -> None:
    user, old = unique("rote2e"), password()
    db = mariadb.create_database()
    mariadb.create_user(user, old, grants=(f"SELECT ON `{db}`.*",))
    hosts, grants = mariadb.hosts(user), mariadb.grants(user)
    secret_id, activation = rotate_via_trigger(emu, e2e_value(mariadb, user, old, dbname=db))
    assert activation.result is not None and activation.result["ok"], activation.result
    detail, chain = chain_of(emu, secret_id)
    assert detail.rotation_phase is RotationPhase.NONE
    assert chain.active["username"] == user
    assert mariadb.logs_in(user, chain.active["password"], db)
    assert not mariadb.logs_in(user, old)
    assert chain.previous["password"] == old
    assert (mariadb.hosts(user), mariadb.grants(user)) == (hosts, grants)


def test_e2e_alternating_users(emu: Emulator, mariadb: MariaDB) -> None:
    admin_name, admin_pw = make_admin(mariadb)
    user, old = unique("rote2e"), password()
    clone = user + "_clone"
    mariadb.track_user(clone)
    db = mariadb.create_database()
    mariadb.create_user(user, old, grants=(f"SELECT, INSERT ON `{db}`.*",))
    hosts, grants = mariadb.hosts(user), mariadb.grants(user)
    admin_id = admin_secret(emu, admin_name, admin_pw)
    secret_id, activation = rotate_via_trigger(
        emu,
        e2e_value(mariadb, user, old, dbname=db, strategy="alternating-users"),
        targets=("username", "password"),
        target={"adminSecretId": admin_id},
    )
    assert activation.result is not None and activation.result["ok"], activation.result
    _, chain = chain_of(emu, secret_id)
    assert chain.active["username"] == clone
    assert mariadb.logs_in(clone, chain.active["password"], db)
    assert mariadb.logs_in(user, chain.previous["password"], db)  # previous still works
    assert (mariadb.hosts(user), mariadb.grants(user)) == (hosts, grants)
    assert mariadb.hosts(clone) == hosts
    assert normalized(mariadb.grants(clone), clone) == normalized(grants, user)


def test_e2e_complete_failing_rolls_back(emu: Emulator, mariadb: MariaDB) -> None:
    user, old = unique("rote2e"), password()
    mariadb.create_user(user, old)
    emu.faults.add("complete_rotation_job", status=400, times=50)  # refused: not done
    secret_id, activation = rotate_via_trigger(emu, e2e_value(mariadb, user, old))
    assert activation.result is not None and activation.result["ok"] is False
    detail, chain = chain_of(emu, secret_id)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert chain.active["password"] == old
    assert mariadb.logs_in(user, old)  # rolled back: active works again


def test_e2e_complete_of_unknown_outcome_is_left_for_a_resume(
    emu: Emulator, mariadb: MariaDB
) -> None:
    """5xx to every complete: it may land late, so nothing is rolled back; the database
    keeps the pending password, which Secret Manager stores as pending."""
    user, old = unique("rote2e"), password()
    mariadb.create_user(user, old)
    emu.faults.add("complete_rotation_job", status=503, times=500)
    secret_id, activation = rotate_via_trigger(emu, e2e_value(mariadb, user, old), timeout_ms=5000)
    assert activation.result is not None
    assert activation.result["error"]["code"] == "COMPLETE_UNCONFIRMED"
    assert activation.result["leftForRetry"] is True
    detail, chain = chain_of(emu, secret_id)
    assert detail.rotation_phase is RotationPhase.ROTATING
    assert mariadb.logs_in(user, chain.pending["password"])


def test_e2e_target_down_changes_nothing(emu: Emulator, mariadb: MariaDB) -> None:
    user, old = unique("rote2e"), password()
    mariadb.create_user(user, old)
    secret_id, activation = rotate_via_trigger(emu, e2e_value(mariadb, user, old, port=free_port()))
    assert activation.result is not None and activation.result["ok"] is False
    assert activation.result["error"]["code"] == "TARGET_UNREACHABLE"
    detail, chain = chain_of(emu, secret_id)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert chain.active["password"] == old
    assert mariadb.logs_in(user, old)


def test_e2e_failing_test_query_rolls_back(emu: Emulator, mariadb: MariaDB) -> None:
    user, old = unique("rote2e"), password()
    mariadb.create_user(user, old)
    secret_id, activation = rotate_via_trigger(
        emu,
        e2e_value(mariadb, user, old),
        target={"testQuery": "SELECT * FROM mysql.no_such_table"},
    )
    assert activation.result is not None and activation.result["ok"] is False
    assert activation.result["error"]["code"] == "TARGET_TEST_FAILED"
    detail, chain = chain_of(emu, secret_id)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert chain.active["password"] == old
    assert mariadb.logs_in(user, old)
    assert chain.pending is None or not mariadb.logs_in(user, chain.pending["password"])


def test_e2e_an_expired_password_is_rotated(emu: Emulator, mariadb: MariaDB) -> None:
    """An expired password allows only SET PASSWORD: the rotation must not run anything
    before it (the server version comes from the handshake)."""
    user, old = unique("rotexp"), password()
    mariadb.create_user(user, old)
    mariadb.execute(f"ALTER USER {quote_account(user, '%')} PASSWORD EXPIRE")
    secret_id, activation = rotate_via_trigger(emu, e2e_value(mariadb, user, old))
    assert activation.result is not None and activation.result["ok"], activation.result
    _, chain = chain_of(emu, secret_id)
    assert mariadb.logs_in(user, chain.active["password"])  # and no longer expired
    assert not mariadb.logs_in(user, old)


def test_e2e_a_locked_account_says_so_and_changes_nothing(emu: Emulator, mariadb: MariaDB) -> None:
    user, old = unique("rotlck"), password()
    mariadb.create_user(user, old)
    mariadb.execute(f"ALTER USER {quote_account(user, '%')} ACCOUNT LOCK")
    secret_id, activation = rotate_via_trigger(emu, e2e_value(mariadb, user, old))
    result = activation.result
    assert result is not None and result["ok"] is False
    assert result["error"]["code"] == "TARGET_ACCOUNT_LOCKED", result
    assert "ACCOUNT UNLOCK" in result["error"]["action"]
    assert result["job"] == "failed" and "leftForRetry" not in result
    detail, chain = chain_of(emu, secret_id)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert chain.active["password"] == old
    mariadb.execute(f"ALTER USER {quote_account(user, '%')} ACCOUNT UNLOCK")
    assert mariadb.logs_in(user, old)  # untouched
