"""Every client method against the emulator over real HTTP: the happy path of each
documented operation, and the state rules that make the next one legal or not."""

from __future__ import annotations

import inspect
import json

import pytest

from emulator import Emulator
from rotation.ncp.errors import BadRequest, InvalidState, NotFound
from rotation.ncp.models import (
    ProtectionKeyType,
    RandomSecretOptions,
    RotationPhase,
    SecretStatus,
    SecretValue,
    Stage,
)
from rotation.ncp.secretmanager import SecretManagerClient
from tests.factories import create_secret, job_token, rotatable_secret, started_job, unique_name

ALL_OPERATIONS = {
    "list_secrets", "get_secret", "get_secret_values", "get_secret_stage_value",
    "get_secret_logs", "list_triggers", "list_protection_keys", "create_secret",
    "update_secret_values", "update_secret_stage_value", "update_secret_memo",
    "update_protection_key", "enable_secret", "disable_secret", "request_secret_deletion",
    "cancel_secret_deletion", "delete_secret", "enable_auto_rotation", "disable_auto_rotation",
    "update_rotation_period", "update_rotation_trigger", "delete_rotation_trigger",
    "execute_rotation_job", "retry_rotation_job", "cancel_rotation_job",
    "rollback_rotation_job", "start_rotation_job", "add_pending_stage", "update_pending_stage",
    "generate_random_secret", "complete_rotation_job", "fail_rotation_job",
}  # fmt: skip


def test_the_client_has_exactly_the_32_documented_operations() -> None:
    public = {
        name
        for name, member in inspect.getmembers(SecretManagerClient, inspect.isfunction)
        if not name.startswith("_") and name not in {"close", "iter_secrets", "bounded", "at"}
    }
    assert public == ALL_OPERATIONS
    assert len(ALL_OPERATIONS) == 32


def test_emulator_has_a_route_for_every_operation(emu: Emulator) -> None:
    operations = {route.operation for route in emu.routers[0].routes}  # Secret Manager's
    client_to_route = {
        "list_secrets": "get_secret_list",
        "get_secret": "get_secret_detail",
        "get_secret_values": "get_secret_value",
        "list_triggers": "get_trigger_list",
        "list_protection_keys": "get_protection_key_list",
        "update_secret_values": "update_secret_value",
    }
    assert {client_to_route.get(op, op) for op in ALL_OPERATIONS} == operations


def test_create_then_detail_round_trip(client: SecretManagerClient, emu: Emulator) -> None:
    created = create_secret(client, memo="app database")
    detail = client.get_secret(created.secret_id)
    assert detail == created
    assert detail.status is SecretStatus.ENABLE
    assert detail.rotation_phase is RotationPhase.NONE
    assert detail.secret_type == "BASIC" and detail.region == "KR"
    assert detail.memo == "app database"
    assert detail.register_date is not None and detail.register_date > 1_700_000_000_000
    assert detail.auto_rotation is False and detail.next_rotation_date is None
    assert detail.protection_key is not None
    assert detail.protection_key.type is ProtectionKeyType.DEFAULT


def test_list_pages_and_iterates(client: SecretManagerClient) -> None:
    ids = {create_secret(client).secret_id for _ in range(23)}
    first = client.list_secrets()
    assert (first.total_count, first.total_pages, len(first.secrets)) == (23, 2, 20)
    second = client.list_secrets(2)
    assert len(second.secrets) == 3 and second.current_page == 2
    assert {s.secret_id for s in client.iter_secrets()} == ids
    with pytest.raises(BadRequest):
        client.list_secrets(0)


def test_values_and_stage_values(client: SecretManagerClient) -> None:
    secret = create_secret(client, value={"username": "app", "password": "pw-1-initial"})
    chain = client.get_secret_values(secret.secret_id)
    assert chain.active == {"username": "app", "password": "pw-1-initial"}
    assert chain.previous is None and chain.pending is None
    assert chain.rotation_targets == ("password",)
    active = client.get_secret_stage_value(secret.secret_id, Stage.ACTIVE)
    assert active.stage is Stage.ACTIVE and active.value == chain.active
    with pytest.raises(NotFound):
        client.get_secret_stage_value(secret.secret_id, Stage.PENDING)


def test_update_values_edits_only_the_stages_sent(client: SecretManagerClient) -> None:
    secret = create_secret(client, value={"username": "app", "password": "pw-1-initial"})
    sid = secret.secret_id
    chain = client.update_secret_values(
        sid,
        previous={"username": "app", "password": "old-pw"},
        pending=SecretValue({"username": "app", "password": "next-pw"}),
    )
    assert chain.active and chain.active.startswith("ncpkms:v1:")
    assert chain.previous and chain.pending
    values = client.get_secret_values(sid)
    assert values.active == {"username": "app", "password": "pw-1-initial"}
    assert values.previous == {"username": "app", "password": "old-pw"}
    assert values.pending == {"username": "app", "password": "next-pw"}
    client.update_secret_values(sid, pending="")  # an empty stage value deletes the stage
    assert client.get_secret_values(sid).pending is None
    with pytest.raises(BadRequest):
        client.update_secret_values(sid, active="")
    with pytest.raises(BadRequest):
        client.update_secret_values(sid, active={"username": "app"})  # target key missing
    with pytest.raises(ValueError, match="at least one stage"):
        client.update_secret_values(sid)


def test_update_stage_value_answers_ciphertext(client: SecretManagerClient) -> None:
    secret = create_secret(client)
    result = client.update_secret_stage_value(
        secret.secret_id, Stage.PREVIOUS, {"username": "app", "password": "older"}
    )
    assert result.stage is Stage.PREVIOUS
    assert result.value is not None and "older" not in result.value
    stage = client.get_secret_stage_value(secret.secret_id, Stage.PREVIOUS)
    assert stage.value["password"] == "older"


def test_memo_and_protection_key(client: SecretManagerClient) -> None:
    secret = create_secret(client)
    client.update_secret_memo(secret.secret_id, "new memo")
    assert client.get_secret(secret.secret_id).memo == "new memo"
    default, *keys = client.list_protection_keys()
    # the documented example: the service's own key first, with keyId 0 and no tag
    assert default.key_name == "Secret Manager Default Key" and default.key_tag is None
    assert keys and keys[0].key_tag and keys[0].key_status == "ENABLE"
    assert keys[0].kms_boundary_type == "ISOLATED" and keys[0].key_type == "AES256"
    assert not keys[0].notes  # the emulator answers exactly the documented fields
    key = client.update_protection_key(
        secret.secret_id,
        ProtectionKeyType.USER_MANAGED_KEY,
        kms_key_tag=keys[0].key_tag,
        kms_boundary_type="ISOLATED",
    )
    assert key.type is ProtectionKeyType.USER_MANAGED_KEY
    assert key.kms_key_name == keys[0].key_name
    with pytest.raises(BadRequest, match="kmsBoundaryType"):
        client.update_protection_key(secret.secret_id, ProtectionKeyType.DEFAULT)
    with pytest.raises(BadRequest, match="kmsKeyTag"):
        client.update_protection_key(
            secret.secret_id,
            ProtectionKeyType.USER_MANAGED_KEY,
            kms_key_tag="nope",
            kms_boundary_type="ISOLATED",
        )


def test_status_transitions_and_refusals(client: SecretManagerClient) -> None:
    sid = create_secret(client).secret_id
    with pytest.raises(InvalidState):
        client.enable_secret(sid)  # already ENABLE
    assert client.disable_secret(sid).status is SecretStatus.DISABLE
    with pytest.raises(InvalidState):
        client.get_secret_values(sid)  # suspended: not usable
    assert client.enable_secret(sid).status is SecretStatus.ENABLE
    change = client.request_secret_deletion(sid)
    assert change.status is SecretStatus.REVOKE
    assert change.expected_destroy_date is not None
    assert client.get_secret(sid).expected_destroy_date == change.expected_destroy_date
    for refused in (
        lambda: client.get_secret_values(sid),
        lambda: client.get_secret_stage_value(sid, Stage.ACTIVE),
        lambda: client.update_secret_values(sid, active={"password": "x"}),
        lambda: client.disable_secret(sid),
        lambda: client.execute_rotation_job(sid),
    ):
        with pytest.raises(InvalidState):
            refused()
    assert client.cancel_secret_deletion(sid).status is SecretStatus.DISABLE
    assert client.get_secret(sid).expected_destroy_date is None
    with pytest.raises(InvalidState):
        client.delete_secret(sid)  # only REVOKE secrets
    client.request_secret_deletion(sid)
    client.delete_secret(sid)
    assert client.get_secret(sid).status is SecretStatus.DESTROYED
    assert sid not in {s.secret_id for s in client.iter_secrets()}
    with pytest.raises(NotFound):
        client.get_secret("0" * 64)


def test_auto_rotation_settings(client: SecretManagerClient, emu: Emulator) -> None:
    sid = create_secret(client).secret_id
    with pytest.raises(BadRequest, match="triggerId"):
        client.enable_auto_rotation(sid)
    trigger = emu.backend.register_trigger(unique_name("t"))
    settings = client.enable_auto_rotation(sid, trigger_id=trigger.trigger_id)
    assert settings.auto_rotation is True and settings.auto_rotation_period == 90
    assert settings.trigger is not None and settings.trigger.id == trigger.trigger_id
    assert settings.next_rotation_date is not None
    assert settings.next_rotation_date % 3_600_000 == 0
    updated = client.update_rotation_period(sid, 30)
    assert updated.auto_rotation_period == 30
    assert updated.next_rotation_date is not None
    assert updated.next_rotation_date < settings.next_rotation_date
    for period in (0, 731):
        with pytest.raises(BadRequest):
            client.update_rotation_period(sid, period)
    other = emu.backend.register_trigger(unique_name("t"))
    with pytest.raises(InvalidState):
        client.update_rotation_trigger(sid, other.trigger_id)  # not while auto rotation is on
    with pytest.raises(InvalidState):
        client.delete_rotation_trigger(sid)
    off = client.disable_auto_rotation(sid)
    assert off.auto_rotation is False and off.next_rotation_date is None
    with pytest.raises(InvalidState):
        client.update_rotation_period(sid, 30)
    moved = client.update_rotation_trigger(sid, other.trigger_id)
    assert moved.trigger is not None and moved.trigger.id == other.trigger_id
    triggers = {t.id: t for t in client.list_triggers()}
    assert sid in triggers[other.trigger_id].linked_secrets
    assert sid not in triggers[trigger.trigger_id].linked_secrets  # one trigger per secret
    client.delete_rotation_trigger(sid)
    assert client.get_secret(sid).trigger is None
    with pytest.raises(InvalidState):
        client.execute_rotation_job(sid)  # no trigger, nothing to run


def test_trigger_list_shows_links_and_actions(client: SecretManagerClient, emu: Emulator) -> None:
    emu.add_callable_trigger("rotate-fn", lambda params: {"ok": True})
    secret = create_secret(
        client,
        trigger_id=emu.backend.trigger_by_name("rotate-fn").trigger_id,  # type: ignore[union-attr]
    )
    [trigger] = client.list_triggers()
    assert trigger.name == "rotate-fn"
    assert trigger.linked_secrets == (secret.secret_id,)
    assert [a.name for a in trigger.actions] == ["rotate-fn-action"]
    assert trigger.page_url and trigger.page_url.endswith("/rotate-fn")


def test_a_whole_job_shifts_the_chain(client: SecretManagerClient, emu: Emulator) -> None:
    secret = rotatable_secret(
        emu, client, value={"username": "app", "password": "pw-1", "host": "db"}
    )
    sid = secret.secret_id
    client.execute_rotation_job(sid)
    # Execute only raises the job; Start is what makes it "Rotation in progress" (A1, docs)
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.NONE
    assert detail.status is SecretStatus.ENABLE
    token = job_token(client, sid)
    with pytest.raises(InvalidState):
        client.add_pending_stage(sid, token)  # not started yet
    with pytest.raises(InvalidState):
        client.execute_rotation_job(sid)  # the raised job is live although not started
    chain = client.start_rotation_job(sid, token)
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.ROTATING
    assert detail.status is SecretStatus.ROTATING
    assert chain.active == {"username": "app", "password": "pw-1", "host": "db"}
    assert chain.rotation_targets == ("password",)
    random = client.generate_random_secret(
        sid, token, RandomSecretOptions(length=20, include_space=False)
    )
    assert len(random) == 20 and " " not in random
    pending = client.update_pending_stage(sid, token, chain.active.replace({"password": random}))
    assert pending["password"] == random and pending["host"] == "db"
    assert client.start_rotation_job(sid, token).pending == pending  # start is repeatable
    client.complete_rotation_job(sid, token)
    after = client.get_secret_values(sid)
    assert after.previous == chain.active
    assert after.active == pending
    assert after.pending is None
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.NONE
    assert detail.status is SecretStatus.ENABLE
    assert detail.last_rotation_date is not None
    with pytest.raises(InvalidState):
        client.complete_rotation_job(sid, token)  # a finished job's token is dead


def test_add_pending_stage_generates_only_the_targets(
    client: SecretManagerClient, emu: Emulator
) -> None:
    sid, token = started_job(
        emu,
        client,
        value={"username": "app", "password": "pw-1", "apiKey": "k-1"},
        targets=("password", "apiKey"),
    )
    pending = client.add_pending_stage(sid, token)
    assert pending["username"] == "app"
    assert pending["password"] != "pw-1" and pending["apiKey"] != "k-1"
    assert len(pending["password"]) == 12 and " " not in pending["password"]


def test_pending_value_may_change_only_targets(client: SecretManagerClient, emu: Emulator) -> None:
    sid, token = started_job(emu, client, value={"username": "app", "password": "pw"})
    for bad in (
        {"username": "other", "password": "new"},  # non-target changed
        {"password": "new"},  # key dropped
        {"username": "app", "password": "new", "extra": "x"},  # key added
        {"username": "app", "password": ""},  # empty target
    ):
        with pytest.raises(BadRequest):
            client.update_pending_stage(sid, token, bad)
    assert client.get_secret_values(sid).pending is None  # nothing changed


def test_fail_then_retry_mints_a_new_token(client: SecretManagerClient, emu: Emulator) -> None:
    sid, first = started_job(emu, client)
    client.update_pending_stage(sid, first, {"username": "app", "password": "cand-1"})
    with pytest.raises(InvalidState):
        client.retry_rotation_job(sid)  # nothing failed yet
    client.fail_rotation_job(sid, first)
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert detail.status is SecretStatus.ENABLE
    assert client.get_secret_values(sid).pending == {"username": "app", "password": "cand-1"}
    client.retry_rotation_job(sid)
    second = job_token(client, sid)
    assert second != first
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED  # till Start
    with pytest.raises(InvalidState):
        client.retry_rotation_job(sid)  # the failed job is being retried already
    with pytest.raises(InvalidState):
        client.start_rotation_job(sid, first)
    with pytest.raises(NotFound):
        client.start_rotation_job(sid, "no-such-token")
    chain = client.start_rotation_job(sid, second)
    assert chain.pending == {"username": "app", "password": "cand-1"}  # the retry finds it
    client.complete_rotation_job(sid, second)
    assert client.get_secret_values(sid).active == {"username": "app", "password": "cand-1"}


def test_cancel_discards_pending_and_kills_the_token(
    client: SecretManagerClient, emu: Emulator
) -> None:
    sid = rotatable_secret(emu, client).secret_id
    with pytest.raises(InvalidState):
        client.cancel_rotation_job(sid)
    client.execute_rotation_job(sid)
    token = job_token(client, sid)
    with pytest.raises(InvalidState):
        client.execute_rotation_job(sid)  # one job at a time
    client.start_rotation_job(sid, token)
    client.update_pending_stage(sid, token, {"username": "app", "password": "cand"})
    with pytest.raises(InvalidState):
        client.update_secret_values(sid, active={"username": "app", "password": "x"})
    client.cancel_rotation_job(sid)
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE
    assert client.get_secret_values(sid).pending is None
    with pytest.raises(InvalidState):
        client.complete_rotation_job(sid, token)
    with pytest.raises(InvalidState):
        client.retry_rotation_job(sid)  # a cancelled job is not a failed one


def test_retry_only_retries_a_failed_job(client: SecretManagerClient, emu: Emulator) -> None:
    sid = rotatable_secret(emu, client).secret_id
    with pytest.raises(InvalidState):
        client.retry_rotation_job(sid)  # no job at all
    client.execute_rotation_job(sid)
    token = job_token(client, sid)
    with pytest.raises(InvalidState):
        client.retry_rotation_job(sid)  # raised, not failed
    client.start_rotation_job(sid, token)
    client.update_pending_stage(sid, token, {"username": "app", "password": "cand"})
    client.complete_rotation_job(sid, token)
    with pytest.raises(InvalidState):
        client.retry_rotation_job(sid)  # completed
    client.execute_rotation_job(sid)
    client.fail_rotation_job(sid, job_token(client, sid))  # failed before it started
    client.retry_rotation_job(sid)
    assert client.get_secret(sid).status is SecretStatus.ENABLE


def test_detail_can_answer_undocumented_spellings(
    client: SecretManagerClient, emu: Emulator
) -> None:
    sid = rotatable_secret(emu, client).secret_id
    emu.backend.phase_names["ROTATING"] = "JOB_IN_PROGRESS"
    emu.backend.status_names["ROTATING"] = "UPDATING"
    emu.backend.detail_extra["rotationJobId"] = "j-1"
    client.execute_rotation_job(sid)
    client.start_rotation_job(sid, job_token(client, sid))
    detail = client.get_secret(sid)
    assert detail.rotation_phase.value == "JOB_IN_PROGRESS" and not detail.rotation_phase.known
    assert detail.status.value == "UPDATING" and not detail.status.known
    assert detail.extra == {"rotationJobId": "j-1"}
    assert len(detail.notes) == 3
    [summary] = [s for s in client.list_secrets().secrets if s.secret_id == sid]
    assert summary.status.value == "UPDATING"


def test_rollback_goes_back_to_previous(client: SecretManagerClient, emu: Emulator) -> None:
    sid = rotatable_secret(emu, client, value={"username": "app", "password": "v1"}).secret_id
    with pytest.raises(InvalidState):
        client.rollback_rotation_job(sid)  # nothing to go back to
    client.execute_rotation_job(sid)
    token = job_token(client, sid)
    client.start_rotation_job(sid, token)
    client.update_pending_stage(sid, token, {"username": "app", "password": "v2"})
    client.complete_rotation_job(sid, token)
    client.rollback_rotation_job(sid)
    chain = client.get_secret_values(sid)
    assert chain.active == {"username": "app", "password": "v1"}
    assert chain.previous is None and chain.pending is None


def test_logs_filter_by_keyword_time_and_page(client: SecretManagerClient, emu: Emulator) -> None:
    sid = rotatable_secret(emu, client).secret_id
    client.update_secret_memo(sid, "m")
    client.execute_rotation_job(sid)
    everything = client.get_secret_logs(sid)
    assert everything.total_count >= 2
    kinds = [e["actionType"] for e in everything.entries]
    assert kinds[0] == "CREATE_SECRET" and "EXECUTE_ROTATION" in kinds
    only = client.get_secret_logs(sid, keyword="execute")
    assert [e["actionType"] for e in only.entries] == ["EXECUTE_ROTATION"]
    first_ts = everything.entries[0]["timestamp"]
    assert client.get_secret_logs(sid, timestamp_to=first_ts - 1).total_count == 0
    page = client.get_secret_logs(sid, page_no=2, page_size=1)
    assert page.page_size == 1 and len(page.entries) == 1 and page.current_page == 2
    with pytest.raises(BadRequest):
        client.get_secret_logs(sid, page_size=0)


def test_generate_random_secret_flags_and_bounds(
    client: SecretManagerClient, emu: Emulator
) -> None:
    sid, token = started_job(emu, client)
    default = client.generate_random_secret(sid, token)
    assert len(default) == 12 and " " in default  # includeSpace defaults to true
    digits = client.generate_random_secret(
        sid,
        token,
        RandomSecretOptions(
            length=32,
            exclude_punctuation=True,
            exclude_uppercase=True,
            exclude_lowercase=True,
            include_space=False,
        ),
    )
    assert len(digits) == 32 and digits.isdigit()
    no_vowels = client.generate_random_secret(
        sid, token, RandomSecretOptions(length=32, exclude_characters="aeiouAEIOU")
    )
    assert not set(no_vowels) & set("aeiouAEIOU")
    for bad in (
        RandomSecretOptions(length=4),
        RandomSecretOptions(length=33),
        RandomSecretOptions(
            exclude_numbers=True,
            exclude_punctuation=True,
            exclude_uppercase=True,
            exclude_lowercase=True,
            include_space=False,
        ),
        RandomSecretOptions(length=5, exclude_characters="0123456789"),
    ):
        with pytest.raises(BadRequest):
            client.generate_random_secret(sid, token, bad)


def test_generate_random_secret_requires_length_and_booleans(
    client: SecretManagerClient, emu: Emulator
) -> None:
    sid, token = started_job(emu, client)
    transport = client.transport
    for body in ({}, {"length": "12"}, {"length": 12, "includeSpace": "false"}):
        with pytest.raises(BadRequest):
            transport.request(
                "generate_random_secret",
                "POST",
                "/action/v1/secrets/{secretId}/jobs/{jobToken}/generate-random-secret",
                path_params={"secretId": sid, "jobToken": token},
                json_body=body,
            )


def test_values_are_never_echoed_in_update_answers(
    client: SecretManagerClient, emu: Emulator
) -> None:
    secret = create_secret(client, value={"username": "app", "password": "do-not-echo-1"})
    emu.stats.reset()
    raw = client.transport.request(
        "update_secret_value",
        "PUT",
        "/api/v1/secrets/{secretId}/values",
        path_params={"secretId": secret.secret_id},
        json_body={"active": json.dumps({"username": "app", "password": "do-not-echo-2"})},
    )
    assert "do-not-echo" not in json.dumps(raw)
