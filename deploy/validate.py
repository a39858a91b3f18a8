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
    PolicySet         the value policy, on the target's default; its ``keys`` must be
                      rotation targets, and the target must accept what it generates

The secret's value is read (Get Secret Value) because the target is built from it, as the
action builds it. An ``hmacKeyEnv`` names a variable of the *action's* environment, which
deploy cannot see: its presence is left to ``python -m rotation check`` and the action's
dry run; the rest of that configuration is still checked. Messages are the handler's,
prefixed with the secret and the parameter; they never carry a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deploy.config import ConfigError, SecretSpec
from rotation import codes, logs
from rotation.codes import CodedError
from rotation.generate import Generator, PolicySet, generate_values
from rotation.ncp.deadline import Deadline
from rotation.ncp.models import SecretChain, SecretValue
from rotation.ncp.signing import Credentials
from rotation.notify import parse_notify
from rotation.settings import Settings
from rotation.targets import Target, TargetContext, build_target

#: Samples per key when checking that the target accepts the policy's values.
SAMPLES = 10
#: Stands in for the key an ``hmacKeyEnv`` names (long enough for every key rule).
_PLACEHOLDER_KEY = "deploy-check-placeholder-hmac-key-0123456789"


def effective_parameters(shared: Mapping[str, Any], spec: SecretSpec) -> dict[str, Any]:
    """The parameters the action sees for this secret (rotation.fleet_params's rule: the
    secret's own key replaces the shared one whole)."""
    return {**shared, **spec.own_parameters()}


def _without_key_env(item: Any) -> Any:
    """A copy in which every ``hmacKeyEnv`` (the action's environment, not ours) is replaced
    by a placeholder ``hmacKey``; an entry giving both is left for the handler to refuse."""
    if isinstance(item, Mapping):
        copy = {k: _without_key_env(v) for k, v in item.items()}
        env_name = copy.get("hmacKeyEnv")
        if isinstance(env_name, str) and env_name and "hmacKey" not in copy:
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
    active = chain.active
    if active is None:
        raise ConfigError(f"{where} has no active value: store one before enabling rotation")
    for key in chain.rotation_targets:
        if not isinstance(active.get(key), str) or not active[key]:
            raise ConfigError(
                f"{where}: rotation target {key!r} is not text in the value; fix the value "
                "(python -m rotation secret update) before enabling rotation"
            )
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
    assert chain.active is not None
    target_kind = target.kind
    try:
        derived = set(target.derive(chain.active))
        policies = PolicySet.from_mapping(policy, base=target.default_policy)
    except CodedError as exc:
        raise ConfigError(f"{where}: {exc} ({exc.code})") from None
    keys = set(chain.rotation_targets)
    if not derived <= keys:
        raise ConfigError(
            f"{where}: the {target_kind} target also changes {', '.join(sorted(derived - keys))}: "
            "add it to the secret's rotation targets"
        )
    stray = sorted(set(policies.keys) - keys)
    if stray:
        raise ConfigError(
            f"{where}: policy keys {', '.join(stray)} are not rotation targets of the secret "
            f"({', '.join(chain.rotation_targets)}) ({codes.INVALID_POLICY})"
        )
    if policies.generator is not Generator.LOCAL:
        return
    for key in chain.rotation_targets:
        if key in derived:
            continue
        samples = (generate_values([key], policies)[key] for _ in range(SAMPLES))
        if not any(target.accepts(key, sample) for sample in samples):
            raise ConfigError(
                f"{where}: the {target_kind} target refuses the values this policy "
                f"generates for {key!r} ({codes.INVALID_POLICY})"
            )
