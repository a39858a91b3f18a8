"""The rotation against a target that can refuse: the webhook receiver over real HTTPS,
and a scripted target for the cases no real system produces on demand.

What every test here defends: at every instant the target accepts a credential Secret
Manager stores (active or pending), and ``fail`` is reported only once the target is seen
accepting active again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from emulator import Emulator
from rotation.ncp.models import RotationPhase, SecretValueUnsupported, Stage
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.targets import Change
from rotation.targets.base import TargetSetFailed, TargetUnreachable
from tests.e2e.clirun import cli
from tests.factories import (
    Scripted,
    create_secret,
    executed_job,
    invoke,
    job_token,
    rotate_with,
    run_scripted,
    started_job,
)
from tests.webhook_receiver import CredentialService, running

HMAC_KEY = "handler-webhook-hmac-key-01"
VALUE = {"apiKey": "active-api-key-000001", "account": "reporting"}


@pytest.fixture
def receiver(ca: trustme.CA) -> Any:
    with running(ca, HMAC_KEY, {"apiKey": VALUE["apiKey"]}) as service:
        yield service


def execute(emu: Emulator, client: SecretManagerClient) -> tuple[str, str]:
    return executed_job(emu, client, value=dict(VALUE), targets=("apiKey",))


def test_webhook_rotation_end_to_end(
    emu: Emulator, client: SecretManagerClient, receiver: CredentialService, ca_file: str
) -> None:
    sid, token = execute(emu, client)
    result = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert result["ok"], result
    assert [s["step"] for s in result["steps"]][3:] == [
        "pending", "probe", "set", "test", "complete", "verify", "finish",
    ]  # fmt: skip
    assert receiver.actions() == ["test", "set", "test", "finish"]
    assert all(r.valid for r in receiver.received)
    active = client.get_secret_values(sid).active
    assert active is not None
    assert receiver.accepted == {"apiKey": active["apiKey"]}  # the service takes the new key


def test_failed_test_rolls_back_then_reports_fail(
    emu: Emulator, client: SecretManagerClient, receiver: CredentialService, ca_file: str
) -> None:
    sid, token = execute(emu, client)
    receiver.answer_next("test", 401)  # the probe: pending is not in place yet
    receiver.answer_next("test", 401)  # the real test after set: refused
    result = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert result["ok"] is False
    assert result["error"]["code"] == "TARGET_TEST_FAILED"
    assert "leftForRetry" not in result
    assert receiver.actions() == ["test", "set", "test", "rollback", "test"]
    assert receiver.accepted == {"apiKey": VALUE["apiKey"]}  # active works again
    detail = client.get_secret(sid)
    assert detail.rotation_phase is RotationPhase.ROTATION_FAILED
    assert client.get_secret_values(sid).active == VALUE


def test_rollback_that_cannot_be_confirmed_leaves_the_job(
    emu: Emulator, client: SecretManagerClient, receiver: CredentialService, ca_file: str
) -> None:
    sid, token = execute(emu, client)
    receiver.answer_next("test", 401)  # probe pending
    receiver.answer_next("test", 401)  # test: refused
    receiver.answer_next("rollback", 500)  # rollback refused: the service keeps pending
    result = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert result["error"]["code"] == "ROTATION_INCOMPLETE"
    assert result["leftForRetry"] is True
    assert emu.stats.calls["fail_rotation_job"] == 0
    pending = client.get_secret_values(sid).pending
    assert pending is not None
    assert receiver.accepted == {"apiKey": pending["apiKey"]}  # stored as pending: not lost
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATING
    again = invoke(emu, sid, token, target=receiver.target(ca_file))
    assert again["ok"] and again["outcome"] == "resumed", again
    assert [s["status"] for s in again["steps"] if s["step"] == "set"] == ["skipped"]


# -- a scripted target (tests/factories.py), for states no real system produces on demand


def test_set_that_dies_midway_is_rolled_back(emu: Emulator, client: SecretManagerClient) -> None:
    target = Scripted(accepted={"initial-Pw-123"}, raise_on={"set": TargetSetFailed("lost it")})
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "TARGET_SET_FAILED"
    assert target.calls == ["probe-pending", "set", "rollback", "probe-active", "close"]
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_an_unexpected_exception_in_a_target_still_recovers(
    emu: Emulator, client: SecretManagerClient
) -> None:
    target = Scripted(accepted={"initial-Pw-123"}, raise_on={"test": KeyError("driver bug")})
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "INTERNAL_ERROR"
    assert "rollback" in target.calls
    assert target.accepted == {"initial-Pw-123"}
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_unreachable_target_after_set_leaves_the_job(
    emu: Emulator, client: SecretManagerClient
) -> None:
    gone = TargetUnreachable("connection refused")
    target = Scripted(
        accepted={"initial-Pw-123"},
        raise_on={"test": gone, "rollback": gone, "probe-active": gone},
    )
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "ROTATION_INCOMPLETE"
    assert outcome.left_for_retry
    pending = client.get_secret_values(sid).pending
    assert pending is not None and target.accepted == {pending["password"]}
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATING


def test_probe_accepting_pending_skips_set(emu: Emulator, client: SecretManagerClient) -> None:
    class AlreadySet(Scripted):
        """Already holds whatever pending value it is shown, and refuses anything else."""

        def probe(self, change: Change, stage: Stage) -> bool:
            self.calls.append("probe")
            value = change.stage(stage)
            return value is not None and value["password"] in self.accepted

    target = AlreadySet(accepted=set())
    sid, token = started_job(emu, client, value={"username": "app", "password": "first-Pw-123"})
    left = {"username": "app", "password": "left-by-crash-123"}
    client.update_pending_stage(sid, token, left)
    target.accepted = {"left-by-crash-123"}  # the crashed run had set it
    outcome = rotate_with(emu, sid, token, target)
    assert outcome.ok and outcome.outcome == "resumed"
    assert "set" not in target.calls
    assert [s.status for s in outcome.steps if s.step == "set"] == ["skipped"]
    assert outcome.warnings == []


def test_a_target_that_accepts_any_password_is_never_trusted(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """PostgreSQL trust, a Redis nopass user: the probe says yes to everything."""

    class AcceptsAnything(Scripted):
        def probe(self, change: Change, stage: Stage) -> bool:
            self.calls.append("probe")
            return True

    target = AcceptsAnything(accepted=set())
    _, outcome = run_scripted(emu, client, target)
    assert outcome.ok
    assert "set" in target.calls
    assert [w["code"] for w in outcome.warnings] == ["TARGET_AUTH_NOT_ENFORCED"]


def test_a_target_may_ask_for_set_even_when_pending_works(
    emu: Emulator, client: SecretManagerClient
) -> None:
    class Reapplies(Scripted):
        reapply = True

        def probe(self, change: Change, stage: Stage) -> bool:
            self.calls.append("probe")
            return True

    target = Reapplies(accepted=set())
    _, outcome = run_scripted(emu, client, target)
    assert outcome.ok
    assert "set" in target.calls


def test_unreachable_before_set_fails_the_job_at_once(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """Nothing was changed, so there is nothing to prove before reporting fail."""
    target = Scripted(
        accepted={"initial-Pw-123"}, raise_on={"probe-pending": TargetUnreachable("down")}
    )
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.error_code == "TARGET_UNREACHABLE"
    assert not outcome.left_for_retry
    assert "rollback" not in target.calls
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_finish_failure_is_a_warning_not_a_failure(
    emu: Emulator, client: SecretManagerClient
) -> None:
    target = Scripted(
        accepted={"initial-Pw-123"}, raise_on={"finish": TargetUnreachable("old key still there")}
    )
    sid, outcome = run_scripted(emu, client, target)
    assert outcome.ok and outcome.outcome == "rotated"
    assert [s.status for s in outcome.steps if s.step == "finish"] == ["warning"]
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE


# -- bad input is found before anything is written (issue 15) ---------------------------------
# Each of these used to be discovered only after Update Pending Stage (or to crash the
# action after Start): now the one preflight refuses it, names the setting (and the file),
# and the job is ended as failed with nothing written.

DEAD_PORT = 9  # discard: nothing answers there, and nothing may try
PG_VALUE = {"engine": "postgresql", "host": "127.0.0.1", "port": DEAD_PORT, "username": "app",
            "password": "handler-pg-Passw0rd-1"}  # fmt: skip
MISSING_CA = "/nonexistent/rotation-root-ca.pem"


def assert_refused_untouched(
    emu: Emulator, client: SecretManagerClient, sid: str, result: dict[str, Any], code: str
) -> None:
    """Ended as failed with ``code``; nothing generated, stored or promoted."""
    assert result["ok"] is False and result["job"] == "failed", result
    assert result["error"]["code"] == code, result
    assert "leftForRetry" not in result
    assert emu.stats.calls["fail_rotation_job"] == 1
    for op in ("update_pending_stage", "add_pending_stage", "complete_rotation_job"):
        assert emu.stats.calls[op] == 0, op
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED
    assert emu.backend.secrets[sid].chain["pending"] is None  # (the value may be unreadable)


def _not_pem(tmp: Any) -> str:
    path = tmp / "not-a-ca.pem"
    path.write_text("this is not a certificate\n")
    return str(path)


@pytest.mark.parametrize(
    ("target", "words"),
    [
        pytest.param({"sslRootCert": MISSING_CA}, ("sslRootCert", MISSING_CA, "does not exist"),
                     id="pg-ca-missing"),
        pytest.param({"sslRootCert": "$TMP"}, ("sslRootCert", "$TMP", "directory"),
                     id="pg-ca-directory"),
        pytest.param({"sslRootCert": "$NOT_PEM"}, ("sslRootCert", "$NOT_PEM", "no PEM"),
                     id="pg-ca-not-pem"),
        pytest.param({"kind": "redis", "sslRootCert": MISSING_CA}, ("sslRootCert", MISSING_CA),
                     id="redis-ca-missing"),
        pytest.param({"kind": "redis", "sslRootCert": "$NOT_PEM"}, ("sslRootCert", "$NOT_PEM"),
                     id="redis-ca-not-pem"),
        pytest.param({"kind": "ncp-clouddb-postgresql", "cloudDbInstanceNo": "12ab",
                      "cloudDbEndpoint": "https://ncloud.apigw.example.com"},
                     ("cloudDbInstanceNo", "digits"), id="clouddb-instance-not-a-number"),
        pytest.param({"kind": "webhook", "url": "https://ex ample.com/rotate",
                      "testUrl": "https://hooks.example.com/test", "hmacKey": HMAC_KEY},
                     ("url", "spaces"), id="webhook-url-with-a-space"),
        pytest.param({"adminSecretId": "../other"}, ("adminSecretId",), id="admin-id-path"),
    ],
)  # fmt: skip
def test_a_target_setting_that_cannot_work_is_refused_before_any_write(
    emu: Emulator,
    client: SecretManagerClient,
    tmp_path: Any,
    target: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    fill = {"$TMP": str(tmp_path), "$NOT_PEM": _not_pem(tmp_path)}
    target = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in target.items()}
    sid, token = executed_job(emu, client, value=dict(PG_VALUE))
    emu.stats.reset()
    result = invoke(emu, sid, token, target=target)
    assert_refused_untouched(emu, client, sid, result, "INVALID_TARGET")
    for word in words:
        assert fill.get(word, word) in result["error"]["message"], result["error"]


@contextlib.contextmanager
def _as_nobody_if_root() -> Iterator[None]:
    """Root reads a file whatever its mode: act as ``nobody`` (effective ids only, put
    back at once) so a mode-0 file is unreadable here too."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_an_unreadable_ca_file_is_named(
    emu: Emulator, client: SecretManagerClient, ca_file: str, tmp_path: Any
) -> None:
    unreadable = tmp_path / "ca.pem"
    unreadable.write_bytes(Path(ca_file).read_bytes())
    unreadable.chmod(0)
    sid, token = executed_job(emu, client, value=dict(PG_VALUE))
    emu.stats.reset()
    with _as_nobody_if_root():
        result = invoke(emu, sid, token, target={"sslRootCert": str(unreadable)})
    assert_refused_untouched(emu, client, sid, result, "INVALID_TARGET")
    assert "permission denied" in result["error"]["message"]


#: Valid JSON the value model must refuse (the emulator's API would refuse to store it, so
#: it is planted in its state, as another writer could have left it).
ODD_VALUES = {
    "lone-surrogate": '{"username":"app","password":"odd-initial-Pw-1","note":"\\ud800"}',
    "nested-5000-levels": '{"username":"app","password":"odd-initial-Pw-1","deep":'
    + "[" * 5000
    + "]" * 5000
    + "}",
    "nested-objects": '{"username":"app","password":"odd-initial-Pw-1","deep":'
    + '{"a":' * 900
    + "1"
    + "}" * 900
    + "}",
}


@pytest.mark.parametrize("text", list(ODD_VALUES.values()), ids=list(ODD_VALUES))
def test_an_odd_stored_value_ends_the_job_with_a_code_and_resume_does_not_crash(
    emu: Emulator, client: SecretManagerClient, leak_guard: Any, text: str, tmp_path: Any
) -> None:
    sid, token = executed_job(emu, client, value={"username": "app", "password": "odd-Pw-0001"})
    emu.backend.secrets[sid].chain["active"] = text
    emu.stats.reset()
    result = invoke(emu, sid, token)
    assert_refused_untouched(emu, client, sid, result, "VALUE_UNSUPPORTED")
    assert "deep" in result["error"]["message"] or "'note'" in result["error"]["message"]
    # An earlier run that started the job and died: resume from the CLI runs the action
    # again, which ends the job the same way (it used to crash again, job left ROTATING).
    client.retry_rotation_job(sid)
    retried = job_token(client, sid)
    with contextlib.suppress(SecretValueUnsupported):  # started: the answer is the odd value
        client.start_rotation_job(sid, retried)
    emu.stats.reset()
    params = tmp_path / "params.json"  # no deployed action here: the action's parameters
    params.write_text("{}")
    resumed = cli(emu, leak_guard, "resume", sid, "--json", "--params", str(params))
    assert resumed.returncode == 1, resumed.stderr
    answer = json.loads(resumed.stdout)
    assert answer["result"]["error"]["code"] == "VALUE_UNSUPPORTED", answer
    assert emu.stats.calls["update_pending_stage"] == 0
    assert client.get_secret(sid).rotation_phase is RotationPhase.ROTATION_FAILED


def test_an_empty_admin_secret_is_named_as_such(emu: Emulator, client: SecretManagerClient) -> None:
    admin = create_secret(client, value={"username": "admin", "password": "admin-Passw0rd-1"})
    emu.backend.secrets[admin.secret_id].chain["active"] = None  # emptied by another writer
    sid, token = executed_job(emu, client, value=dict(PG_VALUE))
    emu.stats.reset()
    result = invoke(emu, sid, token, target={"adminSecretId": admin.secret_id})
    assert_refused_untouched(emu, client, sid, result, "LINKED_SECRET_EMPTY")
    assert "adminSecretId" in result["error"]["message"]
