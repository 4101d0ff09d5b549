#!/usr/bin/env bash
# Set up .venv and run the whole test suite: ruff, mypy, then pytest.
# pytest's exit code 5 ("no tests ran") fails this script like any other failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check diarkit tests benchmarks
.venv/bin/mypy diarkit/genesys diarkit/schema.py
.venv/bin/python -m pytest "$@"
