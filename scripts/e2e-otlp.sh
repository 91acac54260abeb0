#!/usr/bin/env bash
# End-to-end: the demo's OTLP/HTTP pushes, decoded by a receiver built on the official
# opentelemetry-proto Python package (PyPI, in a venv at $VENV), compared with the registries.
#
# Two runs of `meshtel demo --serve --otlp URL` against scripts/otlp_receiver.py:
#  1. a receiver that accepts everything: its latest snapshot of each sidecar must equal the
#     sidecar's own exposition, value for value and attribute for attribute
#     (scripts/e2e_otlp.py);
#  2. a fault-injecting receiver (per sidecar, cycling: ok, 503, a timeout, a dropped
#     connection, 503, ok, drop): the pusher retries, its memory stays bounded, and the final
#     accepted snapshot still equals the registries (no increment lost). Prints the figures.
# Stops everything it started; on failure prints the demo's and the receiver's output.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
python=$(ensure_venv "${VENV:-${TMPDIR:-/tmp}/meshtel-otlpvenv}" opentelemetry-proto prometheus-client)
meshtel_binary

work=$(mktemp -d)
receiver_pid=""
demo_pid=""
stop() {
  if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; fi
  if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  demo_pid=""
  receiver_pid=""
}
cleanup() {
  status=$?
  stop
  if [ "$status" -ne 0 ]; then
    echo "--- OTLP check FAILED; demo output:" >&2
    cat "$work"/demo-*.log >&2 || true
    echo "--- receiver output:" >&2
    cat "$work"/receiver-*.log >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT


# run NAME FAULTS [CHECK-ARGS...]
run() {
  local name=$1 faults=$2
  shift 2
  rm -f "$work/port" "$work/truth.json"
  "$python" scripts/otlp_receiver.py --port-file "$work/port" --faults "$faults" --hang 1.5 \
    >"$work/receiver-$name.log" 2>&1 &
  receiver_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  local metrics_port
  metrics_port=$(free_port)
  "$MESHTEL" demo --requests 200 --connections 10 --seed 3 --serve --truth "$work/truth.json" \
    --metrics-addr "127.0.0.1:$metrics_port" --otlp "http://127.0.0.1:$(cat "$work/port")" \
    --push-interval 1s --push-timeout 1s >"$work/demo-$name.log" 2>&1 &
  demo_pid=$!
  echo "=== OTLP run: $name (receiver faults: $faults)"
  timeout 150 "$python" scripts/e2e_otlp.py --receiver "http://127.0.0.1:$(cat "$work/port")" \
    --metrics "http://127.0.0.1:$metrics_port" --truth "$work/truth.json" --demo-pid "$demo_pid" "$@"
  stop
}

run clean ok
run faults ok,503,timeout,drop,503,ok,drop --faults
