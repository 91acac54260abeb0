"""Checks the demo mesh through a live Prometheus server (called by e2e-prometheus.sh)."""

import argparse
import json
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--work", required=True)
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
        "sum by (job) (up)": None,
    }
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
