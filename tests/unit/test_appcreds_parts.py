"""The application kit's small parts: which errors are refused logins, the client it
builds, and what importing it loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pg8000.dbapi
import pg8000.native
import pymysql
import pytest
import redis

from appcreds import (
    any_auth_error,
    mysql_auth_error,
    postgres_auth_error,
    redis_auth_error,
    secret_manager,
)
from appcreds.client import APP_RETRY, APP_TIMEOUTS
from appcreds.connect import where
from appcreds.credential import Credential
from rotation.ncp.models import SecretValue, Stage

ROOT = Path(__file__).resolve().parents[2]


def pg_error(code: str) -> Exception:
    return pg8000.dbapi.DatabaseError({"S": "FATAL", "C": code, "M": "refused"})


class Wrapper(Exception):
    """What SQLAlchemy's DBAPIError does: keeps the driver's error in ``.orig``."""

    def __init__(self, orig: Exception) -> None:
        super().__init__("wrapped")
        self.orig = orig


@pytest.mark.parametrize(
    ("error", "postgres", "mysql", "redis_"),
    [
        (pg_error("28P01"), True, False, False),
        (pg_error("28000"), True, False, False),
        (pg8000.native.DatabaseError({"C": "28P01"}), True, False, False),
        (pg_error("53300"), False, False, False),  # too many connections
        (pg_error("3D000"), False, False, False),  # no such database
        (pymysql.err.OperationalError(1045, "Access denied"), False, True, False),
        (pymysql.err.OperationalError(1698, "Access denied"), False, True, False),
        (pymysql.err.OperationalError(2003, "Can't connect"), False, False, False),
        (pymysql.err.OperationalError(1040, "Too many connections"), False, False, False),
        (redis.AuthenticationError("WRONGPASS"), False, False, True),
        (redis.ConnectionError("refused"), False, False, False),
        (Wrapper(pg_error("28P01")), True, False, False),
        (Wrapper(pymysql.err.OperationalError(1045, "x")), False, True, False),
        (ValueError(1045), False, False, False),
        (TimeoutError(), False, False, False),
    ],
)
def test_a_refused_login_is_told_from_every_other_failure(
    error: Exception, postgres: bool, mysql: bool, redis_: bool
) -> None:
    assert postgres_auth_error(error) is postgres
    assert mysql_auth_error(error) is mysql
    assert redis_auth_error(error) is redis_
    assert any_auth_error(error) is (postgres or mysql or redis_)


def test_a_chained_cause_is_followed() -> None:
    outer = RuntimeError("pool could not connect")
    outer.__cause__ = pymysql.err.OperationalError(1045, "Access denied")
    assert any_auth_error(outer)
    assert not any_auth_error(RuntimeError("no cause"))


def test_connection_settings_come_from_the_value_unless_given() -> None:
    cred = Credential(
        SecretValue({"host": "db.internal", "port": "5433", "dbname": "app", "password": "x"}),
        Stage.ACTIVE,
    )
    assert where(cred, {}, database_key="database") == {
        "host": "db.internal", "port": 5433, "database": "app",
    }  # fmt: skip
    assert where(cred, {"host": "h", "database": "d"}, database_key="database") == {"port": 5433}


def test_the_client_is_sized_for_a_request_path() -> None:
    env = {"NCLOUD_ACCESS_KEY": "ak-test", "NCLOUD_SECRET_KEY": "sk-test-value-xyz",
           "NCLOUD_SECRET_MANAGER_ENDPOINT": "http://127.0.0.1:9"}  # fmt: skip
    with secret_manager(environ=env) as client:
        assert client.endpoint == "http://127.0.0.1:9"
        assert client.transport.timeouts == APP_TIMEOUTS
        assert client.transport.retry == APP_RETRY
    with secret_manager("ak", "sk", environ={}, region="JPN") as client:
        assert client.endpoint == "https://ocapi-jp.ncloud.com/secretmanager"
    with pytest.raises(ValueError, match="access key and a secret key"):
        secret_manager(environ={})


LOADED = "import json, sys, appcreds; print(json.dumps(sorted(sys.modules)))"


def test_the_kit_loads_with_the_runtime_dependencies_only() -> None:
    """A fresh interpreter: no database driver, no emulator, nothing of the rotation but
    its NCP client."""
    run = subprocess.run(
        [sys.executable, "-c", LOADED], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(run.stdout))
    tops = {name.split(".")[0] for name in loaded}
    assert not tops & {"pg8000", "pymysql", "redis", "sqlalchemy", "psycopg", "emulator",
                       "stamina", "tests", "bench", "reliability", "deploy", "handler"}  # fmt: skip
    ours = sorted(m for m in loaded if m.startswith("rotation."))
    assert ours and all(m == "rotation.ncp" or m.startswith("rotation.ncp.") for m in ours), ours
