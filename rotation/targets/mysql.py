"""MySQL and MariaDB: the :class:`~rotation.targets.database.Engine` over PyMySQL.

Pure Python (PyMySQL), so the action needs no compiled client library. Two strategies:

``single-user``
    The user changes its own password: ``SET PASSWORD = PASSWORD(...)`` on MariaDB (no
    privilege needed), ``ALTER USER USER() IDENTIFIED BY ...`` on MySQL (with ``REPLACE``
    the current password when the server requires it). With ``adminSecretId`` the admin
    runs ``ALTER USER 'app'@'host' IDENTIFIED BY ...`` instead.
``alternating-users``
    The admin keeps ``app_clone`` (same account host as ``app``) a copy of the active
    user: created when missing, its privileges revoked and replayed from ``SHOW GRANTS``
    of the active user on *every* rotation (so grants added to one user since the last
    rotation reach the other), and only then given the pending password. A clone that
    logs in with pending therefore always has the synced privileges: a run that dies
    half-way leaves a clone that pending cannot log in to, and the retry syncs again.

The account host (``'app'@'%'``) comes from ``userHost`` or, for the admin statements,
from ``mysql.user`` when the user exists at exactly one host.

Every password and identifier goes to the server as a PyMySQL parameter (``%s``), never
formatted into SQL. The one exception is replaying ``SHOW GRANTS`` lines, which are the
server's own SQL: only the grantee is replaced, by a backtick-quoted identifier with its
backticks doubled, and the password hash part is removed.

TLS: ``ssl: disable`` connects in plain text (and does not even try TLS); otherwise the
connection must be encrypted, checked after connecting (``Ssl_cipher``) in case the driver
fell back to plain text on a server without TLS. Error messages name the engine, the
address and the server's error number or the exception class, never driver text (which
can quote a statement and so a password) and never a user name (a rotation target).

MySQL and MariaDB differ where a rotation looks: the own-password statement, the error
numbers of a locked account, how ``SHOW GRANTS`` quotes (MySQL 8 writes ``GRANT PROXY``
lines with single quotes, role grants as ``'role'@'host'`` accounts, partial revokes as
``REVOKE ... FROM`` lines) and where default roles live (MariaDB prints a ``SET DEFAULT
ROLE`` line; MySQL 8 keeps them in ``mysql.default_roles``, copied by a ``SET DEFAULT
ROLE ... TO`` statement). The server is told apart by its handshake version. Each
difference is a small pure function below (statements built, replies read), tested on
MySQL's documented formats in ``tests/unit/test_mysql_syntax.py``; the engine around them
only runs the statements.

Expired passwords: the connection announces that it can handle one
(``CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS``), so MySQL's default
``disconnect_on_expired_password`` lets the user in to a sandbox that allows exactly the
password change the rotation is for (error 1862 otherwise), and a sandboxed session's TLS
is confirmed from the client's own socket (the server answers 1820 to ``SHOW STATUS``).

Settings that can only fail at SQL time (``userHost``, ``dbname``, an unreadable
``sslRootCert``) are checked when the target is built, in the workflow's preflight, before
a pending value is written.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.constants import CLIENT

from rotation import codes
from rotation.generate import Policy
from rotation.ncp.models import SecretValue
from rotation.targets.base import (
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)
from rotation.targets.database import (
    AccountLocked,
    Connection,
    DatabaseTarget,
    Login,
    LoginRefused,
    Strategy,
    build_database_target,
    merged_settings,
    parse_connection,
)

ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
#: "Access denied" without the "using password" part: auth_socket users, and MariaDB for
#: about one in six logins of a user that does not exist (it fakes a random auth plugin so
#: that unknown users look like known ones). A refusal as much as 1045 is.
ER_ACCESS_DENIED_NO_PASSWORD = 1698
ER_NONEXISTING_GRANT = 1141
#: A sandboxed session (expired password) ran something other than a password change.
ER_MUST_CHANGE_PASSWORD = 1820
#: An expired password, and the client did not say it can handle the sandbox.
ER_MUST_CHANGE_PASSWORD_LOGIN = 1862
ER_SSL_CONNECTION_ERROR = 2026
ER_MISSING_CURRENT_PASSWORD = 3892
#: MySQL 8.0.19+ ``FAILED_LOGIN_ATTEMPTS``: blocked for a while after failed logins.
ER_ACCOUNT_BLOCKED_BY_PASSWORD_LOCK = 3955
#: "Access denied, this account is locked": MariaDB 4151, MySQL 3118.
ER_ACCOUNT_LOCKED = frozenset({4151, 3118})
#: REVOKE errors that only say "there was nothing to revoke".
NOTHING_TO_REVOKE = frozenset({ER_NONEXISTING_GRANT, 1147, 1403})

#: The keywords a grantee follows in ``SHOW GRANTS`` lines (``GRANT ... TO``, MySQL 8's
#: partial revokes ``REVOKE ... FROM``, MariaDB's ``SET DEFAULT ROLE ... FOR``).
GRANTEE_KEYWORDS = (" TO ", " FROM ", " FOR ")
#: Clauses that may follow MariaDB's ``IDENTIFIED ...`` part in a ``GRANT USAGE`` line.
AFTER_IDENTIFIED = (" REQUIRE ", " WITH ")

#: An account host as the server matches it: a host name, an IPv4 or IPv6 address, a
#: netmask or CIDR suffix, with the ``%`` and ``_`` wildcards; at most 255 characters
#: (MySQL 8.0.17+ and MariaDB's ``mysql.global_priv``). Anything else (spaces, quotes,
#: control characters) names an account no client can ever log in to.
ACCOUNT_HOST_PATTERN = re.compile(r"[A-Za-z0-9._%:/-]{1,255}")
#: Database names: at most 64 characters, no NUL, nothing beyond the Basic Multilingual
#: Plane, no trailing space (MySQL's and MariaDB's identifier rules).
MAX_DATABASE_NAME = 64


@dataclass(frozen=True)
class Statement:
    """One statement for the server. ``args`` fill its ``%s`` placeholders (PyMySQL
    escapes them); ``args=None`` sends ``sql`` as it is, for replayed ``SHOW GRANTS``
    lines, where ``%`` is a host wildcard, not a placeholder. ``tolerate``: error numbers
    that only say there was nothing to do. The repr never shows ``args`` (passwords)."""

    sql: str
    args: tuple[Any, ...] | None = None
    tolerate: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        given = "as is" if self.args is None else f"{len(self.args)} args"
        return f"Statement({self.sql!r}, <{given}>)"


@dataclass
class Session:
    """One PyMySQL connection, where it goes, and the server's version once asked."""

    conn: Any
    where: str
    version: str | None = None


def _errno(exc: BaseException) -> int | None:
    """The server's (or PyMySQL's client) error number; ``None`` for other exceptions."""
    if not isinstance(exc, pymysql.err.MySQLError):
        return None
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _describe(exc: BaseException) -> str:
    """``error 2003, ConnectionRefusedError``: the number and class, never the text."""
    code = _errno(exc)
    cause = getattr(exc, "original_exception", None)
    parts = [f"error {code}" if code is not None else type(exc).__name__]
    if isinstance(cause, BaseException):
        parts.append(type(cause).__name__)
    return ", ".join(parts)


def _throwaway_password() -> str:
    """Random, never stored or shown; with every character class for password plugins."""
    return secrets.token_urlsafe(24) + "-Aa1!"


def quote_identifier(name: str) -> str:
    """A backtick-quoted identifier, as MySQL writes one (backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def quote_account(user: str, host: str) -> str:
    return f"{quote_identifier(user)}@{quote_identifier(host)}"


# -- reading SHOW GRANTS lines -----------------------------------------------------------------


def _quoted_end(text: str, start: int) -> int | None:
    """The index after the quoted token opening at ``start`` (`` ` `` or ``'``)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        char = text[i]
        if quote == "'" and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return None


def _unquote(token: str) -> str:
    quote, body = token[0], token[1:-1]
    if quote == "`":
        return body.replace("``", "`")
    body = body.replace("''", "'")
    return re.sub(r"\\(.)", lambda m: m.group(1), body)


def _top_level(text: str) -> list[int]:
    """The indexes of ``text`` that are outside quoted identifiers and strings."""
    outside: list[int] = []
    i = 0
    while i < len(text):
        if text[i] in "`'":
            end = _quoted_end(text, i)
            if end is None:
                break
            i = end
            continue
        outside.append(i)
        i += 1
    return outside


def _account_at(text: str, start: int) -> tuple[str, str, int] | None:
    """``'user'@'host'`` (either quote style) starting at ``start``: user, host, end."""
    if start >= len(text) or text[start] not in "`'":
        return None
    user_end = _quoted_end(text, start)
    if user_end is None or not text.startswith("@", user_end):
        return None
    host_start = user_end + 1
    if host_start >= len(text) or text[host_start] not in "`'":
        return None
    host_end = _quoted_end(text, host_start)
    if host_end is None:
        return None
    return _unquote(text[start:user_end]), _unquote(text[host_start:host_end]), host_end


def find_grantee(line: str, user: str, host: str) -> tuple[int, int] | None:
    """Where the grantee ``user@host`` stands in a ``SHOW GRANTS`` line (outside quotes,
    after ``TO``/``FROM``/``FOR``): ``(start, end)`` of the quoted account."""
    outside = set(_top_level(line))
    for keyword in GRANTEE_KEYWORDS:
        at = line.find(keyword)
        while at != -1:
            if at in outside:
                start = at + len(keyword)
                account = _account_at(line, start)
                if (
                    account is not None
                    and account[0] == user
                    and account[1].lower() == host.lower()
                ):
                    return start, account[2]
            at = line.find(keyword, at + 1)
    return None


def _strip_identified(line: str, after: int) -> str:
    """Drop MariaDB's ``IDENTIFIED BY PASSWORD '...'`` / ``IDENTIFIED VIA ...`` part after
    the grantee; keep ``REQUIRE ...`` and ``WITH ...`` (TLS and resource limits belong to
    the account as much as its privileges do)."""
    outside = [i for i in _top_level(line) if i >= after]
    starts = [i for i in outside if line.startswith(" IDENTIFIED ", i)]
    if not starts:
        return line
    begin = starts[0]
    ends = [i for i in outside if i > begin and line.startswith(AFTER_IDENTIFIED, i)]
    return line[:begin] + (line[ends[0] :] if ends else "")


def grant_for(line: str, current: str, host: str, alternate: str) -> str | None:
    """A ``SHOW GRANTS FOR current`` line as the statement that gives ``alternate`` the
    same; ``None`` when the line does not name ``current`` where expected."""
    found = find_grantee(line, current, host)
    if found is None:
        return None
    start, end = found
    statement = line[:start] + quote_account(alternate, host) + line[end:]
    return _strip_identified(statement, start)


def role_revoke_for(line: str, user: str, host: str) -> str | None:
    """``GRANT `role` TO user`` -> ``REVOKE `role` FROM user``: MySQL 8's ``REVOKE ALL``
    leaves granted roles in place. ``None`` for lines that are not role grants."""
    if not line.startswith("GRANT "):
        return None
    found = find_grantee(line, user, host)
    if found is None or line[found[0] - len(" TO ") : found[0]] != " TO ":
        return None
    roles = line[len("GRANT ") : found[0] - len(" TO ")]
    if any(roles.startswith(" ON ", i) for i in _top_level(roles)) or not roles.strip():
        return None
    return f"REVOKE {roles} FROM {quote_account(user, host)}"


# -- telling the servers apart (the handshake's version string) --------------------------------


def is_mariadb(server_version: str) -> bool:
    """MariaDB says so in its version (``5.5.5-10.11.6-MariaDB-0+deb12u1``, or
    ``11.4.2-MariaDB`` from 11.0 on); MySQL never does (``8.0.36``, ``8.4.0-commercial``)."""
    return "mariadb" in server_version.lower()


def version_numbers(server_version: str) -> tuple[int, ...]:
    """``8.0.36-0ubuntu0.22.04.1`` -> ``(8, 0, 36)``; MariaDB's ``5.5.5-`` prefix (kept
    for old clients) is skipped; ``()`` when there is no number to read."""
    text = server_version.removeprefix("5.5.5-")
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)


def keeps_default_roles_apart(server_version: str) -> bool:
    """MySQL 8 keeps default roles in ``mysql.default_roles``, not in ``SHOW GRANTS``
    (MariaDB prints a ``SET DEFAULT ROLE`` line; MySQL 5.7 has no roles)."""
    return not is_mariadb(server_version) and version_numbers(server_version) >= (8,)


# -- statements built, replies read: pure, one per difference --------------------------------


def own_password_statement(
    server_version: str, new_password: str, current_password: str | None = None
) -> Statement:
    """The user changes its own password. MariaDB: ``SET PASSWORD = PASSWORD(...)`` (no
    privilege needed; ``ALTER USER CURRENT_USER()`` needs CREATE USER there). MySQL 8 has
    no ``PASSWORD()``: ``ALTER USER USER() IDENTIFIED BY``, with ``REPLACE`` the current
    password once the server asked for it (``password_require_current``, 8.0.13+)."""
    if is_mariadb(server_version):
        return Statement("SET PASSWORD = PASSWORD(%s)", (new_password,))
    if current_password is None:
        return Statement("ALTER USER USER() IDENTIFIED BY %s", (new_password,))
    return Statement(
        "ALTER USER USER() IDENTIFIED BY %s REPLACE %s", (new_password, current_password)
    )


def login_failure(code: int | None, where: str, described: str, *, tls: bool) -> TargetError:
    """What a refused connection means, from the server's (or PyMySQL's) error number."""
    if code in ER_ACCOUNT_LOCKED or code == ER_ACCOUNT_BLOCKED_BY_PASSWORD_LOCK:
        why = (
            "is locked"
            if code in ER_ACCOUNT_LOCKED
            else "is blocked after too many failed logins (FAILED_LOGIN_ATTEMPTS; it "
            "unblocks after PASSWORD_LOCK_TIME)"
        )
        return AccountLocked(f"{where}: the account {why} (error {code})")
    if code == ER_DBACCESS_DENIED:
        # The password was accepted: the user may not use the database. Not a refusal of
        # the credential (on-call must not reset a right password), and nothing changed.
        return TargetError(
            f"{where} accepted the password but refused access to the database (error "
            f"{code}): grant the user access to it",
            code=codes.TARGET_DB_ACCESS_DENIED,
            untouched=True,
        )
    if code in (ER_ACCESS_DENIED, ER_ACCESS_DENIED_NO_PASSWORD):
        return LoginRefused(f"{where} refused the login (error {code})")
    if code == ER_MUST_CHANGE_PASSWORD_LOGIN:
        # The password is right, so this is no refusal of it; and nothing was changed.
        return TargetError(
            f"{where}: the password has expired and the server refuses expired logins to "
            f"this client (error {code}); set a new one by hand, or rotate with "
            "adminSecretId",
            code=codes.TARGET_LOGIN_REFUSED,
            untouched=True,
        )
    if code == ER_SSL_CONNECTION_ERROR and tls:
        return no_tls(where)
    return TargetUnreachable(f"cannot connect to {where} ({described})")


def no_tls(where: str) -> TargetUnreachable:
    return TargetUnreachable(
        f"{where} did not negotiate TLS; refusing plaintext (set ssl: disable to allow it)"
    )


def text_of(value: Any) -> str:
    """A text column as text: PyMySQL hands back ``bytes`` for binary-collated ones."""
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def account_host_from(rows: Iterable[Sequence[Any]], where: str) -> str:
    """The account host of a user from its ``mysql.user`` rows: exactly one, or an error
    that says what to do."""
    hosts = sorted({text_of(row[0]) for row in rows})
    if not hosts:
        raise TargetSetFailed(f"{where} has no such user (looked up in mysql.user)")
    if len(hosts) > 1:
        raise TargetConfigError(
            f"the user exists at {len(hosts)} account hosts on {where}: set userHost "
            'to the one to rotate (e.g. "%")'
        )
    return hosts[0]


def default_roles_from(rows: Iterable[Sequence[Any]]) -> list[tuple[str, str]]:
    """``(role user, role host)`` pairs from ``mysql.default_roles`` rows
    (``DEFAULT_ROLE_USER``, ``DEFAULT_ROLE_HOST``), in a stable order."""
    return sorted({(text_of(row[0]), text_of(row[1])) for row in rows})


def default_roles_statement(
    alternate: str, host: str, roles: Sequence[tuple[str, str]]
) -> Statement:
    """MySQL 8: give ``alternate`` exactly these default roles (``NONE`` for none). The
    roles must be granted to it already: this runs after the replayed grants."""
    if not roles:
        return Statement("SET DEFAULT ROLE NONE TO %s@%s", (alternate, host))
    names = ", ".join(["%s@%s"] * len(roles))
    args = tuple(part for role in roles for part in role)
    return Statement(f"SET DEFAULT ROLE {names} TO %s@%s", (*args, alternate, host))


def privilege_sync(
    source: Sequence[str],
    held: Sequence[str],
    current: str,
    alternate: str,
    host: str,
    *,
    mariadb: bool,
    default_roles: Sequence[tuple[str, str]] | None,
    where: str,
) -> list[Statement]:
    """The statements that make ``alternate``'s privileges exactly ``current``'s, from
    ``SHOW GRANTS`` of both: revoke its roles (``REVOKE ALL`` leaves them) and everything
    else, clear MariaDB's default role, replay ``current``'s lines for ``alternate``, and
    on MySQL 8 set its default roles to ``current``'s (``default_roles``, read from
    ``mysql.default_roles``; ``None`` where the server keeps them elsewhere).

    Raises before anything is run when a line does not name ``current`` as expected."""
    grants = []
    for line in source:
        statement = grant_for(line, current, host, alternate)
        if statement is None:
            raise TargetSetFailed(
                f"{where}: a SHOW GRANTS line does not name the user as expected; "
                "privileges were not copied"
            )
        grants.append(Statement(statement))
    plan = [
        Statement(revoke, tolerate=NOTHING_TO_REVOKE)
        for line in held
        if (revoke := role_revoke_for(line, alternate, host)) is not None
    ]
    plan.append(
        Statement(
            "REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s",
            (alternate, host),
            tolerate=NOTHING_TO_REVOKE,
        )
    )
    if mariadb:
        plan.append(Statement("SET DEFAULT ROLE NONE FOR %s@%s", (alternate, host)))
    plan.extend(grants)
    if default_roles is not None:
        plan.append(default_roles_statement(alternate, host, default_roles))
    return plan


# -- settings that can only fail at SQL time, checked when the target is built ---------------


def check_account_host(host: str | None) -> None:
    """``userHost``: the host part of ``'app'@'host'``, as the server stores one. The
    message never repeats the value (it may be anything, a pasted secret included)."""
    if host is not None and not ACCOUNT_HOST_PATTERN.fullmatch(host):
        raise TargetConfigError(
            "userHost must be an account host as MySQL stores one: a host name, an IP "
            "address, a netmask or a pattern with % and _ (letters, digits and . - _ % : / "
            "only, at most 255 characters; no spaces, quotes or control characters)"
        )


def check_database_name(name: str | None) -> None:
    """``dbname``: a name the server could have, or every login would fail."""
    if name is None:
        return
    if (
        len(name) > MAX_DATABASE_NAME
        or "\x00" in name
        or name.endswith(" ")
        or any(ord(char) > 0xFFFF for char in name)
    ):
        raise TargetConfigError(
            f"dbname must be a database name the server allows: at most "
            f"{MAX_DATABASE_NAME} characters, no NUL, no trailing space, no characters "
            "beyond U+FFFF"
        )


def check_settings(engine: MySqlEngine, config: Mapping[str, Any], active: SecretValue) -> None:
    """Refuse, before the workflow writes a pending value, what only SQL would refuse."""
    conn = parse_connection(merged_settings(config, active), engine.default_port)
    check_account_host(conn.user_host)
    check_database_name(conn.dbname)
    # sslRootCert is loaded by the shared settings (database.py, rotation.cafiles)


# -- the engine ------------------------------------------------------------------------------


class MySqlEngine:
    """:class:`~rotation.targets.database.Engine` for MySQL 5.7+/8 and MariaDB 10.4+."""

    default_port = 3306
    strategies = frozenset({Strategy.SINGLE_USER, Strategy.ALTERNATING_USERS})
    default_policy = Policy()

    def __init__(self, kind: str, max_username_length: int) -> None:
        self.kind = kind
        self.max_username_length = max_username_length

    def __repr__(self) -> str:
        return f"MySqlEngine({self.kind!r})"

    def _where(self, conn: Connection) -> str:
        return f"{self.kind} at {conn.host}:{conn.port}"

    # -- sessions -----------------------------------------------------------------------

    def connect(self, conn: Connection, login: Login, timeout: float) -> Session:
        where = self._where(conn)
        options: dict[str, Any] = {
            "host": conn.host,
            "port": conn.port,
            "user": login.username,
            # The server compares bytes; the password is set over a utf8mb4 session.
            "password": login.password.encode("utf-8"),
            "database": conn.dbname,
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "write_timeout": timeout,
            "autocommit": True,
            "charset": "utf8mb4",
            # An expired password gets a sandboxed session (a password change only)
            # instead of error 1862: changing it is what the rotation is for.
            "client_flag": CLIENT.HANDLE_EXPIRED_PASSWORDS,
        }
        try:
            context = conn.ssl_context()
        except (OSError, ValueError) as exc:
            raise TargetConfigError(
                f"sslRootCert for {where} cannot be used ({type(exc).__name__})"
            ) from None
        if context is None:
            options["ssl_disabled"] = True  # "disable" means plain text, not "try TLS"
        else:
            options["ssl"] = context
        try:
            handle = pymysql.connect(**options)
        except pymysql.err.OperationalError as exc:
            failure = login_failure(_errno(exc), where, _describe(exc), tls=context is not None)
            raise failure from None
        except (pymysql.err.MySQLError, OSError, UnicodeError) as exc:
            raise TargetUnreachable(f"cannot connect to {where} ({_describe(exc)})") from None
        session = Session(handle, where)
        if context is not None:
            self.require_tls(session)
        return session

    def require_tls(self, session: Session) -> None:
        """No silent plain text: PyMySQL may carry on unencrypted when the server lacks
        TLS. Ask the server whether this session is encrypted; close it if not. A session
        in the expired-password sandbox may not ask (error 1820): then the client's own
        socket says whether it is wrapped in TLS."""
        try:
            with session.conn.cursor() as cur:
                cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
                row = cur.fetchone()
            encrypted = row is not None and bool(row[1])
        except (pymysql.err.MySQLError, OSError) as exc:
            if _errno(exc) != ER_MUST_CHANGE_PASSWORD:
                self.close(session)
                raise TargetUnreachable(
                    f"could not confirm TLS with {session.where} ({_describe(exc)})"
                ) from None
            encrypted = isinstance(getattr(session.conn, "_sock", None), ssl.SSLSocket)
        if not encrypted:
            self.close(session)
            raise no_tls(session.where)

    def close(self, handle: Any) -> None:
        conn = handle.conn if isinstance(handle, Session) else handle
        # Best effort: PyMySQL raises on an already closed connection; the socket goes anyway.
        with contextlib.suppress(Exception):
            conn.close()

    # -- statements ---------------------------------------------------------------------

    @staticmethod
    def _run(session: Session, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement; PyMySQL escapes ``args`` into the ``%s`` placeholders."""
        with session.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def _execute(self, session: Session, statement: Statement) -> list[tuple[Any, ...]]:
        """Run a built :class:`Statement`; an error it tolerates counts as done."""
        try:
            return self._run(session, statement.sql, statement.args)
        except pymysql.err.MySQLError as exc:
            if _errno(exc) not in statement.tolerate:
                raise
            return []

    def _failed(self, session: Session, what: str, exc: BaseException) -> TargetSetFailed:
        return TargetSetFailed(f"{session.where}: {what} failed ({_describe(exc)})")

    def _version(self, session: Session) -> str:
        """From the connection handshake, not ``SELECT VERSION()``: a session with an
        expired password may run nothing but a password change (error 1820), and changing
        that password is exactly what the rotation is for."""
        if session.version is None:
            info = session.conn.get_server_info()
            session.version = info if isinstance(info, str) else ""
        return session.version

    def check(self, handle: Any, test_query: str | None) -> None:
        session: Session = handle
        what = "SELECT 1"
        try:
            rows = self._run(session, "SELECT 1")
            if not rows or rows[0][0] != 1:
                raise TargetTestFailed(f"{session.where}: SELECT 1 did not return 1")
            if test_query is not None:
                what = "the test query"
                self._run(session, test_query)  # no args: a % in it is not a placeholder
        except (pymysql.err.MySQLError, OSError) as exc:
            raise TargetTestFailed(f"{session.where}: {what} failed ({_describe(exc)})") from None

    def change_own_password(self, handle: Any, login: Login, new_password: str) -> None:
        session: Session = handle
        version = self._version(session)
        try:
            try:
                self._execute(session, own_password_statement(version, new_password))
            except pymysql.err.MySQLError as exc:
                if _errno(exc) != ER_MISSING_CURRENT_PASSWORD:
                    raise
                replacing = own_password_statement(version, new_password, login.password)
                self._execute(session, replacing)
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self._failed(session, "changing the user's own password", exc) from None

    def _account_host(self, admin: Session, conn: Connection, username: str) -> str:
        if conn.user_host is not None:
            return conn.user_host
        try:
            rows = self._run(admin, "SELECT Host FROM mysql.user WHERE User = %s", (username,))
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self._failed(admin, "looking up the user's account host", exc) from None
        return account_host_from(rows, admin.where)

    def set_password(self, admin: Any, conn: Connection, username: str, new_password: str) -> None:
        session: Session = admin
        host = self._account_host(session, conn, username)
        try:
            self._run(session, "ALTER USER %s@%s IDENTIFIED BY %s", (username, host, new_password))
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self._failed(session, "ALTER USER", exc) from None

    def ensure_alternate(
        self, admin: Any, conn: Connection, current: str, alternate: str, password: str
    ) -> None:
        session: Session = admin
        host = self._account_host(session, conn, current)
        step = "reading the users"
        try:
            exists = bool(
                self._run(
                    session,
                    "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
                    (alternate, host),
                )
            )
            if not exists:
                step = "CREATE USER"
                # A throwaway password until the privileges are in place: pending logs in
                # only once the clone is a full copy (a retry's probe relies on that).
                self._run(
                    session,
                    "CREATE USER %s@%s IDENTIFIED BY %s",
                    (alternate, host, _throwaway_password()),
                )
            step = "syncing privileges"
            self._sync_privileges(session, current, alternate, host)
            step = "ALTER USER"
            self._run(session, "ALTER USER %s@%s IDENTIFIED BY %s", (alternate, host, password))
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self._failed(session, step, exc) from None

    def _sync_privileges(self, session: Session, current: str, alternate: str, host: str) -> None:
        """Make ``alternate``'s privileges exactly ``current``'s (see
        :func:`privilege_sync`): read both users' grants, then run the plan."""
        show = "SHOW GRANTS FOR %s@%s"
        source = [text_of(row[0]) for row in self._run(session, show, (current, host))]
        held = [text_of(row[0]) for row in self._run(session, show, (alternate, host))]
        version = self._version(session)
        default_roles = None
        if keeps_default_roles_apart(version):
            rows = self._run(
                session,
                "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
                "WHERE USER = %s AND HOST = %s",
                (current, host),
            )
            default_roles = default_roles_from(rows)
        plan = privilege_sync(
            source,
            held,
            current,
            alternate,
            host,
            mariadb=is_mariadb(version),
            default_roles=default_roles,
            where=session.where,
        )
        for statement in plan:
            self._execute(session, statement)

    def add_password(self, handle: Any, username: str, password: str) -> None:
        raise TargetConfigError(f"{self.kind} does not support the dual-password strategy")

    def remove_password(self, handle: Any, username: str, password: str) -> None:
        raise TargetConfigError(f"{self.kind} does not support the dual-password strategy")


MYSQL = MySqlEngine("mysql", 32)
MARIADB = MySqlEngine("mariadb", 80)


def build_mysql(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> DatabaseTarget:
    check_settings(MYSQL, config, active)
    return build_database_target(MYSQL, config, active, ctx)


def build_mariadb(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> DatabaseTarget:
    check_settings(MARIADB, config, active)
    return build_database_target(MARIADB, config, active, ctx)
