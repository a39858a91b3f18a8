"""``postgresql``: a PostgreSQL user's password, changed over a real connection.

:class:`~rotation.targets.database.DatabaseTarget` runs the rotation; this module only
knows how to log in, run a round trip and change a password on a PostgreSQL server.
Strategies: ``single-user`` and ``alternating-users`` (PostgreSQL has one password per
role, so ``dual-password`` does not exist here).

Choices, and why:

* **pg8000, not psycopg.** pg8000 is pure Python, and so are its dependencies (scramp,
  asn1crypto): the deployment zip built on any laptop runs on whatever Linux image and
  Python build the Cloud Functions runtime has. psycopg needs libpq or a binary wheel
  tied to one platform and interpreter, which is exactly what breaks in a zipped action.
* **The password never reaches the server as text.** ``ALTER ROLE ... PASSWORD 'x'`` puts
  the password into the statement, and statements end up in the server log
  (``log_statement = ddl``, or any failing statement), ``pg_stat_activity`` and
  ``pg_stat_statements``. PostgreSQL also accepts a ready SCRAM-SHA-256 verifier in place
  of the password and stores it as given, so the verifier is computed here (a fresh
  16-byte salt and 4096 iterations, as the server itself would) and only the verifier is
  sent. The role ends up with exactly what ``password_encryption = scram-sha-256`` would
  have stored, even on a server still configured for md5.
* **Own password via SESSION_USER.** ``change_own_password`` runs ``SET LOCAL ROLE NONE``
  then ``ALTER ROLE SESSION_USER``: if the role has a ``role`` setting (a clone from alternating
  users, say), ``CURRENT_USER`` names *another* role, whose password must not change.
* **The clone owns nothing.** Alternating users make ``app_clone`` a member of ``app``
  (``IN ROLE app``) and give it ``ALTER ROLE app_clone SET role = 'app'``: every session of
  the clone acts as ``app``. Tables it creates belong to ``app``, privileges granted to
  ``app`` later apply to the clone at once, and nothing has to be re-granted or reassigned
  when the users take turns. That removes the usual complaint about alternating users (a
  table made by one user that the other cannot read). The clone gets no attributes of its
  own beyond ``LOGIN``; those of ``app`` apply while it acts as ``app``.
* **Errors name the SQLSTATE or the exception class, never the driver's message**, which
  can quote the statement (and the statement holds a verifier) or a user name.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Mapping
from typing import Any

import pg8000.native
from scramp import ScramException, ScramMechanism  # type: ignore[import-untyped]

from rotation.generate import Policy
from rotation.ncp.models import SecretValue
from rotation.targets.base import (
    TargetConfigError,
    TargetContext,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)
from rotation.targets.database import (
    CLONE_SUFFIX,
    Connection,
    DatabaseTarget,
    Login,
    LoginRefused,
    Strategy,
    UserDisabled,
    build_database_target,
    no_tls,
    tls_failure,
)

APPLICATION_NAME = "ncp-secret-rotator"
#: NAMEDATALEN - 1: the longest database or role name, in bytes.
MAX_IDENTIFIER_BYTES = 63
DEFAULT_DATABASE = "postgres"

#: invalid_password, invalid_authorization_specification: the server answered "no".
LOGIN_REFUSED_STATES = frozenset({"28P01", "28000"})
#: The server function that refuses a ``NOLOGIN`` role (28000), after the password was
#: checked: routine names are not translated, messages are (``lc_messages``). A
#: ``pg_hba.conf`` rejection is 28000 too, from ``ClientAuthentication``.
NOLOGIN_ROUTINE = "InitializeSessionUserId"

#: PostgreSQL's own choices for a verifier (``scram_iterations``, SCRAM_DEFAULT_SALT_LEN).
SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16

#: Errors of a connection that broke, as opposed to a statement the server refused.
_BROKEN = (pg8000.native.InterfaceError, OSError)

_SCRAM = ScramMechanism("SCRAM-SHA-256")


def scram_verifier(password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password``, in the form ``pg_authid`` stores:
    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (standard base64).

    The password is SASLprep-normalised first, as every SCRAM client does at login. A
    password SASLprep refuses (control characters, say) raises :class:`TargetSetFailed`:
    pg8000 could not log in with it either.
    """
    try:
        salt, stored_key, server_key, iterations = _SCRAM.make_auth_info(
            password, iteration_count=SCRAM_ITERATIONS, salt=secrets.token_bytes(SCRAM_SALT_BYTES)
        )
    except ScramException:
        raise TargetSetFailed(
            "the new password contains characters SCRAM (SASLprep) does not allow"
        ) from None

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a pg8000 ``DatabaseError`` (its first argument is the server's
    error fields by their one-letter codes), or ``unknown``."""
    fields = exc.args[0] if exc.args else None
    code = fields.get("C") if isinstance(fields, dict) else None
    return code if isinstance(code, str) and code else "unknown"


def routine(exc: BaseException) -> str | None:
    """The server function that raised a pg8000 ``DatabaseError`` (field ``R``)."""
    fields = exc.args[0] if exc.args else None
    name = fields.get("R") if isinstance(fields, dict) else None
    return name if isinstance(name, str) else None


def _password_clause(password: str) -> str:
    return f"PASSWORD {pg8000.native.literal(scram_verifier(password))}"


class PostgresEngine:
    """:class:`~rotation.targets.database.Engine` for PostgreSQL, over pg8000."""

    kind = "postgresql"
    default_port = 5432
    max_username_length = 63  # NAMEDATALEN - 1, in bytes (checked again in bytes below)
    strategies = frozenset({Strategy.SINGLE_USER, Strategy.ALTERNATING_USERS})
    # 32 characters, default exclusions: ':' and '@' would break libpq connection URIs.
    default_policy = Policy()

    # -- sessions -------------------------------------------------------------------------

    def connect(self, conn: Connection, login: Login, timeout: float) -> Any:
        where = f"{conn.host}:{conn.port}"
        context = conn.ssl_context()
        try:
            return pg8000.native.Connection(
                login.username,
                host=conn.host,
                port=conn.port,
                password=login.password,
                database=conn.dbname or DEFAULT_DATABASE,
                timeout=timeout,
                # pg8000 reads None as "try TLS without checking, fall back to plain text":
                # ``disable`` must say False to mean plain text.
                ssl_context=context if context is not None else False,
                application_name=APPLICATION_NAME,
            )
        except pg8000.native.DatabaseError as exc:
            code = sqlstate(exc)
            if code == "28000" and routine(exc) == NOLOGIN_ROUTINE:
                raise UserDisabled(
                    f"{self.kind} at {where}: the role may not log in (NOLOGIN; SQLSTATE "
                    f"{code}), its password was accepted: ALTER ROLE ... LOGIN, and leave the "
                    "stored value as it is",
                    untouched=True,
                ) from None
            if code in LOGIN_REFUSED_STATES:
                raise LoginRefused(
                    f"{self.kind} at {where} refused the login (SQLSTATE {code})"
                ) from None
            raise TargetUnreachable(
                f"{self.kind} at {where} refused the connection (SQLSTATE {code})"
            ) from None
        except pg8000.native.InterfaceError as exc:
            if exc.args == ("Server refuses SSL",):  # pg8000's fixed text, compared only
                raise no_tls(self.kind, where, conn.ssl_mode) from None
            tls = tls_failure(exc, self.kind, where, conn.ssl_mode)
            if tls is not None:
                raise tls from None
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            raise TargetUnreachable(
                f"could not connect to {self.kind} at {where} ({type(cause).__name__})"
            ) from None
        except (OSError, ScramException) as exc:  # ssl.SSLError and timeouts are OSErrors
            tls = tls_failure(exc, self.kind, where, conn.ssl_mode)
            if tls is not None:
                raise tls from None
            raise TargetUnreachable(
                f"could not connect to {self.kind} at {where} ({type(exc).__name__})"
            ) from None

    def close(self, handle: Any) -> None:
        with contextlib.suppress(Exception):  # the session is over either way
            handle.close()

    # -- the round trip -------------------------------------------------------------------

    def check(self, handle: Any, test_query: str | None) -> None:
        for what, sql in (("SELECT 1", "SELECT 1"), ("testQuery", test_query)):
            if sql is None:
                continue
            try:
                rows = handle.run(sql)
            except pg8000.native.DatabaseError as exc:
                raise TargetTestFailed(
                    f"{self.kind}: {what} failed (SQLSTATE {sqlstate(exc)})"
                ) from None
            except _BROKEN as exc:
                raise TargetUnreachable(
                    f"{self.kind}: the connection broke during {what} ({type(exc).__name__})"
                ) from None
            if what == "SELECT 1" and rows != [[1]]:
                raise TargetTestFailed(f"{self.kind}: SELECT 1 did not return 1")

    # -- passwords ------------------------------------------------------------------------

    def _execute(self, handle: Any, statements: list[str], doing: str) -> None:
        """Run ``statements`` in one transaction; errors say what could not be done."""
        try:
            handle.run("BEGIN")
            for sql in statements:
                handle.run(sql)
            handle.run("COMMIT")
        except pg8000.native.DatabaseError as exc:
            self._rollback(handle)
            raise TargetSetFailed(
                f"{self.kind} refused to {doing} (SQLSTATE {sqlstate(exc)})"
            ) from None
        except _BROKEN as exc:
            raise TargetUnreachable(
                f"{self.kind}: the connection broke while trying to {doing} ({type(exc).__name__})"
            ) from None

    @staticmethod
    def _rollback(handle: Any) -> None:
        with contextlib.suppress(Exception):  # closing the session aborts it anyway
            handle.run("ROLLBACK")

    def change_own_password(self, handle: Any, login: Login, new_password: str) -> None:
        clause = _password_clause(new_password)
        self._execute(
            handle,
            ["SET LOCAL ROLE NONE", f"ALTER ROLE SESSION_USER {clause}"],
            "change the user's own password",
        )

    def set_password(self, admin: Any, conn: Connection, username: str, new_password: str) -> None:
        ident = pg8000.native.identifier(username)
        self._execute(
            admin, [f"ALTER ROLE {ident} {_password_clause(new_password)}"], "set the password"
        )

    def ensure_alternate(
        self, admin: Any, conn: Connection, current: str, alternate: str, password: str
    ) -> None:
        if alternate == current + CLONE_SUFFIX:
            base, clone = current, alternate
        elif current == alternate + CLONE_SUFFIX:
            base, clone = alternate, current
        else:
            raise TargetConfigError(
                f"alternating users must be a user and the same name with {CLONE_SUFFIX!r}"
            )
        if len(clone.encode()) > self.max_username_length:  # NAMEDATALEN counts bytes
            raise TargetConfigError(
                f"the alternate user name would exceed {self.kind}'s "
                f"{self.max_username_length}-byte limit (it would be cut short)"
            )
        clause = _password_clause(password)
        base_ident, clone_ident = pg8000.native.identifier(base), pg8000.native.identifier(clone)
        if alternate == base:
            # The clone is active and stays untouched; the base role only gets the password.
            self._execute(admin, [f"ALTER ROLE {base_ident} {clause}"], "set the password")
            return
        exists, member = self._clone_state(admin, base, clone)
        statements = (
            [f"ALTER ROLE {clone_ident} {clause}"]
            if exists
            else [f"CREATE ROLE {clone_ident} LOGIN {clause} IN ROLE {base_ident}"]
        )
        if exists and not member:
            statements.append(f"GRANT {base_ident} TO {clone_ident}")
        # Every session of the clone acts as the base role: what it creates, base owns.
        statements.append(f"ALTER ROLE {clone_ident} SET role = {pg8000.native.literal(base)}")
        self._execute(admin, statements, "create or update the alternate user")

    def _clone_state(self, admin: Any, base: str, clone: str) -> tuple[bool, bool]:
        """Does the clone exist, and is it a direct member of the base role?"""
        try:
            rows = admin.run(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :clone), "
                "EXISTS (SELECT 1 FROM pg_auth_members m "
                "JOIN pg_roles b ON b.oid = m.roleid JOIN pg_roles c ON c.oid = m.member "
                "WHERE b.rolname = :base AND c.rolname = :clone)",
                base=base,
                clone=clone,
            )
        except pg8000.native.DatabaseError as exc:
            raise TargetSetFailed(
                f"{self.kind} refused to look up the alternate user (SQLSTATE {sqlstate(exc)})"
            ) from None
        except _BROKEN as exc:
            raise TargetUnreachable(
                f"{self.kind}: the connection broke while looking up the alternate user "
                f"({type(exc).__name__})"
            ) from None
        [[exists, member]] = rows
        return bool(exists), bool(member)

    def add_password(self, handle: Any, username: str, password: str) -> None:
        raise TargetConfigError(f"{self.kind} keeps one password per role: no dual-password")

    def remove_password(self, handle: Any, username: str, password: str) -> None:
        raise TargetConfigError(f"{self.kind} keeps one password per role: no dual-password")


ENGINE = PostgresEngine()


def build_postgresql(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> DatabaseTarget:
    """The ``postgresql`` target kind (registered in :mod:`rotation.targets`). The shared
    settings are checked by :func:`build_database_target`; ``dbname`` here, where its
    limit is known."""
    target = build_database_target(ENGINE, config, active, ctx)
    dbname = target.conn.dbname
    if dbname is not None and len(dbname.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise TargetConfigError(
            f"dbname is over PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte name limit"
        )
    return target
