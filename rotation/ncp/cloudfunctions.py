"""NCP Cloud Functions REST API (v2.1): the calls a deployment needs, signed like every
NCP API (``rotation.ncp.transport``). Answers are plain JSON objects; this client keeps them
as mappings because only a few fields matter here and the API documents them loosely."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rotation.ncp.errors import NotFound
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy, SignedTransport

DEFAULT_ENDPOINT = "https://cloudfunctions.apigw.ntruss.com/ncf/api/v2"
PLATFORM = {"platform": "vpc"}


def _seg(value: str) -> str:
    return quote(value, safe="")


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
