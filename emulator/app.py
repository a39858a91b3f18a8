"""The emulator assembled: backend, gateway server, actions, scheduler and faults.

The emulator's core (models, wire, runtime) is independent of the ``rotation`` package it
examines; only this facade imports the client, for the convenience of ``emu.client()``.

Use it as a context manager (tests, the demo) or through ``python -m emulator``::

    with Emulator() as emu:
        client = emu.client()
        emu.add_trigger("rotate", emu.handler_action())

It listens on 127.0.0.1 and an ephemeral port unless told otherwise. ``prefix`` mounts
Secret Manager under a path, as the regional host ``ocapi-kr.ncloud.com/secretmanager``
does; the prefix is then part of every signed URI.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from emulator.actions import (
    PROJECT_ENTRIES,
    PROJECT_PACKAGES,
    Action,
    ActionRunner,
    Activation,
    CallableAction,
    Delivery,
    ProcessAction,
)
from emulator.clouddb import CloudDbBackend, clouddb_router
from emulator.cloudfunctions import CloudFunctionsBackend, cloud_functions_router
from emulator.cloudinsight import CloudInsightBackend, cloud_insight_router
from emulator.containers import DEFAULT_IDLE_S
from emulator.core import Clock
from emulator.faults import FaultPlan
from emulator.router import Route, Router
from emulator.scheduler import Scheduler
from emulator.secretmanager.models import SecretManagerBackend, TriggerRecord
from emulator.secretmanager.routes import secret_manager_router
from emulator.server import GatewayServer, Stats
from emulator.sts import sts_router
from emulator.subaccount import GatewayKeys, SubAccountBackend, subaccount_router
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials

#: Which product's policy each router's routes need (``emulator.subaccount`` K11).
_PRODUCTS: tuple[Callable[[Route], str | None], ...] = (
    lambda _route: "secretmanager",
    lambda route: "clouddb-mysql" if "Mysql" in route.operation else "clouddb-postgresql",
    lambda _route: "cloudfunctions",
    lambda _route: "cloudinsight",
    lambda _route: "subaccount",
    lambda _route: None,  # STS caller-identity: any key may ask who it is
)


def wall_clock() -> float:
    """``time.time()`` looked up at each call, so a frozen clock (freezegun) is seen."""
    return time.time()


class Emulator:
    #: Every emulator made in this process, newest last: the test suite's leak guard reads
    #: the secret values they saw and the activation logs they kept. Cleared by the guard.
    created: ClassVar[list[Emulator]] = []

    def __init__(
        self,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "",
        clock: Clock = wall_clock,
        auth_clock: Clock = wall_clock,
        region: str = "KR",
        schedule_interval: float | None = None,
        delivery: Delivery = Delivery.BOTH,
        container_idle_s: float = DEFAULT_IDLE_S,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("prefix must look like /secretmanager")
        self.access_key = access_key or "emu" + secrets.token_hex(8)
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.host, self.port, self.prefix = host, port, prefix
        self.faults = FaultPlan()
        self.backend = SecretManagerBackend(clock=clock, region=region)
        #: Runs the actions; a warm container idle for ``container_idle_s`` is discarded.
        self.runner = ActionRunner(self.backend, container_idle_s=container_idle_s)
        self.backend.dispatcher = self.runner.dispatch
        self.scheduler = Scheduler(self.backend)
        #: Cloud DB for MySQL / PostgreSQL, on the same server (their paths never overlap).
        self.clouddb = CloudDbBackend()
        #: Cloud Functions: deployed actions and their Secret Manager triggers.
        self.cloud_functions = CloudFunctionsBackend(self.backend, self.runner)
        self.scheduler.functions = self.cloud_functions  # cron triggers run on its ticks
        #: Cloud Insight's custom schemas and collector (the watchdog's metrics).
        self.cloud_insight = CloudInsightBackend(clock)
        #: Sub accounts, their access keys (the gateway's keys) and policies; STS.
        self.subaccounts = SubAccountBackend(
            main_access_key=self.access_key, main_secret_key=self.secret_key, clock=auth_clock
        )
        self.routers: list[Router] = [
            secret_manager_router(self.backend, prefix),
            clouddb_router(self.clouddb),
            cloud_functions_router(self.cloud_functions),
            cloud_insight_router(self.cloud_insight),
            subaccount_router(self.subaccounts),
            sts_router(self.subaccounts),
        ]
        for router, product in zip(self.routers, _PRODUCTS, strict=True):
            self.subaccounts.guard(router, product)
        self.auth_clock = auth_clock
        self.schedule_interval = schedule_interval
        #: How :meth:`handler_action` actions receive the secret id and job token.
        self.delivery = delivery
        self._server: GatewayServer | None = None
        self._thread: threading.Thread | None = None
        Emulator.created.append(self)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Emulator:
        self._server = GatewayServer(
            (self.host, self.port),
            routers=self.routers,
            keys=GatewayKeys(self.subaccounts),
            faults=self.faults,
            clock=self.auth_clock,
        )
        self.port = self._server.server_address[1]
        self.runner.api_host = self.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if self.schedule_interval is not None:
            self.scheduler.interval = self.schedule_interval
            self.scheduler.start()
        return self

    def stop(self) -> None:
        self.scheduler.stop()
        self.runner.wait_idle(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.runner.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- addresses and clients ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The Secret Manager base URL, prefix included."""
        return self.base_url + self.prefix

    @property
    def cloud_functions_endpoint(self) -> str:
        """The Cloud Functions API base URL (v2.1)."""
        return self.base_url + "/ncf/api/v2"

    @property
    def cloud_insight_endpoint(self) -> str:
        """The Cloud Insight API base URL (``https://cw.apigw.ntruss.com`` on NCP)."""
        return self.base_url

    @property
    def stats(self) -> Stats:
        assert self._server is not None, "the emulator is not running"
        return self._server.stats

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)

    def client(self, **kwargs: Any) -> SecretManagerClient:
        return SecretManagerClient(self.credentials, endpoint=self.endpoint, **kwargs)

    # -- Cloud Functions side -----------------------------------------------------------

    def action_params(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Default parameters a deployed rotation action would carry."""
        return {
            "secretManagerEndpoint": self.endpoint,
            "accessKey": self.access_key,
            "secretKey": self.secret_key,
            **(extra or {}),
        }

    def handler_action(
        self, name: str = "rotator", params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ProcessAction:
        """This project's ``handler.main``, run like the runtime runs the deployed zip: the
        zip's files (``handler.py``, ``rotation/``) and the project's requirements (the
        emulator's own packages) as its ``virtualenv/``."""
        kwargs.setdefault("delivery", self.delivery)
        kwargs.setdefault("include", PROJECT_ENTRIES)
        kwargs.setdefault("site_packages", PROJECT_PACKAGES)
        return ProcessAction(name=name, params=self.action_params(params), **kwargs)

    def add_trigger(self, name: str, *actions: Action) -> TriggerRecord:
        for action in actions:
            self.runner.register(action)
        return self.backend.register_trigger(name, actions=[a.name for a in actions])

    def add_callable_trigger(
        self, name: str, function: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> TriggerRecord:
        return self.add_trigger(name, CallableAction(name=f"{name}-action", function=function))

    def add_function_trigger(self, name: str, *actions: Action) -> TriggerRecord:
        """Like :meth:`add_trigger`, with the actions also listed by Cloud Functions (Get
        Action finds them, Delete Action removes them), as a deployment leaves them."""
        for action in actions:
            self.cloud_functions.add_action(action)
        return self.add_trigger(name, *actions)

    def add_cron_trigger(self, name: str, schedule: str, *actions: Action) -> None:
        """A Cloud Functions cron trigger running ``actions`` on the scheduler's ticks."""
        for action in actions:
            self.cloud_functions.add_action(action)
        self.cloud_functions.add_cron_trigger(name, schedule, [a.name for a in actions])

    # -- breaking things on purpose (what a watchdog must find) ------------------------------

    def stall_job(self, secret_id: str) -> str:
        """A job raised and started with no action behind it, as an action that died right
        after Start Rotation Job leaves it: the secret stays ROTATING. Returns its token."""
        dispatcher, self.backend.dispatcher = self.backend.dispatcher, None
        try:
            event = self.backend.execute_rotation(secret_id)
        finally:
            self.backend.dispatcher = dispatcher
        self.backend.start_job(secret_id, event.job_token)
        return event.job_token

    def unlink(self, secret_id: str) -> None:
        """Disable Auto Rotation then Delete Rotation Trigger, as an operator would (the
        trigger of a secret that rotates automatically cannot be deleted, documented)."""
        self.backend.disable_auto_rotation(secret_id)
        self.backend.delete_trigger(secret_id)

    @property
    def activations(self) -> list[Activation]:
        return list(self.runner.activations)

    def wait_idle(self, timeout: float = 60.0) -> list[Activation]:
        if not self.runner.wait_idle(timeout):
            raise TimeoutError("actions still running")
        return self.activations

    @property
    def known_secret_values(self) -> set[str]:
        """Every secret value this emulator saw, its secret key and every job token it
        minted: none of them may appear in a log line, a result or CLI output."""
        with self.backend.lock:
            tokens = {job.token for s in self.backend.secrets.values() for job in s.jobs}
            known = {*self.backend.known_values, self.secret_key, *tokens}
        return known | self.clouddb.known_values | self.subaccounts.known_values
