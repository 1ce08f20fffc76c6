# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test browser install install-dev lint format reliability requirements clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

install: $(VENV)/.base-installed

install-dev: $(VENV)/.dev-installed

## Web on 127.0.0.1:8000, a worker and beat; SQLite and the filesystem broker under var/.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap_demo
	$(BIN)/honcho start

## Debian's chromium for the Playwright browser tests (installed when missing, as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium fonts-noto-color-emoji; \
	  else \
	    echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; \
	    exit 1; \
	  fi; }

## The whole suite on the embedded default (SQLite + filesystem broker), fault tests excluded.
test: install-dev browser
	$(BIN)/pytest

## Fault-injection tests with real processes (PostgreSQL, Redis, RabbitMQ on 127.0.0.1).
reliability: install-dev
	$(BIN)/pytest -m reliability tests/reliability

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-pin requirements/*.txt from pyproject.toml.
requirements: install-dev
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		-o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra dev -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) var
