# inframock: `make help` lists the targets. Every target that needs Python
# prepares the virtualenv first; it is re-installed only when a requirements
# file changes.

.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRAMOCK := $(VENV)/bin/inframock
INSTALLED := $(VENV)/.installed-run
DEV := $(VENV)/.installed-dev
SOURCES := inframock populate tests scripts
SETUP := $(PYTHON) scripts/setup_venv.py

# What the stack needs (requirements.txt), for every target that runs it; the
# test and check tools (requirements-dev.txt) only for the targets that use them.
$(INSTALLED): requirements.txt pyproject.toml scripts/setup_venv.py
	@$(SETUP) run $(VENV)

$(DEV): requirements.txt requirements-dev.txt pyproject.toml scripts/setup_venv.py
	@$(SETUP) dev $(VENV)

.PHONY: venv
venv: $(DEV) ## Create or update .venv with the test and check tools

# PERSIST=1: keep the whole state across restarts (INFRAMOCK_PERSIST=true).
KEEP := $(if $(filter-out 0 false no,$(PERSIST)),INFRAMOCK_PERSIST=true )
# VERBOSE=1: every line of the services on the terminal too, not only in stack.log.
LOUD := $(if $(filter-out 0 false no,$(VERBOSE)), --verbose)

.PHONY: run
run: $(INSTALLED) ## Run the stack here and load ./data (PERSIST=1, VERBOSE=1)
	$(KEEP)$(INFRAMOCK) run$(LOUD)

.PHONY: start
start: $(INSTALLED) ## The same in the background; returns once it is ready
	@$(KEEP)$(INFRAMOCK) start$(LOUD)

.PHONY: logs
logs: $(INSTALLED) ## Print the background stack's log (FOLLOW=1, LINES=n)
	@$(INFRAMOCK) logs $(if $(filter-out 0 false no,$(FOLLOW)),--follow) $(if $(LINES),--lines $(LINES))

.PHONY: stop
stop: $(INSTALLED) ## Stop the stack (`make start`'s, or a `make run` elsewhere)
	@$(INFRAMOCK) stop

.PHONY: status
status: $(INSTALLED) ## Show the services, problems and one line per experiment (VERBOSE=1: every table)
	@$(INFRAMOCK) status $(if $(filter-out 0 false no,$(VERBOSE)),--verbose)

.PHONY: reload-data
reload-data: $(INSTALLED) ## Load what changed in ./data (ALL=1: every file)
	@$(INFRAMOCK) reload-data $(if $(ALL),--all)

.PHONY: env
env: $(INSTALLED) ## Exports for aws-cli, SDKs, redis-cli: eval "$$(make -s env)"
	@$(INFRAMOCK) env

# pull, snapshot and restore need their variables; say so before preparing anything.
ifneq ($(filter pull,$(MAKECMDGOALS)),)
ifeq ($(and $(EXPERIMENT),$(FROM)),)
$(error usage: make pull EXPERIMENT=<experiment id> FROM=<environment, e.g. staging> [ACCOUNT=<its AWS account id>])
endif
endif
ifneq ($(filter new-experiment,$(MAKECMDGOALS)),)
ifeq ($(FROM),)
$(error usage: make new-experiment FROM=<experiment id in the data folder> [TO=<new id>])
endif
endif
ifneq ($(filter snapshot restore,$(MAKECMDGOALS)),)
ifeq ($(NAME),)
$(error usage: make $(filter snapshot restore,$(MAKECMDGOALS)) NAME=<snapshot name>)
endif
endif

.PHONY: pull
pull: $(INSTALLED) ## Copy EXPERIMENT=<id> FROM=<env> [ACCOUNT=<id>] into ./data
	@$(INFRAMOCK) pull "$(EXPERIMENT)" --from "$(FROM)" $(if $(ACCOUNT),--account "$(ACCOUNT)")

.PHONY: new-experiment
new-experiment: $(INSTALLED) ## Copy an experiment with a new id and project uuid: FROM=<id> [TO=<new id>]
	@$(INFRAMOCK) new-experiment "$(FROM)" $(if $(TO),--id "$(TO)")

.PHONY: snapshot
snapshot: $(INSTALLED) ## Save the running stack's whole state: NAME=<name>
	@$(INFRAMOCK) snapshot "$(NAME)"

.PHONY: restore
restore: $(INSTALLED) ## Replace the running stack's state with snapshot NAME=<name>
	@$(INFRAMOCK) restore "$(NAME)"

.PHONY: migrate
migrate: $(INSTALLED) ## Run Cellenics' knex migrations on Postgres, then seed sql/
	@$(INFRAMOCK) migrate

.PHONY: migrate-down
migrate-down: $(INSTALLED) ## Roll back every Cellenics migration on Postgres
	@$(INFRAMOCK) migrate --down

.PHONY: seed-sql
seed-sql: $(INSTALLED) ## Insert <experiment>/sql/<table>.json rows into Postgres
	@$(INFRAMOCK) seed-sql

.PHONY: clean-sql
clean-sql: $(INSTALLED) ## Remove the Postgres data (the stack must be stopped)
	@$(INFRAMOCK) clean-sql

.PHONY: clean-state
clean-state: $(INSTALLED) ## Forget what PERSIST=1 saved (the stack must be stopped)
	@$(INFRAMOCK) clean-state

# Test workers (pytest-xdist): one more than the cores, since a test often
# waits on a stack starting or stopping (on 2 cores, 3 workers took the suite
# from 7.0 to 6.3 minutes); `auto` is one per core; 0 runs the suite in this
# one process. Each worker takes whole modules (their stacks with them), the
# long tiers first (tests/tiers.py: xdist's own reorder is off); the 15
# slowest tests are listed at the end.
TEST_WORKERS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 )))
TEST_ARGS := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

# The checkout's own bytecode, brought up to date before the tests: each test
# starts hundreds of Python processes, and where PYTHONDONTWRITEBYTECODE is set
# each would compile inframock from source (the virtualenv's packages are
# compiled when they are installed).
BYTECODE := $(PY) -m compileall -q -j 0 inframock tests >/dev/null

# ENGINE=ministack: every stack the tests start runs on MiniStack instead of
# moto (INFRAMOCK_ENGINE); the tests of moto's own changes then fail, which is
# what docs/engine.md's table counts.
TEST_ENGINE := $(if $(ENGINE),INFRAMOCK_TEST_ENGINE=$(ENGINE) )

.PHONY: test
test: $(DEV) ## Run the whole suite against real servers (ENGINE=ministack)
	@$(BYTECODE)
	$(TEST_ENGINE)$(PY) -m pytest $(TEST_ARGS)

.PHONY: test-fast
test-fast: $(DEV) ## Run the core tier only: the quick tests, for the edit loop
	@$(BYTECODE)
	$(TEST_ENGINE)$(PY) -m pytest $(TEST_ARGS) -m core

.PHONY: bench
bench: $(DEV) ## Measure start-up, loading and reloads (BENCH_ARGS=...)
	$(PY) scripts/bench.py $(BENCH_ARGS)

.PHONY: check
check: $(DEV) ## Check formatting (black) and lint (pylint)
	$(PY) -m black --check $(SOURCES)
	$(PY) -m pylint $(SOURCES)

.PHONY: fmt
fmt: $(DEV) ## Format the code with black
	$(PY) -m black $(SOURCES)

.PHONY: default-data
default-data: $(DEV) ## Rewrite the default experiment in ./data
	$(PY) scripts/make_default_data.py data

.PHONY: env-example
env-example: $(INSTALLED) ## Rewrite .env.example from inframock/core/settings_list.py
	$(PY) -m inframock.core.settings_example .env.example

.PHONY: clean
clean: ## Remove the virtualenv, stack state and caches
	rm -rf $(VENV) $(VENV).lock $(VENV)-ministack $(VENV)-ministack.lock .inframock .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: help
help: ## Show this help
	@echo "inframock: the Biomage (Cellenics) AWS stack and Redis on this machine"
	@echo
	@awk -f scripts/help.awk $(MAKEFILE_LIST)
	@echo
	@echo "Settings: environment or .env (see .env.example). Docs: README.md, docs/."
