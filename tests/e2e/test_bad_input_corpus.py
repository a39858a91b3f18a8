"""The bad-input corpus (issue 11, item 7), run: every row of ``tests/bad_inputs.py``.

For each row, against one emulator shared by the module: a clear error (the handler's
``ok: false`` with the row's code, or the row's exit code; the message names the thing),
nothing changed (no write call reached the emulator besides, for the handler's preflight
rows, Start and Fail Rotation Job; every value of the secret as before), nothing leaked
(the planted value and every value the leak guard knows appear in no output, log or
result) and no traceback. ``test_corpus_summary`` prints the counts.

Counts (cases, clear, leaks, tracebacks, state changes), the run that closed issue 11 item 7:
  before its fixes: 193 cases, 133 clear, 3 leaks, 12 tracebacks, 34 state changes: 60
  handled badly (handler 21, CLI 2, deploy 31, emulator 6);
  after: 193 cases, 193 clear, 0 leaks, 0 tracebacks, 0 state changes. The last four
  (policy keys that are not rotation targets, a new value over 10,000 bytes, a connection
  error that did not name host and port) were fixed in the workflow and the transport;
  a row may still carry ``gap`` (a strict xfail) while a fix is due elsewhere.
Issue 15 item 1 (one validation before any write) added 36 rows: target settings that
cannot work (CA files, instance numbers, URLs by the one rule, db numbers, key variable
names), ids that would change an API path, values too deep or not valid Unicode. Before
its fixes: 6 clear, 4 tracebacks, 17 state changes (30 handled badly); after: 229 cases,
all clear.

The handler runs in this process (``handler.main``, as the runtime calls it), the CLI and
the emulator as separate processes (``python -m rotation`` / ``python -m emulator``),
deploy in this process (``deploy.__main__.main``: an exception escaping it is the
traceback a user would see).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import handler
from deploy.__main__ import main as deploy_main
from emulator import Emulator
from rotation.ncp.models import SecretChain
from tests.bad_inputs import (
    CLI,
    DEPLOY,
    DROP,
    EMULATOR,
    HANDLER,
    NOT_SET,
    STORE_ONLY,
    CliCase,
    DeployCase,
    EmulatorCase,
    HandlerCase,
)
from tests.factories import create_secret, executed_job
from tests.leaks import LeakGuard, find_leaks

ROOT = Path(__file__).resolve().parents[2]
#: The CLI's secret (linked to a trigger that runs nothing: a wrongly accepted `rotate`
#: would raise a job) and deploy's (linked to nothing, as deploy wants it).
CLI_SECRET, DEPLOY_SECRET = "corpus-cli", "corpus-db"
#: Environment the handler reads: unset for every handler row unless the row sets it.
HANDLER_ENV = (
    "NCLOUD_ACCESS_KEY", "NCLOUD_SECRET_KEY", "NCLOUD_SECRET_MANAGER_ENDPOINT", "NCLOUD_REGION",
    "__OW_DEADLINE", "ROTATION_TIMEOUT_SECONDS", "secretId", "SECRET_ID", "__OW_SECRETID",
    "jobToken", "JOB_TOKEN", "__OW_JOBTOKEN",
)  # fmt: skip
#: The handler's preflight rows may start the job and must end it; nothing else.
JOB_ENDING = frozenset({"start_rotation_job", "fail_rotation_job"})


# -- verdicts -------------------------------------------------------------------------------


@dataclass
class Verdict:
    clear: bool = True
    leak: bool = False
    traceback: bool = False
    changed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return not self.clear or self.leak or self.traceback or self.changed


#: (table, row id) -> verdict, for the summary.
VERDICTS: dict[tuple[str, str], Verdict] = {}
GAPS = {
    (table, row.id)
    for table, rows in (("handler", HANDLER), ("cli", CLI), ("deploy", DEPLOY))
    for row in rows
    if row.gap
}


def judge(table: str, row_id: str, verdict: Verdict) -> None:
    """Record the verdict, then fail the row with everything that was wrong."""
    VERDICTS[(table, row_id)] = verdict
    assert not verdict.bad, "; ".join(verdict.notes)


# -- the shared world -----------------------------------------------------------------------


@dataclass
class World:
    emu: Emulator
    secret_id: str
    deploy_secret_id: str
    tmp: Path
    dead_port: int

    def fill(self, item: Any, **extra: str) -> Any:
        """The placeholders of tests/bad_inputs.py, filled in (keys of objects too)."""
        if isinstance(item, str):
            for name, value in {
                "$SID": extra.get("sid", self.secret_id),
                "$TMP": str(self.tmp),
                "$BASE": self.emu.base_url,
                "$DEAD": str(self.dead_port),
                "$BUSY": str(self.emu.port),
                "$AK": self.emu.access_key,
                "$SK": self.emu.secret_key,
            }.items():
                item = item.replace(name, value)
            return item
        if isinstance(item, Mapping):
            return {self.fill(k, **extra): self.fill(v, **extra) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return type(item)(self.fill(v, **extra) for v in item)
        return item

    def writes(self, since: Counter[str]) -> list[str]:
        """Every write call the emulator answered since the call counts were ``since``
        (counts, not the request records: those keep only the newest few thousand)."""
        written = {
            route.operation
            for router in self.emu.routers
            for route in router.routes
            if route.method != "GET"
        }
        grown = self.emu.stats.calls - since
        return sorted(op for op, n in grown.items() if op in written for _ in range(n))

    def state(self, secret_id: str | None = None, *, values_only: bool = False) -> tuple[Any, ...]:
        """What a bad input must not change: the secret's values and rotation settings,
        the Cloud Functions resources, the number of secrets. ``values_only`` for the
        handler's preflight rows, whose job is (by design) started and ended as failed."""
        sid = secret_id or self.secret_id
        with self.emu.client() as client:
            chain = client.get_secret_values(sid)
            if values_only:
                return _values(chain)
            detail = client.get_secret(sid)
            total = client.list_secrets().total_count
        return (
            _values(chain),
            detail.status, detail.rotation_phase.value, detail.auto_rotation,
            detail.auto_rotation_period, detail.trigger.id if detail.trigger else None,
            total, len(self.emu.cloud_functions.actions), len(self.emu.cloud_functions.triggers),
        )  # fmt: skip


def _values(chain: SecretChain) -> tuple[Any, ...]:
    return (chain.previous, chain.active, chain.pending, chain.rotation_targets)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("corpus")
    (tmp / "action.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    with Emulator() as emu:
        with emu.client() as client:
            trigger = emu.backend.register_trigger("corpus-idle")  # raises jobs, runs nothing
            cli_sid = create_secret(
                client, secret_name=CLI_SECRET, value=dict(STORE_ONLY),
                trigger_id=trigger.trigger_id,
            ).secret_id  # fmt: skip
            deploy_sid = create_secret(
                client, secret_name=DEPLOY_SECRET, value=dict(STORE_ONLY)
            ).secret_id
        yield World(emu, cli_sid, deploy_sid, tmp, 0)


@pytest.fixture
def world(shared: World, leak_guard: LeakGuard) -> World:
    Emulator.created.append(shared.emu)  # the guard forgets emulators between tests; not this
    shared.dead_port = _free_port()
    return shared


def _rows(rows: tuple[Any, ...]) -> list[Any]:
    return [
        pytest.param(
            row,
            id=row.id,
            marks=[pytest.mark.xfail(strict=True, reason=row.gap)] if getattr(row, "gap", None)
            else [],
        )
        for row in rows
    ]  # fmt: skip


def _leaks(guard: LeakGuard, planted: str | None, texts: list[tuple[str, str]]) -> list[str]:
    secrets = guard.secrets() | ({planted} if planted else set())
    return find_leaks(texts, secrets)


# -- the handler ----------------------------------------------------------------------------


def _handler_args(case: HandlerCase, world: World, sid: str, token: str) -> Any:
    if case.args is not NOT_SET:
        return world.fill(case.args, sid=sid)
    args: dict[str, Any] = {**world.emu.action_params(), "secretId": sid, "jobToken": token}
    for key, value in world.fill(dict(case.params), sid=sid).items():
        if value == DROP:
            args.pop(key, None)
        else:
            args[key] = value
    return args


@pytest.mark.parametrize("case", _rows(HANDLER))
def test_handler(
    case: HandlerCase, world: World, leak_guard: LeakGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in HANDLER_ENV:
        monkeypatch.delenv(name, raising=False)
    with world.emu.client() as client:
        sid, token = executed_job(world.emu, client, value=dict(case.value))
    values_only = case.stage == "preflight"
    before = world.state(sid, values_only=values_only)
    for name, value in world.fill(dict(case.env)).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    if case.planted:
        leak_guard.registered.add(case.planted)
    leak_guard.read()
    mark = world.emu.stats.calls.copy()
    verdict = Verdict()
    try:
        result = handler.main(_handler_args(case, world, sid, token))
    except Exception as exc:  # recorded: the row fails
        result = {"raised": type(exc).__name__}
        verdict.traceback = True
        verdict.notes.append(f"handler.main raised {type(exc).__name__}")
    out, err = leak_guard.read()
    monkeypatch.undo()
    error = result.get("error") or {}
    message = str(error.get("message", ""))
    names = world.fill(case.names)
    if result.get("ok") is not False or error.get("code") != case.code:
        verdict.clear = False
        verdict.notes.append(f"wanted {case.code}, got {error.get('code')}: {message}")
    missing = [n for n in names if n not in message]
    if missing:
        verdict.clear = False
        verdict.notes.append(f"the message does not name {missing}: {message!r}")
    if "Traceback" in out + err or error.get("code") == "INTERNAL_ERROR":
        verdict.traceback = True
        verdict.notes.append("a traceback or INTERNAL_ERROR")
    leaks = _leaks(
        leak_guard, case.planted,
        [("stdout", out), ("stderr", err), ("result", json.dumps(result))],
    )  # fmt: skip
    if leaks:
        verdict.leak = True
        verdict.notes.append(f"a secret value appeared in {leaks}")
    allowed = JOB_ENDING if case.stage == "preflight" else frozenset()
    writes = [w for w in world.writes(mark) if w not in allowed]
    if writes or world.state(sid, values_only=values_only) != before:
        verdict.changed = True
        verdict.notes.append(f"state changed (writes {writes})")
    judge("handler", case.id, verdict)


# -- the CLI --------------------------------------------------------------------------------


def _environment(world: World, changes: Mapping[str, str | None]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NCLOUD_ACCESS_KEY": world.emu.access_key,
        "NCLOUD_SECRET_KEY": world.emu.secret_key,
    }
    for name, value in world.fill(dict(changes)).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _run(module: str, argv: list[str], env: dict[str, str], stdin: bytes | None) -> tuple[
    int | None, str, str
]:  # fmt: skip
    try:
        raw = subprocess.run(
            [sys.executable, "-m", module, *argv],
            cwd=ROOT, input=stdin or b"", capture_output=True, env=env, timeout=20, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        return None, out, (exc.stderr or b"").decode("utf-8", "replace")
    return (
        raw.returncode,
        raw.stdout.decode("utf-8", "replace"),
        raw.stderr.decode("utf-8", "replace"),
    )


def _judge_process(
    verdict: Verdict,
    guard: LeakGuard,
    planted: str | None,
    *,
    code: int | None,
    want: int,
    names: list[str],
    out: str,
    err: str,
) -> None:
    guard.observe("stdout", out)
    guard.observe("stderr", err)
    if code != want:
        verdict.clear = False
        verdict.notes.append(f"exit {code}, wanted {want}: {err.strip()[-400:]!r}")
    where = err if want >= 2 else out + err  # messages go to stderr; a report to stdout
    missing = [n for n in names if n not in where]
    if missing:
        verdict.clear = False
        verdict.notes.append(f"does not name {missing}: {where.strip()[-400:]!r}")
    if "Traceback" in out + err:
        verdict.traceback = True
        verdict.notes.append("a traceback")
    leaks = _leaks(guard, planted, [("stdout", out), ("stderr", err)])
    if leaks:
        verdict.leak = True
        verdict.notes.append(f"a secret value appeared in {leaks}")


@pytest.mark.parametrize("case", _rows(CLI))
def test_cli(case: CliCase, world: World, leak_guard: LeakGuard) -> None:
    for name, content in case.files.items():
        (world.tmp / name).write_bytes(content)
    if case.planted:
        leak_guard.registered.add(case.planted)
    before = world.state()
    mark = world.emu.stats.calls.copy()
    argv = (["--endpoint", world.emu.endpoint] if case.endpoint else []) + list(
        world.fill(case.argv)
    )
    code, out, err = _run("rotation", argv, _environment(world, case.env), case.stdin)
    verdict = Verdict()
    _judge_process(
        verdict, leak_guard, case.planted, code=code, want=case.exit,
        names=world.fill(list(case.names)), out=out, err=err,
    )  # fmt: skip
    writes = world.writes(mark)
    if writes or world.state() != before:
        verdict.changed = True
        verdict.notes.append(f"state changed (writes {writes})")
    judge("cli", case.id, verdict)


# -- deploy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _rows(DEPLOY))
def test_deploy(
    case: DeployCase,
    world: World,
    leak_guard: LeakGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NCLOUD_ACCESS_KEY", world.emu.access_key)
    monkeypatch.setenv("NCLOUD_SECRET_KEY", world.emu.secret_key)
    monkeypatch.delenv("ROTATOR_ACCESS_KEY", raising=False)
    monkeypatch.delenv("ROTATOR_SECRET_KEY", raising=False)
    for name, value in world.fill(dict(case.env)).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    argv = ["--zip", str(world.tmp / "action.zip")]
    if case.toml is not None:
        path = world.tmp / f"{case.id}.toml"
        path.write_text(world.fill(case.toml))
        argv += ["--config", str(path)]
    argv += list(world.fill(case.flags)) + (["--dry-run"] if case.dry_run else [])
    if case.planted:
        leak_guard.registered.add(case.planted)
    before = world.state(world.deploy_secret_id)
    mark = world.emu.stats.calls.copy()
    plan = io.StringIO()
    verdict = Verdict()
    code: int | None
    try:
        code = deploy_main(argv, out=plan)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # what a user would see as a traceback
        code = None
        verdict.traceback = True
        verdict.notes.append(f"python -m deploy raised {type(exc).__name__}")
    printed, err = leak_guard.read()
    out = plan.getvalue() + printed
    names = world.fill(list(case.names))
    _judge_process(
        verdict, leak_guard, case.planted, code=code, want=case.exit,
        names=[], out=out, err=err,
    )  # fmt: skip
    where = out + err if case.exit == 0 else err
    missing = [n for n in names if n not in where]
    present = [a for a in case.absent if a in out + err]
    if missing or present:
        verdict.clear = False
        verdict.notes.append(f"missing {missing}, present {present}: {(out + err)[-400:]!r}")
    writes = world.writes(mark)
    if writes or world.state(world.deploy_secret_id) != before:
        verdict.changed = True
        verdict.notes.append(f"state changed (writes {writes})")
    judge("deploy", case.id, verdict)


# -- the emulator ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", _rows(EMULATOR))
def test_emulator(case: EmulatorCase, world: World, leak_guard: LeakGuard) -> None:
    env = _environment(world, case.env)
    code, out, err = _run("emulator", list(world.fill(case.argv)), env, None)
    verdict = Verdict()
    _judge_process(
        verdict, leak_guard, None, code=code, want=case.exit,
        names=world.fill(list(case.names)), out=out, err=err,
    )  # fmt: skip
    judge("emulator", case.id, verdict)


# -- the counts -----------------------------------------------------------------------------


def test_corpus_summary(capfd: pytest.CaptureFixture[str]) -> None:
    """The counts the issue asks for (cases, clear, leaks, tracebacks, state changes), over
    the rows run in this session; every row that was handled badly must be a known gap."""
    tables = {"handler": HANDLER, "cli": CLI, "deploy": DEPLOY, "emulator": EMULATOR}
    assert sum(len(rows) for rows in tables.values()) >= 60
    verdicts = VERDICTS.values()
    counts = {
        "cases": len(VERDICTS),
        "clear": sum(v.clear for v in verdicts),
        "leaks": sum(v.leak for v in verdicts),
        "tracebacks": sum(v.traceback for v in verdicts),
        "state changes": sum(v.changed for v in verdicts),
        "handled badly": sum(v.bad for v in verdicts),
    }
    by_table = {
        table: f"{sum(1 for (t, _), v in VERDICTS.items() if t == table and v.bad)}"
        f"/{sum(1 for t, _ in VERDICTS if t == table)}"
        for table in tables
    }
    bad = sorted(f"{t}:{i}" for (t, i), v in VERDICTS.items() if v.bad)
    with capfd.disabled():
        print(f"\nbad-input corpus: {counts}; badly handled by table: {by_table}")
        for row in bad:
            print(f"  {row}: {'; '.join(VERDICTS[tuple(row.split(':', 1))].notes)}")  # type: ignore[index]
    unexpected = [row for row in bad if tuple(row.split(":", 1)) not in GAPS]
    assert unexpected == [], f"handled badly: {unexpected}"
