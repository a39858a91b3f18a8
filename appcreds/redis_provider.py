"""redis-py: a ``CredentialProvider`` that follows the cache, and connections whose refused
AUTH is retried with the next stored credential.

redis-py asks a connection's ``credential_provider.get_credentials()`` each time it opens a
socket, and tells it nothing when the server refuses them. So there are two pieces:

* :class:`RotatingCredentialProvider` alone hands out the credential the cache prefers
  (refreshed every ``ttl``, and whatever a fallback proved last). Enough when something
  else reports refusals to the cache.
* :class:`RotatingConnection` (and :class:`RotatingSSLConnection`) make each connect go
  through :meth:`CredentialCache.call`: a refused AUTH (``WRONGPASS``) is retried on a new
  socket with the next stored credential, in the invariant's order. It overrides
  ``connect_check_health``, the step redis-py 6 and newer run for every connect (from
  ``connect()`` and when a command finds the socket closed); the pool's own ``retry`` still
  wraps it, so a credential no stage fixes is retried as the application configured.

:func:`redis_client` puts them together. This module imports redis-py; ``import appcreds``
does not import this module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.credentials import CredentialProvider

from appcreds.autherrors import AuthErrorPredicate, redis_auth_error
from appcreds.cache import CredentialCache
from appcreds.credential import Credential


class RotatingCredentialProvider(CredentialProvider):
    """``get_credentials()``: the credential a connect attempt is trying (set by
    :class:`RotatingConnection`), else the one the cache prefers now."""

    def __init__(
        self, cache: CredentialCache, *, is_auth_error: AuthErrorPredicate = redis_auth_error
    ) -> None:
        self.cache = cache
        self.is_auth_error = is_auth_error
        self._attempt = threading.local()

    def __repr__(self) -> str:
        return f"RotatingCredentialProvider({self.cache!r})"

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        cred: Credential | None = getattr(self._attempt, "credential", None)
        if cred is None:
            cred = self.cache.credential()
        username = cred.username
        return (username, cred.password) if username else (cred.password,)

    async def get_credentials_async(self) -> tuple[str] | tuple[str, str]:
        # The cache reads Secret Manager synchronously (rarely: first use, ttl, a refusal).
        return self.get_credentials()

    @contextmanager
    def trying(self, cred: Credential) -> Iterator[None]:
        """While the block runs, this thread's connect uses ``cred``."""
        self._attempt.credential = cred
        try:
            yield
        finally:
            self._attempt.credential = None


class _RotatingConnect:
    """Mixed into a redis-py connection class: each connect goes through the cache."""

    credential_provider: CredentialProvider | None

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        provider = self.credential_provider
        parent: Any = super()
        if not isinstance(provider, RotatingCredentialProvider) or parent.is_connected:
            parent.connect_check_health(check_health, retry_socket_connect)
            return

        def attempt(cred: Credential) -> None:
            # A refused AUTH leaves the socket closed (redis-py disconnects on any error in
            # the handshake): the next attempt opens a new one.
            with provider.trying(cred):
                parent.connect_check_health(check_health, retry_socket_connect)

        provider.cache.call(attempt, is_auth_error=provider.is_auth_error)


class RotatingConnection(_RotatingConnect, redis.Connection):
    """A TCP connection whose refused AUTH is retried with the next stored credential."""


class RotatingSSLConnection(_RotatingConnect, redis.SSLConnection):
    """The same over TLS."""


def redis_client(
    cache: CredentialCache,
    *,
    ssl: bool = False,
    is_auth_error: AuthErrorPredicate = redis_auth_error,
    **kwargs: Any,
) -> redis.Redis:
    """A ``redis.Redis`` whose pool opens every connection through the cache. ``kwargs``
    go to ``redis.ConnectionPool`` (``socket_timeout``, ``retry``, ``max_connections``,
    ``ssl_ca_certs`` with ``ssl=True``...); ``host``, ``port`` and ``db`` default to the
    secret value's ``host``, ``port`` and ``dbname``."""
    if "host" not in kwargs or "port" not in kwargs or "db" not in kwargs:
        value = cache.credential()
        host, port, db = value.get("host"), value.get("port"), value.get("dbname")
        if isinstance(host, str) and host:
            kwargs.setdefault("host", host)
        if port is not None and str(port).isdigit():
            kwargs.setdefault("port", int(port))
        if db is not None and str(db).isdigit():
            kwargs.setdefault("db", int(db))
    provider = RotatingCredentialProvider(cache, is_auth_error=is_auth_error)
    pool = redis.ConnectionPool(
        connection_class=RotatingSSLConnection if ssl else RotatingConnection,
        credential_provider=provider,
        **kwargs,
    )
    return redis.Redis(connection_pool=pool)
