"""NCP STS caller-identity: who signs with this key pair.

``GET https://sts.apigw.ntruss.com/api/v1/caller-identity`` answers ``{id, loginAlias,
userType}`` (``Customer`` for the main account, ``Sub``, ``Role``;
https://api.ncloud-docs.com/docs/en/get-caller-identity). It changes nothing, so it is the
test of a new access key pair (a 401 means the gateway refuses the pair) and the way
``rotation check`` says which account the action runs as. Whether ``id`` is the sub
account's ``subAccountId`` is not documented (the example is a masked UUID): callers
compare two pairs' ids rather than rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rotation.ncp.client import ApiClient
from rotation.ncp.errors import ResponseFormatError

DEFAULT_ENDPOINT = "https://sts.apigw.ntruss.com"


@dataclass(frozen=True)
class CallerIdentity:
    id: str
    login_alias: str | None
    #: ``Customer`` (the main account), ``Sub`` or ``Role``.
    user_type: str | None

    @property
    def main_account(self) -> bool:
        return self.user_type == "Customer"


class StsClient(ApiClient):
    DEFAULT_ENDPOINT = DEFAULT_ENDPOINT

    def caller_identity(self) -> CallerIdentity:
        payload = self.transport.request("get_caller_identity", "GET", "/api/v1/caller-identity")
        if not isinstance(payload, Mapping) or not isinstance(payload.get("id"), str):
            raise ResponseFormatError("the answer lacks id", operation="get_caller_identity")
        alias, kind = payload.get("loginAlias"), payload.get("userType")
        return CallerIdentity(
            id=payload["id"],
            login_alias=alias if isinstance(alias, str) else None,
            user_type=kind if isinstance(kind, str) else None,
        )
