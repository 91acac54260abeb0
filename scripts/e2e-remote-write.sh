#!/usr/bin/env bash
# End-to-end: the demo mesh pushed to a real Prometheus by remote write, nothing scraped.
#
# Starts Prometheus on loopback with `--web.enable-remote-write-receiver` and no scrape
# configuration, runs `meshtel demo --serve --remote-write .../api/v1/write` with the same
# fixed counts as e2e-prometheus.sh, and runs the same check (scripts/e2e_check.py --pushed):
# the totals in Prometheus equal what the load generator counted, and histogram_quantile
# over the pushed request-duration buckets equals the quantile of the demo's own exposition.
# Then checks that Prometheus counted the pushes it accepted and rejected none, and that a
# SIGTERM stops the demo after one last accepted push. Stops
# everything it started; on failure prints the Prometheus and demo logs.
# (The native-histogram run is scripts/e2e-native-histograms.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
ensure_prometheus_tools
meshtel_binary
python=python3

prometheus_demo_setup "remote-write check"
prom="http://127.0.0.1:$prom_port"

# No scrape_configs: every sample comes from the demo's pushes.
cat > "$work/prometheus.yml" <<YAML
global:
  evaluation_interval: 1s
YAML

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" --web.enable-remote-write-receiver \
  >"$work/prometheus.log" 2>&1 &
prom_pid=$!
for _ in $(seq 600); do
  curl -fsS "$prom/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

"$MESHTEL" demo --requests 300 --connections 25 --seed 42 \
  --metrics-addr "127.0.0.1:$metrics_port" --serve --truth "$work/truth.json" \
  --remote-write "$prom/api/v1/write" --push-interval 1s >"$work/demo.log" 2>&1 &
demo_pid=$!

timeout 150 python3 scripts/e2e_check.py --pushed --prometheus "$prom" \
  --metrics "http://127.0.0.1:$metrics_port" --truth "$work/truth.json" --work "$work"

# Prometheus' own account of the pushes (its /metrics: nothing scrapes it into the TSDB):
# remote-write requests answered 204 and no other code, and both sidecars' series stored.
"$python" - "$prom" <<'PY'
import json, sys, urllib.parse, urllib.request
from prometheus_client.parser import text_string_to_metric_families
prom = sys.argv[1]
def q(expr):
    with urllib.request.urlopen(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=5) as r:
        return {tuple(sorted(m["metric"].items())): float(m["value"][1]) for m in json.load(r)["data"]["result"]}
with urllib.request.urlopen(f"{prom}/metrics", timeout=5) as r:
    own = list(text_string_to_metric_families(r.read().decode()))
codes = {s.labels["code"]: s.value for f in own for s in f.samples
         if s.name == "prometheus_http_requests_total" and s.labels.get("handler") == "/api/v1/write"}
assert codes.get("204", 0) > 0 and all(v == 0 for c, v in codes.items() if c != "204"), codes
appended = sum(s.value for f in own for s in f.samples if s.name == "prometheus_tsdb_head_samples_appended_total")
jobs = sorted(dict(k)["job"] for k in q("count by (job) (istio_requests_total)"))
assert jobs == ["client", "server"], jobs
series = sum(q("count({__name__=~'.+'})").values())
print(f"Prometheus remote-write receiver: answers by code {codes}; {appended:g} samples appended; "
      f"jobs {jobs}; {series:g} series, none scraped")
PY
curl -fsS "http://127.0.0.1:$metrics_port/push/metrics" | grep -E '^meshtel_push_(attempts|successes|failures)_total' | grep -v ' 0$' || true
# SIGTERM stops the demo as it stops a sidecar: one last push of the newest snapshot, then
# the exit.
kill -TERM "$demo_pid"
for _ in $(seq 300); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$demo_pid" 2>/dev/null; then
  echo "the demo did not stop within 30 s of SIGTERM" >&2
  exit 1
fi
demo_pid=
grep "final snapshot" "$work/demo.log" || true
grep -q "final snapshot accepted" "$work/demo.log" \
  || { echo "no accepted final push after SIGTERM:" >&2; tail -20 "$work/demo.log" >&2; exit 1; }
echo "remote-write end-to-end check passed"
