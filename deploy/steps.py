"""The deployment, step by step, each one read-compare-write so a second run changes nothing.

One action and one Secret Manager trigger serve a fleet of secrets:

    secret    GET /api/v1/secrets (names to ids) and /api/v1/secrets/{id}, per secret
    state     GET /api/v1/triggers on Secret Manager: is the trigger there, which secrets
              it serves (``linkedSecretList``) and which actions it runs (``actionList``)
    action    PUT /packages/{package}/actions/{name}: the zip, python:3.13, limits, VPC, and
              the default parameters: the shared ones, the endpoint and key pair, and each
              secret's own under ``bySecretId`` (read back by rotation.fleet_params)
    trigger   PUT /triggers/{name}?type=secret_manager: the whole ``secretManagerLink`` list
    link      POST /triggers/{name}/link-action; ``80901 DUPLICATED_RULE`` means linked
    rotation  POST /api/v1/secrets/{id}/enable-auto-rotation, per secret, with the
              trigger's id and the secret's period

Each step first reads what is there and writes only what differs; ``--dry-run`` stops
after the reads and prints the plan. "Linked" is decided from Secret Manager's Get Trigger
List, the one documented answer that names both the linked secrets and the linked actions
(Cloud Functions' Get Trigger echoes neither the link list nor, before the link, any
action). The action's code is recognised by the zip's SHA-256, kept in its description, so
an unchanged zip is not uploaded again.

A secret linked to the trigger but absent from the configuration stays linked (and keeps
its own parameters) unless ``prune`` is set: then its auto rotation is turned off and it is
dropped from the trigger. Every failure names its step, the HTTP status and what to do.

A configured secret already linked to this trigger whose auto rotation is off was paused
by an operator (``python -m rotation pause`` is Disable Auto Rotation, which keeps the
link): it stays paused, and the plan says so, unless ``unpause`` is set. Secret Manager
shows a secret this deployment linked but failed to enable the same way, so that failure
says to run again with ``--unpause``.

The CA files the configuration names travel in the zip (deploy/certs.py): the action's
parameters name them as ``certs/<sha256>.pem``, and the plan lists each file packed.

With ``[watch]``, the watchdog (rotation/watch/) follows, each step read-compare-write too:

    memory    the secret that is the watchdog's memory (rotator-watch), made if missing
    schema    GET/POST /cw_fea/real/cw/api/schema on Cloud Insight ([watch.metrics] only):
              the custom schema, made if missing; its cw_key goes to the action
    watch     PUT the watchdog action: the same zip, exec.main "watch", its parameters
              (the fleet with each secret's period and window, the thresholds)
    cron      PUT /triggers/{name}?type=cron with the schedule as cronOption
    link      the watchdog action on the cron trigger

A secret with a ``window`` is linked like the others but its auto rotation stays off, on
purpose (the watchdog starts its jobs inside the window): deploy turns it off if it is on,
and never reads it as paused. A secret whose window was removed (the previous watchdog's
parameters list one) and whose auto rotation is off was not paused by anyone: it is
turned back on without ``--unpause``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

from deploy.certs import entries_named
from deploy.config import ConfigError, DeployConfig, SecretSpec, WatchSpec
from deploy.validate import check_parameters, effective_parameters
from rotation import logs
from rotation.fleet_params import BY_SECRET_ID
from rotation.ncp import hosts
from rotation.ncp.admin_models import CreateSecretRequest, Trigger
from rotation.ncp.cloudfunctions import DEFAULT_ENDPOINT as CLOUD_FUNCTIONS_ENDPOINT
from rotation.ncp.cloudfunctions import GATEWAY_NOT_FOUND, CloudFunctionsClient, already_linked
from rotation.ncp.cloudfunctions_models import FunctionAction
from rotation.ncp.cloudinsight import CloudInsightClient
from rotation.ncp.errors import (
    ApiError,
    AuthenticationFailed,
    DeadlineExceeded,
    Forbidden,
    NcpError,
    NotFound,
    RetryableApiError,
    TransportError,
)
from rotation.ncp.models import SecretChain, SecretDetail, SecretValue
from rotation.ncp.secretmanager import DEFAULT_ENDPOINT as SECRET_MANAGER_ENDPOINT
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.sensitive import MASK, masked
from rotation.watch import memory
from rotation.watch.config import WatchConfigError, parse_watch
from rotation.watch.metrics import FIELDS
from rotation.watch.windows import parse_window

T = TypeVar("T")

RUNTIME = "python:3.13"
DESCRIPTION = "ncp-secret-rotator"
#: Secret Manager does not link these to a trigger (documented for DISABLE and REVOKE).
UNLINKABLE = frozenset({"DISABLE", "REVOKE", "DESTROYED"})


class DeployError(Exception):
    """A step that cannot go on: what the API answered (``status``, ``None`` when no answer
    came) and what to do. ``refused`` marks a check of ours, made before any request."""

    def __init__(self, step: str, status: int | None, hint: str, *, refused: bool = False) -> None:
        where = "" if refused else f" ({f'HTTP {status}' if status else 'no HTTP answer'})"
        super().__init__(f"step {step} failed{where}: {hint}")
        self.step = step
        self.status = status
        self.hint = hint
        self.refused = refused

    def adding(self, more: str) -> DeployError:
        """The same failure, its hint followed by ``more``."""
        return DeployError(self.step, self.status, f"{self.hint}; {more}", refused=self.refused)


def refused(step: str, hint: str) -> DeployError:
    return DeployError(step, None, hint, refused=True)


def hint_for(step: str, exc: NcpError, endpoint: str) -> DeployError:
    status = exc.status if isinstance(exc, ApiError) else None
    if isinstance(exc, AuthenticationFailed):
        hint = (
            "the gateway refused the key pair: check NCLOUD_ACCESS_KEY / NCLOUD_SECRET_KEY "
            "and the clock"
        )
    elif isinstance(exc, Forbidden):
        hint = (
            "the sub-account lacks a policy: it needs Cloud Functions and Secret Manager "
            "manager rights (NCP_SECRETMANAGER_MANAGER)"
        )
    elif isinstance(exc, NotFound) and exc.code == GATEWAY_NOT_FOUND:
        hint = (
            f"cannot read the current state: the API gateway at {endpoint} knows no such API "
            "path (404, code 300): check the endpoint, e.g. "
            f"{CLOUD_FUNCTIONS_ENDPOINT} or {SECRET_MANAGER_ENDPOINT}"
        )
    elif isinstance(exc, NotFound) and step == "secret":
        hint = (
            f"no such secret behind {endpoint}: check the id or name; a secret made on a "
            f"global KMS key lives behind {hosts.GLOBAL_ENDPOINT} (new secrets behind the "
            "region's host): set [ncloud] secret_manager_endpoint to the host that holds it"
        )
    elif isinstance(exc, NotFound):
        hint = f"not found ({exc.details or exc.message}): check the names and {endpoint}"
    elif isinstance(exc, (RetryableApiError, DeadlineExceeded)):
        hint = "the API is busy or failing; run the deployment again (repeating it is safe)"
    elif isinstance(exc, TransportError):
        hint = f"cannot reach {endpoint}: check the endpoint and the network"
    elif isinstance(exc, ApiError):
        code = " ".join(part for part in (exc.code, exc.message) if part)
        hint = f"the service refused it: {exc.details or exc.message or exc.code}"
        if code and exc.details:
            hint = f"{hint} [{code}]"
    else:
        hint = str(exc)
    return DeployError(step, status, hint)


def plan_view(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as the plan prints them: secret-looking keys masked at every depth,
    and each notify webhook URL cut to its host (a Slack webhook URL is the credential)."""
    shown = masked(parameters)
    if "notify" in shown:
        shown["notify"] = _hosts_only(shown["notify"])
    return shown


def _hosts_only(item: Any) -> Any:
    if isinstance(item, str):
        try:
            parts = urlsplit(item.strip())
        except ValueError:
            return MASK
        return f"{parts.scheme}://{parts.hostname}/{MASK}" if parts.hostname else MASK
    if isinstance(item, Mapping):
        return {k: _hosts_only(v) if k in ("url", "webhooks") else v for k, v in item.items()}
    if isinstance(item, list):
        return [_hosts_only(v) for v in item]
    return item


@dataclass(frozen=True)
class Outcome:
    step: str
    subject: str
    change: str  # create | update | link | enable | unlink | unchanged

    @property
    def changed(self) -> bool:
        return self.change != "unchanged"


@dataclass(frozen=True)
class Member:
    """A configured secret, as Secret Manager describes it."""

    spec: SecretSpec
    detail: SecretDetail

    @property
    def id(self) -> str:
        return self.detail.secret_id

    @property
    def name(self) -> str:
        return self.detail.secret_name


def _names_action(listed: str, package: str, action: str) -> bool:
    """Whether a listed action name is ours: ``act``, ``pkg/act`` or ``/ns/pkg/act``."""
    full = action if package == "-" else f"{package}/{action}"
    return listed == full or listed.endswith(f"/{full}")


class Deployer:
    def __init__(
        self,
        config: DeployConfig,
        zip_bytes: bytes,
        *,
        functions: CloudFunctionsClient,
        secrets: SecretManagerClient,
        out: TextIO,
        dry_run: bool = False,
        prune: bool = False,
        unpause: bool = False,
        insight: CloudInsightClient | None = None,
    ) -> None:
        self.config = config
        self.zip_bytes = zip_bytes
        self.sha256 = hashlib.sha256(zip_bytes).hexdigest()
        self.functions = functions
        self.secrets = secrets
        self.out = out
        self.dry_run = dry_run
        self.prune = prune
        self.unpause = unpause
        self.outcomes: list[Outcome] = []
        #: Secrets whose auto rotation this run turned on.
        self.enabled: set[str] = set()
        #: Cloud Insight, for ``[watch.metrics]`` (made on first use when not given).
        self.insight = insight
        self._windowed_before: set[str] | None = None

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, step: str, endpoint: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except NcpError as exc:
            raise hint_for(step, exc, endpoint) from None

    def _fn(self, step: str, fn: Callable[[], T]) -> T:
        return self._call(step, self.config.cloud_functions_endpoint, fn)

    def _sm(self, step: str, fn: Callable[[], T]) -> T:
        return self._call(step, self.config.secret_manager_endpoint, fn)

    def _record(self, step: str, subject: str, change: str, detail: str = "") -> None:
        self.outcomes.append(Outcome(step, subject, change))
        verb = change if not self.dry_run or change == "unchanged" else f"would {change}"
        self.out.write(f"  {step:<9} {subject:<40} {verb}{f'  ({detail})' if detail else ''}\n")

    # -- the desired state --------------------------------------------------------------

    def action_parameters(
        self, members: Sequence[Member], kept: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The shared parameters, the endpoint and key pair, and under ``bySecretId`` each
        configured secret's own ``target``/``policy`` (plus the entries of secrets kept
        linked without being configured, so they go on rotating as before)."""
        c = self.config
        params: dict[str, Any] = {
            **c.ca_files.rewrite(c.parameters),
            "secretManagerEndpoint": c.secret_manager_endpoint,
            "accessKey": c.action_credentials.access_key,
            "secretKey": c.action_credentials.secret_key,
        }
        own = dict(kept)
        own.update(
            {
                m.id: c.ca_files.rewrite(m.spec.own_parameters())
                for m in members
                if m.spec.own_parameters()
            }
        )
        if own:
            params[BY_SECRET_ID] = dict(sorted(own.items()))
        return params

    def action_body(
        self, parameters: Mapping[str, Any], *, main: str = "main", timeout_ms: int | None = None
    ) -> dict[str, Any]:
        c = self.config
        return {
            "description": f"{DESCRIPTION} sha256:{self.sha256}",
            "parameters": dict(parameters),
            "limits": {"timeout": timeout_ms or c.timeout_ms, "memory": c.memory_mb},
            "exec": {"kind": RUNTIME, "binary": True, "main": main},
            "vpc": [{"vpcNo": c.vpc_no, "subnetNo": c.subnet_no}],
        }

    @staticmethod
    def _same_action(existing: FunctionAction, wanted: Mapping[str, Any]) -> bool:
        return (
            existing.description == wanted["description"]
            and dict(existing.parameters) == wanted["parameters"]
            and existing.timeout_ms == wanted["limits"]["timeout"]
            and existing.memory_mb == wanted["limits"]["memory"]
            and [v.to_api() for v in existing.vpc] == wanted["vpc"]
            and existing.exec.kind == RUNTIME
            and existing.exec.main == wanted["exec"]["main"]
        )

    # -- the steps -----------------------------------------------------------------------

    def run(self) -> list[Outcome]:
        c = self.config
        self.out.write(
            f"{'plan (dry run, nothing is changed)' if self.dry_run else 'deploying'}:\n"
        )
        size = f"{len(self.zip_bytes) / 1_048_576:.1f} MB"
        self.out.write(f"  {'package':<9} {c.zip_path!s:<40} sha256 {self.sha256} {size}\n")
        for packed in c.ca_files.files:
            self.out.write(f"  {'ca file':<9} {packed.path:<40} packed as {packed.entry}\n")
        members = self.fleet()
        state = self._sm("state", self._find_trigger)
        self.check_links(members, state)
        others = self.others(members, state)
        self.action(members, others)
        self.trigger(members, state, others)
        try:
            self.link(state)
            trigger_id = self.trigger_id(state)
            for member in members:
                self.rotation(member, trigger_id)
        except DeployError as exc:
            raise self._left_off(exc, members) from None
        if c.watch is not None:
            self.watch(c.watch, members)
        if not any(o.changed for o in self.outcomes):
            self.out.write("nothing to change: the deployment is up to date\n")
        elif self.dry_run:
            self.out.write("dry run: run again without --dry-run to apply\n")
        else:
            self.out.write("done\n")
        return self.outcomes

    def fleet(self) -> list[Member]:
        """Every configured secret's detail; names are resolved with one listing."""
        c = self.config
        ids: dict[str, str] = {}
        if any(spec.name for spec in c.secrets):
            summaries = self._sm("secret", lambda: list(self.secrets.iter_secrets()))
            ids = {s.secret_name: s.secret_id for s in summaries}
        members: list[Member] = []
        seen: dict[str, str] = {}
        for spec in c.secrets:
            secret_id = ids.get(spec.name) if spec.name else spec.id
            if secret_id is None:
                raise refused(
                    "secret", f"no secret named {spec.name!r} at {c.secret_manager_endpoint}"
                )
            if secret_id in seen:
                raise refused("secret", f"{spec.label} and {seen[secret_id]} are the same secret")
            seen[secret_id] = spec.label
            detail = self._sm("secret", functools.partial(self.secrets.get_secret, secret_id))
            status = str(detail.status)
            if status in UNLINKABLE:
                raise refused(
                    "secret",
                    f"secret {detail.secret_name!r} is {status}: Secret Manager links only "
                    "enabled secrets to a trigger; enable it or leave it out",
                )
            member = Member(spec, detail)
            self.check_parameters(member)
            members.append(member)
        return members

    def check_parameters(self, member: Member) -> None:
        """The action's parameters for this secret, checked by the handler's own code
        (deploy/validate.py) before anything is written; bad ones raise ConfigError."""
        c = self.config
        chain = self._sm("check", functools.partial(self.secrets.get_secret_values, member.id))
        self._register(chain)
        check_parameters(
            c.ca_files.localized(effective_parameters(c.parameters, member.spec)),
            secret_id=member.id,
            label=member.spec.label,
            chain=chain,
            read_secret=self._read_other,
            credentials=c.action_credentials,
            endpoint=c.secret_manager_endpoint,
        )

    @staticmethod
    def _register(chain: SecretChain) -> None:
        for value in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(value, chain.rotation_targets)

    def _read_other(self, secret_id: str) -> SecretValue:
        """Another secret's active value (a target's adminSecretId), as the action reads it."""
        chain = self._sm("check", functools.partial(self.secrets.get_secret_values, secret_id))
        self._register(chain)
        if chain.active is None:
            raise refused("check", "the admin secret a target names has no active value")
        return chain.active

    def _find_trigger(self) -> Trigger | None:
        name = self.config.trigger
        return next((t for t in self.secrets.list_triggers() if t.name == name), None)

    def check_links(self, members: Sequence[Member], state: Trigger | None) -> None:
        """A secret has at most one trigger (documented): say so before writing anything."""
        for m in members:
            linked = m.detail.trigger
            if linked is None or linked.name == self.config.trigger:
                continue
            if state is None or linked.id != state.id:
                raise refused(
                    "trigger",
                    f"secret {m.name!r} is linked to another trigger already "
                    f"({linked.name or linked.id}); a secret has at most one: unlink it there "
                    "first (Delete Rotation Trigger) or leave it out",
                )

    def others(self, members: Sequence[Member], state: Trigger | None) -> list[SecretDetail]:
        """Secrets the trigger serves that the configuration does not name."""
        if state is None:
            return []
        configured = {m.id for m in members}
        extra = [sid for sid in state.linked_secrets if sid not in configured]
        return [self._sm("secret", functools.partial(self.secrets.get_secret, s)) for s in extra]

    def action(self, members: Sequence[Member], others: Sequence[SecretDetail]) -> None:
        c = self.config
        existing = self._fn("action", lambda: self.functions.get_action(c.package, c.action))
        kept: dict[str, Any] = {}
        if existing is not None and not self.prune:
            previous = existing.parameters.get(BY_SECRET_ID)
            if isinstance(previous, Mapping):
                kept = {o.secret_id: previous[o.secret_id] for o in others
                        if o.secret_id in previous}  # fmt: skip
        self._check_kept_ca_files(kept, others)
        wanted = self.action_body(self.action_parameters(members, kept))
        if existing is not None and self._same_action(existing, wanted):
            self._record("action", c.action_full_name, "unchanged", RUNTIME)
            return
        change = "create" if existing is None else "update"
        if self.dry_run:
            shown = json.dumps(plan_view(wanted["parameters"]), ensure_ascii=False, sort_keys=True)
            self._record("action", c.action_full_name, change, f"{RUNTIME}; parameters {shown}")
            return
        body = {
            **wanted,
            "exec": {**wanted["exec"], "code": base64.b64encode(self.zip_bytes).decode()},
        }
        self._fn("action", lambda: self.functions.put_action(c.package, c.action, body))
        self._record("action", c.action_full_name, change, RUNTIME)

    def _check_kept_ca_files(self, kept: Mapping[str, Any], others: Sequence[SecretDetail]) -> None:
        """A secret kept linked without being configured keeps its own parameters; a CA
        file they name (``certs/<sha256>.pem``) was packed by an earlier deployment and is
        not in this zip unless the configuration still names it: refused before any write,
        since its next rotation would fail."""
        packed = set(self.config.ca_files.entries)
        names = {o.secret_id: o.secret_name for o in others}
        for secret_id, own in kept.items():
            missing = sorted(entries_named(own) - packed)
            if missing:
                raise ConfigError(
                    f"secret {names.get(secret_id, secret_id)!r} stays linked with its own "
                    f"parameters (no [[secrets]] table names it), which name "
                    f"{', '.join(missing)}: a CA file packed by an earlier deployment that "
                    "this zip would not carry. Add its [[secrets]] table back, or --prune it"
                )

    def trigger(
        self, members: Sequence[Member], state: Trigger | None, others: Sequence[SecretDetail]
    ) -> None:
        c = self.config
        if state is None:
            existing = self._fn("trigger", lambda: self.functions.get_trigger(c.trigger))
            if existing is not None and existing.type not in (None, "secret_manager"):
                raise refused(
                    "trigger",
                    f"{c.trigger!r} exists with type {existing.type}: pick another name",
                )
            change = "create" if existing is None else "update"
        else:
            change = "update"
        kept = [] if self.prune else list(others)
        dropped = list(others) if self.prune else []
        for other in kept:
            self._record(
                "keep", other.secret_name, "unchanged", "linked, not configured; --prune unlinks"
            )
        wanted = [m.name for m in members] + [o.secret_name for o in kept]
        if (
            state is not None
            and not dropped
            and {m.id for m in members} <= set(state.linked_secrets)
        ):
            self._record("trigger", c.trigger, "unchanged", f"{len(wanted)} secret(s) linked")
            return
        for other in dropped:
            self.unlink(other, state)
        if not self.dry_run:
            body = {
                "description": f"{DESCRIPTION}: rotates the secrets linked here",
                "secretManagerLink": [{"secretName": name} for name in sorted(wanted)],
            }
            self._fn(
                "trigger",
                lambda: self.functions.put_trigger(c.trigger, body, kind="secret_manager"),
            )
        self._record("trigger", c.trigger, change, f"links {', '.join(sorted(wanted))}")

    def unlink(self, secret: SecretDetail, state: Trigger | None) -> None:
        """``--prune``: a secret that rotates with this trigger cannot leave it (documented
        for Delete Rotation Trigger), so its auto rotation is turned off first."""
        rotating_here = (
            secret.auto_rotation
            and state is not None
            and secret.trigger is not None
            and secret.trigger.id == state.id
        )
        if rotating_here and not self.dry_run:
            self._sm(
                "unlink", functools.partial(self.secrets.disable_auto_rotation, secret.secret_id)
            )
        detail = "auto rotation off, dropped from the trigger" if rotating_here else "dropped"
        self._record("unlink", secret.secret_name, "unlink", detail)

    def link(self, state: Trigger | None) -> None:
        c = self.config
        linked = [a.name for a in state.actions] if state is not None else None
        self._link(c.trigger, c.action, f"{c.action_full_name} -> {c.trigger}", linked)

    def _link(self, trigger: str, action: str, subject: str, linked: list[str] | None) -> None:
        """Link ``action`` to ``trigger`` unless ``linked`` (the trigger's actions, ``None``
        when it does not exist yet) already names it; a repeated link (80901) counts."""
        c = self.config
        if linked is not None and any(_names_action(a, c.package, action) for a in linked):
            self._record("link", subject, "unchanged")
            return
        if self.dry_run:
            self._record("link", subject, "link")
            return
        try:
            self.functions.link_action(trigger, c.package, action)
        except NcpError as exc:
            if already_linked(exc):
                self._record("link", subject, "unchanged", "already linked: 80901 DUPLICATED_RULE")
                return
            raise hint_for("link", exc, c.cloud_functions_endpoint) from None
        self._record("link", subject, "link")

    def trigger_id(self, state: Trigger | None) -> str | None:
        """The trigger's Secret Manager id; ``None`` only in a dry run before it exists."""
        if state is not None:
            return state.id
        if self.dry_run:
            return None
        found = self._sm("lookup", self._find_trigger)
        if found is None:
            raise refused(
                "lookup",
                f"Secret Manager lists no trigger {self.config.trigger!r} yet; run again shortly",
            )
        return found.id

    def _left_off(self, exc: DeployError, members: Sequence[Member]) -> DeployError:
        """A failure after the trigger step linked new secrets: those not enabled yet are
        linked with auto rotation off, which the next run would read as paused by an
        operator and keep off. The failure says so."""
        if self.dry_run:
            return exc
        off = [m.name for m in members if m.detail.trigger is None and m.id not in self.enabled]
        if not off:
            return exc
        return exc.adding(
            f"{', '.join(off)} joined the trigger in this run but auto rotation is still off, "
            "which the next run reads as paused: run it again with --unpause"
        )

    @staticmethod
    def paused(detail: SecretDetail, trigger_id: str | None) -> bool:
        """Linked to this trigger with auto rotation off: what ``python -m rotation pause``
        (Disable Auto Rotation, which keeps the link) leaves."""
        return (
            trigger_id is not None
            and not detail.auto_rotation
            and detail.trigger is not None
            and detail.trigger.id == trigger_id
        )

    def rotation(self, member: Member, trigger_id: str | None) -> None:
        c = self.config
        period = c.period_of(member.spec)
        subject = f"{member.name} every {period} days"
        if member.spec.window is not None:
            self.windowed(member, trigger_id)
            return
        if trigger_id is None:
            self._record("rotation", subject, "enable", "trigger id known once it exists")
            return
        d = member.detail
        if (
            d.auto_rotation
            and d.trigger is not None
            and d.trigger.id == trigger_id
            and d.auto_rotation_period == period
        ):
            self._record("rotation", subject, "unchanged", f"trigger {trigger_id}")
            return
        paused = self.paused(d, trigger_id)
        if paused and member.id in self.windowed_before():
            paused = False  # off because it had a window, not because anyone paused it
            unwindowed = True
        else:
            unwindowed = False
        if paused and not self.unpause:
            self._record(
                "rotation",
                f"{member.name} paused",
                "unchanged",
                "paused by an operator: kept paused; --unpause to resume",
            )
            return
        if not self.dry_run:
            self._sm(
                "rotation",
                lambda: self.secrets.enable_auto_rotation(
                    member.id, rotation_period=period, trigger_id=trigger_id
                ),
            )
            self.enabled.add(member.id)
        detail = "was paused; resumed by --unpause" if paused else f"trigger {trigger_id}"
        if unwindowed:
            detail = "its window was removed: Secret Manager's schedule is back on"
        self._record("rotation", subject, "enable", detail)

    # -- windows and the watchdog ----------------------------------------------------------

    def windowed(self, member: Member, trigger_id: str | None) -> None:
        """A windowed secret: linked, auto rotation off on purpose (the watchdog starts its
        jobs inside the window), so turned off if it is on; never "paused"."""
        assert member.spec.window is not None
        window = parse_window(member.spec.window).describe()
        subject = f"{member.name} in window"
        d = member.detail
        on_here = (
            d.auto_rotation
            and trigger_id is not None
            and d.trigger is not None
            and d.trigger.id == trigger_id
        )
        if not on_here:
            self._record(
                "rotation", subject, "unchanged",
                f"{window}; auto rotation off on purpose: the watchdog rotates it",
            )  # fmt: skip
            return
        if not self.dry_run:
            self._sm("rotation", functools.partial(self.secrets.disable_auto_rotation, member.id))
        self._record(
            "rotation", subject, "update",
            f"{window}; Secret Manager's schedule off: the watchdog rotates it",
        )  # fmt: skip

    def windowed_before(self) -> set[str]:
        """The secrets the deployed watchdog rotates in a window (its ``watch``
        parameter), read once; empty when there is no watchdog."""
        if self._windowed_before is None:
            c = self.config
            existing = self._fn(
                "watch", lambda: self.functions.get_action(c.package, c.watch_action)
            )
            found: set[str] = set()
            raw = existing.parameters.get("watch") if existing is not None else None
            listed = raw.get("secrets") if isinstance(raw, Mapping) else None
            for item in listed if isinstance(listed, list) else []:
                if (
                    isinstance(item, Mapping)
                    and item.get("window")
                    and isinstance(item.get("id"), str)
                ):
                    found.add(item["id"])
            self._windowed_before = found
        return self._windowed_before

    def watch(self, w: WatchSpec, members: Sequence[Member]) -> None:
        state_id = self.memory(w)
        cw_key = self.schema(w)
        params = self.watch_parameters(w, members, state_id, cw_key)
        self.watch_action(w, params)
        self.cron(w)

    def memory(self, w: WatchSpec) -> str | None:
        """The watchdog's memory, a secret it owns (rotation/watch/memory.py)."""
        listed = self._sm("memory", lambda: list(self.secrets.iter_secrets()))
        found = [s for s in listed if s.secret_name == w.state_secret]
        if found:
            self._record("memory", w.state_secret, "unchanged", "the watchdog's memory")
            return found[0].secret_id
        if self.dry_run:
            self._record("memory", w.state_secret, "create", "the watchdog's memory")
            return None
        request = CreateSecretRequest(
            secret_name=w.state_secret,
            value=memory.initial_value(0),
            rotation_targets=(memory.KEY,),
            memo=memory.MEMO,
        )
        made = self._sm("memory", lambda: self.secrets.create_secret(request))
        self._record("memory", w.state_secret, "create", "the watchdog's memory")
        return made.secret_id

    def _insight(self, endpoint: str) -> CloudInsightClient:
        if self.insight is None:
            self.insight = CloudInsightClient(self.config.credentials, endpoint=endpoint)
        return self.insight

    def schema(self, w: WatchSpec) -> str | None:
        """``[watch.metrics]``: the custom schema, made when missing; its ``cw_key``."""
        if w.metrics is None:
            return None
        m = w.metrics
        insight = self._insight(m.endpoint)
        found = self._call("schema", m.endpoint, lambda: insight.get_schema(m.prod_name))
        if found is not None:
            have = {str(f.get("name")) for f in found.fields}
            lacking = sorted({str(f["name"]) for f in FIELDS} - have) if have else []
            if lacking:
                raise refused(
                    "schema",
                    f"{m.prod_name} exists without the fields {', '.join(lacking)}: set "
                    "[watch.metrics] prod_name to a new name (or delete the old schema)",
                )
            self._record("schema", m.prod_name, "unchanged", "Cloud Insight custom schema")
            return found.cw_key
        if self.dry_run:
            self._record("schema", m.prod_name, "create", f"{len(FIELDS)} fields")
            return None
        made = self._call("schema", m.endpoint, lambda: insight.create_schema(m.prod_name, FIELDS))
        self._record("schema", m.prod_name, "create", f"{len(FIELDS)} fields")
        return made.cw_key

    def watch_parameters(
        self, w: WatchSpec, members: Sequence[Member], state_id: str | None, cw_key: str | None
    ) -> dict[str, Any]:
        """The watchdog's parameters, checked by its own rule (rotation/watch/config.py)."""
        c = self.config
        secrets = []
        for m in members:
            item: dict[str, Any] = {"id": m.id, "name": m.name, "periodDays": c.period_of(m.spec)}
            if m.spec.window is not None:
                item["window"] = parse_window(m.spec.window).to_api()
            secrets.append(item)
        watch: dict[str, Any] = {
            "trigger": c.trigger,
            "action": c.action_full_name,
            "scope": w.scope,
            "secrets": secrets,
            "overdueAfterMinutes": w.overdue_after_minutes,
            "remindEveryMinutes": w.remind_every_minutes,
            "maxMessages": w.max_messages,
            "stateSecret": w.state_secret,
            "workers": w.workers,
        }
        if w.stale_after_minutes is not None:
            watch["staleAfterMinutes"] = w.stale_after_minutes
        if state_id is not None:
            watch["stateSecretId"] = state_id
        if w.metrics is not None:
            watch["metrics"] = {
                "cwKey": cw_key or "created-at-deploy",
                "endpoint": w.metrics.endpoint,
                "prodName": w.metrics.prod_name,
                "perSecret": w.metrics.per_secret,
            }
        try:
            parse_watch(watch)
        except WatchConfigError as exc:
            raise ConfigError(str(exc)) from None
        params: dict[str, Any] = {
            "secretManagerEndpoint": c.secret_manager_endpoint,
            "cloudFunctionsEndpoint": c.cloud_functions_endpoint,
            "accessKey": c.action_credentials.access_key,
            "secretKey": c.action_credentials.secret_key,
            "watch": watch,
        }
        if c.parameters.get("notify") is not None:
            params["notify"] = c.ca_files.rewrite(c.parameters["notify"])
        return params

    def watch_action(self, w: WatchSpec, params: Mapping[str, Any]) -> None:
        c = self.config
        existing = self._fn("watch", lambda: self.functions.get_action(c.package, w.action))
        wanted = self.action_body(params, main="watch", timeout_ms=w.timeout_ms)
        subject = w.action if c.package == "-" else f"{c.package}/{w.action}"
        fleet = f"{len(params['watch']['secrets'])} secret(s), scope {w.scope}"
        if existing is not None and self._same_action(existing, wanted):
            self._record("watch", subject, "unchanged", fleet)
            return
        change = "create" if existing is None else "update"
        if not self.dry_run:
            body = {
                **wanted,
                "exec": {**wanted["exec"], "code": base64.b64encode(self.zip_bytes).decode()},
            }
            self._fn("watch", lambda: self.functions.put_action(c.package, w.action, body))
        self._record("watch", subject, change, fleet)

    def cron(self, w: WatchSpec) -> None:
        """The cron trigger, and the watchdog action linked to it."""
        existing = self._fn("cron", lambda: self.functions.get_trigger(w.trigger))
        if existing is not None and existing.type not in (None, "cron"):
            raise refused(
                "cron", f"{w.trigger!r} exists with type {existing.type}: pick another name"
            )
        if existing is not None and existing.exec_options.get("cronOption") == w.schedule:
            self._record("cron", w.trigger, "unchanged", w.schedule)
        else:
            if not self.dry_run:
                body = {"description": f"{DESCRIPTION}: the watchdog", "cronOption": w.schedule}
                existing = self._fn(
                    "cron", lambda: self.functions.put_trigger(w.trigger, body, kind="cron")
                )
            self._record("cron", w.trigger, "create" if existing is None else "update",
                         w.schedule)  # fmt: skip
        linked = list(existing.actions) if existing is not None else None
        self._link(w.trigger, w.action, f"{w.action} -> {w.trigger}", linked)
