"""Deployment settings: a TOML file (read with the standard library), then flags, then the
environment for credentials only. One frozen object, validated before anything is sent.

One action and one trigger serve a *fleet* of secrets. The file lists them as
``[[secrets]]`` tables (``name`` or ``id``, and optionally ``rotation_period_days``,
``target`` and ``policy`` where a secret differs from the shared ``[action.parameters]``);
a single ``[secret]`` table is still read as a fleet of one. ``--secret-name`` /
``--secret-id`` (repeatable) replace the file's list; ``--period`` is the period of every
secret that does not set its own.

An optional ``[watch]`` table deploys the watchdog (rotation/watch/) beside the rotation:
a second action from the same zip on a cron trigger, with its thresholds and, under
``[watch.metrics]``, Cloud Insight. A secret's optional ``window`` (weekdays, hours, a
time zone; rotation/watch/windows.py) needs ``[watch]``: the watchdog rotates it inside
the window, and Secret Manager's own schedule stays off for it.
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
from rotation.watch.config import CLOUD_INSIGHT_ENDPOINT, DEFAULT_PROD_NAME, DEFAULT_STATE_SECRET
from rotation.watch.windows import WindowError, parse_window

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,49}")
MEMORY = (128, 256, 512, 1024)
DEFAULT_PERIOD = 30
SECRET_KEYS = frozenset({"name", "id", "rotation_period_days", "target", "policy", "window"})
DEFAULT_SCHEDULE = "*/10 * * * *"
WATCH_KEYS = frozenset({
    "schedule", "scope", "action", "trigger", "timeout_ms", "overdue_after_minutes",
    "stale_after_minutes", "remind_every_minutes", "max_messages", "state_secret", "workers",
    "metrics",
})  # fmt: skip
METRICS_KEYS = frozenset({"endpoint", "prod_name", "per_secret"})
_CRON_FIELD = re.compile(r"[0-9A-Za-z*,/-]+")
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
    "watch": WATCH_KEYS,
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
    #: The rotation window, as configured (checked by rotation.watch.windows).
    window: Mapping[str, Any] | None = None

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
class MetricsSpec:
    """``[watch.metrics]``: push the watchdog's counts to Cloud Insight."""

    endpoint: str = CLOUD_INSIGHT_ENDPOINT
    prod_name: str = DEFAULT_PROD_NAME
    per_secret: bool = True


@dataclass(frozen=True)
class WatchSpec:
    """``[watch]``: the watchdog action, its cron trigger and its thresholds."""

    action: str
    trigger: str
    schedule: str = DEFAULT_SCHEDULE
    scope: str = "fleet"
    timeout_ms: int = 120_000
    overdue_after_minutes: int = 60
    stale_after_minutes: int | None = None
    remind_every_minutes: int = 1440
    max_messages: int = 10
    state_secret: str = DEFAULT_STATE_SECRET
    workers: int = 8
    metrics: MetricsSpec | None = None


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
    #: The watchdog (``[watch]``); ``None``: not deployed.
    watch: WatchSpec | None = None

    @property
    def watch_action(self) -> str:
        """The watchdog action's name (also when ``[watch]`` is gone: deploy still reads it
        to tell a secret that was windowed from one an operator paused)."""
        return self.watch.action if self.watch is not None else f"{self.action}-watch"

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
    window = _table(entry.get("window"), f"{where} window")
    if window is not None:
        try:
            parse_window(window, f"{where} window")
        except WindowError as exc:
            raise ConfigError(str(exc)) from None
    return SecretSpec(
        name=name or None,
        id=sid or None,
        rotation_period=period,
        target=_table(entry.get("target"), f"{where} target"),
        policy=_table(entry.get("policy"), f"{where} policy"),
        window=window,
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


def _schedule(value: Any) -> str:
    """Five crontab fields (Cloud Functions checks the rest when the trigger is written)."""
    parts = value.split() if isinstance(value, str) else []
    if len(parts) != 5 or not all(_CRON_FIELD.fullmatch(p) for p in parts):
        raise ConfigError(
            '[watch] schedule must be five crontab fields, e.g. "*/10 * * * *" (every 10 '
            "minutes: the zone of a cron trigger is not documented, so prefer intervals)"
        )
    return " ".join(parts)


def _metrics_spec(raw: Any) -> MetricsSpec | None:
    table = _table(raw, "[watch.metrics]")
    if table is None:
        return None
    unknown = sorted(str(k) for k in table if k not in METRICS_KEYS)
    if unknown:
        raise ConfigError(
            f"[watch.metrics]: unknown key {', '.join(unknown)} "
            f"(known: {', '.join(sorted(METRICS_KEYS))})"
        )
    prod = table.get("prod_name", DEFAULT_PROD_NAME)
    if not isinstance(prod, str) or not prod.startswith("Custom/") or len(prod) > 100:
        raise ConfigError('[watch.metrics] prod_name must start with "Custom/"')
    per_secret = table.get("per_secret", True)
    if not isinstance(per_secret, bool):
        raise ConfigError("[watch.metrics] per_secret must be true or false")
    endpoint = table.get("endpoint", CLOUD_INSIGHT_ENDPOINT)
    if not isinstance(endpoint, str) or endpoint_problem(endpoint) is not None:
        raise ConfigError("[watch.metrics] endpoint must be an https:// URL")
    return MetricsSpec(endpoint.rstrip("/"), prod, per_secret)


def _watch(data: Mapping[str, Any], action: str, trigger: str) -> WatchSpec | None:
    table = _table(data.get("watch"), "[watch]")
    if table is None:
        return None
    scope = table.get("scope", "fleet")
    if scope not in ("fleet", "all"):
        raise ConfigError('[watch] scope must be "fleet" (the secrets listed here) or "all"')
    stale = table.get("stale_after_minutes")
    spec = WatchSpec(
        action=_name(table.get("action", f"{action}-watch"), "[watch] action"),
        trigger=_name(table.get("trigger", f"{action}-watch-cron"), "[watch] trigger"),
        schedule=_schedule(table.get("schedule", DEFAULT_SCHEDULE)),
        scope=scope,
        timeout_ms=_int(table.get("timeout_ms", 120_000), "[watch] timeout_ms", 500, 300_000),
        overdue_after_minutes=_int(
            table.get("overdue_after_minutes", 60), "[watch] overdue_after_minutes", 0, 525_600
        ),
        stale_after_minutes=None
        if stale is None
        else _int(stale, "[watch] stale_after_minutes", 1, 525_600),
        remind_every_minutes=_int(
            table.get("remind_every_minutes", 1440), "[watch] remind_every_minutes", 10, 525_600
        ),
        max_messages=_int(table.get("max_messages", 10), "[watch] max_messages", 1, 50),
        state_secret=_state_name(table.get("state_secret", DEFAULT_STATE_SECRET)),
        workers=_int(table.get("workers", 8), "[watch] workers", 1, 32),
        metrics=_metrics_spec(table.get("metrics")),
    )
    names = {action, trigger}
    if spec.action in names or spec.trigger in names or spec.action == spec.trigger:
        raise ConfigError(
            "[watch] action and trigger need names of their own: Cloud Functions names are "
            "unique across actions and triggers"
        )
    return spec


def _state_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{2,14}", value):
        raise ConfigError(
            "[watch] state_secret must be a secret name: 3-15 letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return value


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
    action = _name(values.get("action", "secret-rotator"), "the action name")
    trigger = _name(values.get("trigger", "secret-rotator-trigger"), "the trigger name")
    watch = _watch(data, action, trigger)
    windowed = [spec.label for spec in secrets if spec.window is not None]
    if windowed and watch is None:
        raise ConfigError(
            f"{', '.join(windowed)}: a window needs [watch]: the watchdog starts windowed "
            "rotations (Secret Manager's schedule is off for them)"
        )
    return DeployConfig(
        credentials=credentials,
        action_credentials=action_credentials,
        secrets=secrets,
        vpc_no=_int(values["vpc_no"], "vpc_no", 1, 2**63),
        subnet_no=_int(values["subnet_no"], "subnet_no", 1, 2**63),
        package=package if package == "-" else _name(package, "package"),
        action=action,
        trigger=trigger,
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
        watch=watch,
    )
