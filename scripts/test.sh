#!/usr/bin/env bash
# Set up .venv and run the whole test suite: ruff, mypy, then pytest.
# pytest's exit code 5 ("no tests ran") fails this script like any other failure.
#
# pytest runs on DIARKIT_TEST_WORKERS pytest-xdist workers (default 4, "0" runs serially
# in one process). The tests mostly wait (on the simulator's sockets, subprocesses,
# sleeps), so 4 workers on the 2-core machine pay (measurements: docs/guide/development.md).
# --dist worksteal hands each worker a contiguous share of the tests
# (a module's shared fixture is mostly built once) and lets idle workers take the rest.
# Extra arguments go to pytest: `bash scripts/test.sh tests/io -x`. Running one file by
# hand, `.venv/bin/python -m pytest tests/io/test_documents.py`, stays serial.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# The browser test (tests/browser) drives Debian's Chromium through Playwright; no browser
# download. Install the packages when missing (root, or through sudo).
if [ ! -x /usr/bin/chromium ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium chromium-driver
fi
.venv/bin/ruff check diarkit tests benchmarks
.venv/bin/mypy diarkit
.venv/bin/mypy --strict --follow-imports=silent diarkit/genesys diarkit/schema.py diarkit/analysis
workers="${DIARKIT_TEST_WORKERS:-4}"
.venv/bin/python -m pytest -n "$workers" --dist worksteal --durations=15 "$@"
