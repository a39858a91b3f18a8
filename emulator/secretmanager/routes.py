"""Secret Manager's wire: the 32 documented routes, each parsed and handed to the backend.

Nothing here decides anything about secrets; that is ``models``. This module only turns
paths, query strings and JSON bodies into backend calls, and names each route with the
operation name the client uses (``get_secret_detail``, ``start_rotation_job``, ...).
"""

from __future__ import annotations

from emulator.core import bad_request
from emulator.router import Request, Router
from emulator.secretmanager.models import SecretManagerBackend

SECRET = "/api/v1/secrets/{secretId}"
JOB = "/action/v1/secrets/{secretId}/jobs/{jobToken}"
STAGE = "{stage:previous|active|pending}"


def none(_result: object) -> None:
    """The documented answer of Execute/Retry Rotation Job: ``data`` is null."""


def secret_manager_router(backend: SecretManagerBackend, prefix: str = "") -> Router:
    b = backend
    r = Router(prefix=prefix)

    def sid(req: Request) -> str:
        return req.params["secretId"]

    def token(req: Request) -> str:
        return req.params["jobToken"]

    def page_no(req: Request) -> int:
        raw = req.query.get("pageNo", "1")
        try:
            return int(raw)
        except ValueError:
            raise bad_request("pageNo must be an integer") from None

    # lookup
    r.add("GET", "/api/v1/secrets", "get_secret_list", lambda q: b.list_secrets(page_no(q)))
    r.add("GET", SECRET, "get_secret_detail", lambda q: b.get_detail(sid(q)))
    r.add("GET", f"{SECRET}/values", "get_secret_value", lambda q: b.get_values(sid(q)))
    r.add("GET", f"{SECRET}/logs", "get_secret_logs", lambda q: b.get_logs(sid(q), q.query))
    r.add(
        "GET",
        f"{SECRET}/{STAGE}",
        "get_secret_stage_value",
        lambda q: b.get_stage_value(sid(q), q.params["stage"]),
    )
    r.add("GET", "/api/v1/triggers", "get_trigger_list", lambda q: b.list_triggers())
    r.add("GET", "/api/v1/keys", "get_protection_key_list", lambda q: b.list_keys())

    # create and update
    r.add("POST", "/api/v1/secrets", "create_secret", lambda q: b.create_secret(q.json()))
    r.add(
        "PUT",
        f"{SECRET}/values",
        "update_secret_value",
        lambda q: b.update_values(sid(q), q.json()),
    )
    r.add(
        "PUT",
        f"{SECRET}/values/{STAGE}",
        "update_secret_stage_value",
        lambda q: b.update_stage_value(sid(q), q.params["stage"], q.json()),
    )
    r.add("PUT", f"{SECRET}/memo", "update_secret_memo", lambda q: b.update_memo(sid(q), q.json()))
    r.add(
        "PUT",
        f"{SECRET}/protection-key",
        "update_protection_key",
        lambda q: b.update_protection_key(sid(q), q.json()),
    )

    # status and deletion
    for action, operation in (
        ("enable", "enable_secret"),
        ("disable", "disable_secret"),
        ("request-deletion", "request_secret_deletion"),
        ("cancel-deletion", "cancel_secret_deletion"),
    ):
        r.add("POST", f"{SECRET}/{action}", operation, lambda q, a=action: b.set_status(sid(q), a))  # type: ignore[misc]
    r.add("DELETE", SECRET, "delete_secret", lambda q: b.delete_secret(sid(q)))

    # rotation settings
    r.add(
        "POST",
        f"{SECRET}/enable-auto-rotation",
        "enable_auto_rotation",
        lambda q: b.enable_auto_rotation(sid(q), q.json()),
    )
    r.add(
        "POST",
        f"{SECRET}/disable-auto-rotation",
        "disable_auto_rotation",
        lambda q: b.disable_auto_rotation(sid(q)),
    )
    r.add(
        "PUT",
        f"{SECRET}/rotation-period",
        "update_rotation_period",
        lambda q: b.update_rotation_period(sid(q), q.json()),
    )
    r.add(
        "PUT",
        f"{SECRET}/triggers",
        "update_rotation_trigger",
        lambda q: b.update_trigger(sid(q), q.json()),
    )
    r.add(
        "DELETE",
        f"{SECRET}/triggers",
        "delete_rotation_trigger",
        lambda q: b.delete_trigger(sid(q)),
    )

    # rotation jobs, operator side (data is documented as null)
    r.add(
        "POST",
        f"{SECRET}/rotation",
        "execute_rotation_job",
        lambda q: none(b.execute_rotation(sid(q))),
    )
    r.add(
        "POST",
        f"{SECRET}/retry-rotation",
        "retry_rotation_job",
        lambda q: none(b.retry_rotation(sid(q))),
    )
    r.add(
        "POST",
        f"{SECRET}/cancel-rotation",
        "cancel_rotation_job",
        lambda q: b.cancel_rotation(sid(q)),
    )
    r.add(
        "POST",
        f"{SECRET}/rollback-rotation",
        "rollback_rotation_job",
        lambda q: b.rollback_rotation(sid(q)),
    )

    # rotation jobs, action side
    r.add("POST", f"{JOB}/start", "start_rotation_job", lambda q: b.start_job(sid(q), token(q)))
    r.add("POST", f"{JOB}/pending", "add_pending_stage", lambda q: b.add_pending(sid(q), token(q)))
    r.add(
        "PUT",
        f"{JOB}/pending",
        "update_pending_stage",
        lambda q: b.put_pending(sid(q), token(q), q.json()),
    )
    r.add(
        "POST",
        f"{JOB}/generate-random-secret",
        "generate_random_secret",
        lambda q: b.generate_random(sid(q), token(q), q.json()),
    )
    r.add(
        "POST",
        f"{JOB}/complete",
        "complete_rotation_job",
        lambda q: b.complete_job(sid(q), token(q)),
    )
    r.add("POST", f"{JOB}/fail", "fail_rotation_job", lambda q: b.fail_job(sid(q), token(q)))
    return r
