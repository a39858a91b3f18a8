"""Create Secret's rules (seed 000 and the API page), one row per rule, over HTTP.

Each refused request must answer 400 with the error envelope and create nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator import Emulator
from rotation.ncp.errors import BadRequest
from rotation.ncp.models import ProtectionKeyType
from rotation.ncp.secretmanager import SecretManagerClient

VALUE = json.dumps({"username": "app", "password": "pw-123"})


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "secretName": "db-app",
        "memo": "m",
        "secretValue": {"value": VALUE, "rotationTargets": ["password"]},
        "secretType": "BASIC",
        "autoRotationYN": "N",
        "protectionKeyType": "DEFAULT",
    }
    for key, value in changes.items():
        if value is ...:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def post(client: SecretManagerClient, payload: dict[str, Any]) -> Any:
    return client.transport.request("create_secret", "POST", "/api/v1/secrets", json_body=payload)


def value(n_keys: int = 1, size: int = 0, **extra: Any) -> str:
    data: dict[str, Any] = {"password": "p" * max(1, size)}
    data.update({f"k{i}": "v" for i in range(n_keys - 1)})
    data.update(extra)
    return json.dumps(data, separators=(",", ":"))


ACCEPTED = {
    "minimal": body(memo=...),
    "name 3 chars": body(secretName="abc"),
    "name 15 chars with - and _": body(secretName="a-b_c1234567890"),
    "100 keys": body(secretValue={"value": value(100), "rotationTargets": ["password"]}),
    "exactly 10000 bytes": body(
        secretValue={
            "value": value(size=10_000 - len('{"password":""}')),
            "rotationTargets": ["password"],
        }
    ),
    "numbers and booleans beside strings": body(
        secretValue={"value": value(port=5432, tls=True, x=None), "rotationTargets": ["password"]}
    ),
    "auto rotation 1 day": "AUTO:1",
    "auto rotation 730 days": "AUTO:730",
    "memo 1000 bytes": body(memo="m" * 1000),
}

REFUSED = {
    "name too short": body(secretName="ab"),
    "name too long": body(secretName="a" * 16),
    "name starts with a digit": body(secretName="1abc"),
    "name starts with -": body(secretName="-abc"),
    "name with a dot": body(secretName="db.app"),
    "name missing": body(secretName=...),
    "memo over 1000 bytes": body(memo="가" * 334),
    "value missing": body(secretValue=...),
    "value not JSON": body(secretValue={"value": "password=x", "rotationTargets": ["password"]}),
    "value a JSON array": body(secretValue={"value": '["x"]', "rotationTargets": ["password"]}),
    "value empty object": body(secretValue={"value": "{}", "rotationTargets": ["password"]}),
    "value 101 keys": body(secretValue={"value": value(101), "rotationTargets": ["password"]}),
    "value over 10000 bytes": body(
        secretValue={"value": value(size=10_000), "rotationTargets": ["password"]}
    ),
    "value nested": body(
        secretValue={"value": value(nested={"a": 1}), "rotationTargets": ["password"]}
    ),
    "value not a string": body(
        secretValue={"value": {"password": "x"}, "rotationTargets": ["password"]}
    ),
    "targets missing": body(secretValue={"value": VALUE}),
    "targets empty": body(secretValue={"value": VALUE, "rotationTargets": []}),
    "target not a key": body(secretValue={"value": VALUE, "rotationTargets": ["token"]}),
    "target repeated": body(
        secretValue={"value": VALUE, "rotationTargets": ["password", "password"]}
    ),
    "target holds a number": body(
        secretValue={"value": json.dumps({"password": 123}), "rotationTargets": ["password"]}
    ),
    "secretType not BASIC": body(secretType="ADVANCED"),
    "secretType missing": body(secretType=...),
    "autoRotationYN missing": body(autoRotationYN=...),
    "autoRotationYN lower case": body(autoRotationYN="y"),
    "auto Y without period": "AUTO_NO_PERIOD",
    "auto Y without trigger": body(autoRotationYN="Y", autoRotationPeriod=30),
    "auto Y period 0": "AUTO:0",
    "auto Y period 731": "AUTO:731",
    "period not an integer": "AUTO:30.5",
    "unknown trigger": body(autoRotationYN="Y", autoRotationPeriod=30, triggerId="nope"),
    "protection key type missing": body(protectionKeyType=...),
    "protection key type unknown": body(protectionKeyType="KMS"),
    "user managed key without tag": body(protectionKeyType="USER_MANAGED_KEY"),
    "user managed key with unknown tag": body(protectionKeyType="USER_MANAGED_KEY", kmsKeyTag="x"),
    "key tag with DEFAULT": "DEFAULT_WITH_TAG",
    "boundary type unknown": body(kmsBoundaryType="LOCAL"),
}


def resolve(emu: Emulator, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, str):
        return dict(spec)
    trigger = emu.backend.register_trigger("rotation-trigger").trigger_id
    if spec == "AUTO_NO_PERIOD":
        return body(autoRotationYN="Y", triggerId=trigger)
    if spec == "DEFAULT_WITH_TAG":
        return body(kmsKeyTag=emu.backend.kms_keys[0].tag)
    period: Any = float(spec.split(":")[1]) if "." in spec else int(spec.split(":")[1])
    return body(autoRotationYN="Y", autoRotationPeriod=period, triggerId=trigger)


@pytest.mark.parametrize("case", list(ACCEPTED), ids=list(ACCEPTED))
def test_accepted(emu: Emulator, client: SecretManagerClient, case: str) -> None:
    data = post(client, resolve(emu, ACCEPTED[case]))["data"]
    assert data["secretStatus"] == "ENABLE"
    assert data["rotationPhase"] == "NONE"
    assert client.list_secrets().total_count == 1


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_refused(emu: Emulator, client: SecretManagerClient, case: str) -> None:
    with pytest.raises(BadRequest) as info:
        post(client, resolve(emu, REFUSED[case]))
    assert info.value.status == 400
    assert info.value.code == "INVALID_REQUEST"
    assert info.value.details  # says what to fix
    assert client.list_secrets().total_count == 0


def test_duplicate_name_is_refused(client: SecretManagerClient) -> None:
    post(client, body())
    with pytest.raises(BadRequest, match="already exists"):
        post(client, body())
    assert client.list_secrets().total_count == 1


def test_user_managed_key_shows_in_detail(emu: Emulator, client: SecretManagerClient) -> None:
    key = emu.backend.kms_keys[0]
    data = post(client, body(protectionKeyType="USER_MANAGED_KEY", kmsKeyTag=key.tag))["data"]
    detail = client.get_secret(data["secretId"])
    assert detail.protection_key is not None
    assert detail.protection_key.type is ProtectionKeyType.USER_MANAGED_KEY
    assert detail.protection_key.kms_key_tag == key.tag
    assert detail.protection_key.kms_key_name == key.name


def test_auto_rotation_create_answers_the_seed_fields(
    emu: Emulator, client: SecretManagerClient
) -> None:
    trigger = emu.backend.register_trigger("rot")
    data = post(
        client, body(autoRotationYN="Y", autoRotationPeriod=90, triggerId=trigger.trigger_id)
    )["data"]
    for field in (
        "secretId",
        "secretName",
        "secretStatus",
        "secretType",
        "memo",
        "region",
        "registerDate",
        "autoRotationYN",
        "autoRotationPeriod",
        "nextRotationDate",
        "rotationPhase",
        "trigger",
        "protectionKey",
    ):
        assert field in data, field
    assert data["trigger"]["id"] == trigger.trigger_id
    assert set(data["trigger"]) >= {"id", "name", "url"}
    assert data["nextRotationDate"] > data["registerDate"] + 89 * 86_400_000
