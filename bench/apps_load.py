"""One application process of ``make bench-apps``: N worker threads querying a database.

``python -m bench.apps_load KIND SPEC_JSON`` (started by :mod:`bench.apps`, never by hand).
``KIND`` is ``kit`` (credentials through :mod:`appcreds`: cached, refreshed on a refused
login, the stages tried in the invariant's order) or ``naive`` (the active value read once
at start, used for ever: what an application without the kit does).

Half the workers open a **new connection** per request (connect, ``SELECT 1`` or ``GET``,
close) at a steady rate; the other half query through a **pool that recycles** each
connection once it is ``recycle`` seconds old (a new connection then, as SQLAlchemy's
``pool_recycle`` does), also at a steady rate. A request that raises is a failed request;
after one, the worker waits 50 ms (an application does not spin on a refused login).

Protocol with the parent: the keys come in the environment (``NCLOUD_ACCESS_KEY``,
``NCLOUD_SECRET_KEY``); the process prints ``ready`` once a first request succeeded,
runs until its stdin closes, then prints one JSON line: every request's start
(``time.monotonic()``, comparable across processes on Linux), latency, outcome and kind,
the error classes seen, the kit's counters, and the kit's log events by name (counted,
then dropped: the bench shows what was logged, never a line).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import asdict
from typing import Any

import structlog

FAILURE_BACKOFF = 0.05
NEW, POOLED = 0, 1

Opener = tuple[Callable[[], Any], Callable[[Any], None], Callable[[Any], None]]


def count_events(counts: Counter[str]) -> Callable[..., Any]:
    def processor(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        counts[str(event.get("event"))] += 1
        raise structlog.DropEvent

    return processor


class RedisHandle:
    """One redis-py connection as a handle the workers open, query and close."""

    def __init__(self, pool: Any) -> None:
        import redis  # noqa: PLC0415 - the app process of a redis run only
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        self.client = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        self.client.ping()  # connect and authenticate now, as a database connect does

    def query(self) -> None:
        self.client.get("bench-apps")

    def close(self) -> None:
        self.client.connection_pool.disconnect()


def sql_query(conn: Any) -> None:
    cursor = conn.cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    cursor.close()


def opener(kind: str, spec: dict[str, Any], counters: dict[str, Any]) -> Opener:
    """``(open, query, close)`` for this engine, with credentials the ``kind`` way."""
    engine, endpoint, secret_id = spec["engine"], spec["endpoint"], spec["secret_id"]
    if kind == "kit":
        from appcreds import CredentialCache, pg8000_connector, pymysql_connector  # noqa: PLC0415
        from appcreds import secret_manager as client_for  # noqa: PLC0415

        cache = CredentialCache(client_for(endpoint=endpoint), secret_id)
        counters["cache"] = cache
        if engine == "postgresql":
            return pg8000_connector(cache, ssl_context=False, timeout=10), sql_query, _close
        if engine == "mariadb":
            return (
                pymysql_connector(cache, connect_timeout=10, ssl_disabled=True),
                sql_query,
                _close,
            )
        return _redis_kit(cache)
    from rotation.ncp.secretmanager import SecretManagerClient  # noqa: PLC0415
    from rotation.ncp.signing import Credentials  # noqa: PLC0415

    keys = Credentials(os.environ["NCLOUD_ACCESS_KEY"], os.environ["NCLOUD_SECRET_KEY"])
    with SecretManagerClient(keys, endpoint=endpoint) as client:
        active = client.get_secret_values(secret_id).active
    assert active is not None
    host, port, user, pw = (
        active["host"],
        int(active["port"]),
        active["username"],
        active["password"],
    )
    if engine == "postgresql":
        import pg8000.dbapi  # noqa: PLC0415

        def open_pg() -> Any:
            return pg8000.dbapi.connect(
                user=user, password=pw, host=host, port=port, database="postgres",
                ssl_context=False, timeout=10,
            )  # fmt: skip

        return open_pg, sql_query, _close
    if engine == "mariadb":
        import pymysql  # noqa: PLC0415

        def open_my() -> Any:
            return pymysql.connect(
                host=host, port=port, user=user, password=pw, connect_timeout=10,
                ssl_disabled=True,
            )  # fmt: skip

        return open_my, sql_query, _close
    import redis  # noqa: PLC0415
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    def open_redis() -> RedisHandle:
        pool = redis.ConnectionPool(
            host=host, port=port, username=user, password=pw, max_connections=1,
            retry=Retry(NoBackoff(), 0), socket_connect_timeout=10,
        )  # fmt: skip
        return RedisHandle(pool)

    return open_redis, RedisHandle.query, RedisHandle.close


def _redis_kit(cache: Any) -> Opener:
    import redis  # noqa: PLC0415
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    from appcreds.redis_provider import (  # noqa: PLC0415
        RotatingConnection,
        RotatingCredentialProvider,
    )

    provider = RotatingCredentialProvider(cache)
    first = cache.credential()

    def open_redis() -> RedisHandle:
        pool = redis.ConnectionPool(
            connection_class=RotatingConnection, credential_provider=provider,
            host=first["host"], port=int(first["port"]), max_connections=1,
            retry=Retry(NoBackoff(), 0), socket_connect_timeout=10,
        )  # fmt: skip
        return RedisHandle(pool)

    return open_redis, RedisHandle.query, RedisHandle.close


def _close(conn: Any) -> None:
    conn.close()


class RecyclingPool:
    """At most ``size`` connections; one older than ``max_age`` is closed when taken and a
    new one opened in its place."""

    def __init__(self, open_: Callable[[], Any], close: Callable[[Any], None], size: int,
                 max_age: float) -> None:  # fmt: skip
        self.open, self.close, self.max_age = open_, close, max_age
        self.idle: queue.LifoQueue[tuple[Any, float]] = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(size)

    def get(self) -> tuple[Any, float]:
        self.slots.acquire()
        try:
            while True:
                try:
                    conn, born = self.idle.get_nowait()
                except queue.Empty:
                    return self.open(), time.monotonic()
                if time.monotonic() - born < self.max_age:
                    return conn, born
                with contextlib.suppress(Exception):
                    self.close(conn)
        except BaseException:
            self.slots.release()
            raise

    def put(self, conn: Any, born: float) -> None:
        self.idle.put((conn, born))
        self.slots.release()

    def discard(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            self.close(conn)
        self.slots.release()

    def drain(self) -> None:
        while True:
            try:
                conn, _ = self.idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                self.close(conn)


class Worker(threading.Thread):
    def __init__(self, kind: int, rate: float, stop: threading.Event, request: Callable[[], None]):
        super().__init__(daemon=True)
        self.kind, self.interval, self.stop, self.request = kind, 1.0 / rate, stop, request
        self.samples: list[tuple[float, float, int, int]] = []
        self.errors: Counter[str] = Counter()

    def run(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.request()
            except Exception as exc:  # noqa: BLE001 - every failure is a failed request
                self.samples.append((started, time.monotonic() - started, 0, self.kind))
                self.errors[type(exc).__name__] += 1
                self.stop.wait(FAILURE_BACKOFF)
            else:
                self.samples.append((started, time.monotonic() - started, 1, self.kind))
            due = max(due + self.interval, time.monotonic() - self.interval)
            self.stop.wait(max(0.0, due - time.monotonic()))


def run(kind: str, spec: dict[str, Any]) -> int:
    events: Counter[str] = Counter()
    structlog.configure(processors=[count_events(events)], cache_logger_on_first_use=False)
    counters: dict[str, Any] = {}
    open_, query, close = opener(kind, spec, counters)
    first = open_()  # the first read of the secret, and a first login
    query(first)
    close(first)
    workers_n = int(spec["workers"])
    stop = threading.Event()
    pool = RecyclingPool(open_, close, max(1, workers_n // 2), float(spec["recycle"]))

    def new_connection() -> None:
        conn = open_()
        try:
            query(conn)
        finally:
            close(conn)

    def pooled() -> None:
        conn, born = pool.get()
        try:
            query(conn)
        except BaseException:
            pool.discard(conn)
            raise
        pool.put(conn, born)

    workers = [
        Worker(NEW, float(spec["connect_rate"]), stop, new_connection)
        if i % 2 == 0
        else Worker(POOLED, float(spec["query_rate"]), stop, pooled)
        for i in range(workers_n)
    ]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes it
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    ended = time.monotonic()
    pool.drain()
    cache = counters.get("cache")
    result = {
        "kind": kind,
        "began": began,
        "ended": ended,
        "samples": [
            [round(s, 4), round(lat * 1000, 3), ok, k]
            for w in workers
            for s, lat, ok, k in w.samples
        ],
        "errors": dict(sum((w.errors for w in workers), Counter())),
        "stats": asdict(cache.stats()) if cache is not None else {"fetches": 1},
        "events": dict(events),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], json.loads(sys.argv[2])))
