"""Package size and build time, and what a database rotation costs on real servers."""

from __future__ import annotations

import contextlib
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql
import redis

import handler
from deploy.package import build_package
from emulator import Emulator
from rotation.ncp.models import CreateSecretRequest


def package() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = build_package(out=Path(tmp) / "rotation-action.zip")
        took = time.perf_counter() - started
    return [
        f"{'package: zip size':<44} {result.size / 1_048_576:.2f} MB ({result.size} bytes, "
        f"{result.files} files; limit 38 MB)",
        f"{'package: build time (pip + zip)':<44} {took:.1f} s",
    ]


def _rotate(emu: Emulator, value: dict[str, Any], name: str) -> float:
    with emu.client() as client:
        trigger = emu.backend.register_trigger(f"t{name}")
        secret = client.create_secret(
            CreateSecretRequest(name, value, ("password",), trigger_id=trigger.trigger_id)
        )
        client.execute_rotation_job(secret.secret_id)
        token = [e for e in client.get_secret_logs(secret.secret_id).entries if "jobToken" in e][-1]
    result = handler.main(
        {
            "secretId": secret.secret_id,
            "jobToken": token["jobToken"],
            **emu.action_params(),
        }
    )
    assert result["ok"], result
    return float(result["durationMs"])


def databases() -> list[str]:
    lines = []
    user, pw = f"bench_{secrets.token_hex(3)}", "Bench-" + secrets.token_urlsafe(12)
    with Emulator() as emu:
        try:
            admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        except pymysql.err.MySQLError:
            lines.append("mariadb rotation: skipped (no MariaDB at 127.0.0.1:3306)")
        else:
            with contextlib.closing(admin), admin.cursor() as cur:
                cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, pw))
                try:
                    durations = []
                    for i in range(20):
                        value = {"engine": "mariadb", "host": "127.0.0.1", "username": user,
                                 "password": pw, "ssl": "disable"}  # fmt: skip
                        durations.append(_rotate(emu, value, f"m{i:05d}"))
                        cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, pw))
                    lines.append(f"{'mariadb single-user rotation (handler, p50)':<44} "
                                 f"{statistics.median(durations):8.1f} ms")  # fmt: skip
                finally:
                    cur.execute("DROP USER %s@'%%'", (user,))
        r = redis.Redis(host="127.0.0.1", port=6379)
        try:
            r.ping()
        except redis.RedisError:
            lines.append("redis rotation: skipped (no Redis at 127.0.0.1:6379)")
        else:
            try:
                durations = []
                for i in range(20):
                    r.acl_setuser(user, enabled=True, reset_passwords=True, passwords=[f"+{pw}"],
                                  keys=["*"], commands=["+@all"])  # fmt: skip
                    value = {"engine": "redis", "host": "127.0.0.1", "username": user,
                             "password": pw, "ssl": "disable",
                             "strategy": "dual-password"}  # fmt: skip
                    durations.append(_rotate(emu, value, f"r{i:05d}"))
                lines.append(f"{'redis dual-password rotation (handler, p50)':<44} "
                             f"{statistics.median(durations):8.1f} ms")  # fmt: skip
            finally:
                r.acl_deluser(user)
                r.close()
    return lines


def run() -> list[str]:
    return package() + databases()
