"""Acting on a secret's rotation: rotate, retry, cancel, resume, rollback, pause, unpause.

Every command checks the secret's state first and refuses, with the reason and the
command that fits, before it changes anything (exit 2). Every change ends with a line that
says what changed. Jobs are named by their fingerprint (the ``job`` field of the action's
log lines), never by their token.

``rotate`` and ``retry`` follow the job they raised to its end: Secret Manager's log says
when a job completed, failed or was cancelled (the secret's phase alone cannot tell a fast
failure from no start), and the action's activation says why. A job the action left
running on purpose (``leftForRetry``) is seen through the activation, so the command stops
waiting and says ``resume`` instead of timing out.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rotation import logs
from rotation.check import CheckStatus, trigger_actions
from rotation.cli import advice
from rotation.cli import params as action_params
from rotation.cli.activations import (
    JobActivations,
    JobResult,
    unknown_warnings,
    warning_lines,
    warnings_of,
)
from rotation.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    Failed,
    Output,
    Progress,
    Refused,
    Unreachable,
    action_name,
    bounded_int,
    credentials,
    epoch_ms,
    functions_client,
    non_negative_seconds,
    positive_seconds,
    secret_id,
    sm_client,
)
from rotation.cli.explain import (
    CLOCK_SLACK_MS,
    ActionRecords,
    Explanation,
    explain,
    from_activation,
    from_secret_log,
    window,
)
from rotation.cli.invoke import run_handler
from rotation.cli.joblog import Job, jobs_of, live, read_log
from rotation.display import iso_ms
from rotation.ncp.errors import NcpError
from rotation.ncp.models import RotationPhase, SecretDetail, SecretStatus
from rotation.ncp.secretmanager import SecretManagerClient

#: How long to look for the action's activation once the job has ended.
EXPLAIN_WAIT_SECONDS = 15.0
#: While a job runs, how often to ask Cloud Functions whether the action already ended.
ACTIVATION_POLL_SECONDS = 5.0

Sleep = Callable[[float], None]


# -- following a job ------------------------------------------------------------------------


@dataclass
class Followed:
    state: str  # completed | failed | cancelled | left running | timeout
    detail: SecretDetail
    job: Job | None
    seconds: float
    explanation: Explanation | None = None


def _jobs(client: SecretManagerClient, sid: str, since_ms: int) -> list[Job]:
    """Jobs with log entries since ``since_ms`` (less a margin for clock differences)."""
    entries = read_log(client, sid, since_ms=max(0, since_ms - CLOCK_SLACK_MS))
    return [r for r in jobs_of(entries) if isinstance(r, Job)]


def _new_job(
    client: SecretManagerClient, sid: str, known: set[str] | None, since_ms: int
) -> Job | None:
    """The job raised since ``since_ms``; ``None`` also when the log cannot be read (no
    right to Get Secret Logs): following then falls back on the secret's phase."""
    if known is None:
        return None
    try:
        fresh = [j for j in _jobs(client, sid, since_ms) if j.token not in known]
    except NcpError:
        return None
    return fresh[-1] if fresh else None


def _ended(
    before: SecretDetail, detail: SecretDetail, job: Job | None, *, seen_rotating: bool
) -> str | None:
    """How the job ended, when the detail and the log (read in that order) agree it has;
    ``None`` while it runs, or while the log already says it ended and the phase does not.

    The log wins when it knows the job: "completed", "failed" or "cancelled", once the
    phase (read before it) has left ROTATING too. Without the job in the log (no tokens,
    or no right to read it) the phase alone decides, as does a new last rotation date."""
    if detail.rotating:
        return None  # whatever the log says: a detail from before the end; read both again
    if job is not None and job.outcome in ("completed", "failed", "cancelled"):
        return job.outcome
    if job is None and seen_rotating:
        # A log without tokens: fall back on the phase.
        failed = detail.rotation_phase is RotationPhase.ROTATION_FAILED
        return "failed" if failed else "completed"
    if detail.last_rotation_date != before.last_rotation_date:
        return "completed"
    return None


def follow(
    client: SecretManagerClient,
    records: ActionRecords,
    before: SecretDetail,
    known: set[str] | None,
    *,
    since_ms: int,
    timeout: float,
    interval: float,
    progress: Progress,
    sleep: Sleep = time.sleep,
) -> Followed:
    """Poll the secret's detail, then its log, until the job has ended (or ``timeout``).

    Each round reads the detail first and the log second, so a job that ends between the
    two reads shows up as a log that is ahead of the detail (the job ended, the phase still
    ROTATING). :func:`_ended` calls that "not yet" and the next round reads both again:
    the result always carries a detail read after the job ended, never a stale phase."""
    sid = before.secret_id
    seen_rotating = False
    next_activation_check = ACTIVATION_POLL_SECONDS
    while True:
        detail = client.get_secret(sid)
        progress.update(detail.rotation_phase.value)
        job = _new_job(client, sid, known, since_ms)
        seen_rotating = seen_rotating or detail.rotating
        state = _ended(before, detail, job, seen_rotating=seen_rotating)
        if state is not None:
            return Followed(state, detail, job, progress.elapsed)
        if detail.rotating and progress.elapsed >= next_activation_check:
            next_activation_check = progress.elapsed + ACTIVATION_POLL_SECONDS
            ended = records.latest(*window(job, since_ms))
            if ended is not None and ended.code is not None:
                return Followed("left running", detail, job, progress.elapsed, ended)
        if progress.elapsed >= timeout:
            return Followed("timeout", detail, job, progress.elapsed)
        sleep(interval)


def report(
    out: Output,
    opts: argparse.Namespace,
    records: ActionRecords,
    followed: Followed,
    *,
    since_ms: int,
    sleep: Sleep = time.sleep,
) -> int:
    detail, job = followed.detail, followed.job
    name = f"{detail.secret_name} ({detail.secret_id})"
    fp = job.job if job is not None else "-"
    summary: dict[str, Any] = {
        "secretId": detail.secret_id,
        "secretName": detail.secret_name,
        "outcome": followed.state,
        "job": fp,
        "seconds": round(followed.seconds, 1),
        "rotationPhase": detail.rotation_phase.value,
    }
    own = _own_activation(opts, records, followed, sleep=sleep)
    explanation = followed.explanation
    if followed.state in ("failed", "left running") and (explanation is None or own is not None):
        explanation = _explain(opts, records, followed, own, since_ms=since_ms, sleep=sleep)
    if explanation is not None:
        if followed.state == "left running":  # the advice follows the job as it stands
            explanation.job_seen = "running"
        summary["error"] = explanation.to_json()
    warnings = _warnings(opts, records, followed, own, explanation, since_ms=since_ms, sleep=sleep)
    summary["warnings"] = warnings
    if opts.json:
        out.json(summary)
    elif followed.state == "completed":
        out.write(
            f"rotation of {name} done in {followed.seconds:.1f}s "
            f"(rotationPhase {detail.rotation_phase.value}, job {fp})"
        )
    elif followed.state == "timeout":
        out.write(
            f"rotation of {name} still {detail.rotation_phase.value} after "
            f"{followed.seconds:.0f}s (job {fp}): the action may still be running. "
            f"`history {detail.secret_id}` shows the job; `resume {detail.secret_id}` runs "
            "the action again with it."
        )
    else:
        word = {"failed": "FAILED", "cancelled": "was CANCELLED", "left running": "FAILED"}
        out.write(
            f"rotation of {name} {word[followed.state]} after {followed.seconds:.1f}s "
            f"(job {fp}, rotationPhase {detail.rotation_phase.value})"
        )
        if explanation is not None:
            for line in explanation.render():
                out.write(line)
        if followed.state == "left running" and not (explanation and explanation.left_for_retry):
            out.write(
                "the job is still running: fix the cause, then "
                + advice.running_job(detail.secret_id, pending_stored=None)
            )
    if not opts.json:
        _print_warnings(out, followed, warnings)
    if followed.state == "completed":
        return EXIT_OK
    return EXIT_TIMEOUT if followed.state == "timeout" else EXIT_FAILED


def _print_warnings(out: Output, followed: Followed, warnings: list[dict[str, str]] | None) -> None:
    """Under the outcome: each warning, what it means and what to do; a note on stderr
    when a completed job's warnings could not be read."""
    if warnings is None and followed.state == "completed":
        out.note(unknown_warnings(followed.detail.secret_id))
    for line in warning_lines(warnings or [], followed.detail.secret_id):
        out.write(line)


def _own_activation(
    opts: argparse.Namespace, records: ActionRecords, followed: Followed, *, sleep: Sleep
) -> JobResult | None:
    """The followed job's own activation, found by the fingerprint it carries, never by
    time (a retry raised seconds after a failure must not show the failure's code). It
    finishes after the job ends (verify, finish), so this waits up to --explain-wait."""
    job = followed.job
    if job is None or followed.state not in ("completed", "failed", "left running"):
        return None
    # The follow loop already saw an activation end: it is there, no need to wait.
    wait = 0.0 if followed.explanation is not None else opts.explain_wait
    with JobActivations(records.client, records.factory, records.note) as lookups:
        return lookups.wait_for(followed.detail, job.job, job.started, wait=wait, sleep=sleep)


def _explain(
    opts: argparse.Namespace,
    records: ActionRecords,
    followed: Followed,
    own: JobResult | None,
    *,
    since_ms: int,
    sleep: Sleep,
) -> Explanation:
    """Why the job failed: its own activation's account, else Secret Manager's log of it.
    Only a log without tokens (no job known) falls back on the newest activation for the
    secret."""
    sid = followed.detail.secret_id
    if own is not None:
        return from_activation(own.activation, own.action, sid)
    if followed.job is not None:
        records.note("the action's activation record for this job was not found (yet)")
        return from_secret_log(followed.job, sid)
    return explain(records, None, since_ms=since_ms, wait=opts.explain_wait, sleep=sleep)


def _warnings(
    opts: argparse.Namespace,
    records: ActionRecords,
    followed: Followed,
    own: JobResult | None,
    explanation: Explanation | None,
    *,
    since_ms: int,
    sleep: Sleep,
) -> list[dict[str, str]] | None:
    """The warnings of the followed job's activation (``None``: not found)."""
    if own is not None:
        return own.warnings
    if explanation is not None and explanation.result is not None:
        return warnings_of(explanation.result)
    if followed.state != "completed" or followed.job is not None:
        return None
    # A log without tokens: the newest activation for this secret is all there is.
    found = explain(records, None, since_ms=since_ms, wait=opts.explain_wait, sleep=sleep)
    return warnings_of(found.result) if found.result is not None else None


def _raise_and_follow(
    opts: argparse.Namespace,
    out: Output,
    client: SecretManagerClient,
    before: SecretDetail,
    raise_job: Callable[[], None],
    *,
    sleep: Sleep,
) -> int:
    since_ms = epoch_ms()
    known: set[str] | None
    try:
        known = {j.token for j in _jobs(client, before.secret_id, since_ms)}
    except NcpError:
        known = None  # the log cannot be read: follow the phase alone
    raise_job()
    if getattr(opts, "no_wait", False):
        job = _new_job(client, before.secret_id, known, since_ms)
        out.write(
            f"rotation job {job.job if job else '-'} of {before.secret_name} "
            f"({before.secret_id}) raised; `history {before.secret_id}` follows it"
        )
        return EXIT_OK
    progress = Progress(out.messages, before.secret_name)
    with ActionRecords(client, lambda: functions_client(opts), before, out.note) as records:
        try:
            followed = follow(
                client,
                records,
                before,
                known,
                since_ms=since_ms,
                timeout=opts.timeout,
                interval=opts.interval,
                progress=progress,
                sleep=sleep,
            )
        finally:
            progress.finish()
        return report(out, opts, records, followed, since_ms=since_ms, sleep=sleep)


def pending_stored(client: SecretManagerClient, secret_id: str) -> bool | None:
    """Does Secret Manager hold a pending value (which the target may hold already)?
    ``None`` when the chain cannot be read: the advice then assumes it does."""
    try:
        chain = client.get_secret_values(secret_id)
    except NcpError:
        return None
    for value in (chain.previous, chain.active, chain.pending):
        logs.REDACTOR.register_value(value, chain.rotation_targets)
    return chain.pending is not None


def _refuse_running(client: SecretManagerClient, detail: SecretDetail) -> None:
    if detail.rotating or live(client, detail) is not None:
        stored = pending_stored(client, detail.secret_id)
        raise Refused(
            f"{detail.secret_name} already has a rotation job running: "
            + advice.running_job(detail.secret_id, pending_stored=stored)
        )


def _refuse_unusable(detail: SecretDetail) -> None:
    if detail.status not in (SecretStatus.ENABLE, SecretStatus.ROTATING):
        raise Refused(
            f"{detail.secret_name} is {detail.status.value}: only an enabled secret rotates"
        )


def cmd_rotate(opts: argparse.Namespace, out: Output, *, sleep: Sleep = time.sleep) -> int:
    with sm_client(opts) as client:
        before = client.get_secret(opts.secret_id)
        _refuse_unusable(before)
        _refuse_running(client, before)
        if before.trigger is None:
            raise Refused(f"{before.secret_name} has no rotation trigger: link one (deploy) first")
        return _raise_and_follow(
            opts,
            out,
            client,
            before,
            lambda: client.execute_rotation_job(before.secret_id),
            sleep=sleep,
        )


def cmd_retry(opts: argparse.Namespace, out: Output, *, sleep: Sleep = time.sleep) -> int:
    with sm_client(opts) as client:
        before = client.get_secret(opts.secret_id)
        _refuse_unusable(before)
        _refuse_running(client, before)
        if before.rotation_phase is not RotationPhase.ROTATION_FAILED:
            raise Refused(
                f"the last rotation of {before.secret_name} did not fail (rotationPhase "
                f"{before.rotation_phase.value}); Retry Rotation Job re-runs a failed job "
                f"only: {advice.no_job(before.secret_id)}"
            )
        return _raise_and_follow(
            opts,
            out,
            client,
            before,
            lambda: client.retry_rotation_job(before.secret_id),
            sleep=sleep,
        )


# -- cancel, rollback, pause, unpause -------------------------------------------------------


def _confirm(out: Output, opts: argparse.Namespace, text: str, **data: Any) -> int:
    if opts.json:
        out.json({"changed": text, **data})
    else:
        out.write(text)
    return EXIT_OK


def cmd_cancel(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        job = live(client, detail)
        if job is None and not detail.rotating:
            raise Refused(f"{detail.secret_name} has no rotation job running: nothing to cancel")
        chain = client.get_secret_values(detail.secret_id)
        for value in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(value, chain.rotation_targets)
        if chain.pending is not None and not opts.force:
            raise Refused(
                "the running job has stored a pending value, which the target may already "
                "hold; Cancel Rotation Job discards it and the target could be left on a "
                f"credential Secret Manager no longer stores. Run `resume {detail.secret_id}` "
                "instead, or pass --force if the target does not hold it."
            )
        client.cancel_rotation_job(detail.secret_id)
        after = client.get_secret(detail.secret_id)
    discarded = "; the pending value was discarded" if chain.pending is not None else ""
    fp = job.job if job else "-"
    return _confirm(
        out,
        opts,
        f"cancelled rotation job {fp} of {after.secret_name} ({after.secret_id}): rotationPhase "
        f"{after.rotation_phase.value}, status {after.status.value}{discarded}",
        secretId=after.secret_id,
        job=fp,
        rotationPhase=after.rotation_phase.value,
        pendingDiscarded=chain.pending is not None,
    )


def cmd_rollback(opts: argparse.Namespace, out: Output) -> int:
    params = action_params.read_params(opts.params)
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        _refuse_running(client, detail)
        chain = client.get_secret_values(detail.secret_id)
        for value in (chain.previous, chain.active, chain.pending):
            logs.REDACTOR.register_value(value, chain.rotation_targets)
        if chain.previous is None:
            raise Refused(f"{detail.secret_name} has no previous value to go back to")
        warning = action_params.rollback_warning(chain.active, params.get("target"))
        if warning is not None:
            out.note(f"warning: {warning}")
            if not opts.force:
                raise Refused("rollback not done (see the warning above); nothing changed")
        client.rollback_rotation_job(detail.secret_id)
        after = client.get_secret(detail.secret_id)
    return _confirm(
        out,
        opts,
        f"rolled back {after.secret_name} ({after.secret_id}): the previous value is active "
        "again and the previous stage is now empty (Secret Manager only; the target was not "
        "touched)",
        secretId=after.secret_id,
        targetWarning=warning,
    )


def cmd_pause(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        if not detail.auto_rotation:
            return _confirm(
                out,
                opts,
                f"auto rotation of {detail.secret_name} is already off: nothing changed",
                secretId=detail.secret_id,
                autoRotation=False,
            )
        client.disable_auto_rotation(detail.secret_id)
    return _confirm(
        out,
        opts,
        f"auto rotation of {detail.secret_name} ({detail.secret_id}) is now off (was every "
        f"{detail.auto_rotation_period} days); `unpause {detail.secret_id} --period "
        f"{detail.auto_rotation_period}` turns it back on",
        secretId=detail.secret_id,
        autoRotation=False,
    )


def cmd_unpause(opts: argparse.Namespace, out: Output) -> int:
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        if detail.trigger is None:
            raise Refused(f"{detail.secret_name} has no rotation trigger: link one (deploy) first")
        # The previous period, where Get Secret Detail still shows it: NCP documents
        # autoRotationPeriod "when autoRotationYN is Y", so after a pause it is usually gone.
        known = detail.auto_rotation_period
        period = opts.period or known
        if detail.auto_rotation and period == known:
            return _confirm(
                out,
                opts,
                f"auto rotation of {detail.secret_name} is already on (every {period} days): "
                "nothing changed",
                secretId=detail.secret_id,
                autoRotation=True,
                period=period,
            )
        if period is None:
            raise Refused(
                f"give --period DAYS: auto rotation of {detail.secret_name} is off and Secret "
                "Manager no longer shows its period (Get Secret Detail gives it only while auto "
                "rotation is on), so the previous one is unknown here; Enable Auto Rotation "
                "without a period would use NCP's default (90 days), not the previous one "
                "(`pause` printed it)"
            )
        if detail.auto_rotation:
            settings = client.update_rotation_period(detail.secret_id, period)
        else:
            settings = client.enable_auto_rotation(
                detail.secret_id, rotation_period=period, trigger_id=detail.trigger.id
            )
        after = client.get_secret(detail.secret_id)
    next_ms = settings.next_rotation_date or after.next_rotation_date
    return _confirm(
        out,
        opts,
        f"auto rotation of {after.secret_name} ({after.secret_id}) is on: every {period} days, "
        f"next rotation {iso_ms(next_ms)}",
        secretId=after.secret_id,
        autoRotation=True,
        period=period,
        nextRotationDate=next_ms,
    )


# -- resume ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    job: str
    result: dict[str, Any]
    lines: list[str]
    where: str


def _resume_result(
    out: Output, opts: argparse.Namespace, detail: SecretDetail, resumed: Resumed
) -> int:
    result, fp, where, lines = resumed.result, resumed.job, resumed.where, resumed.lines
    ok = bool(result.get("ok"))
    raw_error = result.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    explanation = Explanation(
        secret_id=detail.secret_id,
        code=error.get("code"),
        message=error.get("message"),
        left_for_retry=bool(result.get("leftForRetry")),
        lines=lines,
        source=where,
        result=result,
    )
    warnings = warnings_of(result)
    if opts.json:
        out.json(
            {
                "secretId": detail.secret_id,
                "job": fp,
                "ok": ok,
                "outcome": result.get("outcome"),
                "warnings": warnings,
                "result": result,
                **({} if ok else {"error": explanation.to_json()}),
            }
        )
        return EXIT_OK if ok else EXIT_FAILED
    if ok:
        out.write(
            f"resumed job {fp} of {detail.secret_name} ({detail.secret_id}) {where}: "
            f"outcome {result.get('outcome')}"
        )
    else:
        out.write(
            f"resumed job {fp} of {detail.secret_name} ({detail.secret_id}) {where}: FAILED "
            f"(outcome {result.get('outcome')})"
        )
        for line in explanation.render():
            out.write(line)
    for line in warning_lines(warnings, detail.secret_id):
        out.write(line)
    return EXIT_OK if ok else EXIT_FAILED


def _deployed_settings(
    opts: argparse.Namespace, client: SecretManagerClient, detail: SecretDetail
) -> dict[str, Any]:
    """Without ``--params``, a resume here runs with the ``target`` and ``policy`` the
    deployed action would use for this secret (its ``bySecretId`` entry included), as
    ``check`` reads them: finishing a job with other settings could complete it on a
    system the rotation never touched. When they cannot be read, refuse."""
    actions = trigger_actions(client, detail.trigger.id) if detail.trigger is not None else []
    found = action_params.deployed_source(lambda: functions_client(opts), opts.action)(
        detail, actions
    )
    if found.status is not CheckStatus.OK:
        raise Refused(
            f"{found.source.split(':', 1)[0]}: a resume here needs the settings the action "
            "uses; give --params FILE (the action's parameters), --action NAME, or --remote"
        )
    settings: dict[str, Any] = {}
    if found.target is not None:
        settings["target"] = dict(found.target)
    if found.policy is not None:
        settings["policy"] = dict(found.policy)
    return settings


def _resume_here(
    opts: argparse.Namespace,
    out: Output,
    client: SecretManagerClient,
    detail: SecretDetail,
    token: str,
) -> int:
    keys = credentials()
    given = (
        action_params.read_params(opts.params)
        if opts.params is not None
        else _deployed_settings(opts, client, detail)
    )
    args: dict[str, Any] = {
        **given,
        "secretId": detail.secret_id,
        "jobToken": token,
        "accessKey": keys.access_key,
        "secretKey": keys.secret_key,
        "secretManagerEndpoint": opts.endpoint,
        "timeoutSeconds": min(opts.timeout, 3600.0),
    }
    out.note(f"running the action here, with your credentials, for job {logs.fingerprint(token)}")
    result = run_handler(args, out)
    # The handler starts an invocation of its own, which clears the redactor: again.
    logs.REDACTOR.register(token)
    logs.REDACTOR.register(keys.secret_key)
    resumed = Resumed(logs.fingerprint(token), result, [], "in this process")
    return _resume_result(out, opts, detail, resumed)


def _resume_remote(
    opts: argparse.Namespace,
    out: Output,
    client: SecretManagerClient,
    detail: SecretDetail,
    token: str,
    *,
    sleep: Sleep,
) -> int:
    from rotation.cli.explain import action_names, from_activation, split_action  # noqa: PLC0415
    from rotation.ncp.cloudfunctions_models import Activation  # noqa: PLC0415

    names = [opts.action] if opts.action else action_names(client, detail)
    if not names:
        raise Refused(
            f"the trigger of {detail.secret_name} runs no action: deploy it, or resume here "
            "(without --remote)"
        )
    if len(names) > 1:
        raise Refused(f"the trigger runs {len(names)} actions: name one with --action")
    name = names[0]
    fp = logs.fingerprint(token)
    out.note(f"invoking the deployed action {name} for job {fp}")
    package, action = split_action(name)
    with contextlib.closing(functions_client(opts)) as cf:
        try:
            record: Activation | None = cf.invoke_action(
                package, action, {"secretId": detail.secret_id, "jobToken": token}
            )
        except NcpError as exc:
            raise Unreachable(
                f"Cloud Functions at {urlsplit(cf.endpoint).netloc} did not run {name}: {exc}"
            ) from None
        assert record is not None
        activation_id = record.activation_id
        deadline = time.monotonic() + opts.timeout
        while record is None or not record.finished:
            if time.monotonic() >= deadline:
                raise Failed(
                    f"the action was invoked (activation {activation_id}) but its result did "
                    f"not come back within {opts.timeout:.0f}s; `history {detail.secret_id}` "
                    "shows the job"
                )
            sleep(opts.interval)
            try:
                record = cf.get_activation(package, action, activation_id)
            except NcpError:
                record = None  # activation records lag; ask again until the deadline
    explanation = from_activation(record, name, detail.secret_id)
    resumed = Resumed(
        fp, dict(explanation.result or {}), explanation.lines, f"through the deployed action {name}"
    )
    return _resume_result(out, opts, detail, resumed)


def cmd_resume(opts: argparse.Namespace, out: Output, *, sleep: Sleep = time.sleep) -> int:
    if opts.remote and opts.params is not None:
        raise Refused("--params applies to a run in this process; the deployed action has its own")
    with sm_client(opts) as client:
        detail = client.get_secret(opts.secret_id)
        job = live(client, detail)
        if job is None and not detail.rotating:
            hint = (
                advice.failed_job(detail.secret_id)
                if detail.rotation_phase is RotationPhase.ROTATION_FAILED
                else advice.no_job(detail.secret_id)
            )
            raise Refused(f"{detail.secret_name} has no rotation job running to resume; {hint}")
        if job is None:
            raise Failed(
                "Secret Manager's log shows no running job with a token; `history "
                f"{detail.secret_id}` shows what it holds"
            )
        if opts.remote:
            return _resume_remote(opts, out, client, detail, job.token, sleep=sleep)
        return _resume_here(opts, out, client, detail, job.token)


# -- arguments ------------------------------------------------------------------------------


def add_follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=300.0,
        help="seconds to wait for the job to end (default 300)",
    )
    parser.add_argument(
        "--interval", type=positive_seconds, default=1.0, help="seconds between polls (default 1)"
    )
    parser.add_argument(
        "--explain-wait",
        type=non_negative_seconds,
        default=EXPLAIN_WAIT_SECONDS,
        metavar="SECONDS",
        help="how long to wait for the action's activation record: its code on failure, "
        "its warnings on success (default 15)",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def register(commands: Any) -> None:
    rotate = commands.add_parser(
        "rotate",
        help="Execute Rotation Job and follow it to the end",
        description="Execute Rotation Job on the secret, follow the job, and on failure show "
        "the action's error code, message, what to do and its log lines.",
    )
    rotate.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    add_follow_options(rotate)
    rotate.set_defaults(handler=cmd_rotate)

    retry = commands.add_parser(
        "retry",
        help="Retry Rotation Job (a failed job) and follow it",
        description="Retry Rotation Job re-runs a failed job with a new token; this follows "
        "it like rotate. A job that is still running is resumed, not retried.",
    )
    retry.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    add_follow_options(retry)
    retry.add_argument("--no-wait", action="store_true", help="return once the job is raised")
    retry.set_defaults(handler=cmd_retry)

    cancel = commands.add_parser(
        "cancel",
        help="Cancel Rotation Job (refused when the target may hold pending)",
        description="Cancel the running job. Cancelling discards the pending value, so it is "
        "refused when one is stored (the target may already hold it) unless --force.",
    )
    cancel.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    cancel.add_argument(
        "--force", action="store_true", help="cancel even though a pending value is stored"
    )
    cancel.add_argument("--json", action="store_true", help="print what changed as JSON")
    cancel.set_defaults(handler=cmd_cancel)

    resume = commands.add_parser(
        "resume",
        help="run the action again for the running job (the runbook for leftForRetry)",
        description="Find the running job's token in Secret Manager's log and run the action "
        "again with it: here, with your credentials (NCLOUD_ACCESS_KEY/NCLOUD_SECRET_KEY), or "
        "with --remote through the deployed action (Cloud Functions Post Action).",
    )
    resume.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    resume.add_argument(
        "--remote",
        action="store_true",
        help="invoke the deployed action instead of running it here",
    )
    resume.add_argument(
        "--action",
        type=action_name,
        help="the deployed action ([package/]action): whose parameters a resume here uses "
        "(without --params), or which one --remote invokes, when the trigger does not say",
    )
    resume.add_argument(
        "--params",
        type=Path,
        metavar="FILE",
        help="JSON file of action parameters (target, policy) for a run here",
    )
    resume.add_argument(
        "--timeout",
        type=positive_seconds,
        default=300.0,
        help="seconds the action may take (default 300)",
    )
    resume.add_argument(
        "--interval",
        type=positive_seconds,
        default=2.0,
        help="with --remote: seconds between polls of the activation (default 2)",
    )
    resume.add_argument("--json", action="store_true", help="print the action's result as JSON")
    resume.set_defaults(handler=cmd_resume)

    rollback = commands.add_parser(
        "rollback",
        help="Rollback Rotation Job: the previous value becomes active again",
        description="Rollback Rotation Job puts the previous value back as active in Secret "
        "Manager only. For targets that keep the newest credential (single-user databases, "
        "Redis dual-password, webhooks) that leaves a stored value that no longer logs in, so "
        "it is refused there unless --force.",
    )
    rollback.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    rollback.add_argument(
        "--params",
        type=Path,
        metavar="FILE",
        help="JSON file of action parameters, to know the target kind",
    )
    rollback.add_argument(
        "--force",
        action="store_true",
        help="roll back even where the target keeps the newest credential",
    )
    rollback.add_argument("--json", action="store_true", help="print what changed as JSON")
    rollback.set_defaults(handler=cmd_rollback)

    pause = commands.add_parser(
        "pause",
        help="turn auto rotation off (Disable Auto Rotation)",
        description="Turn the secret's auto rotation off.",
    )
    pause.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    pause.add_argument("--json", action="store_true", help="print what changed as JSON")
    pause.set_defaults(handler=cmd_pause)

    unpause = commands.add_parser(
        "unpause",
        help="turn auto rotation on (Enable Auto Rotation)",
        description="Turn the secret's auto rotation on, with its trigger and the period "
        "Secret Manager still shows for it, or --period. Get Secret Detail shows the period "
        "only while auto rotation is on, so after a pause --period is usually needed (pause "
        "prints the command with the period it had); without either, it refuses and says so.",
    )
    unpause.add_argument("secret_id", type=secret_id, help="the secret's id or name")
    unpause.add_argument(
        "--period",
        type=bounded_int(1, 730, "days"),
        help="rotation period in days, 1-730 (default: the one Secret Manager still shows; "
        "needed when it shows none)",
    )
    unpause.add_argument("--json", action="store_true", help="print what changed as JSON")
    unpause.set_defaults(handler=cmd_unpause)
