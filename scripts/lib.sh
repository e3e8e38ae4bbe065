# Shared helpers for scripts/*: where caches live and how the Python environment is made.
# Everything heavy (pip wheels, the virtualenv, Kubernetes binaries) lives OUTSIDE the repo in
# $CAPPUCCINO_CACHE so a second run on the same machine is fast and clones stay small.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CAPPUCCINO_CACHE="${CAPPUCCINO_CACHE:-$HOME/.cache/cappuccino}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CAPPUCCINO_CACHE/pip}"
VENV="${CAPPUCCINO_VENV:-$CAPPUCCINO_CACHE/venv}"
PYTHON_BIN="${PYTHON_BIN:-python3}"

log() { printf '\033[1;34m[cappuccino]\033[0m %s\n' "$*" >&2; }

# Creates (once) the virtualenv and installs the project with its dev extras. A stamp keyed on the
# dependency files and the checkout path skips pip entirely when nothing changed.
ensure_venv() {
  mkdir -p "$CAPPUCCINO_CACHE"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv in $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
  fi
  local stamp_src stamp
  stamp_src="$(cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/operator/pyproject.toml" "$REPO_ROOT/contracts/pyproject.toml"; echo "$REPO_ROOT")"
  stamp="$(printf '%s' "$stamp_src" | sha256sum | cut -c1-16)"
  if [ "$(cat "$VENV/.cappuccino-stamp" 2>/dev/null)" != "$stamp" ]; then
    log "installing Python dependencies (pip cache: $PIP_CACHE_DIR; torch is large the first time)"
    "$VENV/bin/python" -m pip install --progress-bar off \
      -e "$REPO_ROOT/contracts" -e "$REPO_ROOT[dev]" -e "$REPO_ROOT/operator"
    echo "$stamp" > "$VENV/.cappuccino-stamp"
  fi
  export PATH="$VENV/bin:$PATH"
  export VIRTUAL_ENV="$VENV"
}

# The static gates (ruff lint + format, complexity, import layering, types), in one place so
# ./scripts/check and ./scripts/test run exactly the same ones.
run_gates() {
  log "gates: ruff (lint, format, complexity), import layering, mypy"
  ruff check .
  ruff format --check .
  lint-imports --no-cache
  mypy
}
