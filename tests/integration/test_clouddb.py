"""NCP Cloud DB targets: the Cloud DB API client against the emulated API, and whole
rotations whose password change the emulated API applies to a real local server."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from emulator import Emulator
from emulator.clouddb import clouddb_router
from rotation.ncp.clouddb import MYSQL, CloudDbClient
from rotation.ncp.errors import BadRequest
from rotation.ncp.models import RotationPhase
from rotation.targets.clouddb import password_problem
from tests.databases import MariaDB, PgCluster, password, unique
from tests.factories import FAST_RETRY, rotate_via_trigger


def cloud_password() -> str:
    """Within Cloud DB's rules: at most 20 characters, letter, digit, special."""
    return "Cd1-" + password()[3:17]


# -- the client ------------------------------------------------------------------------------


@pytest.fixture
def mysql_instance(emu: Emulator, mariadb: MariaDB) -> tuple[str, str, str]:
    """A Cloud DB for MySQL instance over the real MariaDB, with one user."""
    admin, admin_pw = unique("cdbadm"), cloud_password()
    mariadb.create_user(admin, admin_pw, grants=("ALL PRIVILEGES ON *.*",))
    user, pw = unique("cdbapp"), cloud_password()
    database = mariadb.create_database()
    mariadb.create_user(user, pw, grants=(f"SELECT, INSERT ON `{database}`.*",))
    instance = emu.clouddb.add_instance(
        "mysql", host=mariadb.host, port=mariadb.port, admin_user=admin, admin_password=admin_pw
    )
    emu.clouddb.add_user(instance, user, hostIp="%", authority="CRUD", isSystemTableAccess=False)
    return instance, user, pw


def test_client_reads_users_changes_and_waits(
    emu: Emulator, mariadb: MariaDB, mysql_instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance, user, old = mysql_instance
    # SETUP ends when the test says so, not after a time a loaded machine may overrun
    # before the checks of "during SETUP" below have run.
    emu.clouddb.setup_seconds = 0
    setup_may_end = threading.Event()
    finish = emu.clouddb._finish_setup

    def gated(*args: Any) -> None:
        setup_may_end.wait(60)
        finish(*args)

    monkeypatch.setattr(emu.clouddb, "_finish_setup", gated)
    client = CloudDbClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        [found] = [u for u in client.users(MYSQL, instance) if u.name == user]
        assert found.fields == {"hostIp": "%", "authority": "CRUD", "isSystemTableAccess": False}
        assert client.instance(MYSQL, instance).ready
        new = cloud_password()
        client.change_user(
            MYSQL, instance, {"name": user, "hostIp": "%", "authority": "CRUD", "password": new}
        )
        state = client.instance(MYSQL, instance)
        assert state.operation == "SETUP" and not state.ready and state.status_name == "settingup"
        assert mariadb.logs_in(user, old)  # the change is not applied during SETUP
        with pytest.raises(BadRequest) as busy:
            client.change_user(MYSQL, instance, {"name": user, "hostIp": "%", "authority": "CRUD"})
        assert busy.value.code == "1007009"
        setup_may_end.set()
        deadline = time.monotonic() + 60  # a bound for a broken run only
        while not client.instance(MYSQL, instance).ready:
            assert time.monotonic() < deadline, "SETUP never ended"
            time.sleep(0.05)
        assert mariadb.logs_in(user, new) and not mariadb.logs_in(user, old)
    finally:
        client.close()


@pytest.mark.parametrize("page_base", [0, 1], ids=["pageNo-0-is-first", "pageNo-0-equals-1"])
@pytest.mark.parametrize("count", [5, 100, 250])
def test_user_listing_is_whole_and_unique_whichever_page_numbering(
    emu: Emulator, page_base: int, count: int
) -> None:
    # The docs give pageNo a minimum of 0 but do not say whether 0 and 1 are one page.
    emu.clouddb.page_base = page_base
    instance = emu.clouddb.add_instance(
        "mysql", host="127.0.0.1", port=1, admin_user="adm", admin_password="unused"
    )  # metadata only: listing never touches the server
    names = [f"u{i:03}" for i in range(count)]
    for name in names:
        emu.clouddb.add_user(instance, name, hostIp="%", authority="READ")
    emu.clouddb.add_user(instance, "u000", hostIp="10.0.0.%", authority="CRUD")  # same name
    client = CloudDbClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        emu.stats.reset()
        users = client.users(MYSQL, instance)
    finally:
        client.close()
    keys = [(u.name, u.fields["hostIp"]) for u in users]
    assert len(keys) == len(set(keys)) == count + 1  # every user once, none twice
    assert sorted(keys) == sorted([(n, "%") for n in names] + [("u000", "10.0.0.%")])
    pages = (count + 1) // 100 + 1  # full pages plus the short (maybe empty) last one
    repeat = page_base if count + 1 >= 100 else 0  # page 1 repeats a full page 0: go on
    assert emu.stats.calls["getCloudMysqlUserList"] == pages + repeat


def test_user_listing_stops_when_a_page_repeats(emu: Emulator) -> None:
    # A server that answers the last page again for any pageNo past the end.
    instance = emu.clouddb.add_instance(
        "mysql", host="127.0.0.1", port=1, admin_user="adm", admin_password="unused"
    )
    for i in range(200):
        emu.clouddb.add_user(instance, f"u{i:03}", hostIp="%", authority="READ")
    real = emu.clouddb.list_users
    asked: list[str] = []

    def clamped(flavor: Any, form: Any) -> Any:
        asked.append(form["pageNo"])
        return real(flavor, {**form, "pageNo": str(min(int(form["pageNo"]), 1))})

    emu.clouddb.list_users = clamped  # type: ignore[method-assign]
    emu.routers[1] = clouddb_router(emu.clouddb)  # the routes bind the handler when made
    client = CloudDbClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        users = client.users(MYSQL, instance)
    finally:
        client.close()
    assert len(users) == len({u.name for u in users}) == 200
    assert asked == ["0", "1", "2"]  # page 2 repeated page 1: the listing stopped there


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hostIp": "%", "authority": "CRUD", "password": "short1!"}, "8-20"),
        ({"hostIp": "%", "authority": "CRUD", "password": "has space 1!"}, "forbidden"),
        ({"hostIp": "%", "authority": "CRUD", "password": "noDigitsHere!"}, "letter, a digit"),
        ({"hostIp": "10.0.0.1", "authority": "CRUD", "password": "Valid-pass-1"}, "hostIp"),
        ({"authority": "CRUD", "password": "Valid-pass-1"}, "hostIp and authority"),
    ],
)
def test_api_refuses_what_ncp_refuses(
    emu: Emulator, mysql_instance: Any, fields: dict[str, str], message: str
) -> None:
    instance, user, _ = mysql_instance
    client = CloudDbClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        with pytest.raises(BadRequest, match=message):
            client.change_user(MYSQL, instance, {"name": user, **fields})
        with pytest.raises(BadRequest) as missing:
            client.users(MYSQL, "9999999")
        assert missing.value.code == "5001017"
    finally:
        client.close()


def test_responses_must_be_asked_for_as_json(emu: Emulator, mysql_instance: Any) -> None:
    instance, _, _ = mysql_instance
    client = CloudDbClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        path = "/vmysql/v2/getCloudMysqlInstanceDetail"
        form = {"cloudMysqlInstanceNo": instance}
        with pytest.raises(BadRequest, match="json"):
            client.transport.request("detail", "POST", path, form=form)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("pw", "user", "ok"),
    [
        ("Abcdef1!", None, True),
        ("Abcdefghijklmnop1!xy", None, True),
        ("Abcdefghijklmnop1!xyz", None, False),
        ("Abc1!", None, False),
        ("abcdefgh1", None, False),
        ("Abc def1!", None, False),
        ("Abc/def1!", None, False),
        ("appuser-1!", "appuser", False),
        ("AppUser-1!", "appuser", False),
    ],
)
def test_password_rules(pw: str, user: str | None, ok: bool) -> None:
    assert (password_problem(pw, user) is None) is ok


# -- whole rotations -------------------------------------------------------------------------


def clouddb_value(engine: str, instance: str, user: str, pw: str, **conn: Any) -> dict[str, Any]:
    return {
        "engine": engine,
        "cloudDbInstanceNo": instance,
        "regionCode": "KR",
        "username": user,
        "password": pw,
        **conn,
    }


def test_clouddb_mysql_rotation_end_to_end(
    emu: Emulator, mariadb: MariaDB, mysql_instance: Any
) -> None:
    instance, user, old = mysql_instance
    emu.clouddb.setup_seconds = 1.0
    grants_before = mariadb.grants(user)
    value = clouddb_value(
        "ncp-clouddb-mysql", instance, user, old, host=mariadb.host, port=mariadb.port,
        ssl="disable",
    )  # fmt: skip
    started = time.monotonic()
    sid, activation = rotate_via_trigger(
        emu, value, target={"cloudDbEndpoint": emu.base_url, "pollSeconds": 0.2}
    )
    assert activation.result is not None and activation.result["ok"], activation.logs
    assert time.monotonic() - started >= 1.0  # it waited for SETUP to end
    with emu.client() as client:
        active = client.get_secret_values(sid).active
        assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    assert active is not None
    new = active["password"]
    assert password_problem(new, None) is None and len(new) == 20
    assert mariadb.logs_in(user, new) and not mariadb.logs_in(user, old)
    [record] = [u for u in emu.clouddb.instances[instance].users if u.name == user]
    assert record.fields == {"hostIp": "%", "authority": "CRUD", "isSystemTableAccess": False}
    assert mariadb.grants(user) == grants_before and mariadb.hosts(user) == ["%"]


def test_clouddb_mysql_failed_test_rolls_back_through_the_api(
    emu: Emulator, mariadb: MariaDB, mysql_instance: Any
) -> None:
    instance, user, old = mysql_instance
    emu.clouddb.setup_seconds = 0.2
    value = clouddb_value(
        "ncp-clouddb-mysql", instance, user, old, host=mariadb.host, port=mariadb.port,
        ssl="disable", testQuery="SELECT * FROM no_such_table",
    )  # fmt: skip
    sid, activation = rotate_via_trigger(
        emu, value, target={"cloudDbEndpoint": emu.base_url, "pollSeconds": 0.1}
    )
    assert activation.result is not None
    assert activation.result["error"]["code"] == "TARGET_TEST_FAILED", activation.result
    assert mariadb.logs_in(user, old)
    assert emu.clouddb.instances[instance].applied == [user, user]  # set, then rolled back
    with emu.client() as client:
        assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_a_policy_cloud_db_cannot_take_is_bad_input(
    emu: Emulator, mariadb: MariaDB, mysql_instance: Any
) -> None:
    instance, user, old = mysql_instance
    value = clouddb_value(
        "ncp-clouddb-mysql", instance, user, old, host=mariadb.host, port=mariadb.port,
        ssl="disable",
    )  # fmt: skip
    emu.stats.reset()
    _, activation = rotate_via_trigger(
        emu, value, target={"cloudDbEndpoint": emu.base_url}, policy={"length": 32}
    )
    assert activation.result is not None
    assert activation.result["error"]["code"] == "INVALID_POLICY"
    assert activation.result["job"] == "failed"
    assert emu.stats.calls["update_pending_stage"] == 0
    assert emu.clouddb.instances[instance].applied == []


def test_clouddb_postgresql_rotation_end_to_end(emu: Emulator, pg_cluster: PgCluster) -> None:
    user, old = unique("cdbpg"), cloud_password()
    pg_cluster.create_role(user, old)
    instance = emu.clouddb.add_instance(
        "postgresql", host=pg_cluster.host, port=pg_cluster.port,
        admin_user=pg_cluster.superuser, admin_password=pg_cluster.superpass,
    )  # fmt: skip
    emu.clouddb.add_user(instance, user, clientCidr="0.0.0.0/0", isReplicationRole=False)
    emu.clouddb.setup_seconds = 0.5
    value = clouddb_value(
        "ncp-clouddb-postgresql", instance, user, old, host=pg_cluster.host,
        port=pg_cluster.port, ssl="verify-full", sslRootCert=pg_cluster.ca_file,
    )  # fmt: skip
    sid, activation = rotate_via_trigger(
        emu, value, target={"cloudDbEndpoint": emu.base_url, "pollSeconds": 0.2}
    )
    assert activation.result is not None and activation.result["ok"], activation.logs
    with emu.client() as client:
        active = client.get_secret_values(sid).active
    assert active is not None
    assert user.lower() not in active["password"].lower()
    assert pg_cluster.logs_in(user, active["password"]) and not pg_cluster.logs_in(user, old)
    [record] = emu.clouddb.instances[instance].users
    assert record.fields == {"clientCidr": "0.0.0.0/0", "isReplicationRole": False}


def test_clouddb_target_needs_an_instance_number(emu: Emulator, mariadb: MariaDB) -> None:
    value = {"engine": "ncp-clouddb-mysql", "host": mariadb.host, "username": "app",
             "password": cloud_password(), "ssl": "disable"}  # fmt: skip
    _, activation = rotate_via_trigger(emu, value)
    assert activation.result is not None
    assert activation.result["error"]["code"] == "INVALID_TARGET"
    assert "cloudDbInstanceNo" in activation.result["error"]["message"]


def test_unknown_user_on_the_instance_fails_cleanly(
    emu: Emulator, mariadb: MariaDB, mysql_instance: Any
) -> None:
    instance, user, old = mysql_instance
    emu.clouddb.instances[instance].users.clear()
    value = clouddb_value(
        "ncp-clouddb-mysql", instance, user, old, host=mariadb.host, port=mariadb.port,
        ssl="disable",
    )  # fmt: skip
    sid, activation = rotate_via_trigger(emu, value, target={"cloudDbEndpoint": emu.base_url})
    assert activation.result is not None
    assert activation.result["error"]["code"] == "TARGET_SET_FAILED"
    assert mariadb.logs_in(user, old)
    with emu.client() as client:
        assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED
