"""Secret Manager state and rules, with no HTTP in sight (the moto split: see ``routes``).

Everything documented is implemented as documented (NCP's API pages, from
https://api.ncloud-docs.com/docs/en/secretmanager-api-overview, each cited below). Where the
public docs are silent this module picks the *strictest reasonable* behaviour, so code that
passes here does not lean on leniency the real service may not have. Each assumption says
which part is **documented** (with the page) and which is a **guess**:

A1  Status during a job. Documented: Start Rotation Job is the call after which "the
    secret's rotation status changes to Rotation in progress"
    (https://api.ncloud-docs.com/docs/en/secretmanager-start-rotation-job), and seed 002
    lists ``secretStatus`` ROTATING and ``rotationPhase`` NONE | ROTATING | ROTATION_FAILED.
    So Execute / Retry / a scheduled run only *raise* the job (nothing visible changes) and
    the first Start sets ``secretStatus`` and ``rotationPhase`` to ROTATING. Guesses: both
    fields change together; Complete puts back ENABLE/NONE; Fail puts back
    ENABLE/ROTATION_FAILED (the Fail page says only that the last rotation result becomes
    "Rotation failed", https://api.ncloud-docs.com/docs/en/secretmanager-fail-rotation-job);
    Cancel puts back ENABLE/NONE. ``phase_names`` / ``status_names`` / ``detail_extra``
    let a test make the detail answer other spellings and new fields.
A2  Guess: one job token per execution; Retry Rotation Job mints a *new* token and the old
    one is dead. Job calls with an unknown token answer 404, with the token of a finished
    job 422, including a second Complete after a lost response (404 is not in the newer
    status table, https://api.ncloud-docs.com/docs/en/secretmanager-api-overview).
A3  Guess: Start is repeatable within a live job (a re-invoked action must be able to
    resume) and returns the chain as it is, pending stage included.
A4  Guess: Pending, Generate Random Secret and Complete need a started job (422 otherwise).
    Fail is accepted in any live job, started or not. Complete needs a pending stage.
A5  Documented: "only the rotation-target values should be changed"
    (https://guide.ncloud-docs.com/docs/en/secretmanager-rotate-action.md). Guess, the
    strictness: Update Pending Stage accepts a value with exactly the active value's keys,
    every non-target key unchanged and every target a non-empty string; else 400.
A6  Guess: Fail keeps the pending stage (a retried job finds it); Cancel and Rollback
    discard it. Rollback needs a previous stage and no live job: active <- previous,
    previous cleared ("chain shifting" and rollback are not defined further).
A7  Documented: Add Pending Stage generates values for the rotation targets, example
    ``{l=dUSw2Bc4m`` (https://api.ncloud-docs.com/docs/en/secretmanager-add-pending-stage).
    Guess: 12 characters of upper, lower, digits and punctuation, no space, one of each.
A8  Documented (https://api.ncloud-docs.com/docs/en/secretmanager-generate-random-secret):
    ``length`` is Required, 5-32; includeSpace defaults to true, requireEachIncludedType to
    true. Guess: flags must be JSON booleans; unsatisfiable classes are 400.
A9  Documented (seed 000, Create Secret): 1-100 keys, at most 10,000 bytes, targets are
    keys of the value. Guess: values are flat (string/number/boolean/null) and rotation
    targets hold non-empty strings.
A10 Documented: values cannot be read or updated on a REVOKE secret (Get Secret Stage
    Value, Update Secret Value pages). Guess: DISABLE ("Suspended") is refused too (422),
    and Update Secret Value is refused during a live job. Active cannot be deleted (empty
    string) and every stage must keep the targets (guess).
A11 Documented by one example (seed 002: registered 2025-07-21 02:39 UTC, period 90,
    next 2025-10-19 03:00 UTC). Guess: nextRotationDate = (last rotation, else
    registration) + period, rounded *up* to the hour; when the scheduler fires, the next
    date moves one period on at once, so a failed scheduled job waits for the next period
    (or an operator's Retry).
A12 Documented: Disable needs ENABLE; Request Deletion needs ENABLE, DISABLE or REVOKE;
    Cancel Deletion returns to DISABLE
    (https://api.ncloud-docs.com/docs/en/secretmanager-requestsecretdeletion,
    .../secretmanager-cancelsecretdeletion, .../secretmanager-disablesecret). Guesses:
    Enable needs DISABLE; ``expectedDestroyDate`` is seven days out; Delete Secret needs
    REVOKE and destroys at once; a DESTROYED secret still answers Get Secret Detail (seed
    002 lists the status) but leaves the list, and its values are gone.
A13 Documented: a secret links to at most one trigger
    (https://guide.ncloud-docs.com/docs/ja/cloudfunctions-secretmanager-vpc); the trigger
    of a secret that rotates automatically cannot be deleted
    (https://api.ncloud-docs.com/docs/en/secretmanager-delete-rotation-trigger); Retry
    Rotation Job retries a *failed* job
    (https://api.ncloud-docs.com/docs/secretmanager-retry-rotation-job.md), so it needs the
    latest job to have failed and no job live. Guesses: Update Rotation Trigger is refused
    while auto rotation is on too; Execute Rotation Job needs ENABLE, no live job (started
    or not) and a linked trigger.
A14 Documented: Get Secret List's ``pageNo`` is 1-N
    (https://api.ncloud-docs.com/docs/en/secretmanager-getsecretlist; the page's example
    sends 0, which is 400 here). Guesses: secret names are unique per account (400 on a
    duplicate); pages hold 20 secrets.
A15 Documented: Update Protection Key needs ``kmsBoundaryType`` in region KR
    (https://api.ncloud-docs.com/docs/en/secretmanager-updateprotectionkey); Get Protection
    Key List answers ``{"keyList": [{keyId, keyTag, keyName, keyStatus, keyType,
    kmsBoundaryType}]}`` and its example lists the "Secret Manager Default Key" with
    ``keyId`` 0 and empty fields
    (https://api.ncloud-docs.com/docs/en/secretmanager-getprotectionkeylist), so that
    entry is listed first here. Guesses: Create accepts ``kmsBoundaryType`` optionally; a
    ``kmsKeyTag`` must name a listed key and is refused with DEFAULT.
A16 Guess: Get Secret Logs entries are ``{"logId", "timestamp", "actionType", "message",
    "jobToken"?}`` (the docs' example is cut); ``keyword`` matches any of them,
    case-insensitively.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.core import Clock, bad_request, invalid_status, not_found

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DESTROY_AFTER_MS = 7 * DAY_MS
PAGE_SIZE = 20
VALUE_MAX_BYTES = 10_000
VALUE_MAX_KEYS = 100
MEMO_MAX_BYTES = 1000
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{2,14}")
ROTATION_PERIOD_RANGE = (1, 730)
RANDOM_LENGTH_RANGE = (5, 32)
PUNCTUATION = string.punctuation

# Stages, statuses and phases as the wire spells them.
STAGES = ("previous", "active", "pending")
ENABLE, DISABLE, REVOKE, ROTATING, DESTROYED = (
    "ENABLE",
    "DISABLE",
    "REVOKE",
    "ROTATING",
    "DESTROYED",
)
PHASE_NONE, PHASE_ROTATING, PHASE_FAILED = "NONE", "ROTATING", "ROTATION_FAILED"


def ceil_to_hour(ms: int) -> int:
    return math.ceil(ms / HOUR_MS) * HOUR_MS


# -- value rules ----------------------------------------------------------------------------


def parse_value(text: object, what: str = "secretValue.value") -> dict[str, Any]:
    """A1..A9: the value is JSON text of a flat object within the documented limits."""
    if not isinstance(text, str):
        raise bad_request(f"{what} must be a string holding a JSON object")
    if len(text.encode("utf-8")) > VALUE_MAX_BYTES:
        raise bad_request(f"{what} exceeds {VALUE_MAX_BYTES} bytes")
    try:
        data = json.loads(text)
    except ValueError:
        raise bad_request(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request(f"{what} must be a JSON object")
    if not 1 <= len(data) <= VALUE_MAX_KEYS:
        raise bad_request(f"{what} must have 1 to {VALUE_MAX_KEYS} keys")
    for key, item in data.items():
        if not key:
            raise bad_request(f"{what} has an empty key")
        if isinstance(item, (dict, list)):
            raise bad_request(f"{what} key {key!r} holds a nested object or array")
    return data


def check_targets(data: Mapping[str, Any], targets: list[str], what: str) -> None:
    for target in targets:
        if target not in data:
            raise bad_request(f"rotation target {target!r} is not a key of {what}")
        item = data[target]
        if not isinstance(item, str) or not item:
            raise bad_request(f"rotation target {target!r} of {what} must be a non-empty string")


def _req_bool(body: Mapping[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false")
    return value


def _req_int(value: object, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{key} must be an integer")
    if not lo <= value <= hi:
        raise bad_request(f"{key} must be between {lo} and {hi}")
    return value


def random_string(
    length: int,
    *,
    exclude: str = "",
    numbers: bool = True,
    punctuation: bool = True,
    uppercase: bool = True,
    lowercase: bool = True,
    space: bool = False,
    require_each: bool = True,
) -> str:
    """The service's generator (A7, A8). Independent of ``rotation.generate`` on purpose:
    the emulator stands in for NCP, so it must not share code with what it tests."""
    classes = [
        chars
        for enabled, chars in (
            (uppercase, string.ascii_uppercase),
            (lowercase, string.ascii_lowercase),
            (numbers, string.digits),
            (punctuation, PUNCTUATION),
            (space, " "),
        )
        if enabled
    ]
    classes = ["".join(c for c in chars if c not in exclude) for chars in classes]
    if require_each and any(not chars for chars in classes):
        raise bad_request("excludeCharacters removes every character of an included type")
    classes = [c for c in classes if c]
    if not classes:
        raise bad_request("every character type is excluded")
    if require_each and length < len(classes):
        raise bad_request(f"length {length} is too short to include every required type")
    alphabet = "".join(classes)
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if not require_each or all(any(ch in chars for ch in value) for chars in classes):
            return value


def _create_value(secret_value: object) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(secret_value, Mapping):
        raise bad_request("secretValue is required")
    data = parse_value(secret_value.get("value"))
    targets = secret_value.get("rotationTargets")
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, str) and t for t in targets)
    ):
        raise bad_request("secretValue.rotationTargets must list at least one key")
    if len(set(targets)) != len(targets):
        raise bad_request("secretValue.rotationTargets lists a key twice")
    check_targets(data, targets, "secretValue.value")
    return data, targets


def _create_rotation(body: Mapping[str, Any]) -> tuple[bool, int | None, object]:
    auto = body.get("autoRotationYN")
    if auto not in ("Y", "N"):
        raise bad_request("autoRotationYN must be Y or N")
    raw = body.get("autoRotationPeriod")
    if auto == "Y" and raw is None:
        raise bad_request("autoRotationPeriod is required when autoRotationYN is Y")
    period = None if raw is None else _req_int(raw, "autoRotationPeriod", *ROTATION_PERIOD_RANGE)
    trigger_id = body.get("triggerId")
    if auto == "Y" and not trigger_id:
        raise bad_request("triggerId is required when autoRotationYN is Y")
    return auto == "Y", period, trigger_id


# -- records --------------------------------------------------------------------------------


@dataclass
class Job:
    token: str
    kind: str  # EXECUTE | RETRY | SCHEDULE
    created_ms: int
    started: bool = False
    outcome: str | None = None  # None while live; COMPLETED | FAILED | CANCELLED

    @property
    def live(self) -> bool:
        return self.outcome is None


@dataclass
class Secret:
    secret_id: str
    name: str
    memo: str
    chain: dict[str, str | None]
    rotation_targets: list[str]
    register_ms: int
    update_ms: int
    region: str
    protection_key_type: str = "DEFAULT"
    kms_key_tag: str | None = None
    kms_boundary_type: str | None = None
    status: str = ENABLE
    phase: str = PHASE_NONE
    auto_rotation: bool = False
    period: int | None = None
    next_rotation_ms: int | None = None
    trigger_id: str | None = None
    expected_destroy_ms: int | None = None
    last_rotation_ms: int | None = None
    job: Job | None = None
    jobs: list[Job] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live_job(self) -> Job | None:
        return self.job if self.job is not None and self.job.live else None


@dataclass
class TriggerRecord:
    trigger_id: str
    name: str
    description: str = ""
    platform: str = "VPC"
    region: str = "KR"
    linked: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    recently_executed_action: str | None = None

    @property
    def url(self) -> str:
        return f"https://console.ncloud.com/vpcCloudFunctions/trigger/detail/{self.name}"


@dataclass(frozen=True)
class JobEvent:
    """Handed to the dispatcher when a job is raised: who to run, with which token."""

    secret_id: str
    secret_name: str
    job_token: str
    trigger: TriggerRecord


Dispatcher = Callable[[JobEvent], None]


@dataclass
class KmsKeyRecord:
    tag: str
    name: str
    boundary: str = "ISOLATED"
    key_id: str = field(default_factory=lambda: str(secrets.randbelow(90_000) + 10_000))
    status: str = "ENABLE"
    key_type: str = "AES256"


#: The first ``keyList`` item of the documented example (A15): the service's own key.
DEFAULT_KEY_ITEM: dict[str, Any] = {
    "keyId": 0,
    "keyTag": "",
    "keyName": "Secret Manager Default Key",
    "keyStatus": "",
    "keyType": "",
    "kmsBoundaryType": "",
}


class SecretManagerBackend:
    """The whole account: secrets, triggers, KMS keys. Thread-safe (one lock)."""

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        region: str = "KR",
        kms_keys: list[KmsKeyRecord] | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.clock = clock
        self.region = region
        self.lock = threading.RLock()
        self.secrets: dict[str, Secret] = {}
        self.triggers: dict[str, TriggerRecord] = {}
        self.kms_keys = (
            kms_keys
            if kms_keys is not None
            else [KmsKeyRecord(tag=secrets.token_hex(32), name="rotator-key")]
        )
        self.dispatcher = dispatcher
        self._cipher_key = secrets.token_bytes(32)
        #: Every secret value this account ever held or generated, for leak checks in tests.
        self.known_values: set[str] = set()
        #: Test hooks (A1): how the wire spells each phase and status, and fields added to
        #: every detail, to play an NCP that answers what its docs do not say.
        self.phase_names: dict[str, str] = {}
        self.status_names: dict[str, str] = {}
        self.detail_extra: dict[str, Any] = {}

    # -- helpers ------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _get(self, secret_id: str) -> Secret:
        secret = self.secrets.get(secret_id)
        if secret is None:
            raise not_found(f"secret {secret_id!r} does not exist")
        return secret

    def _usable(self, secret: Secret) -> None:
        if secret.status not in (ENABLE, ROTATING):
            raise invalid_status(f"secret is {secret.status}")

    def _log(self, secret: Secret, action: str, message: str, token: str | None = None) -> None:
        entry: dict[str, Any] = {
            "logId": secrets.token_hex(8),
            "timestamp": self.now_ms(),
            "actionType": action,
            "message": message,
        }
        if token is not None:
            entry["jobToken"] = token
        secret.logs.append(entry)

    def _remember(self, data: Mapping[str, Any], targets: list[str]) -> None:
        for key in targets:
            item = data.get(key)
            if isinstance(item, str):
                self.known_values.add(item)

    def _store(self, secret: Secret, stage: str, data: Mapping[str, Any] | None) -> None:
        if data is None:
            secret.chain[stage] = None
            return
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        secret.chain[stage] = text
        self.known_values.add(text)
        self._remember(data, secret.rotation_targets)

    def _value(self, secret: Secret, stage: str) -> dict[str, Any] | None:
        text = secret.chain.get(stage)
        return None if text is None else dict(json.loads(text))

    def encrypt(self, text: str) -> str:
        """Ciphertext shaped like KMS's (``ncpkms:v1:...``); it reveals nothing of the text."""
        nonce = secrets.token_bytes(12)
        tag = hmac.new(self._cipher_key, nonce + text.encode(), hashlib.sha256).digest()
        return "ncpkms:v1:" + base64.b64encode(nonce + tag).decode()

    def _next_rotation(self, secret: Secret, base_ms: int | None = None) -> int | None:
        if not secret.auto_rotation or secret.period is None:
            return None
        base = base_ms if base_ms is not None else secret.last_rotation_ms or secret.register_ms
        return ceil_to_hour(base + secret.period * DAY_MS)  # A11

    def _touch(self, secret: Secret) -> None:
        secret.update_ms = self.now_ms()

    # -- triggers and keys (Cloud Functions owns triggers; tests register them directly) --

    def register_trigger(
        self, name: str, *, actions: list[str] | None = None, description: str = ""
    ) -> TriggerRecord:
        with self.lock:
            for trigger in self.triggers.values():
                if trigger.name == name:
                    if actions is not None:
                        trigger.actions = list(actions)
                    trigger.description = description or trigger.description
                    return trigger
            trigger = TriggerRecord(
                trigger_id=secrets.token_hex(5),
                name=name,
                description=description,
                region=self.region,
                actions=list(actions or []),
            )
            self.triggers[trigger.trigger_id] = trigger
            return trigger

    def trigger_by_name(self, name: str) -> TriggerRecord | None:
        with self.lock:
            return next((t for t in self.triggers.values() if t.name == name), None)

    def _link(self, secret: Secret, trigger_id: str) -> None:
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise bad_request(f"trigger {trigger_id!r} does not exist")
        if secret.trigger_id == trigger_id:
            return
        self._unlink(secret)
        secret.trigger_id = trigger_id
        trigger.linked.append(secret.secret_id)

    def _unlink(self, secret: Secret) -> None:
        if secret.trigger_id is not None:
            old = self.triggers.get(secret.trigger_id)
            if old is not None and secret.secret_id in old.linked:
                old.linked.remove(secret.secret_id)
        secret.trigger_id = None

    def link_secret_to_trigger(self, secret_name: str, trigger_name: str) -> None:
        """Cloud Functions' ``secretManagerLink``: link by secret *name*."""
        with self.lock:
            trigger = self.trigger_by_name(trigger_name)
            if trigger is None:
                raise not_found(f"trigger {trigger_name!r} does not exist")
            secret = next(
                (
                    s
                    for s in self.secrets.values()
                    if s.name == secret_name and s.status != DESTROYED
                ),
                None,
            )
            if secret is None:
                raise bad_request(f"secret {secret_name!r} does not exist")
            if secret.status in (DISABLE, REVOKE):
                raise invalid_status(f"a {secret.status} secret cannot be linked")  # documented
            self._link(secret, trigger.trigger_id)

    def _kms_key(self, tag: object) -> KmsKeyRecord:
        key = next((k for k in self.kms_keys if k.tag == tag), None)
        if key is None:
            raise bad_request("kmsKeyTag does not name a key of this account")
        return key

    def _protection(
        self, body: Mapping[str, Any], *, boundary_required: bool
    ) -> tuple[str, str | None, str | None]:
        key_type = body.get("protectionKeyType")
        if key_type not in ("DEFAULT", "USER_MANAGED_KEY"):
            raise bad_request("protectionKeyType must be DEFAULT or USER_MANAGED_KEY")
        tag = body.get("kmsKeyTag")
        boundary = body.get("kmsBoundaryType")
        if boundary is not None and boundary not in ("GLOBAL", "ISOLATED"):
            raise bad_request("kmsBoundaryType must be GLOBAL or ISOLATED")
        if boundary_required and self.region == "KR" and boundary is None:
            raise bad_request("kmsBoundaryType is required in region KR")  # A15
        if key_type == "DEFAULT":
            if tag is not None:
                raise bad_request("kmsKeyTag is only allowed with USER_MANAGED_KEY")
            return key_type, None, boundary
        if not tag:
            raise bad_request("kmsKeyTag is required with USER_MANAGED_KEY")
        self._kms_key(tag)
        return key_type, str(tag), boundary

    # -- views --------------------------------------------------------------------------

    def detail(self, secret: Secret, *, with_recent_action: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "secretId": secret.secret_id,
            "secretName": secret.name,
            "secretStatus": self.status_names.get(secret.status, secret.status),
            "secretType": "BASIC",
            "memo": secret.memo,
            "region": secret.region,
            "updateDate": secret.update_ms,
            "registerDate": secret.register_ms,
            "autoRotationYN": "Y" if secret.auto_rotation else "N",
            "rotationPhase": self.phase_names.get(secret.phase, secret.phase),
            **self.detail_extra,
        }
        if secret.expected_destroy_ms is not None and secret.status == REVOKE:
            data["expectedDestroyDate"] = secret.expected_destroy_ms
        if secret.auto_rotation:
            data["autoRotationPeriod"] = secret.period
            data["nextRotationDate"] = secret.next_rotation_ms
        if secret.last_rotation_ms is not None:
            data["lastRotationDate"] = secret.last_rotation_ms
        trigger = self.triggers.get(secret.trigger_id) if secret.trigger_id else None
        if trigger is not None:
            data["trigger"] = self._trigger_ref(trigger, with_recent_action=with_recent_action)
        key: dict[str, Any] = {"type": secret.protection_key_type}
        if secret.kms_key_tag:
            key["kmsKeyTag"] = secret.kms_key_tag
            key["kmsKeyName"] = self._kms_key(secret.kms_key_tag).name
        data["protectionKey"] = key
        return data

    @staticmethod
    def _trigger_ref(trigger: TriggerRecord, *, with_recent_action: bool = True) -> dict[str, Any]:
        ref: dict[str, Any] = {"id": trigger.trigger_id, "name": trigger.name, "url": trigger.url}
        if with_recent_action and trigger.recently_executed_action:
            ref["recentlyExecutedAction"] = trigger.recently_executed_action
        return ref

    def _chain_view(self, secret: Secret) -> dict[str, Any]:
        return {
            "decryptedSecretChain": {s: secret.chain.get(s) for s in STAGES},
            "rotationTargets": list(secret.rotation_targets),
        }

    def _settings_view(self, secret: Secret) -> dict[str, Any]:
        data: dict[str, Any] = {
            "secretId": secret.secret_id,
            "autoRotationYN": "Y" if secret.auto_rotation else "N",
        }
        if secret.auto_rotation:
            data["autoRotationPeriod"] = secret.period
            data["nextRotationDate"] = secret.next_rotation_ms
        if secret.trigger_id and secret.trigger_id in self.triggers:
            data["trigger"] = self._trigger_ref(self.triggers[secret.trigger_id])
        return data

    def _status_view(self, secret: Secret) -> dict[str, Any]:
        data: dict[str, Any] = {
            "secretId": secret.secret_id,
            "secretStatus": secret.status,
            "updateDate": secret.update_ms,
        }
        if secret.status == REVOKE and secret.expected_destroy_ms is not None:
            data["expectedDestroyDate"] = secret.expected_destroy_ms
        return data

    # -- lookup -------------------------------------------------------------------------

    def list_secrets(self, page_no: int) -> dict[str, Any]:
        if page_no < 1:
            raise bad_request("pageNo must be 1 or more")  # A14
        with self.lock:
            visible = [s for s in self.secrets.values() if s.status != DESTROYED]
            total = len(visible)
            pages = max(1, math.ceil(total / PAGE_SIZE))
            chunk = visible[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
            return {
                "totalPageNo": pages,
                "currentPageNo": page_no,
                "totalCount": total,
                "secretList": [
                    {
                        "secretId": s.secret_id,
                        "secretName": s.name,
                        "secretStatus": self.status_names.get(s.status, s.status),
                        "secretType": "BASIC",
                        "region": s.region,
                        "registerDate": s.register_ms,
                    }
                    for s in chunk
                ],
            }

    def get_detail(self, secret_id: str) -> dict[str, Any]:
        with self.lock:
            return self.detail(self._get(secret_id))

    def get_values(self, secret_id: str) -> dict[str, Any]:
        with self.lock:
            secret = self._get(secret_id)
            self._usable(secret)  # A10
            return self._chain_view(secret)

    def get_stage_value(self, secret_id: str, stage: str) -> dict[str, Any]:
        with self.lock:
            secret = self._get(secret_id)
            self._usable(secret)
            text = secret.chain.get(stage)
            if text is None:
                raise not_found(f"the secret has no {stage} stage")
            return {"decryptedSecretValue": {"value": text, "valueStage": stage.upper()}}

    def get_logs(self, secret_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        def number(key: str, default: int | None, lo: int = 1) -> int | None:
            raw = query.get(key)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise bad_request(f"{key} must be an integer") from None
            if value < lo:
                raise bad_request(f"{key} must be {lo} or more")
            return value

        page_no = number("pageNo", 1) or 1
        page_size = number("pageSize", 100) or 100
        since = number("timestampFrom", None, lo=0)
        until = number("timestampTo", None, lo=0)
        keyword = (query.get("keyword") or "").lower()
        with self.lock:
            entries = [
                e
                for e in self._get(secret_id).logs
                if (since is None or e["timestamp"] >= since)
                and (until is None or e["timestamp"] <= until)
                and (not keyword or any(keyword in str(v).lower() for v in e.values()))
            ]
        total_pages = max(1, math.ceil(len(entries) / page_size))
        return {
            "pageSize": page_size,
            "currentPage": page_no,
            "totalPage": total_pages,
            "totalCount": len(entries),
            "result": entries[(page_no - 1) * page_size : page_no * page_size],
            "paged": True,
        }

    def list_triggers(self) -> dict[str, Any]:
        with self.lock:
            return {
                "triggerList": [
                    {
                        "id": t.trigger_id,
                        "name": t.name,
                        "description": t.description,
                        "pageUrl": t.url,
                        "platform": t.platform,
                        "region": t.region,
                        "linkedSecretList": list(t.linked),
                        "actionList": [{"name": a, "description": ""} for a in t.actions],
                    }
                    for t in self.triggers.values()
                ]
            }

    def list_keys(self) -> dict[str, Any]:
        return {
            "keyList": [
                dict(DEFAULT_KEY_ITEM),
                *(
                    {
                        "keyId": k.key_id,
                        "keyTag": k.tag,
                        "keyName": k.name,
                        "keyStatus": k.status,
                        "keyType": k.key_type,
                        "kmsBoundaryType": k.boundary,
                    }
                    for k in self.kms_keys
                ),
            ]
        }

    # -- create and update --------------------------------------------------------------

    def create_secret(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body.get("secretName")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise bad_request(
                "secretName must be 3-15 letters, digits, '-' or '_', starting with a letter"
            )
        memo = body.get("memo") or ""
        if not isinstance(memo, str) or len(memo.encode("utf-8")) > MEMO_MAX_BYTES:
            raise bad_request(f"memo must be text of at most {MEMO_MAX_BYTES} bytes")
        data, targets = _create_value(body.get("secretValue"))
        if body.get("secretType") != "BASIC":
            raise bad_request("secretType must be BASIC")
        auto, period, trigger_id = _create_rotation(body)
        key_type, tag, boundary = self._protection(body, boundary_required=False)
        with self.lock:
            if any(s.name == name and s.status != DESTROYED for s in self.secrets.values()):
                raise bad_request(f"a secret named {name!r} already exists")  # A14
            if trigger_id is not None and (
                not isinstance(trigger_id, str) or trigger_id not in self.triggers
            ):
                raise bad_request("triggerId does not name a trigger of this account")
            now = self.now_ms()
            secret = Secret(
                secret_id=secrets.token_hex(32),
                name=name,
                memo=memo,
                chain=dict.fromkeys(STAGES),
                rotation_targets=list(targets),
                register_ms=now,
                update_ms=now,
                region=self.region,
                protection_key_type=key_type,
                kms_key_tag=tag,
                kms_boundary_type=boundary,
                auto_rotation=auto,
                period=period if auto else None,
            )
            self._store(secret, "active", data)
            if isinstance(trigger_id, str) and trigger_id:
                self._link(secret, trigger_id)
            secret.next_rotation_ms = self._next_rotation(secret)
            self.secrets[secret.secret_id] = secret
            self._log(secret, "CREATE_SECRET", "secret created")
            return self.detail(secret)

    def update_values(self, secret_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            secret = self._get(secret_id)
            self._usable(secret)
            if secret.live_job is not None:
                raise invalid_status("a rotation job is in progress")  # A10
            given = {s: body[s] for s in STAGES if s in body}
            if not given:
                raise bad_request("give at least one of previous, active, pending")
            parsed: dict[str, dict[str, Any] | None] = {}
            for stage, text in given.items():
                if text == "":
                    if stage == "active":
                        raise bad_request("the active stage cannot be deleted")
                    parsed[stage] = None
                    continue
                value = parse_value(text, stage)
                check_targets(value, secret.rotation_targets, stage)
                parsed[stage] = value
            for stage, data in parsed.items():
                self._store(secret, stage, data)
            self._touch(secret)
            self._log(secret, "UPDATE_SECRET_VALUE", f"stages updated: {', '.join(given)}")
            return {
                "encryptedSecretChain": {
                    s: self.encrypt(t) if (t := secret.chain.get(s)) else None for s in STAGES
                }
            }

    def update_stage_value(
        self, secret_id: str, stage: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            secret = self._get(secret_id)
            self._usable(secret)
            if secret.live_job is not None:
                raise invalid_status("a rotation job is in progress")
            data = parse_value(body.get("value"), "value")
            check_targets(data, secret.rotation_targets, "value")
            self._store(secret, stage, data)
            self._touch(secret)
            self._log(secret, "UPDATE_SECRET_STAGE_VALUE", f"{stage} stage updated")
            text = secret.chain[stage]
            assert text is not None
            return {
                "encryptedSecretValue": {"value": self.encrypt(text), "valueStage": stage.upper()}
            }

    def update_memo(self, secret_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        memo = body.get("memo")
        if not isinstance(memo, str) or len(memo.encode("utf-8")) > MEMO_MAX_BYTES:
            raise bad_request(f"memo must be text of at most {MEMO_MAX_BYTES} bytes")
        with self.lock:
            secret = self._get(secret_id)
            if secret.status == DESTROYED:
                raise invalid_status("secret is DESTROYED")
            secret.memo = memo
            self._touch(secret)
            return {"secretId": secret.secret_id, "memo": memo, "updateDate": secret.update_ms}

    def update_protection_key(self, secret_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key_type, tag, boundary = self._protection(body, boundary_required=True)
        with self.lock:
            secret = self._get(secret_id)
            if secret.status in (REVOKE, DESTROYED):
                raise invalid_status(f"secret is {secret.status}")
            secret.protection_key_type, secret.kms_key_tag = key_type, tag
            secret.kms_boundary_type = boundary
            self._touch(secret)
            return {
                "secretId": secret.secret_id,
                "protectionKey": self.detail(secret)["protectionKey"],
            }

    # -- status -------------------------------------------------------------------------

    def set_status(self, secret_id: str, action: str) -> dict[str, Any]:
        """Enable, Disable, Request Deletion, Cancel Deletion (A12)."""
        rules = {
            "enable": ((DISABLE,), ENABLE),
            "disable": ((ENABLE,), DISABLE),
            "request-deletion": ((ENABLE, DISABLE, REVOKE), REVOKE),
            "cancel-deletion": ((REVOKE,), DISABLE),
        }
        allowed, target = rules[action]
        with self.lock:
            secret = self._get(secret_id)
            if secret.status not in allowed:
                raise invalid_status(f"cannot {action} a secret that is {secret.status}")
            if target == REVOKE and secret.status != REVOKE:
                secret.expected_destroy_ms = self.now_ms() + DESTROY_AFTER_MS
            if target != REVOKE:
                secret.expected_destroy_ms = None
            secret.status = target
            self._touch(secret)
            self._log(secret, action.upper().replace("-", "_"), f"secret is now {target}")
            return self._status_view(secret)

    def delete_secret(self, secret_id: str) -> None:
        with self.lock:
            secret = self._get(secret_id)
            if secret.status != REVOKE:
                raise invalid_status("only a secret scheduled for deletion (REVOKE) can be deleted")
            self._destroy(secret)

    def _destroy(self, secret: Secret) -> None:
        secret.status = DESTROYED
        secret.chain = dict.fromkeys(STAGES)
        secret.expected_destroy_ms = None
        self._unlink(secret)
        self._touch(secret)
        self._log(secret, "DESTROY_SECRET", "secret destroyed")

    # -- rotation settings --------------------------------------------------------------

    def enable_auto_rotation(self, secret_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        raw = body.get("rotationPeriod")
        period = 90 if raw is None else _req_int(raw, "rotationPeriod", *ROTATION_PERIOD_RANGE)
        trigger_id = body.get("triggerId")
        with self.lock:
            secret = self._get(secret_id)
            if secret.status not in (ENABLE, ROTATING):
                raise invalid_status(f"secret is {secret.status}")
            if trigger_id is not None:
                if not isinstance(trigger_id, str):
                    raise bad_request("triggerId must be a string")
                self._link(secret, trigger_id)
            if secret.trigger_id is None:
                raise bad_request("triggerId is required: the secret has no trigger")
            secret.auto_rotation, secret.period = True, period
            secret.next_rotation_ms = self._next_rotation(secret)
            self._touch(secret)
            self._log(secret, "ENABLE_AUTO_ROTATION", f"auto rotation every {period} days")
            return self._settings_view(secret)

    def disable_auto_rotation(self, secret_id: str) -> dict[str, Any]:
        with self.lock:
            secret = self._get(secret_id)
            secret.auto_rotation, secret.period, secret.next_rotation_ms = False, None, None
            self._touch(secret)
            self._log(secret, "DISABLE_AUTO_ROTATION", "auto rotation off")
            return self._settings_view(secret)

    def update_rotation_period(self, secret_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("rotationPeriod") is None:
            raise bad_request("rotationPeriod is required")
        period = _req_int(body["rotationPeriod"], "rotationPeriod", *ROTATION_PERIOD_RANGE)
        with self.lock:
            secret = self._get(secret_id)
            if not secret.auto_rotation:
                raise invalid_status("auto rotation is off")
            secret.period = period
            secret.next_rotation_ms = self._next_rotation(secret)
            self._touch(secret)
            return self._settings_view(secret)

    def update_trigger(self, secret_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        trigger_id = body.get("triggerId")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise bad_request("triggerId is required")
        with self.lock:
            secret = self._get(secret_id)
            if secret.auto_rotation:
                raise invalid_status(
                    "the trigger of a secret that rotates automatically cannot change"
                )
            self._link(secret, trigger_id)
            self._touch(secret)
            return {
                "secretId": secret.secret_id,
                "trigger": self._trigger_ref(self.triggers[trigger_id]),
            }

    def delete_trigger(self, secret_id: str) -> None:
        with self.lock:
            secret = self._get(secret_id)
            if secret.auto_rotation:
                raise invalid_status(
                    "the trigger of a secret that rotates automatically cannot change"
                )
            if secret.trigger_id is None:
                raise invalid_status("the secret has no trigger")
            self._unlink(secret)
            self._touch(secret)

    # -- rotation jobs, operator side ---------------------------------------------------

    def _raise_job(self, secret: Secret, kind: str) -> JobEvent:
        trigger = self.triggers.get(secret.trigger_id) if secret.trigger_id else None
        if trigger is None:
            raise invalid_status("the secret has no rotation trigger")
        job = Job(token=secrets.token_urlsafe(24), kind=kind, created_ms=self.now_ms())
        secret.job = job
        secret.jobs.append(job)  # A1: raised, not started: nothing visible changes yet
        self._touch(secret)
        self._log(secret, f"{kind}_ROTATION", "rotation job raised", token=job.token)
        return JobEvent(secret.secret_id, secret.name, job.token, trigger)

    def _dispatch(self, event: JobEvent) -> None:
        if self.dispatcher is not None:
            self.dispatcher(event)

    def execute_rotation(self, secret_id: str, kind: str = "EXECUTE") -> JobEvent:
        with self.lock:
            secret = self._get(secret_id)
            if secret.status != ENABLE:
                raise invalid_status(f"secret is {secret.status}")
            if secret.live_job is not None:
                raise invalid_status("a rotation job is already in progress")
            event = self._raise_job(secret, kind)
        self._dispatch(event)
        return event

    def retry_rotation(self, secret_id: str) -> JobEvent:
        with self.lock:
            secret = self._get(secret_id)
            last = secret.jobs[-1] if secret.jobs else None
            if last is None or last.outcome != "FAILED":  # A13: documented
                raise invalid_status("only a failed rotation job can be retried")
            if secret.status != ENABLE:
                raise invalid_status(f"secret is {secret.status}")
            event = self._raise_job(secret, "RETRY")  # A2: a new token
        self._dispatch(event)
        return event

    def cancel_rotation(self, secret_id: str) -> None:
        with self.lock:
            secret = self._get(secret_id)
            job = secret.live_job
            if job is None:
                raise invalid_status("no rotation job is in progress")
            job.outcome = "CANCELLED"
            secret.chain["pending"] = None  # A6
            secret.status, secret.phase = ENABLE, PHASE_NONE
            self._touch(secret)
            self._log(secret, "CANCEL_ROTATION", "rotation job cancelled", token=job.token)

    def rollback_rotation(self, secret_id: str) -> None:
        with self.lock:
            secret = self._get(secret_id)
            self._usable(secret)
            if secret.live_job is not None:
                raise invalid_status("a rotation job is in progress")
            if secret.chain.get("previous") is None:
                raise invalid_status("there is no previous value to go back to")
            secret.chain["active"] = secret.chain["previous"]
            secret.chain["previous"] = secret.chain["pending"] = None  # A6
            secret.phase = PHASE_NONE
            self._touch(secret)
            self._log(secret, "ROLLBACK_ROTATION", "active value rolled back to previous")

    # -- rotation jobs, action side -----------------------------------------------------

    def _job(self, secret_id: str, token: str, *, started: bool = True) -> tuple[Secret, Job]:
        secret = self._get(secret_id)
        job = next((j for j in secret.jobs if j.token == token), None)
        if job is None:
            raise not_found("no rotation job has that token")  # A2
        if not job.live:
            raise invalid_status(f"the rotation job is already {job.outcome}")
        if started and not job.started:
            raise invalid_status("the rotation job has not been started")  # A4
        return secret, job

    def start_job(self, secret_id: str, token: str) -> dict[str, Any]:
        with self.lock:
            secret, job = self._job(secret_id, token, started=False)
            if not job.started:
                job.started = True
                secret.status, secret.phase = ROTATING, PHASE_ROTATING  # A1: documented
                self._touch(secret)
                self._log(secret, "START_ROTATION_JOB", "rotation job started", token=token)
            return self._chain_view(secret)  # A3

    def add_pending(self, secret_id: str, token: str) -> dict[str, Any]:
        with self.lock:
            secret, _ = self._job(secret_id, token)
            active = self._value(secret, "active")
            assert active is not None
            fresh = {t: random_string(12) for t in secret.rotation_targets}  # A7
            self._store(secret, "pending", {**active, **fresh})
            self._log(secret, "ADD_PENDING_STAGE", "pending stage generated", token=token)
            return {"pending": secret.chain["pending"]}

    def put_pending(self, secret_id: str, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            secret, _ = self._job(secret_id, token)
            data = parse_value(body.get("value"), "value")
            active = self._value(secret, "active")
            assert active is not None
            if set(data) != set(active):
                raise bad_request("the pending value must have exactly the active value's keys")
            for key, item in active.items():
                if key not in secret.rotation_targets and data[key] != item:
                    raise bad_request(f"key {key!r} is not a rotation target; it cannot change")
            check_targets(data, secret.rotation_targets, "value")  # A5
            self._store(secret, "pending", data)
            self._log(secret, "UPDATE_PENDING_STAGE", "pending stage registered", token=token)
            return {"pending": secret.chain["pending"]}

    def generate_random(
        self, secret_id: str, token: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            self._job(secret_id, token)
        length = _req_int(body.get("length"), "length", *RANDOM_LENGTH_RANGE)  # A8
        exclude = body.get("excludeCharacters", "")
        if not isinstance(exclude, str):
            raise bad_request("excludeCharacters must be a string")
        value = random_string(
            length,
            exclude=exclude,
            numbers=not _req_bool(body, "excludeNumbers", False),
            punctuation=not _req_bool(body, "excludePunctuation", False),
            uppercase=not _req_bool(body, "excludeUppercase", False),
            lowercase=not _req_bool(body, "excludeLowercase", False),
            space=_req_bool(body, "includeSpace", True),
            require_each=_req_bool(body, "requireEachIncludedType", True),
        )
        with self.lock:
            self.known_values.add(value)
        return {"randomString": value}

    def complete_job(self, secret_id: str, token: str) -> None:
        with self.lock:
            secret, job = self._job(secret_id, token)
            if secret.chain.get("pending") is None:
                raise invalid_status("there is no pending stage to complete")  # A4
            secret.chain["previous"] = secret.chain["active"]
            secret.chain["active"] = secret.chain["pending"]
            secret.chain["pending"] = None
            job.outcome = "COMPLETED"
            now = self.now_ms()
            secret.status, secret.phase = ENABLE, PHASE_NONE
            secret.last_rotation_ms = now
            secret.next_rotation_ms = self._next_rotation(secret)
            self._touch(secret)
            self._log(secret, "COMPLETE_ROTATION_JOB", "chain shifted", token=token)

    def fail_job(self, secret_id: str, token: str) -> None:
        with self.lock:
            secret, job = self._job(secret_id, token, started=False)
            job.outcome = "FAILED"
            secret.status, secret.phase = ENABLE, PHASE_FAILED  # A1, A6: pending kept
            self._touch(secret)
            self._log(secret, "FAIL_ROTATION_JOB", "rotation failed", token=token)

    # -- time ---------------------------------------------------------------------------

    def due_for_rotation(self) -> list[str]:
        """Secrets whose ``nextRotationDate`` has passed and that can rotate now."""
        now = self.now_ms()
        with self.lock:
            return [
                s.secret_id
                for s in self.secrets.values()
                if s.auto_rotation
                and s.next_rotation_ms is not None
                and s.next_rotation_ms <= now
                and s.status == ENABLE
                and s.live_job is None
                and s.trigger_id is not None
            ]

    def fire_scheduled(self, secret_id: str) -> JobEvent | None:
        """Raise a scheduled job (A11): the next date moves on one period at once."""
        with self.lock:
            secret = self._get(secret_id)
            if secret.status != ENABLE or secret.live_job is not None:
                return None
            now = self.now_ms()
            event = self._raise_job(secret, "SCHEDULE")
            secret.next_rotation_ms = self._next_rotation(secret, base_ms=now)
        self._dispatch(event)
        return event

    def destroy_expired(self) -> list[str]:
        now = self.now_ms()
        with self.lock:
            expired = [
                s
                for s in self.secrets.values()
                if s.status == REVOKE
                and s.expected_destroy_ms is not None
                and s.expected_destroy_ms <= now
            ]
            for secret in expired:
                self._destroy(secret)
            return [s.secret_id for s in expired]
