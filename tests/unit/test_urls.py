"""One URL rule (rotation/urls.py), one table over every caller that accepts a URL.

Four copies of the rule had drifted: ``https://ex ample.com`` was refused by notify, the
settings and the CLI, and accepted by the webhook target, which then wrote a pending value
and ended TARGET_UNREACHABLE. Each row is a URL and what the two policies make of it:
API base URLs (the settings, the CLI, deploy, Cloud DB's endpoint: plain http to this
machine allowed, no query) and webhooks (the webhook target, notify: https only, a query
allowed). Every caller of a policy must refuse exactly the same rows, naming itself and
the cause, never quoting the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deploy.config import ConfigError
from deploy.config import _endpoint as deploy_endpoint
from rotation.cli.common import UsageError, checked_url
from rotation.codes import CodedError
from rotation.ncp.deadline import Deadline
from rotation.ncp.models import SecretValue
from rotation.ncp.signing import Credentials
from rotation.notify import parse_notify
from rotation.settings import Settings
from rotation.targets import TargetContext
from rotation.targets.clouddb import build_clouddb_postgresql
from rotation.targets.webhook import build_webhook
from rotation.urls import API_ENDPOINT, WEBHOOK, url_problem

PASSWORD = "planted-url-pw-9876"
HMAC_KEY = "unit-test-hmac-key-0123456789"
GOOD_HOOK = "https://hooks.example.com/test"

#: (url, what an API endpoint's callers say, what a webhook's callers say): a word the
#: refusal must contain, or None when the URL is accepted.
ROWS: list[tuple[str, str | None, str | None]] = [
    ("https://sm.example.com/secretmanager", None, None),
    ("https://[::1]:8443/x", None, None),
    ("https://sm.example.com:443", None, None),
    ("https://ex ample.com/x", "spaces", "spaces"),
    ("https://sm.example.com/a\tb", "control characters", "control characters"),
    (f"https://ops:{PASSWORD}@sm.example.com", "user:password@", "user:password@"),
    ("https://ops@sm.example.com", "user:password@", "user:password@"),
    ("https://sm.example.com:99999", "port", "port"),
    ("https://sm.example.com:0", "port", "port"),
    ("https://sm.example.com:https", "port", "port"),
    ("http://sm.example.com", "plain http", "plain http"),
    ("http://127.0.0.1:8080", None, "plain http"),
    ("http://127.0.0.1:99999", "port", "plain http"),
    ("ftp://sm.example.com", "https://", "https://"),
    ("file:///etc/passwd", "https://", "https://"),
    ("sm.example.com", "https://", "https://"),
    ("https:///secretmanager", "host name", "host name"),
    ("https://[::1/secretmanager", "not a valid URL", "not a valid URL"),
    ("https://sm!example.com", "host name", "host name"),
    ("https://sm..example.com", "host name", "host name"),
    ("https://sm.example.com/a?token=x", "query", None),
    ("https://sm.example.com/a#section", "fragment", "fragment"),
]


def _settings(url: str) -> None:
    Settings.load(
        {"secretId": "sid", "jobToken": "tok", "accessKey": "ak", "secretKey": "sk",
         "secretManagerEndpoint": url},
        {},
    )  # fmt: skip


def _cli(url: str) -> None:
    checked_url(url, "--endpoint")


def _deploy(url: str) -> None:
    deploy_endpoint(url, "secret_manager_endpoint", "--secret-manager-endpoint")


def _clouddb(url: str) -> None:
    ctx = TargetContext(
        secret_id="s1", deadline=Deadline.after(30), credentials=Credentials("ak", "sk")
    )
    config = {"cloudDbEndpoint": url, "cloudDbInstanceNo": "1234567", "host": "db.example.com",
              "ssl": "disable"}  # fmt: skip
    build_clouddb_postgresql(config, SecretValue({"username": "app", "password": "pw"}), ctx)


def _webhook(url: str) -> None:
    ctx = TargetContext(secret_id="s1", deadline=Deadline.after(30))
    config = {"kind": "webhook", "url": url, "testUrl": GOOD_HOOK, "hmacKey": HMAC_KEY}
    build_webhook(config, SecretValue({}), ctx).close()


def _notify(url: str) -> None:
    parse_notify(url)


#: caller -> (its policy, the name its messages carry, the errors it raises)
API_CALLERS: dict[str, tuple[Callable[[str], None], str, type[Exception]]] = {
    "settings": (_settings, "secretManagerEndpoint", CodedError),
    "cli": (_cli, "--endpoint", UsageError),
    "deploy": (_deploy, "secret_manager_endpoint", ConfigError),
    "clouddb": (_clouddb, "cloudDbEndpoint", CodedError),
}
HOOK_CALLERS: dict[str, tuple[Callable[[str], None], str, type[Exception]]] = {
    "webhook": (_webhook, "url", CodedError),
    "notify": (_notify, "url", CodedError),
}


def _cases() -> list[Any]:
    cases = []
    for url, api, hook in ROWS:
        for callers, want in ((API_CALLERS, api), (HOOK_CALLERS, hook)):
            for name in callers:
                cases.append(pytest.param(name, url, want, id=f"{name}-{url}"))
    return cases


@pytest.mark.parametrize(("caller", "url", "want"), _cases())
def test_every_caller_applies_the_one_rule(caller: str, url: str, want: str | None) -> None:
    check, name, error = {**API_CALLERS, **HOOK_CALLERS}[caller]
    if want is None:
        check(url)
        return
    with pytest.raises(error) as raised:
        check(url)
    message = str(raised.value)
    assert want in message and name in message, message
    assert PASSWORD not in message
    if isinstance(raised.value, CodedError):
        assert raised.value.code in ("INVALID_ENDPOINT", "INVALID_TARGET", "INVALID_NOTIFY")


@pytest.mark.parametrize(("url", "api", "hook"), ROWS)
def test_the_rule_itself(url: str, api: str | None, hook: str | None) -> None:
    for rule, want in ((API_ENDPOINT, api), (WEBHOOK, hook)):
        problem = url_problem(url, rule)
        assert (problem is None) == (want is None), (url, problem)
        if problem is not None:
            assert want is not None and want in problem.reason
            assert url not in problem.reason and PASSWORD not in problem.reason


@pytest.mark.parametrize("value", [None, 443, "", ["https://x.example.com"]])
def test_what_is_not_text_is_refused(value: object) -> None:
    problem = url_problem(value)
    assert problem is not None and problem.kind == "text"


def test_credentials_are_named_so_callers_can_add_their_hint() -> None:
    problem = url_problem(f"https://u:{PASSWORD}@x.example.com")
    assert problem is not None and problem.kind == "credentials"
    with pytest.raises(UsageError, match="NCLOUD_ACCESS_KEY"):
        checked_url(f"https://u:{PASSWORD}@x.example.com", "--endpoint")
    with pytest.raises(CodedError, match="HMAC signature"):
        _webhook(f"https://u:{PASSWORD}@x.example.com")
