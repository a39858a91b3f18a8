"""Small builders for test data, so each test states only what it is about.

The one place that builds a :class:`Change`, a :class:`TargetContext`, a secret (through
the client, the documented way) or a job: a field added to one of them is added here once,
not in every test module. Test modules never import one another; what two of them share
lives here (or in another helper module: databases, leaks, webhook_receiver).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import handler
from emulator import Activation, Emulator
from rotation import logs
from rotation.ncp.admin_models import CreateSecretRequest
from rotation.ncp.deadline import Deadline
from rotation.ncp.models import SecretDetail, SecretValue, Stage
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.transport import RetryPolicy
from rotation.settings import Settings
from rotation.targets.base import Change, Target, TargetContext
from rotation.workflow import Outcome, Rotation

_counter = iter(range(1, 1_000_000))

#: The secret a target test rotates, when the test does not care which.
SECRET_ID = "s1"

#: Real backoff, just short: retry tests exercise the same code path as production.
FAST_RETRY = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)


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


def executed_job(emu: Emulator, client: SecretManagerClient, **kwargs: Any) -> tuple[str, str]:
    """A rotatable secret with a job executed (WAITING, nothing runs it):
    ``(secret_id, job_token)``, what an action is invoked with."""
    secret_id = rotatable_secret(emu, client, **kwargs).secret_id
    client.execute_rotation_job(secret_id)
    return secret_id, job_token(client, secret_id)


def started_job(emu: Emulator, client: SecretManagerClient, **kwargs: Any) -> tuple[str, str]:
    """A rotatable secret with a job executed and started: ``(secret_id, job_token)``."""
    secret_id, token = executed_job(emu, client, **kwargs)
    client.start_rotation_job(secret_id, token)
    return secret_id, token


def invoke(emu: Emulator, secret_id: str | None, token: str | None, **extra: Any) -> dict[str, Any]:
    """``handler.main`` in this process, with the parameters a deployed action carries
    (the emulator's endpoint and keys) and ``extra``; the result must serialise as JSON,
    as the runtime does with it."""
    args: dict[str, Any] = {
        "secretManagerEndpoint": emu.endpoint,
        "accessKey": emu.access_key,
        "secretKey": emu.secret_key,
        **extra,
    }
    if secret_id is not None:
        args["secretId"] = secret_id
    if token is not None:
        args["jobToken"] = token
    result = handler.main(args)
    json.dumps(result)
    return result


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


# -- what a target is handed ------------------------------------------------------------------


def change(
    active: Mapping[str, Any],
    pending: Mapping[str, Any] | None = None,
    /,
    *,
    keys: tuple[str, ...] = ("password",),
    previous: Mapping[str, Any] | None = None,
    secret_id: str = SECRET_ID,
    **updates: Any,
) -> Change:
    """The values one rotation moves between. ``pending`` defaults to ``active``;
    ``updates`` are applied on top of it: ``change(active, password=new)``."""
    base = SecretValue(active if pending is None else pending)
    return Change(
        secret_id=secret_id,
        active=SecretValue(active),
        pending=base.replace(updates),
        keys=keys,
        previous=None if previous is None else SecretValue(previous),
    )


def target_context(
    *,
    seconds: float = 30.0,
    admins: Mapping[str, tuple[str, str]] | None = None,
    register_secret: Callable[[str], None] = logs.REDACTOR.register,
    secret_id: str = SECRET_ID,
) -> TargetContext:
    """What the workflow hands a target, as it builds it: a deadline ``seconds`` away, the
    log redactor told about every secret the target learns, and ``admins`` (secret id to
    ``(username, password)``) as the other secrets it may read (none: no ``read_secret``)."""

    def read_secret(other: str) -> SecretValue:
        assert admins is not None and other in admins, f"unexpected secret {other!r}"
        username, password = admins[other]
        return SecretValue({"username": username, "password": password})

    return TargetContext(
        secret_id=secret_id,
        deadline=Deadline.after(seconds),
        register_secret=register_secret,
        read_secret=read_secret if admins is not None else None,
    )


# -- time ---------------------------------------------------------------------------------------


class ManualClock:
    """A business clock a test moves by hand (``Emulator(clock=...)``); request signatures
    keep the wall clock."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * 86_400


# -- a scripted target, for states no real system produces on demand ----------------------


@dataclass
class Scripted(Target):
    """Accepts a set of credentials; each method can be told to raise, or to run a hook
    first (``hooks["set"](change)``: another writer acting while this step runs)."""

    accepted: set[str]
    kind: str = "scripted"
    external: bool = True
    raise_on: dict[str, Exception] = field(default_factory=dict)
    hooks: dict[str, Callable[[Change], None]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _maybe_raise(self, name: str, change: Change | None = None) -> None:
        self.calls.append(name)
        if name in self.hooks and change is not None:
            self.hooks[name](change)
        if name in self.raise_on:
            raise self.raise_on[name]

    def probe(self, change: Change, stage: Stage) -> bool:
        self._maybe_raise(f"probe-{stage.value.lower()}", change)
        value = change.stage(stage)
        return value is not None and value["password"] in self.accepted

    def set(self, change: Change) -> None:
        self._maybe_raise("set", change)
        self.accepted = {change.pending["password"]}

    def test(self, change: Change) -> None:
        self._maybe_raise("test", change)

    def rollback(self, change: Change) -> None:
        self._maybe_raise("rollback", change)
        self.accepted = {change.active["password"]}

    def finish(self, change: Change) -> None:
        self._maybe_raise("finish", change)

    def close(self) -> None:
        self.calls.append("close")


def run_scripted(
    emu: Emulator, client: SecretManagerClient, target: Scripted
) -> tuple[str, Outcome]:
    sid, token = executed_job(emu, client, value={"password": "initial-Pw-123"})
    return sid, rotate_with(emu, sid, token, target)


def rotate_with(
    emu: Emulator, sid: str, token: str, target: Scripted, *, timeout: float = 20
) -> Outcome:
    """Run the workflow in-process with ``target`` standing in for the real system."""
    settings = Settings.load(
        {
            "secretId": sid,
            "jobToken": token,
            "accessKey": emu.access_key,
            "secretKey": emu.secret_key,
            "secretManagerEndpoint": emu.endpoint,
            "timeoutSeconds": timeout,
        },
        {},
    )

    def builder(
        config: Mapping[str, Any] | None, active: SecretValue, ctx: TargetContext
    ) -> Scripted:
        return target

    with SecretManagerClient(settings.credentials, endpoint=settings.endpoint) as api:
        return Rotation(settings, api, target_builder=builder).run()
