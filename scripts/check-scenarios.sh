#!/usr/bin/env bash
# Runs every example scenario through `meshtel labels` and validates the output with
# `promtool check metrics` and Python's prometheus_client parser. Any rejection fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_prometheus_tools

cargo build --locked -q --release -p meshtel-cli
for scenario in examples/scenarios/*.json; do
  text=$(target/release/meshtel labels --scenario "$scenario")
  printf '%s\n' "$text" | promtool_accepts "the output of $scenario"
  printf '%s\n' "$text" | python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
assert any(f.name == "istio_build" for f in families), "no istio_build"
print(f"  prometheus_client: {len(families)} families")'
  echo "$scenario: $(printf '%s\n' "$text" | grep -c -v '^#') samples accepted"
done
