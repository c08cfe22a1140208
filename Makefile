# leadrelay — the commands a newcomer can guess.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
BUYERS_PORT ?= 9100
SMTP_PORT ?= 8025
DEMO_KEY ?= lr_demo_key_0123456789

# the tests run in parallel (pytest-xdist), two per core; each test has its own databases and ports. On the
# 2-core machine the suite (5,556 tests) keeps both cores busy: `bash .ci/run` on a fresh clone took 5:20
# (pytest 4:54) at 17:05 UTC on 2026-12-06, and 7:33 (pytest 6:54) at 09:40 the same day with fewer tests; the
# machine's speed varies about twofold within a day (nearly the same code took 6:34 and 11:26 on 2026-12-03). Six workers instead of four took as long (7:00 and 6:56 in
# the same hour of 2026-12-06): the suite is bound by CPU, not by its waits
XDIST ?= -n $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 ))) --dist worksteal
# the tests keep Python's bytecode (src, and the tests as pytest rewrites their asserts) even where the
# environment says not to (PYTHONDONTWRITEBYTECODE): every xdist worker would rewrite and compile all the
# test modules again (its collection: 13 s of CPU without, 5 s with); the leadrelay subprocesses the tests
# start already share a cache (tests/conftest.py)
KEEP_BYTECODE := env -u PYTHONDONTWRITEBYTECODE
PYTEST := $(KEEP_BYTECODE) $(BIN)/python -m pytest
# on a fresh clone nothing is compiled yet, and every xdist worker, started at the same moment, would compile
# the libraries it imports and rewrite every test module for itself: its collection took 21 s of CPU, against
# 6 s once the bytecode is there. One collection first (beside mypy, on the other core) writes it for every
# worker; skipped once the tests' bytecode is there (its errors, if any, are the real run's to report)
WARM_COLLECTION := ls tests/__pycache__/conftest.*-pytest-*.pyc > /dev/null 2>&1 || \
	$(PYTEST) --collect-only -q > /dev/null 2>&1 || true

.PHONY: run test test-unit coverage lint fmt typecheck migrate bench profile clean install install-dev

# the venv's packages are installed by uv, which resolves and fetches in parallel: `.[dev]` into a fresh venv
# took 5-6 s, where pip took 57 s on the 2-core machine (a sixth of the suite's budget); pip installs them
# where uv cannot be installed or fails
$(BIN)/python:
	$(PY) -m venv $(VENV)

uv_or_pip = { test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv; } && \
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(1) || $(BIN)/python -m pip install --quiet $(1)

install: $(BIN)/python
	$(call uv_or_pip,-e .)

install-dev: $(BIN)/python
	$(call uv_or_pip,-e '.[dev]')

## run: install, write ./.env (the installation's settings, read by every leadrelay process here) from
## examples/demo.env if there is none, migrate, apply examples/demo.yaml, print the console's first admin
## login (made on the first run only), start the simulated buyers and the server (SQLite)
run: install
	@test -f .env || { cp examples/demo.env .env && echo "wrote .env from examples/demo.env (loopback targets allowed for the demo buyers)"; }
	@grep -qs '^LEADRELAY_ALLOWED_TARGET_NETWORKS=.*127\.0\.0\.' .env || echo "warning: .env does not allow 127.0.0.0/8: deliveries to the demo buyers will be refused"
	$(BIN)/leadrelay db upgrade
	$(BIN)/leadrelay apply -f examples/demo.yaml
	$(BIN)/leadrelay sources add-key demo-web --key $(DEMO_KEY) > /dev/null
	@echo "demo source key: $(DEMO_KEY)"
	@LEADRELAY_PORT=$(PORT) $(BIN)/leadrelay users ensure-admin
	@$(BIN)/leadrelay simulate-buyers --port $(BUYERS_PORT) --count 3 --latency-ms 50 --accept-rate 0.8 --smtp-port $(SMTP_PORT) & \
	  buyers=$$!; trap "kill $$buyers 2>/dev/null" EXIT INT TERM; \
	  echo "leadrelay on http://127.0.0.1:$(PORT)  (API docs: http://127.0.0.1:$(PORT)/docs)"; \
	  $(BIN)/leadrelay serve --port $(PORT)

## test: install the dev dependencies, then ruff, the import contracts, and mypy beside pytest (in parallel; the 25
##   slowest tests listed); any of them failing fails the target
# mypy takes one core for about 25 s from a fresh clone (no cache): run alone it leaves the other core idle, so it
# runs in the background while pytest runs, and its report is printed after pytest's (an interrupt stops both)
test: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	@echo "$(BIN)/mypy (beside pytest: its report follows pytest's)"
	@report=$$(mktemp); $(BIN)/mypy > $$report 2>&1 & types=$$!; \
	  trap 'kill $$types 2>/dev/null; rm -f $$report' EXIT; trap 'exit 130' INT TERM; \
	  $(WARM_COLLECTION); \
	  echo "$(PYTEST) $(XDIST) --durations=25"; \
	  $(PYTEST) $(XDIST) --durations=25; tests=$$?; \
	  wait $$types; typed=$$?; echo "mypy:"; cat $$report; \
	  test $$tests -eq 0 && test $$typed -eq 0

## test-unit: the pure tests of tests/unit only (no database, no network): seconds
test-unit: install-dev
	$(PYTEST) tests/unit $(XDIST) -q

## coverage: the whole suite under coverage.py (xdist workers and subprocesses too); statement coverage of src/
coverage: install-dev
	$(BIN)/coverage erase
	$(KEEP_BYTECODE) $(BIN)/coverage run -m pytest $(XDIST) -q
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

migrate: install
	$(BIN)/leadrelay db upgrade

## bench: intake and end to end as ratios to a bare app, CPU per lead, routing; SQLite and PostgreSQL; batch files;
##   the auction's overhead under open-loop arrivals (bench/auction_bench.py); reports over 1,000,000 leads
##   (bench/report_bench.py); the dashboard over 1,000,000 leads (bench/dashboard_bench.py); the console's pages
##   through HTTP over 1,000,000 leads (bench/console_bench.py)
bench: install-dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get install -y -qq wrk >/dev/null 2>&1; } || echo "wrk is not installed: using the aiohttp generator"
	$(BIN)/python bench/run.py
	$(BIN)/python bench/batches_bench.py
	$(BIN)/python bench/auction_bench.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/dashboard_bench.py
	$(BIN)/python bench/console_bench.py

## profile: where the server's CPU per lead goes (py-spy under wrk load; PROFILE_ARGS=--e2e for end to end), then
##   intake's CPU per lead without HTTP beside SQLite's alone for the same rows (bench/intake_floor.py), and the
##   worker's without intake beside aiohttp's alone (bench/worker_floor.py)
profile: install-dev
	$(call uv_or_pip,py-spy)
	$(BIN)/python bench/profile.py $(PROFILE_ARGS)
	$(BIN)/python bench/intake_floor.py
	$(BIN)/python bench/worker_floor.py

clean:
	rm -rf $(VENV) leadrelay.db leadrelay.db-wal leadrelay.db-shm .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
