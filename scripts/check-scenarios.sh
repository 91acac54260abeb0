#!/usr/bin/env bash
# Runs every example scenario through `meshtel labels` and validates the output with
# `promtool check metrics` and Python's prometheus_client parser. Any rejection fails.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null 2>&1 || { echo "promtool missing: run scripts/check-exposition.sh first" >&2; exit 1; }

cargo build -q --release -p meshtel-cli
for scenario in examples/scenarios/*.json; do
  text=$(target/release/meshtel labels --scenario "$scenario")
  set +e
  problems=$(printf '%s\n' "$text" | promtool check metrics 2>&1)
  status=$?
  set -e
  unexpected=$(printf '%s\n' "$problems" | grep -v -e '^$' -e 'use base unit "seconds" instead of "milliseconds"' || true)
  if [ "$status" -ne 0 ] && { [ "$status" -ne 3 ] || [ -n "$unexpected" ]; }; then
    echo "promtool rejected the output of $scenario (exit $status):" >&2
    printf '%s\n' "$problems" >&2
    exit 1
  fi
  printf '%s\n' "$text" | python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
assert any(f.name == "istio_build" for f in families), "no istio_build"
print(f"  prometheus_client: {len(families)} families")'
  echo "$scenario: $(printf '%s\n' "$text" | grep -c -v '^#') samples accepted"
done
