#!/usr/bin/env bash
# Set everything up (first time only: apt, every Python extra and group, npm), then run lint, types
# and the whole test suite.
# Extra arguments go to both pytest runs (e.g. -k replay).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --all
cd "$ROOT"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy server training replay_client bench
# Two parts: every test but those marked `serial` on PYTEST_WORKERS processes (pytest-xdist; most tests
# wait on servers, browsers and subprocesses), then the `serial` ones alone, since they assert time
# bounds that a busy neighbour could break. Exit status 5 (nothing selected, e.g. with -k) is fine.
ok() { [ "$1" = 0 ] || [ "$1" = 5 ]; }
echo "== pytest (parallel)"
set +e
.venv/bin/python -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" --dist worksteal -m "not serial" "$@"
parallel=$?
echo "== pytest (serial)"
.venv/bin/python -m pytest -p no:cacheprovider -m serial "$@"
serial=$?
set -e
ok "$parallel" && ok "$serial"
