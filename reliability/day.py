"""``python -m reliability.day``: a new operator's day with the product, and whether what it
told them was true (issue 17).

The day is played on the emulator (Secret Manager and Cloud Functions) and the machine's
real MariaDB, Redis and a throwaway PostgreSQL cluster, through the user-facing commands
only, each its own process: ``python -m rotation`` and ``python -m deploy`` (and
``python -m deploy.package``), credentials in the environment. Four secrets on one
trigger: a MariaDB user, a PostgreSQL user (TLS verified with a CA file the config
names), a Redis user and a store-only key; alerts go to a local HTTPS receiver whose CA
file the config names too, so deploy must pack both files into the zip.

What happens, in order: create the secrets, deploy, ``check`` each, ``rotate`` each (one
fails on purpose: ``ssl = "require"`` against a Redis without TLS), fix the config and
``retry``; then a DBA revokes a grant the MariaDB ``testQuery`` needs, the Redis user is
switched off (and retried before anyone fixed it), PostgreSQL is opened to ``trust``
(the rotation warns ``TARGET_AUTH_NOT_ENFORCED``); the fixes, ``retry``, ``resume``; a
``pause``, a redeploy that must keep it paused, ``unpause``. ``check`` runs before every
job and ``history`` and ``status`` after it, jobs seconds apart. Then the alerts the
receiver got, each secret's whole history, and the checks (``reliability/day_checks.py``),
one PASS/FAIL line each; exit 0 only when every one passes.

``--short`` (the e2e test's mode) plays the same failures and fixes with fewer
intermediate reads; ``-v`` prints every output line instead of the ones that matter.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from reliability.day_checks import Verdict, run_checks, texts_of
from reliability.day_ops import (
    Ran,
    Terminal,
    check_lines,
    history_lines,
    job_lines,
    matching,
    parse_job,
    status_lines,
)
from reliability.day_record import CLEAN, DayRecord, Expect, JobStep
from reliability.day_world import Fleet, World, world
from reliability.servers import ServerUnavailable
from rotation import logs

MARIA, PG, REDIS, STORE = Fleet.NAMES
#: How often ``rotate`` and ``retry`` poll: a shared machine, short jobs.
INTERVAL = "0.2"


@dataclass
class DayResult:
    verdicts: list[Verdict]
    record: DayRecord
    #: The world after the day (servers stopped; what they recorded is still readable).
    world: World
    term: Terminal
    transcript: list[str] = field(default_factory=list)
    #: Every text the day saw (command outputs, alerts, activation logs), for leak checks.
    texts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


class Operator:
    """The new operator: runs the commands, keeps the record the checks read."""

    def __init__(self, the_world: World, term: Terminal, *, short: bool) -> None:
        self.world, self.term, self.short = the_world, term, short
        self.record = DayRecord()

    # -- steps ---------------------------------------------------------------------------

    def create_secrets(self) -> None:
        for name, value in self.world.values().items():
            ran = self.term.rotation(
                "secret", "create", "--name", name, "--targets", World.targets(name),
                stdin=json.dumps(value), note="< value on stdin",
                condense=matching("created"),
            )  # fmt: skip
            self.record.created[name] = ran

    def deploy(self, why: str) -> Ran:
        self.world.restore_ca_files()
        ran = self.term.run(
            "deploy", "--config", str(self.world.config),
            condense=matching("ca file", "rotation ", "action ", "paused", "done",
                              "nothing to change", "error", "refused"),
        )  # fmt: skip
        self.world.remove_ca_files()
        self.term.say("the CA files are removed from the deploying machine: only the zip has them")
        self.record.deploys.append((why, ran))
        return ran

    def check(self, name: str) -> Ran:
        ran = self.term.rotation("check", name, condense=check_lines)
        self.record.checks.append((name, ran))
        return ran

    def job(self, name: str, command: str, expect: Expect = CLEAN) -> JobStep:
        """``check`` (in the state the job will meet), the job, then ``history`` and
        ``status``: what a careful operator runs. ``--short`` runs the job alone where
        nothing was broken."""
        careful = not self.short or expect is not CLEAN
        checked = self.check(name) if careful else None
        extra = ("--interval", INTERVAL) if command in ("rotate", "retry") else ()
        index = len(self.term.runs)
        ran = self.term.rotation(command, name, *extra, condense=job_lines)
        on_disk = self.world.pg_ca.exists() or self.world.receiver_ca_file.exists()
        step = JobStep(name, command, ran, parse_job(ran), checked, expect, index, on_disk)
        self.record.jobs.append(step)
        if careful:
            step.history = self.history(name, newest=1)
            step.status = self.status(name)
        return step

    def history(self, name: str, *, newest: int) -> Ran:
        ran = self.term.rotation("history", name, condense=history_lines(newest))
        self.record.histories.append((name, ran, len(self.record.jobs)))
        return ran

    def status(self, *names: str) -> Ran:
        ran = self.term.rotation("status", *names, condense=status_lines(*names))
        self.record.statuses.append((names, ran))
        return ran

    # -- the day -------------------------------------------------------------------------

    def morning(self) -> None:
        w, f = self.world, self.world.fleet
        self.term.section("the fleet: four secrets, one trigger, alerts to a local receiver")
        self.term.say(
            f"MariaDB user {f.maria_user} (SELECT, INSERT on {f.maria_db}; its testQuery "
            f"reads a table); PostgreSQL user {f.pg_user} on a scram-sha-256 cluster "
            f":{w.pg.port} with TLS; Redis ACL user {f.redis_user}; a store-only API key"
        )
        self.term.say(f"alert receiver {w.inbox.base}/alerts, HTTPS from its own CA")
        self.create_secrets()
        self.term.run("deploy.package", "--out", str(w.zip), condense=matching("sha256"))
        w.write_config(redis_ssl="require")
        self.term.say(
            "day.toml: per-secret targets in [[secrets]]: day-maria {ssl=disable, testQuery}, "
            "day-pg {ssl=verify-full, sslRootCert=pg-ca.pem}, day-redis {ssl=require}, "
            "day-store; notify: a json webhook with caBundle=alerts-ca.pem"
        )
        self.deploy("first deploy")

        self.term.section("first rotations: check before each job, history and status after")
        self.job(MARIA, "rotate")
        self.job(PG, "rotate")
        self.job(
            REDIS,
            "rotate",
            Expect(
                ("failed",),
                ("TARGET_UNREACHABLE",),
                says=("TLS",),
                cause="ssl = require, the server has no TLS",
            ),
        )
        self.job(STORE, "rotate")

        self.term.section("fix: this Redis has no TLS, so ssl = disable for day-redis")
        w.write_config(redis_ssl="disable")
        self.deploy("ssl fixed")
        self.job(REDIS, "retry")

    def failures(self) -> None:
        w = self.world
        self.term.section("a DBA revokes SELECT from day-maria's user (INSERT stays)")
        w.maria_grant("SELECT", granted=False)
        self.job(
            MARIA,
            "rotate",
            Expect(
                ("failed",),
                ("TARGET_TEST_FAILED",),
                says=("testQuery", "test query", "SELECT"),
                cause="SELECT revoked: the testQuery is refused, logins still work",
            ),
        )
        w.maria_grant("SELECT", granted=True)
        self.term.say("the DBA grants SELECT again")
        self.job(MARIA, "retry")

        self.term.section("a DBA revokes everything day-maria's user had on its database")
        w.maria_grant("SELECT, INSERT", granted=False)
        self.job(
            MARIA,
            "rotate",
            Expect(
                ("failed",),
                never=("no longer matches", "set the stored value"),
                cause="no privilege on the database (error 1044): the password is right",
            ),
        )

        self.term.section("day-redis's user is switched off (ACL SETUSER ... off)")
        w.redis_login(allowed=False)
        disabled = Expect(("failed", "running"), ("TARGET_USER_DISABLED", "TARGET_LOGIN_REFUSED",
                          "ROTATION_INCOMPLETE"), says=("disabled",),
                          cause="the Redis user is off")  # fmt: skip
        self.job(REDIS, "rotate", disabled)
        self.term.say("retried before anyone switched the user on again")
        self.job(REDIS, "retry", disabled)

        self.term.section("PostgreSQL's pg_hba.conf is opened to trust")
        w.pg_auth("trust")
        self.job(
            PG,
            "rotate",
            Expect(
                ("completed",),
                warnings=("TARGET_AUTH_NOT_ENFORCED",),
                cause="pg_hba.conf trust: any password logs in",
            ),
        )

    def fixes(self) -> None:
        w = self.world
        self.term.section("the fixes: the grants back, the Redis user on, scram-sha-256 again")
        w.maria_grant("SELECT, INSERT", granted=True)
        self.job(MARIA, "retry")
        w.redis_login(allowed=True)
        self.job(REDIS, "resume")
        w.pg_auth("scram-sha-256")
        self.job(PG, "rotate")

    def pause_day(self) -> None:
        self.term.section("pause day-store, redeploy (it must stay paused), unpause")
        paused = self.term.rotation("pause", STORE)
        self.record.pause = paused
        self.record.unpause_refused = self.term.rotation("unpause", STORE)
        self.record.redeploy = self.deploy("redeploy while paused")
        self.record.paused_status = self.status(STORE)
        self.record.unpause = self.term.rotation("unpause", STORE, "--period", "90")
        self.record.unpaused_status = self.status(STORE)

    def evening(self) -> None:
        self.term.section("the alerts the receiver got")
        self.world.emu.wait_idle()
        alerts = self.world.inbox.received()
        signed = sum(a.signed for a in alerts)
        self.term.say(f"{len(alerts)} alerts, {signed} with a valid signature")
        for alert in alerts:
            p = alert.payload
            warnings = ",".join(str(w.get("code")) for w in p.get("warnings") or []) or "-"
            self.term.emit(
                f"  {p.get('event')} {p.get('code') or '-'} {p.get('secretName')} "
                f"job {p.get('job')} activation {str(p.get('activationId'))[:12]} "
                f"trigger {p.get('trigger')} env {p.get('environment')} warnings {warnings}"
            )
        starts = [step.ran.started for step in self.record.jobs]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        self.term.say(
            f"{len(starts)} jobs in {starts[-1] - starts[0]:.0f}s, {min(gaps):.1f}s to "
            f"{max(gaps):.1f}s apart (history must not match them by clock)"
        )
        self.term.section("each secret's history at the end of the day")
        for name in Fleet.NAMES:
            self.history(name, newest=99)
        self.status()


def run_day(*, short: bool, out: TextIO, verbose: bool = False) -> DayResult:
    """Play the day, print the transcript to ``out``, return the verdicts."""
    started = time.monotonic()
    with world() as the_world:
        term = Terminal(the_world, out, verbose=verbose)
        operator = Operator(the_world, term, short=short)
        operator.morning()
        operator.failures()
        operator.fixes()
        operator.pause_day()
        operator.evening()
        the_world.emu.wait_idle()
        verdicts = run_checks(the_world, operator.record, term)
        term.section(f"checks ({time.monotonic() - started:.0f}s)")
        for verdict in verdicts:
            term.emit(str(verdict))
            for detail in verdict.details[:8]:
                term.emit(f"    {detail}", cut=False)
        texts = texts_of(the_world, term)
        return DayResult(verdicts, operator.record, the_world, term, term.printed, texts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reliability.day",
        description="A new operator's day with the product on the emulator and the "
        "machine's databases, through the user-facing commands only; then one PASS/FAIL "
        "line per thing the product must have told the truth about.",
        epilog="Exit 0 when every check passes, 1 when any fails, 2 when a server the day "
        "needs is missing.",
    )
    parser.add_argument("--short", action="store_true", help="fewer intermediate reads")
    parser.add_argument("-v", "--verbose", action="store_true", help="every output line")
    opts = parser.parse_args(argv)
    logs.configure("WARNING")  # the day's own reads of the stand-in stay quiet
    try:
        result = run_day(short=opts.short, out=sys.stdout, verbose=opts.verbose)
    except ServerUnavailable as exc:
        print(f"day: cannot start: {exc}", file=sys.stderr)
        return 2
    failed = sum(not v.passed for v in result.verdicts)
    print(f"day: {len(result.verdicts)} checks, {failed} failed")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
