#!/usr/bin/env bash
# Set up .venv (the same one the tests use) and run the main job: `diarkit demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/diarkit demo "$@"
