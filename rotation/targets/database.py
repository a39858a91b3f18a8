"""Database targets: one rotation logic, one small adapter per engine.

The AWS rotation templates copy the same 400 lines into every engine's folder and fix bugs
in some copies only. Here :class:`DatabaseTarget` implements the target protocol once, for
three strategies, and an :class:`Engine` adapter (``postgresql``, ``mysql``, ``redis``)
only knows how to log in, run a round trip and change a password on its server.

The secret value holds the connection (the ``target`` action parameter may override any
setting except the credentials)::

    {"engine": "postgresql", "host": "db.internal", "port": 5432, "dbname": "app",
     "username": "app", "password": "...", "ssl": "verify-full"}

Strategies (``strategy`` in the value or the target parameter):

``single-user`` (default)
    The user changes its own password: log in with active (or with previous, after a
    half-finished earlier run) and set pending. With ``adminSecretId`` the admin sets it
    instead (for users not allowed to change their own). Between ``set`` and ``complete``
    only pending logs in; clients retry across that moment.
``alternating-users``
    Two users take turns: ``app`` and ``app_clone``. The admin (``adminSecretId``: another
    secret whose active value holds ``username`` and ``password``) creates the other user
    with the same privileges when it is missing, re-syncs them every rotation, and gives
    it the pending password; the active user is never touched, so no login ever fails.
    ``rotationTargets`` must include ``username``.
``dual-password`` (Redis)
    The user gets the pending password *beside* the active one; the old one is removed
    only after Secret Manager's ``complete``.

TLS (``ssl``): ``verify-full`` (the default: encrypted, certificate and host name
checked, CA bundle from ``sslRootCert`` or the system store), ``require`` (encrypted, not
verified) or ``disable`` (plain text, only when asked for by name). There is no silent
fallback: a server that cannot do the asked-for TLS is an error, and its message names
the ``ssl`` setting that fits (:func:`tls_failure`): the default fails a local server
without TLS, and "could not connect" alone sent people looking at the network. Connect
timeout 5 s, capped by the deadline.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from rotation import codes
from rotation.cafiles import ca_file_problem, resolve
from rotation.generate import Policy
from rotation.ids import secret_id_problem
from rotation.ncp.models import SecretValue, Stage, encodable
from rotation.targets.base import (
    Change,
    Target,
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)

CONNECT_TIMEOUT_SECONDS = 5.0
CLONE_SUFFIX = "_clone"

#: Keys of the value / the target parameter that describe the connection.
CONNECTION_KEYS = frozenset(
    {"engine", "kind", "host", "port", "dbname", "ssl", "sslRootCert", "strategy",
     "adminSecretId", "testQuery", "userHost"}
)  # fmt: skip
CREDENTIAL_KEYS = frozenset({"username", "password"})


class Strategy(StrEnum):
    SINGLE_USER = "single-user"
    ALTERNATING_USERS = "alternating-users"
    DUAL_PASSWORD = "dual-password"


class SslMode(StrEnum):
    DISABLE = "disable"
    REQUIRE = "require"
    VERIFY_FULL = "verify-full"


#: Where ``ssl`` is set, for messages that tell the operator to change it.
SSL_SETTING = "ssl (in the secret value or the target parameter)"


def is_loopback(host: str) -> bool:
    """``host`` is this machine: a server here is a development server, where plain text
    is common and a quick plain-text probe costs nothing."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def no_tls(kind: str, where: str, mode: SslMode) -> TargetUnreachable:
    """The server answered in plain text where TLS was asked for."""
    return TargetUnreachable(
        f"{kind} at {where} does not offer TLS (ssl is {mode.value}): set {SSL_SETTING} to "
        "'disable' for a server on this machine or a network you trust, or turn TLS on in "
        "the server"
    )


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a driver's wrapper (its cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def tls_failure(
    exc: BaseException, kind: str, where: str, mode: SslMode
) -> TargetUnreachable | None:
    """A failed connection that TLS explains, as a message naming the ``ssl`` setting to
    change; ``None`` when TLS is not the cause. The reason quoted is the local TLS
    library's (``self-signed certificate``, ``Hostname mismatch``), never server text."""
    found = _ssl_error(exc)
    if mode is SslMode.DISABLE:
        if isinstance(exc, ConnectionResetError) or isinstance(
            exc.__cause__ or exc.__context__, ConnectionResetError
        ):
            return TargetUnreachable(
                f"{kind} at {where} closed the connection at once (ssl is disable): a server "
                f"that requires TLS does this; set {SSL_SETTING} to 'verify-full' (or "
                "'require') if it does"
            )
        return None
    if isinstance(found, ssl.SSLCertVerificationError):
        reason = (found.verify_message or "certificate verify failed").rstrip(".")
        if "mismatch" in reason.lower():  # "Hostname mismatch", "IP address mismatch"
            fix = (
                "connect with a host name or address the certificate names, or set "
                f"{SSL_SETTING} to 'require' (encrypted, host not checked)"
            )
        else:
            fix = (
                "give sslRootCert (the CA file that signed the server's certificate), or set "
                f"{SSL_SETTING} to 'require' (encrypted, not verified), or 'disable' for a "
                "server on this machine"
            )
        return TargetUnreachable(
            f"{kind} at {where}: the server's TLS certificate did not verify ({reason}; ssl "
            f"is {mode.value}): {fix}"
        )
    if found is not None:
        return TargetUnreachable(
            f"{kind} at {where}: the TLS handshake failed ({found.reason or 'SSLError'}; ssl is "
            f"{mode.value}): a server without TLS, or one that speaks another protocol, fails "
            f"this way: set {SSL_SETTING} to 'disable' if the server is plain text"
        )
    return None


class LoginRefused(TargetError):
    """The server answered and refused these credentials (not: could not be reached)."""

    code = codes.TARGET_LOGIN_REFUSED


class AccountLocked(TargetError):
    """The server refuses the account itself, whatever the password (an admin locked it):
    not a wrong credential, and no rotation can change that."""

    code = codes.TARGET_ACCOUNT_LOCKED
    untouched = True


class UserDisabled(TargetError):
    """The server would take the password but the user may not log in (PostgreSQL
    ``NOLOGIN``, a Redis ACL user that is ``off``): no stored value is wrong, so nobody
    should reset one, and no rotation can change that."""

    code = codes.TARGET_USER_DISABLED


class DisabledLookup(Protocol):
    """An engine that can ask, as an admin, whether a user is disabled (Redis: its ACL
    flags). Needed where the server answers a disabled user as it answers a wrong
    password; engines whose server tells at login (PostgreSQL) need not have it."""

    def user_disabled(self, admin: Any, username: str) -> str | None:
        """Why ``username`` may not log in (for the message), or ``None``."""


@dataclass(frozen=True)
class Login:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"Login({self.username!r}, password=<masked>)"


@dataclass(frozen=True)
class Connection:
    """Where and how to connect; never the credentials."""

    host: str
    port: int
    dbname: str | None
    ssl_mode: SslMode
    ssl_root_cert: str | None
    #: The MySQL account host part (``'app'@'%'``); other engines ignore it.
    user_host: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """``None`` for ``disable``. Careful: some drivers (pg8000) read ``None`` as "try
        TLS unverified, fall back to plain text"; engines must pass an explicit "off"."""
        if self.ssl_mode is SslMode.DISABLE:
            return None
        if self.ssl_mode is SslMode.REQUIRE:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.ssl_root_cert)


class Engine(Protocol):
    """What :class:`DatabaseTarget` needs from one database engine.

    ``connect`` raises :class:`LoginRefused` when the server refuses the credentials and
    :class:`TargetUnreachable` when it cannot be reached or cannot do the TLS asked for;
    messages carry the error class or code, never driver text that may quote SQL.
    """

    kind: str
    default_port: int
    max_username_length: int
    strategies: frozenset[Strategy]
    default_policy: Policy

    def connect(self, conn: Connection, login: Login, timeout: float) -> Any: ...

    def close(self, handle: Any) -> None: ...

    def check(self, handle: Any, test_query: str | None) -> None:
        """A real round trip (``SELECT 1``, ``PING``), plus ``testQuery`` when given."""

    def change_own_password(self, handle: Any, login: Login, new_password: str) -> None: ...

    def set_password(
        self, admin: Any, conn: Connection, username: str, new_password: str
    ) -> None: ...

    def ensure_alternate(
        self, admin: Any, conn: Connection, current: str, alternate: str, password: str
    ) -> None:
        """Make ``alternate`` a login with ``current``'s privileges and this password."""

    def add_password(self, handle: Any, username: str, password: str) -> None: ...

    def remove_password(self, handle: Any, username: str, password: str) -> None: ...


def alternate_username(name: str, max_length: int) -> str:
    """``app`` <-> ``app_clone``: the user that is not active now."""
    other = name[: -len(CLONE_SUFFIX)] if name.endswith(CLONE_SUFFIX) else name + CLONE_SUFFIX
    if not other:
        raise TargetConfigError("the username cannot be just the clone suffix")
    if len(other) > max_length:
        raise TargetConfigError(
            f"{other!r} would exceed the engine's {max_length}-character user name limit"
        )
    return other


def merged_settings(
    config: Mapping[str, Any], active: SecretValue, extra_keys: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The value's connection keys, overridden by the ``target`` parameter's."""
    allowed = CONNECTION_KEYS | extra_keys
    leaked = sorted(set(config) & CREDENTIAL_KEYS)
    if leaked:
        raise TargetConfigError(
            f"the target parameter must not carry {', '.join(leaked)}: credentials live in "
            "the secret value"
        )
    unknown = sorted(set(config) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise TargetConfigError(f"unknown target settings {', '.join(unknown)}; known: {known}")
    base = {k: v for k, v in active.items() if k in allowed}
    return {**base, **config}


def text_setting(settings: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = settings.get(key)
    if value is None or value == "":
        if required:
            raise TargetConfigError(f"{key} is required (in the secret value or the target)")
        return None
    if not isinstance(value, str):
        raise TargetConfigError(f"{key} must be text")
    if not encodable(value):
        raise TargetConfigError(f"{key} holds text that is not valid Unicode (a lone surrogate)")
    return value


#: A host name (letters, digits, ``-``, ``_``, dots) or an IP address (IPv6 without
#: brackets): what the drivers pass to the resolver. No scheme, path, user or port.
HOST_PATTERN = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}|[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"
    r"(?:%[A-Za-z0-9_.-]+)?"
)


def parse_host(settings: Mapping[str, Any]) -> str:
    """The ``host`` setting, checked here so a typo fails before the job touches anything
    (a driver would only say "could not connect")."""
    host = text_setting(settings, "host", required=True)
    assert host is not None
    if not HOST_PATTERN.fullmatch(host):
        raise TargetConfigError(
            "host must be a host name or an IP address (no spaces, scheme, path or port; "
            "the port has its own setting)"
        )
    return host


def parse_port(settings: Mapping[str, Any], default_port: int) -> int:
    raw = settings.get("port", default_port)
    if (isinstance(raw, str) and raw.strip().isdigit()) or (
        isinstance(raw, float) and raw.is_integer()
    ):
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TargetConfigError("port must be a whole number, 1 to 65535")
    if not 0 < raw < 65536:
        raise TargetConfigError("port must be between 1 and 65535")
    return raw


def shown_setting(raw: object) -> str:
    """A setting's value as messages quote it: short (a pasted certificate or value must
    not fill the log). Connection settings are not secret; credentials never get here."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_ssl(settings: Mapping[str, Any]) -> tuple[SslMode, str | None]:
    """``ssl`` and ``sslRootCert``. The CA file is loaded here, as the TLS context will load
    it, so a missing, unreadable or non-PEM file is bad input before the job touches
    anything (it used to surface at the first connection, after the pending value was
    written). It is only read for ``verify-full``, the only mode that uses it."""
    ssl_raw = settings.get("ssl", SslMode.VERIFY_FULL.value)
    try:
        mode = SslMode(ssl_raw)
    except (ValueError, TypeError):
        raise TargetConfigError(
            f"ssl must be one of {', '.join(m.value for m in SslMode)} "
            f"(it was {shown_setting(ssl_raw)})"
        ) from None
    root = text_setting(settings, "sslRootCert")
    if root is not None and mode is SslMode.VERIFY_FULL:
        problem = ca_file_problem("sslRootCert", root)
        if problem is not None:
            raise TargetConfigError(problem)
    return mode, None if root is None else resolve(root)  # relative: in the action's folder


def parse_dbname(settings: Mapping[str, Any]) -> str | None:
    dbname = text_setting(settings, "dbname")
    if dbname is not None and any(not c.isprintable() for c in dbname):
        raise TargetConfigError("dbname must not contain control characters")
    return dbname


def parse_connection(settings: Mapping[str, Any], default_port: int) -> Connection:
    host = parse_host(settings)
    port = parse_port(settings, default_port)
    mode, root = parse_ssl(settings)
    return Connection(
        host=host,
        port=port,
        dbname=parse_dbname(settings),
        ssl_mode=mode,
        ssl_root_cert=root,
        user_host=text_setting(settings, "userHost"),
    )


def parse_strategy(settings: Mapping[str, Any], engine: Engine) -> Strategy:
    raw = settings.get("strategy", Strategy.SINGLE_USER.value)
    try:
        strategy = Strategy(raw)
    except (ValueError, TypeError):
        strategy = None
    if strategy is None or strategy not in engine.strategies:
        allowed = ", ".join(sorted(s.value for s in engine.strategies))
        raise TargetConfigError(
            f"{engine.kind} supports strategy {allowed} (not {shown_setting(raw)})"
        )
    return strategy


def parse_admin_secret_id(settings: Mapping[str, Any]) -> str | None:
    """``adminSecretId``: a secret id by the one rule (:mod:`rotation.ids`); it becomes a
    path segment of the read, so ``../x`` must never reach the API."""
    admin_id = text_setting(settings, "adminSecretId")
    if admin_id is not None:
        problem = secret_id_problem(admin_id)
        if problem is not None:
            raise TargetConfigError(f"adminSecretId: {problem}")
    return admin_id


def login_of(value: SecretValue | None, what: str) -> Login:
    if value is None:
        raise TargetConfigError(f"the {what} value is missing")
    user, password = value.get("username"), value.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str):
        raise TargetConfigError(f"the {what} value needs text username and password keys")
    return Login(user, password)


class DatabaseTarget(Target):
    """The target protocol for any :class:`Engine`, in one of three strategies."""

    external = True

    def __init__(
        self,
        engine: Engine,
        conn: Connection,
        strategy: Strategy,
        ctx: TargetContext,
        *,
        admin: Login | None = None,
        test_query: str | None = None,
    ) -> None:
        self.engine = engine
        self.kind = engine.kind
        self.default_policy = engine.default_policy
        self.conn = conn
        self.strategy = strategy
        self.ctx = ctx
        self.admin = admin
        self.test_query = test_query

    # -- plumbing -----------------------------------------------------------------------

    def timeout(self) -> float:
        left = self.ctx.deadline.remaining()
        if left <= 0:
            raise TargetUnreachable(f"no time left to reach {self.kind} at {self.where}")
        return min(CONNECT_TIMEOUT_SECONDS, left)

    @property
    def where(self) -> str:
        return f"{self.conn.host}:{self.conn.port}"

    @contextmanager
    def session(self, login: Login) -> Iterator[Any]:
        handle = self.engine.connect(self.conn, login, self.timeout())
        try:
            yield handle
        finally:
            self.engine.close(handle)

    @contextmanager
    def admin_session(self) -> Iterator[Any]:
        """The admin logs in without the app's ``dbname``: it may not have access there,
        and every admin statement here is server-wide."""
        if self.admin is None:
            raise TargetConfigError("this strategy needs adminSecretId")
        conn = replace(self.conn, dbname=None)
        try:
            handle = self.engine.connect(conn, self.admin, self.timeout())
        except LoginRefused:
            raise TargetSetFailed(
                f"the admin user was refused by {self.kind} at {self.where}"
            ) from None
        try:
            yield handle
        finally:
            self.engine.close(handle)

    def _with_first_login(
        self, candidates: list[SecretValue | None], action: Callable[[Login, Any], None]
    ) -> None:
        """Run ``action`` in a session of the first candidate that logs in: active, then
        previous (an earlier run may have changed the password and died before complete)."""
        refused = 0
        for value in candidates:
            if value is None:
                continue
            login = login_of(value, "stored")
            try:
                with self.session(login) as handle:
                    action(login, handle)
                    return
            except LoginRefused:
                refused += 1
        # A server that answers a disabled user like a wrong password (Redis) says so
        # here, so that nobody resets a password that was right.
        note = getattr(self.engine, "refusal_note", "")
        raise TargetSetFailed(
            f"{self.kind} at {self.where} refused the active and previous credentials "
            f"({refused} tried): the stored value no longer matches the database{note}",
            code=codes.TARGET_LOGIN_REFUSED,
            untouched=True,
        )

    def disabled(self, username: str, *, untouched: bool) -> UserDisabled | None:
        """Is a refused login a disabled user? Asked as the admin, when there is one and the
        engine can tell (:class:`DisabledLookup`); ``None`` when it is not, or cannot be
        told."""
        lookup = getattr(self.engine, "user_disabled", None)
        if self.admin is None or lookup is None:
            return None
        try:
            with self.admin_session() as admin:
                why = lookup(admin, username)
        except TargetError:
            return None  # the refusal stands as it was
        if why is None:
            return None
        return UserDisabled(f"{self.kind} at {self.where}: {why}", untouched=untouched)

    # -- the target protocol --------------------------------------------------------------

    @property
    def reapply(self) -> bool:
        """Alternating users: run ``set`` even when the other user already logs in with
        pending (a resumed job), because ``set`` also re-syncs its privileges."""
        return self.strategy is Strategy.ALTERNATING_USERS

    def derive(self, active: SecretValue) -> dict[str, str]:
        if self.strategy is not Strategy.ALTERNATING_USERS:
            return {}
        current = login_of(active, "active").username
        return {"username": alternate_username(current, self.engine.max_username_length)}

    def probe(self, change: Change, stage: Stage) -> bool:
        login = login_of(change.stage(stage), stage.value.lower())
        try:
            with self.session(login):
                return True
        except LoginRefused:
            # The active credential refused: a disabled user, when the admin can tell, is
            # its own cause (``check`` probes active; a rotation probes pending).
            found = self.disabled(login.username, untouched=True) if stage is Stage.ACTIVE else None
            if found is not None:
                raise found from None
            return False

    def set(self, change: Change) -> None:
        pending = login_of(change.pending, "pending")
        if self.strategy is Strategy.ALTERNATING_USERS:
            current = login_of(change.active, "active").username
            with self.admin_session() as admin:
                self.engine.ensure_alternate(
                    admin, self.conn, current, pending.username, pending.password
                )
        elif self.strategy is Strategy.DUAL_PASSWORD:
            self._dual(
                change,
                lambda h, user: self.engine.add_password(h, user, pending.password),
                refuse_disabled=True,
            )
        elif self.admin is not None:
            with self.admin_session() as admin:
                self.engine.set_password(admin, self.conn, pending.username, pending.password)
        else:
            self._with_first_login(
                [change.active, change.previous],
                lambda login, h: self.engine.change_own_password(h, login, pending.password),
            )

    def test(self, change: Change) -> None:
        pending = login_of(change.pending, "pending")
        try:
            with self.session(pending) as handle:
                self.engine.check(handle, self.test_query)
        except LoginRefused:
            found = self.disabled(pending.username, untouched=False)
            if found is not None:
                raise found from None
            raise TargetTestFailed(
                f"{self.kind} at {self.where} refused the pending credential"
            ) from None

    def use(self, change: Change) -> None:
        """The test query with the active credential: read-only by contract (README)."""
        self.test(change)

    def rollback(self, change: Change) -> None:
        active = login_of(change.active, "active")
        pending = login_of(change.pending, "pending")
        if self.strategy is Strategy.ALTERNATING_USERS:
            # The active user was never touched. The other user got the pending password;
            # when it is the user stored as previous, give it back its stored password so
            # that the previous value still logs in.
            previous = change.previous
            if previous is not None and previous.get("username") == pending.username:
                restored = login_of(previous, "previous")
                with self.admin_session() as admin:
                    self.engine.set_password(admin, self.conn, restored.username, restored.password)
            return
        if self.strategy is Strategy.DUAL_PASSWORD:
            self._dual(
                change, lambda h, user: self.engine.remove_password(h, user, pending.password)
            )
            return
        if self.admin is not None:
            with self.admin_session() as admin:
                self.engine.set_password(admin, self.conn, active.username, active.password)
            return
        try:
            with self.session(pending) as handle:
                self.engine.change_own_password(handle, pending, active.password)
        except LoginRefused:
            pass  # pending never took: the user still has its active password

    def finish(self, change: Change) -> None:
        """Dual-password: retire what the new value replaced: the old active password,
        and a previous one an earlier run's failed ``finish`` may have left behind."""
        if self.strategy is not Strategy.DUAL_PASSWORD:
            return
        new = login_of(change.pending, "new active")
        retired = {login_of(change.active, "old active").password}
        if change.previous is not None:
            retired.add(login_of(change.previous, "previous").password)
        retired.discard(new.password)

        def remove(handle: Any, user: str) -> None:
            for password in sorted(retired):
                self.engine.remove_password(handle, user, password)

        if self.admin is not None:
            with self.admin_session() as admin:
                remove(admin, new.username)
            return
        with self.session(new) as handle:
            remove(handle, new.username)

    def _dual(
        self, change: Change, action: Callable[[Any, str], None], *, refuse_disabled: bool = False
    ) -> None:
        """Run a password add/remove for the secret's user: as the admin when there is
        one, else logged in as the user with active (or previous) like ``set``. Adding a
        password to a disabled user would only end in a test failure: the admin looks
        first (``refuse_disabled``)."""
        user = login_of(change.active, "active").username
        if self.admin is not None:
            with self.admin_session() as admin:
                lookup = getattr(self.engine, "user_disabled", None)
                why = lookup(admin, user) if refuse_disabled and lookup is not None else None
                if why is not None:
                    raise UserDisabled(f"{self.kind} at {self.where}: {why}", untouched=True)
                action(admin, user)
            return
        self._with_first_login([change.active, change.previous], lambda _login, h: action(h, user))

    def close(self) -> None:
        """Sessions are opened and closed per step; nothing stays open."""


def build_database_target(
    engine: Engine, config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> DatabaseTarget:
    """The factory every engine module wraps (``build_postgresql`` and friends)."""
    settings = merged_settings(config, active)
    conn = parse_connection(settings, engine.default_port)
    strategy = parse_strategy(settings, engine)
    login_of(active, "active")
    admin: Login | None = None
    admin_id = parse_admin_secret_id(settings)
    if strategy is Strategy.ALTERNATING_USERS and admin_id is None:
        raise TargetConfigError("alternating-users needs adminSecretId (the admin's secret)")
    if admin_id is not None:
        if ctx.read_secret is None:
            raise TargetConfigError("adminSecretId cannot be read here")
        admin = login_of(ctx.read_secret(admin_id), "admin secret's active")
        ctx.register_secret(admin.password)
    return DatabaseTarget(
        engine, conn, strategy, ctx, admin=admin, test_query=text_setting(settings, "testQuery")
    )
