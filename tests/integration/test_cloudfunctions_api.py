"""The Cloud Functions client against the emulated API, which answers as NCP documents it:
``{"content": ...}``, trigger ``actions`` as names, numeric error codes, 80901 on a repeated
link, and Post Action / activations for running an action by hand."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import Emulator
from rotation.ncp.cloudfunctions import (
    DUPLICATED_RULE,
    CloudFunctionsClient,
    already_linked,
)
from rotation.ncp.errors import ApiError, BadRequest, NotFound
from tests.conftest import FAST_RETRY
from tests.factories import create_secret

ECHO = """
import time

def main(args):
    print("echo action saw", sorted(args))
    time.sleep(float(args.get("sleep", 0)))
    return {"x": args.get("x"), "greeting": args.get("greeting")}
"""


def zipped(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__main__.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def action_body(**parameters: Any) -> dict[str, Any]:
    return {
        "description": "echo",
        "parameters": parameters,
        "limits": {"timeout": 10_000, "memory": 128},
        "exec": {"kind": "python:3.13", "binary": True, "main": "main", "code": zipped(ECHO)},
        "vpc": [{"vpcNo": 1, "subnetNo": 2}],
    }


@pytest.fixture
def functions(emu: Emulator) -> Iterator[CloudFunctionsClient]:
    with CloudFunctionsClient(
        emu.credentials, endpoint=emu.cloud_functions_endpoint, retry=FAST_RETRY
    ) as client:
        yield client


def raw(functions: CloudFunctionsClient, template: str, **path: str) -> Any:
    return functions.transport.request(
        "raw", "GET", template, path_params=path, query={"platform": "vpc"}
    )


def test_answers_are_wrapped_in_content_and_typed(
    emu: Emulator, functions: CloudFunctionsClient
) -> None:
    put = functions.put_action("-", "echo", action_body(greeting="hi"))
    assert put.name == "echo" and put.exec.kind == "python:3.13"
    got = functions.get_action("-", "echo")
    assert got is not None
    assert got.parameters == {"greeting": "hi"} and got.timeout_ms == 10_000
    assert got.exec.has_code and got.memory_mb == 128
    assert [v.to_api() for v in got.vpc] == [{"vpcNo": 1, "subnetNo": 2}]
    answer = raw(functions, "/packages/{package}/actions/{action}", package="-", action="echo")
    assert set(answer) == {"content"}
    assert answer["content"]["exec"]["code"], "Get Action answers the code (documented)"

    with emu.client() as secrets:
        create_secret(secrets, secret_name="cf-one")
    trigger = functions.put_trigger(
        "rotate", {"description": "d", "secretManagerLink": [{"secretName": "cf-one"}]},
        kind="secret_manager",
    )  # fmt: skip
    assert trigger.type == "secret_manager" and trigger.actions == ()
    link = functions.link_action("rotate", "-", "echo")
    assert (link.action_name, link.trigger_name, link.status) == ("echo", "rotate", "active")
    answer = raw(functions, "/triggers/{trigger}", trigger="rotate")["content"]
    assert answer["actions"] == ["echo"], "names, not objects"
    assert set(answer) == {"actions", "description", "execOption", "name", "resourceId", "type"}
    got_trigger = functions.get_trigger("rotate")
    assert got_trigger is not None and got_trigger.actions == ("echo",)


def test_errors_carry_the_numeric_codes(emu: Emulator, functions: CloudFunctionsClient) -> None:
    assert functions.get_trigger("missing") is None
    assert functions.get_action("-", "missing") is None
    with pytest.raises(NotFound) as info:
        raw(functions, "/triggers/{trigger}", trigger="missing")
    assert (info.value.code, info.value.message) == ("80501", "TRIGGER_NOT_FOUND")

    functions.put_action("-", "echo", action_body())
    functions.put_trigger("cron-t", {"cronOption": "0 8 * * *"}, kind="cron")
    functions.link_action("cron-t", "-", "echo")
    with pytest.raises(ApiError) as dup:
        functions.link_action("cron-t", "-", "echo")
    assert dup.value.code == DUPLICATED_RULE and dup.value.message == "DUPLICATED_RULE"
    assert already_linked(dup.value)
    assert emu.stats.calls["link_action"] == 2, "a refusal is not retried"

    with pytest.raises(BadRequest) as bad:
        functions.put_action("-", "echo", {**action_body(), "limits": {"timeout": 1}})
    assert bad.value.code == "80305"
    classic = CloudFunctionsClient(
        emu.credentials, endpoint=emu.cloud_functions_endpoint, platform="classic"
    )
    with classic, pytest.raises(BadRequest) as mismatch:
        classic.get_trigger("cron-t")
    assert mismatch.value.code == "80502"


def test_invoke_waits_for_the_result_and_activations_keep_it(
    functions: CloudFunctionsClient, emu: Emulator
) -> None:
    functions.put_action("-", "echo", action_body(greeting="hi"))
    activation = functions.invoke_action("-", "echo", {"x": 7})
    assert activation.finished and activation.success is True
    assert activation.result == {"x": 7, "greeting": "hi"}, "runtime params over defaults"
    assert any("echo action saw" in line for line in activation.logs)
    again = functions.get_activation("-", "echo", activation.activation_id)
    assert again is not None and again.result == activation.result
    assert again.logs == activation.logs
    listed = functions.list_activations("-", "echo")
    assert [a.activation_id for a in listed] == [activation.activation_id]
    assert functions.get_activation("-", "echo", "no-such-activation") is None
    assert emu.stats.calls["invoke_action"] == 1


def test_an_invocation_outliving_its_wait_answers_the_id_only(
    functions: CloudFunctionsClient,
) -> None:
    functions.put_action("-", "echo", action_body())
    started = functions.invoke_action("-", "echo", {"sleep": 1.5, "x": 1}, wait_ms=100)
    assert not started.finished and started.activation_id
    deadline = time.monotonic() + 60  # a bound for a broken run only
    while True:
        done = functions.get_activation("-", "echo", started.activation_id)
        if done is not None and done.finished:
            break
        assert time.monotonic() < deadline, "the activation never finished"
        time.sleep(0.1)
    assert done.result is not None and done.result["x"] == 1
    with pytest.raises(ValueError, match="wait_ms"):
        functions.invoke_action("-", "echo", wait_ms=60_001)


def test_activations_are_listed_a_page_at_a_time_as_documented(
    functions: CloudFunctionsClient, emu: Emulator
) -> None:
    """The list answers ids and status only (the result is in the detail), honours pageNo,
    pageSize and start, and iter_activations reads every page of a long list once."""
    functions.put_action("-", "echo", action_body())
    ids = [functions.invoke_action("-", "echo", {"x": n}).activation_id for n in range(5)]
    newest_first = list(reversed(ids))
    first = functions.list_activations("-", "echo", page_size=2)
    assert [a.activation_id for a in first] == newest_first[:2]
    assert all(a.result is None and a.start_ms is None for a in first)
    third = functions.list_activations("-", "echo", page_no=3, page_size=2)
    assert [a.activation_id for a in third] == newest_first[4:]
    emu.stats.reset()
    assert [a.activation_id for a in functions.iter_activations("-", "echo", page_size=2)] == (
        newest_first
    )
    assert emu.stats.calls["get_action_activations"] == 3  # the short third page ends it
    emu.stats.reset()
    assert len(list(functions.iter_activations("-", "echo", page_size=5))) == 5
    assert emu.stats.calls["get_action_activations"] == 1  # totalCount says there is no more
    detail = functions.get_activation("-", "echo", ids[2])
    assert detail is not None and detail.start_ms is not None
    later = functions.list_activations("-", "echo", start_ms=detail.start_ms)
    assert {a.activation_id for a in later} == set(ids[2:])
    for bad in ({"pageSize": "0"}, {"pageNo": "x"}, {"start": "-1"}):
        with pytest.raises(BadRequest) as refused:
            functions.transport.request(
                "raw", "GET", "/packages/{package}/actions/{action}/activations",
                path_params={"package": "-", "action": "echo"},
                query={"platform": "vpc", **bad},
            )  # fmt: skip
        assert refused.value.code == "80305"
