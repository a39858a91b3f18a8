"""STS caller-identity (``sts.apigw.ntruss.com``): who signed this request.

The harmless signed call a rotation uses to prove that a key pair works and to say whose
it is. Each assumption says which part is **documented** (with the page) and which is a
**guess**:

T1 Documented: ``GET /api/v1/caller-identity``, no body, answers ``{id, loginAlias,
   userType}`` with ``userType`` ``Customer`` (the main account), ``Sub`` or ``Role``
   (https://api.ncloud-docs.com/docs/en/get-caller-identity ,
   https://api-gov.ncloud-docs.com/docs/get-caller-identity).
T2 Guess: for a sub account ``id`` is its ``subAccountId`` (the documented example is a
   masked UUID, ``e***-e***-1***-8***-2***``, the shape of a ``subAccountId``). The
   rotation does not rely on it: it compares the new pair's ``id`` with the active pair's
   when it is not the ``subAccountId``. ``loginAlias`` is documented as "the access page
   URL" of the key's owner (example ``test1010``); guess: the customer's sub-account login
   alias, one for all its sub accounts (here ``emulator``), so it tells accounts apart
   less than ``id`` does.
T3 Guess: the call needs no policy (its page names none): any key the gateway accepts may
   ask who it is; a refused key gets the gateway's 401 like every other call.
"""

from __future__ import annotations

from typing import Any

from emulator.router import Request, Router
from emulator.subaccount import SubAccountBackend


def sts_router(backend: SubAccountBackend) -> Router:
    router = Router(envelope=lambda data: data)

    def caller_identity(request: Request) -> dict[str, Any]:
        return backend.identity(request.access_key)

    router.add("GET", "/api/v1/caller-identity", "get_caller_identity", caller_identity)
    return router
