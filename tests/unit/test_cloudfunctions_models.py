"""Cloud Functions answers parse as documented and tolerate the plausible variants."""

from __future__ import annotations

import pytest

from rotation.ncp.cloudfunctions_models import (
    Activation,
    FunctionAction,
    FunctionTrigger,
    TriggerLink,
    content,
)
from rotation.ncp.errors import ResponseFormatError


def test_content_is_unwrapped_and_an_unwrapped_answer_still_reads() -> None:
    assert content({"content": {"name": "a"}}, "op") == {"name": "a"}
    assert content({"name": "a"}, "op") == {"name": "a"}
    with pytest.raises(ResponseFormatError):
        content(["not", "an", "object"], "op")


def test_get_trigger_actions_are_names_or_objects() -> None:
    documented = FunctionTrigger.from_api(
        {"actions": ["act"], "name": "t", "type": "secret_manager", "resourceId": "r1",
         "execOption": [{"key": "k", "value": "v"}], "newField": 1}
    )  # fmt: skip
    assert documented.actions == ("act",) and documented.exec_options == {"k": "v"}
    assert documented.extra == {"newField": 1}
    legacy = FunctionTrigger.from_api({"name": "t", "actions": [{"name": "act"}]})
    assert legacy.actions == ("act",) and legacy.type is None
    with pytest.raises(ResponseFormatError, match="name"):
        FunctionTrigger.from_api({"actions": []})


def test_get_action_keeps_what_deploy_compares_and_drops_the_code() -> None:
    action = FunctionAction.from_api(
        {"name": "a", "description": "d", "limits": {"timeout": 500, "memory": "256"},
         "exec": {"kind": "python:3.13", "main": "main", "binary": True, "code": "UEsDB..."},
         "parameters": [{"key": "k", "value": {"n": 1}}], "vpc": {"vpcNo": 1, "subnetNo": 2}}
    )  # fmt: skip
    assert action.parameters == {"k": {"n": 1}}
    assert (action.timeout_ms, action.memory_mb) == (500, 256)
    assert action.exec.has_code and "UEsDB" not in repr(action)
    assert [v.to_api() for v in action.vpc] == [{"vpcNo": 1, "subnetNo": 2}]
    bare = FunctionAction.from_api({"name": "a", "limits": "odd", "exec": None})
    assert bare.timeout_ms is None and bare.exec.kind is None and bare.parameters == {}


def test_activations_read_the_documented_fields() -> None:
    done = Activation.from_api(
        {"activationId": "x1", "duration": "12", "start": 1, "end": 13, "logs": ["a", "b"],
         "name": "act", "namespace": "ns",
         "response": {"result": {"ok": True}, "status": "success", "success": True}}
    )  # fmt: skip
    assert done.finished and done.duration_ms == 12 and done.logs == ("a", "b")
    assert done.result == {"ok": True} and done.success is True
    running = Activation.from_api({"activationId": "x2"})
    assert not running.finished and running.result is None
    with pytest.raises(ResponseFormatError):
        Activation.from_api({"duration": 3})


def test_link_answers_read_their_nested_names() -> None:
    link = TriggerLink.from_api(
        {"action": {"name": "a", "path": "/ns/a"}, "namespace": "ns", "status": "active",
         "trigger": {"name": "t", "path": "/ns/t"}}
    )  # fmt: skip
    assert (link.action_name, link.trigger_path, link.status) == ("a", "/ns/t", "active")
    assert TriggerLink.from_api({}).action_name is None
