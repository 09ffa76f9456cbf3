# Two commands for a fresh machine; each sets itself up (a .venv beside this file).
#   make lab   JupyterLab on notebooks/ (127.0.0.1, token on), opening 00_start_here.ipynb
#   make test  unit tests, the browser test and nbval over every notebook, in one pytest call
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
CHROMIUM := /usr/bin/chromium
# JupyterHub's proxy, from npm, into the project (tests/test_jupyterhub.py looks here first; nothing global).
CHP := $(VENV)/node/node_modules/.bin/configurable-http-proxy
# Root installs Debian packages itself; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test bench setup

setup: $(STAMP) $(CHP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks,test]'
	rm -f $(VENV)/.installed-* && touch $@

# The browser test drives Debian's Chromium (never a browser downloaded by Playwright).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

# npm comes with Node (20 tested); Debian's nodejs and npm packages when it is missing.
$(CHP):
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm install --prefix $(VENV)/node --no-audit --no-fund --loglevel=error configurable-http-proxy@5
	test -x $@

lab: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00_start_here.ipynb

test: $(STAMP) $(CHP) $(CHROMIUM)
	$(BIN)/pytest -n 2 --dist loadfile --nbval --nbval-sanitize-with notebooks/sanitize.cfg

bench: $(STAMP)
	$(BIN)/python benchmarks/echo.py
	$(BIN)/python benchmarks/testclient.py
	$(BIN)/python benchmarks/panel_flood.py
