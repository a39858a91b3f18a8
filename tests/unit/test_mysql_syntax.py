"""MySQL's own syntax, where the machine's MariaDB cannot show it: the statements the
MySQL target builds, and how it reads what a MySQL 8 server answers.

The machine runs MariaDB only (``tests/integration/test_mysql_target.py`` runs the target
against it for real). Every branch that only a MySQL server takes is tested here on the
pure functions of ``rotation/targets/mysql.py``, with server replies copied from MySQL's
documented formats:

* ``SHOW GRANTS`` lines (backtick-quoted accounts, the single-quoted ``GRANT PROXY`` line,
  dynamic privileges, role grants ``GRANT `r1`@`%`,`r2`@`%` TO ...``):
  https://dev.mysql.com/doc/refman/8.0/en/show-grants.html ; MySQL 5.7's single-quoted
  grantees: https://dev.mysql.com/doc/refman/5.7/en/show-grants.html
* partial revokes (``REVOKE INSERT ON `world`.* FROM `u1`@`%```):
  https://dev.mysql.com/doc/refman/8.0/en/partial-revokes.html
* roles, ``WITH ADMIN OPTION``, default roles (``SET DEFAULT ROLE ... TO``, kept in
  ``mysql.default_roles``, columns ``DEFAULT_ROLE_USER``/``DEFAULT_ROLE_HOST``):
  https://dev.mysql.com/doc/refman/8.0/en/roles.html ,
  https://dev.mysql.com/doc/refman/8.0/en/set-default-role.html ,
  https://dev.mysql.com/doc/refman/8.0/en/grant-tables.html
* ``ALTER USER USER() IDENTIFIED BY ... [REPLACE ...]`` (``password_require_current``,
  8.0.13+): https://dev.mysql.com/doc/refman/8.0/en/alter-user.html ,
  https://dev.mysql.com/doc/refman/8.0/en/set-password.html
* expired passwords, sandbox mode, errors 1820 and 1862, ``CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS``:
  https://dev.mysql.com/doc/refman/8.0/en/expired-password-handling.html
* account locking, error 3118 (MariaDB's is 4151: https://mariadb.com/kb/en/e4151):
  https://dev.mysql.com/doc/refman/8.0/en/account-locking.html ; every error number used
  (1044, 1045, 1698, 1820, 1862, 2026, 3118, 3892, 3955) as listed in
  https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html
* account host names (wildcards, netmasks, 255 characters since 8.0.17) and database names
  (64 characters, no NUL, no trailing space, nothing beyond U+FFFF):
  https://dev.mysql.com/doc/refman/8.0/en/account-names.html ,
  https://dev.mysql.com/doc/refman/8.0/en/identifiers.html

Where the engine strings those functions together (retry with ``REPLACE`` on 3892, the
privilege sync, the TLS check of a sandboxed session), :class:`RecordedServer` plays a
MySQL 8 server's documented replies to it, in order, and records what it was sent.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pytest

from rotation import codes
from rotation.ncp.models import SecretValue
from rotation.targets.base import (
    TargetConfigError,
    TargetError,
    TargetSetFailed,
    TargetUnreachable,
)
from rotation.targets.database import AccountLocked, Connection, Login, LoginRefused, SslMode
from rotation.targets.mysql import (
    MARIADB,
    MYSQL,
    NOTHING_TO_REVOKE,
    Session,
    Statement,
    account_host_from,
    build_mariadb,
    build_mysql,
    check_account_host,
    check_database_name,
    default_roles_from,
    default_roles_statement,
    find_grantee,
    grant_for,
    is_mariadb,
    keeps_default_roles_apart,
    login_failure,
    own_password_statement,
    privilege_sync,
    role_revoke_for,
    version_numbers,
)
from tests.factories import target_context

#: Handshake versions: MySQL's (Community, a distribution build, Enterprise, 5.7 with
#: binary logging) and MariaDB's (10.x keeps a ``5.5.5-`` prefix for old clients; this
#: one is the machine's own server; 11.x drops it).
MYSQL_8 = "8.0.36"
MYSQL_VERSIONS = ("8.0.36", "8.0.36-0ubuntu0.22.04.1", "8.4.0-commercial", "5.7.44-log")
MARIADB_VERSIONS = ("5.5.5-10.11.19-MariaDB-0+deb12u1", "11.4.2-MariaDB-ubu2404")

#: SHOW GRANTS FOR 'root'@'localhost' on MySQL 8.0, as its manual prints it.
ROOT_GRANTS = (
    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, SHUTDOWN, PROCESS, FILE, "
    "REFERENCES, INDEX, ALTER, SHOW DATABASES, SUPER, CREATE TEMPORARY TABLES, LOCK TABLES, "
    "EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, "
    "ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE TABLESPACE, CREATE ROLE, DROP ROLE "
    "ON *.* TO `root`@`localhost` WITH GRANT OPTION",
    "GRANT BACKUP_ADMIN,BINLOG_ADMIN,CONNECTION_ADMIN,ENCRYPTION_KEY_ADMIN,"
    "GROUP_REPLICATION_ADMIN,PERSIST_RO_VARIABLES_ADMIN,REPLICATION_SLAVE_ADMIN,"
    "RESOURCE_GROUP_ADMIN,ROLE_ADMIN,SET_USER_ID,SYSTEM_VARIABLES_ADMIN,XA_RECOVER_ADMIN "
    "ON *.* TO `root`@`localhost` WITH GRANT OPTION",
    "GRANT PROXY ON ''@'' TO 'root'@'localhost' WITH GRANT OPTION",
)
#: SHOW GRANTS FOR 'u1'@'localhost' with two roles granted (MySQL 8.0 manual).
U1_GRANTS = (
    "GRANT USAGE ON *.* TO `u1`@`localhost`",
    "GRANT `r1`@`%`,`r2`@`%` TO `u1`@`localhost`",
)
#: SHOW GRANTS FOR u1 after a partial revoke (MySQL 8.0 manual, partial revokes).
PARTIAL_GRANTS = (
    "GRANT SELECT, INSERT ON *.* TO `u1`@`%`",
    "REVOKE INSERT ON `world`.* FROM `u1`@`%`",
)


# -- a MySQL server's recorded replies, played to the engine ------------------------------


@dataclass
class Reply:
    """What the server answers one statement: rows, or an error (number and message)."""

    expect: str  # the start of the statement it answers
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: tuple[int, str] | None = None


@dataclass
class RecordedServer:
    """A PyMySQL connection to a server that answers from a script, in order, and keeps
    what it was sent. It fails the test on a statement the script did not expect."""

    version: str
    script: list[Reply]
    sent: list[tuple[str, Any]] = field(default_factory=list)
    closed: bool = False
    _sock: Any = None

    def get_server_info(self) -> str:
        return self.version

    def cursor(self) -> RecordedCursor:
        return RecordedCursor(self)

    def close(self) -> None:
        self.closed = True

    def answer(self, sql: str, args: Any) -> list[tuple[Any, ...]]:
        assert self.script, f"unexpected statement {sql!r}"
        reply = self.script.pop(0)
        assert sql.startswith(reply.expect), f"sent {sql!r}, the server expected {reply.expect!r}"
        self.sent.append((sql, args))
        if reply.error is not None:
            code, message = reply.error
            raise pymysql.err.OperationalError(code, message)
        return reply.rows


@dataclass
class RecordedCursor:
    server: RecordedServer
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def __enter__(self) -> RecordedCursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execute(self, sql: str, args: Any = None) -> int:
        self.rows = self.server.answer(sql, args)
        return len(self.rows)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


def session(version: str, *script: Reply) -> tuple[Session, RecordedServer]:
    server = RecordedServer(version, list(script))
    return Session(server, "mysql at db.internal:3306"), server


#: MySQL 8.0.13+ with password_require_current: the error it answers a change without REPLACE.
MISSING_CURRENT = (3892, "Current password needs to be specified in the REPLACE clause in order to change it.")  # fmt: skip  # noqa: E501
#: The sandbox's answer to anything but a password change.
MUST_CHANGE = (1820, "You must reset your password using ALTER USER statement before executing this statement.")  # fmt: skip  # noqa: E501


# -- which server: the handshake's version ----------------------------------------------------


@pytest.mark.parametrize("version", MYSQL_VERSIONS)
def test_mysql_handshakes_are_not_mariadb(version: str) -> None:
    assert not is_mariadb(version)


@pytest.mark.parametrize("version", MARIADB_VERSIONS)
def test_mariadb_handshakes_say_so(version: str) -> None:
    assert is_mariadb(version)
    assert not keeps_default_roles_apart(version)  # MariaDB prints SET DEFAULT ROLE lines


@pytest.mark.parametrize(
    ("version", "numbers", "apart"),
    [
        ("8.0.36", (8, 0, 36), True),
        ("8.0.36-0ubuntu0.22.04.1", (8, 0, 36), True),
        ("8.4.0-commercial", (8, 4, 0), True),
        ("9.1.0", (9, 1, 0), True),
        ("8.0.mysql_aurora.3.04.0", (8, 0), True),
        ("5.7.44-log", (5, 7, 44), False),  # no roles before 8.0
        ("5.5.5-10.11.19-MariaDB-0+deb12u1", (10, 11, 19), False),
        ("", (), False),
        ("unknown", (), False),
    ],
)
def test_version_numbers_and_where_default_roles_live(
    version: str, numbers: tuple[int, ...], apart: bool
) -> None:
    assert version_numbers(version) == numbers
    assert keeps_default_roles_apart(version) is apart


# -- the user changes its own password ------------------------------------------------------


def test_mysql_changes_its_own_password_with_alter_user() -> None:
    statement = own_password_statement(MYSQL_8, "New-Pw-000001")
    assert statement == Statement("ALTER USER USER() IDENTIFIED BY %s", ("New-Pw-000001",))


def test_mysql_names_the_current_password_when_the_server_requires_it() -> None:
    statement = own_password_statement(MYSQL_8, "New-Pw-000001", "Old-Pw-000001")
    assert statement.sql == "ALTER USER USER() IDENTIFIED BY %s REPLACE %s"
    assert statement.args == ("New-Pw-000001", "Old-Pw-000001")


@pytest.mark.parametrize("version", MARIADB_VERSIONS)
def test_mariadb_keeps_set_password(version: str) -> None:
    for current in (None, "Old-Pw-000001"):
        statement = own_password_statement(version, "New-Pw-000001", current)
        assert statement == Statement("SET PASSWORD = PASSWORD(%s)", ("New-Pw-000001",))


def test_a_statement_never_shows_its_arguments() -> None:
    statement = own_password_statement(MYSQL_8, "New-Pw-000001", "Old-Pw-000001")
    assert "Pw-000001" not in repr(statement)
    assert "2 args" in repr(statement)
    assert "as is" in repr(Statement("GRANT USAGE ON *.* TO `a`@`%`"))


def test_the_engine_retries_with_replace_on_3892() -> None:
    conn, server = session(
        MYSQL_8,
        Reply("ALTER USER USER() IDENTIFIED BY %s", error=MISSING_CURRENT),
        Reply("ALTER USER USER() IDENTIFIED BY %s REPLACE %s"),
    )
    MYSQL.change_own_password(conn, Login("app", "Old-Pw-000001"), "New-Pw-000001")
    assert server.sent == [
        ("ALTER USER USER() IDENTIFIED BY %s", ("New-Pw-000001",)),
        ("ALTER USER USER() IDENTIFIED BY %s REPLACE %s", ("New-Pw-000001", "Old-Pw-000001")),
    ]
    assert not server.script


def test_the_engine_changes_a_mysql_password_in_one_statement_when_allowed() -> None:
    conn, server = session(MYSQL_8, Reply("ALTER USER USER() IDENTIFIED BY %s"))
    MYSQL.change_own_password(conn, Login("app", "Old-Pw-000001"), "New-Pw-000001")
    assert server.sent == [("ALTER USER USER() IDENTIFIED BY %s", ("New-Pw-000001",))]


def test_a_refused_mysql_password_is_a_set_failure_without_the_password() -> None:
    policy = (1819, "Your password does not satisfy the current policy requirements")
    conn, server = session(MYSQL_8, Reply("ALTER USER USER()", error=policy))
    with pytest.raises(TargetSetFailed, match=r"own password failed \(error 1819\)") as caught:
        MYSQL.change_own_password(conn, Login("app", "Old-Pw-000001"), "New-Pw-000001")
    assert len(server.sent) == 1  # no REPLACE retry for another error
    assert "Pw-000001" not in str(caught.value) and "policy" not in str(caught.value)


def test_a_wrong_current_password_after_3892_is_a_set_failure() -> None:
    wrong = (3891, "Incorrect current password. Specify the correct password which has to be replaced.")  # fmt: skip  # noqa: E501
    conn, _ = session(
        MYSQL_8,
        Reply("ALTER USER USER() IDENTIFIED BY %s", error=MISSING_CURRENT),
        Reply("ALTER USER USER() IDENTIFIED BY %s REPLACE %s", error=wrong),
    )
    with pytest.raises(TargetSetFailed, match=r"error 3891"):
        MYSQL.change_own_password(conn, Login("app", "Old-Pw-000001"), "New-Pw-000001")


# -- what a refused connection means -------------------------------------------------------


WHERE = "mysql at db.internal:3306"


def failure(code: int | None, *, tls: bool = True) -> TargetError:
    return login_failure(code, WHERE, f"error {code}, ConnectionRefusedError", tls=tls)


@pytest.mark.parametrize("code", [3118, 4151])  # MySQL's and MariaDB's "account is locked"
def test_a_locked_account_is_locked_on_both_servers(code: int) -> None:
    error = failure(code)
    assert isinstance(error, AccountLocked)
    assert (error.code, error.untouched) == (codes.TARGET_ACCOUNT_LOCKED, True)
    assert str(error) == f"{WHERE}: the account is locked (error {code})"


def test_a_blocked_account_after_failed_logins_is_locked_for_a_while() -> None:
    error = failure(3955)
    assert isinstance(error, AccountLocked) and error.untouched
    assert "FAILED_LOGIN_ATTEMPTS" in str(error) and "PASSWORD_LOCK_TIME" in str(error)


@pytest.mark.parametrize(
    ("code", "says"), [(1045, "refused the login"), (1698, "refused the login")]
)
def test_refusals_are_login_refused(code: int, says: str) -> None:
    error = failure(code)
    assert isinstance(error, LoginRefused) and says in str(error)


def test_no_access_to_the_database_is_not_a_wrong_password() -> None:
    """1044: the password was accepted; on-call must not reset it (the operator's day)."""
    error = failure(1044)
    assert not isinstance(error, LoginRefused | AccountLocked)
    assert (error.code, error.untouched) == (codes.TARGET_DB_ACCESS_DENIED, True)
    assert "accepted the password" in str(error) and "grant" in str(error)


def test_an_expired_password_refused_at_login_is_not_a_wrong_password() -> None:
    """1862: the password is right, so a probe must not read it as "not in place"."""
    error = failure(1862)
    assert not isinstance(error, LoginRefused | AccountLocked)
    assert (error.code, error.untouched) == (codes.TARGET_LOGIN_REFUSED, True)
    assert "expired" in str(error) and "adminSecretId" in str(error)


def test_tls_refused_by_the_server_is_unreachable_only_when_tls_was_asked() -> None:
    assert "did not negotiate TLS" in str(failure(2026, tls=True))
    assert isinstance(failure(2026, tls=False), TargetUnreachable)
    assert "cannot connect" in str(failure(2026, tls=False))


@pytest.mark.parametrize("code", [2003, 2013, 1040, None])
def test_anything_else_is_unreachable_with_the_number_only(code: int | None) -> None:
    error = failure(code)
    assert type(error) is TargetUnreachable
    assert str(error) == f"cannot connect to {WHERE} (error {code}, ConnectionRefusedError)"


# -- the TLS check of a sandboxed session (an expired password) ----------------------------


def test_a_sandboxed_session_on_a_plain_socket_is_refused() -> None:
    conn, server = session(MYSQL_8, Reply("SHOW STATUS LIKE 'Ssl_cipher'", error=MUST_CHANGE))
    server._sock = socket.socket()
    try:
        with pytest.raises(TargetUnreachable, match="did not negotiate TLS"):
            MYSQL.require_tls(conn)
        assert server.closed
    finally:
        server._sock.close()


def test_a_sandboxed_session_on_a_tls_socket_is_accepted() -> None:
    conn, server = session(MYSQL_8, Reply("SHOW STATUS LIKE 'Ssl_cipher'", error=MUST_CHANGE))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    server._sock = context.wrap_socket(
        socket.socket(), server_hostname="db.internal", do_handshake_on_connect=False
    )
    try:
        MYSQL.require_tls(conn)
        assert not server.closed
    finally:
        server._sock.close()


def test_an_encrypted_session_is_confirmed_by_the_server() -> None:
    cipher = [("Ssl_cipher", "TLS_AES_256_GCM_SHA384")]
    conn, server = session(MYSQL_8, Reply("SHOW STATUS LIKE 'Ssl_cipher'", rows=cipher))
    MYSQL.require_tls(conn)
    assert not server.closed


def test_another_error_while_confirming_tls_is_unreachable() -> None:
    lost = (2013, "Lost connection to MySQL server during query")
    conn, server = session(MYSQL_8, Reply("SHOW STATUS", error=lost))
    with pytest.raises(TargetUnreachable, match=r"could not confirm TLS .*\(error 2013\)"):
        MYSQL.require_tls(conn)
    assert server.closed


# -- reading SHOW GRANTS lines as MySQL 8 prints them ----------------------------------------


def test_the_documented_root_grants_replay_for_another_user() -> None:
    copied = [grant_for(line, "root", "localhost", "root_clone") for line in ROOT_GRANTS]
    assert copied[0] is not None and copied[0].endswith(
        "DROP ROLE ON *.* TO `root_clone`@`localhost` WITH GRANT OPTION"
    )
    assert copied[1] is not None and copied[1].startswith("GRANT BACKUP_ADMIN,BINLOG_ADMIN,")
    assert copied[1].endswith("ON *.* TO `root_clone`@`localhost` WITH GRANT OPTION")
    # The single-quoted PROXY line: the proxied ''@'' account is not the grantee.
    assert copied[2] == "GRANT PROXY ON ''@'' TO `root_clone`@`localhost` WITH GRANT OPTION"


def test_role_grants_replay_and_revoke() -> None:
    assert grant_for(U1_GRANTS[1], "u1", "localhost", "u1_clone") == (
        "GRANT `r1`@`%`,`r2`@`%` TO `u1_clone`@`localhost`"
    )
    held = "GRANT `r1`@`%`,`r2`@`%` TO `u1_clone`@`localhost`"
    assert role_revoke_for(held, "u1_clone", "localhost") == (
        "REVOKE `r1`@`%`,`r2`@`%` FROM `u1_clone`@`localhost`"
    )
    admin_option = "GRANT `app_developer`@`%` TO `u1_clone`@`%` WITH ADMIN OPTION"
    assert role_revoke_for(admin_option, "u1_clone", "%") == (
        "REVOKE `app_developer`@`%` FROM `u1_clone`@`%`"
    )


@pytest.mark.parametrize(
    "line",
    [
        U1_GRANTS[0],
        ROOT_GRANTS[1],
        ROOT_GRANTS[2].replace("'root'", "'u1'").replace("'localhost'", "'%'"),
        PARTIAL_GRANTS[1],
        "GRANT SELECT (`c1`), INSERT (`c1`) ON `db1`.`t1` TO `u1`@`%`",
        "GRANT `r1`@`%` TO `someone_else`@`%`",
    ],
)
def test_lines_that_are_not_role_grants_of_the_user_revoke_nothing(line: str) -> None:
    assert role_revoke_for(line, "u1", "%") is None


def test_a_partial_revoke_replays_as_a_partial_revoke() -> None:
    copied = [grant_for(line, "u1", "%", "u1_clone") for line in PARTIAL_GRANTS]
    assert copied == [
        "GRANT SELECT, INSERT ON *.* TO `u1_clone`@`%`",
        "REVOKE INSERT ON `world`.* FROM `u1_clone`@`%`",
    ]


def test_mysql_57_single_quoted_grantees() -> None:
    line = "GRANT SELECT, INSERT, UPDATE ON `db1`.* TO 'jeffrey'@'localhost'"
    assert grant_for(line, "jeffrey", "localhost", "jeffrey_clone") == (
        "GRANT SELECT, INSERT, UPDATE ON `db1`.* TO `jeffrey_clone`@`localhost`"
    )


@pytest.mark.parametrize("quoted", ["'o\\'brien'", "'o''brien'", "`o'brien`"])
def test_quotes_inside_a_user_name_in_every_style(quoted: str) -> None:
    line = f"GRANT USAGE ON *.* TO {quoted}@'%'"
    found = find_grantee(line, "o'brien", "%")
    assert found is not None and line[found[0] : found[1]] == f"{quoted}@'%'"
    assert grant_for(line, "o'brien", "%", "o'brien_clone") == (
        "GRANT USAGE ON *.* TO `o'brien_clone`@`%`"
    )


def test_a_grantee_look_alike_inside_a_quoted_name_is_skipped() -> None:
    """``TO `u1`@`%``` inside a database name is data, not the grantee."""
    line = "GRANT SELECT ON `x TO ``u1``@``%`` y`.* TO `u1`@`%`"
    found = find_grantee(line, "u1", "%")
    assert found is not None and line[found[0] :] == "`u1`@`%`"
    assert grant_for(line, "u1", "%", "u1_clone") == (
        "GRANT SELECT ON `x TO ``u1``@``%`` y`.* TO `u1_clone`@`%`"
    )


def test_the_host_matches_without_case_and_the_user_with_case() -> None:
    line = "GRANT USAGE ON *.* TO `App`@`LocalHost`"
    assert find_grantee(line, "App", "localhost") is not None
    assert find_grantee(line, "app", "localhost") is None


def test_lines_naming_someone_else_or_broken_quotes_are_not_read() -> None:
    assert grant_for("GRANT USAGE ON *.* TO `other`@`%`", "u1", "%", "u1_clone") is None
    assert grant_for("GRANT USAGE ON *.* TO `u1`@`%", "u1", "%", "u1_clone") is None
    assert grant_for("GRANT USAGE ON *.* TO 'u1'@'%", "u1", "%", "u1_clone") is None
    assert grant_for("GRANT USAGE ON *.* TO u1@%", "u1", "%", "u1_clone") is None
    assert grant_for("GRANT USAGE ON *.* TO `u1`@%", "u1", "%", "u1_clone") is None
    assert grant_for("GRANT USAGE ON *.* TO `u1` WITH GRANT OPTION", "u1", "%", "x") is None


# -- the privilege sync plan --------------------------------------------------------------


def plan_for(
    source: tuple[str, ...],
    held: tuple[str, ...] = (),
    *,
    mariadb: bool = False,
    default_roles: list[tuple[str, str]] | None = None,
    host: str = "localhost",
) -> list[Statement]:
    return privilege_sync(
        source,
        held,
        "u1",
        "u1_clone",
        host,
        mariadb=mariadb,
        default_roles=default_roles,
        where=WHERE,
    )


REVOKE_ALL = Statement(
    "REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s",
    ("u1_clone", "localhost"),
    tolerate=NOTHING_TO_REVOKE,
)


def test_mysql_8_plan_copies_roles_and_their_default() -> None:
    held = ("GRANT USAGE ON *.* TO `u1_clone`@`localhost`", "GRANT `old`@`%` TO `u1_clone`@`localhost`")  # fmt: skip  # noqa: E501
    plan = plan_for(U1_GRANTS, held, default_roles=[("r1", "%"), ("r2", "%")])
    assert plan == [
        Statement("REVOKE `old`@`%` FROM `u1_clone`@`localhost`", tolerate=NOTHING_TO_REVOKE),
        REVOKE_ALL,
        Statement("GRANT USAGE ON *.* TO `u1_clone`@`localhost`"),
        Statement("GRANT `r1`@`%`,`r2`@`%` TO `u1_clone`@`localhost`"),
        Statement(
            "SET DEFAULT ROLE %s@%s, %s@%s TO %s@%s",
            ("r1", "%", "r2", "%", "u1_clone", "localhost"),
        ),
    ]


def test_mysql_8_plan_clears_default_roles_the_user_has_not() -> None:
    plan = plan_for(U1_GRANTS, default_roles=[])
    assert plan[-1] == Statement("SET DEFAULT ROLE NONE TO %s@%s", ("u1_clone", "localhost"))
    assert not any("FOR %s@%s" in s.sql for s in plan)  # MariaDB's syntax stays MariaDB's


def test_mysql_57_plan_has_no_roles_to_copy() -> None:
    plan = plan_for(("GRANT USAGE ON *.* TO 'u1'@'localhost'",), default_roles=None)
    assert plan == [REVOKE_ALL, Statement("GRANT USAGE ON *.* TO `u1_clone`@`localhost`")]


def test_mariadb_plan_clears_the_default_role_before_replaying() -> None:
    source = (
        "GRANT USAGE ON *.* TO `u1`@`localhost`",
        "GRANT `reader` TO `u1`@`localhost`",
        "SET DEFAULT ROLE `reader` FOR `u1`@`localhost`",
    )
    plan = plan_for(source, mariadb=True)
    assert [s.sql for s in plan] == [
        REVOKE_ALL.sql,
        "SET DEFAULT ROLE NONE FOR %s@%s",
        "GRANT USAGE ON *.* TO `u1_clone`@`localhost`",
        "GRANT `reader` TO `u1_clone`@`localhost`",
        "SET DEFAULT ROLE `reader` FOR `u1_clone`@`localhost`",
    ]


def test_replayed_lines_are_sent_as_they_are() -> None:
    """A ``%`` host in a replayed line is a wildcard: PyMySQL must not format it."""
    plan = plan_for(PARTIAL_GRANTS, host="%")
    replayed = [s for s in plan if s.sql.startswith(("GRANT", "REVOKE INSERT"))]
    assert [s.sql for s in replayed] == [
        "GRANT SELECT, INSERT ON *.* TO `u1_clone`@`%`",
        "REVOKE INSERT ON `world`.* FROM `u1_clone`@`%`",
    ]
    assert all(s.args is None for s in replayed)


def test_a_line_that_does_not_name_the_user_stops_the_plan_before_anything_runs() -> None:
    with pytest.raises(TargetSetFailed, match="does not name the user") as caught:
        plan_for((*U1_GRANTS, "GRANT USAGE ON *.* TO `intruder`@`%`"))
    assert "u1" not in str(caught.value) and "intruder" not in str(caught.value)


def test_default_roles_are_read_from_either_text_or_bytes() -> None:
    rows = [(b"r2", b"%"), ("r1", "%"), ("r1", "%")]  # binary collation hands back bytes
    assert default_roles_from(rows) == [("r1", "%"), ("r2", "%")]
    assert default_roles_statement("c", "%", [("r1", "%")]) == Statement(
        "SET DEFAULT ROLE %s@%s TO %s@%s", ("r1", "%", "c", "%")
    )


def test_the_engine_runs_the_mysql_8_sync() -> None:
    """A whole alternate-user set on MySQL 8: the look-ups, the default roles read from
    ``mysql.default_roles``, the plan, a REVOKE answered "nothing to revoke"."""
    no_grant = (1141, "There is no such grant defined for user 'u1_clone' on host 'localhost'")
    conn, server = session(
        MYSQL_8,
        Reply("SELECT Host FROM mysql.user", rows=[("localhost",)]),
        Reply("SELECT 1 FROM mysql.user", rows=[]),
        Reply("CREATE USER %s@%s IDENTIFIED BY %s"),
        Reply("SHOW GRANTS FOR %s@%s", rows=[(line,) for line in U1_GRANTS]),
        Reply("SHOW GRANTS FOR %s@%s", rows=[("GRANT USAGE ON *.* TO `u1_clone`@`localhost`",)]),
        Reply(
            "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles", [("r1", "%")]
        ),
        Reply("REVOKE ALL PRIVILEGES, GRANT OPTION FROM", error=no_grant),
        Reply("GRANT USAGE ON *.* TO `u1_clone`@`localhost`"),
        Reply("GRANT `r1`@`%`,`r2`@`%` TO `u1_clone`@`localhost`"),
        Reply("SET DEFAULT ROLE %s@%s TO %s@%s"),
        Reply("ALTER USER %s@%s IDENTIFIED BY %s"),
    )
    plain = Connection("db.internal", 3306, None, SslMode.DISABLE, None)
    MYSQL.ensure_alternate(conn, plain, "u1", "u1_clone", "New-Pw-000001")
    assert not server.script
    sent = dict(enumerate(server.sent))
    assert sent[0][1] == ("u1",)
    assert sent[3][1] == ("u1", "localhost") and sent[4][1] == ("u1_clone", "localhost")
    assert sent[5][1] == ("u1", "localhost")
    assert sent[9][1] == ("r1", "%", "u1_clone", "localhost")
    assert sent[10][1] == ("u1_clone", "localhost", "New-Pw-000001")


def test_the_engine_skips_default_roles_on_mysql_57() -> None:
    conn, server = session(
        "5.7.44-log",
        Reply("SELECT 1 FROM mysql.user", rows=[(1,)]),
        Reply("SHOW GRANTS FOR %s@%s", rows=[("GRANT USAGE ON *.* TO 'u1'@'%'",)]),
        Reply("SHOW GRANTS FOR %s@%s", rows=[("GRANT USAGE ON *.* TO 'u1_clone'@'%'",)]),
        Reply("REVOKE ALL PRIVILEGES, GRANT OPTION FROM"),
        Reply("GRANT USAGE ON *.* TO `u1_clone`@`%`"),
        Reply("ALTER USER %s@%s IDENTIFIED BY %s"),
    )
    with_host = Connection("db.internal", 3306, None, SslMode.DISABLE, None, user_host="%")
    MYSQL.ensure_alternate(conn, with_host, "u1", "u1_clone", "New-Pw-000001")
    assert not server.script


def test_a_failing_step_of_the_sync_names_the_step_not_the_reply() -> None:
    denied = (1227, "Access denied; you need (at least one of) the CREATE USER privilege(s)")
    conn, _ = session(
        MYSQL_8,
        Reply("SELECT 1 FROM mysql.user", rows=[]),
        Reply("CREATE USER", error=denied),
    )
    with_host = Connection("db.internal", 3306, None, SslMode.DISABLE, None, user_host="%")
    with pytest.raises(TargetSetFailed, match=r"CREATE USER failed \(error 1227\)") as caught:
        MYSQL.ensure_alternate(conn, with_host, "u1", "u1_clone", "New-Pw-000001")
    assert "privilege" not in str(caught.value)


# -- the account host, looked up --------------------------------------------------------------


def test_the_account_host_is_the_one_row_mysql_user_has() -> None:
    assert account_host_from([("%",)], WHERE) == "%"
    assert account_host_from([(b"10.0.0.%",)], WHERE) == "10.0.0.%"
    with pytest.raises(TargetSetFailed, match="no such user"):
        account_host_from([], WHERE)
    with pytest.raises(TargetConfigError, match=r"2 account hosts.*set userHost"):
        account_host_from([("%",), ("localhost",)], WHERE)


# -- settings checked when the target is built ------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "%",
        "localhost",
        "10.0.0.%",
        "app_.example.com",
        "198.51.100.0/255.255.255.0",
        "198.51.100.0/24",
        "::1",
        "fe80::%",
        "h" * 255,
    ],
)
def test_account_hosts_mysql_can_match_are_accepted(host: str) -> None:
    check_account_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "app\nhost",
        "bad\x00",
        "tab\there",
        "h'x",
        'h"x',
        "`h`",
        "a b",
        " ",
        "h" * 256,
        "bücher.example",
        "\ud800",  # a lone surrogate: PyMySQL could not even encode it
    ],
)
def test_impossible_account_hosts_are_refused_without_repeating_them(host: str) -> None:
    """One message whatever the value: nothing of it (a pasted password?) is repeated."""
    with pytest.raises(TargetConfigError, match="userHost") as caught:
        check_account_host(host)
    with pytest.raises(TargetConfigError) as pasted:
        check_account_host("Pasted-Secret-Pw-0001!")
    assert str(caught.value) == str(pasted.value)
    assert "Pasted-Secret" not in str(pasted.value)
    assert caught.value.code == codes.INVALID_TARGET


@pytest.mark.parametrize("name", ["app", "d" * 64, "データ", "with space inside", "a-b.c"])
def test_database_names_the_server_allows_are_accepted(name: str) -> None:
    check_database_name(name)


@pytest.mark.parametrize("name", ["d" * 65, "nul\x00", "trailing ", "emoji\U0001f600"])
def test_database_names_the_server_refuses_are_refused(name: str) -> None:
    with pytest.raises(TargetConfigError, match="dbname"):
        check_database_name(name)


ACTIVE = SecretValue(
    {"engine": "mysql", "host": "db.internal", "username": "app", "password": "Active-Pw-01"}
)


@pytest.fixture(params=[build_mysql, build_mariadb], ids=["mysql", "mariadb"])
def build(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_a_bad_user_host_stops_the_build_before_the_admin_secret_is_read(build: Any) -> None:
    read: list[str] = []

    def read_secret(other: str) -> SecretValue:
        read.append(other)
        return SecretValue({"username": "admin", "password": "Admin-Pw-0001"})

    ctx = target_context()
    ctx.read_secret = read_secret
    config = {"userHost": "10.0.0.%\r\n", "adminSecretId": "admin-secret"}
    with pytest.raises(TargetConfigError, match="userHost"):
        build(config, ACTIVE, ctx)
    assert read == []
    build({**config, "userHost": "10.0.0.%"}, ACTIVE, ctx)
    assert read == ["admin-secret"]  # a good one reads it: the order was the point


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"userHost": "app'host"}, "userHost"),
        ({"userHost": 42}, "userHost must be text"),
        ({"dbname": "x" * 65}, "dbname"),
        ({"ssl": "verify-full", "sslRootCert": "/nonexistent/ca.pem"}, "sslRootCert"),
    ],
)
def test_impossible_settings_stop_the_build(build: Any, config: dict[str, Any], says: str) -> None:
    with pytest.raises(TargetConfigError, match=says):
        build(config, ACTIVE, target_context())


def test_an_unreadable_ca_file_is_refused_at_build(build: Any, tmp_path: Any) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(TargetConfigError, match=r"sslRootCert '.*ca\.pem' holds no PEM"):
        build({"sslRootCert": str(garbage), "ssl": "verify-full"}, ACTIVE, target_context())


def test_good_settings_build(build: Any) -> None:
    config = {"userHost": "10.0.0.%", "dbname": "app", "ssl": "disable", "sslRootCert": "/nope"}
    target = build(config, ACTIVE, target_context())
    assert (target.conn.user_host, target.conn.dbname) == ("10.0.0.%", "app")
    assert target.engine is (MYSQL if build is build_mysql else MARIADB)
