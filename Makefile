# CaaS platform. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install warm run test lint typecheck unit security bench soak schema lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

warm: $(STAMP) ## Compile the matching engine into Numba's disk cache (~2 min once, then seconds)
	$(BIN)/caas engine warm

run: $(STAMP) ## Start the server with demo data on the embedded store (PORT, default 8000)
	$(BIN)/caas serve --demo

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy graph domains engine subscriptions tests

INTEROP := tests/interop
$(INTEROP)/node_modules/.installed: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@command -v npm >/dev/null || { echo "need npm (Node.js 20+) for tests/interop"; exit 1; }
	npm ci --prefix $(INTEROP) --no-audit --no-fund
	@touch $@

interop-deps: $(INTEROP)/node_modules/.installed ## Install the pinned npm tools tests/interop uses

JUNIT := var/ci/pytest.xml
unit: $(STAMP) interop-deps warm ## pytest only (results also in var/ci/pytest.xml)
	@mkdir -p $(dir $(JUNIT))
	$(BIN)/pytest -o junit_family=xunit1 --junitxml=$(JUNIT)

SECURITY_OUT ?= var/security
SECURITY_FLAGS ?= --offline
security: $(STAMP) ## Signed security report from the last unit run's results, then verified (SECURITY_FLAGS= for pip-audit online)
	@test -f $(JUNIT) || { echo "no $(JUNIT): run make unit first"; exit 1; }
	$(BIN)/caas security-report $(SECURITY_FLAGS) --junit $(JUNIT) --out $(SECURITY_OUT)
	$(BIN)/caas security-report --verify "$$(ls -t $(SECURITY_OUT)/security-report-*.json | head -1)"

test: lint typecheck unit security ## Lint, type-check, the whole test suite, the signed security report

bench: warm ## Benchmarks: figures and ratios, not pass/fail
	$(BIN)/caas bench engine --cold-compile
	$(BIN)/caas bench risk
	$(BIN)/caas bench orders
	$(BIN)/caas bench orders --processes 2
	$(BIN)/caas bench funding
	$(BIN)/caas bench fanout
	$(BIN)/caas bench fanout --role edge

SOAK_KILLS ?= 50
soak: warm ## Nightly soak: SOAK_KILLS (50) writer SIGKILLs under load with store faults, a takeover, 1M engine commands
	$(BIN)/caas soak --kills $(SOAK_KILLS) --stress-commands 1000000 --seed 1

schema: $(STAMP) ## Regenerate schema.graphql and graph/sdl/*.graphql
	$(BIN)/caas schema export

lock: $(STAMP) ## Re-pin requirements.lock from the current environment
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^caas' > requirements.lock

clean: ## Remove the venv and caches (keeps var/ data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
