"""``python -m emulator``: serve the emulated Secret Manager until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from emulator.app import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Local NCP Secret Manager on real HTTP."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--access-key",
        default=os.environ.get("NCLOUD_ACCESS_KEY"),
        help="default: $NCLOUD_ACCESS_KEY",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("NCLOUD_SECRET_KEY"),
        help="default: $NCLOUD_SECRET_KEY (never printed)",
    )
    parser.add_argument(
        "--prefix", default="", help="mount under a path, e.g. /secretmanager (regional host)"
    )
    parser.add_argument(
        "--schedule-interval",
        type=float,
        default=1.0,
        help="seconds between checks for due rotations",
    )
    parser.add_argument(
        "--trigger",
        metavar="NAME",
        help="register a Secret Manager trigger NAME that runs this project's handler.main",
    )
    opts = parser.parse_args(argv)
    if not opts.access_key or not opts.secret_key:
        parser.error(
            "no credentials: set NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY "
            "or pass --access-key and --secret-key"
        )
    emu = Emulator(
        access_key=opts.access_key,
        secret_key=opts.secret_key,
        host=opts.host,
        port=opts.port,
        prefix=opts.prefix,
        schedule_interval=opts.schedule_interval,
    )
    emu.start()
    if opts.trigger:
        trigger = emu.add_trigger(opts.trigger, emu.handler_action())
        print(f"trigger {trigger.name} id {trigger.trigger_id}", flush=True)
    print(f"Secret Manager emulator on {emu.endpoint}", flush=True)
    print(f"access key {emu.access_key}; Ctrl-C stops it", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
