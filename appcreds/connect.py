"""Connect functions that pick up new credentials: any driver, and pg8000 and PyMySQL ready-made.

Each returns a *zero-argument* function that opens one connection through
:meth:`CredentialCache.call`: the current credential first, and on a refused login the
other stored ones, in the invariant's order. That is the shape every pool takes as its
factory (SQLAlchemy's ``creator``, a hand-made pool, a ``queue`` of connections), so a
pool's *new* connections always use a credential the server accepts, while the ones it
already holds keep working (a password change does not end open sessions).

The drivers are imported when a connection is opened, not when this module is: the kit
loads with its runtime dependencies only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from appcreds.autherrors import AuthErrorPredicate, mysql_auth_error, postgres_auth_error
from appcreds.cache import CredentialCache
from appcreds.credential import Credential

C = TypeVar("C")


def connector(
    cache: CredentialCache,
    connect: Callable[[Credential], C],
    *,
    is_auth_error: AuthErrorPredicate | None = None,
) -> Callable[[], C]:
    """Any driver: ``connect(credential)`` opens a connection with that credential;
    ``is_auth_error`` says which of its exceptions is a refused login (default: any driver
    :mod:`appcreds.autherrors` knows). Example, psycopg 3::

        open_db = connector(cache, lambda c: psycopg.connect(
            host=c["host"], dbname=c["dbname"], user=c.username, password=c.password),
            is_auth_error=postgres_auth_error)
        conn = open_db()
    """

    def open_connection() -> C:
        return cache.call(connect, is_auth_error=is_auth_error)

    return open_connection


def where(cred: Credential, given: dict[str, Any], *, database_key: str) -> dict[str, Any]:
    """``host``, ``port`` and the database from the secret value (the rotation's value
    format: ``host``, ``port``, ``dbname``) for each one the caller did not pass."""
    found: dict[str, Any] = {}
    host = cred.get("host")
    if "host" not in given and isinstance(host, str) and host:
        found["host"] = host
    port = cred.get("port")
    if "port" not in given and port is not None and str(port).isdigit():
        found["port"] = int(port)
    dbname = cred.get("dbname")
    if database_key not in given and isinstance(dbname, str) and dbname:
        found[database_key] = dbname
    return found


def pg8000_connector(
    cache: CredentialCache, *, native: bool = False, **kwargs: Any
) -> Callable[[], Any]:
    """pg8000: a DB-API connection (``pg8000.dbapi.connect``), or with ``native=True`` a
    ``pg8000.native.Connection``. ``kwargs`` go to the driver as they are (``ssl_context``,
    ``timeout``, ``application_name``...); ``host``, ``port`` and ``database`` default to
    the secret value's ``host``, ``port`` and ``dbname``."""

    def connect(cred: Credential) -> Any:
        import pg8000.dbapi  # noqa: PLC0415 - the kit loads without the driver
        import pg8000.native  # noqa: PLC0415

        params = {
            **where(cred, kwargs, database_key="database"),
            **kwargs,
            "user": cred.username,
            "password": cred.password,
        }
        if native:
            return pg8000.native.Connection(**params)
        return pg8000.dbapi.connect(**params)

    return connector(cache, connect, is_auth_error=postgres_auth_error)


def pymysql_connector(cache: CredentialCache, **kwargs: Any) -> Callable[[], Any]:
    """PyMySQL (MySQL, MariaDB): ``pymysql.connect``. ``kwargs`` go to the driver as they
    are; ``host``, ``port`` and ``database`` default to the secret value's ``host``,
    ``port`` and ``dbname``."""

    def connect(cred: Credential) -> Any:
        import pymysql  # noqa: PLC0415 - the kit loads without the driver

        params = {
            **where(cred, kwargs, database_key="database"),
            **kwargs,
            "user": cred.username,
            "password": cred.password,
        }
        return pymysql.connect(**params)

    return connector(cache, connect, is_auth_error=mysql_auth_error)
