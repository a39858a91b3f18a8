"""Application credentials: read a secret from NCP Secret Manager, cache it, and keep every
request working through every rotation.

The rotation (``rotation/``) keeps an invariant: at every instant the target accepts a
credential Secret Manager stores (active or pending), and once the job has ended, the
active one; with alternating users or dual passwords the previous one too until the next
rotation. This kit is the application's half of that promise: on a refused login it reads
the chain again and tries its stages in that order, so an application sees no failed
request, single-user rotation included::

    from appcreds import CredentialCache, secret_manager, pg8000_connector

    cache = CredentialCache(secret_manager(), "app-db-secret-id")
    open_db = pg8000_connector(cache)          # a pool's factory, SQLAlchemy's creator
    conn = open_db()

It uses the signed client in ``rotation.ncp`` and nothing else of the project; it imports
no database driver until a connect function opens a connection (the redis-py and
SQLAlchemy integrations are the modules ``appcreds.redis_provider`` and
``appcreds.sqlalchemy_hook``).
"""

from appcreds.autherrors import (
    AuthErrorPredicate,
    any_auth_error,
    mysql_auth_error,
    postgres_auth_error,
    redis_auth_error,
)
from appcreds.cache import (
    AppCredsError,
    CacheStats,
    CredentialCache,
    Limits,
    SecretUnavailable,
)
from appcreds.client import secret_manager
from appcreds.connect import connector, pg8000_connector, pymysql_connector
from appcreds.credential import ORDER, Credential

__all__ = [
    "ORDER",
    "AppCredsError",
    "AuthErrorPredicate",
    "CacheStats",
    "Credential",
    "CredentialCache",
    "Limits",
    "SecretUnavailable",
    "any_auth_error",
    "connector",
    "mysql_auth_error",
    "pg8000_connector",
    "postgres_auth_error",
    "pymysql_connector",
    "redis_auth_error",
    "secret_manager",
]
