"""How to tell "the server refused this credential" from every other failure, per driver.

Only a refused credential may make the kit read Secret Manager again and try another
stage: a timeout, a full connection table or a syntax error says nothing about the
password, and retrying those with other credentials would only hide them. Each predicate
looks at the exception's class names, attributes and codes, never imports a driver (the
kit must load without them) and never reads the message except where a driver offers
nothing else (psycopg 2 at connect time).

Wrapped errors are unwrapped: SQLAlchemy's ``DBAPIError`` keeps the driver's error in
``.orig``, and ``raise ... from`` chains are followed one level per hop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

#: A predicate the kit asks about every exception an operation raises.
AuthErrorPredicate = Callable[[BaseException], bool]

#: SQLSTATE class 28, "invalid authorization specification": 28P01 is a wrong password,
#: 28000 a refused login (pg_hba.conf, a role that may not log in).
POSTGRES_AUTH_STATES = frozenset({"28P01", "28000"})
#: ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
MYSQL_AUTH_ERRNOS = frozenset({1045, 1698})
#: What psycopg 2 says at connect time, where it carries no SQLSTATE.
_POSTGRES_AUTH_TEXT = "password authentication failed"

_MAX_HOPS = 5


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (``.orig``), and its causes, a few hops deep."""
    seen: set[int] = set()
    current: BaseException | None = exc
    for _ in range(_MAX_HOPS):
        if current is None or id(current) in seen:
            return
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _class_names(exc: BaseException) -> set[tuple[str, str]]:
    return {(cls.__module__.split(".")[0], cls.__name__) for cls in type(exc).__mro__}


def _postgres_one(exc: BaseException) -> bool:
    # pg8000 (native and DB-API): args[0] is the server's error fields, "C" the SQLSTATE.
    if exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("C") in POSTGRES_AUTH_STATES:
        return True
    # psycopg 3: .sqlstate; psycopg 2: .pgcode (None at connect time, hence the text).
    for attribute in ("sqlstate", "pgcode"):
        if getattr(exc, attribute, None) in POSTGRES_AUTH_STATES:
            return True
    modules = {module for module, _ in _class_names(exc)}
    return bool(modules & {"psycopg", "psycopg2"}) and _POSTGRES_AUTH_TEXT in str(exc)


def _mysql_one(exc: BaseException) -> bool:
    # PyMySQL and mysqlclient: args[0] is the server's error number; mysql-connector: .errno.
    code = exc.args[0] if exc.args else None
    if isinstance(code, int) and not isinstance(code, bool) and code in MYSQL_AUTH_ERRNOS:
        modules = {module for module, _ in _class_names(exc)}
        return bool(modules & {"pymysql", "MySQLdb", "mysql", "aiomysql", "asyncmy"})
    return getattr(exc, "errno", None) in MYSQL_AUTH_ERRNOS and "mysql" in {
        module.lower() for module, _ in _class_names(exc)
    }


def _redis_one(exc: BaseException) -> bool:
    # redis-py maps WRONGPASS, NOAUTH and "invalid password" to AuthenticationError.
    return ("redis", "AuthenticationError") in _class_names(exc)


def postgres_auth_error(exc: BaseException) -> bool:
    """pg8000, psycopg 3 and psycopg 2: the server refused the login (SQLSTATE 28xxx)."""
    return any(_postgres_one(e) for e in _chain(exc))


def mysql_auth_error(exc: BaseException) -> bool:
    """PyMySQL, mysqlclient, mysql-connector: access denied (1045, 1698)."""
    return any(_mysql_one(e) for e in _chain(exc))


def redis_auth_error(exc: BaseException) -> bool:
    """redis-py: ``AuthenticationError`` (WRONGPASS, NOAUTH, invalid password)."""
    return any(_redis_one(e) for e in _chain(exc))


def any_auth_error(exc: BaseException) -> bool:
    """Any of the drivers above: the default when the caller names none."""
    return any(_postgres_one(e) or _mysql_one(e) or _redis_one(e) for e in _chain(exc))
