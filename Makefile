# openlines_connector: run and test the Odoo 19 addon.
# Every variable below can be overridden from the environment or the command
# line, e.g. `make run HTTP_PORT=8070` or `PYTEST_ARGS='-k telegram' make test`.
# The logic lives in scripts/; this file only calls it.

REPO_ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

PYTHON ?= python3
PGHOST ?= 127.0.0.1
PGPORT ?= 5432
PGUSER ?= $(shell id -un 2>/dev/null || whoami)
DB ?= openlines
HTTP_PORT ?= 8069
HTTP_INTERFACE ?= 127.0.0.1
# 0: one threaded process; N > 0: N HTTP worker processes, MAX_CRON_THREADS cron
# processes and Discuss's websocket on GEVENT_PORT (route /websocket there).
WORKERS ?= 0
MAX_CRON_THREADS ?= 2
GEVENT_PORT ?= 8072
PYTEST_ARGS ?=
# Directory that holds openlines_connector/ (the repo root unless overridden).
OPENLINES_ADDONS_DIR ?= $(REPO_ROOT)

export PYTHON PGHOST PGPORT PGUSER DB HTTP_PORT HTTP_INTERFACE PYTEST_ARGS OPENLINES_ADDONS_DIR
export WORKERS MAX_CRON_THREADS GEVENT_PORT

.DEFAULT_GOAL := help
.PHONY: help run test

help: ## Show this help
	@echo "Usage: make <target> [VAR=value ...]"
	@echo
	@echo "Targets:"
	@echo "  run    install/update openlines_connector in database \$$DB (new: with demo data),"
	@echo "         then serve Odoo on http://localhost:\$$HTTP_PORT (login admin / admin);"
	@echo "         WORKERS=4 serves multi-process (websocket on \$$GEVENT_PORT, see README)"
	@echo "  test   install the addon into a throwaway database and run pytest on"
	@echo "         openlines_connector/tests and tests/ (the databases are dropped afterwards)"
	@echo "  help   show this help"
	@echo
	@echo "Variables (current value):"
	@echo "  PYTHON=$(PYTHON)  PGHOST=$(PGHOST)  PGPORT=$(PGPORT)  PGUSER=$(PGUSER)"
	@echo "  DB=$(DB)  HTTP_PORT=$(HTTP_PORT)  HTTP_INTERFACE=$(HTTP_INTERFACE)"
	@echo "  WORKERS=$(WORKERS)  MAX_CRON_THREADS=$(MAX_CRON_THREADS)  GEVENT_PORT=$(GEVENT_PORT)"
	@echo "  PYTEST_ARGS=$(PYTEST_ARGS)  OPENLINES_ADDONS_DIR=$(OPENLINES_ADDONS_DIR)"
	@echo
	@echo "If nothing answers on PGHOST:PGPORT, a local PostgreSQL cluster is started in .pgdata/"
	@echo "(stop it with scripts/ensure_pg.sh --stop)."

run: ## Install/update the addon and serve Odoo in the foreground
	@bash $(REPO_ROOT)/scripts/run.sh

test: ## Run the test suite in throwaway databases
	@bash $(REPO_ROOT)/scripts/test.sh
