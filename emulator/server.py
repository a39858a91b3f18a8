"""The wire: a real HTTP/1.1 server on 127.0.0.1 in front of the emulated services.

Each request goes through what the NCP gateway would do, in order: find the API by path
prefix and route (404 ``300`` otherwise), check signature v2 and the timestamp window
(401 ``200``), apply any injected fault, then call the service. HTTP/1.1 keep-alive is on,
so a client that reuses its connection can be seen doing so (``stats.connections``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emulator import gateway
from emulator.core import Answer, ServiceError
from emulator.faults import Fault, FaultPlan
from emulator.router import Request, Route, Router

#: Cloud Functions takes zips up to 38 MB, base64-encoded inside JSON: about 51 MB.
MAX_BODY_BYTES = 64 * 1024 * 1024
_DROPPED = object()  # the connection was closed on purpose; nothing to send


#: The newest requests kept in :attr:`Stats.requests`: a fleet benchmark sends hundreds of
#: thousands, and an emulator that runs for days must not grow with every one.
MAX_REQUEST_RECORDS = 200_000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    operation: str
    status: int  # 0 when the connection was dropped without an answer
    timestamp: str  # the signature timestamp header as sent
    #: Which TCP connection carried it (numbered from 1 in accept order), and when it
    #: arrived and was answered (``time.monotonic()``): how retries are spaced.
    connection: int = 0
    received: float = 0.0
    answered: float = 0.0


@dataclass
class Stats:
    """What crossed the wire: for tests (keep-alive, call counts) and the benchmarks.

    ``calls`` and ``connections`` count everything; ``requests`` keeps the newest
    :data:`MAX_REQUEST_RECORDS` only, so memory stays flat however long the emulator runs.
    """

    connections: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    requests: deque[RequestRecord] = field(
        default_factory=lambda: deque(maxlen=MAX_REQUEST_RECORDS)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        operation: str,
        status: int,
        timestamp: str = "",
        *,
        connection: int = 0,
        received: float = 0.0,
    ) -> None:
        answered = time.monotonic()
        record = RequestRecord(
            operation, status, timestamp, connection, received or answered, answered
        )
        with self.lock:
            self.calls[operation] += 1
            self.requests.append(record)

    def reset(self) -> None:
        with self.lock:
            self.connections = 0
            self.calls.clear()
            self.requests.clear()


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: The listen backlog. socketserver's default of 5 drops the SYNs of a fleet of actions
    #: that connect at once, and each dropped SYN costs its client a 1 s retransmission.
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        *,
        routers: list[Router],
        keys: Mapping[str, str],
        faults: FaultPlan,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(address, _Handler)
        self.routers = routers
        self.keys = keys
        self.faults = faults
        self.clock = clock
        self.stats = Stats()
        self.connection_ids = itertools.count(1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (after its own timeout) is normal here, not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayServer
    _timestamp = ""
    _operation = "unknown"
    _connection_id = 0
    _received = 0.0

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without NODELAY the second waits for the
        # client's delayed ACK (~40 ms a call), which would swamp every latency figure.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.stats.lock:
            self.server.stats.connections += 1
            self._connection_id = next(self.server.connection_ids)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry job tokens, and tests read their own output."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self._received = time.monotonic()
        self._timestamp = ""
        self._operation = "unknown"
        try:
            payload = self._handle()
        except ServiceError as exc:
            self._error(self._operation, exc)
            return
        except Exception:  # noqa: BLE001 - an emulator bug must still answer like a server
            traceback.print_exc(file=sys.stderr)
            self._error(self._operation, gateway.gateway_error(500, "unexpected emulator error"))
            return
        if isinstance(payload, Answer):
            self._send(self._operation, payload.status, payload.body, empty=payload.body is None)
        elif payload is not _DROPPED:
            self._send(self._operation, 200, payload)

    def _handle(self) -> Any:
        """Gateway order: size, route, signature, fault, service. Errors are raised."""
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise gateway.gateway_error(413, "The request body is too large.")
        body = self.rfile.read(length) if length else b""
        found = self._route(parts.path)
        if found is None:
            raise gateway.gateway_error(404, "URL not found.")
        router, route, params = found
        self._operation = route.operation
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._timestamp = headers.get("x-ncp-apigw-timestamp", "")
        now_ms = int(self.server.clock() * 1000)
        access_key = gateway.verify(self.command, self.path, headers, self.server.keys, now_ms)
        fault = self.server.faults.take(route.operation)
        if fault is not None and self._fault_before(fault):
            return _DROPPED
        request = Request(
            method=self.command,
            path=parts.path,
            params=params,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            body=body,
            headers=headers,
            access_key=access_key,
        )
        data = route.handler(request)
        if fault is not None and fault.lose_response:
            self._drop()
            return _DROPPED
        return router.envelope(data)

    def _route(self, path: str) -> tuple[Router, Route, dict[str, str]] | None:
        for router in self.server.routers:
            if router.owns(path):
                match = router.match(self.command, path)
                if match is not None:
                    return router, *match
        return None

    def _fault_before(self, fault: Fault) -> bool:
        """The part of a fault that comes before the service; True if it dropped the line."""
        if fault.hold:
            fault.hold_here()
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is not None:
            error = gateway.gateway_error(fault.status, "injected fault")
            error.retry_after = fault.retry_after
            raise error
        if fault.drop:
            self._drop()
            return True
        return False

    def _drop(self) -> None:
        self.server.stats.record(
            self._operation,
            0,
            self._timestamp,
            connection=self._connection_id,
            received=self._received,
        )
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, operation: str, error: ServiceError) -> None:
        retry_after = error.retry_after
        extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._send(operation, error.status, error.envelope(), extra)

    def _send(
        self,
        operation: str,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        *,
        empty: bool = False,
    ) -> None:
        body = b"" if empty else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.server.stats.record(
            operation,
            status,
            self._timestamp,
            connection=self._connection_id,
            received=self._received,
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
