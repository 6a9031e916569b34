#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install taoke into it. Idempotent.
#   bash scripts/install.sh             the main job only: base dependencies (no torch, no llama.cpp; ~15 s, ~0.4 GB)
#   bash scripts/install.sh test        + torch (CPU build), llama-cpp-python (portable build), the test tools
#   bash scripts/install.sh server,dask any extras of pyproject.toml, comma-separated
# Environment: PYTHON (interpreter, default python3), TAOKE_TORCH / TAOKE_TORCH_INDEX (see scripts/_pip.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_pip.sh
EXTRAS=${1:-}
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "taoke needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
has() { [[ ",$EXTRAS," == *",$1,"* ]]; }
# the two packages that need care first, so that the extras below find them installed
if has test || has train; then install_torch "$VPY"; fi
if has test || has server; then install_llama "$VPY"; fi
_pip "$VPY" install -q -e ".${EXTRAS:+[$EXTRAS]}"
