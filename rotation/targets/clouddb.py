"""``ncp-clouddb-mysql`` and ``ncp-clouddb-postgresql``: passwords changed through the Cloud DB API.

NCP's managed databases are changed through their management API, not with SQL: the
documented way to change a Cloud DB user's password is ``changeCloud{Mysql,Postgresql}UserList``
(whether an in-database ``ALTER USER`` leaves NCP's management plane consistent is not
documented, so we do not risk it). The value names the instance and how to reach the
database for the login test::

    {"engine": "ncp-clouddb-mysql", "cloudDbInstanceNo": "1234567", "regionCode": "KR",
     "host": "db-xxxx.vpc-cdb.ntruss.com", "port": 3306, "dbname": "app",
     "username": "app", "password": "...", "ssl": "verify-full"}

``set`` reads the user first and sends its ``hostIp``, ``authority`` and
``isSystemTableAccess`` back unchanged (MySQL requires them on every change; sending
anything else would silently change the user's privileges), then waits, within the
deadline, for the instance to leave SETUP and for the new password to log in. Probe and
test log in with the engine's own driver. Cloud DB's password rules are enforced on every
generated value (``accepts``): 8 to 20 characters with a letter, a digit and a special
character, none of `` ` & + \\ " ' / `` or space, and for PostgreSQL not the user name.
The API endpoint is ``cloudDbEndpoint``, else ``NCLOUD_API_GW``, else the public host.

``strategy: alternating-users`` (MySQL; ``rotationTargets`` ``username`` and
``password``): two users take turns, ``app`` and ``app_clone``, both made and changed
through the API, so no admin login is needed. ``set`` gives the user that is not active
the pending password: it is added with ``addCloudMysqlUserList`` when missing, with the
active user's ``hostIp``, ``authority`` and ``isSystemTableAccess``, else changed with
``changeCloudMysqlUserList``, sending the active user's ``authority`` again (so the two
never drift apart). The active user is never touched, so applications on it never see a
refused login; ``rollback`` gives the other user back its stored previous password. User
names stay within Cloud DB's 16 characters (the clone suffix included). PostgreSQL's API
cannot grant table privileges to a new user, so it stays single-user here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

from rotation.generate import DEFAULT_EXCLUDE, Policy
from rotation.ncp.clouddb import (
    DEFAULT_ENDPOINT,
    MYSQL,
    POSTGRESQL,
    CloudDbClient,
    CloudDbUser,
    Flavor,
)
from rotation.ncp.errors import NcpError
from rotation.ncp.models import SecretValue, Stage
from rotation.settings import endpoint_problem
from rotation.targets.base import (
    Change,
    TargetConfigError,
    TargetContext,
    TargetSetFailed,
    TargetUnreachable,
    permission_denied,
)
from rotation.targets.database import (
    Connection,
    DatabaseTarget,
    Engine,
    Login,
    LoginRefused,
    Strategy,
    alternate_username,
    login_of,
    merged_settings,
    parse_connection,
    shown_setting,
    text_setting,
)

CLOUDDB_KEYS = frozenset({"cloudDbInstanceNo", "regionCode", "cloudDbEndpoint", "pollSeconds"})
#: Cloud DB for MySQL user names: 4 to 16 characters (the strictest of the documented ranges).
MAX_USERNAME = 16
FORBIDDEN = frozenset("`&+\\\"'/ ")
LENGTH = (8, 20)
#: 20 characters (the longest Cloud DB accepts), every class, none of the forbidden ones
#: (DEFAULT_EXCLUDE already holds them all, and excludes the space).
DEFAULT_POLICY = Policy(length=LENGTH[1], exclude_characters=DEFAULT_EXCLUDE)
SETTLE_SECONDS = 10.0
#: NCP's instance numbers are decimal digits ("1234567").
INSTANCE_NO = re.compile(r"[1-9][0-9]{0,19}")
#: NCP region codes: KR, JPN, SGN, USWN, DEN, FKR, ... (letters and digits).
REGION_CODE = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,19}")


def password_problem(password: str, username: str | None) -> str | None:
    """Why Cloud DB would refuse ``password`` (never quoting it), or ``None``."""
    if not LENGTH[0] <= len(password) <= LENGTH[1]:
        return f"it must be {LENGTH[0]} to {LENGTH[1]} characters"
    if FORBIDDEN & set(password):
        return "it contains a character Cloud DB forbids (` & + \\ \" ' / or space)"
    has_letter = any(c.isascii() and c.isalpha() for c in password)
    has_digit = any(c.isdigit() for c in password)
    has_special = any(not c.isalnum() for c in password)
    if not (has_letter and has_digit and has_special):
        return "it needs a letter, a digit and a special character"
    if username and username.lower() in password.lower():
        return "it must not contain the user name"
    return None


class CloudDbTarget(DatabaseTarget):
    """Single-user rotation through the Cloud DB API; logins through the engine's driver."""

    def __init__(
        self,
        kind: str,
        engine: Engine,
        conn: Connection,
        ctx: TargetContext,
        *,
        flavor: Flavor,
        instance_no: str,
        region: str | None,
        endpoint: str,
        poll_seconds: float,
        username: str,
        test_query: str | None,
        strategy: Strategy = Strategy.SINGLE_USER,
    ) -> None:
        super().__init__(engine, conn, strategy, ctx, test_query=test_query)
        self.kind = kind
        self.default_policy = DEFAULT_POLICY
        self.flavor = flavor
        self.instance_no = instance_no
        self.region = region
        self.endpoint = endpoint
        self.poll_seconds = poll_seconds
        self.username = username

    def accepts(self, key: str, value: str) -> bool:
        if key != "password":
            return True
        forbid_name = self.username if self.flavor is POSTGRESQL else None
        return password_problem(value, forbid_name) is None

    def derive(self, active: SecretValue) -> dict[str, str]:
        if self.strategy is not Strategy.ALTERNATING_USERS:
            return {}
        limit = min(MAX_USERNAME, self.engine.max_username_length)
        return {"username": alternate_username(login_of(active, "active").username, limit)}

    def set(self, change: Change) -> None:
        if self.strategy is Strategy.ALTERNATING_USERS:
            self._alternate(change)
            return
        self._change_to(login_of(change.pending, "pending").password, change)

    def rollback(self, change: Change) -> None:
        if self.strategy is Strategy.ALTERNATING_USERS:
            # The active user was never touched. The other user got the pending password;
            # when it is the user stored as previous, it gets its stored password back.
            pending, previous = login_of(change.pending, "pending"), change.previous
            if previous is not None and previous.get("username") == pending.username:
                restored = login_of(previous, "previous")
                self._alternate(change, user=restored, stage=Stage.PREVIOUS)
            return
        self._change_to(login_of(change.active, "active").password, change, stage=Stage.ACTIVE)

    def access(self) -> tuple[bool, str]:
        """The Cloud DB reads a rotation makes first: the user list and the instance."""
        manager = f"NCP_VPC_CLOUD_DB_FOR_{self.flavor.noun.upper()}_MANAGER"
        client = self._client()
        try:
            users = client.users(self.flavor, self.instance_no, self.region)
            state = client.instance(self.flavor, self.instance_no, self.region)
        except NcpError as exc:
            refused = permission_denied(exc, "read the Cloud DB instance's users", manager)
            if refused is not None:
                raise refused from None
            raise TargetUnreachable(f"the Cloud DB API could not be read: {exc}") from None
        finally:
            client.close()
        doing = "idle" if state.ready else (state.status_name or state.operation)
        return True, (
            f"Cloud DB instance {self.instance_no}: {len(users)} users listed, {doing} "
            f"(changes need {manager})"
        )

    # -- alternating users through the API -------------------------------------------------

    def _alternate(
        self, change: Change, *, user: Login | None = None, stage: Stage = Stage.PENDING
    ) -> None:
        """Give the user that is not active ``user``'s password (pending by default),
        adding it as a clone of the active user when it does not exist."""
        other = user or login_of(change.pending, "pending")
        problem = password_problem(other.password, None)
        if problem is not None:
            raise TargetSetFailed(
                f"Cloud DB would refuse the {stage.value.lower()} password: {problem}"
            )
        client = self._client()
        try:
            primary = self._user(client, login_of(change.active, "active").username)
            if primary is None:
                raise TargetSetFailed(
                    f"Cloud DB instance {self.instance_no} has no user "
                    f"{login_of(change.active, 'active').username!r}",
                    untouched=True,
                )
            fields = self._clone_fields(primary, other)
            existing = self._user(client, other.username, host=primary.fields.get("hostIp"))
            if existing is None:
                try:
                    client.add_user(self.flavor, self.instance_no, fields, self.region)
                except NcpError:
                    # A lost answer retried: the clone may be there; look once it settles.
                    self._wait_until_ready(client)
                    if self._user(client, other.username, host=fields["hostIp"]) is None:
                        raise
                    client.change_user(self.flavor, self.instance_no, fields, self.region)
            else:
                client.change_user(self.flavor, self.instance_no, fields, self.region)
            self._wait_until_ready(client)
        except NcpError as exc:
            raise TargetSetFailed(f"the Cloud DB API refused the change: {exc}") from None
        finally:
            client.close()
        self._settle(change, stage)

    def _user(self, client: CloudDbClient, name: str, *, host: object = None) -> CloudDbUser | None:
        users = [
            u for u in client.users(self.flavor, self.instance_no, self.region) if u.name == name
        ]
        wanted = host if host is not None else self.conn.user_host
        if wanted is not None:
            users = [u for u in users if u.fields.get("hostIp") == wanted]
        if len(users) > 1:
            raise TargetConfigError(
                f"user {name!r} exists for several hosts; set userHost to pick one"
            )
        return users[0] if users else None

    @staticmethod
    def _clone_fields(primary: CloudDbUser, other: Login) -> dict[str, object]:
        """The other user's fields: its name and password, the active user's rights."""
        fields: dict[str, object] = {
            "name": other.username,
            "hostIp": primary.fields.get("hostIp"),
            "authority": primary.fields.get("authority"),
            "password": other.password,
        }
        if primary.fields.get("isSystemTableAccess") is not None:
            fields["isSystemTableAccess"] = str(primary.fields["isSystemTableAccess"]).lower()
        return fields

    # -- the API round -------------------------------------------------------------------

    def _client(self) -> CloudDbClient:
        if self.ctx.credentials is None:
            raise TargetConfigError("the Cloud DB API needs the action's access key pair")
        return CloudDbClient(
            self.ctx.credentials,
            endpoint=self.endpoint,
            deadline=self.ctx.deadline,
            budget=self.ctx.retry_budget,
        )

    def _change_to(self, password: str, change: Change, stage: Stage = Stage.PENDING) -> None:
        forbid_name = self.username if self.flavor is POSTGRESQL else None
        problem = password_problem(password, forbid_name)
        if problem is not None:
            raise TargetSetFailed(
                f"Cloud DB would refuse the {stage.value.lower()} password: {problem}"
            )
        client = self._client()
        try:
            client.change_user(
                self.flavor, self.instance_no, self._fields(client, password), self.region
            )
            self._wait_until_ready(client)
        except NcpError as exc:
            raise TargetSetFailed(f"the Cloud DB API refused the change: {exc}") from None
        finally:
            client.close()
        self._settle(change, stage)

    def _fields(self, client: CloudDbClient, password: str) -> dict[str, object]:
        users = [
            u
            for u in client.users(self.flavor, self.instance_no, self.region)
            if u.name == self.username
        ]
        if self.flavor is MYSQL and self.conn.user_host:
            users = [u for u in users if u.fields.get("hostIp") == self.conn.user_host]
        if not users:
            raise TargetSetFailed(
                f"Cloud DB instance {self.instance_no} has no user {self.username!r}"
            )
        if len(users) > 1:
            raise TargetConfigError(
                f"user {self.username!r} exists for several hosts; set userHost to pick one"
            )
        if self.flavor is POSTGRESQL:
            return {"name": self.username, "password": password}
        current = users[0].fields
        fields: dict[str, object] = {
            "name": self.username,
            "hostIp": current.get("hostIp"),
            "authority": current.get("authority"),
            "password": password,
        }
        if current.get("isSystemTableAccess") is not None:
            fields["isSystemTableAccess"] = str(current["isSystemTableAccess"]).lower()
        return fields

    def _wait_until_ready(self, client: CloudDbClient) -> None:
        while True:
            state = client.instance(self.flavor, self.instance_no, self.region)
            if state.ready:
                return
            if self.ctx.deadline.remaining() < self.poll_seconds:
                doing = state.status_name or state.operation
                raise TargetUnreachable(
                    f"Cloud DB instance {self.instance_no} is still {doing} at the deadline; "
                    "the change may still be applied"
                )
            time.sleep(self.poll_seconds)

    def _settle(self, change: Change, stage: Stage) -> None:
        """The API says done; wait (briefly) until the database agrees."""
        give_up = time.monotonic() + min(SETTLE_SECONDS, self.ctx.deadline.remaining())
        while True:
            try:
                if self.probe(change, stage):
                    return
            except LoginRefused:
                pass
            if time.monotonic() >= give_up:
                raise TargetSetFailed(
                    f"the {stage.value.lower()} password does not log in after Cloud DB applied it"
                )
            time.sleep(min(self.poll_seconds, 0.5))


def _instance_no(settings: Mapping[str, Any]) -> str:
    """``cloudDbInstanceNo``: the instance number NCP shows, digits (a JSON number or text).
    Checked here: the API would only refuse it at ``set``, after the pending value is
    written."""
    raw = settings.get("cloudDbInstanceNo")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        raw = str(raw)
    if raw is None or raw == "":
        raise TargetConfigError(
            "cloudDbInstanceNo is required (in the secret value or the target): the Cloud DB "
            "instance number"
        )
    if not isinstance(raw, str) or not INSTANCE_NO.fullmatch(raw):
        raise TargetConfigError(
            f'cloudDbInstanceNo must be the instance number, digits only (e.g. "1234567"), '
            f"not {shown_setting(raw)}"
        )
    return raw


def _build(
    kind: str,
    flavor: Flavor,
    engine: Engine,
    config: Mapping[str, Any],
    *,
    active: SecretValue,
    ctx: TargetContext,
) -> CloudDbTarget:
    settings = merged_settings(config, active, extra_keys=CLOUDDB_KEYS)
    conn = parse_connection(settings, engine.default_port)
    raw_strategy = settings.get("strategy", Strategy.SINGLE_USER.value)
    allowed = [Strategy.SINGLE_USER.value]
    if flavor is MYSQL:
        allowed.append(Strategy.ALTERNATING_USERS.value)
    if raw_strategy not in allowed:
        raise TargetConfigError(
            f"{kind} supports strategy {', '.join(allowed)} through the Cloud DB API"
        )
    strategy = Strategy(raw_strategy)
    if strategy is Strategy.ALTERNATING_USERS and settings.get("adminSecretId") is not None:
        raise TargetConfigError(
            "alternating-users on Cloud DB goes through the API: it needs no adminSecretId"
        )
    instance_no = _instance_no(settings)
    region = text_setting(settings, "regionCode")
    if region is not None and not REGION_CODE.fullmatch(region):
        raise TargetConfigError("regionCode must be an NCP region code, e.g. KR or JPN")
    poll = settings.get("pollSeconds", 2)
    if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not 0 < poll <= 60:
        raise TargetConfigError("pollSeconds must be a number of seconds, 0-60")
    if ctx.credentials is None:
        raise TargetConfigError("the Cloud DB API needs the action's access key pair")
    endpoint = (
        text_setting(settings, "cloudDbEndpoint")
        or os.environ.get("NCLOUD_API_GW")
        or DEFAULT_ENDPOINT
    )
    problem = endpoint_problem(endpoint)
    if problem is not None:
        raise TargetConfigError(f"cloudDbEndpoint (or NCLOUD_API_GW) {problem}")
    return CloudDbTarget(
        kind,
        engine,
        conn,
        ctx,
        flavor=flavor,
        instance_no=instance_no,
        region=region,
        endpoint=endpoint,
        poll_seconds=float(poll),
        username=login_of(active, "active").username,
        test_query=text_setting(settings, "testQuery"),
        strategy=strategy,
    )


def build_clouddb_mysql(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> CloudDbTarget:
    from rotation.targets.mysql import MYSQL as MYSQL_ENGINE  # noqa: PLC0415 - only when used

    return _build("ncp-clouddb-mysql", MYSQL, MYSQL_ENGINE, config, active=active, ctx=ctx)


def build_clouddb_postgresql(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> CloudDbTarget:
    from rotation.targets.postgresql import ENGINE  # noqa: PLC0415 - only when used

    return _build("ncp-clouddb-postgresql", POSTGRESQL, ENGINE, config, active=active, ctx=ctx)
