#!/usr/bin/env bash
# End-to-end: native histograms, scraped by a real Prometheus from the protobuf exposition.
#
# Starts Prometheus on loopback with `--enable-feature=native-histograms` (it then asks
# scrape targets for the protobuf exposition) scraping both demo sidecars every second, runs
# `meshtel demo --serve --native-histograms` (the sidecars' meshtel_demo_upstream_duration_seconds
# get native buckets next to the classic ones), and checks through the query API that the
# native histogram arrived: histogram_count and histogram_sum equal the count and sum of the
# demo's own exposition, and histogram_quantile over it gives a finite quantile inside the
# classic bucket that holds the same rank (widened by one native bucket, 2^(1/8) at
# schema 3). Classic-only families (Istio's) stay classic. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
ensure_prometheus_tools
meshtel_binary

prometheus_demo_setup "native-histogram check"

write_demo_scrape_config "$work/prometheus.yml" "$metrics_port"

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" --enable-feature=native-histograms \
  >"$work/prometheus.log" 2>&1 &
prom_pid=$!

"$MESHTEL" demo --requests 300 --connections 10 --seed 7 --native-histograms \
  --metrics-addr "127.0.0.1:$metrics_port" --serve --truth "$work/truth.json" >"$work/demo.log" 2>&1 &
demo_pid=$!

timeout 120 python3 - "http://127.0.0.1:$prom_port" "http://127.0.0.1:$metrics_port" "$work/truth.json" <<'PY'
import json, math, os, sys, time, urllib.parse, urllib.request
from prometheus_client.parser import text_string_to_metric_families
prom, metrics, truth = sys.argv[1:]
PB = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"

def fetch(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers.get("Content-Type", ""), r.read()

def query(expr):
    _, body = fetch(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    data = json.loads(body)
    assert data["status"] == "success", data
    return data["data"]["result"]

def wait_for(what, check, seconds=60):
    deadline, last = time.time() + seconds, None
    while time.time() < deadline:
        try:
            ok, last = check()
            if ok:
                return last
        except Exception as e:
            last = e
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}; last: {last}")

wait_for("the demo's load", lambda: (os.path.exists(truth), "no truth file"), 90)
time.sleep(0.5)
family = "meshtel_demo_upstream_duration_seconds"
for side in ("client", "server"):
    ctype, body = fetch(f"{metrics}/{side}/metrics", PB)
    assert ctype.startswith("application/vnd.google.protobuf"), ctype
    print(f"{side}: protobuf exposition, {len(body)} bytes ({ctype})")

# The demo's own account, from its text exposition (the classic buckets of the same family).
want = {}
for side in ("client", "server"):
    _, text = fetch(f"{metrics}/{side}/metrics")
    h = want.setdefault(side, {"count": 0.0, "sum": 0.0, "le": {}})
    for fam in text_string_to_metric_families(text.decode()):
        if fam.name != family:
            continue
        for s in fam.samples:
            if s.name.endswith("_count"):
                h["count"] += s.value
            elif s.name.endswith("_sum"):
                h["sum"] += s.value
            elif s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                h["le"][le] = h["le"].get(le, 0.0) + s.value
print(f"demo exposition: {family} count {({k: v['count'] for k, v in want.items()})}")

def counts_match():
    got = {r["metric"]["job"]: float(r["value"][1]) for r in query(f"histogram_count(sum by (job) ({family}))")}
    return got == {k: v["count"] for k, v in want.items()}, got

got = wait_for("the native histogram's count", counts_match)
print(f"histogram_count(sum by (job) ({family})): {got}")
sums = {r["metric"]["job"]: float(r["value"][1]) for r in query(f"histogram_sum(sum by (job) ({family}))")}
for side, h in want.items():
    assert math.isclose(sums[side], h["sum"], rel_tol=1e-9), (side, sums[side], h["sum"])
print(f"histogram_sum(sum by (job) ({family})): {sums}")
classic = query(f"{family}_bucket")
assert classic == [], f"with native buckets Prometheus 2.42 keeps only the native histogram: {classic[:1]}"
istio = query("count(istio_request_duration_milliseconds_bucket)")
assert istio and float(istio[0]["value"][1]) > 0, istio
for q in (0.5, 0.9, 0.99):
    got = {r["metric"]["job"]: float(r["value"][1]) for r in query(f"histogram_quantile({q}, sum by (job) ({family}))")}
    for side, h in want.items():
        buckets = sorted(h["le"].items())
        rank = q * h["count"]
        i = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
        lo = buckets[i - 1][0] if i > 0 else 0.0
        hi = buckets[i][0] if buckets[i][0] != math.inf else buckets[i - 1][0] * 2
        width = 2 ** (1 / 8)
        assert math.isfinite(got[side]) and lo / width <= got[side] <= hi * width, (q, side, got[side], lo, hi)
    print(f"histogram_quantile({q}, sum by (job) ({family})): {got} (inside the classic bucket of that rank)")
print("istio_request_duration_milliseconds stays a classic histogram:", istio[0]["value"][1], "bucket series")
print("native-histogram end-to-end check passed")
PY
