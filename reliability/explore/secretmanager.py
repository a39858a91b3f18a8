"""Secret Manager, in process: the emulator's own state and rules, reached without a socket.

The state and every rule are the emulator's (``emulator.secretmanager.models`` behind
``emulator.secretmanager.routes``, the gateway's signature check of
``emulator.gateway``), so a schedule meets exactly what the fault matrix meets over
HTTP. What is left out is the socket: :class:`InProcessWire` is a ``requests`` transport
adapter that hands each prepared request to the router in the calling thread. A loopback
emulator costs about a millisecond a call on two loaded cores; this costs a tenth of it,
which is what makes ten thousand schedules a few minutes.

One rule NCP does not document is made selectable per schedule: whether Fail Rotation
Job keeps the pending stage (the emulator's reading, A6) or discards it, the stricter
for the rotation (an earlier run's pending value on the target is then stored nowhere).

Every request goes through :meth:`World.sm_request` (``world``): the schedule's faults,
yield points and the invariant check after it live there, not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from emulator import gateway
from emulator.core import ServiceError, bad_request, invalid_status, not_found
from emulator.router import Request, Router
from emulator.secretmanager.models import SecretManagerBackend
from emulator.secretmanager.routes import secret_manager_router

if TYPE_CHECKING:
    from reliability.explore.world import World

#: The hosts a rotation may call (``rotation.ncp.hosts``): the secret lives behind the
#: regional one; the global one answers 404 for it, as NCP would for a secret it lacks.
REGIONAL = "https://ocapi-kr.ncloud.com"
REGIONAL_PREFIX = "/secretmanager"
GLOBAL = "https://secretmanager.apigw.ntruss.com"


class ExplorerBackend(SecretManagerBackend):
    """The emulator's backend, with Fail's effect on pending chosen per schedule."""

    def __init__(self, *, fail_discards_pending: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_discards_pending = fail_discards_pending

    def fail_job(self, secret_id: str, token: str) -> None:
        with self.lock:
            super().fail_job(secret_id, token)
            if self.fail_discards_pending:
                self.secrets[secret_id].chain["pending"] = None


@dataclass(frozen=True)
class Answer:
    """What the service answered one request: status, JSON payload, extra headers."""

    status: int
    payload: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Routed:
    """One request, routed and authenticated, ready to be applied (now or late)."""

    operation: str
    router: Router
    apply: Callable[[], Answer]


class BackendSwitch:
    """Stands for the backend of the schedule running now. The routers are built once
    per process (32 routes, each a compiled pattern: 2 ms a schedule otherwise) and
    reach the current schedule's backend through this."""

    def __init__(self) -> None:
        self.current: SecretManagerBackend | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)


_REGIONAL_BACKEND = BackendSwitch()
#: The global host holds none of this project's secrets: every lookup there is a 404.
_ROUTERS: dict[str, Router] = {}


def routers() -> dict[str, Router]:
    if not _ROUTERS:
        backend: Any = _REGIONAL_BACKEND
        _ROUTERS[REGIONAL] = secret_manager_router(backend, REGIONAL_PREFIX)
        _ROUTERS[GLOBAL] = secret_manager_router(SecretManagerBackend())
    return _ROUTERS


class Hosts:
    """The routers behind each host this schedule's rotation may call."""

    def __init__(self, backend: SecretManagerBackend, keys: Mapping[str, str]) -> None:
        self.backend = backend
        self.routers = routers()
        self.keys = dict(keys)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """The regional host serves this schedule's backend for the block."""
        saved = _REGIONAL_BACKEND.current
        _REGIONAL_BACKEND.current = self.backend
        try:
            yield
        finally:
            _REGIONAL_BACKEND.current = saved

    def route(self, prepared: requests.PreparedRequest, now_ms: int) -> Routed | Answer:
        """Route and check the signature (gateway order); an error is the answer."""
        url = prepared.url or ""
        parts = urlsplit(url)
        router = self.routers.get(f"{parts.scheme}://{parts.netloc}")
        if router is None:
            raise requests.ConnectionError("no such host in the explorer's network")
        method = prepared.method or "GET"
        found = router.match(method, parts.path) if router.owns(parts.path) else None
        if found is None:
            return error_answer(gateway.gateway_error(404, "URL not found."))
        route, params = found
        headers = {k.lower(): v for k, v in prepared.headers.items()}
        raw_target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            access_key = gateway.verify(method, raw_target, headers, self.keys, now_ms)
        except ServiceError as exc:
            return error_answer(exc)
        body = prepared.body or b""
        request = Request(
            method=method,
            path=parts.path,
            params=params,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            body=body.encode() if isinstance(body, str) else body,
            headers=headers,
            access_key=access_key,
        )

        def apply() -> Answer:
            try:
                data = route.handler(request)
            except ServiceError as exc:
                return error_answer(exc)
            return Answer(200, router.envelope(data), {})

        return Routed(route.operation, router, apply)


def error_answer(error: ServiceError) -> Answer:
    extra = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return Answer(error.status, error.envelope(), extra)


def injected(status: int, retry_after: float | None = None) -> Answer:
    """An error a fault answers: the service's own envelope where it has one for the
    status (400, 404, 422), the gateway's otherwise."""
    if status == 400:
        error = bad_request("injected fault")
    elif status == 404:
        error = not_found("injected fault")
    elif status == 422:
        error = invalid_status("injected fault")
    else:
        error = gateway.gateway_error(status, "injected fault")
    error.retry_after = retry_after
    return error_answer(error)


class InProcessWire(BaseAdapter):
    """A ``requests`` adapter that serves every request from the world, in this thread."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def send(  # noqa: PLR0917 - requests' own signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if self.world.baton.current is None:
            raise requests.ConnectionError("the explorer's network serves its invocations only")
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        answer = self.world.sm_request(request, read if read is not None else 60.0)
        return to_response(request, answer)

    def close(self) -> None:
        """Nothing to close: no sockets."""


def to_response(request: requests.PreparedRequest, answer: Answer) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response._content = json.dumps(answer.payload, ensure_ascii=False).encode("utf-8")
    response.headers = CaseInsensitiveDict(
        {"Content-Type": "application/json;charset=UTF-8", **answer.headers}
    )
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    response.reason = "OK" if answer.status < 400 else "Error"
    return response


@contextmanager
def wired(wire: InProcessWire) -> Iterator[None]:
    """Every ``requests.Session`` in the process sends through ``wire`` for the block: a
    request can never leave the process, whatever URL the rotation builds."""
    saved = requests.Session.get_adapter

    def get_adapter(self: requests.Session, url: str) -> BaseAdapter:
        return wire

    requests.Session.get_adapter = get_adapter  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.get_adapter = saved  # type: ignore[method-assign]
