#!/usr/bin/env bash
# CI for the proxy-wasm module (crates/meshtel-wasm), in addition to the workspace-wide steps
# (fmt, clippy, tests, docs, MSRV), which cover the crate's host-side logic:
#   - the module builds for wasm32-wasip1 and its Envoy glue passes clippy on that target;
#   - the CLI's `meshtel envoy bootstrap` runs on the example node;
#   - the smoke test in one real Envoy (scripts/envoy-wasm-smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --locked --release -p meshtel-wasm --target wasm32-wasip1
cargo clippy --locked -p meshtel-wasm --target wasm32-wasip1 --all-features -- -D warnings
ls -l target/wasm32-wasip1/release/meshtel_wasm.wasm
cargo run --locked --release -q -p meshtel-cli -- envoy bootstrap --role outbound --node examples/ratings-node.json \
  | grep -q 'regex: (;\\\.;source_workload=\\\.=(\.\*?))(?:;\\\.;|$)'
echo "bootstrap ok: the tag extraction rules are printed"
bash scripts/envoy-wasm-smoke.sh
