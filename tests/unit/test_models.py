from __future__ import annotations

import json

import pytest

from rotation.ncp.admin_models import CreateSecretRequest, KmsKey, Trigger
from rotation.ncp.errors import ResponseFormatError
from rotation.ncp.models import (
    ProtectionKeyType,
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
def test_unknown_state_values_are_kept_raw_and_noted(field: str) -> None:
    detail = SecretDetail.from_api({**SEED_DETAIL, field: "SOMETHING_NEW"})
    value = detail.status if field == "secretStatus" else detail.rotation_phase
    assert value.value == "SOMETHING_NEW" and str(value) == "SOMETHING_NEW"
    assert not value.known and value.name == "UNKNOWN"
    assert value not in (*SecretStatus, *RotationPhase)  # never taken for a documented one
    assert detail.notes == (f"{field}: undocumented value 'SOMETHING_NEW'",)
    assert not detail.rotating


def test_an_unknown_status_is_not_a_refusal_and_case_does_not_matter() -> None:
    refused = {SecretStatus.DISABLE, SecretStatus.REVOKE, SecretStatus.DESTROYED}
    assert SecretStatus("LOCKED_FOR_AUDIT") not in refused
    assert SecretStatus("disable ") is SecretStatus.DISABLE
    assert RotationPhase("rotating") is RotationPhase.ROTATING
    assert RotationPhase.ROTATION_FAILED.known


def test_extra_fields_and_bad_optional_fields_are_noted_not_fatal() -> None:
    data = {
        **SEED_DETAIL,
        "lastRotationResultId": "r-1",
        "registerDate": "yesterday",
        "autoRotationYN": "maybe",
        "trigger": {"name": "no id"},
        "protectionKey": {"kmsKeyTag": "tag-1", "kmsBoundaryType": "ISOLATED"},
        "newA": 1,
        "newB": None,
    }
    detail = SecretDetail.from_api(data)
    assert detail.last_rotation_result_id == "r-1"
    assert detail.register_date is None and detail.auto_rotation is False
    assert detail.trigger is None  # malformed optional object: dropped, the detail still reads
    assert detail.protection_key is not None
    assert detail.protection_key.type is ProtectionKeyType.USER_MANAGED_KEY  # implied by a tag
    assert detail.protection_key.extra == {"kmsBoundaryType": "ISOLATED"}
    assert detail.extra == {"newA": 1, "newB": None}
    notes = "\n".join(detail.notes)
    for expected in ("registerDate", "autoRotationYN", "trigger: ignored", "newA, newB"):
        assert expected in notes
    assert "protectionKey.undocumented fields: kmsBoundaryType" in notes


@pytest.mark.parametrize("field", ["secretId", "secretName", "secretStatus"])
def test_a_missing_required_field_is_an_error(field: str) -> None:
    data = {k: v for k, v in SEED_DETAIL.items() if k != field}
    with pytest.raises(ResponseFormatError, match=field):
        SecretDetail.from_api(data)


# The response example of Get Protection Key List, field for field
# (https://api.ncloud-docs.com/docs/en/secretmanager-getprotectionkeylist).
DOCS_KEY_LIST = [
    {
        "keyId": 0,
        "keyTag": "",
        "keyName": "Secret Manager Default Key",
        "keyStatus": "",
        "keyType": "",
        "kmsBoundaryType": "",
    },
    {
        "keyId": "123",
        "keyTag": "a8e99ef1ba49b9c1",
        "keyName": "app-key",
        "keyStatus": "ENABLE",
        "keyType": "AES256",
        "kmsBoundaryType": "ISOLATED",
    },
]


def test_protection_key_list_items_read_as_documented() -> None:
    default, key = (KmsKey.from_api(i) for i in DOCS_KEY_LIST)
    assert default.key_name == "Secret Manager Default Key" and default.key_tag is None
    assert default.key_id == "0" and not default.notes
    assert (key.key_id, key.key_tag, key.key_name) == ("123", "a8e99ef1ba49b9c1", "app-key")
    assert (key.key_status, key.key_type, key.kms_boundary_type) == ("ENABLE", "AES256", "ISOLATED")
    assert key.kms_key_tag == key.key_tag  # the name Create Secret sends it under
    odd = KmsKey.from_api({"keyTag": "t", "rotationSchedule": "x"})
    assert odd.key_tag == "t" and odd.key_name is None and odd.extra == {"rotationSchedule": "x"}


def test_trigger_list_items_tolerate_shapes_and_extras() -> None:
    trigger = Trigger.from_api(
        {
            "id": "t1",
            "name": "rotate",
            "linkedSecretList": ["s1", {"secretId": "s2"}, 7, None],
            "actionList": [{"name": "a1", "description": "d"}, "a2", {"nope": 1}],
            "newField": True,
        }
    )
    assert trigger.linked_secrets == ("s1", "s2", "7")
    assert [a.name for a in trigger.actions] == ["a1", "a2"]
    assert trigger.extra == {"newField": True}
    assert trigger.description is None and trigger.platform is None
    assert any("unreadable" in n for n in trigger.notes)


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
    asked = StageValue.from_api({"decryptedSecretValue": {"value": '{"k":"v"}'}}, Stage.ACTIVE)
    assert asked.stage is Stage.ACTIVE  # valueStage absent: the stage the request named
    with pytest.raises(ResponseFormatError, match="valueStage"):
        StageValue.from_api({"decryptedSecretValue": {"value": '{"k":"v"}'}})


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
