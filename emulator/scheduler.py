"""Secret Manager's clock-driven side: fire due rotations, destroy expired deletions.

``tick()`` does one pass and is what tests call after moving the clock; ``start()`` runs
ticks on a background thread for the CLI server and the demo. The clock is the backend's,
so a test that freezes or advances time sees the schedule follow it.
"""

from __future__ import annotations

import threading

from emulator.secretmanager.models import JobEvent, SecretManagerBackend


class Scheduler:
    def __init__(self, backend: SecretManagerBackend, interval: float = 1.0) -> None:
        self.backend = backend
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[JobEvent]:
        """Raise a job for every secret whose ``nextRotationDate`` has passed."""
        self.backend.destroy_expired()
        fired = []
        for secret_id in self.backend.due_for_rotation():
            event = self.backend.fire_scheduled(secret_id)
            if event is not None:
                fired.append(event)
        return fired

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()
