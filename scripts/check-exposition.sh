#!/usr/bin/env bash
# Renders meshtel-metrics' sample registry (every metric kind, hostile label
# values, truncation, overflow) in both formats and validates it with
# independent parsers: `promtool check metrics` (Debian's `prometheus`) and
# Python's `prometheus_client` Prometheus and OpenMetrics parsers. Any
# rejection fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq prometheus >/dev/null
fi
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check prometheus-client 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages prometheus-client
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run -q -p meshtel-metrics --example sample -- "$out"

# promtool exits 1 on a parse error and 3 on lint findings. The one lint we
# accept is Istio's own naming: durations in milliseconds, not seconds.
set +e
problems=$(promtool check metrics < "$out/metrics.prom" 2>&1)
status=$?
set -e
unexpected=$(printf '%s\n' "$problems" | grep -v -e '^$' -e 'use base unit "seconds" instead of "milliseconds"' || true)
if [ "$status" -ne 0 ] && { [ "$status" -ne 3 ] || [ -n "$unexpected" ]; }; then
  echo "promtool rejected the Prometheus text (exit $status):" >&2
  printf '%s\n' "$problems" >&2
  exit 1
fi
echo "promtool check metrics: accepted ($(grep -c -v '^#' "$out/metrics.prom") samples)"

python3 scripts/check_exposition.py "$out"
