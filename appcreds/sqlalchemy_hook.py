"""SQLAlchemy: every new pooled connection uses the current credential, and a refused login
is retried with the next stored one. Two ways in, both SQLAlchemy's documented API:

* ``creator``: ``create_engine("postgresql+pg8000://", creator=pg8000_connector(cache))``.
  The pool calls it for each new connection; the URL only names the dialect.
* the ``do_connect`` event (:func:`attach`): keep the URL (host, database, options) and let
  the hook put the credential into the connect arguments. SQLAlchemy documents that a
  ``do_connect`` listener may return the DB-API connection itself, which ends the
  connect; the hook does, after :meth:`CredentialCache.call` found a credential the
  server accepts. ``dialect.connect(*cargs, **cparams)`` is what SQLAlchemy would have
  called.

Connections already in the pool keep working across a rotation (a password change does
not end open sessions); ``pool_recycle`` and ``pool_pre_ping`` replace them as usual, each
replacement through the hook. SQLAlchemy is not a dependency: :func:`do_connect_hook` needs
nothing from it, and :func:`attach` imports ``sqlalchemy.event`` only when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from appcreds.autherrors import AuthErrorPredicate
from appcreds.cache import CredentialCache
from appcreds.credential import Credential

#: ``(dialect, connection_record, cargs, cparams) -> DB-API connection``: the signature of
#: SQLAlchemy's ``DialectEvents.do_connect``.
DoConnect = Callable[[Any, Any, list[Any], dict[str, Any]], Any]


def do_connect_hook(
    cache: CredentialCache,
    *,
    is_auth_error: AuthErrorPredicate | None = None,
    user_key: str = "user",
    password_key: str = "password",  # noqa: S107 - a parameter name, not a password
) -> DoConnect:
    """A ``do_connect`` listener: the connect arguments SQLAlchemy built from the URL, with
    the credential's user name and password put under ``user_key`` and ``password_key``
    (the DB-API's names: ``user``/``password`` for pg8000, psycopg and PyMySQL)."""

    def do_connect(
        dialect: Any, connection_record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        def attempt(cred: Credential) -> Any:
            params = dict(cparams)
            if cred.username is not None:
                params[user_key] = cred.username
            params[password_key] = cred.password
            return dialect.connect(*cargs, **params)

        return cache.call(attempt, is_auth_error=is_auth_error)

    return do_connect


def attach(engine: Any, cache: CredentialCache, **options: Any) -> DoConnect:
    """Listen on ``engine``'s ``do_connect`` with :func:`do_connect_hook` (``options`` are
    its keyword arguments); returns the listener (``sqlalchemy.event.remove`` takes it)."""
    try:
        # Optional (the kit does not need it), and not installed here: imported by name.
        event = importlib.import_module("sqlalchemy.event")
    except ImportError as exc:
        raise RuntimeError("appcreds.sqlalchemy_hook.attach needs SQLAlchemy installed") from exc
    hook = do_connect_hook(cache, **options)
    event.listen(engine, "do_connect", hook)
    return hook
