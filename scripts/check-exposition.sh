#!/usr/bin/env bash
# Renders meshtel-metrics' sample registry (every metric kind, hostile label
# values, truncation, overflow) in both formats and validates it with
# independent parsers: `promtool check metrics` (Debian's `prometheus`) and
# Python's `prometheus_client` Prometheus and OpenMetrics parsers. Any
# rejection fails.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
ensure_prometheus_tools

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --locked -q -p meshtel-metrics --example sample -- "$out"

promtool_accepts "the Prometheus text" < "$out/metrics.prom"
echo "promtool check metrics: accepted ($(grep -c -v '^#' "$out/metrics.prom") samples)"

python3 scripts/check_exposition.py "$out"
