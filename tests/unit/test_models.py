from __future__ import annotations

import json

import pytest

from rotation.ncp.errors import ResponseFormatError
from rotation.ncp.models import (
    CreateSecretRequest,
    RandomSecretOptions,
    RotationPhase,
    SecretChain,
    SecretDetail,
    SecretStatus,
    SecretValue,
    SecretValueError,
    Stage,
    StageValue,
)

# The response example of seed 002 (Get Secret Detail), verbatim.
SEED_DETAIL = {
    "secretId": "*****687685109842348f7358629bca2a6b2491e8c2352718e7d312b183*****",
    "secretName": "test-***",
    "secretStatus": "ENABLE",
    "secretType": "BASIC",
    "memo": "Secret Manager Description",
    "region": "KR",
    "updateDate": 1753159021411,
    "registerDate": 1753065580243,
    "autoRotationYN": "Y",
    "autoRotationPeriod": 90,
    "nextRotationDate": 1760842800000,
    "rotationPhase": "NONE",
    "trigger": {
        "id": "*****",
        "name": "test",
        "url": "https://console.ncloud.com/vpcCloudFunctions/trigger/detail/test",
    },
    "protectionKey": {
        "type": "USER_MANAGED_KEY",
        "kmsKeyTag": "*****a8e99ef1ba49b9c190a0cb4f6fb20cff86dd3a3017fd6ee05aea8b*****",
        "kmsKeyName": "test-***",
    },
}


def test_seed_detail_example_parses() -> None:
    detail = SecretDetail.from_api(SEED_DETAIL)
    assert detail.status is SecretStatus.ENABLE
    assert detail.rotation_phase is RotationPhase.NONE
    assert detail.auto_rotation is True
    assert detail.auto_rotation_period == 90
    assert detail.next_rotation_date == 1760842800000
    assert detail.register_date == 1753065580243
    assert detail.trigger is not None and detail.trigger.name == "test"
    assert detail.protection_key is not None
    assert detail.protection_key.kms_key_name == "test-***"
    assert not detail.rotating


def test_unknown_fields_are_kept_not_fatal() -> None:
    data = {**SEED_DETAIL, "brandNewField": {"x": 1}}
    data["trigger"] = {**SEED_DETAIL["trigger"], "recentlyExecutedAction": "a", "more": 2}
    detail = SecretDetail.from_api(data)
    assert detail.extra == {"brandNewField": {"x": 1}}
    assert detail.trigger is not None
    assert detail.trigger.recently_executed_action == "a"
    assert detail.trigger.extra == {"more": 2}


@pytest.mark.parametrize("field", ["secretStatus", "rotationPhase"])
def test_unknown_state_values_are_errors(field: str) -> None:
    with pytest.raises(ResponseFormatError, match=field):
        SecretDetail.from_api({**SEED_DETAIL, field: "SOMETHING_NEW"})


def test_missing_rotation_phase_reads_as_none() -> None:
    data = {k: v for k, v in SEED_DETAIL.items() if k != "rotationPhase"}
    assert SecretDetail.from_api(data).rotation_phase is RotationPhase.NONE


@pytest.mark.parametrize(
    ("status", "phase", "rotating"),
    [
        ("ROTATING", "NONE", True),
        ("ENABLE", "ROTATING", True),
        ("ENABLE", "ROTATION_FAILED", False),
    ],
)
def test_rotating_reads_either_field(status: str, phase: str, rotating: bool) -> None:
    detail = SecretDetail.from_api({**SEED_DETAIL, "secretStatus": status, "rotationPhase": phase})
    assert detail.rotating is rotating


def test_chain_values_are_parsed_once_into_masked_values() -> None:
    chain = SecretChain.from_api(
        {
            "decryptedSecretChain": {
                "previous": None,
                "active": json.dumps({"user": "app", "password": "hunter2-Secret"}),
                "pending": "",
            },
            "rotationTargets": ["password"],
        }
    )
    assert chain.previous is None and chain.pending is None
    assert chain.active is not None and chain.active["password"] == "hunter2-Secret"
    assert chain.rotation_targets == ("password",)
    assert chain.stage(Stage.ACTIVE) is chain.active
    for text in (repr(chain), str(chain), repr(chain.active), f"{chain.active}"):
        assert "hunter2-Secret" not in text
    assert "password" in repr(chain.active)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"just text"', "42"])
def test_a_value_that_is_not_a_json_object_is_an_error_naming_the_stage(text: str) -> None:
    with pytest.raises(SecretValueError) as info:
        SecretChain.from_api({"decryptedSecretChain": {"active": text}, "rotationTargets": []})
    assert "active" in str(info.value)
    assert text not in str(info.value) or text in ("42",)  # never echo the value itself


def test_rotation_targets_must_be_key_names() -> None:
    with pytest.raises(ResponseFormatError):
        SecretChain.from_api({"decryptedSecretChain": {}, "rotationTargets": "password"})


def test_stage_value_parses() -> None:
    value = StageValue.from_api(
        {"decryptedSecretValue": {"value": '{"k":"v"}', "valueStage": "PENDING"}}
    )
    assert value.stage is Stage.PENDING and value.value == {"k": "v"}


def test_secret_value_helpers() -> None:
    value = SecretValue(
        {"user": "app", "password": "pw-123456", "port": 5432, "tls": True, "x": None}
    )
    replaced = value.replace({"password": "new-pw-99"})
    assert replaced["password"] == "new-pw-99" and replaced["user"] == "app"
    assert value["password"] == "pw-123456"  # the original is untouched
    assert SecretValue.parse(value.to_json()) == value
    assert sorted(value.leaves()) == sorted(["app", "pw-123456", "5432", "true"])
    assert value == dict(value)
    assert hash(value) == hash(SecretValue(dict(value)))


def test_create_request_body_has_the_seed_fields() -> None:
    body = CreateSecretRequest(
        secret_name="db-app",
        value={"password": "x"},
        rotation_targets=("password",),
        memo="m",
        auto_rotation=True,
        auto_rotation_period=30,
        trigger_id="t1",
    ).to_api()
    assert body == {
        "secretName": "db-app",
        "memo": "m",
        "secretValue": {"value": '{"password":"x"}', "rotationTargets": ["password"]},
        "secretType": "BASIC",
        "autoRotationYN": "Y",
        "autoRotationPeriod": 30,
        "triggerId": "t1",
        "protectionKeyType": "DEFAULT",
    }
    assert "'x'" not in repr(CreateSecretRequest("n", {"password": "x"}, ("password",)))


def test_random_secret_options_default_to_the_service_defaults() -> None:
    body = RandomSecretOptions().to_api()
    assert body["length"] == 12
    assert body["includeSpace"] is True
    assert body["requireEachIncludedType"] is True
    assert "excludeCharacters" not in body
