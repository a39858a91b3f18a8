"""A fake credential service behind real TLS: the receiving end of the webhook target.

A ``ThreadingHTTPServer`` with a certificate from a throwaway ``trustme`` CA. It checks
every request's signature and timestamp the way ``rotation.targets.webhook`` tells
receivers to (with its own hmac code, not the target's), keeps the credentials it
currently accepts, and can be told to fail, stall or redirect the next request of an
action. Used by the webhook target's own tests and by the handler's end-to-end ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import trustme

QUERY_TOKEN = "querytoken-5e7a9c1b3d"
MAX_SKEW_MS = 5 * 60 * 1000


def expected_signature(key: str, stamp: str, body: bytes) -> str:
    """Written from the documented recipe, independently of rotation.targets.webhook.sign."""
    digest = hmac.new(key.encode(), f"{stamp}.{body.decode('utf-8')}".encode(), hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def payload(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class Plan:
    status: int
    delay: float = 0.0


@dataclass
class CredentialService:
    """State of the fake receiver, shared with its handler threads."""

    key: str
    accepted: dict[str, Any]
    received: list[Received] = field(default_factory=list)
    plans: dict[str, deque[Plan]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={QUERY_TOKEN}"

    def target(self, ca_file: str, **extra: Any) -> dict[str, Any]:
        """The webhook target's parameter for this receiver, as an operator writes it."""
        return {
            "kind": "webhook",
            "url": self.url("/hook"),
            "testUrl": self.url("/check"),
            "hmacKey": self.key,
            "caBundle": ca_file,
            **extra,
        }

    def answer_next(self, action: str, status: int, *, delay: float = 0.0) -> None:
        with self.lock:
            self.plans.setdefault(action, deque()).append(Plan(status, delay))

    def actions(self) -> list[str]:
        return [r.payload["action"] for r in self.received]

    def verified(self, headers: dict[str, str], body: bytes) -> bool:
        stamp = headers.get("X-Rotation-Timestamp", "")
        if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > MAX_SKEW_MS:
            return False
        return hmac.compare_digest(
            headers.get("X-Rotation-Signature", ""), expected_signature(self.key, stamp, body)
        )

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        valid = self.verified(headers, body)
        with self.lock:
            self.received.append(Received(path, headers, body, valid))
        if not valid:
            return 401, b'{"error":"bad signature"}'
        payload = json.loads(body)
        action, credentials = payload["action"], payload["credentials"]
        with self.lock:
            queue = self.plans.get(action)
            plan = queue.popleft() if queue else None
        if plan is not None:
            if plan.delay:
                self.release.wait(plan.delay)
            # Echo what was sent, like a careless receiver: must never reach an error.
            return plan.status, json.dumps({"echo": payload}).encode()
        with self.lock:
            if action in ("set", "rollback"):
                self.accepted = dict(credentials)
            elif action == "test" and credentials != self.accepted:
                return 401, json.dumps({"rejected": credentials}).encode()
        return 200, b'{"ok":true}'


class Handler(BaseHTTPRequestHandler):
    server: Server
    timeout = 5  # an idle or stuck client cannot hold a handler thread past teardown

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        status, answer = self.server.service.handle(self.path, dict(self.headers), body)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", self.server.service.url("/elsewhere"))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``service.received`` instead."""


class Server(ThreadingHTTPServer):
    # Join handler threads at server_close, so no socket outlives the test.
    daemon_threads = False

    def __init__(self, context: ssl.SSLContext, service: CredentialService) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context
        self.service = service

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the handler thread: a client that rejects our certificate
        # must not stall the accept loop.
        request.settimeout(5)
        with self.context.wrap_socket(request, server_side=True) as tls:
            super().finish_request(tls, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Expected: clients that refuse the certificate, or time out on a stalled answer.
        self.service.errors.append(type(sys.exc_info()[1]).__name__)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "webhook-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@contextmanager
def running(ca: trustme.CA, key: str, accepted: dict[str, Any]) -> Iterator[CredentialService]:
    """A receiver on 127.0.0.1 that accepts ``accepted`` until told otherwise."""
    with serving(ca, CredentialService(key=key, accepted=accepted)) as state:
        yield state


S = TypeVar("S", bound="Served")


class Served(Protocol):
    """What :func:`serving` needs of the state behind a server."""

    base: str
    release: threading.Event
    errors: list[str]

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]: ...


@contextmanager
def serving(ca: trustme.CA, state: S) -> Iterator[S]:
    """``state`` answering HTTPS on a free port of 127.0.0.1, with a certificate from
    ``ca``, until the block ends (held answers are released first)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = Server(context, state)  # type: ignore[arg-type]
    state.base = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
