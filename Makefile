# leadcapture: `make run` serves the demo form; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run translations test test-postgres bench bench-campaign wrk lint browser redis dovecot clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,production]'
	touch $@

# The demo brand: the demo form names its controller text, so importing it joins this brand.
DEMO_SENDER ?= whitepapers@example.com
DEMO_SALES ?= sales@example.com
DEMO_CONTROLLER = Voorbeeld B.V., Stationsplein 1, 3511 ED Utrecht, privacy@example.com

run: $(BIN)/.installed
	$(BIN)/leadcapture db upgrade
	@$(BIN)/leadcapture brands list | grep -q '^voorbeeld:' || $(BIN)/leadcapture brands add voorbeeld \
	  --name "Voorbeeld B.V." --controller "$(DEMO_CONTROLLER)" --sender-name "Voorbeeld B.V." \
	  --sender-address "$(DEMO_SENDER)" --reply-to "info@example.com" --sales-address "$(DEMO_SALES)" --colour "#0b5cab"
	$(BIN)/leadcapture forms import demo/sales-machine.toml
	$(BIN)/leadcapture serve --host $(HOST) --port $(PORT)

# The gettext catalogs (docs/translating.md): extract every page and mail string into the template,
# merge it into each language's catalog, fill English (the source language) with its own wording,
# and compile the .mo files, which are committed so that a checkout or wheel runs without a build
# step (tests/unit/test_translations.py fails when a .mo does not match its .po).
CATALOGS := leadcapture/translations
translations: $(BIN)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k gettext_in:2 -k _l --add-location=file --sort-by-file \
	  --project=leadcapture --copyright-holder=leadcapture --width=100 -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel -q update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --width=100 --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/python -m leadcapture.i18n fill-source $(CATALOGS)/en/LC_MESSAGES/messages.po
	$(BIN)/pybabel compile -d $(CATALOGS) --statistics

# Headless Chromium for the browser tests: Debian's package (Playwright's own download
# needs internet). Installed when missing and we may (root); otherwise those tests say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: install it (apt-get install chromium) to run the browser tests"; fi; }

# redis-server for the shared-throttle test (it starts its own on a free port; issue 6).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian redis-server for the throttle tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server not found: the shared-throttle test will be skipped"; fi; }

# Dovecot for the bounce-mailbox test (it starts its own on a free port with a temp config).
dovecot:
	@command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian dovecot-imapd for the bounce-mailbox test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	  else echo "dovecot not found: the bounce-mailbox test will be skipped"; fi; }

test: $(BIN)/.installed browser redis dovecot
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite once more with every test on its own PostgreSQL database (issue 3).
test-postgres: $(BIN)/.installed
	LEADCAPTURE_TEST_POSTGRES=$${LEADCAPTURE_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/postgres} \
	  $(BIN)/pytest -m "not integration and not browser" $(PYTEST_ARGS)

# Load generator for bench/: Debian's wrk, installed when missing and we may (root).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk not found: install it (apt-get install wrk) to run the benchmark"; exit 1; fi; }

# gunicorn (2 workers) + 1 worker process + PostgreSQL + Redis + SMTP sink, 30 s of load.
bench: $(BIN)/.installed wrk
	$(BIN)/python bench/stack.py $(BENCH_ARGS)

# Style, then the architecture: the import contract of pyproject.toml (docs/architecture.md).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# A campaign to a local SMTP sink: 1 and 2 worker processes (issue 6). PEOPLE=100000 for more.
bench-campaign: $(BIN)/.installed redis
	$(BIN)/python bench/run.py --people $${PEOPLE:-10000} --threads 4

clean:
	rm -rf $(VENV) var .pytest_cache
