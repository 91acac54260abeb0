"""Checks the demo mesh through a live Prometheus server (called by e2e-prometheus.sh, which
has Prometheus scrape the demo, and by e2e-remote-write.sh, where the demo pushes to it with
`--remote-write` and `--pushed` is given: no `up` series then, everything else the same)."""

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus


def fetch(url, accept=None, timeout=5):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def query(prometheus, expr):
    _, body = fetch(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    data = json.loads(body)
    if data.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed: {body}")
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["data"]["result"]}


def wait_for(what, check, seconds):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            ok, last = check()
            if ok:
                return last
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}; last: {last}")


def prometheus_quantile(q, buckets):
    """histogram_quantile as Prometheus computes it (promql/quantile.go bucketQuantile) over
    [(upper bound, cumulative count)] sorted by bound, +Inf last."""
    if len(buckets) < 2 or buckets[-1][0] != math.inf or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    b = next((i for i in range(len(buckets) - 1) if buckets[i][1] >= rank), len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, count = 0.0, buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (buckets[b][0] - start) * (rank / count)


def exposition_histograms(metrics, family):
    """{reporter: {"buckets": [(le, cumulative)], "count": n, "sum": s}} summed over both
    sidecars' live text expositions."""
    out = {}
    for side in ("client", "server"):
        _, text = fetch(f"{metrics}/{side}/metrics")
        for fam in parse_prometheus(text):
            if fam.name != family:
                continue
            for sample in fam.samples:
                h = out.setdefault(sample.labels["reporter"], {"le": {}, "count": 0.0, "sum": 0.0})
                if sample.name.endswith("_bucket"):
                    le = float(sample.labels["le"])
                    h["le"][le] = h["le"].get(le, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    h["count"] += sample.value
                elif sample.name.endswith("_sum"):
                    h["sum"] += sample.value
    for h in out.values():
        h["buckets"] = sorted(h.pop("le").items())
    return out


def check_histograms(prometheus, metrics):
    """The request-duration histogram as Prometheus stored it (scraped or pushed) against the
    demo's own exposition: _count and _sum exactly, histogram_quantile to the last digit."""
    family = "istio_request_duration_milliseconds"
    want = exposition_histograms(metrics, family)
    for part in ("count", "sum"):
        def match(part=part):
            got = query(prometheus, f"sum by (reporter) ({family}_{part})")
            got = {dict(k)["reporter"]: v for k, v in got.items()}
            return got == {r: h[part] for r, h in want.items()}, got
        got = wait_for(f"{family}_{part}", match, 30)
        print(f"sum by (reporter) ({family}_{part}): {got}")
    for q in (0.5, 0.9, 0.99):
        expr = f"histogram_quantile({q}, sum by (le, reporter) ({family}_bucket))"
        got = {dict(k)["reporter"]: v for k, v in query(prometheus, expr).items()}
        expected = {r: prometheus_quantile(q, h["buckets"]) for r, h in want.items()}
        assert got.keys() == expected.keys(), (expr, got, expected)
        for r in got:
            assert math.isclose(got[r], expected[r], rel_tol=1e-12), (expr, r, got[r], expected[r])
        print(f"{expr}: {got} (from the demo's exposition: {expected})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--pushed", action="store_true", help="the demo pushes (remote write): no scrape, no `up`")
    args = ap.parse_args()

    wait_for("Prometheus to be ready", lambda: (fetch(f"{args.prometheus}/-/ready")[1] != "", "ready"), 60)
    wait_for("the demo's load to finish", lambda: (os.path.exists(args.truth), "no truth file yet"), 120)
    time.sleep(0.5)
    with open(args.truth) as f:
        truth = json.load(f)
    mesh = {int(k): v for k, v in truth["mesh_requests"].items()}
    plain = {int(k): v for k, v in truth["plain_requests"].items()}
    print(f"load generator: mesh {mesh}, plain {plain}, tcp {truth['tcp_connections']} connections, {truth['tcp_bytes']} bytes")

    expected_requests = {}
    for code, n in mesh.items():
        expected_requests[("source", "unknown", str(code))] = n
        expected_requests[("destination", "mutual_tls", str(code))] = expected_requests.get(("destination", "mutual_tls", str(code)), 0) + n
    for code, n in plain.items():
        expected_requests[("destination", "none", str(code))] = n

    def requests_match():
        got = query(args.prometheus, 'sum by (reporter, connection_security_policy, response_code) (istio_requests_total{request_protocol="http"})')
        got = {(dict(k)["reporter"], dict(k)["connection_security_policy"], dict(k)["response_code"]): v for k, v in got.items()}
        return got == {k: float(v) for k, v in expected_requests.items()}, got

    got = wait_for("Prometheus to see every request", requests_match, 60)
    print("requests by reporter, security policy, response code (Prometheus):")
    for key in sorted(got):
        print(f"  {key[0]:<12} {key[1]:<11} {key[2]:>4}  {got[key]:g}")

    # gRPC calls (the demo's tonic client through the client sidecar), by grpc-status.
    grpc = {}
    for key, c in truth.get("grpc", {}).get("calls", {}).items():
        status = key.rsplit(" ", 1)[1]
        grpc[status] = grpc.get(status, 0) + c["calls"]
    expected_grpc = {(r, s): float(n) for s, n in grpc.items() for r in ("source", "destination")}

    def grpc_match():
        got = query(args.prometheus, 'sum by (reporter, grpc_response_status) (istio_requests_total{request_protocol="grpc"})')
        got = {(dict(k)["reporter"], dict(k)["grpc_response_status"]): v for k, v in got.items()}
        return got == expected_grpc, got

    got = wait_for("Prometheus to see every gRPC call", grpc_match, 60)
    print(f"gRPC calls by reporter, grpc_response_status (Prometheus): {dict(sorted(got.items()))}")

    # gRPC messages, each way, exactly as the demo's tonic client counted them.
    calls = truth.get("grpc", {}).get("calls", {}).values()
    for metric, want in (("istio_request_messages_total", sum(c["request_messages"] for c in calls)),
                         ("istio_response_messages_total", sum(c["response_messages"] for c in calls))):
        expected = {"source": float(want), "destination": float(want)} if want else {}

        def messages_match(metric=metric, expected=expected):
            got = query(args.prometheus, f"sum by (reporter) ({metric})")
            got = {dict(k)["reporter"]: v for k, v in got.items()}
            return got == expected, got

        got = wait_for(f"Prometheus to see every gRPC message ({metric})", messages_match, 60)
        print(f"sum by (reporter) ({metric}): {got} (load generator: {want})")

    n, b = float(truth["tcp_connections"]), float(truth["tcp_bytes"])
    checks = {
        "sum by (reporter) (istio_tcp_connections_opened_total)": {"source": n, "destination": n},
        "sum by (reporter) (istio_tcp_connections_closed_total)": {"source": n, "destination": n},
        "sum by (reporter) (istio_tcp_sent_bytes_total)": {"source": b, "destination": b},
        "sum by (reporter) (istio_tcp_received_bytes_total)": {"source": b, "destination": b},
    }
    if not args.pushed:
        checks["sum by (job) (up)"] = None
    for expr, want in checks.items():
        def match(expr=expr, want=want):
            got = query(args.prometheus, expr)
            if want is None:
                got = {dict(k)["job"]: v for k, v in got.items()}
                return got == {"client": 1.0, "server": 1.0}, got
            got = {dict(k)["reporter"]: v for k, v in got.items()}
            return got == want, got
        got = wait_for(expr, match, 30)
        print(f"{expr}: {got}")

    check_histograms(args.prometheus, args.metrics)

    build = query(args.prometheus, "istio_build")
    assert len(build) == 2 and all(v == 1.0 for v in build.values()), build
    print(f"istio_build: {sorted(dict(k)['job'] for k in build)} = 1")

    # Both live endpoints, both formats, independent parsers.
    for side in ("client", "server"):
        url = f"{args.metrics}/{side}/metrics"
        ctype, text = fetch(url)
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        path = os.path.join(args.work, f"{side}.prom")
        with open(path, "w") as f:
            f.write(text)
        result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        problems = [l for l in (result.stdout + result.stderr).splitlines() if l.strip() and 'use base unit "seconds" instead of "milliseconds"' not in l]
        if result.returncode not in (0, 3) or (result.returncode == 3 and problems):
            raise SystemExit(f"promtool rejected {url}: {problems}")
        families = list(parse_prometheus(text))
        ctype, om = fetch(url, accept="application/openmetrics-text; version=1.0.0")
        assert ctype.startswith("application/openmetrics-text; version=1.0.0"), ctype
        om_families = list(parse_openmetrics(om))
        print(f"{url}: promtool ok, prometheus_client {len(families)} families (text), {len(om_families)} (OpenMetrics)")
    print("end-to-end check passed")


if __name__ == "__main__":
    sys.exit(main())
