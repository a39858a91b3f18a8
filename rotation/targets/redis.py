"""``redis``: a Redis ACL user's password, changed over a real connection.

:class:`~rotation.targets.database.DatabaseTarget` runs the rotation; this module only
knows how to log in, run a round trip and change a password on a Redis server (6.0 or
later: ACL users). Strategies: ``single-user`` (the default) and ``dual-password``. A Redis
ACL user may hold several passwords at once, so ``dual-password`` gives it the pending
password *beside* the active one and removes the old one only after Secret Manager's
``complete``: no client ever sees a refused login. ``alternating-users`` is not offered
(one user with two passwords does the same job without a second user).

The value::

    {"engine": "redis", "host": "cache.internal", "port": 6379, "username": "app",
     "password": "...", "ssl": "verify-full", "strategy": "dual-password"}

``dbname``, when given, is the logical database number (``SELECT n``). ``testQuery`` is
one command line (``"EXISTS health:key"``), split like a shell would and run as the
pending user after ``PING``.

What the user needs: ``+acl|setuser`` (it changes its own password), and ``+acl|save``
when the server keeps users in an ACL file. A user without them can still be rotated in
``single-user`` or ``dual-password`` with ``adminSecretId`` (an admin user that has them).

Choices, and why:

* **redis-py, with no retries.** redis-py 6+ retries a failed connection or command
  three times with backoff by default. Here that would turn a closed port into seconds
  of waiting and, worse, could re-send a password change whose answer was lost. The
  workflow re-runs a failed job from ``probe``; this module makes each call once.
* **The password never reaches the server as text in a command.** ``ACL SETUSER``
  accepts ``#<sha256 hex>`` in place of ``>password`` (and ``!<sha256 hex>`` in place of
  ``<password``) and stores exactly what ``>password`` would have stored: Redis keeps only
  the SHA-256 of each password. So the hash is computed here and only the hash is sent.
  Redis quotes a modifier it rejects in its error reply (``Error in ACL SETUSER modifier
  '<...>'``), and monitoring (``MONITOR``, the slow log) has shown command arguments on
  some versions; none of those can show the password.
* **Every argument is its own RESP bulk string** (``execute_command("ACL", "SETUSER",
  user, "resetpass", "#...")``): there is no command line to inject into, whatever
  characters the user name or the password hold.
* **Single-user is one command**: ``ACL SETUSER user resetpass #new`` drops every
  password the user had and sets the new one in the same step (Redis 7 applies all of an
  ``ACL SETUSER``'s modifiers or none; the hash is always well formed, so 6.x cannot stop
  half-way either). Only the passwords change: the user's key patterns, channels,
  commands, selectors and flags are not touched.
* **Removing a password that is not there counts as done.** ``rollback`` may run after a
  ``set`` that never happened, and a retried ``finish`` after one that did: both want
  "this password is no longer accepted", which is true.
* **Persistence.** After every ACL change the module runs ``ACL SAVE``: a server that
  loads its users from an ACL file would otherwise restore the old password at its next
  restart. A server without an ACL file answers that it is "not configured to use an
  ACL file"; that is fine (users defined in ``redis.conf`` need ``CONFIG REWRITE``,
  which is the operator's call, not ours). Any other refusal, a missing ``+acl|save``
  included, fails the step with a message that says the change is in memory only; the
  workflow then rolls it back.
* **No silent TLS fallback.** ``require`` and ``verify-full`` always speak TLS; against a
  plain-text server the handshake fails or times out, and that is
  :class:`~rotation.targets.base.TargetUnreachable`, never a plain-text retry. With
  ``verify-full`` redis-py checks the certificate against the system store plus
  ``sslRootCert`` when given. A plain-text Redis never answers a TLS handshake, so the
  connection would only time out (5 s, read as a network problem): for a server on this
  machine, where plain text is the rule and a probe costs nothing, one ``PING`` in plain
  text first tells "this server does not offer TLS" at once, with the ``ssl`` setting to
  change. Elsewhere no such probe is sent (a TLS server logs every plain-text connection
  as an error); the timeout's message says what a server without TLS looks like.
* **Errors name the engine, the address and the exception class, never the server's
  text**, which can quote a command's arguments.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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
    Connection,
    DatabaseTarget,
    Login,
    LoginRefused,
    SslMode,
    Strategy,
    UserDisabled,
    build_database_target,
    is_loopback,
    no_tls,
    tls_failure,
)

#: Redis's fixed replies, compared (never shown): the text around them may quote input.
NO_ACL_FILE = "This Redis instance is not configured to use an ACL file"
NO_SUCH_PASSWORD = "you are trying to remove from the user does not exist"

#: A connection that broke or never came up, as opposed to a command the server refused.
_BROKEN = (redis.ConnectionError, redis.TimeoutError)

_DB_INDEX = re.compile(r"[0-9]{1,10}")
#: Redis keeps database numbers in a C int.
MAX_DB_INDEX = 2**31 - 1

#: The most a plain-text probe of a local server may take.
PLAIN_PROBE_SECONDS = 1.0

#: What to do about NOPERM on ACL SETUSER, for a user changing its own passwords.
GRANT_HINT = "give the user +acl|setuser (and +acl|save if the server keeps an ACL file)"
SELF_HINT = f"set adminSecretId (an admin user that may) or {GRANT_HINT}"
ADMIN_HINT = "give the admin user +acl|setuser (and +acl|save if the server keeps an ACL file)"


def password_hash(password: str) -> str:
    """What Redis stores for ``password``: the lowercase hex SHA-256 of its UTF-8 bytes
    (redis-py sends a ``str`` password as UTF-8 when it logs in)."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def db_index(conn: Connection) -> int:
    """``dbname`` as the logical database number, 0 when not given."""
    if conn.dbname is None:
        return 0
    if not _DB_INDEX.fullmatch(conn.dbname) or int(conn.dbname) > MAX_DB_INDEX:
        raise TargetConfigError(
            "dbname must be a Redis database number (a non-negative integer, e.g. 0)"
        )
    return int(conn.dbname)


def command_args(test_query: str | None) -> list[str]:
    """``testQuery`` as command arguments (shell-like splitting); empty when not given."""
    if test_query is None:
        return []
    try:
        args = shlex.split(test_query)
    except ValueError:
        raise TargetConfigError(
            "testQuery is not a valid command line (unbalanced quotes)"
        ) from None
    if not args:
        raise TargetConfigError("testQuery holds no command")
    return args


def tls_options(conn: Connection) -> dict[str, Any]:
    """redis-py's TLS keyword arguments for ``conn.ssl_mode``."""
    if conn.ssl_mode is SslMode.DISABLE:
        return {"ssl": False}
    if conn.ssl_mode is SslMode.REQUIRE:
        return {"ssl": True, "ssl_cert_reqs": "none", "ssl_check_hostname": False}
    # sslRootCert was loaded when the target was built (database.parse_ssl)
    return {
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": conn.ssl_root_cert,
        "ssl_check_hostname": True,
    }


def answers_plain_text(host: str, port: int, timeout: float) -> bool:
    """Does the server answer a plain-text ``PING`` (``+PONG``, ``-NOAUTH ...``)? Then it
    does not speak TLS. No credential is sent; any error means "no" (the real connection
    then reports what it finds)."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, PLAIN_PROBE_SECONDS)) as s:
            s.sendall(b"PING\r\n")
            first = s.recv(1)
    except OSError:
        return False
    return first in (b"+", b"-")


def run(client: redis.Redis, *args: str) -> Any:
    """One command, each argument its own RESP bulk string (no command line to inject
    into), through redis-py's reply parsing (``PING`` answers ``True``)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class RedisSession:
    """One logged-in client, and where it is connected (for messages)."""

    client: redis.Redis
    where: str


#: Why a disabled ACL user cannot log in, and what to do (never the user's name).
DISABLED = (
    "the ACL user is off, so no password logs it in; its password is not the problem: "
    "turn it on (ACL SETUSER ... on) and leave the stored value as it is"
)


def _is_off(user: Any) -> bool:
    """``ACL GETUSER``'s flags include ``off`` (redis-py answers a dict whose keys and
    values are bytes, or text with ``decode_responses``)."""
    flags = (user.get(b"flags") or user.get("flags")) if isinstance(user, dict) else None
    return isinstance(flags, list | tuple) and any(
        (f.decode() if isinstance(f, bytes) else f) == "off" for f in flags
    )


class RedisEngine:
    """:class:`~rotation.targets.database.Engine` for Redis ACL users, over redis-py."""

    kind = "redis"
    default_port = 6379
    max_username_length = 512
    strategies = frozenset({Strategy.SINGLE_USER, Strategy.DUAL_PASSWORD})
    # Redis takes any bytes in a password; the default exclusions keep it usable in
    # ``redis://user:pass@host`` URLs.
    default_policy = Policy()
    #: Added to "the stored value no longer matches": Redis cannot tell the client that.
    refusal_note = (
        ", or the user is disabled (Redis answers a disabled user as it answers a wrong "
        "password: ACL GETUSER shows on or off; with adminSecretId the rotation tells them "
        "apart)"
    )

    # -- sessions -------------------------------------------------------------------------

    def connect(self, conn: Connection, login: Login, timeout: float) -> RedisSession:
        where = f"{conn.host}:{conn.port}"
        tls = conn.ssl_mode is not SslMode.DISABLE
        if tls and is_loopback(conn.host) and answers_plain_text(conn.host, conn.port, timeout):
            raise no_tls(self.kind, where, conn.ssl_mode)
        client = redis.Redis(
            host=conn.host,
            port=conn.port,
            db=db_index(conn),
            username=login.username,
            password=login.password,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            **tls_options(conn),
        )
        try:
            pool = client.connection_pool
            pool.release(pool.get_connection())  # connect, TLS, AUTH, SELECT: the login
            # Logged in by now; a user that may not run PING is still logged in (check()
            # says so when it matters).
            with contextlib.suppress(redis.exceptions.NoPermissionError):
                client.ping()
        except Exception as exc:
            self._close_client(client)
            mapped = self._connect_error(exc, conn)
            if mapped is None:
                raise
            raise mapped from None
        return RedisSession(client, where)

    def _connect_error(self, exc: Exception, conn: Connection) -> Exception | None:
        where = f"{conn.host}:{conn.port}"
        if isinstance(exc, redis.AuthenticationError):  # WRONGPASS, user disabled, NOAUTH
            return LoginRefused(f"{self.kind} at {where} refused the login")
        if isinstance(exc, _BROKEN):  # includes a TLS handshake that failed or hung
            return self._broken(exc, conn)
        if isinstance(exc, redis.exceptions.NoPermissionError):  # only SELECT can say so
            return TargetUnreachable(
                f"{self.kind} at {where}: the user may not SELECT database {conn.dbname} "
                "(give it +select, or leave dbname out)"
            )
        if isinstance(exc, redis.RedisError):  # e.g. SELECT of a database the server lacks
            return TargetUnreachable(
                f"{self.kind} at {where} refused the session ({type(exc).__name__})"
            )
        return None

    def _broken(self, exc: Exception, conn: Connection) -> TargetUnreachable:
        """A connection that never came up: the TLS setting to change when TLS explains
        it, else the address and what happened."""
        where = f"{conn.host}:{conn.port}"
        tls = tls_failure(exc, self.kind, where, conn.ssl_mode)
        if tls is not None:
            return tls
        if isinstance(exc, redis.TimeoutError) and conn.ssl_mode is not SslMode.DISABLE:
            return TargetUnreachable(
                f"could not connect to {self.kind} at {where} (TimeoutError; ssl is "
                f"{conn.ssl_mode.value}): no answer from the network or to the TLS handshake, "
                "which a server without TLS never answers: check the route, or set ssl (in "
                "the secret value or the target parameter) to 'disable' if the server speaks "
                "plain text"
            )
        return TargetUnreachable(
            f"could not connect to {self.kind} at {where} ({type(exc).__name__}; "
            f"ssl is {conn.ssl_mode.value})"
        )

    def close(self, handle: Any) -> None:
        client = handle.client if isinstance(handle, RedisSession) else handle
        self._close_client(client)

    @staticmethod
    def _close_client(client: Any) -> None:
        with contextlib.suppress(Exception):  # the session is over either way
            client.close()

    # -- the round trip -------------------------------------------------------------------

    def check(self, handle: Any, test_query: str | None) -> None:
        session: RedisSession = handle
        command = command_args(test_query)
        for what, args in (("PING", ["PING"]), ("testQuery", command)):
            if not args:
                continue
            try:
                reply = run(session.client, *args)
            except _BROKEN as exc:
                raise TargetUnreachable(
                    f"{self.kind} at {session.where}: the connection broke during {what} "
                    f"({type(exc).__name__})"
                ) from None
            except redis.exceptions.NoPermissionError:
                raise TargetTestFailed(
                    f"{self.kind} at {session.where}: the user may not run {what} "
                    f"({'give it +ping' if what == 'PING' else 'check its ACL rules'})"
                ) from None
            except redis.RedisError as exc:
                raise TargetTestFailed(
                    f"{self.kind} at {session.where}: {what} failed ({type(exc).__name__})"
                ) from None
            if what == "PING" and reply is not True:
                raise TargetTestFailed(f"{self.kind} at {session.where}: PING did not answer PONG")

    # -- passwords ------------------------------------------------------------------------

    def _setuser(
        self,
        session: RedisSession,
        username: str,
        rules: list[str],
        *,
        doing: str,
        who: str,
        hint: str,
    ) -> None:
        """``ACL SETUSER username *rules``, then ``ACL SAVE``."""
        try:
            run(session.client, "ACL", "SETUSER", username, *rules)
        except redis.exceptions.NoPermissionError:
            raise TargetSetFailed(
                f"{self.kind} at {session.where}: {who} may not run ACL SETUSER, so it cannot "
                f"{doing}: {hint}"
            ) from None
        except redis.ResponseError as exc:
            if rules[0].startswith("!") and str(exc).endswith(NO_SUCH_PASSWORD):
                pass  # already gone: what was asked for is true
            else:
                raise TargetSetFailed(
                    f"{self.kind} at {session.where} refused to {doing} ({type(exc).__name__})"
                ) from None
        except _BROKEN as exc:
            raise TargetUnreachable(
                f"{self.kind} at {session.where}: the connection broke while trying to {doing} "
                f"({type(exc).__name__})"
            ) from None
        except redis.RedisError as exc:
            raise TargetSetFailed(
                f"{self.kind} at {session.where} could not {doing} ({type(exc).__name__})"
            ) from None
        self._persist(session, who)

    def _persist(self, session: RedisSession, who: str) -> None:
        """``ACL SAVE`` when the server keeps an ACL file; fine when it keeps none."""
        in_memory = (
            "the change is in memory only and the old password returns when the server restarts"
        )
        try:
            run(session.client, "ACL", "SAVE")
        except redis.exceptions.NoPermissionError:
            raise TargetSetFailed(
                f"{self.kind} at {session.where}: {who} may not run ACL SAVE, so {in_memory} "
                "if the server keeps an ACL file: give it +acl|save"
            ) from None
        except redis.ResponseError as exc:
            if str(exc).startswith(NO_ACL_FILE):
                return  # no ACL file: nothing to save to
            raise TargetSetFailed(
                f"{self.kind} at {session.where}: ACL SAVE failed ({type(exc).__name__}), so "
                f"{in_memory}"
            ) from None
        except _BROKEN as exc:
            raise TargetUnreachable(
                f"{self.kind} at {session.where}: the connection broke during ACL SAVE "
                f"({type(exc).__name__}), so {in_memory} if the server keeps an ACL file"
            ) from None
        except redis.RedisError as exc:
            raise TargetSetFailed(
                f"{self.kind} at {session.where}: ACL SAVE failed ({type(exc).__name__}), so "
                f"{in_memory}"
            ) from None

    def change_own_password(self, handle: Any, login: Login, new_password: str) -> None:
        self._setuser(
            handle,
            login.username,
            ["resetpass", "#" + password_hash(new_password)],
            doing="change its own password",
            who="the user",
            hint=SELF_HINT,
        )

    def set_password(self, admin: Any, conn: Connection, username: str, new_password: str) -> None:
        session: RedisSession = admin
        self._require_user(session, username)
        self._setuser(
            session,
            username,
            ["resetpass", "#" + password_hash(new_password)],
            doing="set the user's password",
            who="the admin user",
            hint=ADMIN_HINT,
        )

    def _require_user(self, session: RedisSession, username: str) -> None:
        """``ACL SETUSER`` creates a user it does not know: an admin's typo must not."""
        try:
            found = run(session.client, "ACL", "GETUSER", username)
        except redis.exceptions.NoPermissionError:
            return  # an admin limited to ACL SETUSER: nothing to check with
        except _BROKEN as exc:
            raise TargetUnreachable(
                f"{self.kind} at {session.where}: the connection broke while looking up the "
                f"user ({type(exc).__name__})"
            ) from None
        except redis.RedisError as exc:
            raise TargetSetFailed(
                f"{self.kind} at {session.where} refused to look up the user ({type(exc).__name__})"
            ) from None
        if found is None:
            raise TargetSetFailed(
                f"{self.kind} at {session.where} has no such ACL user: check the value's username"
            )
        if _is_off(found):
            raise UserDisabled(f"{self.kind} at {session.where}: {DISABLED}", untouched=True)

    def user_disabled(self, admin: Any, username: str) -> str | None:
        """:class:`~rotation.targets.database.DisabledLookup`: Redis answers a disabled
        user's login as it answers a wrong password (``WRONGPASS ... or user is
        disabled``), so only ``ACL GETUSER``, as the admin, tells them apart."""
        session: RedisSession = admin
        try:
            found = run(session.client, "ACL", "GETUSER", username)
        except redis.RedisError:
            return None  # an admin that may not look: the refusal stands as it was
        return DISABLED if found is not None and _is_off(found) else None

    def ensure_alternate(
        self, admin: Any, conn: Connection, current: str, alternate: str, password: str
    ) -> None:
        raise TargetConfigError(
            f"{self.kind} does not do alternating-users: use dual-password (one user, two "
            "passwords during the switch)"
        )

    def add_password(self, handle: Any, username: str, password: str) -> None:
        self._setuser(
            handle,
            username,
            ["#" + password_hash(password)],
            doing="add a password",
            who="the user",
            hint=SELF_HINT,
        )

    def remove_password(self, handle: Any, username: str, password: str) -> None:
        self._setuser(
            handle,
            username,
            ["!" + password_hash(password)],
            doing="remove a password",
            who="the user",
            hint=SELF_HINT,
        )


ENGINE = RedisEngine()


def build_redis(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> DatabaseTarget:
    """The ``redis`` target kind (registered in :mod:`rotation.targets`).

    ``dbname`` and ``testQuery`` are checked here (``sslRootCert`` with every database
    target's connection), so bad input stops before the job's pending value is written."""
    target = build_database_target(ENGINE, config, active, ctx)
    db_index(target.conn)
    command_args(target.test_query)
    return target
