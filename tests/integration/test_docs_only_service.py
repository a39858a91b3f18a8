"""The handler against a second, independent Secret Manager: only what the public docs say.

Our emulator makes many choices where the docs are silent; a handler that passed only
there could lean on them. This server shares no code with the emulator or the client,
checks signatures its own way, implements just the calls a store-only rotation needs, and
where the docs are silent it chooses *differently*: the phase stays NONE until Start
(not ROTATING from Execute), an absent stage is ``null`` in the chain but ``""`` in the
start answer, detail carries no ``lastRotationDate``, and Complete answers with no
``data`` key at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import handler

AK, SK = "docs-only-ak", "docs-only-secret-key-1"
SID = "a" * 64
TOKEN = "docs-only-job-token-1"
VALUE = {"username": "app", "password": "docs-initial-Pw-1", "region": "KR"}


class DocsOnlyState:
    def __init__(self) -> None:
        self.chain: dict[str, str | None] = {
            "previous": None, "active": json.dumps(VALUE), "pending": None,
        }  # fmt: skip
        self.phase = "NONE"
        self.status = "ENABLE"
        self.log: list[tuple[str, str, bool]] = []  # method, path, signature ok
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DocsOnlyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def signed(self) -> bool:
        ts = self.headers.get("x-ncp-apigw-timestamp", "")
        message = f"{self.command} {self.path}\n{ts}\n{AK}".encode()
        good = base64.b64encode(hmac.new(SK.encode(), message, hashlib.sha256).digest()).decode()
        return (
            self.headers.get("x-ncp-iam-access-key") == AK
            and ts.isdigit()
            and abs(time.time() * 1000 - int(ts)) < 300_000
            and hmac.compare_digest(good, self.headers.get("x-ncp-apigw-signature-v2", ""))
        )

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        ok = self.signed()
        with state.lock:
            state.log.append((self.command, self.path, ok))
        if not ok:
            self.reply(401, {"error": {"errorCode": "200", "message": "Authentication Failed"}})
            return
        path = self.path
        job = re.fullmatch(rf"/action/v1/secrets/{SID}/jobs/{TOKEN}/(\w+)", path)
        with state.lock:
            if self.command == "GET" and path == f"/api/v1/secrets/{SID}":
                self.reply(200, {"code": "SUCCESS", "data": {
                    "secretId": SID, "secretName": "docs-db", "secretStatus": state.status,
                    "secretType": "BASIC", "region": "KR", "autoRotationYN": "N",
                    "rotationPhase": state.phase,
                }})  # fmt: skip
            elif self.command == "GET" and path == f"/api/v1/secrets/{SID}/values":
                self.reply(200, {"code": "SUCCESS", "data": {
                    "decryptedSecretChain": state.chain, "rotationTargets": ["password"],
                }})  # fmt: skip
            elif self.command == "GET" and path == f"/api/v1/secrets/{SID}/pending":
                self.reply(200, {"code": "SUCCESS", "data": {"decryptedSecretValue": {
                    "value": state.chain["pending"], "valueStage": "PENDING",
                }}})  # fmt: skip
            elif job and self.command == "POST" and job.group(1) == "start":
                state.phase, state.status = "ROTATING", "ROTATING"
                chain = {k: v or "" for k, v in state.chain.items()}
                self.reply(200, {"code": "SUCCESS", "data": {
                    "decryptedSecretChain": chain, "rotationTargets": ["password"],
                }})  # fmt: skip
            elif job and self.command == "PUT" and job.group(1) == "pending":
                state.chain["pending"] = body["value"]
                self.reply(200, {"code": "SUCCESS", "data": {"pending": body["value"]}})
            elif job and self.command == "POST" and job.group(1) == "complete":
                state.chain = {
                    "previous": state.chain["active"], "active": state.chain["pending"],
                    "pending": None,
                }  # fmt: skip
                state.phase, state.status = "NONE", "ENABLE"
                self.reply(200, {"code": "SUCCESS"})
            elif job and self.command == "POST" and job.group(1) == "fail":
                state.phase, state.status = "ROTATION_FAILED", "ENABLE"
                self.reply(200, {"code": "SUCCESS", "data": None})
            else:
                self.reply(404, {"error": {"errorCode": "300", "message": "Not Found Exception"}})

    do_GET = do_POST = do_PUT = route


class DocsOnlyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = DocsOnlyState()


@pytest.fixture
def docs_only() -> Iterator[DocsOnlyServer]:
    server = DocsOnlyServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def test_store_only_rotation_against_a_docs_only_service(docs_only: DocsOnlyServer) -> None:
    state = docs_only.state
    result = handler.main(
        {
            "secretId": SID,
            "jobToken": TOKEN,
            "accessKey": AK,
            "secretKey": SK,
            "secretManagerEndpoint": f"http://127.0.0.1:{docs_only.server_address[1]}",
        }
    )
    assert result["ok"] is True, result
    assert result["outcome"] == "rotated"
    assert all(ok for _, _, ok in state.log), "every request must be correctly signed"
    job_calls = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in state.log if "/jobs/" in p]
    assert job_calls == [("POST", "start"), ("PUT", "pending"), ("POST", "complete")]
    assert state.phase == "NONE"
    active = json.loads(state.chain["active"] or "{}")
    assert active["password"] != VALUE["password"]
    assert {k: v for k, v in active.items() if k != "password"} == {
        "username": "app",
        "region": "KR",
    }
    assert json.loads(state.chain["previous"] or "{}") == VALUE
    text = json.dumps(result)
    assert VALUE["password"] not in text and active["password"] not in text
