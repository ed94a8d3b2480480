# The README's two commands: `make run` and `make test`. Each sets up .venv on its own.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The gate's tests run on this many pytest-xdist worker processes (every suite is written to
# share the PostgreSQL and Redis servers between them); PYTEST_WORKERS=0 runs them in one.
PYTEST_WORKERS ?= 2
BENCH_ARGS ?=
# Without JWT_SECRET (or JWT_SECRET_FILE), `make run` and `make token` share a random
# development secret kept in this file (created on first use, mode 0600), so tokens keep
# working across restarts: curl -H "Authorization: Bearer $$(make -s token)" ...
# (`liquifact serve` itself keeps the marketplace cursor secret in var/dev-cursor-secret and
# the SEP-10 signing key in var/dev-sep10-signing-secret the same way, and logs one
# `listening` line with the URL, the store and the docs link.)
DEV_JWT_SECRET ?= var/dev-jwt-secret
ROLE ?= admin
TENANT ?= demo-tenant
SUB ?=
WALLET ?=
TTL ?= 3600
# Shell prefix: use the development secret unless a real one is configured.
WITH_DEV_SECRET = if [ -z "$${JWT_SECRET:-}" ] && [ -z "$${JWT_SECRET_FILE:-}" ]; then \
	if [ ! -s "$(DEV_JWT_SECRET)" ]; then \
		mkdir -p "$$(dirname "$(DEV_JWT_SECRET)")" && \
		(umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))' \
			> "$(DEV_JWT_SECRET)") && \
		echo "Created $(DEV_JWT_SECRET): the development JWT secret (make token signs with it)" >&2; \
	fi; \
	export JWT_SECRET_FILE="$(DEV_JWT_SECRET)"; \
fi

# `make run` is for development: a browser front end on the usual dev origin may call the API
# unless CORS_ALLOWED_ORIGINS is set (environment or .env); never with NODE_ENV=production.
DEV_CORS_ORIGINS ?= http://localhost:3000
WITH_DEV_CORS = if [ -z "$${CORS_ALLOWED_ORIGINS+set}" ] && [ "$${NODE_ENV:-}" != production ] && \
	! grep -qs '^[[:space:]]*CORS_ALLOWED_ORIGINS=' .env; then \
	export CORS_ALLOWED_ORIGINS="$(DEV_CORS_ORIGINS)"; \
fi

.PHONY: install run token chain test fuzz check fmt lint types imports unit bench bench-audit clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed: run with PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(WITH_DEV_SECRET); $(WITH_DEV_CORS); exec $(BIN)/liquifact serve --workers 1 --seed-demo-if-empty

# A signed JWT for local calls: make -s token [ROLE=sme] [TENANT=demo-tenant] [SUB=demo-sme]
token: $(STAMP)
	@$(WITH_DEV_SECRET); exec $(BIN)/liquifact token --role "$(ROLE)" --tenant "$(TENANT)" \
		--ttl "$(TTL)" $(if $(SUB),--sub "$(SUB)") $(if $(WALLET),--wallet "$(WALLET)")

# A Soroban JSON-RPC peer for local use and tests (tests/soroban_peer): the escrow contract
# modelled in Python on the standalone network, in the foreground until Ctrl-C. It prints its
# URL and the network passphrase. STELLAR_NETWORK=STANDALONE with SOROBAN_RPC_URL set to that
# URL points the server at it. Example: make chain CHAIN_PORT=8001
CHAIN_PORT ?= 8000
chain: $(STAMP)
	@exec $(BIN)/python -m tests.soroban_peer --host 127.0.0.1 --port "$(CHAIN_PORT)"

# The gate. pytest collects every suite under tests/, the fuzz stage (tests/fuzz, marker
# `fuzz`) and the README walkthrough included, so CI counts them with the rest.
test: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The API fuzz stage alone: schemathesis over every operation of /openapi.json, in process, on
# SQLite and PostgreSQL (tests/fuzz/harness.py). Derandomized: the same requests every run.
# FUZZ_EXAMPLES=200 for a longer local hunt (default: 5 per operation, role and mode on
# SQLite, 2 on PostgreSQL). Measured on the 2-core machine (2026-12-01, other work running):
# 81 s of CPU, 92 s wall.
fuzz: $(STAMP)
	$(BIN)/pytest tests/fuzz -m fuzz -p no:cacheprovider $(PYTEST_ARGS)

check: test

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

types: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/service -q

# The load bench (bench/run.py, docs/performance.md): wrk drives the real server (one process
# and --workers 2, PostgreSQL and SQLite, 100k and 1M invoices), each page cached and uncached,
# and the issue's ratios are printed with pass/miss; reports in bench/reports/. wrk (Debian's
# package) is installed when missing. Quick run: make bench BENCH_ARGS="--sizes 10000 --duration 3"
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { echo "Installing wrk: apt-get install -y wrk" >&2; \
		export DEBIAN_FRONTEND=noninteractive; $(SUDO) apt-get install -y -q wrk || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The audit export's memory baseline: a 100,000-event CSV export streamed with flat memory
# (see bench/audit_export.py and docs/performance.md). Example:
# make bench-audit BENCH_ARGS="--database-url postgresql://postgres@127.0.0.1/bench"
bench-audit: $(STAMP)
	$(BIN)/python bench/audit_export.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
