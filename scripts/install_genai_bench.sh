#!/usr/bin/env bash
# Install the genai-bench CLI (PyPI genai-bench) into its own virtualenv, apart from the project's:
# it pulls locust/gevent, transformers, datasets, oci, matplotlib... which we do not want in .venv.
# Used by benchmarks/genai_bench_check.py.
#
# Environment: GENAI_VENV (default /tmp/genai-venv), GENAI_BENCH_VERSION (default 0.0.5),
# PYTHON (default python3; genai-bench needs >=3.10,<3.13).
set -euo pipefail

GENAI_VENV="${GENAI_VENV:-/tmp/genai-venv}"
VERSION="${GENAI_BENCH_VERSION:-0.0.5}"
PYTHON="${PYTHON:-python3}"

log() { echo "[install_genai_bench] $*" >&2; }

if [ -x "$GENAI_VENV/bin/genai-bench" ] && "$GENAI_VENV/bin/genai-bench" --version 2>/dev/null | grep -q "$VERSION"; then
  log "genai-bench $VERSION already in $GENAI_VENV"
  exit 0
fi

[ -x "$GENAI_VENV/bin/python" ] || "$PYTHON" -m venv "$GENAI_VENV"
log "installing genai-bench==$VERSION into $GENAI_VENV (about a minute)"
"$GENAI_VENV/bin/pip" install -q "genai-bench==$VERSION"
"$GENAI_VENV/bin/genai-bench" --version
