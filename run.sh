#!/usr/bin/env bash
# Main job: sets up .venv/ on first use, then runs run_all.py with the given arguments.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec .venv/bin/python run_all.py "$@"
