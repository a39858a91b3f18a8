"""The ``postgresql`` target against a real PostgreSQL 15 that checks passwords.

The ``pg_cluster`` fixture (tests/databases.py) is a throwaway cluster enforcing
``scram-sha-256`` for every TCP login and serving TLS from a throwaway CA, so a test that
sees a login succeed has seen a real SCRAM exchange with the password it expects.

Two layers: the target's methods called directly (what each strategy does to the roles,
quoting, TLS, errors), then whole rotations as Secret Manager runs them (the handler in its
own process, through the emulator's trigger), including the failures that must leave the
user able to log in with a credential Secret Manager stores.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pg8000.native
import pytest

from emulator import Emulator
from rotation import logs
from rotation.ncp.models import RotationPhase, SecretValue, Stage
from rotation.targets.base import (
    TargetConfigError,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)
from rotation.targets.database import (
    Connection,
    DatabaseTarget,
    Login,
    SslMode,
    Strategy,
    UserDisabled,
)
from rotation.targets.postgresql import ENGINE, build_postgresql, scram_verifier
from tests.databases import PgCluster, free_port, password, unavailable, unique
from tests.factories import admin_secret, change, rotate_via_trigger, target_context

ADMIN_ID = "admin-secret-1"
ALTERNATING = {"strategy": "alternating-users", "adminSecretId": ADMIN_ID}
VERIFIER = re.compile(
    r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$"
)


# -- helpers ----------------------------------------------------------------------------------


def secret_password(suffix: str = "") -> str:
    """A test password the leak guard watches for (registered with the log redactor)."""
    value = password() + suffix
    logs.REDACTOR.register(value)
    return value


def pg_value(pg: PgCluster, username: str, pw: str, **extra: Any) -> dict[str, Any]:
    return {
        "engine": "postgresql",
        "host": pg.host,
        "port": pg.port,
        "dbname": "postgres",
        "username": username,
        "password": pw,
        "ssl": "verify-full",
        "sslRootCert": pg.ca_file,
        **extra,
    }


def new_role(pg: PgCluster, prefix: str = "app", *, extra: str = "") -> tuple[str, str]:
    name, pw = unique(prefix), secret_password()
    pg.create_role(name, pw, extra=extra)
    return name, pw


Build = Callable[..., DatabaseTarget]


@pytest.fixture
def build(pg_cluster: PgCluster) -> Build:
    """Builds the target the way the workflow does: target parameter, active value, context
    (``read_secret`` answers the admin secret with the cluster's superuser)."""
    admins = {ADMIN_ID: (pg_cluster.superuser, pg_cluster.superpass)}

    def factory(active: dict[str, Any], config: dict[str, Any] | None = None) -> DatabaseTarget:
        ctx = target_context(admins=admins)
        return build_postgresql(config or {}, SecretValue(active), ctx)

    return factory


def stored_verifier(pg: PgCluster, role: str) -> str:
    [[verifier]] = pg.run("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=role)
    return str(verifier)


def role_state(pg: PgCluster, role: str) -> dict[str, Any]:
    """What must not change about a role besides its password: its pg_roles row (which
    masks the password), settings, and the roles it is a member of."""
    [row] = pg.run("SELECT to_jsonb(r) FROM pg_roles r WHERE rolname = :r", r=role)
    member_of = pg.run(
        "SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :r ORDER BY 1",
        r=role,
    )
    return {"row": row[0], "member_of": [r[0] for r in member_of]}


def query_as(
    pg: PgCluster, user: str, pw: str, sql: str, database: str = "postgres"
) -> list[list[Any]]:
    with contextlib.closing(pg.connect(user, pw, database)) as conn:
        return conn.run(sql) or []


def assert_clean(exc: BaseException, *secrets: str) -> None:
    """No secret, no user name, no chained driver exception in a target error."""
    for text in (str(exc), repr(exc)):
        for secret in secrets:
            assert secret not in text
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


# -- single user --------------------------------------------------------------------------------


def test_single_user_switches_tests_and_rolls_back(pg_cluster: PgCluster, build: Build) -> None:
    user, old = new_role(pg_cluster)
    before = role_state(pg_cluster, user)
    new = secret_password()
    active = pg_value(pg_cluster, user, old)
    target = build(active)
    ch = change(active, {**active, "password": new})

    assert target.probe(ch, Stage.PENDING) is False
    assert target.probe(ch, Stage.ACTIVE) is True
    target.set(ch)
    assert target.probe(ch, Stage.PENDING) is True
    assert pg_cluster.logs_in(user, new)
    assert not pg_cluster.logs_in(user, old)
    target.test(ch)
    verifier = stored_verifier(pg_cluster, user)
    assert verifier.startswith("SCRAM-SHA-256$") and new not in verifier
    assert role_state(pg_cluster, user) == before

    target.rollback(ch)
    assert pg_cluster.logs_in(user, old)
    assert not pg_cluster.logs_in(user, new)
    assert target.probe(ch, Stage.ACTIVE) is True
    target.finish(ch)  # nothing to retire for one password per role
    assert pg_cluster.logs_in(user, old)


def test_set_falls_back_to_previous(pg_cluster: PgCluster, build: Build) -> None:
    """An earlier run changed the password and died before complete: active is stale, the
    database still takes previous."""
    user, real = new_role(pg_cluster)
    stale, new = secret_password(), secret_password()
    active = pg_value(pg_cluster, user, stale)
    target = build(active)
    ch = change(active, {**active, "password": new}, previous=pg_value(pg_cluster, user, real))
    target.set(ch)
    assert pg_cluster.logs_in(user, new)
    assert not pg_cluster.logs_in(user, real)


def test_set_with_no_working_credential_fails_cleanly(pg_cluster: PgCluster, build: Build) -> None:
    user, real = new_role(pg_cluster)
    wrong, new = secret_password(), secret_password()
    active = pg_value(pg_cluster, user, wrong)
    with pytest.raises(TargetSetFailed) as info:
        build(active).set(change(active, {**active, "password": new}))
    assert_clean(info.value, wrong, new, user)
    assert pg_cluster.logs_in(user, real)


def test_a_nologin_role_is_disabled_not_a_wrong_password(
    pg_cluster: PgCluster, build: Build
) -> None:
    """PostgreSQL checks the password, then refuses a NOLOGIN role (28000 from
    InitializeSessionUserId): its own cause, TARGET_USER_DISABLED, so nobody resets a
    password that was right (issue 17). A wrong password on it stays a refusal."""
    user, pw = new_role(pg_cluster)
    pg_cluster.run(f"ALTER ROLE {pg8000.native.identifier(user)} NOLOGIN")
    verifier = stored_verifier(pg_cluster, user)
    value = pg_value(pg_cluster, user, pw)
    ch = change(value, {**value, "password": secret_password()})
    target = build(value)
    with pytest.raises(UserDisabled) as probed:
        target.probe(ch, Stage.ACTIVE)
    message = str(probed.value)
    assert probed.value.code == "TARGET_USER_DISABLED"
    assert "the role may not log in (NOLOGIN; SQLSTATE 28000)" in message
    assert "ALTER ROLE ... LOGIN" in message
    assert_clean(probed.value, pw, user)
    with pytest.raises(UserDisabled) as refused:
        target.set(ch)
    assert refused.value.untouched
    assert stored_verifier(pg_cluster, user) == verifier  # nothing was set
    wrong = pg_value(pg_cluster, user, secret_password())
    assert build(wrong).probe(change(wrong, wrong), Stage.ACTIVE) is False


def test_the_password_reaches_the_server_only_as_a_scram_verifier(
    pg_cluster: PgCluster, build: Build
) -> None:
    """With ``password_encryption = md5`` for the role's sessions, a plaintext password
    would be stored as an md5 hash; a ready verifier is stored as given."""
    user, old = new_role(pg_cluster)
    pg_cluster.run(f"ALTER ROLE {pg8000.native.identifier(user)} SET password_encryption = 'md5'")
    new = secret_password()
    active = pg_value(pg_cluster, user, old)
    build(active).set(change(active, {**active, "password": new}))

    match = VERIFIER.match(stored_verifier(pg_cluster, user))
    assert match is not None
    iterations, salt, stored_key, server_key = match.groups()
    assert int(iterations) == 4096
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(stored_key)) == len(base64.b64decode(server_key)) == 32
    assert pg_cluster.logs_in(user, new)


def test_verifier_is_salted_and_well_formed() -> None:
    pw = secret_password()
    first, second = scram_verifier(pw), scram_verifier(pw)
    assert VERIFIER.match(first) and VERIFIER.match(second)
    assert first != second  # a fresh salt each time
    assert pw not in first


def test_awkward_role_name_rotates_and_touches_no_other_role(
    pg_cluster: PgCluster, build: Build
) -> None:
    victim, victim_pw = new_role(pg_cluster, "victim")
    victim_verifier = stored_verifier(pg_cluster, victim)
    user = f'a"; DROP ROLE {victim}; -- {unique("x")}'
    old = secret_password()
    pg_cluster.create_role(user, old)
    others_before = pg_cluster.run("SELECT rolname, rolpassword FROM pg_authid ORDER BY 1")

    # the user changes its own password ...
    new = secret_password()
    active = pg_value(pg_cluster, user, old)
    build(active).set(change(active, {**active, "password": new}))
    assert pg_cluster.logs_in(user, new)
    # ... and an admin sets it (the path that names the role in SQL)
    newer = secret_password()
    active = pg_value(pg_cluster, user, new)
    target = build(active, {"adminSecretId": ADMIN_ID})
    target.set(change(active, {**active, "password": newer}))
    assert pg_cluster.logs_in(user, newer)
    assert not pg_cluster.logs_in(user, new)

    others_after = pg_cluster.run("SELECT rolname, rolpassword FROM pg_authid ORDER BY 1")
    assert [r for r in others_after if r[0] != user] == [r for r in others_before if r[0] != user]
    assert stored_verifier(pg_cluster, victim) == victim_verifier
    assert pg_cluster.logs_in(victim, victim_pw)


def test_password_with_quotes_backslashes_and_dollars(pg_cluster: PgCluster, build: Build) -> None:
    user, old = new_role(pg_cluster)
    awkward = secret_password("'\\\"$$ ;--$tag$")
    active = pg_value(pg_cluster, user, old)
    target = build(active)
    ch = change(active, {**active, "password": awkward})
    target.set(ch)
    target.test(ch)
    assert pg_cluster.logs_in(user, awkward)
    assert not pg_cluster.logs_in(user, old)

    # and the awkward one as the credential that logs in to change it
    plain = secret_password()
    active = pg_value(pg_cluster, user, awkward)
    build(active).set(change(active, {**active, "password": plain}))
    assert pg_cluster.logs_in(user, plain)
    assert not pg_cluster.logs_in(user, awkward)


def test_own_password_changes_the_login_not_the_role_it_acts_as(
    pg_cluster: PgCluster, build: Build
) -> None:
    """A role whose sessions ``SET role`` to another: CURRENT_USER is the other role, whose
    password must stay as it is."""
    group, group_pw = new_role(pg_cluster, "grp")
    user, old = new_role(pg_cluster, extra=f"IN ROLE {pg8000.native.identifier(group)}")
    pg_cluster.run(
        f"ALTER ROLE {pg8000.native.identifier(user)} SET role = {pg8000.native.literal(group)}"
    )
    group_verifier = stored_verifier(pg_cluster, group)
    new = secret_password()
    active = pg_value(pg_cluster, user, old)
    build(active).set(change(active, {**active, "password": new}))
    assert pg_cluster.logs_in(user, new)
    assert stored_verifier(pg_cluster, group) == group_verifier
    assert pg_cluster.logs_in(group, group_pw)


# -- connections, TLS and errors ---------------------------------------------------------------


def session_uses_tls(pg: PgCluster, mode: SslMode, root_cert: str | None) -> bool:
    conn = Connection(pg.host, pg.port, "postgres", mode, root_cert)
    handle = ENGINE.connect(conn, Login(pg.superuser, pg.superpass), 5)
    try:
        [[encrypted]] = handle.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        return bool(encrypted)
    finally:
        ENGINE.close(handle)


def test_tls_modes(pg_cluster: PgCluster, build: Build) -> None:
    user, pw = new_role(pg_cluster)
    for ssl_mode, root in (("verify-full", pg_cluster.ca_file), ("require", None)):
        value = pg_value(pg_cluster, user, pw, ssl=ssl_mode, sslRootCert=root)
        ch = change(value, value)
        assert build(value).probe(ch, Stage.ACTIVE) is True, ssl_mode
    value = pg_value(pg_cluster, user, pw, ssl="disable", sslRootCert=None)
    assert build(value).probe(change(value, value), Stage.ACTIVE) is True

    assert session_uses_tls(pg_cluster, SslMode.VERIFY_FULL, pg_cluster.ca_file)
    assert session_uses_tls(pg_cluster, SslMode.REQUIRE, None)
    assert not session_uses_tls(pg_cluster, SslMode.DISABLE, None)  # asked for: plain text


def test_verify_full_without_the_ca_is_unreachable(pg_cluster: PgCluster, build: Build) -> None:
    user, pw = new_role(pg_cluster)
    value = pg_value(pg_cluster, user, pw)
    del value["sslRootCert"]  # the system store does not know the throwaway CA
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as info:
        build(value).probe(change(value, value), Stage.ACTIVE)
    assert time.monotonic() - started < 2
    message = str(info.value)
    # Which setting to change, not a network problem (issue 17)
    assert "the server's TLS certificate did not verify (" in message
    assert "ssl is verify-full" in message and "give sslRootCert" in message
    assert "to 'require'" in message and "'disable' for a server on this machine" in message
    assert_clean(info.value, pw, user)


def test_a_server_that_refuses_tls_is_not_used_in_plain_text(build: Build) -> None:
    """A listener answering PostgreSQL's SSLRequest with 'N', as a server with ssl = off
    does: verify-full and require must stop there, not fall back to plain text."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(5)
        port = int(listener.getsockname()[1])

        def answer_no() -> None:
            with contextlib.suppress(OSError):  # the test is over: the listener closed
                for _ in range(2):
                    peer, _addr = listener.accept()
                    with peer:
                        peer.recv(8)
                        peer.sendall(b"N")
                        peer.recv(1)

        server = threading.Thread(target=answer_no, daemon=True)
        server.start()
        for mode in ("verify-full", "require"):
            value = {
                "engine": "postgresql", "host": "127.0.0.1", "port": port,
                "username": "app", "password": "not-sent-anywhere", "ssl": mode,
            }  # fmt: skip
            with pytest.raises(TargetUnreachable, match="does not offer TLS") as info:
                build(value).probe(change(value, value), Stage.ACTIVE)
            assert (
                f"(ssl is {mode}): set ssl (in the secret value or the target parameter) "
                "to 'disable'" in str(info.value)
            )
            assert_clean(info.value, "not-sent-anywhere")
        server.join(timeout=5)


def test_the_default_tls_against_a_local_server_without_tls_names_the_setting(
    build: Build,
) -> None:
    """The machine's own PostgreSQL (127.0.0.1:5432) runs with ssl = off, as a local
    server often does: the default ssl (verify-full) is refused at once, and the message
    says which setting to change (issue 17: it used to say nothing of ssl)."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError as exc:
        unavailable("PostgreSQL at 127.0.0.1:5432", type(exc).__name__)
    value = {"engine": "postgresql", "host": "127.0.0.1", "port": 5432,
             "username": "postgres", "password": "not-sent-anywhere"}  # fmt: skip
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as info:
        build(value).probe(change(value, value), Stage.ACTIVE)
    assert time.monotonic() - started < 2
    assert str(info.value).startswith("postgresql at 127.0.0.1:5432 does not offer TLS")
    assert "to 'disable' for a server on this machine" in str(info.value)
    assert info.value.code == "TARGET_UNREACHABLE"


def test_closed_port_is_unreachable_quickly(pg_cluster: PgCluster, build: Build) -> None:
    value = pg_value(pg_cluster, "app", "irrelevant-pw", port=free_port())
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as info:
        build(value).probe(change(value, value), Stage.ACTIVE)
    assert time.monotonic() - started < 2
    assert "ConnectionRefusedError" in str(info.value)
    assert_clean(info.value, "irrelevant-pw")


def test_wrong_password_is_a_refusal_and_missing_database_unreachable(
    pg_cluster: PgCluster, build: Build
) -> None:
    user, pw = new_role(pg_cluster)
    wrong = secret_password()
    value = pg_value(pg_cluster, user, wrong)
    assert build(value).probe(change(value, value), Stage.ACTIVE) is False

    missing_db = pg_value(pg_cluster, user, pw, dbname=unique("nodb"))
    with pytest.raises(TargetUnreachable, match="3D000") as info:
        build(missing_db).probe(change(missing_db, missing_db), Stage.ACTIVE)
    assert_clean(info.value, pw, user)


def test_test_query_failure_names_the_sqlstate_only(pg_cluster: PgCluster, build: Build) -> None:
    user, pw = new_role(pg_cluster)
    value = pg_value(pg_cluster, user, pw)
    ch = change(value, value)
    build(value, {"testQuery": "SELECT count(*) FROM pg_roles"}).test(ch)
    with pytest.raises(TargetTestFailed, match="42P01") as info:
        build(value, {"testQuery": "SELECT * FROM no_such_table"}).test(ch)
    assert_clean(info.value, pw, user, "no_such_table")


def test_pending_refused_at_test_is_a_test_failure(pg_cluster: PgCluster, build: Build) -> None:
    user, pw = new_role(pg_cluster)
    never_set = secret_password()
    value = pg_value(pg_cluster, user, pw)
    with pytest.raises(TargetTestFailed):
        build(value).test(change(value, {**value, "password": never_set}))


def test_dual_password_is_not_offered(pg_cluster: PgCluster, build: Build) -> None:
    user, pw = new_role(pg_cluster)
    with pytest.raises(TargetConfigError, match="supports strategy"):
        build(pg_value(pg_cluster, user, pw), {"strategy": "dual-password"})
    assert ENGINE.strategies == {Strategy.SINGLE_USER, Strategy.ALTERNATING_USERS}


# -- alternating users --------------------------------------------------------------------------


@pytest.fixture
def base_with_table(pg_cluster: PgCluster) -> tuple[str, str, str]:
    """A login role owning a database with a table holding one row: (role, password, db)."""
    user, pw = new_role(pg_cluster, extra="CREATEDB CONNECTION LIMIT 7")
    db = pg_cluster.create_database(owner=user)
    with contextlib.closing(pg_cluster.connect(user, pw, db)) as conn:
        conn.run("CREATE TABLE accounts (id int PRIMARY KEY, name text)")
        conn.run("INSERT INTO accounts VALUES (1, 'first')")
    return user, pw, db


def test_alternating_creates_a_clone_that_acts_as_the_base(
    pg_cluster: PgCluster, build: Build, base_with_table: tuple[str, str, str]
) -> None:
    base, base_pw, db = base_with_table
    clone = base + "_clone"
    pg_cluster.track_role(clone)
    before = role_state(pg_cluster, base)
    active = pg_value(pg_cluster, base, base_pw, dbname=db)
    target = build(active, ALTERNATING)
    assert target.derive(SecretValue(active)) == {"username": clone}
    clone_pw = secret_password()
    ch = change(active, {**active, "username": clone, "password": clone_pw},
                keys=("username", "password"))  # fmt: skip

    assert target.probe(ch, Stage.PENDING) is False
    target.set(ch)
    assert target.probe(ch, Stage.PENDING) is True
    target.test(ch)
    assert pg_cluster.logs_in(base, base_pw, db)  # the active user was never touched
    assert query_as(pg_cluster, clone, clone_pw, "SELECT id, name FROM accounts", db) == [
        [1, "first"]
    ]
    with contextlib.closing(pg_cluster.connect(clone, clone_pw, db)) as conn:
        assert conn.run("SELECT session_user, current_user") == [[clone, base]]
        conn.run("CREATE TABLE made_by_clone (x int)")
        conn.run("INSERT INTO made_by_clone VALUES (1)")
    [[owner]] = query_as(
        pg_cluster, base, base_pw,
        "SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_clone'", db,
    )  # fmt: skip
    assert owner == base
    assert query_as(pg_cluster, base, base_pw, "SELECT x FROM made_by_clone", db) == [[1]]
    [[clone_owns]] = pg_cluster.run(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE r.rolname = :r",
        r=clone,
    )
    assert clone_owns == 0
    assert role_state(pg_cluster, base) == before
    assert stored_verifier(pg_cluster, clone).startswith("SCRAM-SHA-256$")

    target.rollback(ch)  # nothing to undo: the active user was never touched
    assert pg_cluster.logs_in(base, base_pw, db)


def test_alternating_back_changes_only_the_base(
    pg_cluster: PgCluster, build: Build, base_with_table: tuple[str, str, str]
) -> None:
    base, base_pw, db = base_with_table
    clone = base + "_clone"
    pg_cluster.track_role(clone)
    before = role_state(pg_cluster, base)
    first = pg_value(pg_cluster, base, base_pw, dbname=db)
    clone_pw = secret_password()
    build(first, ALTERNATING).set(
        change(first, {**first, "username": clone, "password": clone_pw}, keys=("username",))
    )
    clone_verifier = stored_verifier(pg_cluster, clone)

    # the clone is active now: the next rotation gives the base a new password
    active = pg_value(pg_cluster, clone, clone_pw, dbname=db)
    target = build(active, ALTERNATING)
    assert target.derive(SecretValue(active)) == {"username": base}
    new_base_pw = secret_password()
    ch = change(active, {**active, "username": base, "password": new_base_pw},
                previous=first, keys=("username", "password"))  # fmt: skip
    target.set(ch)
    target.test(ch)
    assert pg_cluster.logs_in(base, new_base_pw, db)
    assert not pg_cluster.logs_in(base, base_pw, db)
    assert pg_cluster.logs_in(clone, clone_pw, db)
    assert stored_verifier(pg_cluster, clone) == clone_verifier
    assert role_state(pg_cluster, base) == before


def test_alternating_resyncs_an_existing_clone(
    pg_cluster: PgCluster, build: Build, base_with_table: tuple[str, str, str]
) -> None:
    """A clone that lost its membership (someone revoked it) gets it back with its new
    password, and again acts as the base."""
    base, base_pw, db = base_with_table
    clone = base + "_clone"
    stale = secret_password()
    pg_cluster.create_role(clone, stale)
    active = pg_value(pg_cluster, base, base_pw, dbname=db)
    clone_pw = secret_password()
    ch = change(active, {**active, "username": clone, "password": clone_pw},
                keys=("username", "password"))  # fmt: skip
    build(active, ALTERNATING).set(ch)

    assert pg_cluster.logs_in(clone, clone_pw, db)
    assert not pg_cluster.logs_in(clone, stale, db)
    assert role_state(pg_cluster, clone)["member_of"] == [base]
    assert query_as(pg_cluster, clone, clone_pw, "SELECT count(*) FROM accounts", db) == [[1]]
    # run again with the membership in place: nothing is granted twice
    build(active, ALTERNATING).set(ch)
    [[grants]] = pg_cluster.run(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
        "WHERE r.rolname = :c",
        c=clone,
    )
    assert grants == 1


def test_alternating_refuses_a_clone_name_postgres_would_cut_short(
    pg_cluster: PgCluster, build: Build
) -> None:
    """63 is PostgreSQL's limit in bytes: 40 characters of 65 bytes would be truncated."""
    base = unique("é" * 25)
    clone = base + "_clone"
    assert len(clone) < 63 < len(clone.encode())
    active = pg_value(pg_cluster, base, secret_password())
    ch = change(active, {**active, "username": clone, "password": secret_password()},
                keys=("username", "password"))  # fmt: skip
    with pytest.raises(TargetConfigError, match="63-byte"):
        build(active, ALTERNATING).set(ch)
    assert pg_cluster.run("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'éé%'") == [[0]]


# -- end to end: the handler in its own process, through the trigger ------------------------


def chain_of(emu: Emulator, sid: str) -> Any:
    with emu.client() as client:
        return client.get_secret_values(sid)


def phase_of(emu: Emulator, sid: str) -> RotationPhase:
    with emu.client() as client:
        return client.get_secret(sid).rotation_phase


def stores_a_working_credential(pg: PgCluster, emu: Emulator, sid: str) -> bool:
    chain = chain_of(emu, sid)
    values = [v for v in (chain.active, chain.pending) if v is not None]
    return any(pg.logs_in(v["username"], v["password"], v["dbname"]) for v in values)


def test_e2e_single_user(pg_cluster: PgCluster, emu: Emulator) -> None:
    user, old = new_role(pg_cluster, extra="CREATEDB")
    before = role_state(pg_cluster, user)
    value = pg_value(pg_cluster, user, old)
    sid, activation = rotate_via_trigger(emu, value)
    assert activation.result is not None and activation.result["ok"] is True, activation.result

    chain = chain_of(emu, sid)
    assert chain.previous == value
    assert chain.active is not None and chain.active["password"] != old
    assert pg_cluster.logs_in(user, chain.active["password"])
    assert not pg_cluster.logs_in(user, old)
    assert stored_verifier(pg_cluster, user).startswith("SCRAM-SHA-256$")
    assert role_state(pg_cluster, user) == before
    assert phase_of(emu, sid) is RotationPhase.NONE


def test_e2e_alternating_users_twice(
    pg_cluster: PgCluster, emu: Emulator, base_with_table: tuple[str, str, str]
) -> None:
    base, base_pw, db = base_with_table
    clone = base + "_clone"
    pg_cluster.track_role(clone)
    before = role_state(pg_cluster, base)
    target = {
        "strategy": "alternating-users",
        "adminSecretId": admin_secret(emu, pg_cluster.superuser, pg_cluster.superpass),
    }
    value = pg_value(pg_cluster, base, base_pw, dbname=db)
    sid, activation = rotate_via_trigger(
        emu, value, targets=("username", "password"), target=target
    )
    assert activation.result is not None and activation.result["ok"] is True, activation.result
    chain = chain_of(emu, sid)
    assert chain.previous == value
    assert chain.active["username"] == clone
    for stored in (chain.previous, chain.active):  # both users, each with its own password
        assert pg_cluster.logs_in(stored["username"], stored["password"], db)
    assert query_as(
        pg_cluster, clone, chain.active["password"], "SELECT name FROM accounts", db
    ) == [["first"]]
    assert role_state(pg_cluster, base) == before

    # the next job on the same secret hands the turn back to the base role
    with emu.client() as client:
        client.execute_rotation_job(sid)
    emu.wait_idle(timeout=90)
    second = [a for a in emu.activations if a.secret_id == sid][-1]
    assert second.result is not None and second.result["ok"] is True, second.result
    again = chain_of(emu, sid)
    assert again.active["username"] == base and again.previous == chain.active
    assert again.active["password"] != base_pw
    assert not pg_cluster.logs_in(base, base_pw, db)
    for stored in (again.previous, again.active):
        assert pg_cluster.logs_in(stored["username"], stored["password"], db)
    assert role_state(pg_cluster, base) == before
    assert role_state(pg_cluster, clone)["member_of"] == [base]


def test_e2e_complete_failing_rolls_the_password_back(pg_cluster: PgCluster, emu: Emulator) -> None:
    user, old = new_role(pg_cluster)
    emu.faults.add("complete_rotation_job", status=400, times=50)  # refused: not done
    value = pg_value(pg_cluster, user, old)
    sid, activation = rotate_via_trigger(emu, value)
    result = activation.result
    assert result is not None and result["ok"] is False
    assert result["error"]["code"] == "API_ERROR"
    assert [s["step"] for s in result["steps"]][-4:] == ["complete", "rollback", "probe", "fail"]
    assert phase_of(emu, sid) is RotationPhase.ROTATION_FAILED
    assert chain_of(emu, sid).active == value
    assert pg_cluster.logs_in(user, old)  # rolled back to active
    assert stores_a_working_credential(pg_cluster, emu, sid)


def test_e2e_target_down_changes_nothing(pg_cluster: PgCluster, emu: Emulator) -> None:
    user, old = new_role(pg_cluster)
    before = stored_verifier(pg_cluster, user)
    value = pg_value(pg_cluster, user, old, port=free_port())
    sid, activation = rotate_via_trigger(emu, value)
    result = activation.result
    assert result is not None and result["ok"] is False
    assert result["error"]["code"] == "TARGET_UNREACHABLE"
    assert "set" not in [s["step"] for s in result["steps"]]
    assert phase_of(emu, sid) is RotationPhase.ROTATION_FAILED
    assert chain_of(emu, sid).active == value
    assert stored_verifier(pg_cluster, user) == before
    assert pg_cluster.logs_in(user, old)


def test_e2e_failing_test_query_rolls_back(pg_cluster: PgCluster, emu: Emulator) -> None:
    user, old = new_role(pg_cluster)
    value = pg_value(pg_cluster, user, old)
    sid, activation = rotate_via_trigger(
        emu, value, target={"testQuery": "SELECT * FROM no_such_table"}
    )
    result = activation.result
    assert result is not None and result["ok"] is False
    assert result["error"]["code"] == "TARGET_TEST_FAILED"
    assert "no_such_table" not in result["error"]["message"]
    assert [s["step"] for s in result["steps"]][-4:] == ["test", "rollback", "probe", "fail"]
    assert phase_of(emu, sid) is RotationPhase.ROTATION_FAILED
    assert pg_cluster.logs_in(user, old)
    assert stores_a_working_credential(pg_cluster, emu, sid)
