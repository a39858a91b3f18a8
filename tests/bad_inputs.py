"""The bad-input corpus (issue 11, item 7): one table per entry point.

Each row is an input an operator, a console or a typo may really produce, and what must
come of it: a clear error that names the thing (the parameter, the option, the config key,
host and port), the exit code (2 for the CLIs unless the row says otherwise) or the
handler's ``ok: false`` with its code, nothing changed, nothing leaked, no traceback.
``tests/e2e/test_bad_input_corpus.py`` runs the tables against one shared emulator.

Placeholders, filled in by the runner: ``$SID`` (the case's secret id), ``$TMP`` (a
scratch directory), ``$BASE`` (the emulator's ``http://127.0.0.1:PORT``), ``$DEAD`` (a
local port nothing listens on), ``$BUSY`` (the emulator's own port), ``$AK`` / ``$SK`` (the
emulator's access key and secret key). A row's ``planted``
value is a secret hidden in the input (a password in a URL, a value given as a flag): it
must appear in no output, log or result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation import codes

#: In a handler row's ``params``: remove this parameter from the good ones.
DROP = "<drop>"
#: A row whose ``args`` replace the parameters whole (not a JSON object).
NOT_SET: Any = object()

STORE_ONLY = {"engine": "store-only", "username": "app", "password": "corpus-initial-Pw-1"}
POSTGRES = {
    "engine": "postgresql",
    "host": "127.0.0.1",
    "port": 5432,
    "username": "app",
    "password": "corpus-pg-Passw0rd-1",
}
GOOD_HMAC = "corpus-hmac-key-0123456789"
WEBHOOK = {
    "kind": "webhook",
    "url": "https://hooks.example.com/rotate",
    "testUrl": "https://hooks.example.com/test",
    "hmacKey": GOOD_HMAC,
}
CLOUDDB = {"kind": "ncp-clouddb-mysql", "cloudDbInstanceNo": "1234567", "host": "db.example.com"}

# Secrets planted in inputs: long enough for the leak search (tests/leaks.py).
URL_PASSWORD = "planted-Url-Passw0rd-1"
FLAG_VALUE = "planted-Flag-Value-Pw-2"
PARAM_PASSWORD = "planted-Param-Passw0rd-3"
HOOK_PASSWORD = "planted-Hook-Passw0rd-4"
FILE_SECRET_KEY = "planted-File-Secret-Key-5"
PLAN_HMAC = "planted-Plan-Hmac-Key-0123456"
PLAN_NOTIFY_KEY = "planted-Notify-Hmac-Key-0123456"


# -- the handler: handler.main(args) --------------------------------------------------------


@dataclass(frozen=True)
class HandlerCase:
    id: str
    #: Laid over the good parameters (endpoint, keys, the case's secretId and jobToken).
    params: Mapping[str, Any]
    code: str
    #: Words the error message must contain.
    names: tuple[str, ...]
    #: ``settings``: refused before any call. ``preflight``: the job is started and ended as
    #: failed (by design: the console shows it), the target and the values untouched.
    stage: str = "settings"
    value: Mapping[str, Any] = field(default_factory=lambda: dict(STORE_ONLY))
    #: Environment changes (``None`` unsets).
    env: Mapping[str, str | None] = field(default_factory=dict)
    planted: str | None = None
    #: Replaces the parameters whole (a list, a string, ``None``).
    args: Any = NOT_SET
    #: Why the row fails today although the product should pass it: a fix outside this
    #: corpus's files (the test is a strict xfail until it lands).
    gap: str | None = None


def _h(id: str, params: Mapping[str, Any], code: str, *names: str, **kw: Any) -> HandlerCase:
    return HandlerCase(id, params, code, names, **kw)


def _pf(id: str, params: Mapping[str, Any], code: str, *names: str, **kw: Any) -> HandlerCase:
    return HandlerCase(id, params, code, names, stage="preflight", **kw)


def _pg(id: str, target: Mapping[str, Any], *names: str, **kw: Any) -> HandlerCase:
    """A PostgreSQL secret whose ``target`` parameter is wrong."""
    return _pf(id, {"target": dict(target)}, codes.INVALID_TARGET, *names, value=POSTGRES, **kw)


# fmt: off
HANDLER: tuple[HandlerCase, ...] = (
    # the parameters themselves
    _h("args-list", {}, codes.INVALID_INPUT, "JSON object", args=[1, 2]),
    _h("args-text", {}, codes.INVALID_INPUT, "JSON object", args="secretId=abc"),
    _h("args-null", {}, codes.INVALID_INPUT, "JSON object", args=None),
    # ids
    _h("secret-id-space", {"secretId": "abc def"}, codes.INVALID_SECRET_ID, "secret id"),
    _h("secret-id-slash", {"secretId": "../etc/x"}, codes.INVALID_SECRET_ID, "'/'"),
    _h("secret-id-number", {"secretId": 12345}, codes.INVALID_SECRET_ID, "secretId"),
    _h("secret-id-missing", {"secretId": DROP}, codes.MISSING_SECRET_ID, "secretId"),
    _h("secret-id-nested-number", {"secretId": DROP, "jobToken": DROP,
       "event": json.dumps({"secretId": 7, "jobToken": "x"})},
       codes.INVALID_SECRET_ID, "secretId"),
    _h("job-token-list", {"jobToken": ["t"]}, codes.INVALID_JOB_TOKEN, "jobToken"),
    _h("job-token-missing", {"jobToken": DROP}, codes.MISSING_JOB_TOKEN, "jobToken"),
    # keys
    _h("access-key-number", {"accessKey": 42}, codes.INVALID_PARAMETER, "accessKey"),
    _h("access-key-spaces", {"accessKey": " $AK "}, codes.INVALID_PARAMETER, "accessKey",
       "spaces"),
    _h("secret-key-newline", {"secretKey": "$SK\n"}, codes.INVALID_PARAMETER, "secretKey",
       "spaces"),
    _h("credentials-missing", {"accessKey": DROP, "secretKey": DROP},
       codes.MISSING_CREDENTIALS, "accessKey"),
    # the Secret Manager endpoint
    _h("endpoint-credentials", {"secretManagerEndpoint": f"https://ops:{URL_PASSWORD}@sm.example.com"},
       codes.INVALID_ENDPOINT, "secretManagerEndpoint", "user:password", planted=URL_PASSWORD),
    _h("endpoint-remote-http", {"secretManagerEndpoint": "http://sm.example.com"},
       codes.INVALID_ENDPOINT, "plain http"),
    _h("endpoint-file", {"secretManagerEndpoint": "file:///etc/passwd"},
       codes.INVALID_ENDPOINT, "secretManagerEndpoint"),
    _h("endpoint-port-range", {"secretManagerEndpoint": "https://sm.example.com:99999"},
       codes.INVALID_ENDPOINT, "port"),
    _h("endpoint-bad-ipv6", {"secretManagerEndpoint": "https://[::1/secretmanager"},
       codes.INVALID_ENDPOINT, "secretManagerEndpoint"),
    _h("endpoint-host-space", {"secretManagerEndpoint": "https://sm example.com"},
       codes.INVALID_ENDPOINT, "secretManagerEndpoint"),
    _h("endpoint-number", {"secretManagerEndpoint": 8080}, codes.INVALID_PARAMETER,
       "secretManagerEndpoint"),
    _h("endpoint-env-credentials", {"secretManagerEndpoint": DROP}, codes.INVALID_ENDPOINT,
       "secretManagerEndpoint", planted=URL_PASSWORD,
       env={"NCLOUD_SECRET_MANAGER_ENDPOINT": f"https://u:{URL_PASSWORD}@sm.example.com"}),
    _h("endpoint-unreachable", {"secretManagerEndpoint": "http://127.0.0.1:$DEAD",
       "timeoutSeconds": 3}, codes.API_UNAVAILABLE, "127.0.0.1:$DEAD"),
    # other settings
    _h("region-unknown", {"region": "EU"}, codes.INVALID_REGION, "region"),
    _h("timeout-negative", {"timeoutSeconds": -1}, codes.INVALID_TIMEOUT, "timeoutSeconds"),
    _h("timeout-text", {"timeoutSeconds": "soon"}, codes.INVALID_TIMEOUT, "timeoutSeconds"),
    _h("timeout-bool", {"timeoutSeconds": True}, codes.INVALID_TIMEOUT, "timeoutSeconds"),
    _h("timeout-huge", {"timeoutSeconds": 1e9}, codes.INVALID_TIMEOUT, "timeoutSeconds"),
    _h("deadline-env-text", {}, codes.INVALID_DEADLINE, "__OW_DEADLINE",
       env={"__OW_DEADLINE": "tomorrow"}),
    _h("dry-run-text", {"dryRun": "yes"}, codes.INVALID_PARAMETER, "dryRun"),
    _h("dry-run-number", {"dryRun": 1}, codes.INVALID_PARAMETER, "dryRun"),
    # target and policy shapes
    _h("target-not-json", {"target": "{kind: postgresql"}, codes.INVALID_TARGET, "target"),
    _h("target-list", {"target": [1]}, codes.INVALID_TARGET, "target"),
    _h("policy-number", {"policy": 32}, codes.INVALID_POLICY, "policy"),
    # notify: not here. A bad notify setting no longer stops the action (issue 17): the
    # rotation runs and warns NOTIFY_INVALID, which tests/integration/test_notify.py
    # (NEVER_BLOCKS) checks for these same inputs; deploy still refuses them (DEPLOY below).
    # one action for a fleet: bySecretId
    _h("by-secret-id-text", {"bySecretId": "nope"}, codes.INVALID_PARAMETER, "bySecretId"),
    _h("by-secret-id-list", {"bySecretId": [1]}, codes.INVALID_PARAMETER, "bySecretId"),
    _h("by-secret-id-entry-text", {"bySecretId": {"$SID": "x"}}, codes.INVALID_PARAMETER,
       "bySecretId"),
    _h("by-secret-id-entry-target", {"bySecretId": {"$SID": {"target": [1]}}},
       codes.INVALID_TARGET, "target"),
    # the target's configuration (preflight: the job is failed, the target untouched)
    _pf("target-kind-unknown", {"target": {"kind": "oracle"}}, codes.UNKNOWN_TARGET_KIND,
        "oracle"),
    _pf("target-kind-number", {"target": {"kind": 5}}, codes.UNKNOWN_TARGET_KIND, "kind"),
    _pf("store-only-unknown-key", {"target": {"kind": "store-only", "hots": "db"}},
        codes.INVALID_TARGET, "hots"),
    _pg("pg-host-spaces", {"host": "db host.internal"}, "host"),
    _pg("pg-host-url", {"host": "postgres://db.internal"}, "host"),
    _pg("pg-host-slash", {"host": "db.internal/app"}, "host"),
    _pg("pg-host-empty", {"host": " "}, "host"),
    _pg("pg-port-range", {"port": 70000}, "port"),
    _pg("pg-port-zero", {"port": 0}, "port"),
    _pg("pg-port-fraction", {"port": 5432.5}, "port"),
    _pg("pg-port-text", {"port": "fivefour"}, "port"),
    _pg("pg-port-bool", {"port": True}, "port"),
    _pg("pg-ssl-unknown", {"ssl": "maybe"}, "ssl"),
    _pg("pg-strategy-unknown", {"strategy": "dual-password"}, "strategy"),
    _pg("pg-target-password", {"password": PARAM_PASSWORD}, "password", planted=PARAM_PASSWORD),
    _pg("pg-unknown-key", {"hostname": "db.internal"}, "hostname"),
    _pg("pg-alternating-without-admin", {"strategy": "alternating-users"}, "adminSecretId"),
    _pg("redis-db-index", {"kind": "redis", "dbname": "zero"}, "dbname"),
    # settings that cannot work, found when the target is built (issue 15): they used to
    # surface after Update Pending Stage, naming neither the setting nor the file
    _pg("pg-ca-file-missing", {"sslRootCert": "$TMP/no-such-ca.pem"}, "sslRootCert",
        "$TMP/no-such-ca.pem", "does not exist"),
    _pg("pg-ca-file-directory", {"sslRootCert": "$TMP"}, "sslRootCert", "directory"),
    _pg("pg-ca-file-not-pem", {"sslRootCert": "$TMP/action.zip"}, "sslRootCert",
        "$TMP/action.zip", "PEM"),
    _pg("redis-ca-file-missing", {"kind": "redis", "sslRootCert": "$TMP/no-such-ca.pem"},
        "sslRootCert", "$TMP/no-such-ca.pem"),
    _pg("redis-db-index-huge", {"kind": "redis", "dbname": "99999999999"}, "dbname"),
    _pg("pg-admin-secret-id-path", {"adminSecretId": "../other"}, "adminSecretId"),
    _pg("pg-dbname-control", {"dbname": "app\nname"}, "dbname"),
    _pg("pg-dbname-too-long", {"dbname": "d" * 64}, "dbname", "63-byte"),
    _pg("pg-host-surrogate", {"host": "db\udc80.internal"}, "host"),
    _pf("webhook-url-credentials", {"target": {**WEBHOOK,
        "url": f"https://u:{HOOK_PASSWORD}@hooks.example.com/rotate"}},
        codes.INVALID_TARGET, "url", "user:password", planted=HOOK_PASSWORD),
    _pf("webhook-url-http", {"target": {**WEBHOOK, "url": "http://hooks.example.com/rotate"}},
        codes.INVALID_TARGET, "https"),
    _pf("webhook-key-short", {"target": {**WEBHOOK, "hmacKey": "short"}}, codes.INVALID_TARGET,
        "signing key"),
    _pf("webhook-url-host-space", {"target": {**WEBHOOK, "url": "https://ex ample.com/rotate"}},
        codes.INVALID_TARGET, "url", "spaces"),
    _pf("webhook-url-port-range", {"target": {**WEBHOOK,
        "testUrl": "https://hooks.example.com:70000/test"}}, codes.INVALID_TARGET, "testUrl",
        "port"),
    _pf("webhook-url-bad-host", {"target": {**WEBHOOK, "url": "https://hooks!.example.com/r"}},
        codes.INVALID_TARGET, "url", "host"),
    _pf("webhook-key-env-name", {"target": {**{k: v for k, v in WEBHOOK.items() if k != "hmacKey"},
        "hmacKeyEnv": "NOT A NAME"}}, codes.INVALID_TARGET, "hmacKeyEnv"),
    _pf("webhook-ca-bundle-not-pem", {"target": {**WEBHOOK, "caBundle": "$TMP/action.zip"}},
        codes.INVALID_TARGET, "caBundle", "$TMP/action.zip"),
    _pf("webhook-unknown-key", {"target": {**WEBHOOK, "secret": "x"}}, codes.INVALID_TARGET,
        "secret"),
    _pf("clouddb-endpoint-file", {"target": {**CLOUDDB, "cloudDbEndpoint": "file:///etc/passwd"}},
        codes.INVALID_TARGET, "cloudDbEndpoint", value=POSTGRES),
    _pf("clouddb-endpoint-credentials", {"target": {**CLOUDDB,
        "cloudDbEndpoint": f"https://u:{URL_PASSWORD}@ncloud.apigw.example.com"}},
        codes.INVALID_TARGET, "cloudDbEndpoint", value=POSTGRES, planted=URL_PASSWORD),
    _pf("clouddb-endpoint-remote-http", {"target": {**CLOUDDB,
        "cloudDbEndpoint": "http://ncloud.apigw.example.com"}},
        codes.INVALID_TARGET, "cloudDbEndpoint", value=POSTGRES),
    _pf("clouddb-without-instance",
        {"target": {"kind": "ncp-clouddb-mysql", "host": "db.example.com"}},
        codes.INVALID_TARGET, "cloudDbInstanceNo", value=POSTGRES),
    _pf("clouddb-poll-negative", {"target": {**CLOUDDB, "pollSeconds": -1}}, codes.INVALID_TARGET,
        "pollSeconds", value=POSTGRES),
    _pf("clouddb-instance-not-a-number", {"target": {**CLOUDDB, "cloudDbInstanceNo": "12ab"}},
        codes.INVALID_TARGET, "cloudDbInstanceNo", value=POSTGRES),
    _pf("clouddb-instance-list", {"target": {**CLOUDDB, "cloudDbInstanceNo": [1234567]}},
        codes.INVALID_TARGET, "cloudDbInstanceNo", value=POSTGRES),
    _pf("clouddb-region-code", {"target": {**CLOUDDB, "regionCode": "K R"}},
        codes.INVALID_TARGET, "regionCode", value=POSTGRES),
    # the value policy
    _pf("policy-unknown-key", {"policy": {"lenght": 40}}, codes.INVALID_POLICY, "lenght"),
    _pf("policy-length-negative", {"policy": {"length": -5}}, codes.INVALID_POLICY, "length"),
    _pf("policy-length-text", {"policy": {"length": "forty"}}, codes.INVALID_POLICY, "length"),
    _pf("policy-generator-unknown", {"policy": {"generator": "quantum"}}, codes.INVALID_POLICY,
        "generator"),
    _pf("policy-key-not-a-target", {"policy": {"keys": {"username": {"length": 20}}}},
        codes.INVALID_POLICY, "username"),
    _pf("policy-key-unknown", {"policy": {"keys": {"apiToken": {"length": 20}}}},
        codes.INVALID_POLICY, "apiToken"),
    # the value: near Secret Manager's 10,000-byte limit, a new password no longer fits
    _pf("value-near-size-limit", {"policy": {"length": 64}}, codes.INVALID_POLICY, "10,000",
        value={**STORE_ONLY, "pad": "p" * 9_880}),
)
# fmt: on


# -- the CLI: python -m rotation ------------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    id: str
    argv: tuple[str, ...]
    #: Words stderr (or stdout, for ``check``'s report) must contain.
    names: tuple[str, ...]
    exit: int = 2
    stdin: bytes | None = None
    #: Files to write under ``$TMP`` first: name -> content.
    files: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, str | None] = field(default_factory=dict)
    planted: str | None = None
    #: Prepend ``--endpoint`` (the emulator); off for rows about the endpoint itself.
    endpoint: bool = True
    gap: str | None = None


def _c(id: str, argv: tuple[str, ...], *names: str, **kw: Any) -> CliCase:
    return CliCase(id, argv, names, **kw)


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


CREATE = ("secret", "create", "--name", "corpus2", "--targets", "password")
GOOD_VALUE = _json(STORE_ONLY)

# fmt: off
CLI: tuple[CliCase, ...] = (
    # usage
    _c("unknown-command", ("frobnicate",), "invalid choice"),
    _c("unknown-option", ("status", "--bogus"), "--bogus"),
    _c("unknown-subcommand", ("secret", "frob"), "invalid choice"),
    _c("missing-id", ("rotate",), "secret_id"),
    # a value given on the command line: refused, never repeated
    _c("value-flag", (*CREATE, "--value", json.dumps({"password": FLAG_VALUE})),
       "--value-file", planted=FLAG_VALUE),
    _c("value-flag-equals", ("secret", "update", "$SID", f"--value={FLAG_VALUE}"),
       "--value-file", planted=FLAG_VALUE),
    _c("password-flag", (*CREATE, "--password", FLAG_VALUE), "--value-file", planted=FLAG_VALUE),
    _c("value-as-stray-word", ("rotate", "$SID", FLAG_VALUE), "unexpected argument",
       planted=FLAG_VALUE),
    _c("value-as-id", ("secret", "show", json.dumps({"password": FLAG_VALUE})),
       "not a secret id", planted=FLAG_VALUE),
    _c("value-as-option-argument", ("rotate", "$SID", "--timeout", FLAG_VALUE), "--timeout",
       planted=FLAG_VALUE),
    # option ranges
    _c("rotate-timeout-negative", ("rotate", "$SID", "--timeout", "-1"), "--timeout"),
    _c("rotate-timeout-zero", ("rotate", "$SID", "--timeout", "0"), "--timeout"),
    _c("rotate-timeout-inf", ("rotate", "$SID", "--timeout", "inf"), "--timeout"),
    _c("rotate-timeout-nan", ("rotate", "$SID", "--timeout", "nan"), "--timeout"),
    _c("rotate-interval-zero", ("rotate", "$SID", "--interval", "0"), "--interval"),
    _c("retry-explain-wait-negative", ("retry", "$SID", "--explain-wait", "-3"), "--explain-wait"),
    _c("check-timeout-negative", ("check", "$SID", "--timeout", "-1"), "--timeout"),
    _c("resume-timeout-text", ("resume", "$SID", "--timeout", "soon"), "--timeout"),
    _c("unpause-period-zero", ("unpause", "$SID", "--period", "0"), "--period"),
    _c("unpause-period-huge", ("unpause", "$SID", "--period", "731"), "--period"),
    _c("unpause-period-text", ("unpause", "$SID", "--period", "monthly"), "--period"),
    _c("status-stale-negative", ("status", "--stale-after", "-5"), "--stale-after"),
    _c("history-limit-zero", ("history", "$SID", "--limit", "0"), "--limit"),
    _c("create-period-zero", (*CREATE, "--period", "0"), "--period", stdin=GOOD_VALUE),
    # ids
    _c("id-space", ("rotate", "abc def"), "not a secret id"),
    _c("id-slash", ("rotate", "../secrets"), "not a secret id"),
    _c("id-empty", ("cancel", ""), "not a secret id"),
    _c("id-unicode", ("pause", "sécret"), "not a secret id"),
    _c("id-in-status", ("status", "ok1", "a/b"), "not a secret id"),
    _c("id-in-invoke", ("invoke", "--event", "$TMP/event.json", "--secret-id", "a b"),
       "not a secret id", files={"event.json": b"{}"}),
    # ids that would change the API path, or that no secret can have (issue 15): they
    # ended "unexpected ValueError (a bug)" or went out and came back as an API 414
    _c("id-dot-dot", ("secret", "show", ".."), "not a secret id"),
    _c("id-dot", ("rotate", "."), "not a secret id"),
    _c("id-huge", ("status", "a" * 100_000), "not a secret id", "at most 128"),
    _c("resume-action-path", ("resume", "$SID", "--remote", "--action", "../x"), "--action",
       "not an action name"),
    _c("resume-action-three-parts", ("resume", "$SID", "--remote", "--action", "a/b/c"),
       "--action"),
    _c("update-deep-value", ("secret", "update", "$SID"), "32 levels",
       stdin=b'{"engine": "store-only", "password": "corpus-initial-Pw-1", "n": '
       + b"[" * 100 + b"]" * 100 + b"}"),
    _c("update-surrogate-value", ("secret", "update", "$SID"), "not valid Unicode",
       stdin=b'{"engine": "store-only", "password": "corpus-initial-Pw-1", "n": "\\ud800"}'),
    _c("params-ca-file-missing", ("check", "$SID", "--params", "$TMP/p.json"),
       "INVALID_TARGET", "sslRootCert", "/nonexistent/corpus-ca.pem", exit=1,
       files={"p.json": _json({"target": {"kind": "postgresql", "host": "127.0.0.1",
                                          "sslRootCert": "/nonexistent/corpus-ca.pem"}})}),
    # values on stdin or in a file
    _c("create-invalid-utf8", CREATE, "UTF-8", stdin=b'{"password": "corpus-\xff\xfe"}'),
    _c("update-invalid-utf8", ("secret", "update", "$SID"), "UTF-8",
       stdin=b'{"engine": "store-only", "password": "corpus-\xc3\x28"}'),
    _c("update-over-size-limit", ("secret", "update", "$SID"), "10,000 bytes",
       stdin=_json({**STORE_ONLY, "pad": "p" * 10_001})),
    _c("update-targets-differ", ("secret", "update", "$SID", "--targets", "username"),
       "rotation targets", stdin=GOOD_VALUE),
    _c("update-nested-value", ("secret", "update", "$SID"), "flat",
       stdin=_json({**STORE_ONLY, "db": {"port": 5432}})),
    _c("update-target-missing", ("secret", "update", "$SID"), "'password'",
       stdin=_json({"username": "app"})),
    _c("update-target-not-text", ("secret", "update", "$SID"), "'password'",
       stdin=_json({"username": "app", "password": 12345678})),
    _c("update-not-json", ("secret", "update", "$SID"), "JSON object", stdin=b"password=x"),
    _c("create-empty-stdin", CREATE, "empty", stdin=b""),
    _c("create-bad-name", ("secret", "create", "--name", "bad name", "--targets", "password"),
       "--name", stdin=GOOD_VALUE),
    _c("create-targets-space", ("secret", "create", "--name", "corpus3", "--targets",
       "pass word"), "--targets", stdin=GOOD_VALUE),
    _c("create-value-file-missing", (*CREATE, "--value-file", "$TMP/missing.json"),
       "--value-file"),
    _c("create-value-file-directory", (*CREATE, "--value-file", "$TMP"), "--value-file"),
    # files of action parameters and events
    _c("params-missing", ("check", "$SID", "--params", "$TMP/missing.json"), "--params"),
    _c("params-not-json", ("check", "$SID", "--params", "$TMP/p.json"), "JSON object",
       files={"p.json": b"{target: 1"}),
    _c("params-invalid-utf8", ("rollback", "$SID", "--params", "$TMP/p.json"), "--params",
       files={"p.json": b'{"target": "\xff"}'}),
    _c("params-with-keys", ("check", "$SID", "--params", "$TMP/p.json"), "must not set",
       files={"p.json": _json({"accessKey": "ak", "secretKey": FILE_SECRET_KEY})},
       planted=FILE_SECRET_KEY),
    _c("params-target-list", ("check", "$SID", "--params", "$TMP/p.json"), "target",
       files={"p.json": _json({"target": [1]})}),
    _c("params-target-host-spaces", ("check", "$SID", "--params", "$TMP/p.json"),
       "INVALID_TARGET", "host", exit=1,
       files={"p.json": _json({"target": {"kind": "postgresql", "host": "db host"}})}),
    _c("params-policy-not-a-target", ("check", "$SID", "--params", "$TMP/p.json"),
       "INVALID_POLICY", "username", exit=1,
       files={"p.json": _json({"policy": {"keys": {"username": {"length": 20}}}})}),
    _c("event-missing", ("invoke", "--event", "$TMP/missing.json"), "event"),
    _c("event-list", ("invoke", "--event", "$TMP/e.json"), "JSON object",
       files={"e.json": b"[1, 2]"}),
    _c("event-invalid-utf8", ("invoke", "--event", "$TMP/e.json"), "JSON object",
       files={"e.json": b"\xff\xfe{}"}),
    # endpoints
    _c("endpoint-file", ("--endpoint", "file:///etc/passwd", "secret", "list"), "--endpoint",
       endpoint=False),
    _c("endpoint-credentials", ("--endpoint", f"https://ops:{URL_PASSWORD}@sm.example.com",
       "secret", "list"), "credentials", endpoint=False, planted=URL_PASSWORD),
    _c("endpoint-env-credentials", ("secret", "list"), "credentials", endpoint=False,
       env={"NCLOUD_SECRET_MANAGER_ENDPOINT": f"https://u:{URL_PASSWORD}@sm.example.com"},
       planted=URL_PASSWORD),
    _c("endpoint-remote-http", ("--endpoint", "http://sm.example.com", "secret", "list"),
       "plain http", endpoint=False),
    _c("endpoint-port-range", ("--endpoint", "https://sm.example.com:99999", "secret", "list"),
       "port", endpoint=False),
    _c("endpoint-bad-ipv6", ("--endpoint", "https://[::1", "secret", "list"), "--endpoint",
       endpoint=False),
    _c("endpoint-host-space", ("--endpoint", "https://sm example.com", "secret", "list"),
       "--endpoint", endpoint=False),
    _c("endpoint-bad-host", ("--endpoint", "https://sm!example.com", "secret", "list"),
       "--endpoint", "host", endpoint=False),
    _c("functions-endpoint-fragment", ("--functions-endpoint", "https://cf.example.com/#x",
       "status"), "--functions-endpoint", "fragment"),
    _c("functions-endpoint-file", ("--functions-endpoint", "file:///x", "status"),
       "--functions-endpoint"),
    _c("functions-endpoint-credentials", ("--functions-endpoint",
       f"https://u:{URL_PASSWORD}@cf.example.com", "history", "$SID"),
       "credentials", planted=URL_PASSWORD),
    _c("endpoint-unreachable", ("--endpoint", "http://127.0.0.1:$DEAD", "secret", "list"),
       "127.0.0.1:$DEAD", exit=3, endpoint=False),
    # credentials
    _c("access-key-spaces", ("secret", "list"), "NCLOUD_ACCESS_KEY", "spaces",
       env={"NCLOUD_ACCESS_KEY": " $AK "}),
    _c("secret-key-newline", ("secret", "list"), "spaces", env={"NCLOUD_SECRET_KEY": "$SK\n"}),
    _c("secret-key-missing", ("secret", "list"), "NCLOUD_SECRET_KEY",
       env={"NCLOUD_SECRET_KEY": None}),
)
# fmt: on


# -- deploy: python -m deploy ---------------------------------------------------------------


@dataclass(frozen=True)
class DeployCase:
    id: str
    #: The configuration file (see :func:`config`); ``None``: no ``--config``.
    toml: str | None
    #: Words stderr (or the plan) must contain.
    names: tuple[str, ...]
    flags: tuple[str, ...] = ()
    exit: int = 2
    dry_run: bool = False
    planted: str | None = None
    #: Environment changes (``None`` unsets); NCLOUD_* are the emulator's keys otherwise.
    env: Mapping[str, str | None] = field(default_factory=dict)
    #: Words the output must not contain.
    absent: tuple[str, ...] = ()
    gap: str | None = None


def config(
    *,
    ncloud: str = 'cloud_functions_endpoint = "$BASE/ncf/api/v2"\n'
    'secret_manager_endpoint = "$BASE"\n',
    action: str = "",
    parameters: str = "",
    secrets: str = '[[secrets]]\nname = "corpus-db"\n',
    extra: str = "",
) -> str:
    """A good configuration for the corpus's secret, with one part replaced or added."""
    return (
        f"[ncloud]\n{ncloud}\n"
        f"[action]\nvpc_no = 101\nsubnet_no = 202\n{action}\n"
        f"[action.parameters]\n{parameters}\n"
        f"{secrets}\n{extra}"
    )


def _d(id: str, toml: str | None, *names: str, **kw: Any) -> DeployCase:
    return DeployCase(id, toml, names, **kw)


# fmt: off
DEPLOY: tuple[DeployCase, ...] = (
    # the file
    _d("config-missing", None, "cannot read", flags=("--config", "$TMP/missing.toml")),
    _d("config-not-toml", "[action\nname = 1", "not valid TOML"),
    # unknown keys (typos)
    _d("unknown-table", config(extra='[acton]\nname = "x"\n'), "acton"),
    _d("unknown-action-key", config(action="timout_ms = 60000"), "timout_ms"),
    _d("unknown-ncloud-key", config(ncloud='secret_manager_endpiont = "https://x.example.com"\n'),
       "secret_manager_endpiont"),
    _d("unknown-rotation-key", config(extra="[rotation]\nperiod = 30\n"), "period"),
    _d("unknown-trigger-key", config(extra='[trigger]\nnmae = "t"\n'), "nmae"),
    _d("unknown-secret-key",
       config(secrets='[[secrets]]\nname = "corpus-db"\nrotation_period = 7\n'), "rotation_period"),
    _d("unknown-parameter", config(parameters="polcy = { length = 40 }"), "polcy"),
    _d("parameter-dry-run", config(parameters="dryRun = true"), "dryRun"),
    _d("parameter-endpoint", config(parameters='secretManagerEndpoint = "https://x.example.com"'),
       "secretManagerEndpoint"),
    # the action's parameters, checked by the handler's own code
    _d("policy-unknown-key", config(parameters="policy = { lenght = 40 }"), "lenght"),
    _d("policy-length-zero", config(parameters="policy = { length = 0 }"), "length"),
    _d("policy-not-table", config(parameters='policy = "forty"'), "policy"),
    _d("policy-key-not-a-target",
       config(parameters="policy = { keys = { username = { length = 20 } } }"), "username"),
    _d("target-kind-unknown", config(parameters='target = { kind = "oracle" }'), "oracle"),
    _d("target-not-table", config(parameters="target = 5"), "target"),
    _d("target-host-spaces", config(secrets='[[secrets]]\nname = "corpus-db"\n'
       'target = { kind = "postgresql", host = "db host" }\n'), "host"),
    _d("target-password", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = { kind = '
       f'"postgresql", host = "db.example.com", password = "{PARAM_PASSWORD}" }}\n'),
       "password", planted=PARAM_PASSWORD),
    _d("target-nested-password", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = { '
       'kind = "postgresql", host = "db.example.com", admin = { dbPassword = '
       f'"{PARAM_PASSWORD}" }} }}\n'), "admin", dry_run=True, planted=PARAM_PASSWORD),
    _d("notify-http", config(parameters='notify = "http://hooks.example.com/x"'), "https"),
    _d("timeout-negative", config(parameters="timeoutSeconds = -1"), "timeoutSeconds"),
    _d("region-unknown", config(parameters='region = "EU"'), "region"),
    # endpoints
    _d("functions-endpoint-remote-http", config(ncloud='cloud_functions_endpoint = '
       '"http://cf.example.com/ncf/api/v2"\nsecret_manager_endpoint = "$BASE"\n'), "http"),
    _d("sm-endpoint-remote-http", config(ncloud='cloud_functions_endpoint = "$BASE/ncf/api/v2"\n'
       'secret_manager_endpoint = "http://sm.example.com"\n'), "http"),
    _d("sm-endpoint-file", config(ncloud='cloud_functions_endpoint = "$BASE/ncf/api/v2"\n'
       'secret_manager_endpoint = "file:///etc/passwd"\n'), "secret_manager_endpoint"),
    _d("functions-endpoint-file", config(ncloud='cloud_functions_endpoint = "file:///tmp/x"\n'
       'secret_manager_endpoint = "$BASE"\n'), "cloud_functions_endpoint"),
    _d("endpoint-credentials", config(ncloud='cloud_functions_endpoint = '
       f'"https://ops:{URL_PASSWORD}@cf.example.com/ncf/api/v2"\n'
       'secret_manager_endpoint = "$BASE"\n'), "user:password", planted=URL_PASSWORD),
    _d("endpoint-port-range", config(ncloud='cloud_functions_endpoint = '
       '"https://cf.example.com:99999/ncf/api/v2"\nsecret_manager_endpoint = "$BASE"\n'),
       "port"),
    _d("endpoint-flag-file", config(), "--cloud-functions-endpoint",
       flags=("--cloud-functions-endpoint", "file:///tmp/x")),
    _d("dry-run-cannot-read", config(ncloud='cloud_functions_endpoint = "$BASE/nowhere/v2"\n'
       'secret_manager_endpoint = "$BASE"\n'), "cannot read", exit=1, dry_run=True,
       absent=("would create",)),
    _d("functions-unreachable", config(ncloud='cloud_functions_endpoint = '
       '"http://127.0.0.1:$DEAD/ncf/api/v2"\nsecret_manager_endpoint = "$BASE"\n'),
       "127.0.0.1:$DEAD", exit=1, dry_run=True, absent=("would create",)),
    # other settings
    _d("vpc-text", config(action='vpc_no = "abc"').replace("vpc_no = 101\n", ""), "vpc_no"),
    _d("memory-odd", config(action="memory_mb = 300"), "memory_mb"),
    _d("period-zero", config(), "period", flags=("--period", "0")),
    _d("secret-id-slash", config(secrets='[[secrets]]\nid = "a/b"\n'), "id"),
    _d("secret-id-dot-dot", config(secrets='[[secrets]]\nid = ".."\n'), "id"),
    _d("secret-id-flag-huge", config(), "--secret-id", "at most 128",
       flags=("--secret-id", "a" * 1000)),
    _d("target-ca-file-missing", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = { '
       'kind = "postgresql", host = "db.example.com", sslRootCert = "$TMP/no-ca.pem" }\n'),
       "sslRootCert", "$TMP/no-ca.pem"),
    _d("target-webhook-url-space", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = '
       '{ kind = "webhook", url = "https://ex ample.com/r", testUrl = '
       '"https://hooks.example.com/t", hmacKey = "corpus-hmac-key-0123456789" }\n'), "url"),
    _d("notify-host-space", config(parameters='notify = "https://hooks example.com/x"'), "url"),
    _d("target-key-env-name", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = { kind '
       '= "webhook", url = "https://hooks.example.com/r", testUrl = "https://hooks.example.com/t",'
       ' hmacKeyEnv = "NOT A NAME" }\n'), "hmacKeyEnv"),
    _d("secret-unknown", config(secrets='[[secrets]]\nname = "no-such-secret"\n'),
       "no-such-secret", exit=1),
    _d("access-key-spaces", config(), "NCLOUD_ACCESS_KEY", "spaces",
       env={"NCLOUD_ACCESS_KEY": " $AK "}),
    _d("rotator-secret-key-newline", config(), "ROTATOR_SECRET_KEY", "spaces",
       env={"ROTATOR_ACCESS_KEY": "$AK", "ROTATOR_SECRET_KEY": "$SK\n"}),
    _d("credentials-missing", config(), "NCLOUD_SECRET_KEY", env={"NCLOUD_SECRET_KEY": None}),
    # issue 17: half a key pair (the action would silently get the broader deploying pair)
    _d("rotator-access-key-alone", config(), "ROTATOR_ACCESS_KEY", "ROTATOR_SECRET_KEY",
       env={"ROTATOR_ACCESS_KEY": "$AK"}),
    _d("rotator-secret-key-alone", config(), "ROTATOR_SECRET_KEY", "ROTATOR_ACCESS_KEY",
       env={"ROTATOR_SECRET_KEY": "$SK"}),
    _d("ncloud-secret-key-alone", config(), "NCLOUD_SECRET_KEY", "NCLOUD_ACCESS_KEY",
       env={"NCLOUD_ACCESS_KEY": None}),
    # issue 17: CA files travel in the zip, so deploy must read them (setting and path named)
    _d("notify-ca-file-missing", config(parameters='notify = { webhooks = [{ url = '
       '"https://hooks.example.com/a", caBundle = "$TMP/no-notify-ca.pem" }] }'),
       "notify.webhooks[0].caBundle", "$TMP/no-notify-ca.pem", "does not exist"),
    _d("target-ca-file-not-pem", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = { '
       'kind = "postgresql", host = "db.example.com", sslRootCert = "$TMP/action.zip" }\n'),
       "[[secrets]] corpus-db target.sslRootCert", "$TMP/action.zip", "no PEM"),
    _d("target-ca-file-directory", config(parameters='target = { kind = "webhook", url = '
       '"https://hooks.example.com/r", testUrl = "https://hooks.example.com/t", hmacKey = '
       '"corpus-hmac-key-0123456789", caBundle = "$TMP" }'),
       "[action.parameters] target.caBundle", "directory"),
    _d("target-ca-file-not-text", config(secrets='[[secrets]]\nname = "corpus-db"\ntarget = { '
       'kind = "redis", host = "cache.example.com", sslRootCert = 42 }\n'),
       "sslRootCert", "path of a PEM file"),
    # good inputs stay accepted (exit 0): an hmacKeyEnv names the action's environment,
    # which deploy cannot see, so it is not refused here
    _d("key-env-left-to-the-action", config(
        secrets='[[secrets]]\nname = "corpus-db"\ntarget = { kind = "webhook", url = '
        '"https://hooks.example.com/rotate", testUrl = "https://hooks.example.com/test", '
        'hmacKeyEnv = "CORPUS_UNSET_HOOK_KEY" }\n'), "would create", exit=0, dry_run=True),
    # the plan masks secret-looking keys at every depth (a good input: exit 0)
    _d("plan-masks-nested-keys", config(
        parameters=f'notify = {{ webhooks = [{{ url = "https://hooks.example.com/a", '
        f'format = "json", hmacKey = "{PLAN_NOTIFY_KEY}" }}] }}',
        secrets='[[secrets]]\nname = "corpus-db"\ntarget = { kind = "webhook", url = '
        '"https://hooks.example.com/rotate", testUrl = "https://hooks.example.com/test", '
        f'hmacKey = "{PLAN_HMAC}" }}\n'), '"hmacKey": "****"', exit=0, dry_run=True,
        planted=PLAN_HMAC),
)
# fmt: on


# -- the emulator: python -m emulator -------------------------------------------------------


@dataclass(frozen=True)
class EmulatorCase:
    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    env: Mapping[str, str | None] = field(default_factory=dict)
    exit: int = 2


# fmt: off
EMULATOR: tuple[EmulatorCase, ...] = (
    EmulatorCase("busy-port", ("--port", "$BUSY"), ("port $BUSY", "in use")),
    EmulatorCase("port-out-of-range", ("--port", "70000"), ("--port",)),
    EmulatorCase("port-negative", ("--port", "-1"), ("--port",)),
    EmulatorCase("port-text", ("--port", "http"), ("--port",)),
    EmulatorCase("prefix-without-slash", ("--prefix", "secretmanager"), ("--prefix",)),
    EmulatorCase("schedule-interval-zero", ("--schedule-interval", "0"), ("--schedule-interval",)),
    EmulatorCase("host-unresolvable", ("--host", "no such host.invalid"), ("--host",)),
    EmulatorCase("no-credentials", (), ("NCLOUD_ACCESS_KEY",),
                 env={"NCLOUD_ACCESS_KEY": None, "NCLOUD_SECRET_KEY": None}),
    # issue 17: no secret as a flag; the key named must not be echoed (the guard knows $SK)
    EmulatorCase("secret-key-flag", ("--secret-key", "$SK"), ("--secret-key", "NCLOUD_SECRET_KEY")),
    EmulatorCase("secret-key-flag-equals", ("--secret-key=$SK",), ("--secret-key", "ps")),
    EmulatorCase("secret-key-only-as-flag", ("--secret-key", "$SK"), ("--secret-key",),
                 env={"NCLOUD_SECRET_KEY": None}),
)
# fmt: on
