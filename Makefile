# Two commands for a fresh machine; each sets itself up (a .venv beside this file).
#   make lab   JupyterLab on notebooks/ (127.0.0.1, token on), opening 00_start_here.ipynb
#   make test  unit tests, the browser test and nbval over every notebook, in one pytest call
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
CHROMIUM := /usr/bin/chromium
# Root installs Debian packages itself; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test bench setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks,test]'
	rm -f $(VENV)/.installed-* && touch $@

# The browser test drives Debian's Chromium (never a browser downloaded by Playwright).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

lab: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00_start_here.ipynb

test: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -n 2 --dist loadfile --nbval --nbval-sanitize-with notebooks/sanitize.cfg

bench: $(STAMP)
	$(BIN)/python benchmarks/echo.py
	$(BIN)/python benchmarks/testclient.py
	$(BIN)/python benchmarks/panel_flood.py
