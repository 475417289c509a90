# Everything the project needs is installed by these targets, into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
BACKOFFICE_TIMEZONE ?= Asia/Jakarta
# The port `make run` serves on: `make run PORT=5001` when 5000 is taken.
PORT ?= 5000
export TEST_DATABASE_URL
# The address `make run` serves on, which its commands print.
ADDRESS = http://127.0.0.1:$(PORT)
SERVER = $(BIN)/backoffice run --host 127.0.0.1 --port $(PORT)
DEMO_DATA = $(BIN)/backoffice demo-data --url $(ADDRESS) --serving
# The API token needs no database: it is printed while the database starts.
API_TOKEN = $(BIN)/backoffice api-token --url $(ADDRESS)
# Without DATABASE_URL, `make run` serves the demo from a PostgreSQL of its own (`backoffice embedded`), its data in
# EMBEDDED_DATA: migrated by its owner, the demo loaded and served as the runtime role; Ctrl-C stops it too.
EMBEDDED_DATA ?= instance/postgres
ifdef DATABASE_URL
RUN = $(API_TOKEN) && $(BIN)/backoffice db upgrade && $(DEMO_DATA) && exec $(SERVER)
else
EMBEDDED = $(BIN)/backoffice embedded
# One shell runs it all, each step in the background while the shell waits for it: Ctrl-C, or a TERM to make (which
# make passes to this shell), ends the step running, starts no other, and stops PostgreSQL once that step has ended.
# A shell runs its trap only once its foreground command has ended, so a step in the foreground would run to its end
# after a TERM, and the next would start. Each role's URL is asked once: every command is a Python process that
# takes a second to start.
RUN = $(API_TOKEN) & token=$$!; \
	trap 'stopping=1; kill $$step 2>/dev/null' INT TERM; \
	trap 'wait $$step; $(EMBEDDED) stop --data $(EMBEDDED_DATA)' EXIT; \
	step() { [ -z "$$stopping" ] && { "$$@" & step=$$!; wait $$step; }; }; \
	step $(EMBEDDED) start --data $(EMBEDDED_DATA) && wait $$token && \
	owner=$$($(EMBEDDED) url --owner --data $(EMBEDDED_DATA)) && \
	runtime=$$($(EMBEDDED) url --data $(EMBEDDED_DATA)) && export DATABASE_URL=$$owner && \
	step $(BIN)/backoffice db upgrade && step $(BIN)/backoffice db grant-runtime backoffice_runtime && \
	export DATABASE_URL=$$runtime && step $(DEMO_DATA) && step $(SERVER)
BACKOFFICE_ANCHORS_FOLDER ?= $(EMBEDDED_DATA)-anchors
export BACKOFFICE_ANCHORS_FOLDER
endif

.PHONY: run serve test test-quick lint install install-test lock locked translations screenshots services chromium axe hledger libreoffice pango prometheus pgbouncer wrk bench worker scheduler clean

# Its commands keep the bytecode Python compiles for them (in .venv and __pycache__/), whatever
# PYTHONDONTWRITEBYTECODE says: each is a Python process that imports most of the same modules, which it would
# otherwise compile again, a second of each start.
run: export PYTHONDONTWRITEBYTECODE =
run: install pango
	@$(RUN)

# The production web server: gunicorn with gunicorn.conf.py, on the DATABASE_URL, REDIS_URL, SECRET_KEY and
# BACKOFFICE_* settings of the environment (see docs/operators.md). HUP reloads it gracefully.
serve: install pango
	$(BIN)/backoffice db upgrade
	exec $(BIN)/gunicorn --config gunicorn.conf.py

# The suite runs in one process more than the cores (at most 4): many tests wait on the servers, workers and
# browsers they start, and the extra process keeps the cores busy meanwhile. Each process has a PostgreSQL and a
# Redis database of its own: the Redis database it is given (by default 15, not the app's 0) and the next free ones,
# which it empties; a second run beside it claims the next free databases again (see tests/conftest.py).
test: install-test services chromium axe hledger libreoffice pango prometheus pgbouncer lint
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/pytest --numprocesses $$(($$(nproc) + 1)) --maxprocesses 4

# The quick lane: every test but those marked production_path (real workers, the runtime role, killed workers, the
# deployed nights, the pooler, make run on a clone, the month-end), each marked with its reason. CI runs make test.
test-quick: install-test services chromium axe hledger libreoffice pango
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/pytest --numprocesses $$(($$(nproc) + 1)) --maxprocesses 4 \
		-m "not production_path"

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# A worker for the job queues (REDIS_URL must be set; run as many as you like, on any machine).
worker: install
	$(BIN)/python worker.py

# RQ's cron scheduler for the nightly and monthly jobs, in the installation's time zone.
scheduler: install
	TZ=$(BACKOFFICE_TIMEZONE) $(BIN)/rq cron backoffice.operations.schedule --url "$$REDIS_URL"

# The pages' texts: extract them from the code and templates into messages.pot, bring each language's catalogue
# up to date with it (new texts come in untranslated, and tests/translations/test_translations.py fails until they are
# translated), and compile the catalogues the app reads (the .mo files are committed beside the .po files).
TRANSLATIONS := backoffice/translations
translations: install-test
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords _l --keywords lazy_gettext \
		--keywords lazy_ngettext:1,2 --no-location --sort-output --project backoffice --version 0.1.0 \
		--msgid-bugs-address "" --copyright-holder "" --output-file $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete --input-file $(TRANSLATIONS)/messages.pot \
		--output-dir $(TRANSLATIONS)
	$(BIN)/pybabel compile --directory $(TRANSLATIONS) --statistics

# The pictures in docs/images/: the demo data on a fresh embedded PostgreSQL in a temporary directory (never the instance
# folder's), served on a free local port and shown by Debian's headless chromium; see docs/screenshots.py.
screenshots: install-test chromium
	$(BIN)/python -m docs.screenshots

install: locked $(VENV)/.installed
install-test: locked $(VENV)/.installed-test

# uv installs exactly what uv.lock holds (hashes included) into .venv, from PyPI; `make lock` updates uv.lock
# from pyproject.toml. uv itself is pinned here and kept in .venv/uv, outside the environment it manages.
UV_VERSION := 0.13.9
UV := $(VENV)/uv/bin/uv
UV_SYNC := $(UV) sync --quiet --locked --python $(BIN)/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

# The environment is made without pip (uv installs into it): uv is installed by the Python's own pip where it has one,
# else by a pip the environment is given for it, which takes seconds more.
UV_INSTALL := install --quiet --disable-pip-version-check --target $(VENV)/uv uv==$(UV_VERSION)
$(UV):
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip $(UV_INSTALL) 2>/dev/null || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip $(UV_INSTALL); }

lock: | $(UV)
	$(UV) lock

# uv.lock must hold what pyproject.toml asks for, or nothing is installed (and nothing runs).
locked: | $(UV)
	@$(UV) lock --check --quiet 2>/dev/null || { \
		echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock." >&2; exit 1; }

# What the app needs, leaving what the tests need where it is installed already (`make run` after `make test`).
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV_SYNC) --inexact
	touch $@

$(VENV)/.installed-test: pyproject.toml uv.lock | $(UV)
	$(UV_SYNC) --extra test
	touch $@ $(VENV)/.installed

# Start the local PostgreSQL and Redis when they are down (a no-op where they run or are absent).
services:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432 && [ -d /etc/postgresql ]; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; fi
	@if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true; fi

# The browser tests drive Debian's chromium; install it when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
		|| echo "Could not install chromium: the browser tests will be skipped (they fail under CI=true)."; }

# The screens' tests inject axe-core (an accessibility checker, from npm as package-lock.json pins it) into the
# pages; npm is Debian's, installed when it is missing.
axe: node_modules/axe-core/axe.min.js

node_modules/axe-core/axe.min.js: package.json package-lock.json
	@command -v npm >/dev/null || { \
		echo "Installing Debian's npm for the screens' accessibility tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null \
		|| echo "Could not install npm: the accessibility tests will be skipped (they fail under CI=true)."; }
	@if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; fi

# The journal export's test reads the export with Debian's hledger; install it when it is missing.
hledger:
	@command -v hledger >/dev/null || { \
		echo "Installing Debian's hledger for the journal export's test..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hledger >/dev/null \
		|| echo "Could not install hledger: the journal export's test will be skipped (it fails under CI=true)."; }

# The workbooks' test opens what we write with LibreOffice and reads its PDF with poppler's pdftotext; install them
# when they are missing.
libreoffice:
	@{ command -v soffice >/dev/null && command -v pdftotext >/dev/null; } || { \
		echo "Installing Debian's LibreOffice Calc and poppler-utils for the workbooks' test..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			libreoffice-calc-nogui poppler-utils >/dev/null \
		|| echo "Could not install LibreOffice: the workbooks' test will be skipped (it fails under CI=true)."; }

# The documents' PDFs are drawn by WeasyPrint (installed into .venv) with Pango from Debian, in DejaVu's fonts (every
# letter of Indonesian and Vietnamese); both are installed when they are missing.
pango:
	@{ ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && fc-list 2>/dev/null | grep -q 'DejaVuSans.ttf'; } || { \
		echo "Installing Debian's Pango and DejaVu fonts for the documents' PDFs..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null \
		|| echo "Could not install Pango: the documents download as PDFs nowhere (their pages still print)."; }

# The alert rules' test runs promtool from Debian's prometheus; install it when it is missing.
prometheus:
	@command -v promtool >/dev/null || { \
		echo "Installing Debian's prometheus for the alert rules' test..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null \
		|| echo "Could not install prometheus: the alert rules' test will be skipped (it fails under CI=true)."; }

# The pooler's test runs a part of the suite through Debian's pgbouncer, started on a port of its own; install it when
# it is missing (in /usr/sbin, outside a user's PATH). The package starts a pgbouncer of the system's where services
# start on installing: it is stopped and disabled, nothing here uses it.
pgbouncer:
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || { \
		echo "Installing Debian's pgbouncer for the pooler's test..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null \
		&& { if [ -d /run/systemd/system ]; then systemctl disable --now --quiet pgbouncer.service; \
			else update-rc.d pgbouncer disable >/dev/null && /etc/init.d/pgbouncer stop >/dev/null; fi || true; } \
		|| echo "Could not install pgbouncer: the pooler's test will be skipped (it fails under CI=true)."; }

# The pages' benchmark loads the web server with Debian's wrk; install it when it is missing.
wrk:
	@command -v wrk >/dev/null || { \
		echo "Installing Debian's wrk for the pages' benchmark..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
		|| echo "Could not install wrk: the pages' benchmark cannot run."; }

# Benchmarks on the local PostgreSQL (BENCH_DATABASE_URL, a database of their own).
bench: install-test services wrk
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules
