"""The watchdog's memory between runs: which problems it already reported, and since when.

An action keeps nothing that survives: a warm container's memory is gone at the next
cold start, and no disk outlives an activation. Alerting "once per new problem, then a
reminder every interval" needs to know what earlier runs saw, so it is kept where the
watchdog already has rights and nothing else is needed: a small Secret Manager secret
the watchdog owns (``stateSecret``, default ``rotator-watch``), created on its first
run. Why not the alternatives:

* deriving "new" from timestamps alone (the log entry of a failure, the moment a date
  passed): an unlink, a deleted action or a job that never started leaves no timestamp
  to compare with, and a run that is late or skipped would lose or repeat alerts;
* the previous activation's result: it cannot be read back reliably (the activation
  list's order is undocumented, activations take 30-40 s to appear, and an activation
  is kept a month), and a watchdog run anywhere else than its action would have none.

What is kept, per open problem: 4 bytes of ``sha256(subject|kind)`` (the secret id or
``trigger:<name>``, and the verdict) and the minute it was first seen, 7 bytes, as
Base85 text in the secret's one key ``watchState``. A value is at most 10,000 bytes, so
up to :data:`CAPACITY` problems fit (a 1,000-secret fleet has at most one per secret
and one per trigger); beyond that, the newest are not remembered (they are announced in
the capped summary each run instead). Two problems sharing 4 bytes of hash would make
the second look known: for 1,000 open problems, about one chance in 8,600.

The rule, pure (:func:`plan`): a problem is *new* if the memory does not hold it; it is
*reminded* when a whole ``remindEvery`` has passed since it was first seen, once per
interval (a reminder is due when a multiple of the interval falls between the last saved
run and now); it is *resolved* when the memory holds it and the sweep no longer finds
it. The memory is written only when something changed or was sent, so a quiet run costs
one read.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rotation.ncp.admin_models import CreateSecretRequest
from rotation.ncp.errors import NotFound
from rotation.ncp.models import Stage
from rotation.ncp.secretmanager import SecretManagerClient

KEY = "watchState"
VERSION = 1
MINUTE_MS = 60_000
#: The secret value's documented limit (seed 000: 10,000 bytes), less the JSON around it.
VALUE_LIMIT = 10_000 - len('{"watchState":""}') - 16
_HEADER = struct.Struct(">BQI")  # version, saved at (epoch ms), base minute
_ENTRY = struct.Struct(">I")  # hash
_MINUTE_BYTES = 3  # minutes after the base: 31 years
CAPACITY = ((VALUE_LIMIT * 4 // 5) - _HEADER.size) // (_ENTRY.size + _MINUTE_BYTES)
MEMO = "the rotation watchdog's memory (which problems it reported); not a credential"


class StateError(ValueError):
    """The state text cannot be read (another writer, or a newer version)."""


def problem_key(subject: str, kind: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{subject}|{kind}".encode()).digest()[:4], "big")


@dataclass
class Memory:
    """``open``: problem key -> first seen (epoch ms, to the minute). ``saved_ms``: the run
    that wrote it (``None``: never written)."""

    open: dict[int, int] = field(default_factory=dict)
    saved_ms: int | None = None


def encode(memory: Memory, now_ms: int) -> str:
    entries = sorted(memory.open.items(), key=lambda kv: (kv[1], kv[0]))[:CAPACITY]
    base = min((seen for _, seen in entries), default=now_ms) // MINUTE_MS
    raw = bytearray(_HEADER.pack(VERSION, now_ms, base))
    for key, seen in entries:
        raw += _ENTRY.pack(key)
        raw += (seen // MINUTE_MS - base).to_bytes(_MINUTE_BYTES, "big")
    return base64.b85encode(bytes(raw)).decode("ascii")


def decode(text: str) -> Memory:
    try:
        raw = base64.b85decode(text.encode("ascii"))
        version, saved, base = _HEADER.unpack_from(raw)
    except (ValueError, struct.error):
        raise StateError("the watchdog's memory is not readable") from None
    if version != VERSION:
        raise StateError(f"the watchdog's memory is version {version}, not {VERSION}")
    body = raw[_HEADER.size :]
    step = _ENTRY.size + _MINUTE_BYTES
    if len(body) % step:
        raise StateError("the watchdog's memory is cut short")
    entries: dict[int, int] = {}
    for at in range(0, len(body), step):
        (key,) = _ENTRY.unpack_from(body, at)
        minute = int.from_bytes(body[at + _ENTRY.size : at + step], "big")
        entries[key] = (base + minute) * MINUTE_MS
    return Memory(entries, saved)


# -- the rule ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    new: tuple[int, ...]
    reminders: tuple[int, ...]
    resolved: tuple[int, ...]
    memory: Memory

    @property
    def changed(self) -> bool:
        return bool(self.new or self.reminders or self.resolved)


def plan(found: Iterable[int], memory: Memory, now_ms: int, remind_every_ms: int) -> Plan:
    """What to announce for the problems ``found`` now, and the memory to keep."""
    current = list(dict.fromkeys(found))
    new = tuple(k for k in current if k not in memory.open)
    reminders = []
    last = memory.saved_ms
    for key in current:
        seen = memory.open.get(key)
        if seen is None or last is None or now_ms - seen < remind_every_ms:
            continue
        if (now_ms - seen) // remind_every_ms > max(0, last - seen) // remind_every_ms:
            reminders.append(key)
    minute = now_ms // MINUTE_MS * MINUTE_MS
    kept = {k: memory.open.get(k, minute) for k in current}
    resolved = tuple(k for k in memory.open if k not in kept)
    return Plan(new, tuple(reminders), resolved, Memory(kept, memory.saved_ms))


# -- the secret ----------------------------------------------------------------------------------


@dataclass
class Store:
    """The memory's secret: by the id deploy gave (else found by name in the list), read,
    written, and made on first use when deploy did not make it."""

    client: SecretManagerClient
    name: str
    secret_id: str | None = None

    def load(self) -> Memory:
        """The memory; empty when the secret does not exist yet."""
        if self.secret_id is None:
            self.secret_id = self._find()
        if self.secret_id is None:
            return Memory()
        try:
            stage = self.client.get_secret_stage_value(self.secret_id, Stage.ACTIVE)
        except NotFound:  # deleted since deploy made it: found by name, or made again
            self.secret_id = self._find()
            if self.secret_id is None:
                return Memory()
            stage = self.client.get_secret_stage_value(self.secret_id, Stage.ACTIVE)
        text = stage.value.get(KEY)
        if not isinstance(text, str):
            return Memory()
        return decode(text)

    def _find(self) -> str | None:
        for summary in self.client.iter_secrets():
            if summary.secret_name == self.name:
                return summary.secret_id
        return None

    def save(self, memory: Memory, now_ms: int) -> None:
        value: Mapping[str, str] = {KEY: encode(memory, now_ms)}
        if self.secret_id is None:
            created = self.client.create_secret(
                CreateSecretRequest(
                    secret_name=self.name, value=value, rotation_targets=(KEY,), memo=MEMO
                )
            )
            self.secret_id = created.secret_id
            return
        self.client.update_secret_values(self.secret_id, active=value)


def initial_value(now_ms: int) -> dict[str, str]:
    """The memory's first value, when deploy makes the secret: nothing reported yet."""
    return {KEY: encode(Memory(), now_ms)}
