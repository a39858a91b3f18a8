"""Deployment settings: a TOML file (read with the standard library), then flags, then the
environment for credentials only. One frozen object, validated before anything is sent."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotation.ncp.cloudfunctions import DEFAULT_ENDPOINT as CLOUD_FUNCTIONS_ENDPOINT
from rotation.ncp.secretmanager import DEFAULT_ENDPOINT as SECRET_MANAGER_ENDPOINT
from rotation.ncp.signing import Credentials

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,49}")
MEMORY = (128, 256, 512, 1024)


class ConfigError(ValueError):
    """Bad configuration: the message says which setting and what is allowed."""


@dataclass(frozen=True)
class DeployConfig:
    credentials: Credentials = field(repr=False)
    action_credentials: Credentials = field(repr=False)
    secret_name: str | None
    secret_id: str | None
    vpc_no: int
    subnet_no: int
    package: str = "-"
    action: str = "secret-rotator"
    trigger: str = "secret-rotator-trigger"
    rotation_period: int = 30
    timeout_ms: int = 120_000
    memory_mb: int = 256
    zip_path: Path = Path("dist/rotation-action.zip")
    cloud_functions_endpoint: str = CLOUD_FUNCTIONS_ENDPOINT
    secret_manager_endpoint: str = SECRET_MANAGER_ENDPOINT
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def action_full_name(self) -> str:
        return self.action if self.package == "-" else f"{self.package}/{self.action}"


FLAG_KEYS = {
    "secret_name": ("secret", "name"),
    "secret_id": ("secret", "id"),
    "rotation_period": ("secret", "rotation_period_days"),
    "package": ("action", "package"),
    "action": ("action", "name"),
    "timeout_ms": ("action", "timeout_ms"),
    "memory_mb": ("action", "memory_mb"),
    "vpc_no": ("action", "vpc_no"),
    "subnet_no": ("action", "subnet_no"),
    "zip_path": ("action", "zip"),
    "trigger": ("trigger", "name"),
    "cloud_functions_endpoint": ("ncloud", "cloud_functions_endpoint"),
    "secret_manager_endpoint": ("ncloud", "secret_manager_endpoint"),
}


def _credentials(env: Mapping[str, str], prefix: str, fallback: Credentials | None) -> Credentials:
    access, secret = env.get(f"{prefix}_ACCESS_KEY"), env.get(f"{prefix}_SECRET_KEY")
    if access and secret:
        return Credentials(access, secret)
    if fallback is not None:
        return fallback
    raise ConfigError(f"set {prefix}_ACCESS_KEY and {prefix}_SECRET_KEY (never in the file)")


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise ConfigError(f"{what} must be a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{what} must be between {lo} and {hi}")
    return int(value)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ConfigError(f"{what} must be 1-50 letters, digits, '-' or '_'")
    return value


def load(
    path: Path | None, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> DeployConfig:
    environ = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, (section, name) in FLAG_KEYS.items():
        table = data.get(section, {})
        if isinstance(table, Mapping) and name in table:
            values[key] = table[name]
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    credentials = _credentials(environ, "NCLOUD", None)
    action_credentials = _credentials(environ, "ROTATOR", credentials)
    if not values.get("secret_name") and not values.get("secret_id"):
        raise ConfigError("name the secret to rotate: [secret] name (or id), or --secret-name")
    for key in ("vpc_no", "subnet_no"):
        if key not in values or not values[key]:
            raise ConfigError(f"{key} is required: the action runs in a VPC subnet (zone KR-2)")
    memory = _int(values.get("memory_mb", 256), "memory_mb", 128, 1024)
    if memory not in MEMORY:
        raise ConfigError("memory_mb must be 128, 256, 512 or 1024")
    parameters = (
        data.get("action", {}).get("parameters", {})
        if isinstance(data.get("action"), Mapping)
        else {}
    )
    if not isinstance(parameters, Mapping):
        raise ConfigError("[action.parameters] must be a table")
    leaked = [k for k in parameters if k in ("accessKey", "secretKey")]
    if leaked:
        raise ConfigError(
            "credentials never go in the file: use ROTATOR_ACCESS_KEY/ROTATOR_SECRET_KEY"
        )
    return DeployConfig(
        credentials=credentials,
        action_credentials=action_credentials,
        secret_name=values.get("secret_name") or None,
        secret_id=values.get("secret_id") or None,
        vpc_no=_int(values["vpc_no"], "vpc_no", 1, 2**63),
        subnet_no=_int(values["subnet_no"], "subnet_no", 1, 2**63),
        package=values.get("package", "-")
        if values.get("package", "-") == "-"
        else _name(values["package"], "package"),
        action=_name(values.get("action", "secret-rotator"), "the action name"),
        trigger=_name(values.get("trigger", "secret-rotator-trigger"), "the trigger name"),
        rotation_period=_int(values.get("rotation_period", 30), "rotation_period_days", 1, 730),
        timeout_ms=_int(values.get("timeout_ms", 120_000), "timeout_ms", 500, 300_000),
        memory_mb=memory,
        zip_path=Path(values.get("zip_path", "dist/rotation-action.zip")),
        cloud_functions_endpoint=str(
            values.get("cloud_functions_endpoint", CLOUD_FUNCTIONS_ENDPOINT)
        ),
        secret_manager_endpoint=str(values.get("secret_manager_endpoint", SECRET_MANAGER_ENDPOINT)),
        parameters=dict(parameters),
    )
