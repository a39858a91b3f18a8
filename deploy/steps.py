"""The deployment, step by step, each one read-compare-write so a second run changes nothing.

    action    PUT /packages/{package}/actions/{name}: the zip, python:3.13, limits, VPC,
              default parameters (the Secret Manager endpoint and the action's key pair)
    trigger   PUT /triggers/{name}?type=secret_manager, linking the secret by name
    link      POST /triggers/{name}/link-action
    lookup    GET /api/v1/triggers on Secret Manager: the trigger's id
    rotation  POST /api/v1/secrets/{id}/enable-auto-rotation with that trigger and period

Each step first reads what is there and writes only what differs; ``--dry-run`` stops
after the reads and prints the plan. The action's code is recognised by the zip's SHA-256,
kept in the action's description, so an unchanged zip is not uploaded again. Every failure
names its step, the HTTP status and what to do about it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from deploy.config import DeployConfig
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.errors import (
    ApiError,
    AuthenticationFailed,
    DeadlineExceeded,
    Forbidden,
    NcpError,
    NotFound,
    RetryableApiError,
    TransportError,
)
from rotation.ncp.models import SecretDetail
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.sensitive import masked

T = TypeVar("T")

RUNTIME = "python:3.13"
DESCRIPTION = "ncp-secret-rotator"


class DeployError(Exception):
    def __init__(self, step: str, status: int | None, hint: str) -> None:
        where = f"HTTP {status}" if status else "no HTTP answer"
        super().__init__(f"step {step} failed ({where}): {hint}")
        self.step = step
        self.status = status


def hint_for(step: str, exc: NcpError, endpoint: str) -> DeployError:
    status = exc.status if isinstance(exc, ApiError) else None
    if isinstance(exc, AuthenticationFailed):
        hint = (
            "the gateway refused the key pair: check NCLOUD_ACCESS_KEY / NCLOUD_SECRET_KEY "
            "and the clock"
        )
    elif isinstance(exc, Forbidden):
        hint = (
            "the sub-account lacks a policy: it needs Cloud Functions and Secret Manager "
            "manager rights (NCP_SECRETMANAGER_MANAGER)"
        )
    elif isinstance(exc, NotFound):
        hint = f"not found ({exc.details or exc.message}): check the names and {endpoint}"
    elif isinstance(exc, (RetryableApiError, DeadlineExceeded)):
        hint = "the API is busy or failing; run the deployment again (repeating it is safe)"
    elif isinstance(exc, TransportError):
        hint = f"cannot reach {endpoint}: check the endpoint and the network"
    elif isinstance(exc, ApiError):
        hint = f"the service refused it: {exc.details or exc.message or exc.code}"
    else:
        hint = str(exc)
    return DeployError(step, status, hint)


@dataclass(frozen=True)
class Outcome:
    step: str
    subject: str
    change: str  # create | update | link | enable | unchanged

    @property
    def changed(self) -> bool:
        return self.change != "unchanged"


class Deployer:
    def __init__(
        self,
        config: DeployConfig,
        zip_bytes: bytes,
        *,
        functions: CloudFunctionsClient,
        secrets: SecretManagerClient,
        out: TextIO,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.zip_bytes = zip_bytes
        self.sha256 = hashlib.sha256(zip_bytes).hexdigest()
        self.functions = functions
        self.secrets = secrets
        self.out = out
        self.dry_run = dry_run
        self.outcomes: list[Outcome] = []

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, step: str, endpoint: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except NcpError as exc:
            raise hint_for(step, exc, endpoint) from None

    def _fn(self, step: str, fn: Callable[[], T]) -> T:
        return self._call(step, self.config.cloud_functions_endpoint, fn)

    def _sm(self, step: str, fn: Callable[[], T]) -> T:
        return self._call(step, self.config.secret_manager_endpoint, fn)

    def _record(self, step: str, subject: str, change: str, detail: str = "") -> None:
        self.outcomes.append(Outcome(step, subject, change))
        verb = change if not self.dry_run or change == "unchanged" else f"would {change}"
        self.out.write(f"  {step:<9} {subject:<40} {verb}{f'  ({detail})' if detail else ''}\n")

    # -- the desired state --------------------------------------------------------------

    def action_body(self) -> dict[str, Any]:
        c = self.config
        return {
            "description": f"{DESCRIPTION} sha256:{self.sha256}",
            "parameters": {
                **c.parameters,
                "secretManagerEndpoint": c.secret_manager_endpoint,
                "accessKey": c.action_credentials.access_key,
                "secretKey": c.action_credentials.secret_key,
            },
            "limits": {"timeout": c.timeout_ms, "memory": c.memory_mb},
            "exec": {"kind": RUNTIME, "binary": True, "main": "main"},
            "vpc": [{"vpcNo": c.vpc_no, "subnetNo": c.subnet_no}],
        }

    @staticmethod
    def _same_action(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
        exe = existing.get("exec") if isinstance(existing.get("exec"), Mapping) else {}
        assert isinstance(exe, Mapping)
        return (
            existing.get("description") == wanted["description"]
            and existing.get("parameters") == wanted["parameters"]
            and existing.get("limits") == wanted["limits"]
            and existing.get("vpc") == wanted["vpc"]
            and exe.get("kind") == RUNTIME
            and exe.get("main") == "main"
        )

    # -- the steps -----------------------------------------------------------------------

    def run(self) -> list[Outcome]:
        c = self.config
        self.out.write(
            f"{'plan (dry run, nothing is changed)' if self.dry_run else 'deploying'}:\n"
        )
        size = f"{len(self.zip_bytes) / 1_048_576:.1f} MB"
        self.out.write(f"  {'package':<9} {c.zip_path!s:<40} sha256 {self.sha256} {size}\n")
        secret = self.secret()
        self.action()
        self.trigger(secret)
        self.link()
        self.rotation(secret)
        if not any(o.changed for o in self.outcomes):
            self.out.write("nothing to change: the deployment is up to date\n")
        elif self.dry_run:
            self.out.write("dry run: run again without --dry-run to apply\n")
        else:
            self.out.write("done\n")
        return self.outcomes

    def secret(self) -> SecretDetail:
        c = self.config
        if c.secret_id:
            return self._sm("secret", lambda: self.secrets.get_secret(str(c.secret_id)))
        summaries = self._sm("secret", lambda: list(self.secrets.iter_secrets()))
        found = [s for s in summaries if s.secret_name == c.secret_name]
        if not found:
            raise DeployError(
                "secret", None, f"no secret named {c.secret_name!r} at {c.secret_manager_endpoint}"
            )
        return self._sm("secret", lambda: self.secrets.get_secret(found[0].secret_id))

    def action(self) -> None:
        c = self.config
        wanted = self.action_body()
        existing = self._fn("action", lambda: self.functions.get_action(c.package, c.action))
        if existing is not None and self._same_action(existing, wanted):
            self._record("action", c.action_full_name, "unchanged", RUNTIME)
            return
        change = "create" if existing is None else "update"
        if self.dry_run:
            params = ", ".join(f"{k}={v}" for k, v in masked(wanted["parameters"]).items())
            self._record("action", c.action_full_name, change, f"{RUNTIME}; parameters {params}")
            return
        body = {
            **wanted,
            "exec": {**wanted["exec"], "code": base64.b64encode(self.zip_bytes).decode()},
        }
        self._fn("action", lambda: self.functions.put_action(c.package, c.action, body))
        self._record("action", c.action_full_name, change, RUNTIME)

    def trigger(self, secret: SecretDetail) -> None:
        c = self.config
        existing = self._fn("trigger", lambda: self.functions.get_trigger(c.trigger))
        links = [{"secretName": secret.secret_name}]
        if existing is not None and existing.get("type") not in (None, "secret_manager"):
            raise DeployError(
                "trigger",
                None,
                f"{c.trigger!r} exists with type {existing.get('type')}: pick another name",
            )
        if existing is not None and existing.get("secretManagerLink") == links:
            self._record("trigger", c.trigger, "unchanged", f"linked to {secret.secret_name}")
            return
        change = "create" if existing is None else "update"
        if not self.dry_run:
            body = {"description": f"rotates {secret.secret_name}", "secretManagerLink": links}
            self._fn(
                "trigger",
                lambda: self.functions.put_trigger(c.trigger, body, kind="secret_manager"),
            )
        self._record("trigger", c.trigger, change, f"linked to {secret.secret_name}")

    def link(self) -> None:
        c = self.config
        existing = self._fn("link", lambda: self.functions.get_trigger(c.trigger))
        actions = [
            a.get("name") for a in (existing or {}).get("actions", []) if isinstance(a, Mapping)
        ]
        subject = f"{c.action_full_name} -> {c.trigger}"
        if c.action_full_name in actions:
            self._record("link", subject, "unchanged")
            return
        if not self.dry_run:
            self._fn("link", lambda: self.functions.link_action(c.trigger, c.package, c.action))
        self._record("link", subject, "link")

    def rotation(self, secret: SecretDetail) -> None:
        c = self.config
        triggers = self._sm("lookup", self.secrets.list_triggers)
        match = [t for t in triggers if t.name == c.trigger]
        subject = f"{secret.secret_name} every {c.rotation_period} days"
        if not match:
            if self.dry_run:
                self._record("rotation", subject, "enable", "trigger id known once it exists")
                return
            raise DeployError(
                "lookup",
                None,
                f"Secret Manager lists no trigger {c.trigger!r} yet; run again shortly",
            )
        trigger_id = match[0].id
        if (
            secret.auto_rotation
            and secret.trigger is not None
            and secret.trigger.id == trigger_id
            and secret.auto_rotation_period == c.rotation_period
        ):
            self._record("rotation", subject, "unchanged", f"trigger {trigger_id}")
            return
        if not self.dry_run:
            self._sm(
                "rotation",
                lambda: self.secrets.enable_auto_rotation(
                    secret.secret_id, rotation_period=c.rotation_period, trigger_id=trigger_id
                ),
            )
        self._record("rotation", subject, "enable", f"trigger {trigger_id}")
