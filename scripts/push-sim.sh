#!/usr/bin/env bash
# Scale: `meshtel push-sim` against a real Prometheus remote-write receiver on loopback.
#
# For each N in $SIZES (default "10 100 1000"): a fresh Prometheus
# (`--web.enable-remote-write-receiver`, no scrape configuration), then
# `meshtel push-sim --sidecars N --series $SERIES --interval $INTERVAL --duration $DURATION`
# (N simulated sidecars, each a registry of Istio's standard HTTP metrics for $SERIES label
# sets recorded through the real stats plugin, each pushing on its own connection). Reads
# Prometheus' own /metrics before and after: samples appended to the head (accepted samples
# per second), remote-write answers by code, its CPU and memory. push-sim reports the wire
# bytes per sample, its CPU per push and its memory per simulated sidecar. Prints one
# Markdown table (the one in docs/scale.md).
#
#   scripts/push-sim.sh            the full run (about 3 minutes on 2 cores)
#   scripts/push-sim.sh --smoke    N=10 only, 12 s: small enough for CI
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10 100 1000"}
SERIES=${SERIES:-10}
INTERVAL=${INTERVAL:-10s}
DURATION=${DURATION:-40s}
if [ "${1:-}" = "--smoke" ]; then
  SIZES=10
  INTERVAL=2s
  DURATION=12s
fi

source scripts/lib.sh
ensure_prometheus_tools
meshtel_binary

work=$(mktemp -d)
prom_pid=""
cleanup() {
  status=$?
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- push-sim FAILED; Prometheus log:" >&2
    tail -50 "$work/prometheus.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

printf 'global:\n  evaluation_interval: 15s\n' > "$work/prometheus.yml"

# Prometheus' own counters, as JSON: samples appended, remote-write answers by code, CPU, RSS.
own_metrics() {
  python3 - "$1" <<'PY'
import json, sys, time, urllib.request
from prometheus_client.parser import text_string_to_metric_families
# An overloaded receiver answers its own /metrics late too: wait for it, a bounded time.
for attempt in range(6):
    try:
        with urllib.request.urlopen(f"{sys.argv[1]}/metrics", timeout=30) as r:
            fams = list(text_string_to_metric_families(r.read().decode()))
        break
    except OSError:
        if attempt == 5:
            raise
        time.sleep(2)
out = {"appended": 0.0, "codes": {}, "cpu": 0.0, "rss": 0.0, "series": 0.0}
for f in fams:
    for s in f.samples:
        if s.name == "prometheus_tsdb_head_samples_appended_total":
            out["appended"] += s.value
        elif s.name == "prometheus_http_requests_total" and s.labels.get("handler") == "/api/v1/write":
            out["codes"][s.labels["code"]] = s.value
        elif s.name == "process_cpu_seconds_total":
            out["cpu"] = s.value
        elif s.name == "process_resident_memory_bytes":
            out["rss"] = s.value
        elif s.name == "prometheus_tsdb_head_series":
            out["series"] = s.value
print(json.dumps(out))
PY
}

results=()
for n in $SIZES; do
  prom_port=$(free_port)
  prom="http://127.0.0.1:$prom_port"
  rm -rf "$work/data"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" --web.enable-remote-write-receiver \
    >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 600); do curl -fsS "$prom/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  before=$(own_metrics "$prom")
  start=$(date +%s.%N)
  "$MESHTEL" push-sim --sidecars "$n" --series "$SERIES" --interval "$INTERVAL" --duration "$DURATION" \
    --remote-write "$prom/api/v1/write" --json "$work/sim-$n.json"
  end=$(date +%s.%N)
  after=$(own_metrics "$prom")
  echo "{\"before\": $before, \"after\": $after, \"elapsed\": $(python3 -c "print($end - $start)"), \"sim\": $(cat "$work/sim-$n.json")}" \
    > "$work/result-$n.json"
  results+=("$work/result-$n.json")
  kill "$prom_pid"
  wait "$prom_pid" 2>/dev/null || true
  prom_pid=""
done

python3 - "${results[@]}" <<'PY'
import json, sys
rows = [json.load(open(p)) for p in sys.argv[1:]]
print()
print("| sidecars | samples/push/sidecar | offered samples/s | appended samples/s (Prometheus) | non-204 answers | bytes/sample (wire) | push-sim CPU/push | push-sim memory/sidecar | Prometheus CPU | Prometheus RSS | head series |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    s, b, a = r["sim"], r["before"], r["after"]
    accepted = (a["appended"] - b["appended"]) / s["duration_s"]
    ok = a["codes"].get("204", 0) - b["codes"].get("204", 0)
    codes = {c: v - b["codes"].get(c, 0) for c, v in a["codes"].items() if v - b["codes"].get(c, 0) > 0}
    rejected = sum(v for c, v in codes.items() if c != "204")
    offered = s["samples_per_round"] / s["interval_s"]
    cpu = (a["cpu"] - b["cpu"]) / r["elapsed"]
    assert ok > 0, r
    print(f"| {s['sidecars']} | {s['samples_per_sidecar']:.0f} | {offered:,.0f} | {accepted:,.0f} | {rejected:g} of {ok + rejected:g} {dict(sorted(codes.items()))} "
          f"| {s['bytes_per_sample']:.3f} | {s['cpu_ms_per_push']:.3f} ms | {s['bytes_per_sidecar'] / 1024:.1f} KiB "
          f"({s['registry_bytes_per_sidecar'] / 1024:.1f} KiB registry) | {cpu * 100:.0f}% of a core | {a['rss'] / 2**20:,.0f} MiB | {a['series']:,.0f} |")
PY
