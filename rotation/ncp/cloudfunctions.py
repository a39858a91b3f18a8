"""NCP Cloud Functions REST API (v2.1, ``/ncf/api/v2``): the calls a deployment and an
operator need, signed, bounded and retried like every NCP call (:mod:`rotation.ncp.transport`).

Answers are typed (:mod:`rotation.ncp.cloudfunctions_models`) from the documented
``{"content": ...}`` envelope. Errors carry Cloud Functions' own numeric codes in the usual
``{"error": {"errorCode", "message", "details"}}`` envelope (``errorCode`` ``"80501"``,
``message`` ``"TRIGGER_NOT_FOUND"``); they surface as :class:`~rotation.ncp.errors.ApiError`
with ``code`` set, so callers decide by the code, not only by the HTTP status. Codes:

    80002 SUB_ACC_NO_PERMISSION      403, Get Trigger (documented)
    80501 TRIGGER_NOT_FOUND          404, Get Trigger (documented)
    80502 TRIGGER_PLATFORM_MISMATCH  400, Get Trigger (documented)
    80901 DUPLICATED_RULE            a repeated link-action (reported by a third-party client)
    80322 ACTION_ACTIVATION_NOT_FOUND  an activation not visible yet (third-party, 30-40 s)

Docs: https://api.ncloud-docs.com/docs/compute-cloudfunctions-v2-gettrigger ,
``...-v2-getaction``, ``...-v2-posttriggerlinkaction``, ``...-v2-postaction``,
``...-v2-getactionactivationdetail``, ``...-v2-getactionactivationlist``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from rotation.ncp.client import ApiClient
from rotation.ncp.cloudfunctions_models import (
    Activation,
    FunctionAction,
    FunctionTrigger,
    TriggerLink,
    content,
)
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import ApiError, NcpError, NotFound
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy, Timeouts

DEFAULT_ENDPOINT = "https://cloudfunctions.apigw.ntruss.com/ncf/api/v2"

SUB_ACC_NO_PERMISSION = "80002"
TRIGGER_NOT_FOUND = "80501"
TRIGGER_PLATFORM_MISMATCH = "80502"
DUPLICATED_RULE = "80901"
ACTION_ACTIVATION_NOT_FOUND = "80322"
#: The API gateway's "Not Found Exception": no API at this path (a wrong endpoint).
GATEWAY_NOT_FOUND = "300"

#: Post Action waits at most this long for the action (documented range 0-60,000 ms).
MAX_INVOKE_WAIT_MS = 60_000
#: Get Action's Activation List: the documented default page size (no maximum is documented,
#: so none larger is asked for), and how many pages one listing reads at most.
ACTIVATION_PAGE_SIZE = 20
MAX_ACTIVATION_PAGES = 50

_ACTION = "/packages/{package}/actions/{action}"
_TRIGGER = "/triggers/{trigger}"


def already_linked(exc: NcpError) -> bool:
    """Whether a link-action failure means "this action is linked to this trigger already"
    (``80901 DUPLICATED_RULE``), whatever HTTP status it came with."""
    return isinstance(exc, ApiError) and exc.code == DUPLICATED_RULE


def _missing(exc: ApiError, *codes: str) -> bool:
    """The resource is not there. Not the gateway's own 404 (code 300, "URL not found"): the
    gateway routes by path template, so it answers that for a wrong endpoint path, never for
    an action or trigger name; reading it as "missing" would plan a create on a wrong URL."""
    if exc.code == GATEWAY_NOT_FOUND:
        return False
    return isinstance(exc, NotFound) or exc.code in codes


class CloudFunctionsClient(ApiClient):
    """A Cloud Functions session on one platform (``vpc``, the default, or ``classic``)."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        platform: str = "vpc",
        session: requests.Session | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        if platform not in ("vpc", "classic"):
            raise ValueError("platform must be vpc or classic")
        self.platform = platform
        super().__init__(
            credentials, endpoint=endpoint, session=session, timeouts=timeouts, retry=retry,
            deadline=deadline,
        )  # fmt: skip

    def _call(
        self,
        operation: str,
        method: str,
        template: str,
        path: Mapping[str, str],
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        read_timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Mapping[str, Any]:
        payload = self.transport.request(
            operation, method, template, path_params=path,
            query={"platform": self.platform, **(query or {})}, json_body=body,
            read_timeout=read_timeout, retry=retry,
        )  # fmt: skip
        return content(payload, operation)

    # -- actions -----------------------------------------------------------------------

    def get_action(self, package: str, name: str) -> FunctionAction | None:
        """The action, or ``None`` if there is none by that name."""
        try:
            data = self._call("get_action", "GET", _ACTION, {"package": package, "action": name})
        except ApiError as exc:
            if _missing(exc):
                return None
            raise
        return FunctionAction.from_api(data)

    def put_action(self, package: str, name: str, body: Mapping[str, Any]) -> FunctionAction:
        """Create or replace the action (``exec.code`` is the base64 zip)."""
        path = {"package": package, "action": name}
        data = self._call("put_action", "PUT", _ACTION, path, body=dict(body))
        return FunctionAction.from_api(data)

    def invoke_action(
        self,
        package: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        wait_ms: int = MAX_INVOKE_WAIT_MS,
    ) -> Activation:
        """Post Action: run the action with ``params`` (over its defaults) and wait up to
        ``wait_ms`` for the result. An action still running then answers with its
        activation id only (``finished`` false): fetch it later with :meth:`get_activation`.

        Sent once, never retried: a lost answer does not mean the action did not run, and
        running a rotation twice is the operator's decision, not the transport's.
        """
        if not 0 <= wait_ms <= MAX_INVOKE_WAIT_MS:
            raise ValueError(f"wait_ms must be 0-{MAX_INVOKE_WAIT_MS}")
        data = self._call(
            "invoke_action", "POST", _ACTION, {"package": package, "action": name},
            query={"timeout": wait_ms}, body=dict(params or {}),
            read_timeout=wait_ms / 1000 + self.transport.timeouts.read,
            retry=RetryPolicy(attempts=1),
        )  # fmt: skip
        return Activation.from_api(data)

    def get_activation(self, package: str, name: str, activation_id: str) -> Activation | None:
        """One activation's result and logs, or ``None`` while it is not visible (404 or
        ``80322``; NCP is reported to take 30-40 s to show one)."""
        path = {"package": package, "action": name, "activationId": activation_id}
        try:
            data = self._call(
                "get_action_activation", "GET", f"{_ACTION}/activations/{{activationId}}", path
            )
        except ApiError as exc:
            if _missing(exc, ACTION_ACTIVATION_NOT_FOUND):
                return None
            raise
        return Activation.from_api(data)

    def list_activations(
        self,
        package: str,
        name: str,
        *,
        page_no: int | None = None,
        page_size: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> tuple[Activation, ...]:
        """The action's activations of the last month (one page), newest first as listed."""
        return self._activation_page(
            package, name, page_no=page_no, page_size=page_size, start_ms=start_ms, end_ms=end_ms
        )[0]

    def iter_activations(
        self,
        package: str,
        name: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        page_size: int = ACTIVATION_PAGE_SIZE,
        max_pages: int = MAX_ACTIVATION_PAGES,
    ) -> Iterator[Activation]:
        """The action's activations since ``start_ms``, page after page, as listed (newest
        first, as far as anyone reports: the order is undocumented). Items carry the
        documented list fields only (``activationId``, ``duration``, ``status``): a caller
        that needs the result or the start reads :meth:`get_activation`. Paging stops at a
        short or empty page, at ``totalCount``, after ``max_pages``, or when a page repeats
        one already read (a service that ignores ``pageNo``); the caller stops earlier by
        not asking for more."""
        seen: set[str] = set()
        for page_no in range(1, max_pages + 1):
            items, total = self._activation_page(
                package, name, page_no=page_no, page_size=page_size, start_ms=start_ms,
                end_ms=end_ms,
            )  # fmt: skip
            fresh = [item for item in items if item.activation_id not in seen]
            if items and not fresh:
                return
            for item in fresh:
                seen.add(item.activation_id)
                yield item
            if len(items) < page_size or (total is not None and len(seen) >= total):
                return

    def _activation_page(
        self,
        package: str,
        name: str,
        *,
        page_no: int | None,
        page_size: int | None,
        start_ms: int | None,
        end_ms: int | None,
    ) -> tuple[tuple[Activation, ...], int | None]:
        """One page of Get Action's Activation List and its ``totalCount`` (if given)."""
        query = {"pageNo": page_no, "pageSize": page_size, "start": start_ms, "end": end_ms}
        data = self._call(
            "get_action_activations", "GET", f"{_ACTION}/activations",
            {"package": package, "action": name}, query=query,
        )  # fmt: skip
        items = data.get("activations")
        total = data.get("totalCount")
        listed = tuple(
            Activation.from_api(item)
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, Mapping)
        )
        if isinstance(total, str) and total.isascii() and total.isdigit():
            total = int(total)
        known = isinstance(total, int) and not isinstance(total, bool)
        return listed, total if known else None

    # -- triggers ----------------------------------------------------------------------

    def get_trigger(self, name: str) -> FunctionTrigger | None:
        """The trigger, or ``None`` if there is none (404 / ``80501 TRIGGER_NOT_FOUND``)."""
        try:
            data = self._call("get_trigger", "GET", _TRIGGER, {"trigger": name})
        except ApiError as exc:
            if _missing(exc, TRIGGER_NOT_FOUND):
                return None
            raise
        return FunctionTrigger.from_api(data)

    def put_trigger(self, name: str, body: Mapping[str, Any], *, kind: str) -> FunctionTrigger:
        """Create or replace the trigger; ``kind`` (the ``type`` query) cannot change later."""
        data = self._call(
            "put_trigger", "PUT", _TRIGGER, {"trigger": name}, query={"type": kind},
            body=dict(body),
        )  # fmt: skip
        return FunctionTrigger.from_api(data)

    def link_action(self, trigger: str, package: str, action: str) -> TriggerLink:
        """Link the action to the trigger. A repeated link fails with ``80901
        DUPLICATED_RULE``; :func:`already_linked` recognises it."""
        data = self._call(
            "link_action", "POST", f"{_TRIGGER}/link-action", {"trigger": trigger},
            body={"action": action, "package": package},
        )  # fmt: skip
        return TriggerLink.from_api(data)
