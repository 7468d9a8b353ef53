#!/usr/bin/env bash
# Installs NVIDIA's aiconfigurator into its own virtualenv, .venv-aic in the repository root.
#
# It stays out of .venv on purpose: with aiconfigurator importable, the twin builds live step
# tables from its database in every test (autotuner.sim.aic_live), which the tests must not need.
# benchmarks/aic_fidelity.py talks to this venv through a worker subprocess (benchmarks/aic_worker.py).
#
#   bash scripts/install_aic.sh            # PYTHON=python3.11 to choose the interpreter
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-aic"
PYTHON="${PYTHON:-python3}"
# the range of the autotuner[aic] extra in pyproject.toml (aic_live.py is written against 0.12's SDK)
SPEC="$(sed -n 's/^aic = \["\(aiconfigurator[^"]*\)"\]$/\1/p' "$ROOT/pyproject.toml")"
SPEC="${SPEC:-aiconfigurator>=0.12,<0.13}"

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | { grep -v "is ignored: it is neither" || true; }
"$VENV/bin/python" -m pip install --quiet "$SPEC" 2>&1 | { grep -v "is ignored: it is neither" || true; }
version="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aiconfigurator"))')"
size="$(du -sh "$VENV" | cut -f1)"
echo "aiconfigurator $version in $VENV ($size, $(( $(date +%s) - start )) s)"
