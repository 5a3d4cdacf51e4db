#!/usr/bin/env bash
# Set everything up (first time only) and start the server on the shipped model.
# Extra arguments go to `python -m server` (see `--help`), e.g. --host 0.0.0.0 --port 8765.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec .venv/bin/python -m server "$@"
