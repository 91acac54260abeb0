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

work=$(mktemp -d)
prom_pid=""
demo_pid=""
cleanup() {
  status=$?
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- end-to-end check FAILED; Prometheus log:" >&2
    cat "$work/prometheus.log" >&2 || true
    echo "--- demo output:" >&2
    cat "$work/demo.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
metrics_port=$(free_port)
prom_port=$(free_port)

cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: client
    metrics_path: /client/metrics
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
  - job_name: server
    metrics_path: /server/metrics
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

target/release/meshtel demo --requests 300 --connections 25 --seed 42 \
  --metrics-addr "127.0.0.1:$metrics_port" --serve --truth "$work/truth.json" >"$work/demo.log" 2>&1 &
demo_pid=$!

python3 scripts/e2e_check.py --prometheus "http://127.0.0.1:$prom_port" \
  --metrics "http://127.0.0.1:$metrics_port" --truth "$work/truth.json" --work "$work"
cat "$work/demo.log"
