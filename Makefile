# The two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv when it is missing or stale (requirements changed, interpreter gone).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench bench-fleet bench-apps reliability day emulator package deploy clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(BIN)/python -c '' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/python -m emulator.demo

# Every figure beside its goal (about a minute); the fleet: 1,000 secrets due at once,
# 50 actions at a time under 429/503 faults, then 50 MariaDB users (BENCH_ARGS to change).
bench: $(STAMP)
	$(BIN)/python -m bench

bench-fleet: $(STAMP)
	$(BIN)/python -m bench --fleet $(BENCH_ARGS)

# Applications through rotations (issue 18): with the appcreds kit and without it, every
# engine and strategy, 20 rotations each (BENCH_ARGS="--rotations 3" for a quick look).
bench-apps: $(STAMP)
	$(BIN)/python -m bench.apps $(BENCH_ARGS)

# The fault matrix (issue 9): every Secret Manager call faulted, kill -9 at each step,
# concurrent invocations, another writer, real MariaDB, PostgreSQL and Redis. Then the
# explorer (issue 15): 10,000 seeded fault schedules in process, and a share of 200 on
# the machine's MariaDB. All always run; the target fails if any found something.
reliability: $(STAMP)
	@status=0; \
	$(BIN)/python -m reliability || status=1; \
	$(BIN)/python -m reliability explore --schedules 10000 || status=1; \
	$(BIN)/python -m reliability explore --real --schedules 200 || status=1; \
	exit $$status

# A new operator's day (issue 17): four secrets, deploy, failures on purpose, fixes, retry,
# resume, pause, alerts; the transcript, then a PASS/FAIL line per promise (about a minute).
day: $(STAMP)
	$(BIN)/python -m reliability.day $(DAY_ARGS)

emulator: $(STAMP)
	$(BIN)/python -m emulator --port 8080

package: $(STAMP)
	$(BIN)/python -m deploy.package

deploy: $(STAMP)
	$(BIN)/python -m deploy $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
