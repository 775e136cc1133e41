# Two commands: `make run` (serve the app with demo data) and `make test` (everything CI checks).
# Both create .venv with the machine's python3 on first use and re-install when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs on every core (pytest-xdist; each worker gets its own test database).
PYTEST_WORKERS ?= auto

.PHONY: run test install lint migrate serve db-start db-stop clean help backup-check

help:
	@echo "make run    - install, migrate, load demo data, serve on http://$(HOST):$(PORT) with one import worker"
	@echo "make test   - install, lint, check, makemigrations --check, the whole test suite"
	@echo "make db-stop - stop the embedded PostgreSQL (used when DATABASE_URL is unset)"
	@echo "make backup-check - dump the database, restore it into a new one, compare (docs/OPERATIONS.md)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP)

# One task-queue worker (the admin's imports) runs beside the web server and stops with it.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/admin/  (API: http://$(HOST):$(PORT)/api/docs/), with one import worker"
	@$(PY) manage.py procrastinate worker --queues imports & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install lint
	@scripts/ensure-chromium
	@scripts/ensure-services
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	CRM_SCALING_TESTS=1 $(VENV)/bin/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

db-start: install
	$(PY) -m crm_project.embedded_db start

db-stop: install
	$(PY) -m crm_project.embedded_db stop

# Proves a backup restores: pg_dump of the server's version, pg_restore into a new database, counts + ledger.
backup-check: install
	$(PY) manage.py backup_check $(BACKUP_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
