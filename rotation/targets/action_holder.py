"""The Cloud Functions action whose default parameters hold an API key pair: the
rotator's own key (``ncp-api-key`` with ``action``).

The invariant for it: at every instant the deployed action's parameters hold a key that
works. So the target writes a new pair into them only once the gateway accepts it
(:meth:`ActionHolder.hold`, after the target's wait), proves it with a ``dryRun`` of the
deployed action, which signs with the new pair from inside its VPC
(:meth:`ActionHolder.test`), puts the old pair back *before* a rollback disables the new
key, and lets ``finish`` disable the old key only while the parameters hold the new one
(:meth:`ActionHolder.holds`). The calls: Get Action and Put Action
(:mod:`rotation.ncp.action_params`), Post Action for the dry run; they need
``NCP_VPC_CLOUD_FUNCTIONS_MANAGER``.

Settings: ``action`` (``{"package", "name"}``, package ``-`` for none),
``cloudFunctionsEndpoint`` (the public v2 API by default), ``dryRun`` (true).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotation import logs
from rotation.ncp.action_params import read_parameters, replace_parameters
from rotation.ncp.cloudfunctions import DEFAULT_ENDPOINT, MAX_INVOKE_WAIT_MS, CloudFunctionsClient
from rotation.ncp.errors import NcpError
from rotation.ncp.signing import Credentials
from rotation.settings import endpoint_problem
from rotation.targets.base import (
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetSetFailed,
    TargetTestFailed,
    permission_denied,
)

POLICY = "NCP_VPC_CLOUD_FUNCTIONS_MANAGER"


def shown(access_key: str) -> str:
    """An access key as log lines show it: enough to find it, not the whole."""
    head = access_key[:8] if access_key.startswith("ncp_iam_") else access_key[:4]
    return f"{head}...{access_key[-4:]}"


@dataclass
class ActionHolder:
    package: str
    name: str
    endpoint: str
    dry_run: bool
    ctx: TargetContext

    def _client(self) -> CloudFunctionsClient:
        if self.ctx.credentials is None:
            raise TargetConfigError("the Cloud Functions API needs the action's access key pair")
        return CloudFunctionsClient(
            self.ctx.credentials, endpoint=self.endpoint, deadline=self.ctx.deadline
        )

    def holds(self) -> str | None:
        """The access key the action's default parameters hold now."""
        with self._client() as client:
            try:
                params = read_parameters(client, self.package, self.name)
            except NcpError as exc:
                raise self._error(exc, "read the action's parameters") from None
        held = params.get("accessKey")
        return held if isinstance(held, str) else None

    def hold(self, pair: Credentials) -> None:
        """Write ``pair`` into the action's default parameters (Put Action), unless they
        hold it already. The caller has seen the gateway accept it."""
        if self.holds() == pair.access_key:
            return
        with self._client() as client:
            try:
                replace_parameters(
                    client, self.package, self.name,
                    {"accessKey": pair.access_key, "secretKey": pair.secret_key},
                )  # fmt: skip
            except NcpError as exc:
                raise self._error(exc, "update the action's parameters") from None
        logs.log.info(
            "target.action_parameters", action=self.name, access_key_id=shown(pair.access_key)
        )

    def test(self, pair: Credentials, secret_id: str) -> None:
        """The parameters hold ``pair`` and a dry run of the deployed action passes."""
        if self.holds() != pair.access_key:
            raise TargetTestFailed("the action's parameters do not hold the new pair")
        if not self.dry_run:
            return
        left = max(0.0, self.ctx.deadline.remaining() - 1)
        wait_ms = int(min(MAX_INVOKE_WAIT_MS, left * 1000))
        with self._client() as client:
            try:
                activation = client.invoke_action(
                    self.package, self.name, {"dryRun": True, "secretId": secret_id},
                    wait_ms=wait_ms,
                )  # fmt: skip
            except NcpError as exc:
                raise self._error(exc, "run the action's dry run") from None
        result = activation.result or {}
        if result.get("ok") is not True:
            error = result.get("error")
            code = error.get("code") if isinstance(error, Mapping) else None
            raise TargetTestFailed(
                f"the action's dry run with the new pair did not pass ({code or 'no result'})"
            )

    @staticmethod
    def _error(exc: NcpError, doing: str) -> TargetError:
        refused = permission_denied(exc, doing, POLICY)
        if refused is not None:
            return refused
        return TargetSetFailed(f"could not {doing}: {exc}")


def action_holder(settings: Mapping[str, Any], ctx: TargetContext) -> ActionHolder | None:
    """The ``action`` setting, checked (bad input before any call); None without one."""
    raw = settings.get("action")
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"package", "name"}:
        raise TargetConfigError('action must be {"package": ..., "name": ...}')
    package, name = raw.get("package", "-"), raw.get("name")
    if not isinstance(package, str) or not package or not isinstance(name, str) or not name:
        raise TargetConfigError("action needs a package and a name (package - for none)")
    dry_run = settings.get("dryRun", True)
    if not isinstance(dry_run, bool):
        raise TargetConfigError("dryRun must be true or false")
    endpoint = settings.get("cloudFunctionsEndpoint") or DEFAULT_ENDPOINT
    if not isinstance(endpoint, str):
        raise TargetConfigError("cloudFunctionsEndpoint must be text")
    problem = endpoint_problem(endpoint)
    if problem is not None:
        raise TargetConfigError(f"cloudFunctionsEndpoint {problem}")
    return ActionHolder(package, name, endpoint, dry_run, ctx)
