"""The watchdog's settings: its ``watch`` parameter, checked strictly, and the activation's.

Deploy writes the parameter from the configuration's ``[watch]`` table and each secret's
``window`` (deploy/config.py), and checks it with :func:`parse_watch` before anything is
written, so the action and deploy read it with one rule. The parameter::

    "watch": {
      "trigger": "secret-rotator-trigger",      the rotation trigger the fleet is linked to
      "action": "secret-rotator",               the rotation action ("package/name" too)
      "scope": "fleet",                         or "all": every secret the key can see
      "secrets": [{"id": "...", "periodDays": 30,
                   "window": {"days": "mon-fri", "hours": "02:00-05:00",
                              "timezone": "Asia/Seoul"}}],
      "overdueAfterMinutes": 60,
      "staleAfterMinutes": null,                null: the rotation action's timeout + 2 min
      "remindEveryMinutes": 1440,
      "maxMessages": 10,                        alerts per run; the rest in one summary
      "stateSecret": "rotator-watch",           the secret that is the watchdog's memory
      "stateSecretId": "...",                   its id (deploy makes it; else found by name)
      "workers": 8,                             secrets read side by side
      "metrics": {"cwKey": "...", "endpoint": "https://cw.apigw.ntruss.com",
                  "prodName": "Custom/SecretRotator", "perSecret": true}
    }

Beside it the action takes what the rotation action takes: ``accessKey``/``secretKey``
(else ``NCLOUD_ACCESS_KEY``/``NCLOUD_SECRET_KEY``), ``secretManagerEndpoint``,
``cloudFunctionsEndpoint`` and ``notify`` (:mod:`rotation.notify`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation import codes
from rotation.fleet_params import FleetParamsError, json_object
from rotation.ids import secret_id_problem
from rotation.ncp.deadline import Deadline
from rotation.ncp.signing import Credentials
from rotation.settings import SettingsError, endpoint_problem
from rotation.watch.windows import Window, WindowError, parse_window

DEFAULT_STATE_SECRET = "rotator-watch"
DEFAULT_PROD_NAME = "Custom/SecretRotator"
CLOUD_INSIGHT_ENDPOINT = "https://cw.apigw.ntruss.com"
CLOUD_FUNCTIONS_ENDPOINT = "https://cloudfunctions.apigw.ntruss.com/ncf/api/v2"
SECRET_MANAGER_ENDPOINT = "https://ocapi-kr.ncloud.com/secretmanager"
#: A job may run this much longer than the rotation action's timeout before it is called
#: left running: the trigger's delay and a container's start come on top of the timeout.
STALE_MARGIN_MINUTES = 2
#: When the rotation action's timeout cannot be read: three times the longest one (5 min),
#: as ``rotation status`` does.
DEFAULT_STALE_MINUTES = 15
#: Without ``__OW_DEADLINE`` (a local run): the longest action timeout.
DEFAULT_TIMEOUT_SECONDS = 300.0

KEYS = frozenset({
    "trigger", "action", "scope", "secrets", "overdueAfterMinutes", "staleAfterMinutes",
    "remindEveryMinutes", "maxMessages", "stateSecret", "stateSecretId", "workers", "metrics",
})  # fmt: skip
SECRET_KEYS = frozenset({"id", "name", "periodDays", "window"})
METRICS_KEYS = frozenset({"cwKey", "endpoint", "prodName", "perSecret"})
SCOPES = ("fleet", "all")


class WatchConfigError(SettingsError):
    """A bad ``watch`` parameter; the message names the setting, never a value."""

    def __init__(self, message: str) -> None:
        super().__init__(codes.WATCH_INVALID, f"watch: {message}")


@dataclass(frozen=True)
class Member:
    """A secret of the fleet: its period (days) and, if it has one, its window."""

    id: str
    name: str | None = None
    period_days: int | None = None
    window: Window | None = None


@dataclass(frozen=True)
class Metrics:
    cw_key: str = field(repr=False)
    endpoint: str = CLOUD_INSIGHT_ENDPOINT
    prod_name: str = DEFAULT_PROD_NAME
    per_secret: bool = True


@dataclass(frozen=True)
class WatchConfig:
    trigger: str
    action: str
    scope: str = "fleet"
    secrets: tuple[Member, ...] = ()
    overdue_after_minutes: int = 60
    stale_after_minutes: int | None = None
    remind_every_minutes: int = 1440
    max_messages: int = 10
    state_secret: str = DEFAULT_STATE_SECRET
    state_secret_id: str | None = None
    workers: int = 8
    metrics: Metrics | None = None

    @property
    def package_and_action(self) -> tuple[str, str]:
        """``("-", "secret-rotator")`` or ``("pkg", "act")`` for the Cloud Functions calls."""
        package, _, name = self.action.rpartition("/")
        return package or "-", name

    def member(self, secret_id: str) -> Member | None:
        return next((m for m in self.secrets if m.id == secret_id), None)


def _int(obj: Mapping[str, Any], key: str, default: int | None, lo: int, hi: int) -> Any:
    value = obj.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise WatchConfigError(f"{key} must be a whole number from {lo} to {hi}")
    return value


def _text(obj: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise WatchConfigError(f"{key} is required: a name")
    return value.strip()


def _names(keys: list[str]) -> str:
    return ", ".join(k if k.isidentifier() else "(a key that is not a name)" for k in keys)


def _unknown(obj: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in obj if k not in known)
    if unknown:
        raise WatchConfigError(
            f"{where}: unknown key {_names(unknown)} (known: {', '.join(sorted(known))})"
        )


def _member(raw: object, number: int) -> Member:
    where = f"secrets #{number}"
    if not isinstance(raw, Mapping):
        raise WatchConfigError(f"{where} must be an object with an id")
    _unknown(raw, SECRET_KEYS, where)
    problem = secret_id_problem(raw.get("id"))
    if problem is not None:
        raise WatchConfigError(f"{where}: {problem}")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise WatchConfigError(f"{where}: name must be text")
    period = raw.get("periodDays")
    if period is not None and (isinstance(period, bool) or not isinstance(period, int)
                               or not 1 <= period <= 730):  # fmt: skip
        raise WatchConfigError(f"{where}: periodDays must be a whole number from 1 to 730")
    window = None
    if raw.get("window") is not None:
        if period is None:
            raise WatchConfigError(f"{where}: a window needs periodDays (the rotation period)")
        try:
            window = parse_window(raw["window"], f"{where} window")
        except WindowError as exc:
            raise WatchConfigError(str(exc)) from None
    return Member(id=str(raw["id"]), name=name, period_days=period, window=window)


def _metrics(raw: object) -> Metrics | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise WatchConfigError("metrics must be an object with a cwKey")
    _unknown(raw, METRICS_KEYS, "metrics")
    key = raw.get("cwKey")
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise WatchConfigError("metrics: cwKey is required (the schema's key; deploy sets it)")
    endpoint = raw.get("endpoint", CLOUD_INSIGHT_ENDPOINT)
    problem = endpoint_problem(endpoint) if isinstance(endpoint, str) else "must be a URL"
    if problem is not None:
        raise WatchConfigError(f"metrics: endpoint {problem}")
    prod = raw.get("prodName", DEFAULT_PROD_NAME)
    if not isinstance(prod, str) or not prod.startswith("Custom/") or len(prod) > 100:
        raise WatchConfigError("metrics: prodName must start with Custom/")
    per_secret = raw.get("perSecret", True)
    if not isinstance(per_secret, bool):
        raise WatchConfigError("metrics: perSecret must be true or false")
    return Metrics(key.strip(), endpoint.rstrip("/"), prod, per_secret)


def _state_id(raw: object) -> str | None:
    if raw is None:
        return None
    problem = secret_id_problem(raw)
    if problem is not None:
        raise WatchConfigError(f"stateSecretId: {problem}")
    return str(raw)


def parse_watch(obj: object) -> WatchConfig:
    """The ``watch`` parameter (an object, or JSON text of one), every key checked."""
    try:
        raw = json_object(obj, "watch", codes.WATCH_INVALID)
    except FleetParamsError as exc:
        raise WatchConfigError(str(exc).removeprefix("watch ")) from None
    if raw is None:
        raise WatchConfigError("the watch parameter is required (python -m deploy sets it)")
    _unknown(raw, KEYS, "watch")
    scope = raw.get("scope", "fleet")
    if scope not in SCOPES:
        raise WatchConfigError('scope must be "fleet" or "all"')
    listed = raw.get("secrets", [])
    if not isinstance(listed, list):
        raise WatchConfigError("secrets must be a list")
    members = tuple(_member(item, i + 1) for i, item in enumerate(listed))
    if len({m.id for m in members}) != len(members):
        raise WatchConfigError("secrets lists a secret twice")
    if scope == "fleet" and not members:
        raise WatchConfigError('scope "fleet" needs the fleet: secrets lists none')
    return WatchConfig(
        trigger=_text(raw, "trigger"),
        action=_text(raw, "action"),
        scope=scope,
        secrets=members,
        overdue_after_minutes=_int(raw, "overdueAfterMinutes", 60, 0, 525_600),
        stale_after_minutes=_int(raw, "staleAfterMinutes", None, 1, 525_600),
        remind_every_minutes=_int(raw, "remindEveryMinutes", 1440, 10, 525_600),
        max_messages=_int(raw, "maxMessages", 10, 1, 50),
        state_secret=_text(raw, "stateSecret", DEFAULT_STATE_SECRET),
        state_secret_id=_state_id(raw.get("stateSecretId")),
        workers=_int(raw, "workers", 8, 1, 32),
        metrics=_metrics(raw.get("metrics")),
    )


# -- the activation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchSettings:
    """One activation's settings, read afresh each time (a warm process serves many)."""

    config: WatchConfig
    credentials: Credentials = field(repr=False)
    endpoint: str
    functions_endpoint: str
    deadline: Deadline
    notify: object = field(default=None, repr=False)
    activation_id: str | None = None
    action_name: str | None = None


def _param(args: Mapping[str, Any], env: Mapping[str, str], key: str, var: str) -> str | None:
    value = args.get(key)
    if value is not None and not isinstance(value, str):
        raise SettingsError(codes.INVALID_PARAMETER, f"{key} must be a string")
    return value or env.get(var) or None


def _endpoint(value: str, key: str) -> str:
    problem = endpoint_problem(value)
    if problem is not None:
        raise SettingsError(codes.INVALID_ENDPOINT, f"{key} {problem}")
    return value.rstrip("/")


def _deadline(env: Mapping[str, str]) -> Deadline:
    raw = env.get("__OW_DEADLINE")
    if raw:
        try:
            return Deadline.at_epoch_ms(float(raw))
        except ValueError:
            raise SettingsError(
                codes.INVALID_DEADLINE, "__OW_DEADLINE must be epoch milliseconds"
            ) from None
    return Deadline.after(DEFAULT_TIMEOUT_SECONDS)


def load_settings(args: Mapping[str, Any], env: Mapping[str, str] | None = None) -> WatchSettings:
    """The activation's settings; a :class:`SettingsError` (with its code) when they are
    wrong, before any call is made."""
    environ = os.environ if env is None else env
    if not isinstance(args, Mapping):
        raise SettingsError(codes.INVALID_INPUT, "the action parameters must be a JSON object")
    config = parse_watch(args.get("watch"))
    access = _param(args, environ, "accessKey", "NCLOUD_ACCESS_KEY")
    secret = _param(args, environ, "secretKey", "NCLOUD_SECRET_KEY")
    if bool(args.get("accessKey")) != bool(args.get("secretKey")) or not access or not secret:
        raise SettingsError(
            codes.MISSING_CREDENTIALS,
            "give accessKey and secretKey as parameters (or neither, and set "
            "NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY)",
        )
    endpoint = _param(args, environ, "secretManagerEndpoint", "NCLOUD_SECRET_MANAGER_ENDPOINT")
    functions = _param(args, environ, "cloudFunctionsEndpoint", "NCLOUD_CLOUD_FUNCTIONS_ENDPOINT")
    return WatchSettings(
        config=config,
        credentials=Credentials(access, secret),
        endpoint=_endpoint(endpoint or SECRET_MANAGER_ENDPOINT, "secretManagerEndpoint"),
        functions_endpoint=_endpoint(
            functions or CLOUD_FUNCTIONS_ENDPOINT, "cloudFunctionsEndpoint"
        ),
        deadline=_deadline(environ),
        notify=args.get("notify"),
        activation_id=environ.get("__OW_ACTIVATION_ID") or None,
        action_name=environ.get("__OW_ACTION_NAME") or None,
    )
