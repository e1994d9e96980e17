# `make run` serves the API on http://127.0.0.1:$(PORT); `make test` runs the whole suite.
# Both create .venv and install the project first. Without DATABASE_URL (run) or
# TEST_DATABASE_URL (test) they use an embedded PostgreSQL whose data lives in .pgdata/.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT
export FLASK_APP := ticketing:create_app
# Human-friendly logs are one LOG_FORMAT=text away; JSON stays the default everywhere.
export LOG_FORMAT ?= json

.PHONY: install run test lint migrate db-url db-stop bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	@DATABASE_URL="$${DATABASE_URL:-$$($(PY) -m ticketing.devdb url ticketing)}" && \
	export DATABASE_URL && \
	$(VENV)/bin/flask db upgrade && \
	$(VENV)/bin/flask auth dev-key --file .dev-api-key && \
	exec $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

migrate: install
	@DATABASE_URL="$${DATABASE_URL:-$$($(PY) -m ticketing.devdb url ticketing)}" \
	$(VENV)/bin/flask db upgrade

db-url: install
	@$(PY) -m ticketing.devdb url ticketing

db-stop: install
	$(PY) -m ticketing.devdb stop

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	-$(PY) -m ticketing.devdb stop
	rm -rf $(VENV) .pgdata .pgdata.lock .pytest_cache .ruff_cache .dev-api-key
