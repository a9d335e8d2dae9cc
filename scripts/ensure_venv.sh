#!/usr/bin/env bash
# Create .venv/ in the checkout on first use and (re)install the project into it whenever
# pyproject.toml changes. Sourced by run.sh and test.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.11 python3 python; do
    if command -v "$cand" >/dev/null 2>&1; then py="$cand"; break; fi
  done
fi
[ -n "$py" ] || { echo "error: no python3 found; install Python 3.11" >&2; exit 1; }
stamp="$here/.venv/.repro-installed"
want="$(sha256sum "$here/pyproject.toml" | cut -c1-16)"
if [ ! -x "$here/.venv/bin/python" ]; then
  echo "[setup] creating $here/.venv with $py" >&2
  "$py" -m venv "$here/.venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing the project and its dependencies into .venv (first run: a few minutes, torch is large)" >&2
  "$here/.venv/bin/python" -m pip install --disable-pip-version-check -q -e "$here[test]"
  echo "$want" > "$stamp"
fi
