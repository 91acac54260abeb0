#!/usr/bin/env bash
# What CI runs for the Envoy sidecars (docs/envoy-mesh.md): builds meshtel (release) and the
# proxy-wasm module once, then the bounded end-to-end check (scripts/e2e-envoy.sh: the
# meshtel-tower baseline, the two-Envoy mesh scraped by Prometheus, interop both ways).
# The load test (scripts/loadtest.sh) is a measurement and stays out of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

meshtel_binary
meshtel_wasm_module
bash scripts/e2e-envoy.sh
