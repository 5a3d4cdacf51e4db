#!/usr/bin/env bash
# Set everything up (first time only: apt, every Python extra and group, npm), then run lint, types
# and the whole test suite.
# Extra arguments go to pytest (e.g. -k replay).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --all
cd "$ROOT"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy server training replay_client bench
echo "== pytest"; .venv/bin/python -m pytest -p no:cacheprovider "$@"
