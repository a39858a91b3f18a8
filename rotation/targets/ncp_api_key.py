"""``ncp-api-key``: an NCP sub account's access key pair, rotated through the Sub Account API.

The secret value holds the pair and whose it is; both keys are rotation targets::

    {"engine": "ncp-api-key", "subAccountId": "<uuid>",
     "accessKey": "ncp_iam_...", "secretKey": "..."}          rotationTargets: accessKey, secretKey

A key's secret exists only in the answer that created it, and a sub account holds at
most two active keys. So the steps, each under the invariant (at every instant the sub
account accepts a pair Secret Manager stores, active or pending):

``create``   (the workflow's pending step) list the keys; the stored active key must be
             one of them. A second active key must go first: the one stored as
             *previous* is disabled (an earlier finish did not get to it); a new key
             another run of this job stored as pending, or one stored nowhere, stops
             the run (``NCP_KEY_SLOTS_FULL``), unless ``strayKeys`` is ``disable``
             (the sub account's keys belong to this secret alone): then a key stored
             nowhere is disabled (after a fresh read of the chain; re-enabled if it
             turned out stored). Then one create, never retried; the workflow stores
             the pair as pending at once. A create whose answer was lost made a key
             nobody can use: the keys that appeared meanwhile are disabled and the
             create is sent once more.
``discard``  storing the pair failed: a refusal (it is stored nowhere) deletes the key;
             an unknown outcome only disables it (a resume may find it stored, and
             can enable it again).
``probe``    STS caller-identity signed with that stage's pair: 200 yes, 401 no.
``set``      the pending key exists and is enabled (a rollback may have disabled it);
             with ``action``: once the pair works, it is written into that Cloud
             Functions action's default parameters.
``test``     caller-identity with the new pair, retried while the key is listed active
             (how long a new key takes to work is not documented) within
             ``settleSeconds`` and the deadline; it must be the same account as the
             active pair's. With ``action``: the action's parameters hold the pair and
             a ``dryRun`` of the action, which signs with it, passes.
``rollback`` (before complete) the action's parameters back to the active pair, then the
             new key disabled, never deleted: a late complete may yet make it active,
             and converging enables it again.
``finish``   (after complete) only when the new pair works (and the action holds it):
             keys disabled and stored nowhere (from earlier rotations) are deleted, then
             the old key is disabled, the last call (it may be the key this very call
             signs with). It stays, disabled, until the next rotation's finish: Rollback
             Rotation Job can bring it back (the next rotation enables a disabled
             active key again).

At most two keys are ever active: the old one and the new one. A resume reuses a stored
pending pair that works, and replaces one whose key is gone or refused.

Settings (the value's keys, or the ``target`` parameter): ``subAccountId``,
``subAccountEndpoint`` (``https://subaccount.apigw.ntruss.com``), ``stsEndpoint``
(``https://sts.apigw.ntruss.com``), ``apiGeneration`` (``auto``: v2, falling back to v1
where a site has no v2; or ``v2``, ``v1``), ``strayKeys`` (``refuse`` | ``disable``),
``settleSeconds`` (60), ``action`` (``{"package", "name"}``: the action whose default
parameters hold this pair, i.e. the rotator's own key) with ``cloudFunctionsEndpoint``
and ``dryRun`` (true).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rotation import codes, logs
from rotation.ncp.errors import AuthenticationFailed, ClientError, NcpError
from rotation.ncp.models import SecretChain, SecretValue, Stage
from rotation.ncp.signing import Credentials
from rotation.ncp.sts import DEFAULT_ENDPOINT as STS_ENDPOINT
from rotation.ncp.sts import CallerIdentity, StsClient
from rotation.ncp.subaccount import DEFAULT_ENDPOINT as SUBACCOUNT_ENDPOINT
from rotation.ncp.subaccount import (
    GENERATIONS,
    AccessKeyInfo,
    NewAccessKey,
    SubAccountClient,
    limit_exceeded,
)
from rotation.settings import endpoint_problem
from rotation.targets.action_holder import ActionHolder, action_holder, shown
from rotation.targets.base import (
    Change,
    Target,
    TargetConfigError,
    TargetContext,
    TargetError,
    TargetSetFailed,
    TargetTestFailed,
    TargetUnreachable,
    permission_denied,
)

KEYS = ("accessKey", "secretKey")
SETTINGS = frozenset(
    {"kind", "subAccountId", "subAccountEndpoint", "stsEndpoint", "apiGeneration",
     "strayKeys", "settleSeconds", "action", "cloudFunctionsEndpoint", "dryRun"}
)  # fmt: skip
STRAY_MODES = ("refuse", "disable")
DEFAULT_SETTLE_SECONDS = 60.0
#: Waits between tries of a new key that the gateway does not accept yet.
FIRST_WAIT, MAX_WAIT = 0.25, 2.0


def pair_of(value: SecretValue | None, what: str) -> Credentials:
    if value is None:
        raise TargetConfigError(f"the {what} value is missing")
    access, secret = value.get("accessKey"), value.get("secretKey")
    if not isinstance(access, str) or not access or not isinstance(secret, str) or not secret:
        raise TargetConfigError(f"the {what} value needs text accessKey and secretKey keys")
    return Credentials(access, secret)


class NcpApiKeyTarget(Target):
    kind = "ncp-api-key"
    external = True
    creates = frozenset(KEYS)

    def __init__(
        self,
        ctx: TargetContext,
        credentials: Credentials,
        *,
        sub_account_id: str,
        subaccount_endpoint: str,
        sts_endpoint: str,
        generation: str,
        stray: str,
        settle_seconds: float,
        action: ActionHolder | None,
    ) -> None:
        self.ctx = ctx
        self.credentials = credentials
        self.sub_account_id = sub_account_id
        self.sts_endpoint = sts_endpoint
        self.stray = stray
        self.settle_seconds = settle_seconds
        self.action = action
        self.keys_api = SubAccountClient(
            credentials, endpoint=subaccount_endpoint, generation=generation,
            deadline=ctx.deadline, budget=ctx.retry_budget,
        )  # fmt: skip
        #: The pair ``create`` made in this run (``discard`` undoes it).
        self._created: NewAccessKey | None = None
        self._identities: dict[str, CallerIdentity] = {}
        #: One STS session per pair asked about (kept alive across the steps).
        self._sts: dict[Credentials, StsClient] = {}

    @property
    def reapply(self) -> bool:
        """With an action, ``set`` also writes its parameters: never skip it."""
        return self.action is not None

    # -- the Sub Account API -------------------------------------------------------------

    def _keys(self) -> list[AccessKeyInfo]:
        self.keys_api.transport.deadline = self.ctx.deadline  # the recovery reserve, later
        try:
            return self.keys_api.list_keys(self.sub_account_id)
        except NcpError as exc:
            raise self._api_error(exc, "list the sub account's keys") from None

    def _set_active(self, access_key: str, active: bool) -> None:
        self.keys_api.transport.deadline = self.ctx.deadline
        self.keys_api.set_active(self.sub_account_id, access_key, active)
        logs.log.info(
            "target.access_key",
            change="enabled" if active else "disabled",
            access_key_id=shown(access_key),
        )

    def _api_error(self, exc: NcpError, doing: str, *, untouched: bool = True) -> TargetError:
        refused = permission_denied(exc, doing, "NCP_SUB_ACCOUNT_MANAGER")
        if refused is not None:
            return refused
        if isinstance(exc, ClientError):
            return TargetSetFailed(f"could not {doing}: {exc}", untouched=untouched)
        return TargetUnreachable(f"could not {doing}: {exc}", untouched=untouched)

    @staticmethod
    def _find(keys: list[AccessKeyInfo], access_key: str) -> AccessKeyInfo | None:
        return next((k for k in keys if k.access_key == access_key), None)

    # -- STS --------------------------------------------------------------------------

    def _identity(self, pair: Credentials) -> CallerIdentity | None:
        """Who signs with ``pair``; ``None`` when the gateway refuses it (401)."""
        client = self._sts.get(pair)
        if client is None:
            client = self._sts[pair] = StsClient(
                pair, endpoint=self.sts_endpoint, deadline=self.ctx.deadline,
                budget=self.ctx.retry_budget,
            )  # fmt: skip
        client.transport.deadline = self.ctx.deadline  # the recovery reserve, later
        try:
            return client.caller_identity()
        except AuthenticationFailed:
            return None
        except NcpError as exc:
            raise TargetUnreachable(f"STS caller-identity could not be asked: {exc}") from None

    def _same_account(self, new: CallerIdentity, change: Change) -> bool:
        """Does ``new`` sign as this secret's sub account? Its id is ``subAccountId``
        (a guess, emulator T2), or the id a stored pair that works signs as."""
        if new.id == self.sub_account_id:
            return True
        for value in (change.active, change.previous):
            if value is None or not isinstance(value.get("accessKey"), str):
                continue
            pair = pair_of(value, "stored")
            if pair.access_key not in self._identities:
                found = self._identity(pair)
                if found is None:
                    continue
                self._identities[pair.access_key] = found
            return self._identities[pair.access_key].id == new.id
        if self._identities:
            return new.id in {i.id for i in self._identities.values()}
        raise TargetTestFailed("no stored pair works to compare the new one with")

    def _wait_works(self, pair: Credentials) -> CallerIdentity:
        """The new pair's identity, waiting (within ``settleSeconds`` and the deadline)
        while the gateway does not accept it yet but the key is listed active."""
        give_up = time.monotonic() + min(self.settle_seconds, self.ctx.deadline.remaining())
        wait = FIRST_WAIT
        while True:
            found = self._identity(pair)
            if found is not None:
                return found
            key = self._find(self._keys(), pair.access_key)
            if key is None or not key.active:
                state = "gone" if key is None else "disabled"
                raise TargetTestFailed(
                    f"the new key {shown(pair.access_key)} is {state} (another run of the job, "
                    "or a person, changed it)"
                )
            if time.monotonic() + wait >= give_up:
                raise TargetTestFailed(
                    f"the new key {shown(pair.access_key)} was still refused after "
                    f"{self.settle_seconds:g} s (or the deadline); it may need longer to work: "
                    "raise settleSeconds"
                )
            time.sleep(wait)
            wait = min(wait * 2, MAX_WAIT)

    # -- create and discard -------------------------------------------------------------

    def create(self, active: SecretValue, keys: tuple[str, ...]) -> Mapping[str, str]:
        if set(keys) != set(KEYS):
            raise TargetConfigError(
                "rotationTargets must be exactly accessKey and secretKey: the two change together",
                untouched=True,
            )
        current = pair_of(active, "active").access_key
        listed = self._keys()
        mine = self._find(listed, current)
        if mine is None:
            raise TargetError(
                f"the stored active key {shown(current)} is not one of sub account "
                f"{self.sub_account_id}'s keys: store the pair the sub account holds",
                code=codes.TARGET_LOGIN_REFUSED,
                untouched=True,
            )
        if not mine.active:  # the stored active key must work before anything else
            self._enable_stored_active(current)
            listed = self._keys()
        others = [k for k in listed if k.active and k.access_key != current]
        if others:
            self._free_slot(current, others)
        made = self._create_once(current)
        self._created = made
        self.ctx.register_secret(made.secret_key)
        self.ctx.register_secret(made.access_key)
        logs.log.info("target.access_key", change="created", access_key_id=shown(made.access_key))
        return {"accessKey": made.access_key, "secretKey": made.secret_key}

    def _enable_stored_active(self, current: str) -> None:
        """The stored active key is disabled (Rollback Rotation Job brought back the key
        the last finish retired): make it work again before anything else."""
        self._enable(current)
        logs.log.warning(
            "target.access_key", note="the stored active key was disabled; enabled again"
        )

    def _enable(self, access_key: str) -> None:
        """Enable a key a rollback disabled. When two others are active and this one is
        the stored *active* key (a converge onto another run's completed value), one of
        them makes room: a key stored nowhere first, else the stored previous one; the
        stored active key must work, whatever else does."""
        try:
            self._set_active(access_key, True)
        except NcpError as exc:
            if not limit_exceeded(exc):
                raise self._api_error(exc, "enable the key", untouched=False) from None
        else:
            return
        chain = self._fresh_chain()
        stored = _stored_keys(chain)
        if stored.get("active") != access_key:
            raise TargetSetFailed(
                f"the key {shown(access_key)} cannot be enabled: two other keys are active",
                untouched=True,
            )
        keep = {access_key, stored.get("pending")}
        others = [k.access_key for k in self._keys() if k.active and k.access_key not in keep]
        others.sort(key=lambda k: k == stored.get("previous"))  # stored nowhere first
        if not others:
            raise TargetSetFailed(f"the key {shown(access_key)} cannot be enabled")
        self._retire(others[0], "a key to make room for the stored active one")
        try:
            self._set_active(access_key, True)
        except NcpError as exc:
            raise self._api_error(exc, "enable the stored active key", untouched=False) from None

    def _fresh_chain(self) -> SecretChain:
        chain = self.ctx.read_chain() if self.ctx.read_chain is not None else None
        if chain is None:
            raise TargetUnreachable(
                "the chain could not be read to tell whose the second active key is",
                untouched=True,
            )
        return chain

    def _free_slot(self, current: str, others: list[AccessKeyInfo]) -> None:
        """Two keys are active: retire the other one if it is this secret's to retire."""
        chain = self._fresh_chain()
        stored = _stored_keys(chain)
        if stored.get("active") not in (None, current):
            raise TargetError(
                "another run of this job completed while this one worked: nothing to do here",
                code=codes.NCP_KEY_SLOTS_FULL,
                untouched=True,
            )
        for key in others:
            name = shown(key.access_key)
            if key.access_key == stored.get("previous"):
                self._retire(key.access_key, "the previous key, still active")
            elif key.access_key == stored.get("pending"):
                raise TargetError(
                    f"another run of this job has stored a new key ({name}) as pending and "
                    "may be testing it: this run stops rather than take its slot",
                    code=codes.NCP_KEY_SLOTS_FULL,
                    untouched=True,
                )
            elif self.stray == "disable":
                self._retire_stray(key.access_key)
            else:
                raise TargetError(
                    f"sub account {self.sub_account_id} holds a second active key, {name}, "
                    "that this secret stores nowhere (made by hand, or left by a run that "
                    "died between create and store): disable it, or set strayKeys to "
                    "disable if this sub account's keys belong to this secret alone",
                    code=codes.NCP_KEY_SLOTS_FULL,
                    untouched=True,
                )

    def _retire(self, access_key: str, why: str) -> None:
        try:
            self._set_active(access_key, False)
        except NcpError as exc:
            raise self._api_error(exc, f"disable {why}") from None

    def _retire_stray(self, access_key: str) -> None:
        """``strayKeys: disable``: disable a key stored nowhere, then look again: if the
        chain stores it now (a run of this job stored it meanwhile), enable it again."""
        self._retire(access_key, "a key stored nowhere")
        logs.log.warning("target.access_key", note="a key stored nowhere was disabled")
        if access_key not in _stored_keys(self._fresh_chain()).values():
            return
        try:
            self._set_active(access_key, True)
        except NcpError as exc:
            raise self._api_error(exc, "enable again a key stored meanwhile") from None
        raise TargetError(
            f"the key {shown(access_key)} was stored meanwhile by another run of this job: "
            "it is enabled again and this run stops",
            code=codes.NCP_KEY_SLOTS_FULL,
            untouched=True,
        )

    def _create_once(self, current: str) -> NewAccessKey:
        """One create. Its answer lost: the keys that appeared meanwhile are disabled (a
        key whose secret nobody has), and the create is sent once more."""
        for attempt in (1, 2):
            before = {k.access_key for k in self._keys()} if attempt == 1 else None
            self.keys_api.transport.deadline = self.ctx.deadline
            try:
                return self.keys_api.create_key(self.sub_account_id)
            except NcpError as exc:
                if limit_exceeded(exc):
                    raise TargetError(
                        "the sub account refused a third active key: another run of this "
                        "job created one at the same time",
                        code=codes.NCP_KEY_SLOTS_FULL,
                        untouched=True,
                    ) from None
                if isinstance(exc, ClientError) or attempt == 2:
                    raise self._api_error(exc, "create a key") from None
                logs.log.warning("target.access_key", note="a create's answer was lost")
                self._disable_new(current, before or set())
        raise AssertionError("unreachable")  # pragma: no cover

    def _disable_new(self, current: str, before: set[str]) -> None:
        for key in self._keys():
            if key.active and key.access_key != current and key.access_key not in before:
                self._retire(key.access_key, "the key a lost create made")

    def discard(self, error: BaseException) -> None:
        made, self._created = self._created, None
        if made is None:
            return
        unknown = isinstance(error, NcpError) and not isinstance(error, ClientError)
        try:
            self._set_active(made.access_key, False)
            if not unknown:
                self.keys_api.delete_key(self.sub_account_id, made.access_key)
        except NcpError as exc:
            logs.log.error(
                "target.access_key", note="the new key could not be discarded",
                access_key_id=shown(made.access_key), error=type(exc).__name__,
            )  # fmt: skip
            return
        logs.log.warning(
            "target.access_key", change="disabled" if unknown else "deleted",
            access_key_id=shown(made.access_key),
            note="storing the new pair failed" + (" or may have" if unknown else ""),
        )  # fmt: skip

    # -- the five steps ----------------------------------------------------------------------

    def probe(self, change: Change, stage: Stage) -> bool:
        return self._identity(pair_of(change.stage(stage), stage.value.lower())) is not None

    def set(self, change: Change) -> None:
        pair = pair_of(change.pending, "pending")
        key = self._find(self._keys(), pair.access_key)
        if key is None:
            raise TargetSetFailed(
                f"the key stored as pending, {shown(pair.access_key)}, is not in the sub "
                "account any more; a retry makes a new one",
                untouched=True,
            )
        if not key.active:
            self._enable(pair.access_key)
        if self.action is not None:
            self._wait_works(pair)
            self.action.hold(pair)

    def test(self, change: Change) -> None:
        pair = pair_of(change.pending, "pending")
        new = self._wait_works(pair)
        if not self._same_account(new, change):
            raise TargetTestFailed(
                f"the new pair signs as another account ({new.user_type} {new.id}) than "
                f"sub account {self.sub_account_id}"
            )
        if self.action is not None:
            self.action.test(pair, self.ctx.secret_id)

    def rollback(self, change: Change) -> None:
        active = pair_of(change.active, "active")
        pending = pair_of(change.pending, "pending")
        if self.action is not None and self.action.holds() == pending.access_key:
            self.action.hold(active)
        if pending.access_key == active.access_key:
            return
        key = self._find(self._keys(), pending.access_key)
        if key is not None and key.active:
            self._retire(pending.access_key, "the new key")

    def finish(self, change: Change) -> None:
        old = pair_of(change.active, "old active").access_key
        new = pair_of(change.pending, "new active")
        if old == new.access_key:
            return
        if self._identity(new) is None:
            raise TargetError(
                f"the new key {shown(new.access_key)} is refused: the old key stays enabled"
            )
        if self.action is not None and self.action.holds() != new.access_key:
            raise TargetError(
                "the action's parameters do not hold the new pair: the old key stays enabled"
            )
        listed = self._keys()
        for key in listed:
            if not key.active and key.access_key not in (old, new.access_key):
                self._delete_leftover(key.access_key)
        found = self._find(listed, old)
        if found is not None and found.active:
            self._retire(old, "the replaced key")  # last: it may sign this very call

    def _delete_leftover(self, access_key: str) -> None:
        try:
            self.keys_api.delete_key(self.sub_account_id, access_key)
        except NcpError as exc:
            logs.log.warning(
                "target.access_key", note="a disabled key stored nowhere could not be deleted",
                access_key_id=shown(access_key), error=type(exc).__name__,
            )  # fmt: skip
            return
        logs.log.info("target.access_key", change="deleted", access_key_id=shown(access_key))

    # -- rotation check ------------------------------------------------------------------

    def access(self) -> tuple[bool, str]:
        listed = self._keys()
        active = [k for k in listed if k.active]
        text = (
            f"sub account {self.sub_account_id}: {len(listed)} keys, {len(active)} active "
            "(listing them needs NCP_SUB_ACCOUNT_MANAGER or _VIEWER)"
        )
        if len(active) >= 2:
            return False, text + ": no free slot unless one of them is stored as previous"
        return True, text + ": a slot is free"

    def close(self) -> None:
        self.keys_api.close()
        for client in self._sts.values():
            client.close()
        self._sts.clear()


def _stored_keys(chain: SecretChain) -> dict[str, str]:
    """stage -> the access key that stage holds."""
    found = {}
    for stage, value in (("previous", chain.previous), ("active", chain.active),
                         ("pending", chain.pending)):  # fmt: skip
        key = value.get("accessKey") if value is not None else None
        if isinstance(key, str):
            found[stage] = key
    return found


def _text(settings: Mapping[str, Any], key: str) -> str | None:
    raw = settings.get(key)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise TargetConfigError(f"{key} must be text")
    return raw


def _endpoint(settings: Mapping[str, Any], key: str, default: str) -> str:
    endpoint = _text(settings, key) or default
    problem = endpoint_problem(endpoint)
    if problem is not None:
        raise TargetConfigError(f"{key} {problem}")
    return endpoint


def build_ncp_api_key(
    config: Mapping[str, Any], active: SecretValue, ctx: TargetContext
) -> NcpApiKeyTarget:
    if set(config) & set(KEYS):
        raise TargetConfigError("the key pair lives in the secret value, not the target")
    unknown = sorted(set(config) - SETTINGS)
    if unknown:
        raise TargetConfigError(
            f"unknown target settings {', '.join(unknown)}; known: {', '.join(sorted(SETTINGS))}"
        )
    settings = {**{k: v for k, v in active.items() if k in SETTINGS}, **config}
    sub_account_id = _text(settings, "subAccountId")
    if sub_account_id is None:
        raise TargetConfigError("subAccountId is required (in the secret value or the target)")
    pair_of(active, "active")
    generation = settings.get("apiGeneration", "auto")
    if generation not in GENERATIONS:
        raise TargetConfigError(f"apiGeneration must be one of {', '.join(GENERATIONS)}")
    stray = settings.get("strayKeys", "refuse")
    if stray not in STRAY_MODES:
        raise TargetConfigError(f"strayKeys must be one of {', '.join(STRAY_MODES)}")
    settle = settings.get("settleSeconds", DEFAULT_SETTLE_SECONDS)
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 < settle <= 600:
        raise TargetConfigError("settleSeconds must be a number of seconds, 0-600")
    if ctx.credentials is None:
        raise TargetConfigError("the Sub Account API needs the action's access key pair")
    return NcpApiKeyTarget(
        ctx,
        ctx.credentials,
        sub_account_id=sub_account_id,
        subaccount_endpoint=_endpoint(settings, "subAccountEndpoint", SUBACCOUNT_ENDPOINT),
        sts_endpoint=_endpoint(settings, "stsEndpoint", STS_ENDPOINT),
        generation=str(generation),
        stray=str(stray),
        settle_seconds=float(settle),
        action=action_holder(settings, ctx),
    )
