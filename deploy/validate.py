"""The action's parameters, checked for each secret with the handler's own code, before
anything is written.

A wrong ``policy`` or ``target`` used to deploy fine and fail at the first rotation, a job
left for an operator to clean up. Here each configured secret's parameters (the shared
``[action.parameters]`` with the secret's own ``target``/``policy`` laid over them, as the
action will see them) go through what the handler runs before it touches a target:

    Settings.load     parameter shapes: target, policy, region, timeoutSeconds
    parse_notify      the notify webhooks
    build_target      the target from its parameter and the secret's active value (no
                      connection is made: factories only read configuration)
    preflight         the rotation's own rules (rotation/preflight.py): the value holds
                      every rotation target as plain text; the policy, on the target's
                      default, names only rotation targets, generates values the target
                      accepts, and keeps the new value within Secret Manager's limit

The secret's value is read (Get Secret Value) because the target is built from it, as the
action builds it. An ``hmacKeyEnv`` names a variable of the *action's* environment, which
deploy cannot see: its presence is left to ``python -m rotation check`` and the action's
dry run; the rest of that configuration is still checked. A CA file (``sslRootCert``, ``caBundle``)
is checked where deploy read it, its configured path made absolute (the action itself gets
the copy packed into the zip: deploy/certs.py). Messages are the handler's, prefixed with
the secret and the parameter; they never carry a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deploy.config import ConfigError, SecretSpec
from rotation import logs, preflight
from rotation.codes import CodedError
from rotation.ncp.deadline import Deadline
from rotation.ncp.models import SecretChain, SecretValue
from rotation.ncp.signing import Credentials
from rotation.notify import parse_notify
from rotation.settings import Settings
from rotation.targets import Target, TargetContext, build_target
from rotation.targets.webhook import ENV_NAME

#: Stands in for the key an ``hmacKeyEnv`` names (long enough for every key rule).
_PLACEHOLDER_KEY = "deploy-check-placeholder-hmac-key-0123456789"


def effective_parameters(shared: Mapping[str, Any], spec: SecretSpec) -> dict[str, Any]:
    """The parameters the action sees for this secret (rotation.fleet_params's rule: the
    secret's own key replaces the shared one whole)."""
    return {**shared, **spec.own_parameters()}


def _without_key_env(item: Any) -> Any:
    """A copy in which every ``hmacKeyEnv`` (the action's environment, not ours) is replaced
    by a placeholder ``hmacKey``; an entry giving both, or a name no variable can have, is
    left for the handler's rules to refuse."""
    if isinstance(item, Mapping):
        copy = {k: _without_key_env(v) for k, v in item.items()}
        env_name = copy.get("hmacKeyEnv")
        if isinstance(env_name, str) and ENV_NAME.fullmatch(env_name) and "hmacKey" not in copy:
            del copy["hmacKeyEnv"]
            copy["hmacKey"] = _PLACEHOLDER_KEY
        return copy
    if isinstance(item, list):
        return [_without_key_env(v) for v in item]
    return item


def check_parameters(
    parameters: Mapping[str, Any],
    *,
    secret_id: str,
    label: str,
    chain: SecretChain,
    read_secret: Callable[[str], SecretValue],
    credentials: Credentials,
    endpoint: str,
) -> None:
    """Raise :class:`ConfigError` when the action would refuse these parameters for this
    secret (the message: the secret, the parameter, the handler's reason and code)."""
    where = f"secret {label}"
    checkable = _without_key_env(dict(parameters))
    try:
        settings = Settings.load(
            {
                **checkable,
                "secretId": secret_id,
                "jobToken": "deploy-check",
                "accessKey": credentials.access_key,
                "secretKey": credentials.secret_key,
                "secretManagerEndpoint": endpoint,
            },
            env={},
        )
        parse_notify(checkable.get("notify"))
    except CodedError as exc:
        raise ConfigError(f"{where}: {exc} ({exc.code})") from None
    try:
        active = preflight.active_value(chain)
    except CodedError as exc:
        raise ConfigError(
            f"{where}: {exc} ({exc.code}); fix the value (python -m rotation secret update) "
            "before enabling rotation"
        ) from None
    ctx = TargetContext(
        secret_id=secret_id,
        deadline=Deadline.after(30),
        register_secret=logs.REDACTOR.register,
        read_secret=read_secret,
        credentials=credentials,
    )
    try:
        target = build_target(settings.target, active, ctx)
    except CodedError as exc:
        raise ConfigError(f"{where}: target: {exc} ({exc.code})") from None
    try:
        _check_policy(where, settings.policy, chain, target)
    finally:
        target.close()


def _check_policy(
    where: str, policy: Mapping[str, Any] | None, chain: SecretChain, target: Target
) -> None:
    """The rotation's own preflight rules (:mod:`rotation.preflight`): derived keys, the
    policy's keys, what the target accepts, the new value's size."""
    try:
        preflight.policies_for(policy, target, chain)
    except CodedError as exc:
        raise ConfigError(f"{where}: {exc} ({exc.code})") from None
