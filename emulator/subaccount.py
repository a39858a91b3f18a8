"""Sub Account access keys (``subaccount.apigw.ntruss.com``, API v1 and v2), the keys the
gateway accepts, and the policies that let a sub account's key call each API.

The gateway's signature check (``server`` via :class:`GatewayKeys`) reads its keys from
here, so a key made by Create Access Key signs requests at once (or after the propagation
delay), and a disabled or deleted one stops working the moment it changes. The main
account's key (the emulator's own) is always there and may do everything.

Documented behaviour is followed; where the docs are silent, the strictest reasonable
choice. Each assumption says which part is **documented** (with the page) and which is a
**guess**:

K1 Documented: the v2 operations, on ``/api/v2/sub-accounts/{subAccountId}/access-keys``:
   create ``POST`` (no body) answers **201** ``{accessKey, keySecret, createdDateTime}``;
   list ``GET`` answers ``{accessKeys: [{accessKey, active, createdDateTime}]}``; change
   status ``POST .../{accessKey}/change-status`` with ``{"active": bool}`` answers **204**;
   delete ``DELETE .../{accessKey}`` answers **204** ("permanently deleted")
   (https://api.ncloud-docs.com/docs/pub-iam-v2-sub-account-createaccesskey ,
   ...-listaccesskeys, ...-changeaccesskeystatus, ...-deleteaccesskey). The v1 ones on
   ``/api/v1/...``: create answers ``{accessKey, keySecret, createTime}``, list a bare
   array of ``{accessKey, active, createTime}``, status ``PUT`` with ``{accessKey, active}``
   answers ``{"success": true}``, delete ``DELETE`` with a **JSON body** ``{accessKey}``
   answers ``{"success": true}``
   (https://api.ncloud-docs.com/docs/en/management-subaccount-createaccesskey ,
   ...-getaccesskey, ...-suspendkey, ...-deletekey).
K2 Documented: the secret key is in the create answer only; the list never shows it
   (https://api-gov.ncloud-docs.com/docs/gov-iam-v2-sub-account-createaccesskey).
K3 Documented: at most two *active* keys per sub account; a create or a re-enable beyond
   that is v2 ``400 LimitExceeded``; v1 answers ``409`` with ``errorCode`` 9012 (v2 create
   and change-status pages; the older v1 create page). Guess: disabled keys count toward
   no limit at all (the docs say "active" and name no total).
K4 Documented: errors v2 ``{"error": {"errorCode", "message", "detail", "fieldErrors"}}``
   with a word as ``errorCode`` (https://api-gov.ncloud-docs.com/docs/gov-iam-v2-overview);
   v1 ``{"errorCode": <int>, "message"}``, ``404``/30 for an unknown sub account and
   ``400``/904 for an unknown key (v1 delete page). Guess: v2 answers ``404 NotFound`` for
   an unknown sub account or key, in the documented envelope.
K5 Guess: a disabled or deleted key is refused by the gateway's signature check exactly
   like an unknown key (401, code 200, "Invalid authentication information."): NCP
   documents that keys can be disabled, not what a request signed with one gets.
K6 Guess: how long a new key takes to work is not documented; here it works after
   ``propagation_seconds`` (0 by default) and is refused like an unknown key until then.
K7 Guess (the strictest): an *active* key cannot be deleted (v2 ``400 BadRequest``, v1
   ``400``); disable it first. The docs do not say either way.
K8 Guess: setting a key to the state it already has is accepted (204 / success), so a
   retried change-status after a lost answer does no harm.
K9 Documented: new keys are ``ncp_iam_`` plus 20 characters of ``[A-Za-z0-9_]``
   (https://api-gov.ncloud-docs.com/docs/gov-iam-v2-sub-account-deleteaccesskey.md); the
   example secret starts with ``ncp_iam_`` too. Guess: the secret is ``ncp_iam_`` plus 40
   such characters; dates are ISO 8601 with the KST offset.
K10 Guess: v2 was released 2026-10-06 (release notes); a site that does not serve it yet
   answers the gateway's ``404`` code 300 on every v2 path (``v2_enabled=False``), which
   is what a client falls back to v1 on.
K11 Documented: the managed policy names (``NCP_SUB_ACCOUNT_MANAGER`` / ``_VIEWER``,
   https://guide.ncloud-docs.com/docs/en/subaccount-subaccount ; ``NCP_SECRETMANAGER_MANAGER``
   / ``_USER``, https://guide.ncloud-docs.com/docs/en/secretmanager-subaccount ;
   ``NCP_VPC_CLOUD_FUNCTIONS_MANAGER`` / ``_VIEWER``,
   https://guide.ncloud-docs.com/docs/en/cloudfunctions-subaccount-vpc ;
   ``NCP_VPC_CLOUD_DB_FOR_POSTGRESQL_MANAGER`` documented, the MySQL names by the same
   pattern are a guess). Guesses: a ``*_MANAGER`` policy allows every operation of its
   product, a viewer (``*_VIEWER``, ``NCP_SECRETMANAGER_USER``) only reads (a ``GET`` or a
   legacy ``get...`` action), ``NCP_ADMINISTRATOR`` everything; a missing policy is
   answered in the product's own words: Secret Manager ``403 FORBIDDEN`` (its documented
   code), Cloud Functions ``403 80002 SUB_ACC_NO_PERMISSION`` (documented), Sub Account
   v2 ``403 Forbidden`` (documented on the v2 create and change-status pages), the legacy
   Cloud DB API the gateway's ``401``
   code ``210 Permission Denied`` (the documented gateway code). STS caller-identity needs
   no policy (its page names none).
"""

from __future__ import annotations

import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from emulator.core import Answer, Clock, ServiceError
from emulator.gateway import gateway_error
from emulator.router import Request, Route, Router

MAX_ACTIVE_KEYS = 2
KEY_PREFIX = "ncp_iam_"
KEY_ALPHABET = string.ascii_letters + string.digits + "_"
KST = timezone(timedelta(hours=9))
#: STS ``loginAlias``: the customer's login page alias, the same for its sub accounts (T2).
LOGIN_ALIAS = "emulator"

ADMINISTRATOR = "NCP_ADMINISTRATOR"
#: product -> (the policy allowing everything, the policies allowing reads). K11.
PRODUCT_POLICIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "secretmanager": ("NCP_SECRETMANAGER_MANAGER", ("NCP_SECRETMANAGER_USER",)),
    "subaccount": ("NCP_SUB_ACCOUNT_MANAGER", ("NCP_SUB_ACCOUNT_VIEWER",)),
    "cloudfunctions": ("NCP_VPC_CLOUD_FUNCTIONS_MANAGER", ("NCP_VPC_CLOUD_FUNCTIONS_VIEWER",)),
    "clouddb-mysql": (
        "NCP_VPC_CLOUD_DB_FOR_MYSQL_MANAGER",
        ("NCP_VPC_CLOUD_DB_FOR_MYSQL_VIEWER",),
    ),
    "clouddb-postgresql": (
        "NCP_VPC_CLOUD_DB_FOR_POSTGRESQL_MANAGER",
        ("NCP_VPC_CLOUD_DB_FOR_POSTGRESQL_VIEWER",),
    ),
    # a guess by the same pattern: the watchdog's metrics (schema and collector)
    "cloudinsight": ("NCP_CLOUD_INSIGHT_MANAGER", ("NCP_CLOUD_INSIGHT_VIEWER",)),
}


class V2Error(ServiceError):
    """The v2 envelope: ``{"error": {"errorCode", "message", "detail", "fieldErrors"}}``."""

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "errorCode": self.code,
                "message": self.message,
                "detail": self.details,
                "fieldErrors": [],
            }
        }


class V1Error(ServiceError):
    """The v1 envelope: ``{"errorCode": <int>, "message"}``."""

    def envelope(self) -> dict[str, Any]:
        return {"errorCode": int(self.code), "message": self.message}


def _random(length: int) -> str:
    return KEY_PREFIX + "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


@dataclass
class AccessKey:
    access_key: str
    secret_key: str = field(repr=False)
    active: bool
    created_ms: int
    #: When the gateway starts to accept it (K6).
    usable_ms: int


@dataclass
class SubAccount:
    sub_account_id: str
    login_id: str
    policies: set[str] = field(default_factory=set)
    keys: list[AccessKey] = field(default_factory=list)
    #: The most keys ever active at once (K3 caps it; the fault matrix reads it).
    max_active: int = 0

    def key(self, access_key: str) -> AccessKey | None:
        return next((k for k in self.keys if k.access_key == access_key), None)

    @property
    def active_count(self) -> int:
        return sum(1 for k in self.keys if k.active)


class SubAccountBackend:
    """Sub accounts, their keys and policies; the main account's key besides them."""

    def __init__(
        self, *, main_access_key: str, main_secret_key: str, clock: Clock = time.time
    ) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.main_access_key = main_access_key
        self.main_secret_key = main_secret_key
        self.main_id = str(uuid.uuid4())
        self.accounts: dict[str, SubAccount] = {}
        #: K6: seconds before a new key is accepted.
        self.propagation_seconds = 0.0
        #: K10: False answers every v2 path with the gateway's 404 (a site without v2).
        self.v2_enabled = True
        #: Every secret key this API handed out: test leak checks read it.
        self.known_values: set[str] = set()
        #: Called after every change of a key's state (tests check invariants there).
        self.listeners: list[Callable[[], None]] = []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- set-up by tests and the demo ----------------------------------------------------

    def add_sub_account(self, login_id: str, policies: tuple[str, ...] = ()) -> SubAccount:
        account = SubAccount(str(uuid.uuid4()), login_id, set(policies))
        with self.lock:
            self.accounts[account.sub_account_id] = account
        return account

    def issue_key(self, sub_account_id: str) -> tuple[str, str]:
        """A key made the way Create Access Key makes one (limits included), usable at
        once: ``(access key, secret key)`` for a test's set-up."""
        with self.lock:
            key = self._create(self._account(sub_account_id), V2Error)
            key.usable_ms = key.created_ms
            return key.access_key, key.secret_key

    # -- what the gateway asks -------------------------------------------------------------

    def secret_for(self, access_key: str) -> str | None:
        """The secret of a key the gateway accepts now (K5, K6), else None."""
        if access_key == self.main_access_key:
            return self.main_secret_key
        now = self.now_ms()
        with self.lock:
            for account in self.accounts.values():
                key = account.key(access_key)
                if key is not None:
                    return key.secret_key if key.active and key.usable_ms <= now else None
        return None

    def owner(self, access_key: str) -> SubAccount | None:
        with self.lock:
            return next((a for a in self.accounts.values() if a.key(access_key)), None)

    def identity(self, access_key: str) -> dict[str, str]:
        """STS caller-identity for a key the gateway accepted."""
        account = self.owner(access_key)
        if account is None:
            return {"id": self.main_id, "loginAlias": LOGIN_ALIAS, "userType": "Customer"}
        return {"id": account.sub_account_id, "loginAlias": LOGIN_ALIAS, "userType": "Sub"}

    def allows(self, access_key: str, product: str, read: bool) -> bool:
        """K11: may this key's account call that product's operation?"""
        account = self.owner(access_key)
        if account is None:
            return True  # the main account
        manager, viewers = PRODUCT_POLICIES[product]
        held = account.policies
        return ADMINISTRATOR in held or manager in held or (read and bool(held & set(viewers)))

    def guard(self, router: Router, product: Callable[[Route], str | None]) -> None:
        """Check policies on every route of ``router``; ``product`` names each route's
        product (``None``: no policy needed)."""
        guarded = []
        for route in router.routes:
            name = product(route)
            if name is None:
                guarded.append(route)
                continue
            guarded.append(replace(route, handler=self._guarded(route, name)))
        router.routes[:] = guarded

    def _guarded(self, route: Route, product: str) -> Callable[[Request], Any]:
        read = route.method == "GET" or route.operation.startswith("get")

        def handler(request: Request) -> Any:
            if not self.allows(request.access_key, product, read):
                raise denied(product, route.template)
            return route.handler(request)

        return handler

    # -- the rules -----------------------------------------------------------------------

    def _account(self, sub_account_id: str, error: type[ServiceError] = V2Error) -> SubAccount:
        account = self.accounts.get(sub_account_id)
        if account is None:
            if error is V1Error:
                raise V1Error(404, "30", "Nonexistent account")
            raise V2Error(404, "NotFound", "Not Found", "no sub account with this id")
        return account

    def _key(self, account: SubAccount, access_key: str, error: type[ServiceError]) -> AccessKey:
        key = account.key(access_key)
        if key is None:
            if error is V1Error:
                raise V1Error(400, "904", "존재하지 않는 Access Key")
            raise V2Error(404, "NotFound", "Not Found", "no such access key")
        return key

    def _limit(self, error: type[ServiceError]) -> ServiceError:
        if error is V1Error:
            return V1Error(
                409, "9012", "Maximum number of active access keys that can be created exceeded"
            )
        return V2Error(
            400, "LimitExceeded", "Limit Exceeded",
            "서브 계정당 활성 상태로 보유할 수 있는 Access Key 최대 2개 초과",
        )  # fmt: skip

    def _create(self, account: SubAccount, error: type[ServiceError]) -> AccessKey:
        if account.active_count >= MAX_ACTIVE_KEYS:
            raise self._limit(error)
        now = self.now_ms()
        key = AccessKey(
            access_key=_random(20),
            secret_key=_random(40),
            active=True,
            created_ms=now,
            usable_ms=now + int(self.propagation_seconds * 1000),
        )
        account.keys.append(key)
        self.known_values.add(key.secret_key)
        self._changed(account)
        return key

    def _set_status(
        self, account: SubAccount, access_key: str, active: object, error: type[ServiceError]
    ) -> None:
        if not isinstance(active, bool):
            raise self._bad("active must be true or false", error)
        key = self._key(account, access_key, error)
        if key.active == active:
            return  # K8
        if active and account.active_count >= MAX_ACTIVE_KEYS:
            raise self._limit(error)
        key.active = active
        self._changed(account)

    def _delete(self, account: SubAccount, access_key: str, error: type[ServiceError]) -> None:
        key = self._key(account, access_key, error)
        if key.active:
            raise self._bad("an active access key cannot be deleted; disable it first", error)
        account.keys.remove(key)
        self._changed(account)

    @staticmethod
    def _bad(details: str, error: type[ServiceError]) -> ServiceError:
        if error is V1Error:
            return V1Error(400, "100", details)
        return V2Error(400, "BadRequest", "Bad Request", details)

    def _changed(self, account: SubAccount) -> None:
        account.max_active = max(account.max_active, account.active_count)
        for listener in list(self.listeners):
            listener()

    @staticmethod
    def _date(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, KST).isoformat(timespec="seconds")

    # -- v2 ------------------------------------------------------------------------------

    def _v2(self) -> None:
        if not self.v2_enabled:
            raise gateway_error(404, "URL not found.")  # K10

    def create_v2(self, request: Request) -> Answer:
        self._v2()
        with self.lock:
            key = self._create(self._account(request.params["subAccountId"]), V2Error)
            body = {
                "accessKey": key.access_key,
                "keySecret": key.secret_key,
                "createdDateTime": self._date(key.created_ms),
            }
        return Answer(201, body)

    def list_v2(self, request: Request) -> dict[str, Any]:
        self._v2()
        with self.lock:
            account = self._account(request.params["subAccountId"])
            rows = [
                {"accessKey": k.access_key, "active": k.active,
                 "createdDateTime": self._date(k.created_ms)}
                for k in account.keys
            ]  # fmt: skip
        return {"accessKeys": rows}

    def change_status_v2(self, request: Request) -> Answer:
        self._v2()
        body = request.json()
        with self.lock:
            account = self._account(request.params["subAccountId"])
            self._set_status(account, request.params["accessKey"], body.get("active"), V2Error)
        return Answer(204)

    def delete_v2(self, request: Request) -> Answer:
        self._v2()
        with self.lock:
            account = self._account(request.params["subAccountId"])
            self._delete(account, request.params["accessKey"], V2Error)
        return Answer(204)

    # -- v1 ------------------------------------------------------------------------------

    def create_v1(self, request: Request) -> dict[str, Any]:
        with self.lock:
            key = self._create(self._account(request.params["subAccountId"], V1Error), V1Error)
            return {
                "accessKey": key.access_key,
                "keySecret": key.secret_key,
                "createTime": self._date(key.created_ms),
            }

    def list_v1(self, request: Request) -> list[dict[str, Any]]:
        with self.lock:
            account = self._account(request.params["subAccountId"], V1Error)
            return [
                {"accessKey": k.access_key, "active": k.active,
                 "createTime": self._date(k.created_ms)}
                for k in account.keys
            ]  # fmt: skip

    def _v1_key(self, request: Request) -> tuple[SubAccount, str, Mapping[str, Any]]:
        body = request.json()
        access_key = body.get("accessKey")
        if not isinstance(access_key, str) or not access_key:
            raise self._bad("accessKey is required", V1Error)
        return self._account(request.params["subAccountId"], V1Error), access_key, body

    def change_status_v1(self, request: Request) -> dict[str, Any]:
        with self.lock:
            account, access_key, body = self._v1_key(request)
            self._set_status(account, access_key, body.get("active"), V1Error)
        return {"success": True, "totalCount": 1}

    def delete_v1(self, request: Request) -> dict[str, Any]:
        with self.lock:
            account, access_key, _ = self._v1_key(request)
            self._delete(account, access_key, V1Error)
        return {"success": True}


def denied(product: str, template: str) -> ServiceError:
    """K11: the product's own answer to a key whose sub account lacks the policy."""
    why = "the sub account has no policy that allows this operation"
    if product == "secretmanager":
        return ServiceError(403, "FORBIDDEN", "Forbidden", why)
    if product == "cloudfunctions":
        return ServiceError(403, "80002", "SUB_ACC_NO_PERMISSION", why)
    if product == "subaccount":
        if "/api/v1/" in template:
            return V1Error(403, "403", why)
        return V2Error(403, "Forbidden", "Forbidden", why)
    return ServiceError(401, "210", "Permission Denied", why)  # the gateway's own code


class GatewayKeys(Mapping[str, str]):
    """The keys the gateway's signature check accepts, read live from the backend."""

    def __init__(self, backend: SubAccountBackend) -> None:
        self.backend = backend

    def __getitem__(self, access_key: str) -> str:
        secret = self.backend.secret_for(access_key)
        if secret is None:
            raise KeyError(access_key)
        return secret

    def _usable(self) -> list[str]:
        with self.backend.lock:
            names = [self.backend.main_access_key]
            names += [k.access_key for a in self.backend.accounts.values() for k in a.keys]
        return [n for n in names if self.backend.secret_for(n) is not None]

    def __iter__(self) -> Iterator[str]:
        return iter(self._usable())

    def __len__(self) -> int:
        return len(self._usable())


def subaccount_router(backend: SubAccountBackend) -> Router:
    router = Router(envelope=lambda data: data)
    v2 = "/api/v2/sub-accounts/{subAccountId}/access-keys"
    router.add("POST", v2, "create_access_key", backend.create_v2)
    router.add("GET", v2, "list_access_keys", backend.list_v2)
    router.add("POST", v2 + "/{accessKey}/change-status", "change_access_key_status",
               backend.change_status_v2)  # fmt: skip
    router.add("DELETE", v2 + "/{accessKey}", "delete_access_key", backend.delete_v2)
    v1 = "/api/v1/sub-accounts/{subAccountId}/access-keys"
    router.add("POST", v1, "create_access_key_v1", backend.create_v1)
    router.add("GET", v1, "list_access_keys_v1", backend.list_v1)
    router.add("PUT", v1, "change_access_key_status_v1", backend.change_status_v1)
    router.add("DELETE", v1, "delete_access_key_v1", backend.delete_v1)
    return router
