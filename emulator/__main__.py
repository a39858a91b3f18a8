"""``python -m emulator``: serve the emulated Secret Manager until interrupted.

Bad usage (a port out of range or already in use, a host that does not resolve, a prefix
without its slash) ends with one line and exit code 2, never a traceback.

The key pair the emulator checks signatures with comes from ``NCLOUD_ACCESS_KEY`` (or
``--access-key``: an access key is an identifier) and ``NCLOUD_SECRET_KEY``, from the
environment only: a secret on the command line is readable by every user of the machine
(``ps``) and stays in shell history, which is why the CLI refuses secrets as flags too.
``--secret-key`` is refused by name, without echoing what followed it.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import socket
import sys
import threading

from emulator.app import Emulator
from emulator.runtime_python import RuntimePythonError


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number, 0 to 65535") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0 to 65535 (0 picks a free port)")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return value


def _prefix(text: str) -> str:
    if text and (not text.startswith("/") or text.endswith("/") or " " in text):
        raise argparse.ArgumentTypeError("must look like /secretmanager (or be empty)")
    return text


def _secret_flag(argv: list[str]) -> str | None:
    """A ``--secret...`` flag (``--secret-key``, an abbreviation of it), refused before
    argparse would echo the value after it as an unrecognized argument."""
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("--secret"):
            return arg.split("=", 1)[0]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local NCP Secret Manager on real HTTP. The secret key comes from "
        "NCLOUD_SECRET_KEY, never a flag.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--access-key",
        default=os.environ.get("NCLOUD_ACCESS_KEY"),
        help="default: $NCLOUD_ACCESS_KEY",
    )
    parser.add_argument(
        "--prefix",
        type=_prefix,
        default="",
        help="mount under a path, e.g. /secretmanager (regional host)",
    )
    parser.add_argument(
        "--schedule-interval",
        type=_interval,
        default=1.0,
        help="seconds between checks for due rotations",
    )
    parser.add_argument(
        "--trigger",
        metavar="NAME",
        help="register a Secret Manager trigger NAME that runs this project's handler.main",
    )
    args = sys.argv[1:] if argv is None else argv
    flag = _secret_flag(args)
    if flag is not None:
        parser.error(
            f"{flag} is not accepted: a secret on the command line is visible to every user "
            "(ps) and stays in shell history; set NCLOUD_SECRET_KEY instead"
        )
    opts = parser.parse_args(args)
    secret_key = os.environ.get("NCLOUD_SECRET_KEY")
    if not opts.access_key or not secret_key:
        parser.error(
            "no credentials: set NCLOUD_ACCESS_KEY (or --access-key) and NCLOUD_SECRET_KEY "
            "(the secret key is read from the environment only)"
        )
    emu = Emulator(
        access_key=opts.access_key,
        secret_key=secret_key,
        host=opts.host,
        port=opts.port,
        prefix=opts.prefix,
        schedule_interval=opts.schedule_interval,
    )
    try:  # looked up before serving: the first line printed means ready
        runtime = emu.runner.runtime.describe()
    except RuntimePythonError as exc:
        parser.error(str(exc))
    try:
        emu.start()
    except OSError as exc:  # in use, no such address, not allowed (ports below 1024)
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"is refused ({exc.strerror})"
        if isinstance(exc, socket.gaierror):
            parser.error(f"--host {opts.host!r} does not resolve to an address to listen on")
        parser.error(f"cannot listen on {opts.host} port {opts.port}: the port {reason}")
    if opts.trigger:
        trigger = emu.add_trigger(opts.trigger, emu.handler_action())
        print(f"trigger {trigger.name} id {trigger.trigger_id}", flush=True)
    # Ctrl-C and SIGTERM are taken before the ready line: a signal that arrives while the
    # last lines print must stop the emulator, not escape as KeyboardInterrupt and leave the
    # interpreter waiting on the emulator's threads.
    done = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: done.set())
    try:
        print(f"Secret Manager emulator on {emu.endpoint}", flush=True)
        print(f"actions run on {runtime}", flush=True)
        print(f"access key {emu.access_key}; Ctrl-C stops it", flush=True)
        done.wait()
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
