"""Routing from a request line to an operation handler, for any emulated NCP API.

Routes are written as the docs write them (``/api/v1/secrets/{secretId}/values``); a
placeholder matches one path segment, or a fixed set of words when written
``{stage:previous|active|pending}``. Each route carries the operation name the client
uses for the same call, which is also the key fault injection and statistics use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from emulator.core import bad_request


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]
    access_key: str = ""

    def json(self) -> Mapping[str, Any]:
        """The body as a JSON object; a missing body is ``{}``, a malformed one is 400."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise bad_request("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise bad_request("the body must be a JSON object")
        return data

    def form(self) -> Mapping[str, str]:
        """An ``application/x-www-form-urlencoded`` body merged over the query string."""
        merged = dict(self.query)
        merged.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return merged


Handler = Callable[[Request], Any]


def _success(data: Any) -> Any:
    return {"code": "SUCCESS", "data": data}


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler


_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^}]+))?\}")


def compile_template(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        name, choices = m.group(1), m.group(2)
        out.append(f"(?P<{name}>{choices})" if choices else f"(?P<{name}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


@dataclass
class Router:
    """One API's routes under one path prefix (``/secretmanager`` on the regional host)."""

    prefix: str = ""
    envelope: Callable[[Any], Any] = _success
    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, template: str, operation: str, handler: Handler) -> None:
        self.routes.append(Route(method, template, compile_template(template), operation, handler))

    def owns(self, path: str) -> bool:
        return not self.prefix or path == self.prefix or path.startswith(self.prefix + "/")

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        local = path[len(self.prefix) :] if self.prefix else path
        for route in self.routes:
            if route.method != method:
                continue
            m = route.pattern.fullmatch(local)
            if m:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None
