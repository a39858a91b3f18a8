"""NCP Sub Account API: a sub account's access keys (list, create, enable/disable, delete).

On ``https://subaccount.apigw.ntruss.com``, signed like every NCP call. Two generations
are documented and both are spoken here:

* **v2** (released 2026-10-06), preferred: ``/api/v2/sub-accounts/{subAccountId}/access-keys``,
  the key in the path, 201/204 answers, errors ``{"error": {"errorCode": "LimitExceeded",
  ...}}`` (https://api.ncloud-docs.com/docs/pub-iam-v2-overview).
* **v1**: the same collection under ``/api/v1``; status change is a ``PUT`` and delete a
  ``DELETE`` that carry the key in a JSON body; errors ``{"errorCode": <int>, "message"}``
  (https://api.ncloud-docs.com/docs/en/management-subaccount).

``generation="auto"`` (the default) asks v2 first and falls back to v1 for good when the
gateway answers that no API is at the v2 path (404, gateway code 300): a site or region
that does not serve v2 yet. Any other answer is the answer.

Why create is never retried: a create whose answer was lost made a key whose secret
nobody will ever see, and a second create would make another (or hit the limit of two
active keys). The caller decides (:class:`rotation.targets.ncp_api_key`); every other call
here is idempotent and retried as usual. The secret key of a new pair is masked in
``repr`` and never logged; errors carry no body text but the API's own code and message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation.ncp.budget import RetryBudget
from rotation.ncp.client import ApiClient
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import ApiError, NcpError, NotFound, ResponseFormatError
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy

DEFAULT_ENDPOINT = "https://subaccount.apigw.ntruss.com"
#: The gateway's "Not Found Exception": no API at this path.
GATEWAY_NOT_FOUND = "300"
#: At most this many keys of a sub account are active at once (documented, v2 pages).
MAX_ACTIVE_KEYS = 2
GENERATIONS = ("auto", "v2", "v1")

_V2 = "/api/v2/sub-accounts/{subAccountId}/access-keys"
_V2_KEY = _V2 + "/{accessKey}"
_V1 = "/api/v1/sub-accounts/{subAccountId}/access-keys"


@dataclass(frozen=True)
class AccessKeyInfo:
    """A key as the list shows it: never its secret."""

    access_key: str
    active: bool
    created: str | None = None


@dataclass(frozen=True)
class NewAccessKey:
    """The create answer: the only time the secret key is seen."""

    access_key: str
    secret_key: str = field(repr=False)
    created: str | None = None


def limit_exceeded(exc: NcpError) -> bool:
    """The documented "too many active keys": v2 ``400 LimitExceeded``, v1 ``409``."""
    if not isinstance(exc, ApiError):
        return False
    return (exc.status == 400 and exc.code == "LimitExceeded") or exc.status == 409


def _gateway_missing(exc: NcpError) -> bool:
    return isinstance(exc, NotFound) and exc.code == GATEWAY_NOT_FOUND


class SubAccountClient(ApiClient):
    """One sub account's keys, on whichever API generation the site serves."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        generation: str = "auto",
        deadline: Deadline | None = None,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
    ) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {', '.join(GENERATIONS)}")
        super().__init__(
            credentials, endpoint=endpoint, deadline=deadline, retry=retry, budget=budget
        )
        #: v2 until the site shows it has none; "v1" from then on.
        self.generation = "v2" if generation == "auto" else generation
        self._fallback = generation == "auto"

    def _either(self, v2: Any, v1: Any) -> Any:
        """Run the v2 call; on the gateway's "no API here" fall back to v1 for good."""
        if self.generation == "v2":
            try:
                return v2()
            except NcpError as exc:
                if not (self._fallback and _gateway_missing(exc)):
                    raise
            self.generation = "v1"
        return v1()

    def list_keys(self, sub_account_id: str) -> list[AccessKeyInfo]:
        path = {"subAccountId": sub_account_id}

        def v2() -> list[AccessKeyInfo]:
            payload = self.transport.request("list_access_keys", "GET", _V2, path_params=path)
            rows = payload.get("accessKeys") if isinstance(payload, Mapping) else None
            return _keys(rows, "createdDateTime", "list_access_keys")

        def v1() -> list[AccessKeyInfo]:
            payload = self.transport.request("list_access_keys_v1", "GET", _V1, path_params=path)
            return _keys(payload, "createTime", "list_access_keys_v1")

        result: list[AccessKeyInfo] = self._either(v2, v1)
        return result

    def create_key(self, sub_account_id: str) -> NewAccessKey:
        """Create a key: its secret is in this answer only. Sent once, never retried."""
        path = {"subAccountId": sub_account_id}
        once = RetryPolicy(attempts=1)

        def v2() -> NewAccessKey:
            payload = self.transport.request(
                "create_access_key", "POST", _V2, path_params=path, retry=once
            )
            return _new_key(payload, "createdDateTime", "create_access_key")

        def v1() -> NewAccessKey:
            payload = self.transport.request(
                "create_access_key_v1", "POST", _V1, path_params=path, retry=once
            )
            return _new_key(payload, "createTime", "create_access_key_v1")

        result: NewAccessKey = self._either(v2, v1)
        return result

    def set_active(self, sub_account_id: str, access_key: str, active: bool) -> None:
        """Enable or disable a key (enabling beyond two active keys is refused)."""

        def v2() -> None:
            self.transport.request(
                "change_access_key_status", "POST", _V2_KEY + "/change-status",
                path_params={"subAccountId": sub_account_id, "accessKey": access_key},
                json_body={"active": active},
            )  # fmt: skip

        def v1() -> None:
            self.transport.request(
                "change_access_key_status_v1", "PUT", _V1,
                path_params={"subAccountId": sub_account_id},
                json_body={"accessKey": access_key, "active": active},
            )  # fmt: skip

        self._either(v2, v1)

    def delete_key(self, sub_account_id: str, access_key: str) -> None:
        """Delete a key for good (the emulator, strictly, refuses an active one)."""

        def v2() -> None:
            self.transport.request(
                "delete_access_key", "DELETE", _V2_KEY,
                path_params={"subAccountId": sub_account_id, "accessKey": access_key},
            )  # fmt: skip

        def v1() -> None:
            self.transport.request(
                "delete_access_key_v1", "DELETE", _V1,
                path_params={"subAccountId": sub_account_id},
                json_body={"accessKey": access_key},
            )  # fmt: skip

        self._either(v2, v1)


def _keys(rows: object, date_field: str, operation: str) -> list[AccessKeyInfo]:
    if not isinstance(rows, list):
        raise ResponseFormatError("the key list is not a list", operation=operation)
    found = []
    for row in rows:
        if not isinstance(row, Mapping) or not isinstance(row.get("accessKey"), str):
            continue
        active = row.get("active")
        created = row.get(date_field)
        found.append(
            AccessKeyInfo(
                access_key=row["accessKey"],
                active=active is True or active == "true",
                created=created if isinstance(created, str) else None,
            )
        )
    return found


def _new_key(payload: object, date_field: str, operation: str) -> NewAccessKey:
    if not isinstance(payload, Mapping):
        raise ResponseFormatError("the create answer is not an object", operation=operation)
    access_key, secret = payload.get("accessKey"), payload.get("keySecret")
    if not (isinstance(access_key, str) and access_key and isinstance(secret, str) and secret):
        raise ResponseFormatError(
            "the create answer lacks accessKey or keySecret", operation=operation
        )
    created = payload.get(date_field)
    return NewAccessKey(access_key, secret, created if isinstance(created, str) else None)
