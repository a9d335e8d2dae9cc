#!/usr/bin/env bash
# Smoke profile in CI: the paper pipeline (full-size backbone, 224 crops, the paper's transforms,
# optimiser and schedule) for 2 iterations on tiny generated data in the real layouts, for one
# row of an SSAN, a GTA (SSv1 JPEG frames) and the RSA table. Writes only to a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for spec in "ssa_table2 ssa" "gta_fig7 sa_gta" "rsa_main rsa_r50_8f"; do
  set -- $spec
  .venv/bin/python run_all.py --table "$1" --rows "$2" --profile smoke --no-progress \
    --results-dir "$out/results" --reports-dir "$out/reports" --runs-dir "$out/runs"
  test -s "$out/results/$1/smoke/$2.json"
done
