"""Warm containers: kept per action after an activation, reused while idle, then discarded.

The life the invoker gives an action's containers (Apache OpenWhisk, which NCP Cloud
Functions runs on): a container that ends an activation well is kept *warm*; the next
activation of the same action takes it (same process, same module state, same open
sockets) if it is idle, and a new, cold container is made when none is idle (cold start,
or all busy: one activation at a time per container). A warm container idle for
``idle_s`` is destroyed. A container whose activation failed as a developer error or a
timeout is destroyed at once, so the next activation starts a new one.

``idle_s`` defaults to 600 s, OpenWhisk's default idle-container time; NCP does not
document its own (a guess).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

from emulator.actionloop import Container

DEFAULT_IDLE_S = 600.0


@dataclass
class _Warm:
    key: Hashable
    owner: object  # the action: kept referenced, so a key built from its id stays unique
    container: Container
    timer: threading.Timer


class ContainerPool:
    def __init__(self, idle_s: float = DEFAULT_IDLE_S) -> None:
        if idle_s <= 0:
            raise ValueError("idle_s must be positive")
        self.idle_s = idle_s
        self._root: Path | None = None  # made with the first container
        self._idle: list[_Warm] = []
        self._busy: set[Container] = set()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        #: Every container made, by id: tests look at them (``gone``, ``directory``).
        self.made: dict[str, Container] = {}

    def take(self, key: Hashable) -> Container | None:
        """An idle warm container for ``key``, now busy; ``None`` when there is none."""
        with self._lock:
            for warm in self._idle:
                if warm.key == key:
                    self._idle.remove(warm)
                    warm.timer.cancel()
                    self._busy.add(warm.container)
                    return warm.container
        return None

    def new(self, python: str, env: Mapping[str, str]) -> Container:
        """A cold container (not initialized yet), busy."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the runtime is stopped")
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="emulator-containers-"))
            cid = f"c{next(self._numbers)}"
            container = Container(cid, self._root / cid, python, env)
            self._busy.add(container)
            self.made[cid] = container
        return container

    def release(self, key: Hashable, owner: object, container: Container, *, keep: bool) -> None:
        """An activation is over: keep the container warm, or destroy it."""
        with self._lock:
            self._busy.discard(container)
            keep = keep and not self._closed and not container.destroyed
            if keep:
                timer = threading.Timer(self.idle_s, self._expire, args=(container,))
                timer.daemon = True
                self._idle.append(_Warm(key, owner, container, timer))
                timer.start()
        if not keep:
            container.destroy()

    def _expire(self, container: Container) -> None:
        with self._lock:
            found = [w for w in self._idle if w.container is container]
            for warm in found:
                self._idle.remove(warm)
        for warm in found:
            warm.container.destroy()

    def discard(self, unwanted: Callable[[object], bool]) -> None:
        """Destroy the idle containers whose action is ``unwanted`` (a replaced action)."""
        with self._lock:
            dropped = [w for w in self._idle if unwanted(w.owner)]
            for warm in dropped:
                self._idle.remove(warm)
                warm.timer.cancel()
        for warm in dropped:
            warm.container.destroy()

    def idle(self) -> list[Container]:
        with self._lock:
            return [w.container for w in self._idle]

    def close(self) -> None:
        """Destroy every container; busy ones are destroyed when their activation ends."""
        with self._lock:
            self._closed = True
            dropped, self._idle = self._idle, []
            busy = bool(self._busy)
        for warm in dropped:
            warm.timer.cancel()
            warm.container.destroy()
        if not busy and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
