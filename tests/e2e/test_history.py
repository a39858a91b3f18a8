"""What the operator reads about past jobs is the truth: each ``history`` line names the
code of its own job, and a warning reaches ``rotate``, ``history`` and ``status``.

The fleet here is several secrets on one deployed action, rotating real Redis users whose
state the test sets before each job (absent, read-only, allowed, ``nopass``), so every
job's code is known in advance and differs from its neighbours': a job matched to the
wrong activation (the one before or after it, a sibling secret's, none) shows the wrong
code. Jobs run seconds apart, well inside the minute a clock-based match needed, and the
fleet makes more activations than one page of Get Action's Activation List holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pg8000.exceptions
import pg8000.native
import pytest

from emulator import Emulator
from rotation import logs
from rotation.codes import advice
from rotation.ncp.cloudfunctions import ACTIVATION_PAGE_SIZE
from rotation.ncp.secretmanager import SecretManagerClient
from tests.databases import Redis, unavailable, unique
from tests.deployed import deploy
from tests.e2e.clirun import as_json, cli
from tests.factories import create_secret, unique_name
from tests.leaks import LeakGuard

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
#: A user that may change its own password (what a rotation needs).
ALLOWED = ("~*", "+@all")
#: A user that may log in but not touch the ACL: set fails.
READ_ONLY = ("~*", "+@read", "+ping")

#: The state of a secret's Redis user before a job, and what that job must show:
#: (outcome, code, warnings).
EXPECTED: dict[str, tuple[str, str | None, list[str]]] = {
    "absent": ("failed", "TARGET_LOGIN_REFUSED", []),
    "read-only": ("failed", "TARGET_SET_FAILED", []),
    "allowed": ("completed", None, []),
    "nopass": ("completed", None, ["TARGET_AUTH_NOT_ENFORCED"]),
}
#: Each secret walks this cycle from its own offset, so neighbouring jobs differ, siblings
#: of a round mostly do, and a completed job is followed by a failure seconds later (the
#: case clocks got wrong). A read-only failure leaves a pending value the next job must
#: resolve, so it is never followed by an absent user (that job would be left running).
CYCLE = ("absent", "read-only", "allowed", "absent", "read-only", "nopass")


def _password() -> str:
    pw = unique("Pw-hist")
    logs.REDACTOR.register(pw)
    return pw


def _set_user(redis: Redis, user: str, pw: str, state: str) -> None:
    with contextlib.closing(redis.admin()) as admin:
        admin.acl_deluser(user)
    if state == "absent":
        return
    rules = {"read-only": READ_ONLY, "allowed": ALLOWED, "nopass": (*ALLOWED, "nopass")}[state]
    redis.create_user(user, pw, rules)


def _active_password(client: SecretManagerClient, sid: str) -> str:
    active = client.get_secret_values(sid).active
    assert active is not None
    return str(active["password"])


def _value(user: str, pw: str) -> dict[str, Any]:
    return {"engine": "redis", "host": REDIS_HOST, "port": REDIS_PORT, "username": user,
            "password": pw, "ssl": "disable"}  # fmt: skip


def test_every_history_line_names_its_own_jobs_code_in_a_fleet(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, redis_server: Redis
) -> None:
    trigger_id, _action = deploy(emu)
    fleet: list[tuple[str, str]] = []  # (secret id, redis user)
    for _ in range(4):
        user = unique("rot_hist")
        sid = create_secret(
            client, value=_value(user, _password()), trigger_id=trigger_id,
            secret_name=unique_name("fleet"),
        ).secret_id  # fmt: skip
        fleet.append((sid, user))
    expected: dict[str, list[tuple[str, str | None, list[str]]]] = {sid: [] for sid, _ in fleet}
    for round_no in range(len(CYCLE)):
        for index, (sid, user) in enumerate(fleet):
            state = CYCLE[(round_no + index) % len(CYCLE)]
            _set_user(redis_server, user, _active_password(client, sid), state)
            expected[sid].append(EXPECTED[state])
        for sid, _ in fleet:
            client.execute_rotation_job(sid)
        emu.wait_idle()
    assert len(emu.activations) > ACTIVATION_PAGE_SIZE, "the listing must need a second page"

    for sid, _ in fleet:
        data = as_json(cli(emu, leak_guard, "history", sid, "--json"))
        shown = [
            (j["outcome"], j["code"], [w["code"] for w in j["warnings"]]) for j in data["jobs"]
        ]
        assert shown == list(reversed(expected[sid])), sid
        assert all(len(j["job"]) == 12 and j["activationId"] for j in data["jobs"])
        text = cli(emu, leak_guard, "history", sid)
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert lines[1].split() == ["WHEN", "TRIGGERED", "OUTCOME", "CODE", "WARN", "JOB"]
        for line, (outcome, code, warnings) in zip(lines[2:], reversed(expected[sid]), strict=True):
            assert line.split()[1:5] == ["manual", outcome, code or "-", ",".join(warnings) or "-"]
        assert "?" not in text.stdout
    # The activations each history line points at are the ones that ran those jobs: the
    # result of each names the job's fingerprint and the secret.
    by_id = {a.activation_id: a for a in emu.activations}
    for sid, _ in fleet:
        for job in as_json(cli(emu, leak_guard, "history", sid, "--json"))["jobs"]:
            result = by_id[job["activationId"]].result
            assert (result["jobFingerprint"], result["secretId"]) == (job["job"], sid)

    # status judges each secret by its own last job: a warning there needs a look.
    rows = {r["secretId"]: r for r in as_json(cli(emu, leak_guard, "status", "--json"))["secrets"]}
    for sid, _ in fleet:
        outcome, _code, warnings = expected[sid][-1]
        want = {"failed": "failed", "completed": "warn" if warnings else "auto rotation off"}
        assert rows[sid]["verdict"] == want[outcome], rows[sid]
        if outcome == "completed":
            assert rows[sid]["warnings"] == warnings


def test_history_pages_until_the_oldest_job_of_a_busy_fleet(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, redis_server: Redis
) -> None:
    """One secret's failures are older than a page of its siblings' activations: they are
    still found, and the listing stops once it is past them."""
    trigger_id, _action = deploy(emu)
    user = unique("rot_old")
    quiet = create_secret(
        client, value=_value(user, _password()), trigger_id=trigger_id
    ).secret_id  # the user does not exist: its jobs fail at login
    client.execute_rotation_job(quiet)
    emu.wait_idle()
    client.retry_rotation_job(quiet)
    emu.wait_idle()
    busy_user, busy_pw = unique("rot_busy"), _password()
    redis_server.create_user(busy_user, busy_pw, ALLOWED)
    busy = create_secret(client, value=_value(busy_user, busy_pw), trigger_id=trigger_id).secret_id
    for _ in range(ACTIVATION_PAGE_SIZE + 2):
        client.execute_rotation_job(busy)
        emu.wait_idle()
    emu.stats.reset()
    data = as_json(cli(emu, leak_guard, "history", quiet, "--json"))
    # The retry finds the first run's pending value and a target it cannot log in to: it
    # leaves the job for a resume (ROTATION_INCOMPLETE), and history says so.
    assert [(j["triggered"], j["outcome"], j["code"]) for j in data["jobs"]] == [
        ("retry", "running", "ROTATION_INCOMPLETE"),
        ("manual", "failed", "TARGET_LOGIN_REFUSED"),
    ]
    assert emu.stats.calls["get_action_activations"] == 2  # two pages, then it stopped
    recent = as_json(cli(emu, leak_guard, "history", busy, "--json", "--limit", "3"))
    assert [j["outcome"] for j in recent["jobs"]] == ["completed"] * 3
    assert all(j["warnings"] == [] for j in recent["jobs"])


# -- warnings: a PostgreSQL server that trusts every local login --------------------------


PG_HOST, PG_PORT = "127.0.0.1", 5432


@pytest.fixture
def trusting_pg() -> Iterator[tuple[str, str]]:
    """A login role on the machine's PostgreSQL, which trusts every local connection:
    any password logs in, which is what TARGET_AUTH_NOT_ENFORCED is about."""
    try:
        admin = pg8000.native.Connection("postgres", host=PG_HOST, port=PG_PORT, timeout=5)
    except (OSError, pg8000.exceptions.Error) as exc:
        unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT}", type(exc).__name__)
    role, pw = unique("rot_trust"), _password()
    ident = pg8000.native.identifier(role)
    admin.run(f"CREATE ROLE {ident} LOGIN PASSWORD {pg8000.native.literal(pw)}")
    try:
        yield role, pw
    finally:
        admin.run(f"DROP ROLE IF EXISTS {ident}")
        admin.close()


def test_a_warning_reaches_rotate_history_and_status(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard, trusting_pg: tuple[str, str]
) -> None:
    role, pw = trusting_pg
    target = {"kind": "postgresql", "host": PG_HOST, "port": PG_PORT, "ssl": "disable"}
    trigger_id, _action = deploy(emu, {"target": target})
    sid = create_secret(
        client, value={"username": role, "password": pw}, trigger_id=trigger_id,
        secret_name=unique_name("trusted"),
    ).secret_id  # fmt: skip

    text = cli(emu, leak_guard, "rotate", sid, "--interval", "0.1")
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert "done" in lines[0]
    assert lines[1].startswith("1 warning from the action")
    assert lines[2].startswith("  warning TARGET_AUTH_NOT_ENFORCED: the postgresql target accepted")
    assert lines[3] == f"    what to do: {advice('TARGET_AUTH_NOT_ENFORCED')}"

    data = as_json(cli(emu, leak_guard, "rotate", sid, "--interval", "0.1", "--json"))
    assert data["outcome"] == "completed"
    assert [w["code"] for w in data["warnings"]] == ["TARGET_AUTH_NOT_ENFORCED"]
    assert data["warnings"][0]["message"]

    history = cli(emu, leak_guard, "history", sid)
    rows = [line.split() for line in history.stdout.splitlines()[2:]]
    assert [r[2:5] for r in rows] == [["completed", "-", "TARGET_AUTH_NOT_ENFORCED"]] * 2

    status = cli(emu, leak_guard, "status", sid)
    assert status.returncode == 1, status.stdout + status.stderr
    job = as_json(cli(emu, leak_guard, "history", sid, "--json"))["jobs"][0]["job"]
    assert status.stdout.splitlines()[1].rstrip().endswith("warn")
    assert f"warned TARGET_AUTH_NOT_ENFORCED: {advice('TARGET_AUTH_NOT_ENFORCED')}" in status.stdout
    assert f"last job ({job})" in status.stdout and "1 secret, 1 needs attention" in status.stdout
    row = as_json(cli(emu, leak_guard, "status", sid, "--json"))["secrets"][0]
    assert (row["verdict"], row["attention"], row["lastJob"]) == ("warn", True, job)
    assert row["warnings"] == ["TARGET_AUTH_NOT_ENFORCED"]
