"""NCP API keys: the Sub Account and STS clients against the emulated APIs (both
generations, their limits and errors), the gateway's view of keys, and whole rotations of
an ``ncp-api-key`` secret, their failure paths and resumes, under the invariant: the sub
account accepts a stored pair at every instant, and never holds more than two active keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import Emulator
from emulator.subaccount import SubAccount
from rotation.ncp.errors import AuthenticationFailed, BadRequest, ClientError, Forbidden
from rotation.ncp.models import RotationPhase, SecretValue
from rotation.ncp.signing import Credentials
from rotation.ncp.sts import StsClient
from rotation.ncp.subaccount import SubAccountClient, limit_exceeded
from rotation.ncp.transport import SignedTransport
from tests.factories import FAST_RETRY, executed_job, invoke, job_token, rotate_via_trigger

TARGETS = ("accessKey", "secretKey")


@pytest.fixture
def sub(emu: Emulator) -> SubAccount:
    return emu.subaccounts.add_sub_account("app-keys")


@pytest.fixture(autouse=True)
def invariant(emu: Emulator) -> Iterator[None]:
    """Checked at every change of a key's state, whatever the test does: no sub account
    holds more than two active keys, and every ``ncp-api-key`` secret has a stored pair
    (active or pending) the gateway accepts."""
    problems: list[str] = []

    def check() -> None:
        for account in emu.subaccounts.accounts.values():
            if account.active_count > 2:
                problems.append(f"{account.login_id}: {account.active_count} active keys")
        with emu.backend.lock:
            chains = [dict(s.chain) for s in emu.backend.secrets.values()]
        for stages in chains:
            stored = [json.loads(stages[k]) for k in ("active", "pending") if stages.get(k)]
            mine = [v for v in stored if v.get("engine") == "ncp-api-key"]
            if mine and not any(works(emu, v) for v in mine):
                problems.append("a secret's stored pairs are all refused")

    emu.subaccounts.listeners.append(check)
    yield
    emu.subaccounts.listeners.remove(check)
    assert not problems, problems


def key_value(sub: SubAccount, pair: tuple[str, str]) -> dict[str, Any]:
    return {
        "engine": "ncp-api-key",
        "subAccountId": sub.sub_account_id,
        "accessKey": pair[0],
        "secretKey": pair[1],
    }


def target_params(emu: Emulator, **extra: Any) -> dict[str, Any]:
    return {"subAccountEndpoint": emu.base_url, "stsEndpoint": emu.base_url, **extra}


def works(emu: Emulator, value: SecretValue | dict[str, Any] | None) -> bool:
    """Does the gateway accept this stored pair now?"""
    if value is None:
        return False
    return emu.subaccounts.secret_for(value["accessKey"]) == value["secretKey"]


def states(sub: SubAccount) -> dict[str, bool]:
    return {k.access_key: k.active for k in sub.keys}


# -- the clients -------------------------------------------------------------------------


def test_v2_client_lists_creates_changes_and_deletes(emu: Emulator, sub: SubAccount) -> None:
    first, _ = emu.subaccounts.issue_key(sub.sub_account_id)
    client = SubAccountClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        made = client.create_key(sub.sub_account_id)
        assert made.access_key.startswith("ncp_iam_") and len(made.access_key) == 28
        assert "secret" not in repr(made).lower() or made.secret_key not in repr(made)
        listed = {k.access_key: k.active for k in client.list_keys(sub.sub_account_id)}
        assert listed == {first: True, made.access_key: True}
        with pytest.raises(BadRequest) as third:
            client.create_key(sub.sub_account_id)
        assert limit_exceeded(third.value) and third.value.code == "LimitExceeded"
        with pytest.raises(BadRequest, match="disable it first"):
            client.delete_key(sub.sub_account_id, made.access_key)
        client.set_active(sub.sub_account_id, made.access_key, False)
        client.set_active(sub.sub_account_id, made.access_key, False)  # K8: no harm
        client.delete_key(sub.sub_account_id, made.access_key)
        assert [k.access_key for k in client.list_keys(sub.sub_account_id)] == [first]
        assert client.generation == "v2"
    finally:
        client.close()
    assert {r.status for r in emu.stats.requests if r.operation == "create_access_key"} == {
        201, 400,
    }  # fmt: skip
    assert {r.status for r in emu.stats.requests if r.operation == "delete_access_key"} >= {204}


def test_the_client_falls_back_to_v1_where_v2_is_not_served(emu: Emulator, sub: SubAccount) -> None:
    emu.subaccounts.v2_enabled = False
    emu.subaccounts.issue_key(sub.sub_account_id)
    client = SubAccountClient(emu.credentials, endpoint=emu.base_url, retry=FAST_RETRY)
    try:
        made = client.create_key(sub.sub_account_id)
        assert client.generation == "v1"
        with pytest.raises(ClientError) as third:
            client.create_key(sub.sub_account_id)
        assert third.value.status == 409 and limit_exceeded(third.value)
        client.set_active(sub.sub_account_id, made.access_key, False)
        client.delete_key(sub.sub_account_id, made.access_key)  # v1: the key in a JSON body
        assert len(client.list_keys(sub.sub_account_id)) == 1
    finally:
        client.close()
    assert emu.stats.calls["create_access_key"] == 1  # asked once, answered 404 300
    assert emu.stats.calls["create_access_key_v1"] == 2
    # A client told to use v2 does not fall back: the gateway's 404 is the answer.
    pinned = SubAccountClient(emu.credentials, endpoint=emu.base_url, generation="v2")
    with pinned, pytest.raises(ClientError) as missing:
        pinned.list_keys(sub.sub_account_id)
    assert missing.value.status == 404 and missing.value.code == "300"


def test_disabled_and_deleted_keys_are_refused_like_unknown_ones(
    emu: Emulator, sub: SubAccount
) -> None:
    access, secret = emu.subaccounts.issue_key(sub.sub_account_id)
    pair = Credentials(access, secret)

    def refusal(credentials: Credentials) -> tuple[int, str, str]:
        transport = SignedTransport(emu.base_url, credentials)
        try:
            with pytest.raises(AuthenticationFailed) as refused:
                transport.request("get_caller_identity", "GET", "/api/v1/caller-identity")
        finally:
            transport.close()
        return refused.value.status, refused.value.code, refused.value.details

    with StsClient(pair, endpoint=emu.base_url) as sts:
        who = sts.caller_identity()
    assert (who.id, who.user_type) == (sub.sub_account_id, "Sub") and who.login_alias
    unknown = refusal(Credentials("ncp_iam_" + "x" * 20, secret))
    with SubAccountClient(emu.credentials, endpoint=emu.base_url) as client:
        client.set_active(sub.sub_account_id, access, False)
        assert refusal(pair) == unknown
        client.delete_key(sub.sub_account_id, access)
        assert refusal(pair) == unknown
    with StsClient(emu.credentials, endpoint=emu.base_url) as sts:
        assert sts.caller_identity().main_account


def test_a_new_key_works_only_after_the_propagation_delay(emu: Emulator, sub: SubAccount) -> None:
    emu.subaccounts.propagation_seconds = 0.6
    with SubAccountClient(emu.credentials, endpoint=emu.base_url) as client:
        made = client.create_key(sub.sub_account_id)
    started = time.monotonic()
    with StsClient(Credentials(made.access_key, made.secret_key), endpoint=emu.base_url) as sts:
        with pytest.raises(AuthenticationFailed):
            sts.caller_identity()
        while time.monotonic() - started < 5:
            try:
                sts.caller_identity()
                break
            except AuthenticationFailed:
                time.sleep(0.05)
    assert 0.5 <= time.monotonic() - started < 5


def test_policies_decide_what_a_sub_account_key_may_call(emu: Emulator) -> None:
    viewer = emu.subaccounts.add_sub_account("viewer", ("NCP_SECRETMANAGER_USER",))
    pair = Credentials(*emu.subaccounts.issue_key(viewer.sub_account_id))
    with emu.client() as main:
        sid = main.create_secret(
            __import__("rotation.ncp.admin_models", fromlist=["x"]).CreateSecretRequest(
                secret_name="viewer-ok", value={"password": "Initial-1"},
                rotation_targets=("password",),
            )
        ).secret_id  # fmt: skip
    from rotation.ncp.secretmanager import SecretManagerClient  # noqa: PLC0415

    with SecretManagerClient(pair, endpoint=emu.endpoint, retry=FAST_RETRY) as client:
        assert client.get_secret(sid).secret_name == "viewer-ok"  # a read: allowed
        with pytest.raises(Forbidden) as denied:
            client.execute_rotation_job(sid)
        assert denied.value.code == "FORBIDDEN"
    with SubAccountClient(pair, endpoint=emu.base_url) as keys, pytest.raises(Forbidden) as no:
        keys.list_keys(viewer.sub_account_id)
    assert no.value.code == "Forbidden"


# -- whole rotations -----------------------------------------------------------------------


def rotate(
    emu: Emulator, sub: SubAccount, value: dict[str, Any], **target: Any
) -> tuple[str, dict[str, Any]]:
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=value, targets=TARGETS)
    return sid, invoke(emu, sid, token, target=target_params(emu, **target))


def chain(emu: Emulator, sid: str) -> Any:
    with emu.client() as client:
        return client.get_secret_values(sid)


def test_a_key_pair_rotates_end_to_end_through_the_trigger(emu: Emulator, sub: SubAccount) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    value = key_value(sub, old)
    sid, activation = rotate_via_trigger(emu, value, targets=TARGETS, target=target_params(emu))
    assert activation.result is not None and activation.result["ok"], activation.logs
    found = chain(emu, sid)
    assert found.previous == value and found.active is not None
    new = found.active
    assert new["subAccountId"] == sub.sub_account_id and new["accessKey"] != old[0]
    assert works(emu, new) and not works(emu, found.previous)
    assert states(sub) == {old[0]: False, new["accessKey"]: True}  # disabled, kept
    assert sub.max_active == 2
    # The next rotation deletes the key two rotations old, and signs with the new one.
    with emu.client() as client:
        client.execute_rotation_job(sid)
    emu.wait_idle()
    again = chain(emu, sid)
    assert again.previous == new and works(emu, again.active)
    assert states(sub) == {new["accessKey"]: False, again.active["accessKey"]: True}
    assert sub.max_active == 2
    logs = "\n".join(line for a in emu.activations for line in a.logs)
    assert old[1] not in logs and new["secretKey"] not in logs


def test_two_active_keys_with_one_stored_nowhere_are_refused_clearly(
    emu: Emulator, sub: SubAccount
) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    stray, _ = emu.subaccounts.issue_key(sub.sub_account_id)
    before = states(sub)
    sid, result = rotate(emu, sub, key_value(sub, old))
    assert result["error"]["code"] == "NCP_KEY_SLOTS_FULL", result
    assert stray[-4:] in result["error"]["message"] and stray not in result["error"]["message"]
    assert result["job"] == "failed" and states(sub) == before
    assert emu.stats.calls["create_access_key"] == 0
    found = chain(emu, sid)
    assert found.pending is None and works(emu, found.active)


def test_stray_keys_disable_mode_frees_the_slot(emu: Emulator, sub: SubAccount) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    stray, _ = emu.subaccounts.issue_key(sub.sub_account_id)
    sid, result = rotate(emu, sub, key_value(sub, old), strayKeys="disable")
    assert result["ok"], result
    new = chain(emu, sid).active
    # The stray was disabled, then deleted by finish (stored nowhere); old kept disabled.
    assert states(sub) == {old[0]: False, new["accessKey"]: True}
    assert stray not in states(sub) and sub.max_active == 2


def test_a_previous_key_left_active_is_retired_first(emu: Emulator, sub: SubAccount) -> None:
    older = emu.subaccounts.issue_key(sub.sub_account_id)
    current = emu.subaccounts.issue_key(sub.sub_account_id)  # finish never disabled older
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(sub, older), targets=TARGETS)
        client.start_rotation_job(sid, token)
        client.update_pending_stage(sid, token, SecretValue(key_value(sub, current)))
        client.complete_rotation_job(sid, token)
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
    result = invoke(emu, sid, token, target=target_params(emu))
    assert result["ok"], result
    found = chain(emu, sid)
    assert found.previous["accessKey"] == current[0]
    # older was disabled before the create (never three active), then deleted by finish:
    # it is stored nowhere once the chain has shifted.
    assert states(sub) == {current[0]: False, found.active["accessKey"]: True}
    assert sub.max_active == 2


def test_a_refused_store_deletes_the_new_key_and_an_unknown_one_disables_it(
    emu: Emulator, sub: SubAccount
) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    emu.faults.add("update_pending_stage", status=400)
    sid, result = rotate(emu, sub, key_value(sub, old))
    assert not result["ok"] and result["job"] == "failed"
    assert states(sub) == {old[0]: True}  # created, then deleted
    assert emu.stats.calls["create_access_key"] == 1
    emu.faults.add("update_pending_stage", status=503, times=1000)
    with emu.client() as client:
        client.retry_rotation_job(sid)
        token = job_token(client, sid)
    result = invoke(emu, sid, token, target=target_params(emu))
    emu.faults.clear()
    assert not result["ok"]
    made = [k for k in states(sub) if k != old[0]]
    assert len(made) == 1 and states(sub) == {old[0]: True, made[0]: False}  # kept, disabled
    # A later rotation completes and deletes the disabled leftover.
    with emu.client() as client:
        if client.get_secret(sid).rotation_phase is RotationPhase.ROTATING:
            result = invoke(emu, sid, token, target=target_params(emu))
        else:
            client.retry_rotation_job(sid)
            result = invoke(emu, sid, job_token(client, sid), target=target_params(emu))
    assert result["ok"], result
    assert made[0] not in states(sub) and len(states(sub)) == 2


def test_a_lost_create_answer_disables_that_key_and_creates_again(
    emu: Emulator, sub: SubAccount
) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    emu.faults.add("create_access_key", lose_response=True)
    sid, result = rotate(emu, sub, key_value(sub, old))
    assert result["ok"], result
    assert emu.stats.calls["create_access_key"] == 2
    new = chain(emu, sid).active
    # The lost key was disabled at once and deleted by finish; old is disabled, kept.
    assert states(sub) == {old[0]: False, new["accessKey"]: True} and sub.max_active == 2


def test_a_resume_reuses_a_stored_pending_pair_that_works(emu: Emulator, sub: SubAccount) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    emu.faults.add("complete_rotation_job", status=503, times=1000)
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(sub, old), targets=TARGETS)
    first = invoke(emu, sid, token, target=target_params(emu), timeoutSeconds=4)
    emu.faults.clear()
    assert first["job"] == "running" and first["leftForRetry"], first
    pending = chain(emu, sid).pending
    assert works(emu, pending)
    with emu.client() as client:
        token = job_token(client, sid)
    emu.stats.reset()
    result = invoke(emu, sid, token, target=target_params(emu))
    assert result["ok"] and result["outcome"] == "resumed", result
    assert emu.stats.calls["create_access_key"] == 0
    assert chain(emu, sid).active == pending and states(sub)[old[0]] is False


def test_a_stored_pending_key_that_is_gone_is_replaced(emu: Emulator, sub: SubAccount) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    gone = emu.subaccounts.issue_key(sub.sub_account_id)
    with SubAccountClient(emu.credentials, endpoint=emu.base_url) as client:
        client.set_active(sub.sub_account_id, gone[0], False)
        client.delete_key(sub.sub_account_id, gone[0])
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(sub, old), targets=TARGETS)
        client.start_rotation_job(sid, token)
        client.update_pending_stage(sid, token, SecretValue(key_value(sub, gone)))
    result = invoke(emu, sid, token, target=target_params(emu))
    assert result["ok"] and result["outcome"] == "rotated", result
    new = chain(emu, sid).active
    assert new["accessKey"] not in (old[0], gone[0]) and works(emu, new)


def test_a_slow_new_key_is_waited_for(emu: Emulator, sub: SubAccount) -> None:
    emu.subaccounts.propagation_seconds = 1.0
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    sid, result = rotate(emu, sub, key_value(sub, old))
    assert result["ok"], result
    assert emu.stats.calls["get_caller_identity"] >= 3  # refused, then accepted
    assert works(emu, chain(emu, sid).active)


def test_a_new_key_that_never_works_is_rolled_back(emu: Emulator, sub: SubAccount) -> None:
    emu.subaccounts.propagation_seconds = 30.0
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    sid, result = rotate(emu, sub, key_value(sub, old), settleSeconds=1)
    assert result["error"]["code"] == "TARGET_TEST_FAILED" and result["job"] == "failed"
    found = chain(emu, sid)
    assert works(emu, found.active)
    assert states(sub)[found.pending["accessKey"]] is False  # disabled, not deleted


def test_the_v1_api_rotates_too(emu: Emulator, sub: SubAccount) -> None:
    emu.subaccounts.v2_enabled = False
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    sid, result = rotate(emu, sub, key_value(sub, old))
    assert result["ok"], result
    assert emu.stats.calls["create_access_key_v1"] == 1
    assert emu.stats.calls["change_access_key_status_v1"] == 1
    assert works(emu, chain(emu, sid).active)


def test_a_key_pair_without_the_policy_is_refused_before_any_change(emu: Emulator) -> None:
    target_sub = emu.subaccounts.add_sub_account("app")
    old = emu.subaccounts.issue_key(target_sub.sub_account_id)
    rotator = emu.subaccounts.add_sub_account("rotator", ("NCP_SECRETMANAGER_MANAGER",))
    access, secret = emu.subaccounts.issue_key(rotator.sub_account_id)
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(target_sub, old), targets=TARGETS)
    result = invoke(emu, sid, token, target=target_params(emu), accessKey=access, secretKey=secret)
    assert result["error"]["code"] == "TARGET_PERMISSION_DENIED", result
    assert "NCP_SUB_ACCOUNT_MANAGER" in result["error"]["message"]
    assert result["job"] == "failed" and states(target_sub) == {old[0]: True}


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ({"strayKeys": "delete"}, "strayKeys"),
        ({"apiGeneration": "v3"}, "apiGeneration"),
        ({"settleSeconds": 0}, "settleSeconds"),
        ({"action": {"name": "x", "extra": 1}}, "action"),
        ({"accessKey": "x"}, "secret value"),
        ({"subAccountEndpoint": "ftp://x"}, "subAccountEndpoint"),
        ({"colour": "red"}, "unknown target settings"),
    ],
)
def test_bad_settings_change_nothing(
    emu: Emulator, sub: SubAccount, target: dict[str, Any], words: str
) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(sub, old), targets=TARGETS)
    emu.stats.reset()
    result = invoke(emu, sid, token, target={**target_params(emu), **target})
    assert result["error"]["code"] == "INVALID_TARGET" and words in result["error"]["message"]
    assert not {"create_access_key", "list_access_keys"} & set(emu.stats.calls)
    assert states(sub) == {old[0]: True}


def test_rotation_targets_must_be_both_keys(emu: Emulator, sub: SubAccount) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(sub, old), targets=("secretKey",))
    result = invoke(emu, sid, token, target=target_params(emu))
    assert result["error"]["code"] == "INVALID_TARGET" and "exactly" in result["error"]["message"]
    assert states(sub) == {old[0]: True}


# -- rotation check: who the action is, and whether it may -----------------------------


def run_checks(emu: Emulator, sid: str, pair: Credentials) -> dict[str, Any]:
    from rotation.check import run_check  # noqa: PLC0415
    from rotation.ncp.secretmanager import SecretManagerClient  # noqa: PLC0415
    from rotation.settings import Settings  # noqa: PLC0415

    settings = Settings.load(
        {
            "secretId": sid, "accessKey": pair.access_key, "secretKey": pair.secret_key,
            "secretManagerEndpoint": emu.endpoint, "target": target_params(emu),
        },
        env={}, need_job=False,
    )  # fmt: skip
    with SecretManagerClient(pair, endpoint=emu.endpoint) as client:
        return {line.name: line for line in run_check(settings, client)}


def test_check_says_who_the_action_is_and_which_policy_is_missing(emu: Emulator) -> None:
    app = emu.subaccounts.add_sub_account("app")
    old = emu.subaccounts.issue_key(app.sub_account_id)
    rotator = emu.subaccounts.add_sub_account("rotator", ("NCP_SECRETMANAGER_MANAGER",))
    pair = Credentials(*emu.subaccounts.issue_key(rotator.sub_account_id))
    with emu.client() as client:
        sid, _ = executed_job(emu, client, value=key_value(app, old), targets=TARGETS)
    emu.stats.reset()
    lines = run_checks(emu, sid, pair)
    assert lines["identity"].status.value == "ok"
    assert f"Sub account {rotator.sub_account_id}" in lines["identity"].message
    assert lines["login"].status.value == "ok"  # the active pair works
    access = lines["access"]
    assert access.status.value == "fail" and "TARGET_PERMISSION_DENIED" in access.message
    assert "NCP_SUB_ACCOUNT_MANAGER" in access.message
    assert not {"create_access_key", "change_access_key_status", "delete_access_key"} & set(
        emu.stats.calls
    )
    # With the policy, the access line counts the keys; the main account's pair warns.
    rotator.policies.add("NCP_SUB_ACCOUNT_MANAGER")
    lines = run_checks(emu, sid, pair)
    assert lines["access"].status.value == "ok" and "1 active" in lines["access"].message
    main = run_checks(emu, sid, emu.credentials)
    assert main["identity"].status.value == "warn" and "main account" in main["identity"].message


@pytest.mark.parametrize("generator", ["service", "service-random"])
def test_a_service_generator_never_makes_the_pair(
    emu: Emulator, sub: SubAccount, generator: str
) -> None:
    # Secret Manager's generated strings are no key pair: the target makes it either way.
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    with emu.client() as client:
        sid, token = executed_job(emu, client, value=key_value(sub, old), targets=TARGETS)
    result = invoke(emu, sid, token, target=target_params(emu), policy={"generator": generator})
    assert result["ok"], result
    assert emu.stats.calls["add_pending_stage"] == emu.stats.calls["generate_random_secret"] == 0
    assert works(emu, chain(emu, sid).active)


def test_after_a_rollback_rotation_job_the_stored_active_key_works_again(
    emu: Emulator, sub: SubAccount
) -> None:
    old = emu.subaccounts.issue_key(sub.sub_account_id)
    sid, result = rotate(emu, sub, key_value(sub, old))
    assert result["ok"], result
    newer = chain(emu, sid).active["accessKey"]
    with emu.client() as client:
        client.rollback_rotation_job(sid)  # Secret Manager only: active is the disabled key
        assert not works(emu, client.get_secret_values(sid).active)
        client.execute_rotation_job(sid)
        token = job_token(client, sid)
    result = invoke(emu, sid, token, target=target_params(emu))
    # The old key is enabled again first; the newer one, stored nowhere now, holds the
    # second slot, and the default is to refuse rather than disable it.
    assert result["error"]["code"] == "NCP_KEY_SLOTS_FULL", result
    assert works(emu, chain(emu, sid).active) and states(sub)[newer] is True
    with emu.client() as client:
        client.retry_rotation_job(sid)
        token = job_token(client, sid)
    result = invoke(emu, sid, token, target=target_params(emu, strayKeys="disable"))
    assert result["ok"], result
    assert newer not in states(sub) and sub.max_active == 2
