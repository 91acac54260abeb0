#!/usr/bin/env bash
# End-to-end: third-party clients through the demo mesh, counted against its metrics.
#
# Starts `meshtel demo --serve --requests 0 --connections 0 --endpoints FILE` (no load of its
# own), then drives h2load (HTTP/2, h2c prior knowledge) and hey (HTTP/1.1) at the client
# sidecar's HTTP listener and Python grpcio (Health/Check and meshtel.demo.v1.Echo, unary
# and streaming) at the same listener, and requires the sidecars' istio_requests_total to
# equal exactly what those clients reported (scripts/e2e_clients.py). Installs h2load
# (nghttp2-client) and hey from Debian when missing, and grpcio + grpcio-health-checking into
# a venv ($VENV, default $TMPDIR/meshtel-grpcvenv). $MESHTEL names a built binary (default: a
# release build). Stops the demo; on failure prints its output.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

clients_demo_setup "third-party clients check"

start_demo_serving
cat "$work/endpoints.json"
"$python" scripts/e2e_clients.py --endpoints "$work/endpoints.json"
kill -0 "$demo_pid"
echo "the demo is still serving"
