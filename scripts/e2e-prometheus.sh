#!/usr/bin/env bash
# End-to-end: the demo mesh scraped by a real Prometheus server.
#
# Starts Prometheus on loopback (generated config, temporary data directory, 1 s scrapes of
# /client/metrics and /server/metrics), runs `meshtel demo --serve` with fixed counts,
# waits for the scrapes, and checks through Prometheus' HTTP API that the totals equal what
# the load generator itself counted (requests by reporter, security policy and response
# code; TCP connections opened and closed; bytes). Then checks both live endpoints in both
# exposition formats with `promtool check metrics` and Python's prometheus_client parsers.
# Stops everything it started; on failure prints the Prometheus and demo logs.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
ensure_prometheus_tools

cargo build --locked -q --release -p meshtel-cli

prometheus_demo_setup "end-to-end check"

write_demo_scrape_config "$work/prometheus.yml" "$metrics_port"

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

target/release/meshtel demo --requests 300 --connections 25 --seed 42 \
  --metrics-addr "127.0.0.1:$metrics_port" --serve --truth "$work/truth.json" >"$work/demo.log" 2>&1 &
demo_pid=$!

python3 scripts/e2e_check.py --prometheus "http://127.0.0.1:$prom_port" \
  --metrics "http://127.0.0.1:$metrics_port" --truth "$work/truth.json" --work "$work"
cat "$work/demo.log"
