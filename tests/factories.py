"""Small builders for test data, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

from emulator import Activation, Emulator
from rotation.ncp.models import CreateSecretRequest, SecretDetail
from rotation.ncp.secretmanager import SecretManagerClient

_counter = iter(range(1, 1_000_000))


def unique_name(prefix: str = "s") -> str:
    return f"{prefix}{next(_counter):05d}"


def create_secret(
    client: SecretManagerClient,
    *,
    value: dict[str, Any] | None = None,
    targets: tuple[str, ...] = ("password",),
    **kwargs: Any,
) -> SecretDetail:
    request = CreateSecretRequest(
        secret_name=kwargs.pop("secret_name", unique_name()),
        value=value if value is not None else {"username": "app", "password": "initial-Pw-1"},
        rotation_targets=targets,
        **kwargs,
    )
    return client.create_secret(request)


def rotatable_secret(emu: Emulator, client: SecretManagerClient, **kwargs: Any) -> SecretDetail:
    """A secret linked to a trigger with no action: jobs are raised but nothing runs them."""
    trigger = emu.backend.register_trigger(unique_name("t"))
    return create_secret(client, trigger_id=trigger.trigger_id, **kwargs)


def job_token(client: SecretManagerClient, secret_id: str) -> str:
    """The newest job token, found the documented way: in the secret's logs."""
    tokens = [e["jobToken"] for e in client.get_secret_logs(secret_id).entries if "jobToken" in e]
    assert tokens, "execute rotation should log its job token"
    return str(tokens[-1])


def started_job(emu: Emulator, client: SecretManagerClient, **kwargs: Any) -> tuple[str, str]:
    """A rotatable secret with a job executed and started: ``(secret_id, job_token)``."""
    secret_id = rotatable_secret(emu, client, **kwargs).secret_id
    client.execute_rotation_job(secret_id)
    token = job_token(client, secret_id)
    client.start_rotation_job(secret_id, token)
    return secret_id, token


def rotate_via_trigger(
    emu: Emulator,
    value: dict[str, Any],
    *,
    targets: tuple[str, ...] = ("password",),
    target: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
    timeout_ms: int = 60_000,
) -> tuple[str, Activation]:
    """End to end as Secret Manager runs it: a secret on a trigger whose action is this
    project's handler (in its own process, like the runtime), one Execute Rotation Job,
    and the finished activation. Returns ``(secret_id, activation)``."""
    params: dict[str, Any] = {}
    if target is not None:
        params["target"] = target
    if policy is not None:
        params["policy"] = policy
    action = emu.handler_action(unique_name("rotator"), params, timeout_ms=timeout_ms)
    trigger = emu.add_trigger(unique_name("trigger"), action)
    with emu.client() as client:
        secret_id = create_secret(
            client, value=value, targets=targets, trigger_id=trigger.trigger_id
        ).secret_id
        client.execute_rotation_job(secret_id)
    emu.wait_idle(timeout=timeout_ms / 1000 + 30)
    [activation] = [a for a in emu.activations if a.secret_id == secret_id]
    return secret_id, activation


def admin_secret(emu: Emulator, username: str, password: str, **extra: Any) -> str:
    """An admin's credentials kept as their own secret (``adminSecretId``)."""
    with emu.client() as client:
        return create_secret(
            client, value={"username": username, "password": password, **extra}
        ).secret_id
