# `make run` serves the API on http://127.0.0.1:$(PORT); `make test` runs the whole suite.
# Both create .venv and install the project first, with the versions in requirements.lock.
# Without DATABASE_URL (run) or TEST_DATABASE_URL (test) they use an embedded PostgreSQL
# whose data lives in .pgdata/; it keeps running until `make db-stop`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT
# Human-friendly logs are one LOG_FORMAT=text away; JSON stays the default everywhere.
export LOG_FORMAT ?= json
# The versions CI tests and deployments install; `make lock` upgrades them.
LOCK := requirements.lock
PIP_COMPILE_ARGS := --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
	--output-file $(LOCK) setup.cfg
# `make run` keeps its metrics beside the checkout, one folder per port (make clean empties it).
RUN_METRICS_DIR := $(CURDIR)/.prometheus/$(PORT)

.PHONY: install run test lint migrate db-url db-stop bench lock clean

$(VENV)/.installed: setup.cfg pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint $(LOCK) -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The embedded PostgreSQL's URL unless DATABASE_URL is set; stops make when it cannot start.
define database_url
if [ -z "$$DATABASE_URL" ]; then \
  DATABASE_URL="$$($(PY) -m ticketing.devdb url ticketing)" || exit 1; \
  echo "ticketing: embedded PostgreSQL (data in .pgdata/); it keeps running after the" \
       "server stops: 'make db-stop' stops it" >&2; \
fi; export DATABASE_URL
endef

run: install
	@$(database_url); \
	$(VENV)/bin/flask db upgrade && \
	$(VENV)/bin/flask auth dev-key --file .dev-api-key && \
	PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$(RUN_METRICS_DIR)}" \
	exec $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

migrate: install
	@$(database_url); $(VENV)/bin/flask db upgrade

db-url: install
	@$(PY) -m ticketing.devdb url ticketing

db-stop: install
	$(PY) -m ticketing.devdb stop

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# Newest versions setup.cfg allows, written to requirements.lock: run `make test`, then commit.
lock: install
	$(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --upgrade $(PIP_COMPILE_ARGS)

# Everything `make` made; safe to run twice. The embedded PostgreSQL is stopped first, with
# pg_ctl while .venv exists, else by signalling the pid in its postmaster.pid.
clean:
	@if [ -x $(PY) ]; then $(PY) -m ticketing.devdb stop; \
	elif [ -f .pgdata/postmaster.pid ]; then \
	  kill -INT "$$(head -n 1 .pgdata/postmaster.pid)" 2>/dev/null || true; fi
	rm -rf $(VENV) .pgdata .pgdata.lock .pgdata.port .prometheus .pytest_cache .ruff_cache \
	  .dev-api-key *.egg-info build dist
