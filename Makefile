# Two commands for a fresh machine; each sets itself up (a .venv beside this file, from uv.lock).
#   make lab   JupyterLab on notebooks/ (127.0.0.1, token on), opening student/00_start_here.ipynb (copies without the solutions)
#   make test  unit tests, the browser tests and nbval over every notebook, in one pytest call
# Versions: `make lock` refreshes uv.lock; `make versions` runs the suite on the newest releases
# and on the lowest versions pyproject.toml allows (README, "Versions").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# uv itself, pinned, in a folder of its own (never global; `uv sync` keeps .venv exactly to the lock)
TOOLS := .tools
UV_VERSION := 0.13.9
UV := $(TOOLS)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat uv.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
EXTRAS := --extra notebooks --extra test --extra load
CHROMIUM := /usr/bin/chromium
# JupyterHub's proxy, from npm, into the project (tests/test_jupyterhub.py looks here first; nothing global).
CHP := $(TOOLS)/node/node_modules/.bin/configurable-http-proxy
# The version runs: the newest releases on the newest Python here, the floors on the oldest supported.
# (pyenv's interpreter of that version where pyenv has one, else pythonX.Y on PATH)
python_for = $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/$(1).*/bin/python$(1)) python$(1))
NEWEST_PYTHON ?= $(call python_for,3.13)
LOWEST_PYTHON ?= $(call python_for,3.10)
# Root installs Debian packages itself; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
PYTEST_ALL := -n 4 --dist loadfile --no-loadscope-reorder --nbval --nbval-sanitize-with notebooks/sanitize.cfg
# Bytecode caches are written (an environment's PYTHONDONTWRITEBYTECODE does not reach the recipes):
# a run starts ~150 interpreters (kernels, subprocesses, xdist workers), and each one would compile
# every module it imports again, ~1.5 s of CPU apiece (half of a notebook test's CPU time).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: lab test check bench setup lock versions versions-newest versions-lowest run-tests

setup: $(STAMP) $(CHP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Exactly the locked versions (--locked: fails if pyproject.toml changed and uv.lock was not refreshed).
$(STAMP): uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --compile-bytecode $(EXTRAS) --python $(PYTHON) --quiet
	rm -f $(VENV)/.installed-* && touch $@

# The browser test drives Debian's Chromium (never a browser downloaded by Playwright).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

# npm comes with Node (20 tested); Debian's nodejs and npm packages when it is missing.
$(CHP):
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm install --prefix $(TOOLS)/node --no-audit --no-fund --loglevel=error configurable-http-proxy@5
	test -x $@

# The learner works in notebooks/student/: copies without the solutions, made once, never written over
# (wsbench/student.py); the full notebooks, with the solutions, are one folder up in the file browser.
lab: $(STAMP)
	$(BIN)/python -m wsbench.student notebooks notebooks/student
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/student/00_start_here.ipynb

test: $(STAMP) $(CHP) $(CHROMIUM)
	$(BIN)/pytest $(PYTEST_ALL)

# The one-minute loop: lint, types and the tests no marker sets apart (README, "Developing").
check: $(STAMP)
	$(BIN)/ruff check --quiet wsbench tests benchmarks conftest.py
	$(BIN)/ruff format --check --quiet wsbench tests benchmarks conftest.py
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 -p no:nbval -m "not (browser or hub or notebooks or static or slow or load)"

# The suite in whatever environment VENV names (the version runs install their own first). Lint
# and type checks are left out there: their verdict belongs to the tools' versions, not to behaviour.
run-tests: $(CHP) $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ALL) -m "not static"

# Refresh the lock to the newest releases the ranges allow, and Binder's copy of it.
lock: | $(UV)
	$(UV) lock --upgrade
	$(UV) export --frozen --extra notebooks --no-hashes --no-emit-project --quiet -o binder/requirements.txt

versions: versions-newest versions-lowest

# Newest releases, ignoring the lock; the pytest header and every failure name the versions.
versions-newest: | $(UV)
	$(UV) venv --quiet --allow-existing --python $(NEWEST_PYTHON) .venv-newest
	$(UV) pip install --quiet --python .venv-newest --upgrade -e '.[notebooks,test,load]'
	$(MAKE) run-tests VENV=.venv-newest

# The lowest version pyproject.toml allows of every direct dependency.
versions-lowest: | $(UV)
	$(UV) venv --quiet --allow-existing --python $(LOWEST_PYTHON) .venv-lowest
	$(UV) pip install --quiet --python .venv-lowest --upgrade --resolution lowest-direct -e '.[notebooks,test,load]'
	$(MAKE) run-tests VENV=.venv-lowest

bench: $(STAMP)
	$(BIN)/python benchmarks/echo.py
	$(BIN)/python benchmarks/testclient.py
	$(BIN)/python benchmarks/panel_flood.py
	$(BIN)/python benchmarks/load.py
