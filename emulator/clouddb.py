"""Cloud DB for MySQL and PostgreSQL (the legacy ``/vmysql/v2``, ``/vpostgresql/v2`` API),
with every password change applied to a *real* local database server.

An emulated instance points at a server of this machine (MariaDB for MySQL, the test
suite's password-checking PostgreSQL cluster) and at an admin login there. Users are
registered with the metadata the API shows (``hostIp``, ``authority``, ...); a change
runs the real ``ALTER USER`` / ``ALTER ROLE`` as that admin, so a test proves a real login.

Documented behaviour is followed; where the docs are silent, the strictest reasonable
choice. Each assumption says which part is **documented** (with the page) and which is a
**guess** (the API's pages start at
https://api.ncloud-docs.com/docs/en/database-vmysql-getcloudmysqluserlist):

C1 Documented: ``responseFormatType`` is ``xml`` (default) or ``json``
   (https://api.ncloud-docs.com/docs/en/database-vmysql-changecloudmysqluserlist). Guess
   (deliberate): anything but ``json`` is 400 here, so a client that forgets it fails here
   as it would get XML at NCP.
C2 Documented by NCP's own Terraform provider, which polls the instance after a change until
   it is CREAT/NULL again (terraform-provider-ncloud ``internal/service/mysql/mysql_users.go``).
   Guess: the change puts the instance in SETUP (status name ``settingup``) for
   ``setup_seconds`` and the new password takes effect only when SETUP ends, so a client
   that tests before the instance is back to ``NULL`` sees the old password still valid.
C3 Guess: another change while the instance is in SETUP is refused (returnCode
   ``1007009``, the busy code NCP's SDK shows for another API).
C4 Documented: MySQL ``name``, ``hostIp`` and ``authority`` (READ | CRUD | DDL) are
   required on change and the host cannot change
   (https://api.ncloud-docs.com/docs/database-vmysql-changecloudmysqluserlist). Guess:
   ``authority`` and ``isSystemTableAccess`` are recorded as sent, so sending other values
   than the current ones changes the user (which is what a careless client would do).
C5 Documented: passwords 8-20 characters with a letter, a digit and a special character,
   none of `` ` & + \\ " ' / `` or space; PostgreSQL: not containing the user name, at most
   10 users per call, at least one of password/clientCidr/isReplicationRole
   (https://api.ncloud-docs.com/docs/en/database-vpostgresql-changecloudpostgresqluserlist).
C6 Documented: ``getCloudMysqlUserList`` requires ``pageNo`` (minimum 0) and ``pageSize``
   (minimum 1) (https://api.ncloud-docs.com/release-20240321/docs/database-vmysql-getcloudmysqluserlist);
   NCP's Terraform pages from 0 until a short page. Not documented: whether pageNo 0 and 1
   are the same page. ``page_base`` plays either: 0 (pageNo 0 is the first page, 1 the
   second: the default) or 1 (pages count from 1 and 0 answers the first page too). The
   PostgreSQL list is not paged (its request has no page fields in NCP's SDK).
C7 Documented: errors answer HTTP 400 with ``{"responseError": {"returnCode",
   "returnMessage"}}`` (https://api-gov.ncloud-docs.com/docs/api-call-lgc-errorhandling);
   ``5001017`` for an unknown instance is the code NCP's Terraform provider treats as "not
   found" (a guess for these calls).
C8 Documented: MySQL users are added with ``addCloudMysqlUserList`` (``name``, ``hostIp``,
   ``password`` and ``authority`` required; ``isSystemTableAccess`` optional, default
   ``true``; ``hostIp`` may also be a CIDR) and deleted with ``deleteCloudMysqlUserList``
   (``name`` + ``hostIp``, the user's key)
   (https://api.ncloud-docs.com/docs/en/database-vmysql-addcloudmysqluserlist ,
   https://api.ncloud-docs.com/docs/en/database-vmysql-deletecloudmysqluserlist). Names are
   letters, digits, ``-`` and ``_``, starting with a letter, 4-16 characters (the older
   pages; newer ones say 3-16: the strictest is taken). Guesses: both put the instance in
   SETUP like a change (NCP's Terraform polls after them too) and take effect, and show in
   the user list, only when SETUP ends; adding a name+host that exists is refused
   (``1000001``); deleting one that does not exist is refused too.
C9 Documented: ``READ`` reads data, ``CRUD`` also inserts, updates and deletes, ``DDL``
   also creates, drops and alters tables
   (https://api.ncloud-docs.com/docs/ja/database-vmysql-addcloudmysqluserlist). Guess, the
   grants NCP's agent makes for them, on every database (``*.*``): READ ``SELECT``; CRUD
   ``SELECT, INSERT, UPDATE, DELETE``; DDL those plus ``CREATE, DROP, ALTER, INDEX,
   REFERENCES, CREATE VIEW, SHOW VIEW``. ``isSystemTableAccess`` is recorded, not enforced.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.core import ServiceError
from emulator.router import Router

FORBIDDEN = frozenset("`&+\\\"'/ ")
BUSY = "1007009"
NOT_FOUND = "5001017"
INVALID = "1000001"


class LegacyError(ServiceError):
    """The ``responseError`` envelope of the legacy ``ncloud.apigw`` APIs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, code, message)

    def envelope(self) -> dict[str, Any]:
        return {"responseError": {"returnCode": self.code, "returnMessage": self.message}}


def invalid(message: str) -> LegacyError:
    return LegacyError(INVALID, message)


@dataclass
class DbUser:
    name: str
    fields: dict[str, Any]


@dataclass
class Instance:
    instance_no: str
    engine: str  # mysql | postgresql
    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    admin_database: str | None
    users: list[DbUser] = field(default_factory=list)
    operation: str = "NULL"
    applied: list[str] = field(default_factory=list)  # user names changed, in order
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Flavor:
    engine: str
    prefix: str
    noun: str


FLAVORS = (
    Flavor("mysql", "/vmysql/v2", "Mysql"),
    Flavor("postgresql", "/vpostgresql/v2", "Postgresql"),
)


#: C9: the grants behind each authority (a guess: NCP does not publish them).
AUTHORITY_GRANTS = {
    "READ": "SELECT",
    "CRUD": "SELECT, INSERT, UPDATE, DELETE",
    "DDL": "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, "
    "CREATE VIEW, SHOW VIEW",
}
#: C8: MySQL user names.
MYSQL_USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{3,15}")


def password_problem(password: str, username: str, engine: str) -> str | None:
    if not 8 <= len(password) <= 20:
        return "password must be 8-20 characters"
    if FORBIDDEN & set(password):
        return "password contains a forbidden character"
    if not (
        any(c.isascii() and c.isalpha() for c in password)
        and any(c.isdigit() for c in password)
        and any(not c.isalnum() for c in password)
    ):
        return "password needs a letter, a digit and a special character"
    if engine == "postgresql" and username.lower() in password.lower():
        return "password must not contain the user name"
    return None


def _user_rows(form: Mapping[str, str], list_name: str) -> list[dict[str, str]]:
    rows: dict[int, dict[str, str]] = {}
    pattern = re.compile(rf"{re.escape(list_name)}\.(\d+)\.(\w+)")
    for key, value in form.items():
        m = pattern.fullmatch(key)
        if m:
            rows.setdefault(int(m.group(1)), {})[m.group(2)] = value
    return [rows[i] for i in sorted(rows)]


class CloudDbBackend:
    """Instances and users; changes land on the real servers after a SETUP period."""

    def __init__(self, setup_seconds: float = 0.3, page_base: int = 0) -> None:
        if page_base not in (0, 1):
            raise ValueError("page_base is 0 or 1")
        self.setup_seconds = setup_seconds
        #: C6: 0 when pageNo 0 is the first page, 1 when pages count from 1 (0 = 1).
        self.page_base = page_base
        self.instances: dict[str, Instance] = {}
        self.lock = threading.RLock()
        #: Every password this API was asked to set: test leak checks read it.
        self.known_values: set[str] = set()

    # -- set-up by tests and the demo ----------------------------------------------------

    def add_instance(
        self, engine: str, *, host: str, port: int, admin_user: str, admin_password: str,
        admin_database: str | None = None,
    ) -> str:  # fmt: skip
        if engine not in ("mysql", "postgresql"):
            raise ValueError("engine is mysql or postgresql")
        instance_no = str(secrets.randbelow(9_000_000) + 1_000_000)
        with self.lock:
            self.instances[instance_no] = Instance(
                instance_no, engine, host, port, admin_user, admin_password, admin_database
            )
        return instance_no

    def add_user(self, instance_no: str, name: str, **fields: Any) -> None:
        """Register an existing database user with the metadata the API shows for it."""
        with self.lock:
            self.instances[instance_no].users.append(DbUser(name, dict(fields)))

    # -- the API --------------------------------------------------------------------------

    def _instance(self, flavor: Flavor, form: Mapping[str, str]) -> Instance:
        if form.get("responseFormatType") != "json":
            raise invalid("responseFormatType must be json (this emulator does not speak XML)")
        instance_no = form.get(f"cloud{flavor.noun}InstanceNo")
        if not instance_no:
            raise invalid(f"cloud{flavor.noun}InstanceNo is required")
        instance = self.instances.get(instance_no)
        if instance is None or instance.engine != flavor.engine:
            raise LegacyError(NOT_FOUND, "the instance does not exist")
        return instance

    def list_users(self, flavor: Flavor, form: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            instance = self._instance(flavor, form)
            users = list(instance.users)
        if flavor.engine == "mysql":
            try:
                page, size = int(form["pageNo"]), int(form["pageSize"])
            except (KeyError, ValueError):
                raise invalid("pageNo and pageSize are required integers") from None
            if page < 0 or size < 1:
                raise invalid("pageNo must be 0 or more and pageSize 1 or more")
            index = max(page - self.page_base, 0)  # C6
            users = users[index * size : (index + 1) * size]
        action = f"getCloud{flavor.noun}UserList"
        rows = [{"userName": u.name, **u.fields} for u in users]
        return {f"{action}Response": {
            "requestId": secrets.token_hex(8), "returnCode": "0", "returnMessage": "success",
            "totalRows": len(rows), f"cloud{flavor.noun}UserList": rows,
        }}  # fmt: skip

    def change_users(self, flavor: Flavor, form: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            instance = self._instance(flavor, form)
            rows = _user_rows(form, f"cloud{flavor.noun}UserList")
            if not rows:
                raise invalid("no user to change")
            if flavor.engine == "postgresql" and len(rows) > 10:
                raise invalid("at most 10 users per call")
            if instance.operation != "NULL":
                raise LegacyError(
                    BUSY, "the instance is being changed; try again when it is running"
                )
            changes = [self._validated(flavor, instance, row) for row in rows]
            instance.operation = "SETUP"
        timer = threading.Timer(self.setup_seconds, self._finish_setup, args=(instance, changes))
        timer.daemon = True
        timer.start()
        action = f"changeCloud{flavor.noun}UserList"
        return {f"{action}Response": {
            "requestId": secrets.token_hex(8), "returnCode": "0", "returnMessage": "success",
        }}  # fmt: skip

    def _begin_setup(self, instance: Instance, apply: Callable[[], None]) -> None:
        """C2: the instance is in SETUP until ``apply`` has run (on the real server)."""
        instance.operation = "SETUP"

        def run() -> None:
            try:
                apply()
            except Exception as exc:  # noqa: BLE001 - recorded: the instance shows no error
                instance.errors.append(type(exc).__name__)
            with self.lock:
                instance.operation = "NULL"

        timer = threading.Timer(self.setup_seconds, run)
        timer.daemon = True
        timer.start()

    def _busy(self, instance: Instance) -> None:
        if instance.operation != "NULL":
            raise LegacyError(BUSY, "the instance is being changed; try again when it is running")

    @staticmethod
    def _ok(action: str) -> dict[str, Any]:
        return {f"{action}Response": {
            "requestId": secrets.token_hex(8), "returnCode": "0", "returnMessage": "success",
        }}  # fmt: skip

    def add_users(self, flavor: Flavor, form: Mapping[str, str]) -> dict[str, Any]:
        """C8: ``addCloudMysqlUserList``; the users exist (and list) once SETUP ends."""
        with self.lock:
            instance = self._instance(flavor, form)
            rows = _user_rows(form, f"cloud{flavor.noun}UserList")
            if not rows:
                raise invalid("no user to add")
            self._busy(instance)
            users = [self._new_user(instance, row) for row in rows]
            keys = [(u.name, u.fields["hostIp"]) for u, _ in users]
            if len(set(keys)) != len(keys):
                raise invalid("the same user is listed twice")

            def apply() -> None:
                for user, password in users:
                    create_user(instance, user, password)
                    with self.lock:
                        instance.users.append(user)
                        instance.applied.append(user.name)

            self._begin_setup(instance, apply)
        return self._ok(f"addCloud{flavor.noun}UserList")

    def _new_user(self, instance: Instance, row: Mapping[str, str]) -> tuple[DbUser, str]:
        name, host = row.get("name", ""), row.get("hostIp", "")
        password, authority = row.get("password"), row.get("authority", "")
        if not MYSQL_USER_NAME.fullmatch(name):
            raise invalid("name must be 4-16 letters, digits, - or _, starting with a letter")
        if not host or not password or not authority:
            raise invalid("name, hostIp, password and authority are required")
        if authority not in AUTHORITY_GRANTS:
            raise invalid("authority must be READ, CRUD or DDL")
        if any(u.name == name and u.fields.get("hostIp") == host for u in instance.users):
            raise invalid("a user with this name and hostIp exists already")
        self.known_values.add(password)
        problem = password_problem(password, name, instance.engine)
        if problem is not None:
            raise invalid(problem)
        system = row.get("isSystemTableAccess", "true") == "true"
        fields = {"hostIp": host, "authority": authority, "isSystemTableAccess": system}
        return DbUser(name, fields), password

    def delete_users(self, flavor: Flavor, form: Mapping[str, str]) -> dict[str, Any]:
        """C8: ``deleteCloudMysqlUserList`` by name and hostIp, applied when SETUP ends."""
        with self.lock:
            instance = self._instance(flavor, form)
            rows = _user_rows(form, f"cloud{flavor.noun}UserList")
            if not rows:
                raise invalid("no user to delete")
            self._busy(instance)
            gone = []
            for row in rows:
                match = [
                    u for u in instance.users
                    if u.name == row.get("name") and u.fields.get("hostIp") == row.get("hostIp")
                ]  # fmt: skip
                if not match:
                    raise invalid("no such user at that hostIp")
                gone.append(match[0])

            def apply() -> None:
                for user in gone:
                    drop_user(instance, user)
                    with self.lock:
                        instance.users.remove(user)
                        instance.applied.append(user.name)

            self._begin_setup(instance, apply)
        return self._ok(f"deleteCloud{flavor.noun}UserList")

    def _validated(
        self, flavor: Flavor, instance: Instance, row: Mapping[str, str]
    ) -> tuple[DbUser, str | None]:
        name = row.get("name")
        if not name:
            raise invalid("name is required")
        if flavor.engine == "mysql":
            host, authority = row.get("hostIp"), row.get("authority")
            if not host or not authority:
                raise invalid("hostIp and authority are required")
            if authority not in ("READ", "CRUD", "DDL"):
                raise invalid("authority must be READ, CRUD or DDL")
            match = [u for u in instance.users if u.name == name and u.fields.get("hostIp") == host]
            if not match:
                raise invalid("no such user at that hostIp (hostIp cannot be changed)")
            user = match[0]
            user.fields["authority"] = authority  # C4: what was sent is what the user now has
            if "isSystemTableAccess" in row:
                user.fields["isSystemTableAccess"] = row["isSystemTableAccess"] == "true"
        else:
            match = [u for u in instance.users if u.name == name]
            if not match:
                raise invalid("no such user")
            user = match[0]
            if not ({"password", "clientCidr", "isReplicationRole"} & set(row)):
                raise invalid("give at least one of password, clientCidr, isReplicationRole")
        password = row.get("password")
        if password is not None:
            self.known_values.add(password)
            problem = password_problem(password, name, flavor.engine)
            if problem is not None:
                raise invalid(problem)
        return user, password

    def _finish_setup(self, instance: Instance, changes: list[tuple[DbUser, str | None]]) -> None:
        for user, password in changes:
            if password is None:
                continue
            try:
                apply_password(instance, user, password)
                instance.applied.append(user.name)
            except Exception as exc:  # noqa: BLE001 - recorded: the instance shows no error
                instance.errors.append(type(exc).__name__)
        with self.lock:
            instance.operation = "NULL"

    def detail(self, flavor: Flavor, form: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            instance = self._instance(flavor, form)
            operation = instance.operation
        action = f"getCloud{flavor.noun}InstanceDetail"
        noun = f"cloud{flavor.noun}Instance"
        row = {
            f"{noun}No": instance.instance_no,
            f"{noun}Status": {"code": "CREAT", "codeName": "created"},
            f"{noun}Operation": {"code": operation, "codeName": operation.lower()},
            f"{noun}StatusName": "settingup" if operation == "SETUP" else "running",
            f"cloud{flavor.noun}Port": instance.port,
        }
        return {
            f"{action}Response": {
                "requestId": secrets.token_hex(8),
                "returnCode": "0",
                "returnMessage": "success",
                "totalRows": 1,
                f"{noun}List": [row],
            }
        }


def _mysql_admin(instance: Instance) -> Any:
    import pymysql  # noqa: PLC0415 - only instances of this engine need the driver

    return pymysql.connect(
        host=instance.host, port=instance.port, user=instance.admin_user,
        password=instance.admin_password, connect_timeout=5, autocommit=True,
    )  # fmt: skip


def create_user(instance: Instance, user: DbUser, password: str) -> None:
    """What NCP's agent does for an added MySQL user (C9): create it, grant its authority."""
    conn = _mysql_admin(instance)
    try:
        with conn.cursor() as cur:
            host = user.fields["hostIp"]
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user.name, host, password))
            grants = AUTHORITY_GRANTS[user.fields["authority"]]
            cur.execute(f"GRANT {grants} ON *.* TO %s@%s", (user.name, host))
    finally:
        conn.close()


def drop_user(instance: Instance, user: DbUser) -> None:
    conn = _mysql_admin(instance)
    try:
        with conn.cursor() as cur:
            cur.execute("DROP USER %s@%s", (user.name, user.fields["hostIp"]))
    finally:
        conn.close()


def apply_password(instance: Instance, user: DbUser, password: str) -> None:
    """What NCP's agent does on the server: as the admin, set the user's password."""
    if instance.engine == "mysql":
        import pymysql  # noqa: PLC0415 - only instances of this engine need the driver

        conn = pymysql.connect(
            host=instance.host, port=instance.port, user=instance.admin_user,
            password=instance.admin_password, connect_timeout=5, autocommit=True,
        )  # fmt: skip
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "ALTER USER %s@%s IDENTIFIED BY %s",
                    (user.name, user.fields["hostIp"], password),
                )
        finally:
            conn.close()
        return
    import pg8000.native  # noqa: PLC0415

    pg = pg8000.native.Connection(
        instance.admin_user, host=instance.host, port=instance.port,
        password=instance.admin_password, database=instance.admin_database or "postgres", timeout=5,
    )  # fmt: skip
    try:
        ident, literal = pg8000.native.identifier(user.name), pg8000.native.literal(password)
        pg.run(f"ALTER ROLE {ident} PASSWORD {literal}")
    finally:
        pg.close()


def clouddb_router(backend: CloudDbBackend) -> Router:
    router = Router(envelope=lambda data: data)
    for flavor in FLAVORS:
        actions: dict[str, Callable[[Flavor, Mapping[str, str]], dict[str, Any]]] = {
            f"getCloud{flavor.noun}UserList": backend.list_users,
            f"changeCloud{flavor.noun}UserList": backend.change_users,
            f"getCloud{flavor.noun}InstanceDetail": backend.detail,
        }
        if flavor.engine == "mysql":  # C8: add and delete, for MySQL here
            actions[f"addCloud{flavor.noun}UserList"] = backend.add_users
            actions[f"deleteCloud{flavor.noun}UserList"] = backend.delete_users
        for action, handler in actions.items():
            for method in ("GET", "POST"):
                router.add(
                    method, f"{flavor.prefix}/{action}", action,
                    lambda q, h=handler, f=flavor: h(f, q.form()),  # type: ignore[misc]
                )  # fmt: skip
    return router
