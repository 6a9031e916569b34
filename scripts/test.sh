#!/usr/bin/env bash
# Install taoke with its test extras into .venv, fetch the real data, lint, run every test (CI: .ci/run).
# Works on a fresh machine with Python >= 3.11 and the package registries. Extra args go to pytest.
# torch is installed as a CPU build and llama-cpp-python is built with portable CPU flags (scripts/_pip.sh);
# the first time, building llama-cpp-python takes ~5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
# Debian's Chromium renders the HTML reports in a real browser in tests (root can install it here).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null 2>&1 \
    || echo "note: could not install chromium; browser tests will skip" >&2
fi
.venv/bin/taoke zoo fetch --all
# a llama-cpp-python built for another CPU dies on its first multi-token decode: check, and rebuild it if so
set +e
.venv/bin/python scripts/check_llama_cpp.py --rebuild
rc=$?
set -e
if [ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; then exit 1; fi
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
