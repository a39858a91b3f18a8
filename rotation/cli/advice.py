"""What to do, in one sentence an operator can act on: the one source for every command.

Two kinds of advice, one voice:

* **About a result code**: :func:`rotation.codes.advice`, the registry's text (the README's
  table is printed from it), with the next command chosen by how the job stands: a job
  the action left running is resumed and never cancelled, a failed job is retried. The
  action's result, its log, the alerts and every CLI command use that one function, so a
  ``rotate`` that says "do not cancel the job" is never followed by a refusal that
  suggests ``cancel``.
* **About a job's state**, for the refusals of ``rotate``, ``retry``, ``rollback``,
  ``resume``, ``cancel`` and ``secret update``: :func:`running_job`, :func:`failed_job`,
  :func:`no_job`. A running job whose pending value is stored (or may be) gets the
  registry's own advice for that situation (``ROTATION_INCOMPLETE``'s): resume, do not
  cancel; ``cancel`` is offered only when no pending value is stored, which is also the
  only case ``cancel`` itself accepts without ``--force``.

``SECRET_ID`` in a text is replaced by the secret's id where it is known.

No imports from the rest of the CLI: the deployed action (notifications) reads this too,
and must not pay for argparse and the command modules.
"""

from __future__ import annotations

from rotation import codes

CLI = "python -m rotation"

#: What a code nobody knows (an action newer than this CLI) gets: never nothing.
FALLBACK = codes.advice(None)


def advice_for(code: str | None, job: str | None = None) -> str:
    """What to do about ``code`` (a result code of the action) for a job that stands as
    ``job`` says (the result's ``job``: ``running``, ``failed``, ...), never empty."""
    return codes.advice(code, job)


def for_secret(text: str, secret_id: str | None) -> str:
    """``text`` with ``SECRET_ID`` replaced by the id, when it is known."""
    return text.replace("SECRET_ID", secret_id) if secret_id else text


def running_job(secret_id: str, *, pending_stored: bool | None) -> str:
    """What to do about a job that is still running. ``pending_stored``: whether Secret
    Manager holds a pending value for it (``None``: unknown, which counts as yes)."""
    if pending_stored is False:
        return (
            f"`{CLI} resume {secret_id}` runs the action again with its token, or "
            f"`{CLI} cancel {secret_id}` ends it (no pending value is stored, so nothing "
            "the target may hold is lost)"
        )
    return for_secret(codes.advice(codes.ROTATION_INCOMPLETE, "running"), secret_id)


def failed_job(secret_id: str) -> str:
    """What to do about a job that failed: see why, fix, retry."""
    return (
        f"`{CLI} history {secret_id}` shows why it failed; fix the cause, then "
        f"`{CLI} retry {secret_id}`"
    )


def no_job(secret_id: str) -> str:
    """What to do when no job runs and none failed last."""
    return f"`{CLI} rotate {secret_id}` starts a new one"
