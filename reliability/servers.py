"""Throwaway PostgreSQL clusters from the installed server binaries, for the harness and the
test suite alike (``tests/databases.py`` imports them from here).

The machine's own PostgreSQL trusts every local connection, so a password test there
proves nothing. A throwaway cluster (initdb/pg_ctl, as the ``postgres`` user when run as
root) on a free port does what we ask: ``scram-sha-256`` for every TCP login, or ``trust``
(the server that accepts any password, which a rotation must not be fooled by), TLS from a
throwaway CA, and optional preloaded modules (``passwordcheck``: a server that refuses
some passwords).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.native
import trustme


class ServerUnavailable(Exception):
    """A server the caller needs could not be started or reached; the message says why."""


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def password() -> str:
    """A test password: long enough for the leak guard, safe in every engine."""
    return "Pw-" + secrets.token_urlsafe(15)


#: The ports :func:`free_port` handed out, each held bound (never listening) until exit.
_RESERVED: list[socket.socket] = []


def free_port() -> int:
    """A port nothing listens on: for a server to start on, or "a target that is down".

    The port stays bound by this process (with ``SO_REUSEADDR``, never listening) until it
    exits, so nothing else on the machine is handed it meanwhile (other suites bind port 0
    all the time): a connection to it is refused, and a server that sets ``SO_REUSEADDR``
    (PostgreSQL, redis-server, Python's HTTP servers) can still listen on it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    if not _RESERVED:
        atexit.register(_release_reserved)
    _RESERVED.append(sock)
    return int(sock.getsockname()[1])


def _release_reserved() -> None:
    for sock in _RESERVED:
        sock.close()
    _RESERVED.clear()


@dataclass
class PgCluster:
    host: str
    port: int
    superuser: str
    superpass: str
    ca_file: str
    roles: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    #: The cluster's files; ``stop`` removes them.
    root: Path | None = None
    bindir: Path | None = None

    def connect(
        self, user: str, pw: str, database: str = "postgres", **kw: Any
    ) -> pg8000.native.Connection:
        return pg8000.native.Connection(
            user, host=self.host, port=self.port, password=pw, database=database, timeout=5, **kw
        )

    def admin(self) -> pg8000.native.Connection:
        return self.connect(self.superuser, self.superpass)

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        conn = self.admin()
        try:
            return conn.run(sql, **params) or []
        finally:
            conn.close()

    def create_role(self, name: str, pw: str, *, extra: str = "") -> None:
        ident = pg8000.native.identifier(name)
        self.run(f"CREATE ROLE {ident} LOGIN PASSWORD {pg8000.native.literal(pw)} {extra}")
        self.roles.append(name)

    def track_role(self, name: str) -> None:
        self.roles.append(name)

    def create_database(self, owner: str | None = None) -> str:
        name = unique("rotdb")
        owner_sql = f" OWNER {pg8000.native.identifier(owner)}" if owner else ""
        self.run(f"CREATE DATABASE {pg8000.native.identifier(name)}{owner_sql}")
        self.databases.append(name)
        return name

    def logs_in(self, user: str, pw: str, database: str = "postgres") -> bool:
        try:
            conn = self.connect(user, pw, database)
        except pg8000.native.DatabaseError as exc:
            code = exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else None
            if code == "28P01":  # invalid_password
                return False
            raise
        conn.close()
        return True

    def cleanup(self) -> None:
        for db in self.databases:
            with contextlib.suppress(pg8000.native.DatabaseError):
                self.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(db)} WITH (FORCE)")
        for role in reversed(self.roles):
            with contextlib.suppress(pg8000.native.DatabaseError):
                ident = pg8000.native.identifier(role)
                self.run(f"DROP OWNED BY {ident}")
                self.run(f"DROP ROLE IF EXISTS {ident}")
        self.roles.clear()
        self.databases.clear()

    def stop(self) -> None:
        """Stop the server at once and remove its files."""
        if self.root is None or self.bindir is None:
            return
        data = self.root / "data"
        subprocess.run(
            as_server_user([str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                            "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def pg_bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to ``postgres`` when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def start_pg_cluster(auth: str = "scram-sha-256", *, preload: str = "") -> PgCluster:
    """A new cluster on a free port: every TCP login uses ``auth``; ``preload`` names
    ``shared_preload_libraries``. Raises :class:`ServerUnavailable` with the reason."""
    bindir = pg_bindir()
    if bindir is None:
        raise ServerUnavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="rotator-pg-"))
    data = root / "data"
    superpass = password()
    ca = trustme.CA()
    ca_file = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    os.chmod(root, 0o755)
    (root / "pw").write_text(superpass)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    try:
        subprocess.run(
            as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", "rot_admin",
                            f"--pwfile={root / 'pw'}", f"--auth={auth}", "-E", "UTF8"]),
            check=True, capture_output=True,
        )  # fmt: skip
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.cert_chain_pems[0].write_to_path(str(data / "server.crt"))
        cert.private_key_pem.write_to_path(str(data / "server.key"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for name in ("server.crt", "server.key"):
                os.chown(data / name, owner.pw_uid, owner.pw_gid)
        os.chmod(data / "server.key", 0o600)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{data}'\nssl = on\n"
                "ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "password_encryption = 'scram-sha-256'\nfsync = off\nmax_connections = 60\n"
            )
            if preload:
                conf.write(f"shared_preload_libraries = '{preload}'\n")
        (data / "pg_hba.conf").write_text(f"host all all 127.0.0.1/32 {auth}\n")
        port = _start_on_a_free_port(bindir, root)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        reason = f"the throwaway cluster did not start: {type(exc).__name__}"
        raise ServerUnavailable(reason) from None
    return PgCluster("127.0.0.1", port, "rot_admin", superpass, str(ca_file), root=root,
                     bindir=bindir)  # fmt: skip


#: How many free ports a cluster tries before it gives up (each taken by someone else
#: between our check and the server's bind: other suites share the machine).
PORT_ATTEMPTS = 5


def _start_on_a_free_port(bindir: Path, root: Path) -> int:
    """``pg_ctl start`` on a port nothing listens on; another one if the port was taken in
    the moment between :func:`free_port` and the server's bind. Returns the port."""
    data, log = root / "data", root / "log"
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {port}\n")  # the last setting of a name wins
        started = subprocess.run(
            as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log),
                            "-w", "-t", "60", "start"]),
            check=False, capture_output=True,
        )  # fmt: skip
        if started.returncode == 0:
            return port
        taken = log.exists() and "Address already in use" in log.read_text(errors="replace")
        if not taken or attempt == PORT_ATTEMPTS - 1:
            raise subprocess.CalledProcessError(started.returncode, started.args)
        log.unlink()
    raise AssertionError("unreachable")
