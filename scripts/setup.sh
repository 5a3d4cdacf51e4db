#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian machine: system packages, the Python venv, npm packages.
# Sourced by scripts/serve.sh and scripts/test.sh; safe to run again (it skips what is done).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# System packages: what the tests drive (browser, C# compiler) and what builds need.
APT_PACKAGES=(python3-venv ca-certificates chromium)
# node + npm for the web client's npm packages, unless a node toolchain is already installed.
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
# The Unity client's C# is compiled and run with Mono (tests/test_unity_client.py): mcs, the
# runtime, System.dll (System.Net.WebSockets.ClientWebSocket) and System.Core.dll (LINQ).
APT_PACKAGES+=(mono-mcs mono-runtime libmono-system4.0-cil libmono-system-core4.0-cil)
missing=()
for p in "${APT_PACKAGES[@]}" ${EXTRA_APT_PACKAGES:-}; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: one venv, reinstalled only when requirements.txt changes.
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.requirements.sha1"
want="$(sha1sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# npm packages of the web client (msgpack for the browser), when it has a lock file.
if [ -f web_client/package-lock.json ]; then
  if [ ! -d web_client/node_modules ] || [ web_client/package-lock.json -nt web_client/node_modules/.package-lock.json ]; then
    command -v npm >/dev/null || { echo "setup: npm is required (apt-get install nodejs npm)" >&2; exit 1; }
    (cd web_client && npm ci --silent --no-audit --no-fund)
  fi
fi
