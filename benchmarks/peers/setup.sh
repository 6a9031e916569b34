#!/usr/bin/env bash
# The peers' own virtual environments (never taoke's .venv). Idempotent.
#   benchmarks/.venv-peers   modeldna, knowlyr-modelaudit, model-fingerprint, modelsig (transformers 5)
#   benchmarks/.venv-cisco   cisco-ai-provenance-kit 1.0.0 (needs transformers < 5; declares Python >= 3.12)
# torch is the CPU build in both (scripts/_pip.sh: install_torch). Environment: PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/_pip.sh
PY=${PYTHON:-python3}

venv() { [ -x "$1/bin/python" ] || "$PY" -m venv "$1"; }

P=benchmarks/.venv-peers
venv "$P"
install_torch "$P/bin/python"
_pip "$P/bin/python" install -q "modeldna==0.1.0" "knowlyr-modelaudit[whitebox]==0.4.1" "model-fingerprint==0.1.1" \
  "modelsig==2.0.0" "transformers==5.24.0" scipy safetensors gguf

# cisco-ai-provenance-kit 1.0.0 declares Requires-Python >= 3.12 but runs on 3.11: its dependencies first (numpy
# and transformers pinned below the releases it was not built against), then the package itself without them.
C=benchmarks/.venv-cisco
venv "$C"
install_torch "$C/bin/python"
_pip "$C/bin/python" install -q accelerate huggingface-hub "numpy<2.4" pandas protobuf pyarrow "pydantic-settings>=2.12.0" \
  "pydantic>=2.12.5" rich safetensors sentencepiece "structlog>=25.5.0" tiktoken "transformers<5" gguf
if ! "$C/bin/python" -c 'import provenancekit' >/dev/null 2>&1; then
  _pip "$C/bin/python" install -q --no-deps --ignore-requires-python "cisco-ai-provenance-kit==1.0.0"
fi
echo "peers ready: $P, $C"
