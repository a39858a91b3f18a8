from __future__ import annotations

import os
import time
from typing import Any

import pytest

from rotation.ncp.secretmanager import DEFAULT_ENDPOINT
from rotation.settings import (
    Settings,
    SettingsError,
    secret_id_hint,
    take_activation_environment,
)

BASE: dict[str, Any] = {
    "secretId": "sid-1",
    "jobToken": "tok-1",
    "accessKey": "ak",
    "secretKey": "sk",
}


def load(args: dict[str, Any] | None = None, **env: str) -> Settings:
    return Settings.load(BASE if args is None else args, env)


def test_args_come_first() -> None:
    s = load(
        BASE,
        secretId="env-sid",
        __OW_SECRETID="ow-sid",
        __OW_JOBTOKEN="ow-tok",
        NCLOUD_ACCESS_KEY="env-ak",
        NCLOUD_SECRET_KEY="env-sk",
    )
    assert (s.secret_id, s.job_token) == ("sid-1", "tok-1")
    assert (s.credentials.access_key, s.credentials.secret_key) == ("ak", "sk")
    assert s.endpoint == DEFAULT_ENDPOINT


@pytest.mark.parametrize(
    ("env", "secret_id", "token"),
    [
        ({"secretId": "a", "jobToken": "b"}, "a", "b"),
        ({"SECRET_ID": "a", "JOB_TOKEN": "b"}, "a", "b"),
        ({"__OW_SECRETID": "a", "__OW_JOBTOKEN": "b"}, "a", "b"),
        # the activation's own fields are one place, the process's variables another
        ({"secretId": "a", "SECRET_ID": "x", "__OW_SECRETID": "y", "__OW_JOBTOKEN": "b"}, "y", "b"),
        ({"secretId": "a", "SECRET_ID": "x", "JOB_TOKEN": "b", "__OW_JOBTOKEN": "c"}, "a", "b"),
    ],
)
def test_ids_from_every_environment_name(env: dict[str, str], secret_id: str, token: str) -> None:
    s = Settings.load({"accessKey": "ak", "secretKey": "sk"}, env)
    assert (s.secret_id, s.job_token) == (secret_id, token)


def test_credentials_and_endpoint_from_environment() -> None:
    s = Settings.load(
        {"secretId": "a", "jobToken": "b"},
        {
            "NCLOUD_ACCESS_KEY": "ak",
            "NCLOUD_SECRET_KEY": "sk",
            "NCLOUD_SECRET_MANAGER_ENDPOINT": "https://ocapi-kr.ncloud.com/secretmanager/",
            "__OW_ACTIVATION_ID": "act-1",
            "__OW_ACTION_NAME": "/ns/rotator",
        },
    )
    assert s.endpoint == "https://ocapi-kr.ncloud.com/secretmanager"
    assert (s.activation_id, s.action_name) == ("act-1", "/ns/rotator")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({}, "MISSING_SECRET_ID"),
        ({"secretId": "a"}, "MISSING_JOB_TOKEN"),
        ({"secretId": "a", "jobToken": "b"}, "MISSING_CREDENTIALS"),
        ({"secretId": "a", "jobToken": "b", "accessKey": "ak"}, "MISSING_CREDENTIALS"),
        ({**BASE, "secretId": 42}, "INVALID_SECRET_ID"),
        ({**BASE, "secretId": "a/b"}, "INVALID_SECRET_ID"),
        ({**BASE, "jobToken": ["x"]}, "INVALID_JOB_TOKEN"),
        ({**BASE, "secretManagerEndpoint": "secretmanager.apigw.ntruss.com"}, "INVALID_ENDPOINT"),
        (
            {**BASE, "secretManagerEndpoint": "http://secretmanager.apigw.ntruss.com"},
            "INVALID_ENDPOINT",
        ),
        ({**BASE, "secretManagerEndpoint": "https://h/p?x=1"}, "INVALID_ENDPOINT"),
        ({**BASE, "target": ["postgresql"]}, "INVALID_TARGET"),
        ({**BASE, "target": "not json"}, "INVALID_TARGET"),
        ({**BASE, "policy": 5}, "INVALID_POLICY"),
        ({**BASE, "timeoutSeconds": 0}, "INVALID_TIMEOUT"),
        ({**BASE, "timeoutSeconds": "soon"}, "INVALID_TIMEOUT"),
        ({**BASE, "timeoutSeconds": True}, "INVALID_TIMEOUT"),
    ],
)
def test_bad_input_has_a_code_and_says_what_to_fix(args: dict[str, Any], code: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(args, {})
    assert info.value.code == code
    assert str(info.value)


def test_params_must_be_an_object() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(["secretId"], {})  # type: ignore[arg-type]
    assert info.value.code == "INVALID_INPUT"


def test_http_is_allowed_only_to_loopback() -> None:
    assert load({**BASE, "secretManagerEndpoint": "http://127.0.0.1:8080"}).endpoint.startswith(
        "http://"
    )
    assert (
        load({**BASE, "secretManagerEndpoint": "http://localhost:1/p"}).endpoint
        == "http://localhost:1/p"
    )


def test_target_and_policy_may_arrive_as_json_text() -> None:
    s = load({**BASE, "target": '{"kind": "store-only"}', "policy": '{"length": 40}'})
    assert s.target == {"kind": "store-only"}
    assert s.policy == {"length": 40}


def test_runtime_deadline_wins_over_the_configured_timeout() -> None:
    deadline_ms = (time.time() + 20) * 1000
    s = load({**BASE, "timeoutSeconds": 300}, __OW_DEADLINE=str(deadline_ms))
    assert 18 < s.deadline.remaining() <= 20
    with pytest.raises(SettingsError) as info:
        load(BASE, __OW_DEADLINE="tomorrow")
    assert info.value.code == "INVALID_DEADLINE"


def test_configured_timeout_and_default() -> None:
    assert 9 < load({**BASE, "timeoutSeconds": 10}).deadline.remaining() <= 10
    assert 4 < load(BASE, ROTATION_TIMEOUT_SECONDS="5").deadline.remaining() <= 5
    assert 59 < load(BASE).deadline.remaining() <= 60


def test_repr_hides_the_token_and_the_secret_key() -> None:
    text = repr(load({**BASE, "jobToken": "tok-visible?", "secretKey": "sk-visible?"}))
    assert "tok-visible?" not in text
    assert "sk-visible?" not in text
    assert "sid-1" in text


# -- where the secret id and the job token come from (issue 10, item 3) ----------------------

CREDS = {"accessKey": "ak", "secretKey": "sk"}


@pytest.mark.parametrize(
    ("sid_name", "token_name"),
    [
        ("secretId", "jobToken"),
        ("SECRET_ID", "JOB_TOKEN"),
        ("SECRETID", "JOBTOKEN"),
        ("secret_id", "job_token"),
        ("__OW_SECRETID", "__OW_JOBTOKEN"),
        ("__OW_SECRET_ID", "__OW_JOB_TOKEN"),
        ("NCP_SECRET_ID", "NCP_JOB_TOKEN"),
        ("__ow_secretId", "__Ow_Job-Token"),
        ("SecretID", "Job-Token"),
    ],
)
def test_ids_from_any_plausible_environment_name(sid_name: str, token_name: str) -> None:
    s = Settings.load(CREDS, {sid_name: "a", token_name: "b", "PATH": "/bin"})
    assert (s.secret_id, s.job_token) == ("a", "b")
    assert s.ids_from == f"environment {sid_name} + environment {token_name}"


@pytest.mark.parametrize("key", ["event", "data", "body", "payload", "detail", "params"])
def test_ids_one_level_down_in_an_event(key: str) -> None:
    s = Settings.load({**CREDS, key: {"secretId": "a", "job_token": "b"}}, {})
    assert (s.secret_id, s.job_token) == ("a", "b")
    assert s.ids_from == f"parameters.{key}.secretId + parameters.{key}.job_token"


def test_an_event_may_be_json_text() -> None:
    s = Settings.load({**CREDS, "body": '{"SecretId": "a", "JobToken": "b"}'}, {})
    assert (s.secret_id, s.job_token) == ("a", "b")
    with pytest.raises(SettingsError) as info:
        Settings.load({**CREDS, "body": "{not json"}, {})
    assert info.value.code == "MISSING_SECRET_ID"


def test_ids_come_as_a_pair_from_one_place() -> None:
    # A warm container keeps __OW_* of an earlier activation: a fresh pair in the
    # parameters must not be mixed with it, whichever is found first.
    stale = {"__OW_SECRETID": "old-sid", "__OW_JOBTOKEN": "old-tok"}
    s = Settings.load({**CREDS, "event": {"secretId": "new", "jobToken": "tok"}}, stale)
    assert (s.secret_id, s.job_token) == ("new", "tok")
    assert s.ids_from == "parameters.event.secretId + parameters.event.jobToken"


TOKEN = "tok-value-2718"


@pytest.mark.parametrize(
    ("args", "env", "unpaired"),
    [
        # the measured defect: a parameter secretId beside an earlier activation's pair
        ({"secretId": "new"}, {"__OW_SECRETID": "old", "__OW_JOBTOKEN": TOKEN}, "__OW_JOBTOKEN"),
        ({"secretId": "new"}, {"JOB_TOKEN": TOKEN}, "environment JOB_TOKEN"),
        ({"secretId": "p", "event": {"secretId": "e", "jobToken": TOKEN}}, {}, "event.jobToken"),
        ({"jobToken": TOKEN}, {"SECRET_ID": "s"}, "parameters.jobToken"),
        ({}, {"__OW_SECRETID": "s", "JOB_TOKEN": TOKEN}, "environment JOB_TOKEN"),
    ],
    ids=["param-beside-stale-pair", "param-and-env-token", "top-and-event", "token-alone",
         "activation-id-and-process-token"],
)  # fmt: skip
def test_a_token_is_never_paired_with_a_secret_id_from_elsewhere(
    args: dict[str, Any], env: dict[str, str], unpaired: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load({**CREDS, **args}, env)
    message = str(info.value)
    assert info.value.code == "MISSING_JOB_TOKEN"
    assert unpaired in message and "only used with the secret id it came with" in message
    assert TOKEN not in message  # names only, never the token
    # a dry run needs no token: it runs on the first secret id found, alone
    dry = Settings.load({**CREDS, **args}, env, need_job=False)
    assert dry.job_token == "" and dry.secret_id == ({**env, **args}.get("secretId") or "s")


def test_a_token_beside_the_same_secret_id_elsewhere_is_paired() -> None:
    """The token came with this very secret id, only in another place: no mixing."""
    env = {"__OW_SECRETID": "sid-1", "__OW_JOBTOKEN": "t"}
    s = Settings.load({**CREDS, "secretId": "sid-1"}, env)
    assert (s.secret_id, s.job_token) == ("sid-1", "t")
    assert s.ids_from == "parameters.secretId + environment __OW_JOBTOKEN"


def test_a_non_text_id_anywhere_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load({**CREDS, "data": {"secretId": 7, "jobToken": "t"}}, {})
    assert info.value.code == "INVALID_SECRET_ID" and "parameters.data" in str(info.value)


def test_missing_ids_list_the_names_present_never_the_values() -> None:
    env = {f"VAR_{i:03}": f"value-{i}" for i in range(150)}
    env.update({"__OW_ACTIVATION_ID": "act-value", "TRIGGER_EVENT": "ev-value", "PATH": "/x"})
    args = {**CREDS, "secretIdentifier": "sid-value", "event": {"jobTokn": "tok-value"}}
    with pytest.raises(SettingsError) as info:
        Settings.load(args, env)
    message = str(info.value)
    assert info.value.code == "MISSING_SECRET_ID"
    for name in ("secretIdentifier", "event.jobTokn", "accessKey", "__OW_ACTIVATION_ID"):
        assert name in message
    assert "TRIGGER_EVENT" in message and "__OW_SECRETID" in message  # looked-for names too
    assert "value" not in message.replace("VAR_", "")  # no value, not even a short one
    assert "sk" not in message.split()  # the secret key's value is never listed
    assert "and 93 more" in message  # 153 variables, the relevant ones first, 60 listed
    assert message.index("__OW_ACTIVATION_ID") < message.index("PATH")


def test_missing_job_token_says_where_it_looked() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load({**CREDS, "secretId": "a"}, {"HOME": "/root"})
    message = str(info.value)
    assert info.value.code == "MISSING_JOB_TOKEN"
    assert "__OW_JOBTOKEN" in message and "HOME" in message and "/root" not in message


# -- which host (issue 10, item 5) --------------------------------------------------------------


def test_default_hosts_are_the_regions_then_global() -> None:
    s = load(BASE)
    assert s.region == "KR"
    assert s.endpoints == (
        "https://ocapi-kr.ncloud.com/secretmanager",
        "https://secretmanager.apigw.ntruss.com",
    )
    assert s.endpoint == s.endpoints[0]
    jp = load(BASE, NCLOUD_REGION="jpn")
    assert (jp.region, jp.endpoints) == ("JPN", ("https://ocapi-jp.ncloud.com/secretmanager",))
    assert load({**BASE, "region": "JP"}).region == "JPN"


def test_a_configured_endpoint_is_the_only_host() -> None:
    s = load({**BASE, "secretManagerEndpoint": "https://secretmanager.apigw.ntruss.com/"})
    assert s.endpoints == ("https://secretmanager.apigw.ntruss.com",)


def test_an_unknown_region_is_bad_input() -> None:
    with pytest.raises(SettingsError) as info:
        load(BASE, NCLOUD_REGION="SGN")
    assert info.value.code == "INVALID_REGION" and "KR or JPN" in str(info.value)


def test_a_secrets_own_parameters_replace_the_shared_ones() -> None:
    """One action, many secrets: ``bySecretId`` picks this secret's target and policy."""
    args = {
        "secretId": "sid-a",
        "jobToken": "tok",
        "accessKey": "ak",
        "secretKey": "sk",
        "target": {"kind": "postgresql", "testQuery": "SELECT 1"},
        "policy": {"length": 40},
        "bySecretId": {"sid-a": {"target": {"kind": "redis"}}, "sid-b": {"policy": {}}},
    }
    settings = Settings.load(args, {})
    assert settings.target == {"kind": "redis"}  # replaced whole, no testQuery inherited
    assert settings.policy == {"length": 40}
    other = Settings.load({**args, "secretId": "sid-c"}, {})
    assert other.target == {"kind": "postgresql", "testQuery": "SELECT 1"}
    with pytest.raises(SettingsError) as info:
        Settings.load({**args, "bySecretId": ["not", "an", "object"]}, {})
    assert info.value.code == "INVALID_PARAMETER"


# -- ids are checked before any call (issue 15) -------------------------------------------------


@pytest.mark.parametrize(
    "secret_id",
    ["..", ".", "a/b", "../etc/x", "abc def", "a\nb", "x" * 129, "s" * 1_000_000, "séc"],
    ids=["dotdot", "dot", "slash", "climb", "space", "newline", "129", "million", "non-ascii"],
)
def test_a_secret_id_that_no_secret_can_have_is_refused(secret_id: str) -> None:
    for args, env in (({**BASE, "secretId": secret_id}, {}),
                      ({**CREDS}, {"__OW_SECRETID": secret_id, "__OW_JOBTOKEN": "t"})):  # fmt: skip
        with pytest.raises(SettingsError) as info:
            Settings.load(args, env)
        message = str(info.value)
        assert info.value.code == "INVALID_SECRET_ID"
        assert len(message) < 300 and (len(secret_id) < 4 or secret_id not in message)
        assert "secretId" in message or "SECRETID" in message  # where it was found
        assert secret_id_hint(args, env) is None  # the error result does not echo it


@pytest.mark.parametrize(
    "token",
    ["..", ".", "a/b", "tok en", "t\u00e9", "x" * 1025, "\x00abc"],
    ids=["dotdot", "dot", "slash", "space", "non-ascii", "1025", "nul"],
)
def test_a_job_token_that_no_job_can_have_is_refused(token: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load({**BASE, "jobToken": token}, {})
    assert info.value.code == "INVALID_JOB_TOKEN"
    assert "parameters.jobToken" in str(info.value)
    assert len(token) < 3 or token not in str(info.value)


def test_valid_ids_are_taken_as_they_are() -> None:
    sid, token = "a" * 128, "T0k-._~!" + "x" * 1016
    s = Settings.load({**CREDS, "secretId": sid, "jobToken": token}, {})
    assert (s.secret_id, s.job_token) == (sid, token)
    assert secret_id_hint({"secretId": sid}, {}) == sid


# -- one activation, one reading (issue 16) -----------------------------------------------------


def test_the_activation_environment_takes_the_ids_the_runtime_set() -> None:
    environ = {
        "__OW_SECRETID": "s", "__ow_job_token": "t", "__OW_SECRET_ID": "s2",
        "__OW_ACTIVATION_ID": "act-1", "__OW_DEADLINE": "1", "__OW_ACTION_NAME": "/ns/a",
        "SECRET_ID": "plain", "NCLOUD_ACCESS_KEY": "ak", "PATH": "/bin",
    }  # fmt: skip
    before = dict(environ)
    snapshot = take_activation_environment(environ)
    assert snapshot == before  # this activation reads everything
    taken = ("__OW_SECRETID", "__ow_job_token", "__OW_SECRET_ID")
    assert environ == {k: v for k, v in before.items() if k not in taken}  # none for the next
    again = take_activation_environment(environ)
    assert Settings.load(CREDS, again, need_job=False).ids_from == "environment SECRET_ID"
    with pytest.raises(SettingsError) as info:
        Settings.load(CREDS, again)
    assert info.value.code == "MISSING_JOB_TOKEN"


def test_the_activation_environment_is_os_environ_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("__OW_SECRETID", "sid-env")
    monkeypatch.setenv("__OW_JOBTOKEN", "tok-env")
    snapshot = take_activation_environment()
    assert (snapshot["__OW_SECRETID"], snapshot["__OW_JOBTOKEN"]) == ("sid-env", "tok-env")
    assert "__OW_SECRETID" not in os.environ and "__OW_JOBTOKEN" not in os.environ


def test_loading_keeps_nothing_between_two_calls() -> None:
    first = Settings.load({**CREDS, "secretId": "one", "jobToken": "t1"}, {})
    second = Settings.load({**CREDS, "secretId": "two", "jobToken": "t2", "region": "JPN"}, {})
    third = Settings.load(CREDS, {"__OW_SECRETID": "three", "__OW_JOBTOKEN": "t3"})
    assert [(s.secret_id, s.job_token, s.region) for s in (first, second, third)] == [
        ("one", "t1", "KR"), ("two", "t2", "JPN"), ("three", "t3", "KR"),
    ]  # fmt: skip
    with pytest.raises(SettingsError):
        Settings.load(CREDS, {})


@pytest.mark.parametrize("given", ["accessKey", "secretKey"])
def test_half_a_key_pair_in_the_parameters_is_never_completed_from_the_environment(
    given: str,
) -> None:
    env = {"NCLOUD_ACCESS_KEY": "env-access-key", "NCLOUD_SECRET_KEY": "env-secret-key-1"}
    args = {"secretId": "sid-1", "jobToken": "tok-1", given: "param-key-1"}
    with pytest.raises(SettingsError) as err:
        Settings.load(args, env)
    assert err.value.code == "MISSING_CREDENTIALS"
    assert "both" in str(err.value)
