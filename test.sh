#!/usr/bin/env bash
# Test suite: sets up .venv/ on first use, then runs pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec .venv/bin/python -m pytest "$@"
