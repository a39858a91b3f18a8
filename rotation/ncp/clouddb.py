"""NCP Cloud DB API (the legacy ``/vmysql/v2``, ``/vpostgresql/v2`` actions): users and state.

Signed like Secret Manager, on ``https://ncloud.apigw.ntruss.com`` (``NCLOUD_API_GW``
overrides it, as in NCP's own SDK). Every call is a POST with a form body, never a GET
with a query string: the new password must not sit in a URL, where gateways and proxies
log it. Answers are always asked for as JSON (``responseFormatType=json``; XML is the
default) and come wrapped as ``{"<action>Response": {"returnCode": "0", ...}}``; a non-zero
``returnCode`` is an error even under HTTP 200 (the docs type it as a string, the CLI
example shows a number: both are read).

Only what rotation needs: list a user (to send its ``hostIp`` and ``authority`` back
unchanged: both are required on change and would otherwise silently change the user's
privileges), change a password, add and delete a MySQL user (alternating users: the
clone is made with the primary's ``hostIp`` and ``authority``), and read the instance's
state to wait until a change has been applied (the instance goes to SETUP and back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotation.ncp.client import ApiClient
from rotation.ncp.errors import ErrorBody, ResponseFormatError, error_for_status

DEFAULT_ENDPOINT = "https://ncloud.apigw.ntruss.com"
PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 users: a bound, so an answer that never ends cannot loop forever


@dataclass(frozen=True)
class Flavor:
    """The names one engine's actions and fields use."""

    prefix: str  # /vmysql/v2
    noun: str  # Mysql -> changeCloudMysqlUserList, cloudMysqlInstanceNo, ...
    paged_users: bool

    def action(self, verb: str, what: str) -> str:
        return f"{verb}Cloud{self.noun}{what}"

    @property
    def instance_key(self) -> str:
        return f"cloud{self.noun}InstanceNo"

    @property
    def user_list(self) -> str:
        return f"cloud{self.noun}UserList"


MYSQL = Flavor("/vmysql/v2", "Mysql", paged_users=True)
POSTGRESQL = Flavor("/vpostgresql/v2", "Postgresql", paged_users=False)


@dataclass(frozen=True)
class CloudDbUser:
    """A DB user as the Cloud DB API shows it (never with a password)."""

    name: str
    fields: Mapping[str, Any]  # hostIp, authority, isSystemTableAccess / clientCidr, ...


@dataclass(frozen=True)
class InstanceState:
    status: str  # CREAT when created
    operation: str  # NULL when idle; SETUP while a change is applied
    status_name: str | None

    @property
    def ready(self) -> bool:
        return self.status == "CREAT" and self.operation == "NULL"


class CloudDbClient(ApiClient):
    DEFAULT_ENDPOINT = DEFAULT_ENDPOINT

    def _call(self, flavor: Flavor, action: str, form: Mapping[str, object]) -> Mapping[str, Any]:
        path = f"{flavor.prefix}/{action}"
        body = {"responseFormatType": "json", **form}
        payload = self.transport.request(action, "POST", path, form=body)
        wrapper = payload.get(f"{action}Response") if isinstance(payload, Mapping) else None
        if not isinstance(wrapper, Mapping):
            raise ResponseFormatError(f"the answer lacks {action}Response", operation=action)
        code = str(wrapper.get("returnCode", ""))
        if code != "0":
            raise error_for_status(
                400,
                ErrorBody(code, str(wrapper.get("returnMessage") or "")),
                operation=action,
                method="POST",
                path=path,
            )
        return wrapper

    def users(
        self, flavor: Flavor, instance_no: str, region: str | None = None
    ) -> list[CloudDbUser]:
        action = flavor.action("get", "UserList")
        base: dict[str, object] = {flavor.instance_key: instance_no}
        if region:
            base["regionCode"] = region
        found: dict[tuple[str, object], CloudDbUser] = {}
        # pageNo: minimum 0 (docs); whether 0 and 1 are the same page is not said, so a
        # page that adds no user ends the listing, except page 1 repeating page 0.
        for page in range(MAX_PAGES) if flavor.paged_users else range(1):
            form = {**base, "pageNo": page, "pageSize": PAGE_SIZE} if flavor.paged_users else base
            count, rows = _user_rows(self._call(flavor, action, form), flavor.user_list, action)
            fresh = {key: user for key, user in rows if key not in found}
            found.update(fresh)
            if count < PAGE_SIZE or (not fresh and page != 1):
                break
        return list(found.values())

    def change_user(
        self,
        flavor: Flavor,
        instance_no: str,
        fields: Mapping[str, object],
        region: str | None = None,
    ) -> None:
        """Change one user: ``fields`` are the ``...UserList.1.*`` parameters."""
        form: dict[str, object] = {flavor.instance_key: instance_no}
        if region:
            form["regionCode"] = region
        form.update({f"{flavor.user_list}.1.{k}": v for k, v in fields.items()})
        self._call(flavor, flavor.action("change", "UserList"), form)

    def add_user(
        self,
        flavor: Flavor,
        instance_no: str,
        fields: Mapping[str, object],
        region: str | None = None,
    ) -> None:
        """Add one user (``addCloud...UserList``): ``name``, ``hostIp``, ``password`` and
        ``authority`` are required; the instance then goes through SETUP."""
        self._users_call(flavor, "add", instance_no, fields, region)

    def delete_user(
        self, flavor: Flavor, instance_no: str, name: str, host: str, region: str | None = None
    ) -> None:
        """Delete one user by its key, name and ``hostIp`` (``deleteCloud...UserList``)."""
        self._users_call(flavor, "delete", instance_no, {"name": name, "hostIp": host}, region)

    def _users_call(
        self,
        flavor: Flavor,
        verb: str,
        instance_no: str,
        fields: Mapping[str, object],
        region: str | None,
    ) -> None:
        form: dict[str, object] = {flavor.instance_key: instance_no}
        if region:
            form["regionCode"] = region
        form.update({f"{flavor.user_list}.1.{k}": v for k, v in fields.items()})
        self._call(flavor, flavor.action(verb, "UserList"), form)

    def instance(
        self, flavor: Flavor, instance_no: str, region: str | None = None
    ) -> InstanceState:
        action = flavor.action("get", "InstanceDetail")
        form: dict[str, object] = {flavor.instance_key: instance_no}
        if region:
            form["regionCode"] = region
        rows = self._call(flavor, action, form).get(f"cloud{flavor.noun}InstanceList") or []
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], Mapping):
            raise ResponseFormatError("the instance detail is empty", operation=action)
        row = rows[0]
        return InstanceState(
            status=_code(row.get(f"cloud{flavor.noun}InstanceStatus")),
            operation=_code(row.get(f"cloud{flavor.noun}InstanceOperation")),
            status_name=_opt(row.get(f"cloud{flavor.noun}InstanceStatusName")),
        )


def _user_rows(
    answer: Mapping[str, Any], list_name: str, action: str
) -> tuple[int, list[tuple[tuple[str, object], CloudDbUser]]]:
    """The page's row count and ``(key, user)`` per row: the key is name and host (a MySQL
    user is both). Rows without a ``userName`` are skipped; extra fields are kept."""
    rows = answer.get(list_name) or []
    if not isinstance(rows, list):
        raise ResponseFormatError(f"{list_name} is not a list", operation=action)
    users = []
    for row in rows:
        if isinstance(row, Mapping) and isinstance(row.get("userName"), str):
            fields = {k: v for k, v in row.items() if k != "userName"}
            users.append(
                ((row["userName"], fields.get("hostIp")), CloudDbUser(row["userName"], fields))
            )
    return len(rows), users


def _code(raw: object) -> str:
    """A CommonCode ``{"code": "CREAT", "codeName": "..."}`` (or a bare string)."""
    if isinstance(raw, Mapping):
        return str(raw.get("code", ""))
    return "" if raw is None else str(raw)


def _opt(raw: object) -> str | None:
    return None if raw is None else str(raw)
