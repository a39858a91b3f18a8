"""The one rule for every URL the project accepts: API endpoints, webhooks, alerts.

Four copies of this rule drifted apart (``https://ex ample.com`` was refused by the
settings, the CLI and the notifier and accepted by the webhook target, which then wrote a
pending value and ended TARGET_UNREACHABLE). Now every caller asks :func:`url_problem`
and gets the same refusals:

* not text, or empty;
* spaces or control characters anywhere;
* not a URL at all (an unclosed IPv6 bracket, say);
* ``user:password@`` (a URL is logged and shown in plans; keys have their own settings);
* a scheme other than ``https``, or no host; plain ``http`` only where the caller's
  :class:`UrlRule` allows it, and then only to this machine (an emulator);
* a host that is neither a host name (letters, digits, ``-``, ``_``, dots) nor an IP
  address;
* a port that is not 1 to 65535;
* a ``#fragment`` (never sent to the server: a mistake, or a token in the wrong place);
* a query string, unless the caller's rule allows one (a webhook URL may carry its token
  there; an API base URL never does).

What differs between callers is policy, and it is a parameter (:class:`UrlRule`), not a
copy of the rule. Reasons never quote the URL: it may hold a password or be the
credential itself (a Slack webhook URL). Callers prefix the setting's name.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

from rotation.ncp.records import Record

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: One DNS label: letters (any script: requests IDNA-encodes them), digits, ``-``, ``_``.
_LABEL = re.compile(r"\w(?:[\w-]{0,61}\w)?")
MAX_HOST_LENGTH = 253


class UrlRule(Record):
    """What one kind of URL may do beyond the common rule."""

    __slots__ = ("local_http", "query")

    def __init__(self, local_http: bool = False, query: bool = False) -> None:
        #: Plain ``http`` to this machine (127.0.0.1, localhost, ::1): an emulator's endpoint.
        self.local_http: Final = local_http
        #: A query string (a webhook's token may ride there; an API base URL has none).
        self.query: Final = query


#: An NCP API base URL (Secret Manager, Cloud DB, Cloud Functions): the settings, the CLI,
#: deploy. Plain http only to a local emulator; no query.
API_ENDPOINT = UrlRule(local_http=True, query=False)
#: A URL that receives credentials or alerts (the webhook target, notify): https only.
WEBHOOK = UrlRule(local_http=False, query=True)


class UrlProblem(Record):
    """Why a URL is refused: ``kind`` for callers that add a hint, ``reason`` to show."""

    __slots__ = ("kind", "reason")

    def __init__(self, kind: str, reason: str) -> None:
        self.kind: Final = kind
        self.reason: Final = reason

    def __str__(self) -> str:
        return self.reason


def _host_ok(parts: SplitResult, host: str) -> bool:
    if "[" in parts.netloc:  # an IPv6 literal, possibly with a zone (fe80::1%eth0)
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > MAX_HOST_LENGTH:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def _text_problem(url: object) -> UrlProblem | None:
    if not isinstance(url, str) or not url:
        return UrlProblem("text", "must be an https:// URL")
    if any(c.isspace() or not c.isprintable() for c in url):
        return UrlProblem("spaces", "must not contain spaces or control characters")
    return None


def _host_problem(parts: SplitResult, host: str | None) -> UrlProblem | None:
    if not host:
        return UrlProblem("host", "must be an absolute https:// URL with a host name")
    if not _host_ok(parts, host):
        return UrlProblem(
            "host", "has an invalid host name (letters, digits, '-', '.', or an IP address)"
        )
    return None


def _http_problem(host: str, rule: UrlRule) -> UrlProblem | None:
    if not rule.local_http:
        return UrlProblem(
            "http", "must be an https:// URL: plain http is refused (it would travel in clear)"
        )
    if host not in LOOPBACK_HOSTS:
        return UrlProblem(
            "http",
            "must use https: plain http is only allowed to this machine (127.0.0.1, "
            "localhost or ::1: an emulator)",
        )
    return None


def _where_problem(parts: SplitResult, rule: UrlRule) -> UrlProblem | None:
    """Scheme, credentials, host, port: where the request would go, and how."""
    host = parts.hostname
    if "@" in parts.netloc:
        return UrlProblem("credentials", "must not carry credentials (user:password@)")
    if parts.scheme not in ("https", "http"):
        return UrlProblem("scheme", "must be an absolute https:// URL")
    problem = _host_problem(parts, host)
    if problem is None and parts.scheme == "http":
        problem = _http_problem(host or "", rule)
    if problem is not None:
        return problem
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return UrlProblem("port", "has an invalid port (a port is 1 to 65535)")
    return None


def url_problem(url: object, rule: UrlRule = API_ENDPOINT) -> UrlProblem | None:
    """Why ``url`` is refused under ``rule``, or ``None`` when it is fine."""
    problem = _text_problem(url)
    if problem is not None or not isinstance(url, str):
        return problem
    try:
        parts = urlsplit(url)
        _ = parts.hostname
    except ValueError:
        return UrlProblem("syntax", "is not a valid URL")
    problem = _where_problem(parts, rule)
    if problem is not None:
        return problem
    if parts.fragment or url.endswith("#"):
        return UrlProblem("fragment", "must not have a #fragment")
    if (parts.query or "?" in url) and not rule.query:
        return UrlProblem("query", "must not have a query string")
    return None


def shown(url: str, *, path: bool = True) -> str:
    """``scheme://host[:port][/path]`` of an accepted URL: what logs and messages show
    (never user info, query or fragment, where tokens ride)."""
    parts = urlsplit(url)
    shown_path = (parts.path or "/") if path else ""
    return f"{parts.scheme}://{parts.netloc}{shown_path}"


__all__ = [
    "API_ENDPOINT",
    "LOOPBACK_HOSTS",
    "WEBHOOK",
    "UrlProblem",
    "UrlRule",
    "shown",
    "url_problem",
]
