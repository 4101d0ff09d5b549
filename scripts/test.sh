#!/usr/bin/env bash
# Set up .venv and run the whole test suite: ruff, mypy, then pytest.
# pytest's exit code 5 ("no tests ran") fails this script like any other failure.
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
.venv/bin/mypy --strict diarkit/genesys diarkit/schema.py diarkit/analysis
.venv/bin/python -m pytest "$@"
