"""``run_check``: each line against the emulator and real databases, and nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from emulator import Emulator
from rotation import logs
from rotation.auth_probe import not_enforced_message
from rotation.check import CheckLine, CheckStatus, passed, run_check
from rotation.cli.params import deployed_source
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.deadline import Deadline
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials
from rotation.settings import Settings
from tests.databases import (
    MariaDB,
    PgCluster,
    ServerUnavailable,
    password,
    start_pg_cluster,
    unavailable,
    unique,
)
from tests.deployed import deploy
from tests.factories import (
    create_secret,
    executed_job,
    invoke,
    rotatable_secret,
    started_job,
    unique_name,
)

#: Every operation that writes or touches a job: a check must call none of them.
WRITES = {
    "create_secret",
    "update_secret_value",
    "update_secret_stage_value",
    "execute_rotation_job",
    "retry_rotation_job",
    "cancel_rotation_job",
    "rollback_rotation_job",
    "start_rotation_job",
    "add_pending_stage",
    "update_pending_stage",
    "complete_rotation_job",
    "fail_rotation_job",
    "enable_auto_rotation",
    "disable_auto_rotation",
    "generate_random_secret",
}


@dataclass(frozen=True)
class Inputs:
    secret_id: str
    credentials: Credentials
    target: Mapping[str, Any] | None = None
    policy: Mapping[str, Any] | None = None
    deadline: Deadline = field(default_factory=lambda: Deadline.after(30))


def check(emu: Emulator, client: SecretManagerClient, sid: str, **kw: Any) -> dict[str, CheckLine]:
    emu.stats.reset()
    lines = run_check(Inputs(sid, emu.credentials, **kw), client)
    assert not WRITES & set(emu.stats.calls), emu.stats.calls
    names = ["api", "secret", "value", "target", "login", "policy"]
    assert [line.name for line in lines if line.name not in ("identity", "access")] == names
    return {line.name: line for line in lines}


def statuses(lines: dict[str, CheckLine]) -> dict[str, str]:
    return {name: line.status.value for name, line in lines.items()}


def secret_pw() -> str:
    value = password()
    logs.REDACTOR.register(value)
    return value


def test_a_store_only_secret_passes(emu: Emulator, client: SecretManagerClient) -> None:
    action = emu.handler_action(unique_name("rot"))
    trigger = emu.add_trigger(unique_name("t"), action)
    sid = create_secret(client, trigger_id=trigger.trigger_id).secret_id
    lines = check(emu, client, sid)
    assert f"its trigger runs {action.name}" in lines["secret"].message
    assert statuses(lines) == {
        "api": "ok",
        "identity": "warn",  # the emulator's main account key: broader than needed
        "secret": "ok",
        "value": "ok",
        "target": "ok",
        "login": "skip",
        "policy": "ok",
    }
    assert "store-only" in lines["target"].message and "password" in lines["value"].message


def test_settings_are_check_inputs(emu: Emulator, client: SecretManagerClient) -> None:
    sid = rotatable_secret(emu, client).secret_id
    settings = Settings.load(
        {
            "secretId": sid,
            "jobToken": "unused-token-1",
            "accessKey": emu.access_key,
            "secretKey": emu.secret_key,
            "secretManagerEndpoint": emu.endpoint,
            "policy": {"length": 40},
        },
        env={},
    )
    lines = run_check(settings, client)
    assert passed(lines) and "40 characters" in lines[-1].message


@pytest.mark.parametrize(
    ("value", "kw", "failed", "words"),
    [
        (
            {"username": "app"},
            {"targets": ("username",), "policy": {"lenght": 3}},
            "policy",
            "unknown policy key",
        ),
        (
            {"username": "app", "password": "initial-Pw-1"},
            {"policy": {"keys": {"username": {}}}},
            "policy",
            "not rotation targets",
        ),
        ({"password": "initial-Pw-1", "engine": "oracle"}, {}, "target", "UNKNOWN_TARGET_KIND"),
        ({"password": "initial-Pw-1"}, {"target": {"kind": "postgresql"}}, "target", "host"),
    ],
)
def test_bad_configuration_fails_its_line(
    emu: Emulator,
    client: SecretManagerClient,
    value: dict[str, Any],
    kw: dict[str, Any],
    failed: str,
    words: str,
) -> None:
    targets = kw.pop("targets", ("password",))
    sid = rotatable_secret(emu, client, value=value, targets=targets).secret_id
    lines = check(emu, client, sid, **kw)
    assert lines[failed].status is CheckStatus.FAIL and words in lines[failed].message
    assert not passed(list(lines.values()))
    if failed == "target":
        assert lines["login"].status is CheckStatus.SKIP


def test_an_unknown_secret_and_a_wrong_key(emu: Emulator, client: SecretManagerClient) -> None:
    lines = check(emu, client, "f" * 64)
    assert (
        lines["api"].status is CheckStatus.FAIL and "no secret with this id" in lines["api"].message
    )
    assert all(lines[n].status is CheckStatus.SKIP for n in ("secret", "value", "login"))
    sid = rotatable_secret(emu, client).secret_id
    wrong = Credentials(emu.access_key, "wrong-secret-key-123")
    with SecretManagerClient(wrong, endpoint=emu.endpoint) as bad:
        [api, *_rest] = run_check(Inputs(sid, wrong), bad)
    assert api.status is CheckStatus.FAIL and "refused the key pair" in api.message


def test_an_unreachable_api_host_is_named(emu: Emulator) -> None:
    from tests.databases import free_port  # noqa: PLC0415

    endpoint = f"http://127.0.0.1:{free_port()}"
    with SecretManagerClient(emu.credentials, endpoint=endpoint) as dead:
        [api, *_rest] = run_check(Inputs("abc", emu.credentials, deadline=Deadline.after(3)), dead)
    assert api.status is CheckStatus.FAIL
    assert f"cannot reach {endpoint.removeprefix('http://')}" in api.message


def test_a_disabled_secret_and_a_running_job(emu: Emulator, client: SecretManagerClient) -> None:
    running, _token = started_job(emu, client)
    lines = check(emu, client, running)
    assert (
        lines["secret"].status is CheckStatus.WARN and "job is running" in lines["secret"].message
    )
    no_trigger = create_secret(client).secret_id
    assert "no rotation trigger" in check(emu, client, no_trigger)["secret"].message
    client.disable_secret(no_trigger)
    assert check(emu, client, no_trigger)["secret"].status is CheckStatus.FAIL


def test_mariadb_login_with_the_active_password(
    emu: Emulator, client: SecretManagerClient, mariadb: MariaDB
) -> None:
    user, pw = unique("chk"), secret_pw()
    mariadb.create_user(user, pw)
    value = {
        "engine": "mariadb",
        "host": mariadb.host,
        "port": mariadb.port,
        "username": user,
        "password": pw,
        "ssl": "disable",
    }
    sid = rotatable_secret(emu, client, value=value).secret_id
    lines = check(emu, client, sid)
    assert passed(list(lines.values())), lines
    assert lines["login"].status is CheckStatus.OK
    assert mariadb.logs_in(user, pw)  # nothing changed on the database
    mariadb.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, secret_pw()))
    refused = check(emu, client, sid)["login"]
    assert refused.status is CheckStatus.FAIL and "refused" in refused.message


def test_postgresql_login_and_a_port_nobody_listens_on(
    emu: Emulator, client: SecretManagerClient, pg_cluster: PgCluster
) -> None:
    user, pw = unique("chk"), secret_pw()
    pg_cluster.create_role(user, pw)
    value = {
        "engine": "postgresql",
        "host": pg_cluster.host,
        "port": pg_cluster.port,
        "dbname": "postgres",
        "username": user,
        "password": pw,
        "ssl": "verify-full",
        "sslRootCert": pg_cluster.ca_file,
    }
    sid = rotatable_secret(emu, client, value=value).secret_id
    lines = check(emu, client, sid)
    assert lines["login"].status is CheckStatus.OK and passed(list(lines.values()))
    assert pg_cluster.logs_in(user, pw)
    wrong_port = check(emu, client, sid, target={"port": pg_cluster.port + 1})["login"]
    assert wrong_port.status is CheckStatus.FAIL
    assert f"{pg_cluster.host}:{pg_cluster.port + 1}" in wrong_port.message


# -- one set of rules: the check fails where the rotation would, with the rotation's code ------
# (issue 15: the two had drifted; an empty target failed the check and passed the rotation,
# an empty admin secret was TARGET_ERROR here and LINKED_SECRET_EMPTY there)

PG_VALUE = {"engine": "postgresql", "host": "127.0.0.1", "port": 9, "username": "app",
            "password": "check-pg-Passw0rd-1"}  # fmt: skip
STORE = {"username": "app", "password": "check-initial-Pw-1"}


def _empty_admin(emu: Emulator, client: SecretManagerClient) -> str:
    admin = create_secret(client, value={"username": "admin", "password": "admin-Passw0rd-1"})
    emu.backend.secrets[admin.secret_id].chain["active"] = None
    return admin.secret_id


#: id -> (the stored value, or JSON text planted as another writer could leave it; the
#: parameters; the line that fails; the code both must give)
AGREEMENT: dict[str, tuple[Any, dict[str, Any], str, str]] = {
    "empty-target": ('{"username":"app","password":""}', {}, "value",
                     "ROTATION_TARGET_NOT_TEXT"),
    "lone-surrogate": ('{"username":"app","password":"check-initial-Pw-1","note":"\\udc80"}',
                       {}, "value", "VALUE_UNSUPPORTED"),
    "nested-3000": ('{"username":"app","password":"check-initial-Pw-1","n":'
                    + "[" * 3000 + "]" * 3000 + "}", {}, "value", "VALUE_UNSUPPORTED"),
    "empty-admin-secret": (PG_VALUE, {"target": {"adminSecretId": "$ADMIN"}}, "target",
                           "LINKED_SECRET_EMPTY"),
    "ca-file-missing": (PG_VALUE, {"target": {"sslRootCert": "/nonexistent/check-ca.pem"}},
                        "target", "INVALID_TARGET"),
    "webhook-url-space": (STORE, {"target": {"kind": "webhook", "url": "https://ex ample.com/r",
                          "testUrl": "https://hooks.example.com/t",
                          "hmacKey": "check-hmac-key-0123456789"}}, "target", "INVALID_TARGET"),
    "new-value-over-the-limit": ({**STORE, "pad": "p" * 9_900}, {"policy": {"length": 200}},
                                 "policy", "INVALID_POLICY"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(AGREEMENT), ids=list(AGREEMENT))
def test_the_check_and_the_rotation_refuse_alike(
    emu: Emulator, client: SecretManagerClient, case: str
) -> None:
    stored, params, line, code = AGREEMENT[case]
    if "$ADMIN" in json.dumps(params):
        params = json.loads(json.dumps(params).replace("$ADMIN", _empty_admin(emu, client)))
    value = dict(STORE) if isinstance(stored, str) else dict(stored)
    sid, token = executed_job(emu, client, value=value)
    if isinstance(stored, str):
        emu.backend.secrets[sid].chain["active"] = stored
    lines = check(emu, client, sid, **params)
    assert lines[line].status is CheckStatus.FAIL, lines
    assert lines[line].message.startswith(f"{code}: "), lines[line]
    emu.stats.reset()
    result = invoke(emu, sid, token, **params)
    assert (result["error"]["code"], result["job"]) == (code, "failed"), result
    assert emu.stats.calls["update_pending_stage"] == 0


# -- issue 17: check runs what the deployed action runs ------------------------------------------


@pytest.fixture(scope="module")
def trust_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL that trusts every TCP login: any password logs in."""
    try:
        cluster = start_pg_cluster("trust")
    except ServerUnavailable as exc:
        unavailable("a trust PostgreSQL", str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


def test_a_server_that_accepts_any_password_is_a_warning_as_in_the_rotation(
    emu: Emulator, client: SecretManagerClient, trust_cluster: PgCluster
) -> None:
    user, pw = unique("chk"), secret_pw()
    trust_cluster.create_role(user, pw)
    try:
        value = {
            "engine": "postgresql",
            "host": trust_cluster.host,
            "port": trust_cluster.port,
            "username": user,
            "password": pw,
            "sslRootCert": trust_cluster.ca_file,
        }
        sid, token = executed_job(emu, client, value=value)
        lines = check(emu, client, sid)
        login = lines["login"]
        assert login.status is CheckStatus.WARN, lines
        assert login.message.startswith("TARGET_AUTH_NOT_ENFORCED: ")
        assert not_enforced_message("postgresql") in login.message
        assert passed(list(lines.values()))  # a warning: the rotation itself would succeed
        result = invoke(emu, sid, token)
        assert result["ok"], result
        assert {
            "code": "TARGET_AUTH_NOT_ENFORCED",
            "message": not_enforced_message("postgresql"),
        } in (result["warnings"])
    finally:
        trust_cluster.cleanup()


def test_a_server_that_checks_passwords_gets_no_warning(
    emu: Emulator, client: SecretManagerClient, pg_cluster: PgCluster
) -> None:
    user, pw = unique("chk"), secret_pw()
    pg_cluster.create_role(user, pw)
    value = {"engine": "postgresql", "host": pg_cluster.host, "port": pg_cluster.port,
             "username": user, "password": pw, "sslRootCert": pg_cluster.ca_file}  # fmt: skip
    login = check(emu, client, rotatable_secret(emu, client, value=value).secret_id)["login"]
    assert login.status is CheckStatus.OK and "refuses a random wrong one" in login.message


def _deployed_secret(
    emu: Emulator, client: SecretManagerClient, value: dict[str, Any], own: Any, **shared: Any
) -> tuple[str, str]:
    """A secret rotated by a deployed action whose parameters hold ``shared`` and, under
    ``bySecretId``, ``own`` for this secret (the layout ``python -m deploy`` writes):
    ``(secret id, action name)``."""
    sid = create_secret(client, value=value).secret_id
    fleet = own if isinstance(own, str) else {sid: own, "0" * 64: {"target": {"ssl": "disable"}}}
    trigger_id, action = deploy(emu, {**shared, "bySecretId": fleet})
    client.update_rotation_trigger(sid, trigger_id)
    return sid, action


def deployed_check(emu: Emulator, client: SecretManagerClient, sid: str) -> dict[str, CheckLine]:
    emu.stats.reset()
    functions = lambda: CloudFunctionsClient(  # noqa: E731
        emu.credentials, endpoint=emu.cloud_functions_endpoint
    )
    lines = run_check(Inputs(sid, emu.credentials), client, params=deployed_source(functions))
    assert not WRITES & set(emu.stats.calls), emu.stats.calls
    names = ["api", "secret", "params", "value", "target", "login", "policy"]
    assert [line.name for line in lines if line.name not in ("identity", "access")] == names
    return {line.name: line for line in lines}


def rotated_by_the_action(emu: Emulator, client: SecretManagerClient, sid: str) -> dict[str, Any]:
    """Execute Rotation Job: the deployed action runs; its result."""
    client.execute_rotation_job(sid)
    [activation] = [a for a in emu.wait_idle() if a.secret_id == sid]
    assert isinstance(activation.result, dict)
    return activation.result


def test_a_per_secret_target_under_by_secret_id_is_what_check_checks(
    emu: Emulator, client: SecretManagerClient, pg_cluster: PgCluster
) -> None:
    """The issue's case: the value says one thing, the secret's own deploy config another
    (ssl), and only the latter reaches the action. Check used to pass; the rotation failed."""
    user, pw = unique("chk"), secret_pw()
    pg_cluster.create_role(user, pw)
    value = {"engine": "postgresql", "host": pg_cluster.host, "port": pg_cluster.port,
             "username": user, "password": pw, "ssl": "disable"}  # fmt: skip
    sid, action = _deployed_secret(
        emu, client, value, {"target": {"ssl": "verify-full"}}, target={"testQuery": "SELECT 2"}
    )
    assert passed(list(check(emu, client, sid).values()))  # the value alone looks fine
    lines = deployed_check(emu, client, sid)
    assert lines["params"].status is CheckStatus.OK
    assert f"the deployed action {action}'s parameters" in lines["params"].message
    assert "with this secret's bySecretId entry; target sets ssl" in lines["params"].message
    login = lines["login"]
    assert login.status is CheckStatus.FAIL and login.message.startswith("TARGET_UNREACHABLE: ")
    assert "certificate" in login.message and "sslRootCert" in login.message
    result = rotated_by_the_action(emu, client, sid)
    assert result["error"]["code"] == "TARGET_UNREACHABLE", result
    assert pg_cluster.logs_in(user, pw)  # nothing changed on the database


AGREE_DEPLOYED: dict[str, tuple[Any, dict[str, Any], str, str]] = {
    "by-secret-id-not-an-object": ("[1, 2]", {}, "params", "INVALID_PARAMETER"),
    "own-target-not-an-object": ({"target": "not json"}, {}, "params", "INVALID_TARGET"),
    "own-policy-refused": ({"policy": {"length": 2}}, {}, "policy", "INVALID_POLICY"),
    "shared-endpoint-bad": ({}, {"secretManagerEndpoint": "ftp://x"}, "params",
                            "INVALID_ENDPOINT"),
    "own-target-unknown-setting": ({"target": {"sslmode": "off"}}, {}, "target",
                                   "INVALID_TARGET"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(AGREE_DEPLOYED), ids=list(AGREE_DEPLOYED))
def test_check_and_the_deployed_action_refuse_alike(
    emu: Emulator, client: SecretManagerClient, case: str
) -> None:
    own, shared, line, code = AGREE_DEPLOYED[case]
    sid, _ = _deployed_secret(emu, client, dict(STORE), own, **shared)
    lines = deployed_check(emu, client, sid)
    assert lines[line].status is CheckStatus.FAIL, lines
    assert lines[line].message.startswith(f"{code}: "), lines[line]
    if line == "params":
        assert all(lines[n].status is CheckStatus.SKIP for n in ("value", "target", "login"))
    result = rotated_by_the_action(emu, client, sid)
    assert result["error"]["code"] == code, result
    assert client.get_secret_values(sid).active == STORE


def test_without_a_readable_deployed_action_the_check_says_what_it_used(
    emu: Emulator, client: SecretManagerClient
) -> None:
    in_process = emu.add_trigger(unique_name("t"), emu.handler_action(unique_name("rot")))
    sid = create_secret(client, value=dict(STORE), trigger_id=in_process.trigger_id).secret_id
    params = deployed_check(emu, client, sid)["params"]
    assert params.status is CheckStatus.WARN and "knows no action" in params.message
    assert "checked with the value's own settings only" in params.message
    idle = rotatable_secret(emu, client, value=dict(STORE)).secret_id
    lines = deployed_check(emu, client, idle)
    assert "no action runs the secret's trigger" in lines["params"].message
    assert passed(list(lines.values()))


def test_a_role_that_may_not_log_in_is_its_own_cause(
    emu: Emulator, client: SecretManagerClient, pg_cluster: PgCluster
) -> None:
    """Not "the target refused the active credential" (on-call would reset a right
    password): TARGET_USER_DISABLED, as the rotation would end."""
    user, pw = unique("chk"), secret_pw()
    pg_cluster.create_role(user, pw)
    pg_cluster.run(f"ALTER ROLE {user} NOLOGIN")
    value = {"engine": "postgresql", "host": pg_cluster.host, "port": pg_cluster.port,
             "username": user, "password": pw, "sslRootCert": pg_cluster.ca_file}  # fmt: skip
    sid, token = executed_job(emu, client, value=value)
    verifier = pg_cluster.run("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=user)
    login = check(emu, client, sid)["login"]
    assert login.status is CheckStatus.FAIL
    assert login.message.startswith("TARGET_USER_DISABLED: ") and "NOLOGIN" in login.message
    result = invoke(emu, sid, token)
    assert (result["error"]["code"], result["job"]) == ("TARGET_USER_DISABLED", "failed"), result
    assert client.get_secret_values(sid).active == value
    assert pg_cluster.run("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=user) == (
        verifier
    )  # nothing was set
