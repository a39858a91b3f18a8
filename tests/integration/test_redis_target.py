"""The ``redis`` target against real Redis servers, never mocks.

* The machine's Redis 7 (``redis_server``: 127.0.0.1:6379, plain text, no ACL file) for
  the target's methods one by one and for whole rotations through the emulator's trigger.
* A throwaway ``redis-server`` started here with TLS (a throwaway CA) and an ACL file, for
  what the machine's server cannot show: a verified TLS session, and ``ACL SAVE``.

What every test defends: the user's passwords change and nothing else about the user does
(key patterns, channels, commands, selectors, flags); at every instant a stored
credential logs in; no secret value reaches an error message, a log or a result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme

from emulator import Emulator
from rotation import logs
from rotation.ncp.models import RotationPhase, SecretValue, Stage
from rotation.targets import build_target
from rotation.targets.base import (
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
)
from rotation.targets.database import DatabaseTarget, Strategy, UserDisabled, is_loopback
from rotation.targets.redis import ENGINE, RedisEngine, build_redis, password_hash
from tests.databases import REDIS, Redis, free_port, password, started, unique
from tests.factories import admin_secret, change, rotate_via_trigger, target_context

HOST, PORT = REDIS

#: A user whose ACL is more than "+@all": every part must survive a rotation unchanged.
#: It may change its own password (+acl|setuser) and save the ACL (+acl|save).
RICH_RULES = (
    "~app:*", "%R~shared:*", "&events:*", "+@read", "+@write", "+ping", "-flushdb",
    "+acl|setuser", "+acl|save", "(~audit:* +get)",
)  # fmt: skip
#: A user that may log in and read, but not touch the ACL.
READ_ONLY_RULES = ("~*", "+@read", "+ping")

#: Not the default (32 characters from the default policy): what a user might set by hand.
AWKWARD = " spaced \"double\" 'single' <lt >gt \\back ~tilde #hash !bang %pct"


# -- helpers ------------------------------------------------------------------------------


def secret(value: str) -> str:
    """A password the leak guard watches for in everything the test produces."""
    logs.REDACTOR.register(value)
    return value


def new_password() -> str:
    return secret(password())


def value_for(user: str, pw: str, **extra: Any) -> dict[str, Any]:
    return {"engine": "redis", "host": HOST, "port": PORT, "username": user, "password": pw,
            "ssl": "disable", **extra}  # fmt: skip


def target_for(value: dict[str, Any], ctx: TargetContext | None = None, **config: Any) -> Any:
    """The target as the workflow builds it: through the kind registry."""
    return build_target(config, SecretValue(value), ctx or target_context())


def logs_in(user: str, pw: str, *, port: int = PORT) -> bool:
    return Redis(HOST, port).logs_in(user, pw)


def rules(server: Any, user: str) -> dict[str, Any]:
    """Everything ACL GETUSER says about the user except its password hashes."""
    return {k: v for k, v in server.acl(user).items() if k != "passwords"}


def hashes(server: Any, user: str) -> list[str]:
    return sorted(server.acl(user)["passwords"])


def assert_clean(exc: BaseException, *values: str) -> None:
    """Our message only: no secret value, no server text."""
    text = str(exc)
    for value in values:
        assert value not in text
    for server_words in ("WRONGPASS", "invalid username", "modifier", "unknown command"):
        assert server_words not in text


@pytest.fixture
def rich_user(redis_server: Redis) -> tuple[str, str]:
    user, pw = unique("rot_redis"), new_password()
    redis_server.create_user(user, pw, RICH_RULES)
    return user, pw


# -- the target, method by method: single-user ---------------------------------------------


def test_the_registry_builds_a_redis_target(rich_user: tuple[str, str]) -> None:
    user, pw = rich_user
    target = target_for(value_for(user, pw))
    assert isinstance(target, DatabaseTarget)
    assert target.engine is ENGINE and isinstance(ENGINE, RedisEngine)
    assert target.kind == "redis" and target.strategy is Strategy.SINGLE_USER
    assert target.external


def test_single_user_changes_its_own_password(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, old = rich_user
    before = rules(redis_server, user)
    target = target_for(value_for(user, old))
    ch = change(value_for(user, old), password=(new := new_password()))
    assert target.probe(ch, Stage.ACTIVE) and not target.probe(ch, Stage.PENDING)

    target.set(ch)

    assert target.probe(ch, Stage.PENDING) and not target.probe(ch, Stage.ACTIVE)
    assert logs_in(user, new) and not logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(new)]  # replaced, not added
    target.test(ch)
    assert rules(redis_server, user) == before
    target.finish(ch)  # single-user: nothing left to retire
    assert logs_in(user, new)
    target.close()


def test_single_user_rollback_restores_active(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, old = rich_user
    before = rules(redis_server, user)
    target = target_for(value_for(user, old))
    ch = change(value_for(user, old), password=new_password())
    target.set(ch)

    target.rollback(ch)

    assert target.probe(ch, Stage.ACTIVE) and not target.probe(ch, Stage.PENDING)
    assert hashes(redis_server, user) == [password_hash(old)]
    assert rules(redis_server, user) == before
    target.rollback(ch)  # pending no longer logs in: nothing to undo, no error
    assert logs_in(user, old)


def test_single_user_falls_back_to_previous(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    """An earlier run changed the password and died before complete: the server still
    holds what is now ``previous``; ``active`` is refused."""
    user, on_server = rich_user
    active = value_for(user, new_password())
    ch = change(active, password=(new := new_password()), previous=value_for(user, on_server))
    target = target_for(active)
    assert not target.probe(ch, Stage.ACTIVE)

    target.set(ch)

    assert logs_in(user, new) and not logs_in(user, on_server)
    assert hashes(redis_server, user) == [password_hash(new)]


def test_wrong_credentials_fail_the_set_with_our_message(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, pw = rich_user
    wrong = value_for(user, new_password())
    ch = change(wrong, password=(pending := new_password()))
    with pytest.raises(TargetSetFailed) as caught:
        target_for(wrong).set(ch)
    assert "refused the active and previous credentials" in str(caught.value)
    assert_clean(caught.value, pw, pending, wrong["password"])
    assert logs_in(user, pw)


def test_a_user_without_acl_permission_needs_an_admin(redis_server: Redis) -> None:
    user, old = unique("rot_ro"), new_password()
    redis_server.create_user(user, old, READ_ONLY_RULES)
    admin, admin_pw = unique("rot_admin"), new_password()
    redis_server.create_user(admin, admin_pw)
    before = rules(redis_server, user)
    ch = change(value_for(user, old), password=(new := new_password()))

    with pytest.raises(TargetSetFailed) as caught:
        target_for(value_for(user, old)).set(ch)
    message = str(caught.value)
    assert "may not run ACL SETUSER" in message
    assert "adminSecretId" in message and "+acl|setuser" in message
    assert_clean(caught.value, old, new)
    assert logs_in(user, old) and hashes(redis_server, user) == [password_hash(old)]

    ctx = target_context(admins={"admin-secret": (admin, admin_pw)})
    target = target_for(value_for(user, old), ctx, adminSecretId="admin-secret")
    target.set(ch)
    assert logs_in(user, new) and not logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(new)]
    target.test(ch)
    assert rules(redis_server, user) == before

    target.rollback(ch)  # through the admin too
    assert logs_in(user, old) and not logs_in(user, new)
    assert rules(redis_server, user) == before
    assert logs_in(admin, admin_pw)  # the admin itself is untouched


def test_the_admin_does_not_create_a_user_that_is_not_there(redis_server: Redis) -> None:
    admin, admin_pw = unique("rot_admin"), new_password()
    redis_server.create_user(admin, admin_pw)
    ghost = unique("rot_ghost")
    redis_server.users.append(ghost)  # dropped at teardown, should it appear after all
    ctx = target_context(admins={"admin-secret": (admin, admin_pw)})
    target = target_for(value_for(ghost, new_password()), ctx, adminSecretId="admin-secret")
    with pytest.raises(TargetSetFailed, match="no such ACL user"):
        target.set(change(value_for(ghost, new_password()), password=new_password()))
    assert redis_server.acl(ghost) == {}


def test_an_admin_without_acl_permission_is_told_so(redis_server: Redis) -> None:
    user, old = unique("rot_ro"), new_password()
    redis_server.create_user(user, old, READ_ONLY_RULES)
    weak, weak_pw = unique("rot_weak"), new_password()
    redis_server.create_user(weak, weak_pw, READ_ONLY_RULES)
    ctx = target_context(admins={"admin-secret": (weak, weak_pw)})
    target = target_for(value_for(user, old), ctx, adminSecretId="admin-secret")
    with pytest.raises(TargetSetFailed, match=r"the admin user may not run ACL SETUSER"):
        target.set(change(value_for(user, old), password=new_password()))
    assert logs_in(user, old)


# -- a disabled user (ACL off) is not a wrong password (issue 17) -------------------------


def disable(server: Redis, user: str) -> None:
    with contextlib.closing(server.admin()) as r:
        r.execute_command("ACL", "SETUSER", user, "off")  # type: ignore[no-untyped-call]


def test_without_an_admin_a_disabled_user_is_named_as_a_possible_cause(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    """Redis answers a disabled user as it answers a wrong password, and only an admin may
    ask which: without one, the message says both, so nobody resets a right password."""
    user, pw = rich_user
    disable(redis_server, user)
    ch = change(value_for(user, pw), password=new_password())
    with pytest.raises(TargetSetFailed) as caught:
        target_for(value_for(user, pw)).set(ch)
    assert caught.value.code == "TARGET_LOGIN_REFUSED" and caught.value.untouched
    assert (
        "or the user is disabled (Redis answers a disabled user as it answers a wrong "
        "password: ACL GETUSER shows on or off" in str(caught.value)
    )
    assert_clean(caught.value, pw)
    assert hashes(redis_server, user) == [password_hash(pw)]


@pytest.mark.parametrize("strategy", ["single-user", "dual-password"])
def test_with_an_admin_a_disabled_user_is_its_own_cause(
    redis_server: Redis, rich_user: tuple[str, str], strategy: str
) -> None:
    user, pw = rich_user
    admin, admin_pw = unique("rot_admin"), new_password()
    redis_server.create_user(admin, admin_pw)
    disable(redis_server, user)
    ctx = target_context(admins={"adm": (admin, admin_pw)})
    target = target_for(value_for(user, pw), ctx, strategy=strategy, adminSecretId="adm")
    ch = change(value_for(user, pw), password=new_password())
    with pytest.raises(UserDisabled) as probed:  # check's login probe: active refused
        target.probe(ch, Stage.ACTIVE)
    assert probed.value.code == "TARGET_USER_DISABLED"
    assert "the ACL user is off" in str(probed.value) and "ACL SETUSER ... on" in str(probed.value)
    assert target.probe(ch, Stage.PENDING) is False  # a rotation's probe stays a probe
    with pytest.raises(UserDisabled) as refused:
        target.set(ch)
    assert refused.value.untouched and refused.value.code == "TARGET_USER_DISABLED"
    assert_clean(refused.value, pw, admin_pw)
    assert hashes(redis_server, user) == [password_hash(pw)]  # nothing was set
    assert "off" in redis_server.acl(user)["flags"]  # nor enabled behind the operator's back


def test_a_disabled_user_fails_the_rotation_with_its_own_code(
    emu: Emulator, redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, pw = rich_user
    admin, admin_pw = unique("rot_admin"), new_password()
    redis_server.create_user(admin, admin_pw)
    disable(redis_server, user)
    admin_id = admin_secret(emu, admin, admin_pw)
    sid, activation = rotate_via_trigger(
        emu, value_for(user, pw), target={"adminSecretId": admin_id}
    )
    result = result_of(activation)
    assert result["error"]["code"] == "TARGET_USER_DISABLED", result
    assert result["job"] == "failed"
    assert "leave the stored value as it is" in result["error"]["action"]
    active, _ = stored(emu, sid)
    assert active is not None and active["password"] == pw  # the stored value stays right
    assert hashes(redis_server, user) == [password_hash(pw)]


# -- dual-password --------------------------------------------------------------------------


def test_dual_password_keeps_both_until_finish(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, old = rich_user
    before = rules(redis_server, user)
    target = target_for(value_for(user, old, strategy="dual-password"))
    assert target.strategy is Strategy.DUAL_PASSWORD
    ch = change(value_for(user, old, strategy="dual-password"), password=(new := new_password()))

    target.set(ch)

    assert logs_in(user, old) and logs_in(user, new)
    assert hashes(redis_server, user) == sorted([password_hash(old), password_hash(new)])
    target.test(ch)

    target.finish(ch)  # after Secret Manager's complete: the new one logs in alone

    assert logs_in(user, new) and not logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(new)]
    assert rules(redis_server, user) == before
    # Idempotent by design: a retried finish finds the old password gone, which is what
    # it was asked to bring about, and succeeds.
    target.finish(ch)
    assert hashes(redis_server, user) == [password_hash(new)]


def test_dual_password_rollback_removes_only_pending(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, old = rich_user
    before = rules(redis_server, user)
    target = target_for(value_for(user, old), strategy="dual-password")
    ch = change(value_for(user, old), password=(new := new_password()))
    target.set(ch)

    target.rollback(ch)

    assert logs_in(user, old) and not logs_in(user, new)
    assert hashes(redis_server, user) == [password_hash(old)]
    assert rules(redis_server, user) == before
    target.rollback(ch)  # again, or after a set that never happened: no error
    assert hashes(redis_server, user) == [password_hash(old)]


def test_dual_password_needs_acl_permission_or_an_admin(redis_server: Redis) -> None:
    user, old = unique("rot_ro"), new_password()
    redis_server.create_user(user, old, READ_ONLY_RULES)
    target = target_for(value_for(user, old), strategy="dual-password")
    with pytest.raises(TargetSetFailed) as caught:
        target.set(change(value_for(user, old), password=(new := new_password())))
    message = str(caught.value)
    assert "may not run ACL SETUSER" in message and "+acl|setuser" in message
    assert "adminSecretId" in message
    assert_clean(caught.value, old, new)
    assert hashes(redis_server, user) == [password_hash(old)]


def test_dual_password_through_an_admin(redis_server: Redis) -> None:
    user, old = unique("rot_ro"), new_password()
    redis_server.create_user(user, old, READ_ONLY_RULES)
    admin, admin_pw = unique("rot_admin"), new_password()
    redis_server.create_user(admin, admin_pw)
    ctx = target_context(admins={"adm": (admin, admin_pw)})
    target = target_for(value_for(user, old), ctx, strategy="dual-password", adminSecretId="adm")
    ch = change(value_for(user, old), password=(new := new_password()))
    target.set(ch)
    assert logs_in(user, old) and logs_in(user, new)
    target.finish(ch)
    assert hashes(redis_server, user) == [password_hash(new)]


def test_dual_password_finish_also_retires_a_leftover_previous(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    """A previous run's finish failed (a warning only): the old-old password lingers."""
    user, previous = rich_user
    active = new_password()
    target = target_for(value_for(user, previous), strategy="dual-password")
    first = change(value_for(user, previous), password=active)
    target.set(first)  # ... and the finish that would have removed `previous` never ran
    second = change(
        value_for(user, active),
        password=(new := new_password()),
        previous=value_for(user, previous),
    )
    target.set(second)
    assert logs_in(user, previous) and logs_in(user, active) and logs_in(user, new)
    target.finish(second)
    assert hashes(redis_server, user) == [password_hash(new)]
    assert not logs_in(user, previous) and not logs_in(user, active)


def test_alternating_users_is_not_offered(rich_user: tuple[str, str]) -> None:
    user, pw = rich_user
    with pytest.raises(TargetConfigError, match="dual-password, single-user"):
        target_for(value_for(user, pw), strategy="alternating-users", adminSecretId="x")


# -- passwords and arguments ------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["single-user", "dual-password"])
def test_a_password_with_spaces_quotes_and_angle_brackets(
    redis_server: Redis, rich_user: tuple[str, str], strategy: str
) -> None:
    """Each argument is its own RESP string and only the hash is sent: no character of
    the password can act as an ACL rule (``<``, ``>``, ``#``, ``!``, ``~``, spaces)."""
    user, old = rich_user
    before = rules(redis_server, user)
    awkward = secret(password() + AWKWARD)
    value = value_for(user, old, strategy=strategy)
    ch = change(value, password=awkward)
    target = target_for(value)

    target.set(ch)
    target.test(ch)
    target.finish(ch)

    assert logs_in(user, awkward) and not logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(awkward)]
    assert rules(redis_server, user) == before

    back = change(value_for(user, awkward, strategy=strategy), password=old)
    target.set(back)  # and from it again, logging in with it
    target.finish(back)
    assert logs_in(user, old) and hashes(redis_server, user) == [password_hash(old)]


# -- reachability, TLS and the test step ---------------------------------------------------


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_tls_against_a_plain_text_server_never_falls_back(
    redis_server: Redis, rich_user: tuple[str, str], mode: str
) -> None:
    """The machine's Redis speaks plain text. A TLS handshake to it is never answered, so
    this used to be a 5 s timeout that read as a network problem (issue 17): a server on
    this machine is asked in plain text first, and the message names the setting."""
    user, pw = rich_user
    value = value_for(user, pw, ssl=mode)
    target = target_for(value)  # the full 5 s connect timeout: it must not be needed
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as caught:
        target.probe(change(value, password=new_password()), Stage.ACTIVE)
    assert time.monotonic() - started < 1.5
    assert str(caught.value).startswith(
        f"redis at 127.0.0.1:{redis_server.port} does not offer TLS (ssl is {mode}): set ssl "
        "(in the secret value or the target parameter) to 'disable' for a server on this machine"
    )
    assert_clean(caught.value, pw)


def test_a_plain_text_probe_is_only_sent_to_this_machine() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("10.0.0.5") and not is_loopback("cache.internal")


def test_a_closed_port_is_unreachable_at_once(rich_user: tuple[str, str]) -> None:
    user, pw = rich_user
    value = {**value_for(user, pw), "port": free_port()}
    target = target_for(value)
    ch = change(value, password=new_password())
    started = time.monotonic()
    with pytest.raises(TargetUnreachable, match=r"could not connect to redis at 127\.0\.0\.1"):
        target.probe(ch, Stage.ACTIVE)
    with pytest.raises(TargetUnreachable):
        target.set(ch)
    assert time.monotonic() - started < 1.0  # no retries with backoff


def test_a_refused_login_is_not_an_outage(rich_user: tuple[str, str]) -> None:
    user, pw = rich_user
    ch = change(value_for(user, pw), password=(pending := new_password()))
    target = target_for(value_for(user, pw))
    assert target.probe(ch, Stage.PENDING) is False  # refused, not raised
    with pytest.raises(TargetTestFailed, match="refused the pending credential") as caught:
        target.test(ch)
    assert_clean(caught.value, pw, pending)


def test_a_failing_test_query_fails_the_test(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, pw = rich_user
    value = value_for(user, pw, testQuery="NO_SUCH_COMMAND app:x")
    ch = change(value, password=pw)  # test() logs in with "pending": here the same password
    with pytest.raises(TargetTestFailed, match=r"testQuery failed \(ResponseError\)") as caught:
        target_for(value).test(ch)
    assert_clean(caught.value, pw)
    forbidden = value_for(user, pw, testQuery="GET other:key")  # outside ~app:*
    with pytest.raises(TargetTestFailed, match="may not run testQuery"):
        target_for(forbidden).test(change(forbidden, password=pw))


def test_a_test_query_with_quoted_arguments_passes(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, pw = rich_user
    value = value_for(user, pw, testQuery="EXISTS 'app:health check' \"app:other key\"")
    target_for(value).test(change(value, password=pw))


def test_dbname_selects_the_logical_database(
    redis_server: Redis, rich_user: tuple[str, str]
) -> None:
    user, pw = rich_user  # RICH_RULES has no +select
    value = value_for(user, pw, dbname="3")
    with pytest.raises(TargetUnreachable, match=r"may not SELECT database 3 \(give it \+select"):
        target_for(value).probe(change(value, password=new_password()), Stage.ACTIVE)
    free, free_pw = unique("rot_redis"), new_password()
    redis_server.create_user(free, free_pw)  # +@all
    value = value_for(free, free_pw, dbname="3")
    target = target_for(value)
    ch = change(value, password=(new := new_password()))
    assert target.probe(ch, Stage.ACTIVE)
    target.set(ch)
    target.test(ch)
    assert logs_in(free, new)
    beyond = value_for(free, new, dbname="100000")  # more than the server's databases
    with pytest.raises(TargetUnreachable, match=r"refused the session \(ResponseError\)"):
        target_for(beyond).probe(change(beyond, password=new_password()), Stage.ACTIVE)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"dbname": "one"}, "dbname must be a Redis database number"),
        ({"dbname": "-1"}, "dbname must be a Redis database number"),
        ({"testQuery": "GET 'unbalanced"}, "testQuery is not a valid command line"),
        ({"testQuery": "   "}, "testQuery holds no command"),
        ({"ssl": "verify-full", "sslRootCert": "/nonexistent/ca.pem"}, "sslRootCert"),
        ({"strategy": "sometimes"}, "redis supports strategy"),
    ],
)
def test_bad_settings_stop_before_anything_runs(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(TargetConfigError, match=words):
        build_redis({}, SecretValue(value_for("app", "Pw-not-used-1", **extra)), target_context())


def test_ensure_alternate_is_refused() -> None:
    with pytest.raises(TargetConfigError, match="alternating-users"):
        ENGINE.ensure_alternate(None, None, "app", "app_clone", "unused")  # type: ignore[arg-type]


# -- a throwaway server: TLS with a private CA, and an ACL file --------------------------------


@dataclass
class TlsRedis:
    host: str
    port: int
    tls_port: int
    ca_file: str
    aclfile: Path
    users: list[str] = field(default_factory=list)

    def admin(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_connect_timeout=5)

    def create_user(self, name: str, pw: str, rules: tuple[str, ...] = RICH_RULES) -> None:
        with contextlib.closing(self.admin()) as r:
            r.execute_command("ACL", "SETUSER", name, "on", f">{pw}", *rules)
            r.execute_command("ACL", "SAVE")
        self.users.append(name)

    def logs_in(self, user: str, pw: str) -> bool:
        return logs_in(user, pw, port=self.port)

    def saved(self, user: str) -> str:
        """The user's line in the ACL file."""
        lines = self.aclfile.read_text().splitlines()
        return next(line for line in lines if line.startswith(f"user {user} "))

    def cleanup(self) -> None:
        with contextlib.closing(self.admin()) as r:
            for name in self.users:
                with contextlib.suppress(redis.RedisError):
                    r.execute_command("ACL", "DELUSER", name)
        self.users.clear()


@pytest.fixture(scope="module")
def tls_redis_session() -> Iterator[TlsRedis | str]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield "redis-server is not installed"
        return
    root = Path(tempfile.mkdtemp(prefix="rotator-redis-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = root / "ca.pem", root / "server.crt", root / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    aclfile = root / "users.acl"
    aclfile.write_text("user default on nopass ~* &* +@all\n")
    port, tls_port = free_port(), free_port()
    log = (root / "redis.log").open("w")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "127.0.0.2", "--port", str(port),
         "--tls-port", str(tls_port),
         "--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file),
         "--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no",
         "--aclfile", str(aclfile), "--dir", str(root), "--save", "", "--appendonly", "no",
         "--daemonize", "no"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = TlsRedis("127.0.0.1", port, tls_port, str(ca_file), aclfile)
    try:
        deadline = time.monotonic() + 60  # a loaded machine may take seconds to start it
        while True:
            with contextlib.suppress(redis.RedisError), contextlib.closing(server.admin()) as r:
                r.ping()
                break
            if process.poll() is not None:
                break
            if time.monotonic() > deadline:
                yield "the throwaway redis-server did not answer in 60 s"
                return
            time.sleep(0.05)
        if process.poll() is not None:
            yield f"the throwaway redis-server exited ({process.returncode}; TLS support?)"
            return
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tls_redis(tls_redis_session: TlsRedis | str) -> Iterator[TlsRedis]:
    server = started(tls_redis_session, "a throwaway redis-server with TLS and an ACL file")
    try:
        yield server
    finally:
        server.cleanup()


def tls_value(server: TlsRedis, user: str, pw: str, **extra: Any) -> dict[str, Any]:
    return {"engine": "redis", "host": server.host, "port": server.tls_port, "username": user,
            "password": pw, "ssl": "verify-full", "sslRootCert": server.ca_file,
            **extra}  # fmt: skip


@pytest.mark.parametrize("strategy", ["single-user", "dual-password"])
def test_verified_tls_rotation_saved_to_the_acl_file(tls_redis: TlsRedis, strategy: str) -> None:
    user, old = unique("rot_tls"), new_password()
    tls_redis.create_user(user, old)
    assert password_hash(old) in tls_redis.saved(user)
    value = tls_value(tls_redis, user, old, strategy=strategy)
    ch = change(value, password=(new := new_password()))
    target = target_for(value)
    assert target.probe(ch, Stage.ACTIVE)

    target.set(ch)
    target.test(ch)
    saved = tls_redis.saved(user)
    assert password_hash(new) in saved  # on disk before complete: a restart keeps it
    assert (password_hash(old) in saved) is (strategy == "dual-password")
    target.finish(ch)

    saved = tls_redis.saved(user)
    assert password_hash(new) in saved and password_hash(old) not in saved
    assert new not in tls_redis.aclfile.read_text()
    assert tls_redis.logs_in(user, new) and not tls_redis.logs_in(user, old)


def test_tls_modes_against_a_tls_server(tls_redis: TlsRedis) -> None:
    user, pw = unique("rot_tls"), new_password()
    tls_redis.create_user(user, pw)
    value = tls_value(tls_redis, user, pw)
    ch = change(value, password=new_password())
    require = {k: v for k, v in value.items() if k != "sslRootCert"} | {"ssl": "require"}
    assert target_for(require).probe(change(require, password=new_password()), Stage.ACTIVE)
    # verify-full without the private CA: the certificate is not trusted. No fallback.
    untrusted = {k: v for k, v in value.items() if k != "sslRootCert"}
    with pytest.raises(TargetUnreachable, match="ssl is verify-full") as caught:
        target_for(untrusted).probe(change(untrusted, password=new_password()), Stage.ACTIVE)
    # the message names what to change (issue 17), never the server's words
    assert "the server's TLS certificate did not verify (" in str(caught.value)
    assert "give sslRootCert" in str(caught.value) and "to 'require'" in str(caught.value)
    # verify-full with a name the certificate does not carry.
    elsewhere = value | {"host": "127.0.0.2"}
    with pytest.raises(TargetUnreachable) as caught:
        target_for(elsewhere).probe(change(elsewhere, password=new_password()), Stage.ACTIVE)
    assert "did not verify (IP address mismatch" in str(caught.value)
    assert "connect with a host name or address the certificate names" in str(caught.value)
    # plain text against the TLS port is no login either, and says TLS may be wanted.
    plain = value | {"ssl": "disable"}
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as caught:
        target_for(plain).probe(ch, Stage.ACTIVE)
    assert time.monotonic() - started < 1.5
    assert "closed the connection at once (ssl is disable)" in str(caught.value)
    assert "to 'verify-full'" in str(caught.value)


def test_a_user_that_may_not_save_the_acl_is_stopped(tls_redis: TlsRedis) -> None:
    """The server keeps an ACL file; the change could only live in memory. The set fails
    with that explanation, and the rollback puts the old password back in memory."""
    user, old = unique("rot_nosave"), new_password()
    tls_redis.create_user(user, old, ("~*", "+@read", "+ping", "+acl|setuser"))
    value = tls_value(tls_redis, user, old)
    ch = change(value, password=(new := new_password()))
    target = target_for(value)
    with pytest.raises(TargetSetFailed) as caught:
        target.set(ch)
    assert "may not run ACL SAVE" in str(caught.value)
    assert "in memory only" in str(caught.value) and "+acl|save" in str(caught.value)
    assert_clean(caught.value, old, new)
    with pytest.raises(TargetSetFailed):  # it restores active, and cannot save that either
        target.rollback(ch)
    assert tls_redis.logs_in(user, old) and not tls_redis.logs_in(user, new)
    assert password_hash(old) in tls_redis.saved(user)  # the file never changed


# -- whole rotations, as Secret Manager runs them --------------------------------------------


def result_of(activation: Any) -> dict[str, Any]:
    assert activation.result is not None, activation.logs
    return dict(activation.result)


def phase(emu: Emulator, sid: str) -> RotationPhase:
    with emu.client() as client:
        return client.get_secret(sid).rotation_phase


def stored(emu: Emulator, sid: str) -> tuple[SecretValue | None, SecretValue | None]:
    with emu.client() as client:
        chain = client.get_secret_values(sid)
    return chain.active, chain.pending


STRATEGIES = [
    pytest.param(None, id="single-user"),
    pytest.param({"strategy": "dual-password"}, id="dual-password"),
]


@pytest.mark.parametrize("target", STRATEGIES)
def test_rotation_end_to_end(
    emu: Emulator, redis_server: Redis, rich_user: tuple[str, str], target: Any
) -> None:
    user, old = rich_user
    before = rules(redis_server, user)
    sid, activation = rotate_via_trigger(emu, value_for(user, old), target=target)
    result = result_of(activation)
    assert result["ok"] and result["outcome"] == "rotated", result
    steps = [s["step"] for s in result["steps"]]
    assert steps[-4:] == ["test", "complete", "verify", "finish"]
    assert [s["status"] for s in result["steps"] if s["step"] == "finish"] == ["ok"]
    active, _ = stored(emu, sid)
    assert active is not None and active["password"] != old
    new = active["password"]
    assert logs_in(user, new) and not logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(new)]
    assert rules(redis_server, user) == before
    assert phase(emu, sid) is RotationPhase.NONE


def test_rotation_end_to_end_with_an_admin(emu: Emulator, redis_server: Redis) -> None:
    user, old = unique("rot_ro"), new_password()
    redis_server.create_user(user, old, READ_ONLY_RULES)
    admin, admin_pw = unique("rot_admin"), new_password()
    redis_server.create_user(admin, admin_pw)
    admin_id = admin_secret(emu, admin, admin_pw)
    sid, activation = rotate_via_trigger(
        emu, value_for(user, old), target={"adminSecretId": admin_id}
    )
    assert result_of(activation)["ok"], activation.result
    active, _ = stored(emu, sid)
    assert active is not None
    assert logs_in(user, active["password"]) and not logs_in(user, old)
    assert logs_in(admin, admin_pw)


@pytest.mark.parametrize("target", STRATEGIES)
def test_a_failed_complete_rolls_the_user_back(
    emu: Emulator, redis_server: Redis, rich_user: tuple[str, str], target: Any
) -> None:
    user, old = rich_user
    before = rules(redis_server, user)
    emu.faults.add("complete_rotation_job", status=400, times=50)  # refused: not done
    sid, activation = rotate_via_trigger(emu, value_for(user, old), target=target)
    result = result_of(activation)
    assert result["ok"] is False and "leftForRetry" not in result, result
    assert result["error"]["code"] == "API_ERROR"  # complete never went through
    steps = [s["step"] for s in result["steps"]]
    assert "rollback" in steps and "finish" not in steps
    assert phase(emu, sid) is RotationPhase.ROTATION_FAILED
    active, _ = stored(emu, sid)
    assert active is not None and active["password"] == old
    assert logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(old)]  # pending removed / replaced
    assert rules(redis_server, user) == before


@pytest.mark.parametrize("target", STRATEGIES)
def test_an_unreachable_redis_fails_the_job_and_changes_nothing(
    emu: Emulator, redis_server: Redis, rich_user: tuple[str, str], target: Any
) -> None:
    user, old = rich_user
    value = {**value_for(user, old), "port": free_port()}
    sid, activation = rotate_via_trigger(emu, value, target=target)
    result = result_of(activation)
    assert result["ok"] is False
    assert result["error"]["code"] == "TARGET_UNREACHABLE", result
    assert "set" not in [s["step"] for s in result["steps"]]
    assert phase(emu, sid) is RotationPhase.ROTATION_FAILED
    active, _ = stored(emu, sid)
    assert active == SecretValue(value)
    assert logs_in(user, old) and hashes(redis_server, user) == [password_hash(old)]


@pytest.mark.parametrize("target", STRATEGIES)
def test_a_failing_test_query_rolls_back(
    emu: Emulator, redis_server: Redis, rich_user: tuple[str, str], target: Any
) -> None:
    user, old = rich_user
    value = value_for(user, old, testQuery="NO_SUCH_COMMAND")
    sid, activation = rotate_via_trigger(emu, value, target=target)
    result = result_of(activation)
    assert result["ok"] is False
    assert result["error"]["code"] == "TARGET_TEST_FAILED", result
    assert phase(emu, sid) is RotationPhase.ROTATION_FAILED
    assert logs_in(user, old)
    assert hashes(redis_server, user) == [password_hash(old)]


# -- the target as a whole, as a sequence of workflow calls ------------------------------------


def test_every_error_is_a_target_error_without_secrets(rich_user: tuple[str, str]) -> None:
    """Whatever goes wrong, the workflow gets a :class:`TargetError` with our words."""
    user, pw = rich_user
    calls: list[Callable[[], object]] = []
    closed = {**value_for(user, pw), "port": free_port()}
    calls.append(lambda: target_for(closed).set(change(closed, password=new_password())))
    wrong = value_for(user, new_password(), strategy="dual-password")
    calls.append(lambda: target_for(wrong).set(change(wrong, password=new_password())))
    calls.append(lambda: target_for(wrong).rollback(change(wrong, password=new_password())))
    for call in calls:
        with pytest.raises(TargetError) as caught:
            call()
        assert_clean(caught.value, pw, wrong["password"])


def test_no_file_descriptor_is_left_open(rich_user: tuple[str, str]) -> None:
    """Every session is closed, on success and on every failure path (``filterwarnings =
    error`` would turn an unclosed socket's ResourceWarning into a failure too)."""
    user, pw = rich_user
    fds = Path("/proc/self/fd")
    if not fds.exists():
        pytest.skip("no /proc/self/fd here")
    value = value_for(user, pw)
    closed = {**value, "port": free_port()}  # held by this process: before counting
    before = len(os.listdir(fds))
    for _ in range(5):
        target = target_for(value)
        target.probe(change(value, password=new_password()), Stage.ACTIVE)  # ok
        target.probe(change(value, password=new_password()), Stage.PENDING)  # refused
        bad = value_for(user, pw, testQuery="NO_SUCH_COMMAND")
        with pytest.raises(TargetTestFailed):
            target_for(bad).test(change(bad, password=pw))
        with pytest.raises(TargetUnreachable):
            target_for(closed).probe(change(closed, password=pw), Stage.ACTIVE)
    assert len(os.listdir(fds)) <= before


def test_a_nopass_user_is_never_trusted(emu: Emulator, redis_server: Redis) -> None:
    """A ``nopass`` user logs in with any password, so a probe proves nothing: set must
    run (the server gets the new password) and the result must warn."""
    user, old = unique("rot_nopass"), new_password()
    redis_server.create_user(user, old, (*RICH_RULES, "nopass"))
    assert logs_in(user, "any-password-at-all")
    sid, activation = rotate_via_trigger(emu, value_for(user, old))
    result = result_of(activation)
    assert result["ok"], result
    assert [w["code"] for w in result["warnings"]] == ["TARGET_AUTH_NOT_ENFORCED"]
    assert [s["status"] for s in result["steps"] if s["step"] == "set"] == ["ok"]
    active, _ = stored(emu, sid)
    assert active is not None
    assert password_hash(active["password"]) in hashes(redis_server, user)  # received it
