"""The application's view of one secret: cached, refreshed on time and on a refused login.

Why it can promise an application no failed request, even with single-user rotation: the
rotation keeps an invariant (ARCHITECTURE.md): *at every instant the target accepts at
least one credential Secret Manager stores (active or pending), and once the job has
ended, the active one; with alternating users or dual passwords the previous one too
until the next rotation.* So when the target refuses the credential an application
holds, a read of the chain made *after* that refusal holds one the target accepts, and
trying its stages in the order the invariant gives (newly read active, then pending,
then previous) finds it. :meth:`CredentialCache.call` does exactly that.

What it guarantees, and the bounds it keeps:

* **Cache.** One read of the chain (Get Secret Value) serves every caller until it is
  ``ttl`` old, less a random ``jitter`` share so that a fleet started together does not
  refresh together. The refresh runs in the caller that finds the value expired; the
  others keep using the current one meanwhile (only the very first read makes callers
  wait). Thread-safe; one read at a time per secret, however many threads miss at once.
* **Refused login.** The operation is retried with other stored credentials: first one
  another caller proved since (no read needed), then the stages of a newer read, then the
  stages of one read that *started after the refusal* (single-flight: every caller
  refused at that moment shares it). At most ``max_attempts`` tries per call and one
  read per call. The credential that worked is remembered: the next connections use it;
  one refused since the last read is not the next caller's first pick.
* **Wrong password, no storm.** When a call found no stored credential that works, no
  refusal triggers a read for ``refresh_cooldown`` seconds (the cached stages are still
  tried): a password that is simply wrong costs one Secret Manager call per
  ``refresh_cooldown`` per secret per process, however many requests fail.
* **Secret Manager unreachable.** The cached chain keeps being served, and a failed read
  is not repeated for ``retry_after_failure`` seconds, until the chain is ``max_staleness``
  old; then :class:`SecretUnavailable`. Each failure is logged (the error's class and the
  age of what is served), never a value.

Secret Manager calls per process and secret are therefore at most: one per ``ttl`` (less
jitter); plus, on refusals, one per change of what the target accepts: a read made after
a refusal holds a credential the target accepts (the invariant), so refusals read again
only once the target has moved again (a rotation moves it once for the application:
single-user at ``set``, dual passwords at ``finish``, alternating users every other
rotation; a rolled-back one may move it back), give or take a caller that picked its
credential during that read; plus one per ``refresh_cooldown`` while every stored
credential is refused; plus one per ``retry_after_failure`` while Secret Manager cannot
be reached.
"""

from __future__ import annotations

import math
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

import structlog

from appcreds.autherrors import AuthErrorPredicate, any_auth_error
from appcreds.credential import Credential, stages_of
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import NcpError
from rotation.ncp.models import SecretChain, Stage

if TYPE_CHECKING:
    from rotation.ncp.secretmanager import SecretManagerClient

log = structlog.get_logger("appcreds")

T = TypeVar("T")


class AppCredsError(Exception):
    """Base of the kit's own errors. Messages name the secret id and stages, never values."""


class SecretUnavailable(AppCredsError):
    """No usable chain: the first read failed, or the cached one is older than
    ``max_staleness`` and Secret Manager still cannot be read, or the secret has no value."""


def _monotonic() -> float:
    """``time.monotonic()`` looked up at each call, so that freezegun's clock is seen too."""
    return time.monotonic()


@dataclass(frozen=True)
class Limits:
    """The cache's bounds, in seconds (see the module docstring for what each bounds)."""

    ttl: float = 300.0
    #: Each read expires after ``ttl * (1 - jitter * U(0, 1))``.
    jitter: float = 0.1
    max_staleness: float = 86_400.0
    retry_after_failure: float = 5.0
    refresh_cooldown: float = 5.0
    max_attempts: int = 5
    #: The longest one read of Secret Manager may take, retries included.
    fetch_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("ttl", "max_staleness", "retry_after_failure", "fetch_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not self.refresh_cooldown >= 0:
            raise ValueError("refresh_cooldown must be zero or more seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_staleness < self.ttl:
            raise ValueError("max_staleness must be at least ttl")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made: what it cost and what it saved."""

    #: Get Secret Value calls sent (each read, successful or not).
    fetches: int
    fetch_failures: int
    #: Attempts the application reported refused.
    refusals: int
    #: Calls that succeeded with another credential than the one they started with.
    fallbacks: int
    #: Calls that gave up: every stored credential refused, or ``max_attempts`` reached.
    gave_up: int
    #: Refusals that did not read Secret Manager because of ``refresh_cooldown``.
    held_back: int
    #: Calls served a chain older than ``ttl`` because Secret Manager could not be read.
    stale_served: int


class _Snapshot:
    """One read of the chain, and which of its credentials were refused since (a hint for
    choosing the next one, never a reason not to try one again)."""

    __slots__ = ("fetched_at", "generation", "refused", "stages")

    def __init__(self, stages: dict[Stage, Credential], generation: int, fetched_at: float):
        self.stages = stages
        self.generation = generation
        self.fetched_at = fetched_at
        self.refused: set[Credential] = set()

    def ordered(self) -> list[Credential]:
        return list(self.stages.values())

    def find(self, cred: Credential | None) -> Credential | None:
        """This read's credential equal to ``cred`` (with the stage it holds now)."""
        if cred is None:
            return None
        return next((c for c in self.stages.values() if c == cred), None)

    def same_values(self, other: _Snapshot | None) -> bool:
        return other is not None and {s: c.value for s, c in self.stages.items()} == {
            s: c.value for s, c in other.stages.items()
        }


_CLIENT_LOCKS: weakref.WeakKeyDictionary[SecretManagerClient, threading.Lock] = (
    weakref.WeakKeyDictionary()
)
_CLIENT_LOCKS_GUARD = threading.Lock()


def _client_lock(client: SecretManagerClient) -> threading.Lock:
    """One lock per client: its ``requests.Session`` is not meant for concurrent use, and
    several caches (one per secret) may share a client."""
    with _CLIENT_LOCKS_GUARD:
        lock = _CLIENT_LOCKS.get(client)
        if lock is None:
            lock = _CLIENT_LOCKS[client] = threading.Lock()
        return lock


class CredentialCache:
    """One secret's chain, cached for an application (see the module docstring).

    ``client``: a :class:`~rotation.ncp.secretmanager.SecretManagerClient` (see
    :func:`appcreds.client.secret_manager` for one with limits suited to a request path).
    ``clock``: monotonic seconds (injectable for tests); ``rng``: the jitter's source.
    """

    def __init__(
        self,
        client: SecretManagerClient,
        secret_id: str,
        *,
        limits: Limits | None = None,
        clock: Callable[[], float] = _monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(secret_id, str) or not secret_id.strip() or "/" in secret_id:
            raise ValueError("secret_id must be a Secret Manager secret id")
        self.client = client
        self.secret_id = secret_id
        self.limits = limits or Limits()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._cond = threading.Condition()
        self._snap: _Snapshot | None = None
        self._next_fetch_at = -math.inf
        self._fetching = False
        self._started = 0  # reads started
        self._finished = 0  # the newest read finished (they run one at a time, in order)
        self._last_error = ""
        self._preferred: Credential | None = None
        self._cooldown_until = -math.inf
        self._counts = dict.fromkeys(CacheStats.__dataclass_fields__, 0)

    def __repr__(self) -> str:
        return f"CredentialCache(secret_id={self.secret_id!r})"

    # -- what applications call -------------------------------------------------------------

    def credential(self) -> Credential:
        """The credential to use now: the one that last worked while it is still stored,
        else the active one (else pending, else previous)."""
        return self._pick(self._snapshot())

    def stages(self) -> Mapping[Stage, Credential]:
        """The stages the cache holds, in the invariant's order (values masked in repr)."""
        return MappingProxyType(dict(self._snapshot().stages))

    def refresh(self) -> Mapping[Stage, Credential]:
        """Read the chain now (one read, shared with any other caller's), then
        :meth:`stages`. A failed read is logged and the cached chain returned."""
        with self._cond:
            mark = self._started
        self._read_started_after(mark, reason="asked")
        return self.stages()

    def call(
        self,
        operation: Callable[[Credential], T],
        *,
        is_auth_error: AuthErrorPredicate | None = None,
    ) -> T:
        """``operation(credential)``, retried with other stored credentials while it
        raises what ``is_auth_error`` (default: any known driver's refused login) says is a
        refused credential. Any other exception passes through untouched; so does the
        last refusal when no stored credential works (with a note naming the stages tried)."""
        refused = is_auth_error or any_auth_error
        cred = self._pick(self._snapshot())
        first = cred
        tried: list[Credential] = []
        others = self._fallbacks(cred.generation, tried)
        attempt = 0
        while True:
            attempt += 1
            try:
                result = operation(cred)
            except Exception as exc:
                if not refused(exc):
                    raise
                tried.append(cred)
                self._count("refusals")
                self._hint_refused([cred])
                log.debug(
                    "appcreds.refused", secret_id=self.secret_id, stage=cred.stage.path,
                    attempt=attempt,
                )  # fmt: skip
                following = None if attempt >= self.limits.max_attempts else next(others, None)
                if following is None:
                    self._give_up(tried, attempt)
                    exc.add_note(
                        f"appcreds: secret {self.secret_id}: refused with every credential "
                        f"tried ({', '.join(c.stage.path for c in tried)}; {attempt} attempts)"
                    )
                    raise
                cred = following
                continue
            self._worked(cred, first, attempt)
            return result

    def stats(self) -> CacheStats:
        with self._cond:
            return CacheStats(**self._counts)

    # -- choosing -------------------------------------------------------------------------------

    def _pick(self, snap: _Snapshot) -> Credential:
        """The one that last worked, else the first in the invariant's order; either only
        if not refused since this read (unless every stage was)."""
        with self._cond:
            preferred = snap.find(self._preferred)
            refused = set(snap.refused)
        if preferred is not None and preferred not in refused:
            return preferred
        ordered = snap.ordered()
        if not ordered:
            raise SecretUnavailable(f"secret {self.secret_id} holds no value")
        return next((c for c in ordered if c not in refused), ordered[0])

    def _hint_refused(self, creds: list[Credential]) -> None:
        """New callers skip what was just refused, rather than each learn it again."""
        with self._cond:
            snap = self._snap
            if snap is None:
                return
            for cred in creds:
                if snap.find(cred) is not None:
                    snap.refused.add(cred)
            if self._preferred in creds:
                self._preferred = None

    def _fallbacks(self, source: int, tried: list[Credential]) -> Iterator[Credential]:
        """The credentials to try after a refusal, lazily: each step runs only when the
        ones before are used up (``tried`` grows as they are refused)."""
        with self._cond:
            snap, preferred = self._snap, self._preferred
        # 1. One another caller proved since this call picked: no read needed.
        found = snap.find(preferred) if snap is not None else None
        if found is not None and found not in tried:
            yield found
        # 2. A read newer than the one this call's credential came from (waiting for one in
        #    flight: callers refused together share it), its stages in the invariant's order.
        with self._cond:
            while self._fetching:
                self._cond.wait()
            snap = self._snap
        if snap is not None and snap.generation > source:
            yield from (c for c in snap.ordered() if c not in tried)
        # 3. One read that started after the latest refusal, unless every stored credential
        #    was refused lately (a wrong password: the cached stages are tried, no read).
        with self._cond:
            mark = self._started
            held = self._clock() < self._cooldown_until
            if held:
                self._counts["held_back"] += 1
        if held:
            log.debug("appcreds.refresh_held_back", secret_id=self.secret_id)
        else:
            self._read_started_after(mark, reason="refused", refused=tried)
            self._hint_refused(tried)
        fresh = self._usable(self._current(), self._clock())
        yield from (c for c in fresh.ordered() if c not in tried)

    def _worked(self, cred: Credential, first: Credential, attempts: int) -> None:
        with self._cond:
            changed = self._preferred != cred
            self._preferred = cred
            if cred != first:
                self._counts["fallbacks"] += 1
        if changed and cred != first:
            log.info(
                "appcreds.switched", secret_id=self.secret_id, stage=cred.stage.path,
                attempts=attempts,
            )  # fmt: skip

    def _give_up(self, tried: list[Credential], attempts: int) -> None:
        now = self._clock()
        with self._cond:
            self._counts["gave_up"] += 1
            starting = now >= self._cooldown_until
            if starting:
                self._cooldown_until = now + self.limits.refresh_cooldown
        if starting:
            log.warning(
                "appcreds.all_refused", secret_id=self.secret_id,
                stages=[c.stage.path for c in tried], attempts=attempts,
                cooldown_s=self.limits.refresh_cooldown,
            )  # fmt: skip

    def _count(self, name: str) -> None:
        with self._cond:
            self._counts[name] += 1

    # -- reading --------------------------------------------------------------------------------

    def _current(self) -> _Snapshot:
        with self._cond:
            snap = self._snap
        if snap is None:
            raise SecretUnavailable(
                f"secret {self.secret_id} could not be read from Secret Manager "
                f"({self._last_error or 'no read yet'})"
            )
        return snap

    def _usable(self, snap: _Snapshot, now: float) -> _Snapshot:
        age = now - snap.fetched_at
        if age > self.limits.max_staleness:
            raise SecretUnavailable(
                f"secret {self.secret_id}: the cached value is {age:.0f} s old, over the "
                f"{self.limits.max_staleness:.0f} s bound, and Secret Manager could not be "
                f"read ({self._last_error or 'unknown error'})"
            )
        if age >= self.limits.ttl:
            self._count("stale_served")
        return snap

    def _snapshot(self) -> _Snapshot:
        """The chain to use now: the cached one while fresh, else after one read (made by
        this caller, or, while another caller makes it, the current one is used)."""
        while True:
            with self._cond:
                now = self._clock()
                snap = self._snap
                due = now >= self._next_fetch_at
                if self._fetching:
                    if snap is not None:
                        return self._usable(snap, now)
                    self._cond.wait()  # the first read: everybody waits for it
                    continue
                if not due:
                    if snap is None:
                        raise SecretUnavailable(
                            f"secret {self.secret_id} could not be read from Secret Manager "
                            f"({self._last_error}); next try in "
                            f"{self._next_fetch_at - now:.1f} s"
                        )
                    return self._usable(snap, now)
                seq = self._begin_read()
            self._read(seq, reason="first" if snap is None else "ttl")
            with self._cond:
                # Whatever the read gave, return it now rather than loop into another read.
                if self._snap is None:
                    raise SecretUnavailable(
                        f"secret {self.secret_id} could not be read from Secret Manager "
                        f"({self._last_error})"
                    )
                return self._usable(self._snap, self._clock())

    def _read_started_after(
        self, mark: int, *, reason: str, refused: list[Credential] | None = None
    ) -> None:
        """Make sure a read that started after read number ``mark`` has finished: join
        one in flight if it started late enough, else wait for it and start one."""
        with self._cond:
            while True:
                if self._finished > mark:
                    return
                if self._fetching:
                    self._cond.wait()
                    continue
                seq = self._begin_read()
                break
        self._read(seq, reason=reason, refused=refused)

    def _begin_read(self) -> int:
        """Under the lock: this caller makes the next read."""
        self._fetching = True
        self._started += 1
        return self._started

    def _read(self, seq: int, *, reason: str, refused: list[Credential] | None = None) -> None:
        started = self._clock()
        error: Exception | None = None
        chain: SecretChain | None = None
        try:
            with _client_lock(self.client):
                bounded = self.client.bounded(Deadline.after(self.limits.fetch_timeout))
                chain = bounded.get_secret_values(self.secret_id)
        except NcpError as exc:
            error = exc
        finally:
            with self._cond:
                self._fetching = False
                self._finished = seq
                self._counts["fetches"] += 1
                now = self._clock()
                if chain is not None:
                    self._store(
                        chain, seq, now, reason=reason, started=started, refused=refused or []
                    )
                else:
                    self._counts["fetch_failures"] += 1
                    self._next_fetch_at = now + self.limits.retry_after_failure
                    self._last_error = type(error).__name__ if error else "an unexpected error"
                cached = self._snap
                self._cond.notify_all()
        if error is not None:
            log.warning(
                "appcreds.read_failed", secret_id=self.secret_id, reason=reason,
                error=type(error).__name__, detail=str(error),
                serving="cached" if cached is not None else "nothing",
                cached_age_s=None if cached is None else round(now - cached.fetched_at, 1),
                next_try_s=self.limits.retry_after_failure,
            )  # fmt: skip

    def _store(
        self,
        chain: SecretChain,
        seq: int,
        now: float,
        *,
        reason: str,
        started: float,
        refused: list[Credential],
    ) -> None:
        """Under the lock: keep a successful read (``refused``: what the refusal that asked
        for it was refused, so that no caller picks it from this read)."""
        snap = _Snapshot(
            stages_of(
                {Stage.ACTIVE: chain.active, Stage.PENDING: chain.pending,
                 Stage.PREVIOUS: chain.previous},
                seq,
            ),
            seq,
            now,
        )  # fmt: skip
        old = self._snap
        changed = not snap.same_values(old)
        new_active = snap.stages.get(Stage.ACTIVE)
        job_ended = Stage.PENDING not in snap.stages
        if old is not None and job_ended and new_active != old.stages.get(Stage.ACTIVE):
            # A rotation completed: the invariant says the target accepts active now, so
            # new connections move to it rather than keep a previous value to its end.
            self._preferred = None
        snap.refused = {c for c in refused if snap.find(c) is not None}
        if self._preferred in snap.refused:
            self._preferred = None
        self._snap = snap
        ttl = self.limits.ttl * (1.0 - self.limits.jitter * self._rng.random())
        self._next_fetch_at = now + ttl
        log.debug(
            "appcreds.read", secret_id=self.secret_id, reason=reason,
            stages=[s.path for s in snap.stages], changed=changed,
            duration_ms=round((now - started) * 1000, 1),
        )  # fmt: skip
