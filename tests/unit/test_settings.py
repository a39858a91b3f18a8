from __future__ import annotations

import time
from typing import Any

import pytest

from rotation.ncp.secretmanager import DEFAULT_ENDPOINT
from rotation.settings import Settings, SettingsError

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
        ({"secretId": "a", "SECRET_ID": "x", "__OW_SECRETID": "y", "__OW_JOBTOKEN": "b"}, "a", "b"),
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
