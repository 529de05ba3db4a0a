# make test  - install everything the tests need (venv, Synapse, RT 5 and RT 4.4 packages) and run lint + the suite
# make demo  - local Synapse (+ RT 5) with demo accounts and rooms, and the bot
VENV ?= .venv
PY := $(VENV)/bin/python
# RT 5 (REST 2.0) and RT 4.4 (REST 1.0 only) co-install on Debian 12; tests run against both.
RT_PACKAGES := request-tracker5 rt5-db-sqlite rt5-standalone request-tracker4 rt4-db-sqlite rt4-standalone

.PHONY: install js rt-packages test lint demo bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

JS := harness/js
# matrix-js-sdk (Element's SDK) for the e2ee tests: Node >= 20 from the machine's packages,
# the SDK pinned in harness/js/package-lock.json. Skipped (those tests skip) without node/npm.
$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(JS) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the js-sdk e2ee tests will be skipped"; fi

js: $(JS)/node_modules/.installed

install: $(VENV)/.installed js

rt-packages:
	@{ command -v rt-setup-database-5 && command -v rt-setup-database-4; } >/dev/null 2>&1 || { \
	  echo "installing RT 5 and RT 4.4 ($(RT_PACKAGES))"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(RT_PACKAGES) >/dev/null \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q >/dev/null && $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(RT_PACKAGES) >/dev/null; }; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install rt-packages lint
	$(VENV)/bin/pytest -q

demo: install rt-packages
	$(PY) -m demo.run

bench: install rt-packages
	for b in benchmarks/bench_*.py; do $(PY) -m benchmarks.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf .demo
