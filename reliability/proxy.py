"""A TCP relay on 127.0.0.1 in front of one database server, to make it misbehave on cue.

The rotation reaches the database through the relay (the secret value names its port);
the harness checks the database directly. The relay can:

* refuse every connection (``down``): nothing listens, the client gets ECONNREFUSED;
* reset chosen connections by number (``reset``: 0 is the first connection made);
* act on the client's statement that contains a marker (``cut``), e.g. ``SET PASSWORD``
  or ``COMMIT``: drop it and the connection (the change never happens), or pass it on,
  wait for the server's answer and drop the connection then (the change happened, the
  client cannot know: the database's "lost answer"), optionally after holding it until
  the harness releases it (to kill the caller, or let another invocation run, meanwhile).

Markers are matched in the client's bytes, so the scenarios use plain-text connections.
Nothing that crosses the relay is logged or kept.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

#: Upper bounds only a broken run reaches (a loaded machine must not): how long a held
#: statement waits for its release, an applied one for the server's answer, a new
#: connection for the server to accept it.
HOLD_TIMEOUT = 60.0
ANSWER_TIMEOUT = 60.0
CONNECT_TIMEOUT = 30.0


@dataclass
class Cut:
    """What to do with the ``occurrence``-th client chunk that contains ``marker``."""

    marker: bytes
    occurrence: int = 0
    #: True: pass the statement on and lose the answer. False: drop it with the connection.
    apply: bool = False
    #: False: neither drop nor lose; only hold (when ``hold``) and pass on.
    cut: bool = True
    hold: bool = False
    seen: int = 0
    fired: bool = False
    reached: threading.Event = field(default_factory=threading.Event, repr=False)
    released: threading.Event = field(default_factory=threading.Event, repr=False)
    #: Set once the rule has done its work (the statement dropped, or applied and cut).
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait_reached(self, timeout: float) -> bool:
        return self.reached.wait(timeout)

    def release(self) -> None:
        self.released.set()


class FaultProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.cuts: list[Cut] = []
        #: Every rule ever set, healed or not: :meth:`wait_settled` waits for those that fired.
        self.history: list[Cut] = []
        self.resets: set[int] = set()
        self.connections = 0
        self.reset_done: set[int] = set()
        self._listener: socket.socket | None = None
        #: While down: the port, bound and not listening (see :meth:`down`).
        self._held: socket.socket | None = None
        self._port = 0
        self._stopping = False
        self._sockets: set[socket.socket] = set()
        self._listen()

    # -- control --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    def down(self) -> None:
        """Stop listening: every connection is refused until :meth:`up`. The port stays
        bound meanwhile (not listening), so no other program on the machine is handed it
        and :meth:`up` can listen on it again."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            self._held = socket.socket()
            self._held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._held.bind(("127.0.0.1", self._port))

    def up(self) -> None:
        if self._listener is None:
            self._listen(self._port)
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def reset(self, *numbers: int) -> None:
        with self.lock:
            self.resets |= set(numbers)

    def cut(self, marker: bytes, **kwargs: object) -> Cut:
        rule = Cut(marker, **kwargs)  # type: ignore[arg-type]
        with self.lock:
            self.cuts.append(rule)
            self.history.append(rule)
        return rule

    def heal(self) -> None:
        """No more faults: listening again, every held statement released."""
        with self.lock:
            cuts, self.cuts, self.resets = self.cuts, [], set()
        for rule in cuts:
            rule.release()
        self.up()

    def wait_settled(self, timeout: float) -> bool:
        """Block until every rule that fired has done its work (the statement held, then
        dropped, passed on, or applied and its answer lost): the database is then final."""
        end = time.monotonic() + timeout
        with self.lock:
            fired = [rule for rule in self.history if rule.fired]
        return all(rule.done.wait(max(0.0, end - time.monotonic())) for rule in fired)

    def close(self) -> None:
        self._stopping = True
        self.heal()
        self.down()
        held, self._held = self._held, None
        if held is not None:
            held.close()
        with self.lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)

    @property
    def fired(self) -> bool:
        """Did any configured fault take effect?"""
        with self.lock:
            return bool(self.reset_done) or any(c.fired for c in self.cuts)

    # -- the relay --------------------------------------------------------------------------

    def _listen(self, port: int = 0) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        self._port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                number = self.connections
                self.connections += 1
                reset = number in self.resets
                if reset:
                    self.reset_done.add(number)
            if reset:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT)
        except OSError:
            _close(client)
            return
        server.settimeout(None)
        with self.lock:
            self._sockets |= {client, server}
        link = _Link(client, server)
        threading.Thread(target=self._pump_back, args=(link,), daemon=True).start()
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                rule = self._match(data)
                if rule is not None and not self._act(rule, link, data):
                    return
                server.sendall(data)
        except OSError:
            pass
        link.close()

    def _match(self, data: bytes) -> Cut | None:
        with self.lock:
            for rule in self.cuts:
                if rule.fired or rule.marker not in data:
                    continue
                rule.seen += 1
                if rule.seen - 1 == rule.occurrence:
                    rule.fired = True
                    return rule
        return None

    def _act(self, rule: Cut, link: _Link, data: bytes) -> bool:
        """True: go on relaying ``data`` as usual. False: the connection is finished."""
        try:
            return self._act_on(rule, link, data)
        finally:
            rule.done.set()

    def _act_on(self, rule: Cut, link: _Link, data: bytes) -> bool:
        if rule.hold:
            rule.reached.set()
            rule.released.wait(HOLD_TIMEOUT)
        if not rule.cut:
            return True
        if not rule.apply:
            link.close()
            return False
        link.swallow.set()
        with contextlib.suppress(OSError):
            link.server.sendall(data)
        link.answered.wait(ANSWER_TIMEOUT)
        link.close()
        return False

    def _pump_back(self, link: _Link) -> None:
        try:
            while True:
                data = link.server.recv(65536)
                if not data:
                    break
                if link.swallow.is_set():
                    link.answered.set()
                    break
                link.client.sendall(data)
        except OSError:
            pass
        link.close()


@dataclass
class _Link:
    client: socket.socket
    server: socket.socket
    swallow: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        _close(self.client)
        _close(self.server)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
