# Shared by the install scripts (source it; bash). Two packages need care on a fresh machine:
#
# torch: on Linux x86-64 the default index serves a CUDA build that pulls several GB of nvidia-* wheels; taoke
#   needs only the CPU build. install_torch tries, in order: a torch that is already importable; the wheel this
#   machine provides through pip's find-links (TAOKE_TORCH, default torch==2.13.0, installed with --no-index);
#   the PyTorch CPU index (TAOKE_TORCH_INDEX, default https://download.pytorch.org/whl/cpu); and only then the
#   default index, with a warning. Its dependencies come from the normal index afterwards.
# llama-cpp-python: compiled at install time, by default for the build CPU (GGML_NATIVE); that build crashes in
#   llama_decode on CPUs with AVX-512 and AMX. install_llama builds 0.3.36 with portable flags (no wheel cache, so a
#   native wheel built earlier is never reused); scripts/check_llama_cpp.py verifies a multi-token decode.

TAOKE_TORCH=${TAOKE_TORCH:-torch==2.13.0}
TAOKE_TORCH_INDEX=${TAOKE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
LLAMA_SPEC="llama-cpp-python[server]==0.3.36"

_pip() { "$1" -m pip --disable-pip-version-check "${@:2}"; }

install_torch() {  # install_torch PYTHON
  local py=$1
  if "$py" -c 'import torch' >/dev/null 2>&1; then return 0; fi
  if _pip "$py" install -q --no-index --no-deps "$TAOKE_TORCH" >/dev/null 2>&1; then
    echo "torch: using the wheel this machine provides ($TAOKE_TORCH, CPU)" >&2
  elif _pip "$py" install -q --no-deps --retries 1 --timeout 30 --index-url "$TAOKE_TORCH_INDEX" "$TAOKE_TORCH" \
      >/dev/null 2>&1; then
    echo "torch: $TAOKE_TORCH from $TAOKE_TORCH_INDEX (CPU build)" >&2
  else
    echo "torch: no CPU-only wheel for $TAOKE_TORCH here or at $TAOKE_TORCH_INDEX; installing it from the default" \
         "index (on Linux x86-64 that is a CUDA build of several GB; set TAOKE_TORCH/TAOKE_TORCH_INDEX to avoid it)" >&2
  fi
  _pip "$py" install -q "$TAOKE_TORCH"  # its dependencies (or torch itself, in the last case)
}

install_llama() {  # install_llama PYTHON
  local py=$1
  if "$py" -c 'import sys, llama_cpp, llama_cpp.server; sys.exit(llama_cpp.__version__ != "0.3.36")' >/dev/null 2>&1
  then return 0; fi
  local flags
  flags=$("$py" "$(dirname "${BASH_SOURCE[0]}")/check_llama_cpp.py" --cmake-args)
  echo "llama-cpp-python: building 0.3.36 from source for any x86-64 CPU (~5 min on 2 cores)" >&2
  CMAKE_ARGS="$flags" FORCE_CMAKE=1 _pip "$py" install -q --no-cache-dir "$LLAMA_SPEC"
}
