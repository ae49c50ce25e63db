# DeepLOB Hub. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WEB := services/web
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup up test test-py test-web lint audit bench web clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "DeepLOB Hub needs Python 3.11+ (set PYTHON=python3.11)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[ml,dev]'
	touch $(STAMP)

$(WEB)/node_modules/.installed: $(WEB)/package.json
	cd $(WEB) && (test -f package-lock.json && npm ci --no-audit --no-fund || npm install --no-audit --no-fund)
	touch $@

$(WEB)/dist/index.html: $(WEB)/node_modules/.installed $(shell find $(WEB)/src $(WEB)/index.html -type f 2>/dev/null)
	cd $(WEB) && npm run build

web: $(WEB)/dist/index.html ## build the web UI into services/web/dist

setup: $(STAMP) web ## create the venv, install Python and npm packages, build the UI

up: setup ## run the whole product on this machine (gateway :8000, Flower :5555, inference :8001)
	$(VENV)/bin/lob up

lint: $(STAMP) ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-web: $(WEB)/node_modules/.installed
	cd $(WEB) && npm test

test-py: $(STAMP) web
	$(VENV)/bin/pytest

# Reports only: the advisory services may be unreachable (e.g. on a closed CI network), which is said.
audit: $(STAMP) $(WEB)/node_modules/.installed ## report known vulnerabilities in Python and npm dependencies
	@$(VENV)/bin/pip-audit --skip-editable --progress-spinner off > .audit-py.txt 2>&1; \
	  n=$$(grep -c "could not be audited" .audit-py.txt); \
	  if [ "$$n" -gt 0 ]; then echo "pip-audit: advisory service unreachable, $$n packages not audited"; \
	  else cat .audit-py.txt; fi; rm -f .audit-py.txt
	@cd $(WEB) && (npm audit --omit=dev > ../../.audit-npm.txt 2>&1 && tail -n 3 ../../.audit-npm.txt || \
	  (grep -q "audit endpoint returned an error" ../../.audit-npm.txt && echo "npm audit: advisory service unreachable, not audited" || cat ../../.audit-npm.txt)); \
	  rm -f ../../.audit-npm.txt

test: lint audit test-web test-py ## lint, dependency audit, component tests, then every Python test against real services

bench: setup ## run every benchmark and append the figures to BENCHMARKS.md
	$(VENV)/bin/lob bench all

clean: ## remove the venv, node_modules and build outputs (keeps $LOB_HOME)
	rm -rf $(VENV) $(WEB)/node_modules $(WEB)/dist
