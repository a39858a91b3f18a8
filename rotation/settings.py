"""One frozen object from the action's parameters and its environment.

Args first, the environment second, for every setting (ARCHITECTURE.md, "Settings").

The secret id and the job token come from wherever the runtime put them, and NCP does not
say where. Its API pages say both are "automatically injected ... visible as an environment
variable" without naming the variable
(https://api.ncloud-docs.com/docs/en/secretmanager-start-rotation-job); its Cloud Functions
glossary says a trigger's event data become the action's parameters
(https://guide.ncloud-docs.com/docs/ja/cloudfunctions-glossary.md); and the OpenWhisk
launcher NCP runs turns every activation-level key ``K`` into the variable ``__OW_`` + ``K``
upper-cased. So they are looked for, in this order, in:

1. the parameters (``secretId``, ``jobToken``, in any casing, with or without ``_``/``-``);
2. one level down in an event-like parameter (``event``, ``data``, ``body``, ``payload``,
   ``detail``, ``params``, ``parameters``, ``__ow_body``), an object or JSON text;
3. the activation's fields in the environment (``__OW_SECRETID``, ``__OW_SECRET_ID``, any
   casing), then the process's own variables: ``secretId``, ``SECRET_ID``, ``SECRETID``,
   ``secret_id``, ``NCP_SECRET_ID`` (and the same for the job token).

The secret id is the first one found; the job token is the one that came *with it*: from
the same place, or from another place naming the same secret id. A token is never paired
with a secret id from elsewhere: in a warm container that would act on the wrong job (a
parameter ``secretId`` beside an earlier activation's ``__OW_`` pair took that pair's
secret). When one is missing, the error lists the *names* of the parameters and
environment variables that were there, never a value: the first real run then tells the
operator where NCP put them.

One activation, one reading (the action-loop runtime serves many activations from one
process, and its launcher sets ``__OW_`` variables it never unsets): the handler reads the
environment through :func:`take_activation_environment`, which *takes* the id fields out
of ``os.environ`` as it copies them, so the next activation sees an ``__OW_`` id only if
the runtime set it for that activation. The other ``__OW_`` fields read here
(``__OW_ACTIVATION_ID``, ``__OW_DEADLINE``, ``__OW_ACTION_NAME``) are in every activation
the runtime runs, so the launcher overwrites them each time. Nothing read here is kept
between two calls of :meth:`Settings.load`.

Everything is validated here, before any API call: a missing id, a malformed endpoint or a
target that is not an object ends the invocation with a clear error and changes nothing.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Final

from rotation import codes, urls
from rotation.codes import CodedError
from rotation.fleet_params import FleetParamsError, json_object, parameters_for
from rotation.ids import MAX_SECRET_ID, job_token_problem, secret_id_problem
from rotation.ncp import hosts
from rotation.ncp.deadline import Deadline
from rotation.ncp.records import Record
from rotation.ncp.signing import Credentials

DEFAULT_TIMEOUT_SECONDS = 60.0  # Cloud Functions' default action timeout
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: Parameters one level down in which a trigger's event may carry the ids.
EVENT_KEYS = ("event", "data", "body", "payload", "detail", "params", "parameters", "__ow_body")
#: Environment names, preferred first; any other casing of these is read too.
SECRET_ID_ENV = (
    "secretId", "SECRET_ID", "SECRETID", "secret_id", "__OW_SECRETID", "__OW_SECRET_ID",
    "NCP_SECRET_ID",
)  # fmt: skip
JOB_TOKEN_ENV = (
    "jobToken", "JOB_TOKEN", "JOBTOKEN", "job_token", "__OW_JOBTOKEN", "__OW_JOB_TOKEN",
    "NCP_JOB_TOKEN",
)  # fmt: skip
#: The launcher's prefix for an activation's fields: ``__OW_`` + the field, upper-cased.
ACTIVATION_FIELD = "__OW_"
#: Environment names worth listing first when the ids are missing (a pattern compiled
#: only then: most activations never need it).
_RELEVANT_ENV = r"__OW_|SECRET|JOB|TOKEN|NCP|NCLOUD|TRIGGER|EVENT"
_MAX_NAMES = 60


class SettingsError(CodedError, ValueError):
    """Bad input. ``code`` is stable for callers (:mod:`rotation.codes`); the message says
    what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class Settings(Record):
    """One activation's settings, read once by :meth:`load` and never changed.

    A :class:`~rotation.ncp.records.Record` rather than a frozen dataclass: just as
    read-only, and its definition, on every cold start's path, costs ~0.01 ms (a frozen
    dataclass 0.7 on 3.13, a named tuple 0.4); nor a tuple, which the log redactor would
    walk into."""

    __slots__ = (
        "action_name", "activation_id", "credentials", "deadline", "endpoint", "endpoints",
        "ids_from", "job_token", "policy", "region", "secret_id", "target",
    )  # fmt: skip

    def __init__(
        self,
        *,
        secret_id: str,
        job_token: str,
        credentials: Credentials,
        endpoint: str,
        deadline: Deadline,
        target: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        activation_id: str | None = None,
        action_name: str | None = None,
        region: str = hosts.DEFAULT_REGION,
        endpoints: tuple[str, ...] = (),
        ids_from: str = "",
    ) -> None:
        self.secret_id: Final = secret_id
        self.job_token: Final = job_token
        self.credentials: Final = credentials
        self.endpoint: Final = endpoint
        self.deadline: Final = deadline
        self.target: Final = target
        self.policy: Final = policy
        self.activation_id: Final = activation_id
        self.action_name: Final = action_name
        #: ``KR`` or ``JPN``: which regional host is the default.
        self.region: Final = region
        #: The hosts to try, ``endpoint`` first: one when configured, else regional then global.
        self.endpoints: Final = endpoints
        #: Where the secret id and the job token were found (names only), for the logs.
        self.ids_from: Final = ids_from

    def __repr__(self) -> str:  # the job token opens the job: never shown
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__ if k != "job_token")
        return f"Settings({shown})"

    @classmethod
    def load(
        cls,
        args: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        *,
        need_job: bool = True,
    ) -> Settings:
        """``need_job=False`` for a dry run (``dryRun: true``): it starts no job, so it
        needs no job token."""
        environ = os.environ if env is None else env
        if not isinstance(args, Mapping):
            raise SettingsError(codes.INVALID_INPUT, "the action parameters must be a JSON object")
        ids = find_ids(args, environ)
        if ids.secret_id is None:
            raise SettingsError(
                codes.MISSING_SECRET_ID,
                "no secret id: looked for secretId in the parameters, one level down in "
                f"{'/'.join(EVENT_KEYS)}, and in the environment "
                f"({', '.join(SECRET_ID_ENV)}, any casing). {present_names(args, environ)}",
            )
        secret_id, secret_id_from = ids.secret_id
        problem = secret_id_problem(secret_id)
        if problem is not None:
            if len(secret_id) <= MAX_SECRET_ID:
                problem += " (no '/', '.' or spaces: the id becomes part of the API path)"
            raise SettingsError(codes.INVALID_SECRET_ID, f"{secret_id_from}: {problem}")
        if ids.job_token is None and need_job:
            raise SettingsError(
                codes.MISSING_JOB_TOKEN,
                "no job token (Secret Manager injects it when it runs the rotation trigger): "
                f"looked for jobToken beside the secret id ({secret_id_from}) and in the "
                f"parameters, one level down in {'/'.join(EVENT_KEYS)}, and the environment "
                f"({', '.join(JOB_TOKEN_ENV)}, any casing). {ids.unpaired_note()}"
                f"{present_names(args, environ)}",
            )
        if ids.job_token is not None:
            problem = job_token_problem(ids.job_token[0])
            if problem is not None:
                raise SettingsError(codes.INVALID_JOB_TOKEN, f"{ids.job_token[1]}: {problem}")
        job_token = ids.job_token[0] if ids.job_token is not None else ""
        try:
            args = parameters_for(args, secret_id)  # one action serves a fleet of secrets
        except FleetParamsError as exc:
            raise SettingsError(exc.code, str(exc)) from None
        credentials = _credentials(args, environ)
        endpoint = _first(
            args, environ, "secretManagerEndpoint", ("NCLOUD_SECRET_MANAGER_ENDPOINT",)
        )
        try:
            region = hosts.region_code(_first(args, environ, "region", ("NCLOUD_REGION",)))
        except hosts.UnknownRegion as exc:
            raise SettingsError(codes.INVALID_REGION, str(exc)) from None
        endpoints = tuple(_endpoint(e) for e in hosts.candidates(region, endpoint))
        return cls(
            secret_id=secret_id,
            job_token=job_token,
            credentials=credentials,
            endpoint=endpoints[0],
            region=region,
            endpoints=endpoints,
            ids_from=ids.where,
            deadline=_deadline(args, environ),
            target=_object(args.get("target"), "target", codes.INVALID_TARGET),
            policy=_object(args.get("policy"), "policy", codes.INVALID_POLICY),
            activation_id=environ.get("__OW_ACTIVATION_ID") or None,
            action_name=environ.get("__OW_ACTION_NAME") or None,
        )


class FoundIds:
    """The ids and where each came from (``(value, place)``), ``None`` when not found, and
    the places of job tokens left unused because no matching secret id came with them.

    A plain class, not a dataclass: it is built once per activation and its definition is
    on the cold start's path (a frozen dataclass costs a millisecond to define)."""

    __slots__ = ("job_token", "secret_id", "unpaired_tokens")

    def __init__(
        self,
        secret_id: tuple[str, str] | None = None,
        job_token: tuple[str, str] | None = None,
        unpaired_tokens: tuple[str, ...] = (),
    ) -> None:
        self.secret_id = secret_id
        self.job_token = job_token
        self.unpaired_tokens = unpaired_tokens

    def __repr__(self) -> str:  # the token is a credential: places only
        return f"FoundIds(where={self.where!r}, unpaired_tokens={self.unpaired_tokens!r})"

    @property
    def where(self) -> str:
        places = [found[1] for found in (self.secret_id, self.job_token) if found]
        return " + ".join(dict.fromkeys(places))

    def unpaired_note(self) -> str:
        """Why a job token that *was* found is not used (names only), or ``""``."""
        if not self.unpaired_tokens:
            return ""
        return (
            f"A job token was found ({', '.join(self.unpaired_tokens)}) but not beside this "
            "secret id: a token is only used with the secret id it came with. "
        )


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_SECRET_ID_KEYS = frozenset(_norm(n) for n in SECRET_ID_ENV)
_JOB_TOKEN_KEYS = frozenset(_norm(n) for n in JOB_TOKEN_ENV)


def is_activation_id_field(name: str) -> bool:
    """``__OW_SECRETID``, ``__OW_JOB_TOKEN``, ...: an id the runtime sets per activation."""
    return name.upper().startswith(ACTIVATION_FIELD) and (
        _norm(name) in _SECRET_ID_KEYS or _norm(name) in _JOB_TOKEN_KEYS
    )


def take_activation_environment(
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """This activation's environment: a copy of ``environ`` (``os.environ``), with the id
    fields the runtime set for it (:func:`is_activation_id_field`) *taken out* of
    ``environ``.

    Why taking is safe and enough: the launcher sets an activation's fields just before it
    calls ``main``, one activation at a time, and never unsets them; only the handler reads
    them, once, at the start. Taken out, a field present at the next activation's start was
    set for that activation; left in, an activation without ids would run an earlier one's
    job. The process's own variables (``SECRET_ID``, keys, endpoints) are configuration,
    the same for every activation, and stay.
    """
    environ = os.environ if environ is None else environ
    snapshot = dict(environ)
    for name in [n for n in snapshot if is_activation_id_field(n)]:
        environ.pop(name, None)
    return snapshot


def _event(value: object) -> Mapping[str, Any] | None:
    """An event-like parameter: an object, or JSON text of one."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


_ARG_NAMES = (("secretId",), ("jobToken",))
_ENV_NAMES = (SECRET_ID_ENV, JOB_TOKEN_ENV)


def _places(
    args: Mapping[str, Any], env: Mapping[str, str]
) -> Iterator[tuple[str, Mapping[str, Any], tuple[tuple[str, ...], tuple[str, ...]]]]:
    """``(place, mapping, (secret id names, job token names) preferred first)``, in the
    order they are searched. The environment is two places: the activation's ``__OW_``
    fields, then the process's own variables, so a pair never spans the two."""
    yield "parameters", args, _ARG_NAMES
    for key in EVENT_KEYS:
        nested = _event(args.get(key))
        if nested is not None:
            yield f"parameters.{key}", nested, _ARG_NAMES
    fields = {k: v for k, v in env.items() if k.upper().startswith(ACTIVATION_FIELD)}
    yield "environment", fields, _ENV_NAMES
    yield "environment", {k: v for k, v in env.items() if k not in fields}, _ENV_NAMES


def _lookup(
    place: str, data: Mapping[str, Any], keys: frozenset[str], preferred: tuple[str, ...], code: str
) -> tuple[str, str] | None:
    """The value of the first matching name in ``data``: ``preferred`` order, then any casing."""
    names = [n for n in preferred if n in data]
    names += sorted(k for k in data if isinstance(k, str) and _norm(k) in keys and k not in names)
    for name in names:
        value = data[name]
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise SettingsError(code, f"{name} ({place}) must be a string")
        return value, f"{place} {name}" if place == "environment" else f"{place}.{name}"
    return None


def _pair(
    place: str, data: Mapping[str, Any], names: tuple[tuple[str, ...], tuple[str, ...]]
) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    return (
        _lookup(place, data, _SECRET_ID_KEYS, names[0], codes.INVALID_SECRET_ID),
        _lookup(place, data, _JOB_TOKEN_KEYS, names[1], codes.INVALID_JOB_TOKEN),
    )


def find_ids(args: Mapping[str, Any], env: Mapping[str, str]) -> FoundIds:
    """The first secret id found, and the job token that came with it (same place, or a
    later place naming the same secret id); never a token from beside another id or none.

    Up to the secret id's place, a value that is not text is an error; after it, places are
    only searched for a matching token, and what they hold otherwise does not matter."""
    secret: tuple[str, str] | None = None
    unpaired: list[str] = []
    for place, data, names in _places(args, env):
        if secret is None:
            secret, token = _pair(place, data, names)
            if secret is not None and token is not None:
                return FoundIds(secret, token, tuple(unpaired))
            if token is not None:
                unpaired.append(token[1])
            continue
        try:
            other, token = _pair(place, data, names)
        except SettingsError:
            continue
        if token is not None and other is not None and other[0] == secret[0]:
            return FoundIds(secret, token, tuple(unpaired))
        if token is not None:
            unpaired.append(token[1])
    return FoundIds(secret, None, tuple(unpaired))


def secret_id_hint(args: object, env: Mapping[str, str] | None = None) -> str | None:
    """The secret id for an error result, when the settings themselves could not load;
    ``None`` when there is none or it is not a valid id (a million characters, ``..``:
    bad input is refused, not echoed)."""
    if not isinstance(args, Mapping):
        return None
    try:
        found = find_ids(args, os.environ if env is None else env).secret_id
    except SettingsError:
        return None
    if found is None or secret_id_problem(found[0]) is not None:
        return None
    return found[0]


def _listing(names: list[str], what: str) -> str:
    if not names:
        return f"no {what}"
    shown = names[:_MAX_NAMES]
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    return f"{what}: {', '.join(shown)}{more}"


def present_names(args: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """What the runtime *did* pass, by name only: never a value."""
    params = [str(k) for k in args]
    for key in EVENT_KEYS:
        nested = _event(args.get(key))
        params += [f"{key}.{k}" for k in nested or ()]
    relevant = re.compile(_RELEVANT_ENV, re.IGNORECASE)
    env_names = sorted(env, key=lambda n: (not relevant.search(n), n))
    return (
        f"Present (names only): {_listing(sorted(params), 'parameters')}; "
        f"{_listing(env_names, 'environment variables')}."
    )


def _credentials(args: Mapping[str, Any], environ: Mapping[str, str]) -> Credentials:
    """The key pair: both as parameters, or both from the environment, never one of each."""
    given = [name for name in ("accessKey", "secretKey") if args.get(name)]
    if len(given) == 1:  # half a pair here, half there: never sign with a mixed pair
        missing = "secretKey" if given == ["accessKey"] else "accessKey"
        raise SettingsError(
            codes.MISSING_CREDENTIALS,
            f"{given[0]} is a parameter but {missing} is not: give both as parameters "
            "(or neither, and set NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY)",
        )
    access_key = _first(args, environ, "accessKey", ("NCLOUD_ACCESS_KEY",))
    secret_key = _first(args, environ, "secretKey", ("NCLOUD_SECRET_KEY",))
    if not access_key or not secret_key:
        raise SettingsError(
            codes.MISSING_CREDENTIALS,
            "no API credentials: pass accessKey and secretKey, or set NCLOUD_ACCESS_KEY "
            "and NCLOUD_SECRET_KEY",
        )
    for key, name in ((access_key, "accessKey"), (secret_key, "secretKey")):
        if key.strip() != key:  # a pasted key with a newline fails as a bad signature
            raise SettingsError(
                codes.INVALID_PARAMETER,
                f"{name} (or NCLOUD_{name[:-3].upper()}_KEY) has leading or trailing "
                "spaces or a line break: remove them",
            )
    return Credentials(access_key, secret_key)


def _first(
    args: Mapping[str, Any], env: Mapping[str, str], arg: str, names: tuple[str, ...]
) -> str | None:
    value = args.get(arg)
    if value is not None and not isinstance(value, str):
        raise SettingsError(codes.INVALID_PARAMETER, f"{arg} must be a string")
    if value:
        return value
    for name in names:
        if env.get(name):
            return env[name]
    return None


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` is refused as an NCP API base URL, or ``None`` when it is fine.

    One rule for every URL the project accepts (:mod:`rotation.urls`), with the API
    endpoints' policy: an absolute ``https://`` URL, plain ``http`` only to this machine
    (an emulator), no ``user:password@``, no query or fragment, a valid host and port, no
    spaces. The reason never quotes the URL: it may hold a password.
    """
    problem = urls.url_problem(url, urls.API_ENDPOINT)
    return None if problem is None else problem.reason


def _endpoint(url: str) -> str:
    problem = endpoint_problem(url)
    if problem is not None:
        raise SettingsError(
            codes.INVALID_ENDPOINT,
            f"secretManagerEndpoint (or NCLOUD_SECRET_MANAGER_ENDPOINT) {problem}, e.g. "
            f"{hosts.REGIONAL_ENDPOINTS['KR']} or {hosts.GLOBAL_ENDPOINT}",
        )
    return url.rstrip("/")


def _deadline(args: Mapping[str, Any], env: Mapping[str, str]) -> Deadline:
    raw = env.get("__OW_DEADLINE")
    if raw:
        try:
            return Deadline.at_epoch_ms(float(raw))
        except ValueError:
            raise SettingsError(
                codes.INVALID_DEADLINE, "__OW_DEADLINE must be epoch milliseconds"
            ) from None
    timeout: Any = args.get("timeoutSeconds", env.get("ROTATION_TIMEOUT_SECONDS"))
    if timeout is None:
        return Deadline.after(DEFAULT_TIMEOUT_SECONDS)
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(timeout, bool) or not 0 < seconds <= 3600:
        raise SettingsError(
            codes.INVALID_TIMEOUT, "timeoutSeconds must be a number of seconds, 0-3600"
        )
    return Deadline.after(seconds)


def _object(value: Any, name: str, code: str) -> Mapping[str, Any] | None:
    """An object parameter (or JSON text of one), as :func:`json_object` reads it."""
    try:
        return json_object(value, name, code)
    except FleetParamsError as exc:
        raise SettingsError(exc.code, str(exc)) from None
