"""The rules every rotation's inputs pass before any write (rotation/preflight.py), and
what reads a value that breaks them: it must refuse it with a code, never crash on it.

The workflow, ``rotation check`` and deploy call these same functions (their integration
tests prove they agree on real inputs); here each rule is pinned down on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from rotation import codes, logs, preflight
from rotation.codes import CodedError
from rotation.generate import Policy
from rotation.ncp.errors import ErrorBody, NotFound, ServerError, TransportError
from rotation.ncp.models import (
    MAX_VALUE_DEPTH,
    SecretChain,
    SecretValue,
    SecretValueError,
    SecretValueUnsupported,
    text_depth,
    value_problem,
)
from rotation.sensitive import MASK, masked
from rotation.workflow import validate_chain
from tests.factories import Scripted
from tests.leaks import LeakGuard

PASSWORD = "unit-preflight-Pw-1"


def chain(
    active: dict[str, Any] | SecretValue | None,
    targets: tuple[str, ...] = ("password",),
    pending: dict[str, Any] | None = None,
) -> SecretChain:
    def value(data: dict[str, Any] | SecretValue | None) -> SecretValue | None:
        return None if data is None else SecretValue(data)

    return SecretChain(None, value(active), value(pending), targets)


def nested(levels: int) -> Any:
    """A list nested ``levels`` deep, built without recursion."""
    item: Any = []
    for _ in range(levels - 1):
        item = [item]
    return item


def code_of(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(CodedError) as raised:
        call()
    return raised.value.code, str(raised.value)


# -- the value --------------------------------------------------------------------------------

VALUE_CASES = [
    pytest.param(chain(None), codes.VALUE_MISSING, "no active value", id="no-active"),
    pytest.param(chain({"password": PASSWORD}, ()), codes.NO_ROTATION_TARGETS, "no rotation",
                 id="no-targets"),
    pytest.param(chain({"username": "app"}), codes.ROTATION_TARGET_MISSING, "'password'",
                 id="target-missing"),
    pytest.param(chain({"password": 12345678}), codes.ROTATION_TARGET_NOT_TEXT, "'password'",
                 id="target-number"),
    # the drift: check refused an empty target, the rotation took it
    pytest.param(chain({"password": ""}), codes.ROTATION_TARGET_NOT_TEXT, "non-empty",
                 id="target-empty"),
    pytest.param(chain({"password": PASSWORD, "note": "\ud800"}), codes.VALUE_UNSUPPORTED,
                 "'note'", id="surrogate-in-other-key"),
    pytest.param(chain({"password": PASSWORD, "n\udfffte": "x"}), codes.VALUE_UNSUPPORTED,
                 "not valid Unicode", id="surrogate-in-a-key-name"),
    pytest.param(chain({"password": PASSWORD + "\ud800"}), codes.VALUE_UNSUPPORTED,
                 "'password'", id="surrogate-in-the-target"),
    pytest.param(chain({"password": PASSWORD, "deep": nested(5000)}), codes.VALUE_UNSUPPORTED,
                 f"{MAX_VALUE_DEPTH} levels", id="nested-5000"),
    pytest.param(chain({"password": PASSWORD, "deep": nested(MAX_VALUE_DEPTH)}),
                 codes.VALUE_UNSUPPORTED, f"{MAX_VALUE_DEPTH} levels", id="nested-one-too-deep"),
    pytest.param(chain({"password": PASSWORD, "pad": "p" * 10_001}), codes.VALUE_UNSUPPORTED,
                 "10,000", id="over-size"),
    pytest.param(chain({"password": PASSWORD}, pending={"password": "\ud800-pending"}),
                 codes.VALUE_UNSUPPORTED, "pending", id="pending-surrogate"),
]  # fmt: skip


@pytest.mark.parametrize(("the_chain", "code", "words"), VALUE_CASES)
def test_value_rules(the_chain: SecretChain, code: str, words: str) -> None:
    got, message = code_of(lambda: preflight.active_value(the_chain))
    assert (got, words in message) == (code, True), message
    assert PASSWORD not in message and "\ud800" not in message
    # the workflow's own name for the rule is the same rule
    assert code_of(lambda: validate_chain(the_chain)) == (got, message)


def test_a_good_value_passes_whatever_its_other_keys_hold() -> None:
    good = chain({"password": PASSWORD, "port": 5432, "tls": True, "none": None,
                  "shallow": nested(MAX_VALUE_DEPTH - 1), "text": "사용자"})  # fmt: skip
    assert preflight.active_value(good) == good.active


def test_unreadable_values_get_their_own_code() -> None:
    deep = preflight.unreadable_value(SecretValueUnsupported("the active value nests deep"))
    broken = preflight.unreadable_value(SecretValueError("the active value is not valid JSON"))
    assert (deep.code, broken.code) == (codes.VALUE_UNSUPPORTED, codes.VALUE_NOT_JSON_OBJECT)


# -- the linked (admin) secret ----------------------------------------------------------------


def _read(answer: SecretChain | Exception) -> Callable[[], SecretChain]:
    def read() -> SecretChain:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return read


LINKED_CASES = [
    pytest.param(chain(None, ()), codes.LINKED_SECRET_EMPTY, "no active value", id="no-active"),
    pytest.param(chain({}, ()), codes.LINKED_SECRET_EMPTY, "no active value", id="empty-object"),
    pytest.param(chain({"username": "admin", "password": "\ud800"}, ()), codes.VALUE_UNSUPPORTED,
                 "adminSecretId", id="surrogate"),
    pytest.param(NotFound(404, ErrorBody("NOT_FOUND")), codes.INVALID_TARGET,
                 "adminSecretId names a secret", id="not-found"),
    pytest.param(SecretValueUnsupported("the active secret value nests deeper than 32 levels"),
                 codes.VALUE_UNSUPPORTED, "adminSecretId", id="too-deep"),
    pytest.param(SecretValueError("the active secret value is not valid JSON"),
                 codes.VALUE_NOT_JSON_OBJECT, "adminSecretId", id="not-json"),
    pytest.param(ServerError(503, ErrorBody()), codes.API_UNAVAILABLE, "adminSecretId",
                 id="server-error"),
    pytest.param(TransportError("reset"), codes.API_UNAVAILABLE, "adminSecretId", id="reset"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "code", "words"), LINKED_CASES)
def test_linked_secret_rules(answer: SecretChain | Exception, code: str, words: str) -> None:
    got, message = code_of(lambda: preflight.linked_value(_read(answer), register=lambda _c: None))
    assert (got, words in message) == (code, True), message


def test_a_linked_secret_is_registered_and_returned() -> None:
    seen: list[SecretChain] = []
    admin = chain({"username": "admin", "password": PASSWORD}, ())
    value = preflight.linked_value(_read(admin), register=seen.append)
    assert value == admin.active and seen == [admin]


# -- the target's keys and the policy ---------------------------------------------------------


class Alternating(Scripted):
    """Derives the other user's name, as alternating users do."""

    def derive(self, active: SecretValue) -> dict[str, str]:
        return {"username": str(active["username"]) + "_clone"}


class RefusesAll(Scripted):
    def accepts(self, key: str, value: str) -> bool:
        return False


def test_derived_keys_must_be_rotation_targets() -> None:
    the_chain = chain({"username": "app", "password": PASSWORD})
    target = Alternating(accepted=set())
    code, message = code_of(lambda: preflight.policies_for(None, target, the_chain))
    assert code == codes.INVALID_TARGET and "username" in message
    both = chain({"username": "app", "password": PASSWORD}, ("username", "password"))
    assert preflight.policies_for(None, target, both).default == Policy()


POLICY_CASES = [
    pytest.param({"keys": {"username": {"length": 20}}}, Scripted, "username", id="stray-key"),
    pytest.param({"lenght": 20}, Scripted, "lenght", id="unknown-knob"),
    pytest.param(None, RefusesAll, "refused", id="target-refuses-every-value"),
]


@pytest.mark.parametrize(("policy", "kind", "words"), POLICY_CASES)
def test_policy_rules(policy: dict[str, Any] | None, kind: type[Scripted], words: str) -> None:
    the_chain = chain({"username": "app", "password": PASSWORD})
    code, message = code_of(lambda: preflight.policies_for(policy, kind(accepted=set()), the_chain))
    assert code == codes.INVALID_POLICY and words in message, message


def _near_limit(room: int) -> SecretChain:
    """A value whose JSON text is ``room`` bytes under the limit, password included."""
    base = {"password": "x" * 32, "pad": ""}
    size = len(SecretValue(base).to_json().encode())
    return chain({**base, "pad": "p" * (10_000 - size - room)})


def test_the_new_value_must_fit_whatever_is_drawn() -> None:
    target = Scripted(accepted=set())
    assert preflight.policies_for({"length": 32}, target, _near_limit(0))  # same size: fits
    code, message = code_of(lambda: preflight.policies_for({"length": 33}, target, _near_limit(0)))
    assert code == codes.INVALID_POLICY and "10,000" in message
    # '"' and '\\' take two bytes in the JSON text: the longest draw counts, not a lucky one
    escapes = {"length": 32, "excludeCharacters": ""}
    code, _ = code_of(lambda: preflight.policies_for(escapes, target, _near_limit(31)))
    assert code == codes.INVALID_POLICY
    assert preflight.policies_for(escapes, target, _near_limit(32))


# -- what reads a value preflight refuses must not crash on it --------------------------------


def test_parsing_bounds_the_depth_before_the_parser_recurses() -> None:
    deep = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(SecretValueUnsupported, match="nests deeper than 32 levels"):
        SecretValue.parse(deep, stage="active")
    ok = '{"a":' + "[" * (MAX_VALUE_DEPTH - 1) + "]" * (MAX_VALUE_DEPTH - 1) + "}"
    assert SecretValue.parse(ok)["a"] == nested(MAX_VALUE_DEPTH - 1)
    with pytest.raises(SecretValueUnsupported):
        SecretValue.parse('{"a":' + "[" * MAX_VALUE_DEPTH + "]" * MAX_VALUE_DEPTH + "}")


def test_brackets_inside_strings_do_not_count() -> None:
    assert text_depth(json.dumps({"a": '[[[{{{\\"[[[', "b": [[1]]})) == 3


def test_the_depth_walk_needs_no_recursion() -> None:
    problem = value_problem({"deep": nested(200_000)})
    assert problem is not None and "'deep'" in problem


def test_the_redactor_and_the_mask_survive_what_they_cannot_render(
    leak_guard: LeakGuard,
) -> None:
    deep = SecretValue({"password": PASSWORD, "deep": nested(5000)})
    logs.REDACTOR.register_value(deep, ["password"])  # its JSON text cannot be rendered
    assert logs.REDACTOR.scrub(f"pw={PASSWORD}") == f"pw={logs.REDACTED}"
    scrubbed = logs.REDACTOR.scrub_any({"deep": nested(5000)})
    flat = json.dumps(scrubbed)
    assert logs.TOO_DEEP in flat
    shown = masked({"username": "app", "deep": nested(5000)})
    assert shown["username"] == "app" and MASK in json.dumps(shown)


def test_a_log_line_with_a_lone_surrogate_is_still_written(leak_guard: LeakGuard) -> None:
    logs.log.info("unit.surrogate", note="before \ud800 after", deep=nested(500))
    out, _ = leak_guard.read()
    [raw] = [x for x in out.splitlines() if "unit.surrogate" in x]
    raw.encode("utf-8")  # valid text: the surrogate is written as its JSON escape
    line = json.loads(raw)
    assert line["note"] == "before \ud800 after"  # which reads back as what was logged
    assert logs.TOO_DEEP in json.dumps(line["deep"])
