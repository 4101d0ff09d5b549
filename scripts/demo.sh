#!/usr/bin/env bash
# Set up .venv (runtime dependencies only) and run the main job: `diarkit demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/diarkit demo "$@"
