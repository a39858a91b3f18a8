"""NCP Cloud Functions REST API (v2.1): the calls a deployment needs, signed like every
NCP API (``rotation.ncp.transport``). Answers are plain JSON objects; this client keeps them
as mappings because only a few fields matter here and the API documents them loosely."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rotation.ncp.errors import NotFound, ResponseFormatError
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy, SignedTransport, Timeouts

DEFAULT_ENDPOINT = "https://cloudfunctions.apigw.ntruss.com/ncf/api/v2"
PLATFORM = {"platform": "vpc"}


def _seg(value: str) -> str:
    return quote(value, safe="")


#: Post Action's ``timeout`` query: how long the call waits for the result (0-60,000 ms).
INVOKE_WAIT_MS = 60_000
_ACTION = "/packages/{package}/actions/{action}"


def _action_path(name: str) -> str:
    """``action``, ``package/action`` or an OpenWhisk full name ``/namespace/[package/]action``
    (the forms Secret Manager's trigger list and the activation records use)."""
    parts = name.strip("/").split("/")
    if name.startswith("/"):
        parts = parts[1:]  # the namespace
    if len(parts) == 1 and parts[0]:
        package, action = "-", parts[0]
    elif len(parts) == 2 and all(parts):
        package, action = parts
    else:
        raise ValueError("an action name is [package/]action")
    return f"/packages/{_seg(package)}/actions/{_seg(action)}"


def _content(data: object, operation: str) -> dict[str, Any]:
    """The answer's object: Cloud Functions wraps answers in ``content`` (documented)."""
    if isinstance(data, Mapping) and isinstance(data.get("content"), Mapping):
        data = data["content"]
    if not isinstance(data, Mapping):
        raise ResponseFormatError("the answer is not a JSON object", operation=operation)
    return dict(data)


class CloudFunctionsClient:
    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.transport = SignedTransport(endpoint, credentials, retry=retry)

    def close(self) -> None:
        self.transport.close()

    def _get(self, operation: str, template: str, path: str) -> Mapping[str, Any] | None:
        try:
            data = self.transport.request(operation, "GET", path, template=template, query=PLATFORM)
        except NotFound:
            return None
        return data if isinstance(data, Mapping) else {}

    def get_action(self, package: str, name: str) -> Mapping[str, Any] | None:
        template = "/packages/{package}/actions/{action}"
        return self._get("get_action", template, f"/packages/{_seg(package)}/actions/{_seg(name)}")

    def put_action(self, package: str, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        path = f"/packages/{_seg(package)}/actions/{_seg(name)}"
        data = self.transport.request(
            "put_action", "PUT", path, template="/packages/{package}/actions/{action}",
            query=PLATFORM, json_body=dict(body),
        )  # fmt: skip
        return data if isinstance(data, Mapping) else {}

    def get_trigger(self, name: str) -> Mapping[str, Any] | None:
        return self._get("get_trigger", "/triggers/{trigger}", f"/triggers/{_seg(name)}")

    def put_trigger(self, name: str, body: Mapping[str, Any], *, kind: str) -> Mapping[str, Any]:
        data = self.transport.request(
            "put_trigger", "PUT", f"/triggers/{_seg(name)}", template="/triggers/{trigger}",
            query={"type": kind, **PLATFORM}, json_body=dict(body),
        )  # fmt: skip
        return data if isinstance(data, Mapping) else {}

    def link_action(self, trigger: str, package: str, action: str) -> Mapping[str, Any]:
        data = self.transport.request(
            "link_action", "POST", f"/triggers/{_seg(trigger)}/link-action",
            template="/triggers/{trigger}/link-action", query=PLATFORM,
            json_body={"action": action, "package": package},
        )  # fmt: skip
        return data if isinstance(data, Mapping) else {}

    # -- running the action (Post Action, activations) --------------------------------------

    def invoke_action(
        self, name: str, params: Mapping[str, Any], blocking: bool = True
    ) -> dict[str, Any]:
        """Post Action: run ``name`` with ``params``; the activation record as answered.

        Blocking waits up to a minute for the result (``timeout=60000``); past that, or
        with ``blocking=False`` (``timeout=0``, our reading of "0~60,000"), the answer holds
        only ``activationId``: follow it with :meth:`get_activation`. Sent once, never
        retried: a retry would run the action twice.
        """
        once = copy.copy(self.transport)
        once.retry = RetryPolicy(attempts=1)
        once.timeouts = Timeouts(read=INVOKE_WAIT_MS / 1000 + 15)
        data = once.request(
            "invoke_action", "POST", _action_path(name), template=_ACTION,
            query={**PLATFORM, "timeout": INVOKE_WAIT_MS if blocking else 0},
            json_body=dict(params),
        )  # fmt: skip
        return _content(data, "invoke_action")

    def get_activation(self, activation_id: str, *, action: str) -> dict[str, Any]:
        """Get Action's Activation Detail: ``logs`` (lines) and ``response.result``."""
        path = f"{_action_path(action)}/activations/{_seg(activation_id)}"
        data = self.transport.request(
            "get_activation", "GET", path, template=_ACTION + "/activations/{activationId}",
            query=PLATFORM,
        )  # fmt: skip
        return _content(data, "get_activation")

    def list_activations(
        self, action: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Get Action's Activation List (the last month at most), as answered."""
        query: dict[str, object] = {**PLATFORM, "start": since_ms, "end": until_ms}
        data = self.transport.request(
            "list_activations", "GET", f"{_action_path(action)}/activations",
            template=_ACTION + "/activations", query=query,
        )  # fmt: skip
        items = _content(data, "list_activations").get("activations") or []
        if not isinstance(items, list):
            raise ResponseFormatError("activations is not a list", operation="list_activations")
        return [dict(i) for i in items if isinstance(i, Mapping)]
