"""Run every benchmark and print its figures."""

from __future__ import annotations

import logging
import os
import platform
import sys

import structlog

from bench import bench_api, bench_deploy, bench_rotation


def main() -> int:
    os.environ["LOG_LEVEL"] = "WARNING"  # handler.main reads it on every invocation
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    for module in (bench_api, bench_rotation, bench_deploy):
        print(f"\n[{module.__name__}]")
        for line in module.run():
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
