#!/usr/bin/env bash
# The one-shot GPU check (issue 24): throughput of every paper model at fp32 and bf16, a torchrun
# run stopped and resumed, --eval-only of a converted checkpoint, and loader clips/s from webm and
# from prepared frames; bench/results/gpu_*.json. A session with a lent GPU runs it once (at most
# 8 minutes): bench/gpu_check.sh. --dry-run: the same steps on CPU at tiny sizes, writing nothing
# (CI runs it, so that the script never rots). Details: bench/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
exec .venv/bin/python bench/gpu_check.py "$@"
