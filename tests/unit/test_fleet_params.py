"""One action serves many secrets: each secret sees the shared parameters with its own
entry of ``bySecretId`` laid over them."""

from __future__ import annotations

import json

import pytest

from rotation.fleet_params import BY_SECRET_ID, FleetParamsError, parameters_for

SHARED = {
    "secretManagerEndpoint": "https://ocapi-kr.ncloud.com/secretmanager",
    "policy": {"length": 40},
    "target": {"kind": "postgresql", "testQuery": "SELECT 1"},
}


def test_a_secret_without_an_entry_sees_the_shared_parameters() -> None:
    args = {**SHARED, BY_SECRET_ID: {"other": {"policy": {"length": 8}}}}
    assert parameters_for(args, "mine") == SHARED
    assert parameters_for(SHARED, "mine") == SHARED


def test_its_own_keys_replace_the_shared_ones_whole() -> None:
    args = {**SHARED, BY_SECRET_ID: {"mine": {"target": {"kind": "redis"}}}}
    seen = parameters_for(args, "mine")
    assert seen["target"] == {"kind": "redis"}, "no PostgreSQL testQuery inherited"
    assert seen["policy"] == {"length": 40} and BY_SECRET_ID not in seen
    assert args[BY_SECRET_ID]["mine"] == {"target": {"kind": "redis"}}, "input unchanged"


def test_json_text_is_read_as_an_object() -> None:
    args = {**SHARED, BY_SECRET_ID: json.dumps({"mine": json.dumps({"policy": {"length": 9}})})}
    assert parameters_for(args, "mine")["policy"] == {"length": 9}


@pytest.mark.parametrize(
    "fleet", ["not json", ["a", "list"], {"mine": "not json"}, {"mine": [1, 2]}]
)
def test_anything_but_objects_is_bad_input_named_not_shown(fleet: object) -> None:
    with pytest.raises(FleetParamsError) as info:
        parameters_for({**SHARED, BY_SECRET_ID: fleet}, "mine")
    assert info.value.code == "INVALID_PARAMETER"
    assert "bySecretId" in str(info.value) and "not json" not in str(info.value)
