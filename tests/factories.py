"""Small builders for test data, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

from emulator import Emulator
from rotation.api import SecretManagerClient
from rotation.models import CreateSecretRequest, SecretDetail

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
