"""Action parameters for the commands that run rotation code in this process.

``check`` and a local ``resume`` build the same target the deployed action builds, so they
need its ``target`` and ``policy`` parameters. They come from a JSON file (``--params``),
the same object as the action's default parameters; the ids, the job token and the keys
never come from it (the CLI finds the first two and takes the keys from the environment).
Values under secret-looking names (``hmacKey``) are registered with the redactor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rotation import logs
from rotation.cli.common import UsageError
from rotation.ncp.models import SecretValue
from rotation.sensitive import is_sensitive_key

NOT_FROM_FILE = frozenset({"secretId", "jobToken", "accessKey", "secretKey"})
MAX_PARAMS_BYTES = 100_000


def _register(data: Any) -> None:
    if isinstance(data, Mapping):
        for key, item in data.items():
            if isinstance(key, str) and is_sensitive_key(key) and isinstance(item, str):
                logs.REDACTOR.register(item)
            _register(item)
    elif isinstance(data, list):
        for item in data:
            _register(item)


def read_params(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PARAMS_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read --params {path}: {exc.strerror or 'unreadable'}") from None
    if len(raw) > MAX_PARAMS_BYTES:
        raise UsageError(f"--params {path} is over {MAX_PARAMS_BYTES:,} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UsageError(f"--params {path} is not a JSON object") from None
    if not isinstance(data, dict):
        raise UsageError(f"--params {path} must hold a JSON object of action parameters")
    _register(data)
    refused = sorted(NOT_FROM_FILE & set(data))
    if refused:
        raise UsageError(
            f"--params must not set {', '.join(refused)}: the CLI finds the secret and the "
            "job itself and reads keys from NCLOUD_ACCESS_KEY / NCLOUD_SECRET_KEY"
        )
    for name in ("target", "policy"):
        item = data.get(name)
        if isinstance(item, str):  # consoles store object parameters as text
            try:
                data[name] = json.loads(item)
            except ValueError:
                raise UsageError(f"--params: {name} must be a JSON object") from None
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise UsageError(f"--params: {name} must be a JSON object")
    return data


def rollback_warning(active: SecretValue | None, target: Mapping[str, Any] | None) -> str | None:
    """Why Rollback Rotation Job would leave the target on a credential that is no longer
    stored, or ``None`` when it is safe (store-only, alternating users)."""
    config = dict(target or {})
    value = active or SecretValue({})
    kind = config.get("kind") or value.get("engine") or "store-only"
    strategy = config.get("strategy") or value.get("strategy") or "single-user"
    if kind == "store-only" or strategy == "alternating-users":
        return None
    if kind == "webhook":
        holder = "the service behind the webhook keeps the newest credential"
    elif strategy == "dual-password":
        holder = "the user was left with only the newest password when the rotation finished"
    else:
        holder = f"the {kind} user keeps the password set by the last rotation"
    return (
        "Rollback Rotation Job changes Secret Manager only: "
        f"{holder}, so the active value it restores will no longer log in. "
        "Rotate forward instead (`rotate`), or pass --force if the target was already put "
        "back by hand."
    )
