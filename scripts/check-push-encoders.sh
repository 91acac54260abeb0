#!/usr/bin/env bash
# meshtel-metrics' push encoders against a real Prometheus (Debian's, 2.42+).
#
# Builds the `push_sample` example (a counter, a classic and a native histogram), starts one
# Prometheus on loopback with `--web.enable-remote-write-receiver` and
# `--enable-feature=native-histograms`, POSTs the example's remote write request
# (snappy, protobuf), and has the same Prometheus scrape the example's protobuf exposition
# (served as a file with the `MetricFamily` content type by a few lines of Python). Then
# checks through the query API, for the pushed series (`cluster="c1"`) and the scraped ones
# (`job="pb"`): the counter totals, `histogram_quantile` over the classic buckets, and the
# native histogram's count, sum and `histogram_quantile`. Last, decodes the example's OTLP
# request with the official Python `opentelemetry-proto` package (PyPI, in a venv under
# target/) and compares metrics, values, buckets and attributes. Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
ensure_prometheus_tools

cargo build --locked -q -p meshtel-metrics --features remote-write,protobuf,otlp --example push_sample

work=$(mktemp -d)
pids=()
cleanup() {
  status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- push encoder check FAILED; Prometheus log:" >&2
    cat "$work/prometheus.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

prom_port=$(free_port)
pb_port=$(free_port)

# A timestamp Prometheus' head block accepts: now.
target/debug/examples/push_sample "$work" "$(($(date +%s) * 1000))"

cat >"$work/serve_pb.py" <<'PY'
import http.server, sys
body = open(sys.argv[2], "rb").read()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
python3 "$work/serve_pb.py" "$pb_port" "$work/metrics.pb" &
pids+=($!)

cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: pb
    static_configs: [{targets: ['127.0.0.1:$pb_port']}]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" --web.enable-remote-write-receiver \
  --enable-feature=native-histograms >"$work/prometheus.log" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
code=$(curl -s -o "$work/write.out" -w '%{http_code}' -X POST --data-binary @"$work/remote_write.bin" \
  -H 'Content-Encoding: snappy' -H 'Content-Type: application/x-protobuf' \
  -H 'X-Prometheus-Remote-Write-Version: 0.1.0' "http://127.0.0.1:$prom_port/api/v1/write")
if [ "$code" != 204 ]; then
  echo "remote write answered $code: $(cat "$work/write.out")" >&2
  exit 1
fi
echo "remote write: 204, $(stat -c %s "$work/remote_write.bin") bytes"

python3 - "$prom_port" <<'PY'
import json, sys, time, urllib.parse, urllib.request
port = sys.argv[1]
def query(q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    res = json.load(urllib.request.urlopen(url))["data"]["result"]
    return {r["metric"].get("reporter", ""): float(r["value"][1]) for r in res}
checks = []
for sel, how in (('cluster="c1"', "pushed"), ('job="pb"', "scraped")):
    checks += [
        (f"push_requests_total{{{sel}}}", {"source": 42, "destination": 5}, how),
        (f'histogram_quantile(0.5, push_duration_milliseconds_bucket{{{sel},code="200"}})', {"source": 50}, how),
        (f"push_duration_milliseconds_count{{{sel},code=\"200\"}}", {"source": 100}, how),
        (f'histogram_count(push_latency_seconds{{{sel},code="200"}})', {"source": 1000}, how),
        (f'histogram_sum(push_latency_seconds{{{sel},code="200"}})', {"source": 500.5}, how),
        (f'histogram_quantile(0.5, push_latency_seconds{{{sel},code="200"}})', {"source": 0.5}, how),
    ]
deadline = time.time() + 30
for q, want, how in checks:
    while True:
        got = query(q)
        ok = got.keys() == want.keys() and all(abs(got[k] - v) <= 1e-9 * max(1, abs(v)) for k, v in want.items())
        if ok or time.time() > deadline:
            break
        time.sleep(0.5)
    print(f"{'ok ' if ok else 'BAD'} {how:8} {q} = {got}")
    if not ok:
        sys.exit(f"expected {want}")
PY
echo "push encoders: Prometheus decoded the remote write request and scraped the protobuf exposition"

python=$(ensure_venv target/venv-otlp opentelemetry-proto)
"$python" - "$work/otlp.bin" <<'PY'
import sys
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
req = ExportMetricsServiceRequest()
req.ParseFromString(open(sys.argv[1], "rb").read())
rm = req.resource_metrics[0]
resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
assert resource == {"service.name": "push-sample", "k8s.namespace.name": "default"}, resource
metrics = {m.name: m for m in rm.scope_metrics[0].metrics}
def attrs(p):
    return {kv.key: kv.value.string_value for kv in p.attributes}
sums = {attrs(p)["reporter"]: p.as_int for p in metrics["push_requests"].sum.data_points}
assert metrics["push_requests"].sum.is_monotonic and metrics["push_requests"].sum.aggregation_temporality == 2
assert sums == {"source": 42, "destination": 5}, sums
h = next(p for p in metrics["push_duration_milliseconds"].histogram.data_points if attrs(p)["code"] == "200")
assert (h.count, h.sum, list(h.explicit_bounds), list(h.bucket_counts)) == (100, 5050.0, [10, 25, 50, 100], [10, 15, 25, 50, 0]), h
e = next(p for p in metrics["push_latency_seconds"].exponential_histogram.data_points if attrs(p)["code"] == "200")
assert (e.count, e.scale, e.zero_count) == (1000, 3, 0), e
assert abs(e.sum - 500.5) < 1e-9 and sum(e.positive.bucket_counts) == 1000
# Bucket i of scale s holds (2^(i/2^s), 2^((i+1)/2^s)]: check every value is where it
# belongs (log2 is exact at the powers of two, the only bounds a value v/1000 can equal).
import collections, math
want = collections.Counter(math.ceil(math.log2(v / 1000) * 2 ** e.scale) - 1 for v in range(1, 1001))
got = {e.positive.offset + i: n for i, n in enumerate(e.positive.bucket_counts) if n}
assert got == dict(want), (got, want)
print(f"otlp: opentelemetry-proto decoded {len(metrics)} metrics; sums, histogram and exponential histogram match")
PY
