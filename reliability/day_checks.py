"""The checks at the end of the day (``python -m reliability.day``): did everything the
product told the operator agree with what happened?

What happened is read from sources the operator's commands do not control: the
activations the NCP stand-in ran (each job's result, as the deployed action returned it),
Secret Manager's own record of each job, the alerts the receiver got, the databases
themselves, and what the day did to the world (:class:`reliability.day_record.Expect`).
What the operator was told is the text of each command (:mod:`reliability.day_ops`).
Each check is one PASS/FAIL line with the evidence of every failure under it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reliability.day_ops import Ran, Terminal, parse_history, parse_status
from reliability.day_record import DayRecord, JobStep
from reliability.day_world import Fleet, World
from rotation import codes
from rotation.logs import fingerprint

#: What a job's command says about how it ended, in history's words.
OUTCOME_WORDS = {"done": "completed", "FAILED": "failed", "left running": "running"}
#: Secret Manager's job kinds, in history's and the alerts' words.
TRIGGER_KINDS = {"EXECUTE": "manual", "RETRY": "retry", "SCHEDULE": "schedule"}
#: Warnings that say an alert could not be sent.
NOTIFY_TROUBLE = ("NOTIFY_INVALID", "NOTIFY_FAILED")


@dataclass
class Verdict:
    name: str
    passed: bool
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}"


def verdict(name: str, problems: list[str]) -> Verdict:
    return Verdict(name, not problems, problems)


@dataclass(frozen=True)
class Truth:
    """How a job stood once its step ended, from the deployed action's activation (or, for
    a resume run in the operator's shell, from the resume's own result)."""

    job: str | None
    outcome: str  # completed | failed | running | ?
    code: str | None
    warnings: tuple[str, ...]
    message: str
    activation: str | None
    kind: str | None  # manual | retry | schedule


@dataclass
class Facts:
    """What the checks compare against, gathered once."""

    world: World
    record: DayRecord
    ids: dict[str, str]
    truths: list[Truth]
    alerts: list[dict[str, Any]]


def gather(world: World, record: DayRecord) -> Facts:
    ids = {name: record.secret_id(name) or "" for name in Fleet.NAMES}
    kinds: dict[str, str] = {}
    ended: dict[str, str] = {}  # Secret Manager's own word on how each job stands now
    with world.emu.backend.lock:
        for secret in world.emu.backend.secrets.values():
            for job in secret.jobs:
                fp = fingerprint(job.token)
                kinds[fp] = TRIGGER_KINDS.get(job.kind, job.kind.lower())
                ended[fp] = (job.outcome or "RUNNING").lower()
    by_secret: dict[str, list[Any]] = {}
    for act in sorted(world.emu.activations, key=lambda a: a.started_ms):
        result = act.result if isinstance(act.result, dict) else {}
        by_secret.setdefault(str(result.get("secretId") or act.secret_id), []).append(act)
    seen: dict[str, int] = {}
    truths: list[Truth] = []
    last_job: dict[str, str | None] = {}
    for step in record.jobs:
        sid = ids[step.secret]
        if step.command == "resume":
            # Run in the operator's shell: no activation; Secret Manager says how the job
            # ended, the resume's own result what it warned.
            resumed = last_job.get(step.secret) or ""
            truth = Truth(resumed or None, ended.get(resumed, "?"), step.shown.code,
                          tuple(step.shown.warnings), "", None, kinds.get(resumed))  # fmt: skip
        else:
            index = seen.get(sid, 0)
            seen[sid] = index + 1
            acts = by_secret.get(sid, [])
            truth = _truth(acts[index], kinds) if index < len(acts) else Truth(
                None, "?", None, (), "no activation ran this job", None, None)  # fmt: skip
        last_job[step.secret] = truth.job
        truths.append(truth)
    alerts = [a.payload for a in world.inbox.received() if a.signed]
    return Facts(world, record, ids, truths, alerts)


def _truth(act: Any, kinds: dict[str, str]) -> Truth:
    result: dict[str, Any] = act.result if isinstance(act.result, dict) else {}
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    assert isinstance(error, dict)
    if result.get("leftForRetry"):
        outcome = "running"
    elif result.get("ok"):
        outcome = "completed"
    else:
        outcome = "failed"
    fp = result.get("jobFingerprint")
    warnings = tuple(str(w.get("code")) for w in result.get("warnings") or ())
    return Truth(fp, outcome, error.get("code"), warnings, str(error.get("message") or ""),
                 act.activation_id, kinds.get(str(fp)))  # fmt: skip


def run_checks(world: World, record: DayRecord, term: Terminal) -> list[Verdict]:
    facts = gather(world, record)
    return [
        history_names_its_own_job(facts),
        jobs_name_their_own_job(facts),
        failures_name_their_cause(facts),
        check_agrees_with_the_action(facts),
        warnings_reach_everything(facts),
        alerts_stand_alone(facts),
        ca_files_work_in_the_action(facts),
        messages_agree(facts, term.runs),
        pause_survives_deploy(facts),
        targets_hold_the_active_credential(facts),
        nothing_secret_printed(facts, term),
    ]


def _label(step: JobStep, truth: Truth) -> str:
    return f"{step.secret} {step.command} (job {truth.job or step.shown.job or '?'})"


# -- 1. history ------------------------------------------------------------------------------


def history_names_its_own_job(facts: Facts) -> Verdict:
    problems: list[str] = []
    for name, ran, jobs_before in facts.record.histories:
        expected: dict[str, tuple[str, str, str, str]] = {}
        order: list[str] = []
        for step, truth in zip(facts.record.jobs[:jobs_before], facts.truths, strict=False):
            if step.secret != name or truth.job is None:
                continue
            if truth.job not in expected:
                order.append(truth.job)
            expected[truth.job] = (
                truth.outcome, truth.code or "-", ",".join(truth.warnings) or "-",
                truth.kind or "?",
            )  # fmt: skip
        rows = parse_history(ran)
        shown = [row.job for row in rows]
        want = list(reversed(order))
        if shown != want:
            problems.append(f"`{ran.shown}` lists jobs {shown}, the day ran {want}")
        for row in rows:
            if row.job not in expected:
                continue
            outcome, code, warn, kind = expected[row.job]
            got = (row.outcome, row.code, row.warn, row.triggered)
            if got != (outcome, code, warn, kind):
                problems.append(
                    f"`{ran.shown}` after {jobs_before} jobs: job {row.job} shows "
                    f"{' '.join(got)}; its own job was {outcome} {code} {warn} {kind}"
                )
    return verdict("every history line names the code of its own job", problems)


# -- 2. what rotate, retry and resume said ------------------------------------------------


def jobs_name_their_own_job(facts: Facts) -> Verdict:
    problems: list[str] = []
    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        shown = step.shown
        said = (shown.job, OUTCOME_WORDS.get(shown.outcome, shown.outcome), shown.code,
                tuple(shown.warnings))  # fmt: skip
        was = (truth.job, truth.outcome, truth.code, truth.warnings)
        if said != was:
            problems.append(f"`{step.ran.shown}` said {said}; the job was {was}")
    return verdict("rotate, retry and resume each named their own job's outcome and code",
                   problems)  # fmt: skip


# -- 3. the cause ---------------------------------------------------------------------------


def failures_name_their_cause(facts: Facts) -> Verdict:
    problems: list[str] = []
    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        want = step.expect
        label = _label(step, truth)
        told = f"{truth.message} {step.shown.advice or ''}"
        if truth.outcome not in want.outcomes:
            problems.append(f"{label}: ended {truth.outcome}, expected {'/'.join(want.outcomes)}"
                            f" ({want.cause or 'nothing was broken'})")  # fmt: skip
        if want.codes and truth.code not in want.codes:
            problems.append(f"{label}: code {truth.code}; the cause was {want.cause!r}, which is "
                            f"{' or '.join(want.codes)}")  # fmt: skip
        if not want.codes and truth.outcome == "completed" and truth.code:
            problems.append(f"{label}: completed with code {truth.code}")
        if want.says and not any(w in told for w in want.says):
            problems.append(f"{label}: the message does not say {' or '.join(want.says)!r} "
                            f"({want.cause}): {truth.message!r}")  # fmt: skip
        wrong = [w for w in want.never if w in told]
        if wrong:
            problems.append(
                f"{label}: {truth.code} says {' and '.join(map(repr, wrong))}, but "
                f"{want.cause}; message {truth.message!r}; what to do {step.shown.advice!r}"
            )
        if tuple(sorted(truth.warnings)) != tuple(sorted(want.warnings)):
            problems.append(
                f"{label}: warnings {list(truth.warnings)}, expected "
                f"{list(want.warnings)} ({want.cause or 'nothing was broken'})"
            )
    return verdict("each failure and warning named its true cause", problems)


# -- 4. check ---------------------------------------------------------------------------------


def check_agrees_with_the_action(facts: Facts) -> Verdict:
    problems: list[str] = []
    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        if step.check is None:
            continue
        check, label = step.check, _label(step, truth)
        verdict_line = check.stdout.strip().splitlines()[-1] if check.stdout.strip() else "-"
        if truth.outcome in ("failed", "running") and check.code != 1:
            problems.append(f"{label}: `{check.shown}` said {verdict_line!r} (exit "
                            f"{check.code}); the deployed action then ended {truth.outcome} "
                            f"{truth.code}")  # fmt: skip
        if truth.outcome == "completed" and check.code != 0:
            problems.append(f"{label}: `{check.shown}` failed ({verdict_line!r}); the deployed "
                            "action then completed")  # fmt: skip
        warned = [line for line in check.stdout.splitlines() if line.startswith("warn")]
        for code in truth.warnings:
            if not any(code in line for line in warned):
                problems.append(f"{label}: the action warned {code}; `{check.shown}` did not")
    return verdict("check failed wherever the deployed action failed, warned where it warned",
                   problems)  # fmt: skip


# -- 5. warnings ------------------------------------------------------------------------------


def warnings_reach_everything(facts: Facts) -> Verdict:
    problems: list[str] = []
    warned = 0
    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        if not truth.warnings:
            continue
        warned += 1
        label = _label(step, truth)
        for code in truth.warnings:
            if code not in step.shown.warnings:
                problems.append(f"{label}: `{step.ran.shown}` did not show {code}")
            if step.history is None:
                problems.append(f"{label}: no history was read after it")
            elif not any(r.job == truth.job and code in r.warn.split(",")
                         for r in parse_history(step.history)):  # fmt: skip
                problems.append(f"{label}: `{step.history.shown}` has no {code} for the job")
            if step.status is None:
                problems.append(f"{label}: no status was read after it")
            else:
                row = parse_status(step.status, [step.secret]).get(step.secret)
                if row is None or row.verdict != "warn" or not any(code in n for n in row.notes):
                    problems.append(
                        f"{label}: `{step.status.shown}` verdict "
                        f"{row.verdict if row else '?'}, without {code}"
                    )
            if not any(a.get("job") == truth.job and code in _codes(a.get("warnings"))
                       for a in facts.alerts):  # fmt: skip
                problems.append(f"{label}: no alert carries {code}")
    if not warned:
        problems.append("no job warned: the day did not test warnings")
    return verdict("every warning appears in rotate, history, status and the alert", problems)


def _codes(warnings: object) -> list[str]:
    if not isinstance(warnings, list):
        return []
    return [str(w.get("code")) for w in warnings if isinstance(w, dict)]


# -- 6. alerts ------------------------------------------------------------------------------------


def alerts_stand_alone(facts: Facts) -> Verdict:
    problems: list[str] = []
    by_job: dict[str, list[dict[str, Any]]] = {}
    for alert in facts.alerts:
        by_job.setdefault(str(alert.get("job")), []).append(alert)
    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        if step.command == "resume":
            continue  # run in the operator's shell: the action's alerts are not its to send
        label = _label(step, truth)
        got = [a for a in by_job.get(str(truth.job), []) if a.get("activationId")
               == truth.activation]  # fmt: skip
        wanted = truth.outcome != "completed" or bool(truth.warnings)
        if not wanted:
            if got:
                problems.append(f"{label}: a clean success was alerted ({got[0].get('event')})")
            continue
        if len(got) != 1:
            problems.append(f"{label}: {len(got)} alerts for the job, expected 1")
            continue
        alert = got[0]
        want = {
            "secretName": step.secret,
            "secretId": facts.ids[step.secret],
            "code": truth.code,
            "trigger": truth.kind,
            "environment": "day-local",
            "leftForRetry": truth.outcome == "running",
        }
        for key, value in want.items():
            if alert.get(key) != value:
                problems.append(f"{label}: the alert's {key} is {alert.get(key)!r}, not "
                                f"{value!r}")  # fmt: skip
        for key in ("advice", "time", "alertId"):
            if not alert.get(key):
                problems.append(f"{label}: the alert has no {key}")
        if sorted(_codes(alert.get("warnings"))) != sorted(truth.warnings):
            problems.append(f"{label}: the alert's warnings {_codes(alert.get('warnings'))}, the "
                            f"job's {list(truth.warnings)}")  # fmt: skip
    unsigned = [a for a in facts.world.inbox.received() if not a.signed]
    if unsigned:
        problems.append(f"{len(unsigned)} alerts without a valid signature")
    return verdict(
        "each failure, warning and job left running was alerted once, naming code, "
        "secret, job, activation, trigger kind and environment",
        problems,
    )


# -- 7. CA files ------------------------------------------------------------------------------


def ca_files_work_in_the_action(facts: Facts) -> Verdict:
    problems: list[str] = []
    world = facts.world
    for why, ran in facts.record.deploys:
        packed = [line for line in ran.stdout.splitlines() if "packed as certs/" in line]
        if ran.code != 0 or len(packed) != 2:
            problems.append(f"deploy ({why}) exit {ran.code}, {len(packed)} CA files packed, "
                            "expected 2")  # fmt: skip
    present = [s for s in facts.record.jobs if s.ca_on_disk]
    if present:
        problems.append(f"{len(present)} jobs ran while the CA files were still on disk")
    pg = [t for s, t in zip(facts.record.jobs, facts.truths, strict=True)
          if s.secret == Fleet.PG and s.command != "resume"]  # fmt: skip
    if not any(t.outcome == "completed" for t in pg):
        problems.append("no PostgreSQL rotation (ssl verify-full, sslRootCert packed) completed")
    for act in world.emu.activations:
        result = act.result if isinstance(act.result, dict) else {}
        trouble = [c for c in _codes(result.get("warnings")) if c in NOTIFY_TROUBLE]
        if trouble:
            problems.append(f"activation {act.activation_id}: {', '.join(trouble)}")
    received = world.inbox.received()
    if not received:
        problems.append("the receiver got no alert")
    if world.inbox.errors:
        problems.append(f"the receiver saw TLS errors: {world.inbox.errors}")
    return verdict("the CA files named in the config worked inside the action (PostgreSQL "
                   "verify-full, alerts over TLS)", problems)  # fmt: skip


# -- 8. one voice -----------------------------------------------------------------------------


ADVICE_IN_STATUS = re.compile(r"warned ([A-Z_]+): (.*?); `history")


def messages_agree(facts: Facts, runs: list[Ran]) -> Verdict:
    """One advice per code (and job state), whoever says it, and no ``cancel`` offered
    while a job that may hold a pending value runs."""
    problems: list[str] = []
    seen = 0

    def compare(where: str, code: str | None, job: str | None, text: str | None, sid: str) -> None:
        nonlocal seen
        if not code or text is None:
            return
        seen += 1
        want = codes.advice(code, job).replace("SECRET_ID", sid)
        if text.strip() != want:
            problems.append(f"{where}: {code} ({job or 'warning'}): {text.strip()!r}, "
                            f"elsewhere {want!r}")  # fmt: skip

    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        sid = facts.ids[step.secret]
        job = "running" if truth.outcome == "running" else "failed"
        compare(f"`{step.ran.shown}`", step.shown.code, job, step.shown.advice, sid)
        for code, text in step.shown.warnings.items():
            compare(f"`{step.ran.shown}`", code, None, text, sid)
    for alert in facts.alerts:
        sid = str(alert.get("secretId"))
        where = f"alert {alert.get('event')} job {alert.get('job')}"
        if alert.get("event") != "rotation.succeeded":
            job = "running" if alert.get("leftForRetry") else "failed"
            compare(where, alert.get("code"), job, alert.get("advice"), sid)
        for warning in alert.get("warnings") or []:
            compare(where, warning.get("code"), None, warning.get("advice"), sid)
    for names, ran in facts.record.statuses:
        for match in ADVICE_IN_STATUS.finditer(ran.stdout):
            sid = facts.ids.get(names[0], "") if names else ""
            compare(f"`{ran.shown}`", match.group(1), None, match.group(2), sid)
    for _name, ran in facts.record.checks:
        for line in ran.stdout.splitlines():
            named = next((c for c in codes.CODES if f" {c}: " in line), None)
            if named and line.startswith("warn") and codes.advice(named) not in line:
                problems.append(f"`{ran.shown}`: {named} without its advice: {line!r}")
    problems += _status_contradicts(facts)
    problems += _cancel_offered(facts, runs)
    if not seen:
        problems.append("no advice was shown: nothing to compare")
    return verdict("no message contradicted another (one advice per code, no cancel offered "
                   "for a job left running)", problems)  # fmt: skip


#: The verdict ``status`` owes a secret right after a job, by how the job stood.
STATUS_AFTER = {"failed": "failed", "running": "left running", "completed": "ok"}


def _status_contradicts(facts: Facts) -> list[str]:
    """``status`` right after a job must judge the secret as the job left it."""
    problems: list[str] = []
    for step, truth in zip(facts.record.jobs, facts.truths, strict=True):
        if step.status is None:
            continue
        want = "warn" if truth.outcome == "completed" and truth.warnings else STATUS_AFTER.get(
            truth.outcome, "?")  # fmt: skip
        row = parse_status(step.status, [step.secret]).get(step.secret)
        if row is None or row.verdict != want:
            problems.append(f"`{step.status.shown}` after {_label(step, truth)} said "
                            f"{row.verdict if row else '?'}; the job ended {truth.outcome} "
                            f"{truth.code or ''}".rstrip())  # fmt: skip
    return problems


def _cancel_offered(facts: Facts, runs: list[Ran]) -> list[str]:
    problems: list[str] = []
    jobs = facts.record.jobs
    for i, (step, truth) in enumerate(zip(jobs, facts.truths, strict=True)):
        if truth.outcome != "running":
            continue
        ends = next((s.index for s in jobs[i + 1 :] if s.secret == step.secret), len(runs))
        for ran in runs[step.index : ends]:
            for line in ran.output.splitlines():
                low = line.lower()
                if "cancel" in low and "do not cancel" not in low and "never cancel" not in low:
                    problems.append(f"`{ran.shown}` offers cancel while job {truth.job} may "
                                    f"hold a pending value: {line.strip()!r}")  # fmt: skip
    return problems


# -- 9. pause ---------------------------------------------------------------------------------


def pause_survives_deploy(facts: Facts) -> Verdict:
    record, problems = facts.record, []
    sid = facts.ids[Fleet.STORE]
    if record.pause is None or record.pause.code != 0 or "--period 90" not in record.pause.stdout:
        problems.append("pause did not say how to turn it back on with its period (90)")
    refused = record.unpause_refused
    if refused is None or refused.code != 2 or "--period" not in refused.output:
        problems.append("unpause without --period did not refuse and say why")
    deployed = record.redeploy
    if deployed is None or "kept paused" not in deployed.stdout:
        problems.append("the redeploy's plan did not say day-store is kept paused")
    for ran, want in ((record.paused_status, "auto rotation off"),
                      (record.unpaused_status, "ok")):  # fmt: skip
        row = parse_status(ran, [Fleet.STORE]).get(Fleet.STORE) if ran else None
        if row is None or row.verdict != want:
            problems.append(f"status said {row.verdict if row else '?'}, expected {want}")
    with facts.world.emu.client() as client:
        detail = client.get_secret(sid)
    if not detail.auto_rotation or detail.auto_rotation_period != 90:
        problems.append(f"after unpause: auto rotation {detail.auto_rotation}, period "
                        f"{detail.auto_rotation_period}")  # fmt: skip
    return verdict("a paused secret stayed paused through a redeploy; unpause kept its period",
                   problems)  # fmt: skip


# -- 10. the invariant at the end -------------------------------------------------------------


def targets_hold_the_active_credential(facts: Facts) -> Verdict:
    problems: list[str] = []
    values = facts.world.active_values()
    for name in Fleet.NAMES:
        value = values.get(name)
        if value is None:
            problems.append(f"{name} has no active value")
            continue
        accepted = facts.world.target_accepts(name, value)
        if accepted is False:
            problems.append(f"{name}: the database refuses the stored active credential")
    with facts.world.emu.client() as client:
        for name in Fleet.NAMES:
            detail = client.get_secret(facts.ids[name])
            if detail.rotation_phase.value != "NONE":
                problems.append(f"{name} ends the day {detail.rotation_phase.value}")
    return verdict("every database accepts its secret's active credential at the end",
                   problems)  # fmt: skip


# -- 11. leaks --------------------------------------------------------------------------------


def texts_of(world: World, term: Terminal) -> list[tuple[str, str]]:
    """Everything the day produced, labelled: each command's output, each alert, each
    activation's log and result, the transcript."""
    texts: list[tuple[str, str]] = [(r.shown, r.output) for r in term.runs]
    texts += [("an alert", a.raw) for a in world.inbox.received()]
    for act in world.emu.activations:
        texts.append((f"activation {act.activation_id} log", "\n".join(act.logs)))
        texts.append((f"activation {act.activation_id} result", json.dumps(act.result)))
    texts.append(("the transcript", "\n".join(term.printed)))
    return texts


def nothing_secret_printed(facts: Facts, term: Terminal) -> Verdict:
    found = find_leaks(texts_of(facts.world, term), facts.world.secret_values())
    return verdict(
        "no secret value in any output, alert, log or result",
        [f"a secret value in {where}" for where in found],
    )


def find_leaks(texts: Iterable[tuple[str, str]], values: Iterable[str]) -> list[str]:
    """Where (by label) any value of 8 characters or more appears, raw or JSON-escaped."""
    forms = {f for v in values if len(v) >= 8 for f in (v, json.dumps(v)[1:-1])}
    return sorted({where for where, text in texts for f in forms if f in text})
