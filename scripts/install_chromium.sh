#!/usr/bin/env bash
# Install what the browser tests need: Debian's chromium (when missing) and Playwright for Python in
# the virtualenv. Playwright drives the system browser (executable_path=/usr/bin/chromium); this never
# runs `playwright install` (no browser downloads).
#
# Environment: VENV (default .venv), SKIP_PLAYWRIGHT=1 (browser only).
set -euo pipefail

VENV="${VENV:-.venv}"
log() { echo "[install_chromium] $*" >&2; }

if command -v chromium >/dev/null 2>&1; then
  log "chromium present: $(chromium --version 2>/dev/null || echo unknown version)"
else
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  else
    SUDO=""
  fi
  log "installing Debian's chromium"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi

if [ "${SKIP_PLAYWRIGHT:-0}" != "1" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    log "no virtualenv at $VENV (run 'make install' first or set VENV)"
    exit 1
  fi
  if ! "$VENV/bin/python" -c "import playwright" 2>/dev/null; then
    log "installing playwright (Python package only)"
    "$VENV/bin/python" -m pip install -q "playwright>=1.40,<2"
  fi
fi
log "ok: $(command -v chromium)"
