#!/usr/bin/env bash
# The whole peer benchmark in one command: the peers' venvs, the real data and the full zoo, the run, and the
# tables in docs/peers.md and README.md (between their <!-- peers...:start/end --> markers).
#   bash benchmarks/peers/reproduce.sh            # --full-zoo: ~20 min zoo build when cold + ~25 min run, 2 cores
#   bash benchmarks/peers/reproduce.sh --quick    # one pair per transformation (~10 min run)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/taoke ] || bash scripts/install.sh test
bash benchmarks/peers/setup.sh
.venv/bin/taoke zoo fetch --all
OMP_NUM_THREADS=1 nice -n 10 .venv/bin/taoke zoo build --full
MODE=("$@")
[ ${#MODE[@]} -gt 0 ] || MODE=(--full-zoo)
nice -n 10 .venv/bin/python benchmarks/peers/run.py "${MODE[@]}" --out benchmarks/results/peers.json \
  --md docs/peers.md --readme README.md
