#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian machine; fast (a second or two) when already done.
#   bash scripts/setup.sh --serve   what serving needs: the venv with the runtime dependencies only
#                                   (no TensorFlow), and the sketchpad's npm package (node/npm, npm ci)
#   bash scripts/setup.sh --all     everything: + chromium, mono, postgresql, haproxy (apt), every extra and dependency
#                                   group (training, replay, bench, test, lint)
# Python packages come from uv.lock (exact versions, hashes) into .venv, installed with uv, which is
# itself pinned below and bootstrapped from PyPI into .cache/uv-tool.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION=0.13.9

case "${1:-}" in
  --serve) ALL=0 ;;
  --all) ALL=1 ;;
  *) echo "usage: bash scripts/setup.sh --serve|--all" >&2; exit 2 ;;
esac

# System packages. Serving: a Python venv, CA certificates (PyPI, npm), node + npm for the
# sketchpad's npm package (unless a node toolchain is already installed).
APT_PACKAGES=(python3-venv ca-certificates)
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
if ((ALL)); then
  # Browser tests drive Debian's chromium (never `playwright install`).
  APT_PACKAGES+=(chromium)
  # The Unity client's C# is compiled and run with Mono (tests/test_unity_client.py): mcs, the
  # runtime, System.dll (System.Net.WebSockets.ClientWebSocket) and System.Core.dll (LINQ);
  # mono-devel for ikdasm, the .NET Framework 4.8 reference assemblies and the .NET Standard 2.1
  # facade that the API-profile check compiles and reads against.
  APT_PACKAGES+=(mono-mcs mono-runtime libmono-system4.0-cil libmono-system-core4.0-cil mono-devel)
  # Tests marked postgres / cluster start a real PostgreSQL (initdb in a temporary folder) and HAProxy.
  APT_PACKAGES+=(postgresql haproxy)
fi
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

# npm packages of the web client (msgpack for the browser), when it has a lock file. First: the
# project's own build (uv sync installs it) packs the sketchpad with its msgpack file.
if [ -f web_client/package-lock.json ]; then
  if [ ! -d web_client/node_modules ] || [ web_client/package-lock.json -nt web_client/node_modules/.package-lock.json ]; then
    command -v npm >/dev/null || { echo "setup: npm is required (apt-get install nodejs npm)" >&2; exit 1; }
    (cd web_client && npm ci --silent --no-audit --no-fund)
  fi
fi

# uv, pinned, in its own small venv (kept apart from .venv, which uv manages exactly).
PY="${PYTHON:-python3}"
UV=.cache/uv-tool/bin/uv
if [ "$("$UV" --version 2>/dev/null | cut -d" " -f2)" != "$UV_VERSION" ]; then
  echo "setup: installing uv $UV_VERSION" >&2
  rm -rf .cache/uv-tool
  "$PY" -m venv .cache/uv-tool
  .cache/uv-tool/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

# Python packages into .venv, exactly as locked. The lock must match pyproject.toml (--locked fails
# otherwise: run `uv lock` after editing dependencies). --serve never removes what --all installed.
export UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_NO_PROGRESS=1
if ((ALL)); then
  "$UV" sync --quiet --locked --python "$PY" --all-extras --all-groups
else
  "$UV" sync --quiet --locked --python "$PY" --no-default-groups --inexact
fi
