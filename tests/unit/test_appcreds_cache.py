"""The application kit's cache (appcreds.cache) against the emulator: reads, stages, bounds.

Secret Manager is the emulator on real HTTP (its counters say how many reads the kit
made); the "server" an operation logs in to is :class:`Server`, a set of accepted
passwords, so each test can put the target in any moment of a rotation. The real
databases, with real rotations, are in tests/integration/test_appcreds_drivers.py.
Time is a :class:`ManualClock`: nothing here sleeps.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from appcreds import Credential, CredentialCache, Limits, SecretUnavailable
from emulator import Emulator
from rotation.ncp.models import Stage
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.transport import RetryPolicy
from tests.databases import password
from tests.factories import create_secret

READ = "get_secret_value"


class ManualClock:
    """Monotonic seconds a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Refused(Exception):
    """What :class:`Server` raises for a password it does not accept (no value in it)."""


def refused(exc: BaseException) -> bool:
    return isinstance(exc, Refused)


class Server:
    """A target that accepts the passwords in ``accepted``; records which stage each login
    used, in order."""

    def __init__(self, *accepted: str) -> None:
        self.accepted = set(accepted)
        self.logins: list[str] = []
        self._lock = threading.Lock()

    def login(self, cred: Credential) -> str:
        with self._lock:
            self.logins.append(cred.stage.path)
        if cred.password not in self.accepted:
            raise Refused("password authentication failed for the app user")
        return cred.password


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sm(emu: Emulator) -> Iterator[SecretManagerClient]:
    """One attempt per read, so that the emulator's count is the kit's count."""
    with emu.client(retry=RetryPolicy(attempts=1)) as c:
        yield c


Make = Callable[..., CredentialCache]


@pytest.fixture
def make(sm: SecretManagerClient, clock: ManualClock) -> Make:
    def build(secret_id: str, **limits: Any) -> CredentialCache:
        options = {"ttl": 60.0, "jitter": 0.0, "max_staleness": 600.0, **limits}
        return CredentialCache(sm, secret_id, limits=Limits(**options), clock=clock)

    return build


def stored(
    client: SecretManagerClient,
    active: str,
    *,
    pending: str | None = None,
    previous: str | None = None,
) -> str:
    """A secret whose chain holds these passwords (user ``app``)."""
    secret_id = create_secret(client, value={"username": "app", "password": active}).secret_id
    set_chain(client, secret_id, pending=pending, previous=previous)
    return secret_id


def set_chain(
    client: SecretManagerClient,
    secret_id: str,
    *,
    active: str | None = None,
    pending: str | None = None,
    previous: str | None = None,
) -> None:
    """Put stages as a rotation would leave them; ``""`` deletes a stage."""
    stages: dict[str, Any] = {}
    for name, pw in (("active", active), ("pending", pending), ("previous", previous)):
        if pw is not None:
            stages[name] = "" if pw == "" else {"username": "app", "password": pw}
    if stages:
        client.update_secret_values(secret_id, **stages)


def reads(emu: Emulator) -> int:
    return emu.stats.calls[READ]


# -- the cache ------------------------------------------------------------------------------


def test_one_read_serves_every_caller_until_the_ttl(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    a = password()
    cache = make(stored(sm, a))
    emu.stats.reset()
    assert cache.credential().password == a
    clock.advance(59.9)
    assert cache.credential().password == a
    assert cache.stages()[Stage.ACTIVE].password == a
    assert reads(emu) == 1
    clock.advance(0.1)
    cache.credential()
    assert reads(emu) == 2
    assert cache.stats().fetches == 2


def test_the_ttl_is_shortened_by_a_random_share_of_jitter(
    emu: Emulator, sm: SecretManagerClient, clock: ManualClock
) -> None:
    secret_id = stored(sm, password())
    draw = random.Random(7).random()
    expires = 100.0 * (1 - 0.5 * draw)
    cache = CredentialCache(
        sm, secret_id, limits=Limits(ttl=100, jitter=0.5), clock=clock, rng=random.Random(7)
    )
    cache.credential()
    emu.stats.reset()
    clock.advance(expires - 0.01)
    cache.credential()
    assert reads(emu) == 0
    clock.advance(0.01)
    cache.credential()
    assert reads(emu) == 1


def test_many_threads_missing_at_once_make_one_read(
    emu: Emulator, sm: SecretManagerClient, make: Make
) -> None:
    a = password()
    cache = make(stored(sm, a))
    emu.stats.reset()
    emu.faults.add(READ, delay=0.5)  # a slow answer: the callers pile up behind it
    start = threading.Barrier(16)
    got: list[str] = []

    def reader() -> None:
        start.wait()
        got.append(cache.credential().password)

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == [a] * 16
    assert reads(emu) == 1


def test_a_ttl_read_runs_in_one_caller_while_the_others_use_the_current_chain(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    a, b = password(), password()
    secret_id = stored(sm, a)
    cache = make(secret_id)
    cache.credential()
    set_chain(sm, secret_id, active=b, previous=a)
    clock.advance(60)
    emu.stats.reset()
    start = threading.Barrier(8)
    got: list[str] = []

    def reader() -> None:
        start.wait()
        got.append(cache.credential().password)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert reads(emu) == 1
    assert set(got) <= {a, b} and b in got
    assert cache.credential().password == b


# -- a refused login: the invariant's order -----------------------------------------------------


def test_a_refusal_reads_again_and_tries_active_then_pending_then_previous(
    emu: Emulator, sm: SecretManagerClient, make: Make
) -> None:
    a, b, p = password(), password(), password()
    secret_id = stored(sm, a)
    cache = make(secret_id)
    cache.credential()
    set_chain(sm, secret_id, pending=b, previous=p)
    server = Server(p)
    emu.stats.reset()
    assert cache.call(server.login, is_auth_error=refused) == p
    assert server.logins == ["active", "pending", "previous"]
    assert reads(emu) == 1
    # The one that worked is remembered: the next call goes straight to it, no read.
    server.logins.clear()
    assert cache.call(server.login, is_auth_error=refused) == p
    assert server.logins == ["previous"]
    assert cache.credential().stage is Stage.PREVIOUS
    assert reads(emu) == 1
    stats = cache.stats()
    assert (stats.refusals, stats.fallbacks, stats.gave_up) == (2, 1, 0)


def test_single_user_window_pending_is_found_right_after_a_read(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    """A read just made (by the ttl) does not hold back the read a refusal needs."""
    a, b = password(), password()
    secret_id = stored(sm, a)
    cache = make(secret_id)
    clock.advance(60)
    cache.credential()  # a fresh read, a moment before the rotation stores pending
    set_chain(sm, secret_id, pending=b)
    server = Server(b)  # set: the user's password is now the pending one, only
    emu.stats.reset()
    assert cache.call(server.login, is_auth_error=refused) == b
    assert server.logins == ["active", "pending"]
    assert reads(emu) == 1
    # complete: pending becomes active; the kit keeps the value that works.
    set_chain(sm, secret_id, active=b, pending="", previous=a)
    clock.advance(60)
    assert cache.credential().password == b
    assert cache.credential().stage is Stage.ACTIVE


def test_a_read_that_started_before_the_refusal_is_not_enough(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    """A ttl read that went out before the rotation stored pending comes back without
    it; the refused caller then makes a read of its own."""
    a, b = password(), password()
    secret_id = stored(sm, a)
    cache = make(secret_id)
    cache.credential()
    server = Server(a)
    answered = threading.Event()
    release = threading.Event()
    original = sm.get_secret_values
    late: list[str] = []

    def slow_answer(secret: str) -> Any:
        chain = original(secret)  # the chain as it is before the rotation moves
        if not answered.is_set():
            answered.set()
            release.wait(timeout=30)
        return chain

    clock.advance(60)
    sm.get_secret_values = slow_answer  # type: ignore[method-assign]
    try:
        ttl_reader = threading.Thread(target=lambda: late.append(cache.credential().password))
        ttl_reader.start()
        assert answered.wait(timeout=30)
        set_chain(sm, secret_id, pending=b)  # the rotation: pending stored, then set
        server.accepted = {b}
        result: list[str] = []
        refused_caller = threading.Thread(
            target=lambda: result.append(cache.call(server.login, is_auth_error=refused))
        )
        refused_caller.start()
        release.set()
        ttl_reader.join(timeout=30)
        refused_caller.join(timeout=30)
    finally:
        sm.get_secret_values = original  # type: ignore[method-assign]
    assert late == [a]
    assert result == [b]
    assert cache.stats().fetches == 3  # first, the slow ttl read, the refused caller's


def test_callers_refused_together_share_one_read(
    emu: Emulator, sm: SecretManagerClient, make: Make
) -> None:
    a, b = password(), password()
    secret_id = stored(sm, a)
    cache = make(secret_id)
    cache.credential()
    set_chain(sm, secret_id, pending=b)
    server = Server(b)
    together = threading.Barrier(8)

    def login(cred: Credential) -> str:
        if cred.password == a:
            together.wait()  # every caller holds the old credential, refused at once
        return server.login(cred)

    emu.stats.reset()
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.call(login, is_auth_error=refused)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == [b] * 8
    assert reads(emu) == 1


def test_alternating_users_a_completed_job_moves_new_connections_to_active(
    sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    old, new = password(), password()
    secret_id = stored(sm, old)
    cache = make(secret_id)
    server = Server(old, new)  # the previous user keeps working until the next rotation
    assert cache.call(server.login, is_auth_error=refused) == old
    set_chain(sm, secret_id, active=new, previous=old)
    clock.advance(60)
    assert cache.credential().password == new
    assert cache.call(server.login, is_auth_error=refused) == new


def test_what_was_refused_is_not_the_next_callers_first_pick(
    sm: SecretManagerClient, make: Make
) -> None:
    """Callers that did not see a refusal learn from it: they start with a stage not
    refused since the last read (the others are still tried, only later)."""
    a, b, p = password(), password(), password()
    cache = make(stored(sm, a, pending=b, previous=p), max_attempts=2)
    server = Server(p)
    with pytest.raises(Refused):
        cache.call(server.login, is_auth_error=refused)  # active, pending: then the bound
    server.logins.clear()
    assert cache.credential().stage is Stage.PREVIOUS
    assert cache.call(server.login, is_auth_error=refused) == p
    assert server.logins == ["previous"]


def test_other_errors_pass_through_without_a_read(
    emu: Emulator, sm: SecretManagerClient, make: Make
) -> None:
    cache = make(stored(sm, password()))
    cache.credential()
    emu.stats.reset()

    def broken(_cred: Credential) -> None:
        raise TimeoutError("the server did not answer")

    with pytest.raises(TimeoutError):
        cache.call(broken, is_auth_error=refused)
    assert reads(emu) == 0
    assert cache.stats().refusals == 0


# -- bounds: a wrong password, attempts -----------------------------------------------------------


def test_a_wrong_password_costs_one_read_per_cooldown(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    secret_id = stored(sm, password(), previous=password())
    cache = make(secret_id, refresh_cooldown=5.0)
    server = Server()  # accepts nothing stored
    cache.credential()
    emu.stats.reset()
    for _ in range(50):
        with pytest.raises(Refused) as caught:
            cache.call(server.login, is_auth_error=refused)
    assert reads(emu) == 1
    assert "refused with every credential tried (active, previous" in "".join(
        caught.value.__notes__
    )
    stats = cache.stats()
    assert (stats.gave_up, stats.held_back) == (50, 49)
    assert len(server.logins) == 100  # the cached stages are still tried, no more
    clock.advance(5.0)
    with pytest.raises(Refused):
        cache.call(server.login, is_auth_error=refused)
    assert reads(emu) == 2


def test_attempts_per_call_are_bounded(sm: SecretManagerClient, make: Make) -> None:
    cache = make(stored(sm, password(), pending=password(), previous=password()), max_attempts=2)
    server = Server()
    with pytest.raises(Refused):
        cache.call(server.login, is_auth_error=refused)
    assert server.logins == ["active", "pending"]


# -- Secret Manager unreachable: the staleness bound ----------------------------------------------


def test_unreachable_secret_manager_serves_the_cache_within_the_staleness_bound(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    a = password()
    cache = make(stored(sm, a), ttl=10, max_staleness=100, retry_after_failure=5)
    cache.credential()
    emu.faults.add(READ, drop=True, times=1000)
    emu.stats.reset()
    clock.advance(10)
    assert cache.credential().password == a  # stale, served, logged
    assert reads(emu) == 1
    clock.advance(4.9)
    assert cache.credential().password == a
    assert reads(emu) == 1  # a failed read is not repeated before retry_after_failure
    clock.advance(0.1)
    cache.credential()
    assert reads(emu) == 2
    clock.advance(85.1)  # 100.1 s since the last good read
    with pytest.raises(SecretUnavailable, match=r"over the 100 s bound.*TransportError"):
        cache.credential()
    emu.faults.clear()
    clock.advance(5)
    assert cache.credential().password == a
    stats = cache.stats()
    assert stats.fetch_failures == 3 and stats.stale_served >= 2


def test_a_first_read_that_fails_is_an_error_and_is_not_repeated_at_once(
    emu: Emulator, sm: SecretManagerClient, make: Make, clock: ManualClock
) -> None:
    cache = make(stored(sm, password()), retry_after_failure=5)
    emu.faults.add(READ, status=503, times=1000)
    emu.stats.reset()
    with pytest.raises(SecretUnavailable, match="ServerError"):
        cache.credential()
    with pytest.raises(SecretUnavailable, match=r"next try in 5\.0 s"):
        cache.credential()
    assert reads(emu) == 1
    emu.faults.clear()
    clock.advance(5)
    assert cache.credential().stage is Stage.ACTIVE


def test_unreachable_during_a_refusal_the_cached_stages_are_tried(
    emu: Emulator, sm: SecretManagerClient, make: Make
) -> None:
    a, b = password(), password()
    cache = make(stored(sm, a, pending=b))
    cache.credential()
    server = Server(b)
    emu.faults.add(READ, drop=True, times=1000)
    assert cache.call(server.login, is_auth_error=refused) == b
    assert server.logins == ["active", "pending"]
    assert cache.stats().fetch_failures == 1


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limits",
    [
        {"ttl": 0},
        {"jitter": 1.0},
        {"max_staleness": 10, "ttl": 60},
        {"max_attempts": 0},
        {"refresh_cooldown": -1},
        {"fetch_timeout": 0},
    ],
)
def test_bad_limits_are_refused(limits: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        Limits(**limits)


@pytest.mark.parametrize("secret_id", ["", "  ", "a/b"])
def test_a_bad_secret_id_is_refused(sm: SecretManagerClient, secret_id: str) -> None:
    with pytest.raises(ValueError, match="secret id"):
        CredentialCache(sm, secret_id)
