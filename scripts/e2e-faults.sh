#!/usr/bin/env bash
# End-to-end: a bounded fault run against the demo mesh (scripts/e2e_faults.py).
#
# Starts `meshtel demo --serve --requests 0 --connections 0` with short limits (header read
# 1 s, idle 2 s, exchange 1 s) and --pki-dir, then for $FAULT_SECONDS (default 30, at most
# 60) runs load (hey, h2load, grpcio) while connections are reset mid-stream and hostile
# peers connect (to the server sidecar, the client sidecar's HTTP listener and the metrics
# listener) (garbage, half-sent heads, bare HTTP/2 prefaces, silent connections, TLS
# junk, mTLS peers stalling the TCP prefix exchange). Requires the demo alive and still
# serving, its peak RSS under $RSS_LIMIT_MB (default 256), every hostile connection closed,
# the timeouts counted, and istio_tcp_connections_opened_total == closed on both sidecars.
# Installs what it needs as e2e-clients.sh does; $MESHTEL names a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

seconds=${FAULT_SECONDS:-30}
if [ "$seconds" -gt 60 ]; then seconds=60; fi
clients_demo_setup "fault run"

start_demo_serving --header-read-timeout 1s --idle-timeout 2s --exchange-timeout 1s --pki-dir "$work/pki"
"$python" scripts/e2e_faults.py --endpoints "$work/endpoints.json" --pki-dir "$work/pki" --pid "$demo_pid" \
  --seconds "$seconds" --rss-limit-mb "${RSS_LIMIT_MB:-256}"
kill -0 "$demo_pid"
echo "the demo is still serving"
