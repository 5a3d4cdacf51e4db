#!/usr/bin/env bash
# Set up what serving needs (first time only: no TensorFlow, browser or Mono) and start the server
# on the shipped model. Extra arguments go to `python -m server` (see `--help`), e.g. --host 0.0.0.0.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --serve
cd "$ROOT"
exec .venv/bin/python -m server "$@"
