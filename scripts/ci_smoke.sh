#!/usr/bin/env bash
# Smoke profile in CI: the paper pipeline (full-size backbone, 224 crops, the paper's transforms,
# optimiser and schedule) for 2 iterations on tiny generated data in the real layouts, for an
# SSAN table, a GTA table (SSv1 JPEG frames) and the RSA table (its ensemble row included).
# Writes only to a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for table in ssa_table2 gta_fig7 rsa_main; do
  .venv/bin/python run_all.py --table "$table" --profile smoke --no-progress \
    --results-dir "$out/results" --reports-dir "$out/reports" --runs-dir "$out/runs"
done
for result in ssa_table2/smoke/ssa gta_fig7/smoke/sa_gta rsa_main/smoke/rsa_r50_8f rsa_main/smoke/rsa_r50_en; do
  test -s "$out/results/$result.json" || { echo "smoke: missing $result.json" >&2; exit 1; }
done
