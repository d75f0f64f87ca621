# leadcapture: `make run` serves the demo form; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint browser redis bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,production]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/leadcapture db upgrade
	$(BIN)/leadcapture forms import demo/sales-machine.toml
	$(BIN)/leadcapture serve --host $(HOST) --port $(PORT)

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

test: $(BIN)/.installed browser redis
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# Campaign send benchmark (issue 6): PEOPLE=100000 make bench
bench: $(BIN)/.installed redis
	$(BIN)/python bench/run.py --people $${PEOPLE:-10000} --threads 4

clean:
	rm -rf $(VENV) var .pytest_cache
