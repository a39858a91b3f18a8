"""Action parameters for the commands that run rotation code in this process.

``check`` and a local ``resume`` build the same target the deployed action builds, so they
need its ``target`` and ``policy`` parameters. They come from a JSON file (``--params``),
the same object as the action's default parameters; the ids, the job token and the keys
never come from it (the CLI finds the first two and takes the keys from the environment).
Values under secret-looking names (``hmacKey``) are registered with the redactor.

Without ``--params``, ``check`` reads them where the rotation will: the default parameters
of the deployed action the secret's trigger runs (Cloud Functions Get Action). Either way
they are read the way the action reads them (:meth:`rotation.settings.Settings.load`):
this secret's ``bySecretId`` entry laid over the shared ones, JSON text accepted for an
object, and a parameter the action refuses refused here with the action's code. A
``check`` that approved what the action then refused (a per-secret ``ssl`` under
``bySecretId``) is what this closes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rotation import logs
from rotation.check import ActionParameters, CheckStatus, ParamsSource
from rotation.cli.common import CliError, UsageError
from rotation.cli.explain import split_action
from rotation.fleet_params import BY_SECRET_ID, FleetParamsError, json_object
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.errors import NcpError
from rotation.ncp.models import SecretDetail, SecretValue
from rotation.ncp.signing import Credentials
from rotation.sensitive import is_sensitive_key
from rotation.settings import Settings

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


@dataclass(frozen=True)
class ParamsFile:
    """A ``--params`` file, read and checked."""

    path: Path
    data: dict[str, Any]


def params_file(text: str) -> ParamsFile:
    """An argparse type: ``--params`` read and checked while the arguments are parsed, so
    a bad file is refused before any call (a secret named by its name is looked up
    before the command runs)."""
    path = Path(text)
    try:
        return ParamsFile(path, read_params(path))
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def as_the_action_reads(
    params: Mapping[str, Any], secret_id: str, keys: Credentials | None = None
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """``(target, policy)`` as the action reads them from ``params`` for this secret.
    ``keys`` stand in for the action's own key pair where ``params`` carries none (a
    ``--params`` file may not); the deployed action's parameters are read with theirs
    alone, as the action reads them. Raises :class:`~rotation.settings.SettingsError` with
    the code the action would end with."""
    _register(dict(params))
    args: dict[str, Any] = {**params, "secretId": secret_id}
    if keys is not None:
        args.setdefault("accessKey", keys.access_key)
        args.setdefault("secretKey", keys.secret_key)
    settings = Settings.load(args, env={}, need_job=False)
    return settings.target, settings.policy


def _own_entry(params: Mapping[str, Any], secret_id: str) -> bool:
    """Does ``bySecretId`` hold an entry for this secret? (Read leniently: a malformed
    map is refused by :func:`as_the_action_reads`, which runs first.)"""
    try:
        fleet = json_object(params.get(BY_SECRET_ID), BY_SECRET_ID)
    except FleetParamsError:
        return False
    return fleet is not None and secret_id in fleet


def _describe(
    params: Mapping[str, Any],
    secret_id: str,
    target: Mapping[str, Any] | None,
    policy: Mapping[str, Any] | None,
) -> str:
    """Which settings were found (names only: a setting may be a key)."""
    own = (
        "with this secret's bySecretId entry"
        if _own_entry(params, secret_id)
        else "no bySecretId entry for this secret"
    )
    parts = [
        f"{name} sets {', '.join(sorted(map(str, item)))}" if item else f"no {name}"
        for name, item in (("target", target), ("policy", policy))
    ]
    return f"{own}; {'; '.join(parts)}"


def file_source(given: ParamsFile, keys: Credentials) -> ParamsSource:
    """``check --params FILE``: the file, read as the action reads its parameters."""
    path, data = given.path, given.data

    def find(detail: SecretDetail, _actions: list[str] | None) -> ActionParameters:
        target, policy = as_the_action_reads(data, detail.secret_id, keys)
        described = _describe(data, detail.secret_id, target, policy)
        return ActionParameters(target, policy, f"from --params {path} ({described})")

    return find


def _without_deployed(why: str) -> ActionParameters:
    return ActionParameters(
        None,
        None,
        f"{why}: checked with the value's own settings only, which may not be what a "
        "rotation uses (give --params FILE, or --action NAME)",
        CheckStatus.WARN,
    )


def deployed_source(
    functions: Callable[[], CloudFunctionsClient], action: str | None = None
) -> ParamsSource:
    """``check`` without ``--params``: the default parameters of the deployed action that
    rotates the secret (``action``, else the one its trigger runs), from Get Action.
    When they cannot be read the check goes on with the value's settings and says so
    (``warn``); parameters the action would refuse fail with the action's code."""

    def find(detail: SecretDetail, actions: list[str] | None) -> ActionParameters:
        name = _the_action(action, actions)
        if isinstance(name, ActionParameters):
            return name
        try:
            package, base = split_action(name)
        except ValueError:
            return _without_deployed(f"the trigger names an action this CLI cannot read ({name})")
        try:
            with functions() as cf:
                host = urlsplit(cf.endpoint).netloc
                record = cf.get_action(package, base)
        except (NcpError, CliError) as exc:
            return _without_deployed(f"could not read the deployed action {name} ({exc})")
        if record is None:
            return _without_deployed(f"Cloud Functions at {host} knows no action {name}")
        params = dict(record.parameters)
        target, policy = as_the_action_reads(params, detail.secret_id)
        described = _describe(params, detail.secret_id, target, policy)
        return ActionParameters(
            target, policy, f"the deployed action {name}'s parameters ({described})"
        )

    return find


def _the_action(chosen: str | None, actions: list[str] | None) -> str | ActionParameters:
    """The action whose parameters to read, or the line that says why there is none."""
    if chosen is not None:
        return chosen
    if actions is None:
        return _without_deployed("the trigger's actions could not be read")
    if not actions:
        return _without_deployed("no action runs the secret's trigger")
    if len(actions) > 1:
        return ActionParameters(
            None,
            None,
            f"the trigger runs {len(actions)} actions ({', '.join(actions)}), each with its "
            "own parameters: name the one to check with --action",
            CheckStatus.FAIL,
        )
    return actions[0]


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
