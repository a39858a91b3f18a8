"""Cloud DB for MySQL, alternating users through the API: the emulated Cloud DB adds,
changes and deletes users on the real local MariaDB, and a rotation flips between the
user and its clone, each made with the same host and authority, the other one left
logging in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emulator import Emulator
from rotation.ncp.clouddb import MYSQL, CloudDbClient
from rotation.ncp.errors import BadRequest
from rotation.ncp.models import RotationPhase
from tests.databases import MariaDB, password, unique
from tests.factories import FAST_RETRY, rotate_via_trigger

TARGETS = ("username", "password")


def cloud_password() -> str:
    """Within Cloud DB's rules: at most 20 characters, letter, digit, special."""
    return "Cd1-" + password()[3:17]


@dataclass
class Instance:
    number: str
    user: str
    password: str


def wait_ready(client: CloudDbClient, instance: str) -> None:
    """Until SETUP ends (the emulator's setup period is a fraction of a second)."""
    deadline = time.monotonic() + 10
    while not client.instance(MYSQL, instance).ready:
        assert time.monotonic() < deadline, "the instance stayed in SETUP"
        time.sleep(0.05)


@pytest.fixture
def api(emu: Emulator) -> Iterator[CloudDbClient]:
    client = CloudDbClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    yield client
    client.close()


@pytest.fixture
def instance(emu: Emulator, mariadb: MariaDB, api: CloudDbClient) -> Instance:
    """An instance over the real MariaDB whose app user was added through the API."""
    admin, admin_pw = unique("cdbadm"), cloud_password()
    mariadb.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin, admin_pw))
    mariadb.track_user(admin)
    mariadb.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (admin,))
    emu.clouddb.setup_seconds = 0.2
    number = emu.clouddb.add_instance(
        "mysql", host=mariadb.host, port=mariadb.port, admin_user=admin, admin_password=admin_pw
    )
    user, pw = unique("alt")[:10], cloud_password()
    mariadb.track_user(user)
    mariadb.track_user(user + "_clone")
    api.add_user(
        MYSQL, number, {"name": user, "hostIp": "%", "password": pw, "authority": "CRUD",
                        "isSystemTableAccess": "false"},
    )  # fmt: skip
    wait_ready(api, number)
    return Instance(number, user, pw)


def test_add_and_delete_users_reach_the_real_server(
    mariadb: MariaDB, api: CloudDbClient, instance: Instance
) -> None:
    assert mariadb.logs_in(instance.user, instance.password)
    grants = mariadb.grants(instance.user)
    assert any("SELECT, INSERT, UPDATE, DELETE ON *.*" in g for g in grants), grants
    [row] = [u for u in api.users(MYSQL, instance.number) if u.name == instance.user]
    assert row.fields == {"hostIp": "%", "authority": "CRUD", "isSystemTableAccess": False}
    again = {
        "name": instance.user,
        "hostIp": "%",
        "password": cloud_password(),
        "authority": "READ",
    }
    with pytest.raises(BadRequest, match="exists already"):
        api.add_user(MYSQL, instance.number, again)
    with pytest.raises(BadRequest, match="4-16"):
        api.add_user(MYSQL, instance.number, {**again, "name": "x"})
    api.delete_user(MYSQL, instance.number, instance.user, "%")
    assert not api.instance(MYSQL, instance.number).ready  # SETUP: not applied yet
    assert mariadb.logs_in(instance.user, instance.password)
    wait_ready(api, instance.number)
    assert mariadb.hosts(instance.user) == []
    assert instance.user not in {u.name for u in api.users(MYSQL, instance.number)}


def value_of(mariadb: MariaDB, instance: Instance, **extra: Any) -> dict[str, Any]:
    return {
        "engine": "ncp-clouddb-mysql",
        "cloudDbInstanceNo": instance.number,
        "regionCode": "KR",
        "host": mariadb.host,
        "port": mariadb.port,
        "ssl": "disable",
        "strategy": "alternating-users",
        "username": instance.user,
        "password": instance.password,
        **extra,
    }


def rotate_again(emu: Emulator, sid: str) -> Any:
    with emu.client() as client:
        client.execute_rotation_job(sid)
    emu.wait_idle()
    with emu.client() as client:
        return client.get_secret_values(sid)


def test_users_alternate_and_the_other_one_keeps_working(
    emu: Emulator, mariadb: MariaDB, api: CloudDbClient, instance: Instance
) -> None:
    clone = instance.user + "_clone"
    target = {"cloudDbEndpoint": emu.base_url, "pollSeconds": 0.1}
    sid, activation = rotate_via_trigger(
        emu, value_of(mariadb, instance), targets=TARGETS, target=target
    )
    assert activation.result is not None and activation.result["ok"], activation.logs
    with emu.client() as client:
        first = client.get_secret_values(sid)
        assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    assert first.active is not None and first.active["username"] == clone
    assert mariadb.logs_in(clone, first.active["password"])
    assert mariadb.logs_in(instance.user, instance.password)  # never touched
    users = {u.name: u.fields for u in api.users(MYSQL, instance.number)}
    assert users[clone] == users[instance.user]  # same host, authority, system access
    assert [g.replace(clone, "U") for g in mariadb.grants(clone) if "USAGE" not in g] == [
        g.replace(instance.user, "U") for g in mariadb.grants(instance.user) if "USAGE" not in g
    ]
    # Back to the first user with a new password; the clone keeps its own.
    second = rotate_again(emu, sid)
    assert second.active is not None and second.active["username"] == instance.user
    assert second.active["password"] != instance.password
    assert mariadb.logs_in(instance.user, second.active["password"])
    assert not mariadb.logs_in(instance.user, instance.password)
    assert mariadb.logs_in(clone, first.active["password"])  # previous still logs in
    assert emu.clouddb.instances[instance.number].applied == [instance.user, clone, instance.user]


def test_a_failed_test_leaves_both_stored_users_working(
    emu: Emulator, mariadb: MariaDB, api: CloudDbClient, instance: Instance
) -> None:
    clone = instance.user + "_clone"
    target = {"cloudDbEndpoint": emu.base_url, "pollSeconds": 0.1}
    sid, activation = rotate_via_trigger(
        emu, value_of(mariadb, instance), targets=TARGETS, target=target
    )
    assert activation.result is not None and activation.result["ok"], activation.logs
    with emu.client() as client:
        first = client.get_secret_values(sid)
    assert first.active is not None
    bad = {**target, "testQuery": "SELECT * FROM no_such_table"}
    sid2, failed = rotate_via_trigger(
        emu, {**value_of(mariadb, instance), "username": clone,
              "password": first.active["password"]}, targets=TARGETS, target=bad,
    )  # fmt: skip
    assert failed.result is not None
    assert failed.result["error"]["code"] == "TARGET_TEST_FAILED", failed.result
    assert mariadb.logs_in(clone, first.active["password"])  # active: never touched
    with emu.client() as client:
        chain = client.get_secret_values(sid2)
    assert chain.pending is not None and chain.pending["username"] == instance.user


def test_postgresql_stays_single_user(emu: Emulator, mariadb: MariaDB, instance: Instance) -> None:
    value = {**value_of(mariadb, instance), "engine": "ncp-clouddb-postgresql", "port": 5432}
    _, activation = rotate_via_trigger(emu, value, targets=TARGETS, target={})
    assert activation.result is not None
    assert activation.result["error"]["code"] == "INVALID_TARGET"
    assert "single-user" in activation.result["error"]["message"]
