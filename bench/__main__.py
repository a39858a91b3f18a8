"""Run every benchmark and print its figures."""

from __future__ import annotations

import logging
import platform
import sys

import structlog

from bench import bench_api


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    for module in (bench_api,):
        print(f"\n[{module.__name__}]")
        for line in module.run():
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
