"""Many activations in one process, as a warm container runs them (issue 16, item 1).

The action-loop runtime keeps one process per warm container and its launcher sets
``__OW_<FIELD>`` for every activation-level field of each activation, never unsetting one.
Nothing an activation read may decide what a later one acts on: here the handler serves
many activations in ONE launcher process (:class:`WarmContainer`, the emulator's stand-in
for the OpenWhisk launcher, fed one activation per line exactly like the real one), against
the emulator over HTTP, with the ids arriving in different places from one activation to
the next. The measured defect these tests pin: after an activation whose ids came as
activation fields, an activation without ids took the stale ``__OW_`` pair (Start and Fail
answered 403, JOB_TOKEN_REJECTED, ``leftForRetry`` on a secret long finished), and one
naming another ``secretId`` in its parameters acted on the stale secret.

The last tests run the launcher's loop in this process instead (set ``__OW_*``, call
``main``), to look at what a process keeps between activations: the redactor's values and
structlog's bound context.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import structlog

import handler
from emulator import Emulator
from emulator.actions import LAUNCHER
from rotation import logs
from rotation.ncp.models import RotationPhase
from rotation.ncp.secretmanager import SecretManagerClient
from tests.factories import executed_job, job_token
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]
VALUE = {"engine": "store-only", "username": "app", "password": "warm-initial-Passw0rd-31"}
JOB_CALLS = ("start_rotation_job", "update_pending_stage", "complete_rotation_job",
             "fail_rotation_job")  # fmt: skip


class WarmContainer:
    """One launcher process serving activation after activation, as a warm container does:
    each :meth:`activate` writes one line (``{"value": params, **fields}``) and reads the
    one result line. Log lines are kept with the activation id that bound them."""

    def __init__(self, leak_guard: LeakGuard, env: Mapping[str, str] | None = None) -> None:
        self.leak_guard = leak_guard
        read_fd, write_fd = os.pipe()
        self._results = read_fd
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(LAUNCHER), "--action-dir", str(ROOT),
             "--module", "handler", "--result-fd", str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), cwd=ROOT, text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                 **(env or {})},
        )  # fmt: skip
        os.close(write_fd)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read_logs, daemon=True)
        self._reader.start()
        self._buffer = b""
        self.count = 0

    def _read_logs(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def activate(self, params: Mapping[str, Any], **fields: str) -> dict[str, Any]:
        """One activation: ``params`` as ``value``, ``fields`` as activation fields (the
        launcher makes each ``__OW_`` + KEY). The runtime always sends an activation id and
        a deadline; so does this."""
        self.count += 1
        fields.setdefault("activation_id", f"act-{self.count:03d}-{os.urandom(4).hex()}")
        fields.setdefault("deadline", str(int((time.time() + 60) * 1000)))
        fields.setdefault("action_name", "/ncp/rotator")
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"value": dict(params), **fields}) + "\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self._result_line(timeout=60))
        self.leak_guard.observe(f"warm activation {self.count} result", json.dumps(result))
        return result

    def _result_line(self, timeout: float) -> bytes:
        end = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = end - time.monotonic()
            ready, _, _ = select.select([self._results], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"no result within {timeout} s; logs: {self.lines[-5:]}")
            chunk = os.read(self._results, 65536)
            if not chunk:
                raise RuntimeError(f"the launcher exited; logs: {self.lines[-20:]}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.lines if x.startswith("{")]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        os.close(self._results)
        self.leak_guard.observe("warm container logs", "\n".join(self.lines))


@pytest.fixture
def container(leak_guard: LeakGuard) -> Iterator[WarmContainer]:
    warm = WarmContainer(leak_guard)
    try:
        yield warm
    finally:
        warm.close()


def params(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """The action's default parameters (endpoint, keys), as deploy writes them."""
    return emu.action_params(extra)


def new_job(emu: Emulator, client: SecretManagerClient) -> tuple[str, str]:
    return executed_job(emu, client, value=dict(VALUE))


def job_calls(emu: Emulator) -> dict[str, int]:
    return {op: emu.stats.calls[op] for op in JOB_CALLS if emu.stats.calls[op]}


def assert_rotated_once(client: SecretManagerClient, sid: str) -> None:
    chain = client.get_secret_values(sid)
    assert chain.previous == VALUE and chain.pending is None
    assert chain.active is not None and chain.active["password"] != VALUE["password"]
    assert client.get_secret(sid).rotation_phase is RotationPhase.NONE


# -- one process, many activations ----------------------------------------------------------


def test_ten_activations_in_one_process_rotate_ten_secrets(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    """Ten secrets, one process; the ids arrive a different way from one activation to the
    next (parameters, an event, JSON text, activation fields, both), so every activation
    after the first runs beside what earlier ones left in the environment."""
    jobs = [new_job(emu, client) for _ in range(10)]
    ways = ["fields", "params", "event", "fields", "text", "both", "fields", "fields",
            "params", "both"]  # fmt: skip
    results = []
    for (sid, token), way in zip(jobs, ways, strict=True):
        ids = {"secretId": sid, "jobToken": token}
        if way == "fields":
            result = container.activate(params(emu), **ids)
        elif way == "params":
            result = container.activate(params(emu, **ids))
        elif way == "event":
            result = container.activate(params(emu, event=ids))
        elif way == "text":
            result = container.activate(params(emu, body=json.dumps(ids)))
        else:
            result = container.activate(params(emu, **ids), **ids)
        results.append(result)
    assert [(r["ok"], r["outcome"], r["secretId"]) for r in results] == [
        (True, "rotated", sid) for sid, _ in jobs
    ], results
    for sid, _ in jobs:
        assert_rotated_once(client, sid)
    assert emu.stats.calls["complete_rotation_job"] == 10
    assert emu.stats.calls["fail_rotation_job"] == 0
    begins = [x for x in container.log_lines() if x["event"] == "rotation.begin"]
    assert [b["secret_id"] for b in begins] == [sid for sid, _ in jobs]
    for line in container.log_lines():  # each line carries its own activation's secret
        if "secret_id" in line:
            index = next(i for i, b in enumerate(begins) if b["activation_id"] == line[
                "activation_id"])
            assert line["secret_id"] == jobs[index][0], line


def test_an_activation_without_ids_after_one_with_fields_calls_nothing(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    """The measured defect: the second activation took the first one's __OW_ pair, got 403
    on Start and Fail and reported JOB_TOKEN_REJECTED, leftForRetry, on a finished job."""
    sid, token = new_job(emu, client)
    first = container.activate(params(emu), secretId=sid, jobToken=token)
    assert first["ok"] and first["outcome"] == "rotated"
    emu.stats.reset()
    second = container.activate(params(emu))
    assert second["ok"] is False and second["error"]["code"] == "MISSING_SECRET_ID"
    assert second["secretId"] is None and "leftForRetry" not in second
    assert "__OW_SECRETID" in second["error"]["message"]  # where it looked, by name
    assert sum(emu.stats.calls.values()) == 0
    assert_rotated_once(client, sid)
    # a dry run without ids has nothing to look at either
    assert container.activate(params(emu, dryRun=True))["error"]["code"] == "MISSING_SECRET_ID"


def test_a_parameter_secret_id_never_takes_an_earlier_pair(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    """Activation 2 names secret B in its parameters, without a token: it must not act on
    secret A with A's token left from activation 1, nor send A's token for B."""
    sid_a, token_a = new_job(emu, client)
    sid_b, _ = new_job(emu, client)
    assert container.activate(params(emu), secretId=sid_a, jobToken=token_a)["ok"]
    emu.stats.reset()
    result = container.activate(params(emu, secretId=sid_b))
    assert result["error"]["code"] == "MISSING_JOB_TOKEN" and result["secretId"] == sid_b
    assert sum(emu.stats.calls.values()) == 0
    assert_rotated_once(client, sid_a)
    assert client.get_secret_values(sid_b).active == VALUE


def test_a_parameter_secret_id_beside_this_activations_pair_for_another_secret(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    """Even a pair set for *this* activation is never split: a parameter secretId for B
    beside fields (A, token A) pairs with nothing, and nothing is called."""
    sid_a, token_a = new_job(emu, client)
    sid_b, token_b = new_job(emu, client)
    emu.stats.reset()
    result = container.activate(params(emu, secretId=sid_b), secretId=sid_a, jobToken=token_a)
    assert result["error"]["code"] == "MISSING_JOB_TOKEN"
    assert "not beside this secret id" in result["error"]["message"]
    assert sum(emu.stats.calls.values()) == 0
    # both jobs are still there to run, each with its own token
    for sid, token in ((sid_a, token_a), (sid_b, token_b)):
        assert container.activate(params(emu, secretId=sid, jobToken=token))["ok"]
        assert_rotated_once(client, sid)


def test_ids_missing_then_present_then_missing(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    """Whatever order they come in, an activation acts on its own ids or on none."""
    sid, token = new_job(emu, client)
    sid2, token2 = new_job(emu, client)
    assert container.activate(params(emu))["error"]["code"] == "MISSING_SECRET_ID"
    assert container.activate(params(emu, event={"secretId": sid, "jobToken": token}))["ok"]
    emu.stats.reset()
    missing = container.activate(params(emu, jobToken=token2))
    assert missing["error"]["code"] == "MISSING_SECRET_ID"
    assert container.activate(params(emu), jobToken=token2)["error"]["code"] == (
        "MISSING_SECRET_ID"
    )
    assert sum(emu.stats.calls.values()) == 0
    assert container.activate(params(emu), secretId=sid2, jobToken=token2)["ok"]
    after = container.activate(params(emu, secretId=sid2))
    assert after["error"]["code"] == "MISSING_JOB_TOKEN"
    assert job_calls(emu) == {"start_rotation_job": 1, "update_pending_stage": 1,
                              "complete_rotation_job": 1}  # fmt: skip
    for s in (sid, sid2):
        assert_rotated_once(client, s)


def test_a_finished_job_run_again_is_rejected_as_itself(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    """The same token again (a resume of a finished job) is this activation's own input:
    seen for what it is, a job no longer running, with the secret untouched; a fresh
    token for the same secret after it rotates as usual."""
    sid, token = new_job(emu, client)
    assert container.activate(params(emu), secretId=sid, jobToken=token)["ok"]
    again = container.activate(params(emu), secretId=sid, jobToken=token)
    assert (again["outcome"], again["job"], again["secretId"]) == ("skipped", "ended", sid)
    assert again["reason"]["code"] == "JOB_NOT_RUNNING" and "leftForRetry" not in again
    assert_rotated_once(client, sid)
    client.execute_rotation_job(sid)
    fresh = job_token(client, sid)
    assert fresh != token
    assert container.activate(params(emu), secretId=sid, jobToken=fresh)["outcome"] == "rotated"


def test_bad_ids_end_before_any_call_in_a_warm_process(
    emu: Emulator, client: SecretManagerClient, container: WarmContainer
) -> None:
    sid, token = new_job(emu, client)
    emu.stats.reset()
    for bad in ("..", "x" * 1_000_000):
        result = container.activate(params(emu, secretId=bad, jobToken=token))
        assert result["error"]["code"] == "INVALID_SECRET_ID", result["error"]
        assert result["secretId"] is None and len(json.dumps(result)) < 2000
        result = container.activate(params(emu), secretId=bad, jobToken=token)
        assert result["error"]["code"] == "INVALID_SECRET_ID"
    bad_token = container.activate(params(emu, secretId=sid, jobToken="../complete"))
    assert bad_token["error"]["code"] == "INVALID_JOB_TOKEN"
    assert sum(emu.stats.calls.values()) == 0
    assert container.activate(params(emu, secretId=sid, jobToken=token))["ok"]


# -- what the process keeps: the launcher's loop in this process ---------------------------


def run_like_the_launcher(
    monkeypatch: pytest.MonkeyPatch, value: Mapping[str, Any], **fields: str
) -> dict[str, Any]:
    """What the OpenWhisk launcher does per activation: set ``__OW_`` + KEY for every
    field (never unsetting any), then call ``main(value)``."""
    for key, field_value in fields.items():
        monkeypatch.setenv("__OW_" + key.upper(), field_value)
    result = handler.main(dict(value))
    json.dumps(result)
    return result


def test_the_redactor_and_the_log_context_hold_one_activation_at_most(
    emu: Emulator, client: SecretManagerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each activation scrubs with its own values (registered while it runs, the key and
    token first), never with an earlier one's, and leaves nothing behind: the registry
    cannot grow over a warm container's life."""
    jobs = [new_job(emu, client) for _ in range(3)]
    seen: list[tuple[str, dict[str, Any], list[str], str]] = []

    def sink(line: str) -> None:
        event = json.loads(line)
        if event["event"] in ("rotation.begin", "rotation.end"):
            token = jobs[len(seen) // 2][1]
            seen.append((event["event"], structlog.contextvars.get_contextvars(),
                         logs.REDACTOR.values(), logs.REDACTOR.scrub(f"job {token}")))  # fmt: skip

    logs.add_sink(sink)
    try:
        for number, (sid, token) in enumerate(jobs):
            result = run_like_the_launcher(
                monkeypatch, params(emu), secretId=sid, jobToken=token,
                activation_id=f"act-{number}", deadline=str(int((time.time() + 60) * 1000)),
            )  # fmt: skip
            assert result["ok"] and result["secretId"] == sid
            assert logs.REDACTOR.values() == []  # nothing outlives the activation
            assert structlog.contextvars.get_contextvars() == {}
            assert "__OW_SECRETID" not in os.environ and "__OW_JOBTOKEN" not in os.environ
    finally:
        logs.remove_sink(sink)
    assert [s[0] for s in seen] == ["rotation.begin", "rotation.end"] * 3
    for number, (sid, token) in enumerate(jobs):
        for _event, context, registered, scrubbed in seen[2 * number : 2 * number + 2]:
            assert context["secret_id"] == sid and context["activation_id"] == f"act-{number}"
            assert token in registered and scrubbed == "job [REDACTED]"
            others = {t for _, t in jobs if t != token}
            assert not others & set(registered), "another activation's token is registered"
        end_values = seen[2 * number + 1][2]
        new_active = client.get_secret_values(sid).active
        assert new_active is not None and new_active["password"] in end_values


def test_a_crashed_activation_leaves_nothing_for_the_next(
    emu: Emulator, client: SecretManagerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activation that ends in INTERNAL_ERROR still drops its ids, context and values."""
    sid, token = new_job(emu, client)
    monkeypatch.setattr(handler.Rotation, "run", lambda self: 1 / 0)
    crashed = run_like_the_launcher(monkeypatch, params(emu), secretId=sid, jobToken=token)
    assert crashed["error"]["code"] == "INTERNAL_ERROR"
    assert logs.REDACTOR.values() == [] and structlog.contextvars.get_contextvars() == {}
    monkeypatch.undo()
    emu.stats.reset()
    assert run_like_the_launcher(monkeypatch, params(emu))["error"]["code"] == (
        "MISSING_SECRET_ID"
    )
    assert sum(emu.stats.calls.values()) == 0


def test_the_process_environment_is_configuration_and_parameters_win_over_it(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """Plain variables (``SECRET_ID``/``JOB_TOKEN``) are the container's own, the same for
    every activation: read each time, never taken away, and never ahead of the ids an
    activation brings in its parameters or fields."""
    sid, token = new_job(emu, client)
    sid2, token2 = new_job(emu, client)
    warm = WarmContainer(leak_guard, env={"SECRET_ID": sid, "JOB_TOKEN": token})
    try:
        assert warm.activate(params(emu))["outcome"] == "rotated"
        assert warm.activate(params(emu, secretId=sid2, jobToken=token2))["secretId"] == sid2
        third = warm.activate(params(emu))  # the configured pair again: its job has ended
        assert (third["secretId"], third["outcome"], third["job"]) == (sid, "skipped", "ended")
        fields = warm.activate(params(emu), secretId=sid2, jobToken=token2)
        assert (fields["secretId"], fields["outcome"]) == (sid2, "skipped")
        begins = [x for x in warm.log_lines() if x["event"] == "rotation.begin"]
        assert [b["ids_from"] for b in begins] == [
            "environment SECRET_ID + environment JOB_TOKEN",
            "parameters.secretId + parameters.jobToken",
            "environment SECRET_ID + environment JOB_TOKEN",
            "environment __OW_SECRETID + environment __OW_JOBTOKEN",
        ]
    finally:
        warm.close()
    for s in (sid, sid2):
        assert_rotated_once(client, s)
