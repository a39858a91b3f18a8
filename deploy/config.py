"""Deployment settings: a TOML file (read with the standard library), then flags, then the
environment for credentials only. One frozen object, validated before anything is sent.

One action and one trigger serve a *fleet* of secrets. The file lists them as
``[[secrets]]`` tables (``name`` or ``id``, and optionally ``rotation_period_days``,
``target`` and ``policy`` where a secret differs from the shared ``[action.parameters]``);
a single ``[secret]`` table is still read as a fleet of one. ``--secret-name`` /
``--secret-id`` (repeatable) replace the file's list; ``--period`` is the period of every
secret that does not set its own.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.certs import CaFileError, CaFiles, collect
from rotation.fleet_params import BY_SECRET_ID
from rotation.ids import secret_id_problem
from rotation.ncp.cloudfunctions import DEFAULT_ENDPOINT as CLOUD_FUNCTIONS_ENDPOINT
from rotation.ncp.secretmanager import DEFAULT_ENDPOINT as SECRET_MANAGER_ENDPOINT
from rotation.ncp.signing import Credentials
from rotation.settings import endpoint_problem

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,49}")
MEMORY = (128, 256, 512, 1024)
DEFAULT_PERIOD = 30
SECRET_KEYS = frozenset({"name", "id", "rotation_period_days", "target", "policy"})
RESERVED_PARAMETERS = frozenset({"accessKey", "secretKey", BY_SECRET_ID})
#: Every key the file may hold, per table: anything else is a typo, refused by name (a
#: misspelt ``timout_ms`` would otherwise be dropped and the default deployed).
FILE_KEYS: dict[str, frozenset[str]] = {
    "ncloud": frozenset({"cloud_functions_endpoint", "secret_manager_endpoint"}),
    "action": frozenset(
        {"package", "name", "timeout_ms", "memory_mb", "vpc_no", "subnet_no", "zip", "parameters"}
    ),
    "trigger": frozenset({"name"}),
    "rotation": frozenset({"period_days"}),
}
TOP_KEYS = frozenset({*FILE_KEYS, "secrets", "secret"})
#: The action parameters ``[action.parameters]`` may set: what the handler reads besides
#: what deploy writes itself (endpoint, keys, ``bySecretId``).
ACTION_PARAMETERS = frozenset({"target", "policy", "notify", "region", "timeoutSeconds"})
#: Parameters the handler reads that the file must not set, and why.
NOT_PARAMETERS = {
    "secretManagerEndpoint": "set [ncloud] secret_manager_endpoint (deploy writes it)",
    "dryRun": "it would make every rotation a check that changes nothing",
    "secretId": "Secret Manager passes the secret id to each run",
    "jobToken": "Secret Manager passes the job token to each run",
}


class ConfigError(ValueError):
    """Bad configuration: the message says which setting and what is allowed."""


@dataclass(frozen=True)
class SecretSpec:
    """One secret of the fleet, as configured (by name or by id)."""

    name: str | None = None
    id: str | None = None
    #: Days; ``None``: the fleet's period.
    rotation_period: int | None = None
    #: This secret's own ``target`` / ``policy`` parameters; ``None``: the shared ones.
    target: Mapping[str, Any] | None = None
    policy: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.name or f"id {self.id}"

    def own_parameters(self) -> dict[str, Any]:
        """What goes under ``bySecretId`` for this secret (empty when nothing differs)."""
        own: dict[str, Any] = {}
        if self.target is not None:
            own["target"] = dict(self.target)
        if self.policy is not None:
            own["policy"] = dict(self.policy)
        return own


@dataclass(frozen=True)
class DeployConfig:
    credentials: Credentials = field(repr=False)
    action_credentials: Credentials = field(repr=False)
    secrets: tuple[SecretSpec, ...]
    vpc_no: int
    subnet_no: int
    package: str = "-"
    action: str = "secret-rotator"
    trigger: str = "secret-rotator-trigger"
    rotation_period: int = DEFAULT_PERIOD
    timeout_ms: int = 120_000
    memory_mb: int = 256
    zip_path: Path = Path("dist/rotation-action.zip")
    cloud_functions_endpoint: str = CLOUD_FUNCTIONS_ENDPOINT
    secret_manager_endpoint: str = SECRET_MANAGER_ENDPOINT
    #: Parameters every secret shares (``[action.parameters]``).
    parameters: Mapping[str, Any] = field(default_factory=dict)
    #: The CA files the parameters name, read to travel in the zip (deploy/certs.py).
    ca_files: CaFiles = field(default_factory=CaFiles)

    @property
    def action_full_name(self) -> str:
        return self.action if self.package == "-" else f"{self.package}/{self.action}"

    def period_of(self, spec: SecretSpec) -> int:
        return spec.rotation_period if spec.rotation_period is not None else self.rotation_period


FLAG_KEYS = {
    "rotation_period": ("rotation", "period_days"),
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
    """The ``{prefix}_ACCESS_KEY`` / ``{prefix}_SECRET_KEY`` pair, or ``fallback`` when
    neither is set. Half a pair is refused: with a fallback it would silently deploy the
    broader deploying key pair to the action, without one it cannot sign."""
    access_name, secret_name = f"{prefix}_ACCESS_KEY", f"{prefix}_SECRET_KEY"
    access, secret = env.get(access_name), env.get(secret_name)
    if bool(access) != bool(secret):
        given, missing = (access_name, secret_name) if access else (secret_name, access_name)
        either = (
            " or neither (the action then gets the deploying NCLOUD_* pair)" if fallback else ""
        )
        raise ConfigError(
            f"{given} is set but {missing} is not: set both {access_name} and {secret_name}{either}"
        )
    if access and secret:
        if access.strip() != access or secret.strip() != secret:
            raise ConfigError(
                f"{prefix}_ACCESS_KEY or {prefix}_SECRET_KEY has leading or trailing spaces "
                "or a line break: remove them"
            )
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


def _table(value: Any, what: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a table")
    return value


def _known_keys(data: Mapping[str, Any]) -> None:
    """Every table and key of the file is one deploy reads; names only in the message."""
    unknown = sorted(str(k) for k in data if k not in TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown table or key {', '.join(unknown)} (known: {', '.join(sorted(TOP_KEYS))})"
        )
    for table, known in FILE_KEYS.items():
        section = data.get(table, {})
        if not isinstance(section, Mapping):
            raise ConfigError(f"[{table}] must be a table")
        unknown = sorted(str(k) for k in section if k not in known)
        if unknown:
            raise ConfigError(
                f"[{table}]: unknown key {', '.join(unknown)} (known: {', '.join(sorted(known))}; "
                "credentials never go in the file)"
            )


def _parameters(parameters: Mapping[str, Any]) -> None:
    """``[action.parameters]`` sets only what the handler reads and deploy does not write."""
    reserved = sorted(RESERVED_PARAMETERS & set(parameters))
    if reserved:
        raise ConfigError(
            f"[action.parameters] may not set {', '.join(reserved)}: credentials come from "
            "ROTATOR_ACCESS_KEY/ROTATOR_SECRET_KEY, never the file, and per-secret "
            "parameters go in [[secrets]] target/policy"
        )
    for key, why in NOT_PARAMETERS.items():
        if key in parameters:
            raise ConfigError(f"[action.parameters] may not set {key}: {why}")
    unknown = sorted(str(k) for k in parameters if k not in ACTION_PARAMETERS)
    if unknown:
        raise ConfigError(
            f"[action.parameters]: unknown parameter {', '.join(unknown)} (the action reads "
            f"{', '.join(sorted(ACTION_PARAMETERS))})"
        )


def _endpoint(value: Any, key: str, flag: str) -> str:
    """An API base URL, by the handler's own rule (https; plain http only to this machine;
    no user:password@). The message names the setting, never the URL."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"[ncloud] {key} ({flag}) must be an https:// URL")
    problem = endpoint_problem(value)
    if problem is not None:
        raise ConfigError(f"[ncloud] {key} ({flag}) {problem}")
    return value


def _secret(raw: Any, where: str) -> SecretSpec:
    entry = _table(raw, where)
    assert entry is not None
    unknown = sorted(set(entry) - SECRET_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(SECRET_KEYS))})"
        )
    name, sid = entry.get("name"), entry.get("id")
    if bool(name) == bool(sid):
        raise ConfigError(f"{where}: give the secret's name or its id (one of them)")
    for value, what in ((name, "name"), (sid, "id")):
        if value is not None and (not isinstance(value, str) or value.strip() != value):
            raise ConfigError(f"{where}: {what} must be text without surrounding spaces")
    problem = secret_id_problem(sid) if sid else None
    if problem is not None:
        raise ConfigError(f"{where}: id: {problem}")
    raw = entry.get("rotation_period_days")
    period = None if raw is None else _int(raw, f"{where} rotation_period_days", 1, 730)
    return SecretSpec(
        name=name or None,
        id=sid or None,
        rotation_period=period,
        target=_table(entry.get("target"), f"{where} target"),
        policy=_table(entry.get("policy"), f"{where} policy"),
    )


def _secrets(data: Mapping[str, Any], flags: Mapping[str, Any]) -> tuple[SecretSpec, ...]:
    names: Sequence[str] = flags.get("secret_names") or ()
    ids: Sequence[str] = flags.get("secret_ids") or ()
    if names or ids:
        specs = [_secret({"name": n}, "--secret-name") for n in names]
        specs += [_secret({"id": i}, "--secret-id") for i in ids]
    elif "secrets" in data and "secret" in data:
        raise ConfigError("use [[secrets]] (a list) or [secret] (one), not both")
    elif "secrets" in data:
        listed = data["secrets"]
        if not isinstance(listed, list):
            raise ConfigError("secrets must be a list of tables: [[secrets]]")
        specs = [_secret(entry, f"[[secrets]] #{i + 1}") for i, entry in enumerate(listed)]
    elif "secret" in data:
        specs = [_secret(data["secret"], "[secret]")]
    else:
        specs = []
    if not specs:
        raise ConfigError(
            "name the secrets to rotate: [[secrets]] name (or id) in the file, or --secret-name"
        )
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        key = ("name", spec.name) if spec.name else ("id", str(spec.id))
        if key in seen:
            raise ConfigError(f"secret {spec.label} is listed twice")
        seen.add(key)
    return tuple(specs)


def load(
    path: Path | None, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> DeployConfig:
    environ = os.environ if env is None else env
    given = dict(flags or {})
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    _known_keys(data)
    values: dict[str, Any] = {}
    for key, (section, name) in FLAG_KEYS.items():
        table = data.get(section, {})
        if isinstance(table, Mapping) and name in table:
            values[key] = table[name]
    values.update({k: v for k, v in given.items() if v is not None and k in FLAG_KEYS})
    credentials = _credentials(environ, "NCLOUD", None)
    action_credentials = _credentials(environ, "ROTATOR", credentials)
    secrets = _secrets(data, given)
    for key in ("vpc_no", "subnet_no"):
        if key not in values or not values[key]:
            raise ConfigError(f"{key} is required: the action runs in a VPC subnet (zone KR-2)")
    memory = _int(values.get("memory_mb", 256), "memory_mb", 128, 1024)
    if memory not in MEMORY:
        raise ConfigError("memory_mb must be 128, 256, 512 or 1024")
    action_table = data.get("action", {})
    parameters = _table(
        action_table.get("parameters", {}) if isinstance(action_table, Mapping) else {},
        "[action.parameters]",
    )
    assert parameters is not None
    _parameters(parameters)
    try:
        ca_files = collect(
            [("[action.parameters]", parameters)]
            + [(f"[[secrets]] {spec.label}", spec.own_parameters()) for spec in secrets]
        )
    except CaFileError as exc:
        raise ConfigError(str(exc)) from None
    package = values.get("package", "-")
    return DeployConfig(
        credentials=credentials,
        action_credentials=action_credentials,
        secrets=secrets,
        vpc_no=_int(values["vpc_no"], "vpc_no", 1, 2**63),
        subnet_no=_int(values["subnet_no"], "subnet_no", 1, 2**63),
        package=package if package == "-" else _name(package, "package"),
        action=_name(values.get("action", "secret-rotator"), "the action name"),
        trigger=_name(values.get("trigger", "secret-rotator-trigger"), "the trigger name"),
        rotation_period=_int(
            values.get("rotation_period", DEFAULT_PERIOD), "[rotation] period_days", 1, 730
        ),
        timeout_ms=_int(values.get("timeout_ms", 120_000), "timeout_ms", 500, 300_000),
        memory_mb=memory,
        zip_path=Path(values.get("zip_path", "dist/rotation-action.zip")),
        cloud_functions_endpoint=_endpoint(
            values.get("cloud_functions_endpoint", CLOUD_FUNCTIONS_ENDPOINT),
            "cloud_functions_endpoint",
            "--cloud-functions-endpoint",
        ),
        secret_manager_endpoint=_endpoint(
            values.get("secret_manager_endpoint", SECRET_MANAGER_ENDPOINT),
            "secret_manager_endpoint",
            "--secret-manager-endpoint",
        ),
        parameters=dict(parameters),
        ca_files=ca_files,
    )
