"""A deployed Cloud Functions action's default parameters: read them, replace some.

The rotation action signs every call with the key pair in its own default parameters
(``accessKey``, ``secretKey``). Rotating that pair means rewriting them, which Cloud
Functions offers only as Put Action: whether Put Action takes a parameters-only body is
not documented, so the whole action is sent back as Get Action answered it (``exec``
with its ``code``, ``limits``, ``vpc``, ``description``), with only the named parameters
changed. Get Action's ``content`` is documented as exactly those fields
(https://api.ncloud-docs.com/docs/ja/compute-cloudfunctions-v2-getaction); ``name`` is
the path's, not the body's, and is left out.

Parameters come as an object (documented) or as OpenWhisk's ``[{key, value}]``; the
answer's shape is kept. The body holds the current secret key and the zip: nothing of it
is logged or put in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.cloudfunctions_models import FunctionAction, content
from rotation.ncp.errors import ResponseFormatError

_ACTION = "/packages/{package}/actions/{action}"


def read_parameters(client: CloudFunctionsClient, package: str, name: str) -> dict[str, Any]:
    """The action's default parameters (empty when it has none)."""
    return dict(_parameters(_raw(client, package, name).get("parameters")))


def replace_parameters(
    client: CloudFunctionsClient, package: str, name: str, updates: Mapping[str, Any]
) -> FunctionAction:
    """Put Action with the action as it is, but ``updates`` in its default parameters."""
    body = {k: v for k, v in _raw(client, package, name).items() if k != "name"}
    exe = body.get("exec")
    if not isinstance(exe, Mapping) or not exe.get("code"):
        raise ResponseFormatError(
            "Get Action answered no exec.code: the action cannot be sent back whole",
            operation="get_action",
        )
    raw = body.get("parameters")
    if isinstance(raw, list):
        kept = [p for p in raw if not (isinstance(p, Mapping) and p.get("key") in updates)]
        body["parameters"] = kept + [{"key": k, "value": v} for k, v in updates.items()]
    else:
        body["parameters"] = {**_parameters(raw), **updates}
    return client.put_action(package, name, body)


def _raw(client: CloudFunctionsClient, package: str, name: str) -> dict[str, Any]:
    payload = client.transport.request(
        "get_action", "GET", _ACTION, path_params={"package": package, "action": name},
        query={"platform": client.platform},
    )  # fmt: skip
    return dict(content(payload, "get_action"))


def _parameters(raw: object) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, list):
        return {
            str(item["key"]): item.get("value")
            for item in raw
            if isinstance(item, Mapping) and "key" in item
        }
    return {}
