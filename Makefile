# The commands the README tells people to type.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench install clean-demo

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

## run: set up the embedded default (SQLite, no Redis needed), load demo data, serve on :8000
run: $(STAMP)
	$(PY) manage.py demo --serve --port $${PORT:-8000}

## test: the whole suite against real PostgreSQL and Redis (DATABASE_URL / REDIS_URL override)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff (lint + format check), djlint (templates) and mypy (strict for contracts and decision logic)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/djlint templates --lint --profile=django
	$(VENV)/bin/mypy .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## bench: print latency and throughput figures (not part of the tests)
bench: $(STAMP)
	$(PY) bench/decision_latency.py
	$(PY) bench/api_throughput.py
	$(PY) bench/async_throughput.py --n $${ASYNC_N:-2000}
	$(PY) bench/review_queue.py
	$(PY) bench/policy_whatif.py
	$(PY) bench/replay_throughput.py
	$(PY) bench/audit_chain.py --events $${AUDIT_EVENTS:-1000000}
