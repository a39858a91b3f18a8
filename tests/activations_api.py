"""Cloud Functions' activation calls, served by the emulator for the CLI's tests.

The emulator runs every action a trigger fires and records each activation (result and
log lines) in ``emu.runner``, but its Cloud Functions API does not serve them yet. These
three documented operations do, on the same signed gateway, from those same records:

    Post Action                     POST .../packages/{package}/actions/{action}
    Get Action's Activation List    GET  .../packages/{package}/actions/{action}/activations
    Get Action's Activation Detail  GET  .../packages/{package}/actions/{action}/activations/{id}

Answers are wrapped in ``content`` as the docs show
(https://api.ncloud-docs.com/docs/en/compute-cloudfunctions-v2-postaction,
https://api.ncloud-docs.com/docs/en/compute-cloudfunctions-v2-getactionactivationdetail,
https://api.ncloud-docs.com/docs/en/compute-cloudfunctions-v2-getactionactivationlist).
Guesses, the strictest reasonable: a detail answers 404 until the activation has finished
(third-party clients report details missing for a while after an invocation); Post Action
runs the registered action with the body's ``secretId`` and ``jobToken`` (the action keeps
its own default parameters), and waits for it unless ``timeout=0``.

Written so it can move into ``emulator/cloudfunctions.py`` unchanged in substance.
"""

from __future__ import annotations

import threading
from typing import Any

from emulator import Activation, Emulator
from emulator.core import ServiceError
from emulator.router import Request, Router
from emulator.secretmanager.models import JobEvent, TriggerRecord


def _record(a: Activation) -> dict[str, Any]:
    end = a.started_ms + (a.duration_ms or 0)
    return {
        "activationId": a.activation_id,
        "name": a.action_name,
        "namespace": "emulator",
        "start": a.started_ms,
        "end": end if a.done else None,
        "duration": a.duration_ms,
        "status": a.status,
        "logs": list(a.logs),
        "response": {"result": a.result, "status": a.status, "success": a.status == "success"},
    }


def _missing(message: str) -> ServiceError:
    return ServiceError(404, "80318", "Not Found", details=message)


def serve_activations(emu: Emulator) -> None:
    router: Router = next(r for r in emu.routers if r.prefix == "/ncf/api/v2")
    runner = emu.runner

    def action_name(q: Request) -> str:
        package, action = q.params["package"], q.params["action"]
        return action if package == "-" else f"{package}/{action}"

    def invoke(q: Request) -> dict[str, Any]:
        name = action_name(q)
        action = runner.actions.get(name)
        if action is None:
            raise _missing(f"action {name!r} does not exist")
        body = q.json()
        event = JobEvent(
            secret_id=str(body.get("secretId", "")),
            secret_name="",
            job_token=str(body.get("jobToken", "")),
            trigger=TriggerRecord(trigger_id="post-action", name="post-action"),
        )
        if q.query.get("timeout") == "0":
            holder: list[Activation] = []
            thread = threading.Thread(target=lambda: holder.append(runner.run(action, event)))
            thread.start()
            while not runner.activations or runner.activations[-1].action_name != name:
                thread.join(0.01)
            return {"content": {"activationId": runner.activations[-1].activation_id}}
        return {"content": _record(runner.run(action, event))}

    def listing(q: Request) -> dict[str, Any]:
        name = action_name(q)
        start = int(q.query.get("start") or 0)
        end = int(q.query.get("end") or 2**62)
        found = [
            a for a in runner.activations if a.action_name == name and start <= a.started_ms <= end
        ]
        found.sort(key=lambda a: a.started_ms, reverse=True)
        items = [
            {"activationId": a.activation_id, "duration": a.duration_ms, "status": a.status}
            for a in found
        ]
        return {"content": {"activations": items, "totalCount": len(items)}}

    def detail(q: Request) -> dict[str, Any]:
        name = action_name(q)
        for a in runner.activations:
            if a.activation_id == q.params["activationId"] and a.action_name == name:
                if not a.done:
                    raise _missing("the activation has not finished")
                return {"content": _record(a)}
        raise _missing("no such activation")

    template = "/packages/{package}/actions/{action}"
    router.add("POST", template, "invoke_action", invoke)
    router.add("GET", template + "/activations", "list_activations", listing)
    router.add("GET", template + "/activations/{activationId}", "get_activation", detail)
