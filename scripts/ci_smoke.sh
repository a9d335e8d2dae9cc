#!/usr/bin/env bash
# Smoke profile in CI: the paper pipeline (full-size backbone, 224 crops, the paper's transforms,
# optimiser and schedule) for 2 iterations on tiny generated data in the real layouts, for a row
# of an SSAN table, a row of a GTA table (SSv1 JPEG frames) and the RSA table (its ensemble row included).
# Writes only to a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# One row of each SSAN and GTA table (each row of a table runs the same pipeline; the whole
# tables took ~7 min on a 2-core machine) and all of RSA's, whose ensemble row needs both members.
for spec in "ssa_table2 ssa" "gta_fig7 sa_gta" "rsa_main rsa_r50_8f,rsa_r50_16f,rsa_r50_en"; do
  set -- $spec
  .venv/bin/python run_all.py --table "$1" --rows "$2" --profile smoke --no-progress \
    --results-dir "$out/results" --reports-dir "$out/reports" --runs-dir "$out/runs"
done
for result in ssa_table2/smoke/ssa gta_fig7/smoke/sa_gta rsa_main/smoke/rsa_r50_8f rsa_main/smoke/rsa_r50_en; do
  test -s "$out/results/$result.json" || { echo "smoke: missing $result.json" >&2; exit 1; }
done
