#!/usr/bin/env python3
"""End to end through Envoy sidecars (run by scripts/e2e-envoy.sh; docs/envoy-mesh.md).

Phase "native": the meshtel-tower sidecar pair (`meshtel demo --serve`) under the same
traffic, its labels checked against `meshtel labels` the same way: the baseline.

Phase "mesh": scripts/envoy-mesh.sh (two Envoys with the meshtel module), a real Prometheus
scraping both Envoy admins' /stats/prometheus every second, and traffic through the client
Envoy: hey (HTTP/1.1), h2load (HTTP/2, h2c) and TCP echo connections. Requires that the
Prometheus query results equal what the clients themselves reported (requests by reporter
and response code, TCP connections and bytes, Envoy's own counters too), and that every
istio_* series' labels, names and order included, equal what `meshtel labels` gives for the
same scenario (examples/envoy/*-node.json, the mesh's certificates and clusters).

Phase "interop": a meshtel-tower sidecar pair (`meshtel demo --pki-from --upstream`) and
Envoy sidecars sharing one CA. Envoy client -> meshtel-tower server, and meshtel-tower
client -> Envoy server; the same traffic each way; each side must find its peer (headers:
`header_found`, frames: `frame_found` on the tower side; labels with the peer's workload on
both) and record exactly the client's counts with the same labels as `meshtel labels`.

Without the module (--no-meshtel) only Envoy's own counters are checked.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import envoy_mesh as em  # noqa: E402

CLIENT_NODE = json.loads((ROOT / "examples/envoy/client-node.json").read_text())
SERVER_NODE = json.loads((ROOT / "examples/envoy/server-node.json").read_text())
HTTP_LOAD = [("hey", "/status/202", 150), ("h2load", "/bytes/512", 200), ("h2load", "/status/503", 50)]
TCP_CONNECTIONS = 12
# The tower sidecars' exchange timeout in the interop run: short, so that a side that waited
# for a frame that never comes would show as `exchange_timeout` well within the check's wait.
INTEROP_EXCHANGE_TIMEOUT_S = 2
FAILURES = []


def fail(message):
    print(f"  FAIL {message}", flush=True)
    FAILURES.append(message)


def check(what, got, want):
    if got == want:
        print(f"  ok   {what}: {got}", flush=True)
    else:
        fail(f"{what}: got {got}, want {want}")


# ---------------------------------------------------------------------------------------
# Processes


class Procs:
    def __init__(self, work):
        self.work = work
        self.procs = []

    def start(self, name, cmd):
        log = open(self.work / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append((name, p))
        return p

    def wait_file(self, name, path, seconds=180):
        deadline = time.monotonic() + seconds
        proc = dict(self.procs)[name]
        while time.monotonic() < deadline:
            if path.exists():
                return json.loads(path.read_text())
            if proc.poll() is not None:
                self.dump(name)
                sys.exit(f"{name} exited with {proc.returncode}")
            time.sleep(0.1)
        self.dump(name)
        sys.exit(f"{name} wrote no {path.name} in {seconds} s")

    def dump(self, name):
        print(f"--- {name} output:\n{(self.work / f'{name}.log').read_text(errors='replace')[-4000:]}", file=sys.stderr)

    def stop(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop on SIGTERM; killing it", file=sys.stderr)
                p.kill()
                p.wait()
        self.procs = []


def mesh(procs, name, args, extra):
    # The scripts build nothing when $MESHTEL names the binary.
    os.environ["MESHTEL"] = args.meshtel
    endpoints = procs.work / f"{name}.json"
    cmd = ["bash", "scripts/envoy-mesh.sh", "--endpoints", str(endpoints), "--work", str(procs.work / name), *extra]
    if args.no_meshtel:
        cmd.append("--no-meshtel")
    procs.start(name, cmd)
    return procs.wait_file(name, endpoints)


def demo(procs, name, args, extra):
    endpoints = procs.work / f"{name}.json"
    procs.start(name, [args.meshtel, "demo", "--serve", "--requests", "0", "--connections", "0",
                       "--endpoints", str(endpoints), *extra])
    return procs.wait_file(name, endpoints)


# ---------------------------------------------------------------------------------------
# Clients


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def h2load(base, path, n):
    out = run(["h2load", "-n", str(n), "-c", "4", "-m", "8", f"{base}{path}"])
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    proto = re.search(r"Application protocol: (\S+)", out)
    if not codes or not proto or proto.group(1) != "h2c":
        sys.exit(f"h2load output not understood (or not h2c):\n{out}")
    by_class = dict(zip(("2", "3", "4", "5"), map(int, codes.groups())))
    code = path.rsplit("/", 1)[1] if path.startswith("/status/") else "200"
    # One path answers one code: the class count is that code's count.
    return {code: by_class[code[0]]} if by_class[code[0]] else {}


def hey(base, path, n):
    out = run(["hey", "-n", str(n), "-c", "5", f"{base}{path}"])
    if "Error distribution" in out:
        print(out)
    return {code: int(count) for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}


def tcp_echo(addr, connections):
    """`connections` TCP connections, each sending and reading back 1..4096 bytes; the bytes."""
    host, port = addr.rsplit(":", 1)
    total = 0
    for i in range(connections):
        payload = bytes((i * 7 + j) % 251 for j in range(1 + (i * 997) % 4096))
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            if got != payload:
                sys.exit(f"TCP echo through {addr}: sent {len(payload)} bytes, got {len(got)} back, differing")
        total += len(payload)
    return total


def drive(client_http, client_tcp, connections=TCP_CONNECTIONS):
    """The phase's traffic; what the clients saw: ({code: responses}, connections, bytes)."""
    codes = {}
    base = f"http://{client_http}"
    for tool, path, n in HTTP_LOAD:
        seen = hey(base, path, n) if tool == "hey" else h2load(base, path, n)
        print(f"  {tool} {path}: {seen}", flush=True)
        for code, count in seen.items():
            codes[code] = codes.get(code, 0) + count
    tcp_bytes = tcp_echo(client_tcp, connections)
    print(f"  tcp: {connections} connections, {tcp_bytes} bytes echoed", flush=True)
    return codes, connections, tcp_bytes


# ---------------------------------------------------------------------------------------
# Metrics


def parse(text):
    """Samples of a Prometheus text exposition: (name, [(label, value)] in order, value)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels = re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', rest)
        samples.append((name, labels, float(value)))
    return samples


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return parse(r.read().decode())


def sum_by(samples, metric, label, where=None):
    out = {}
    for name, labels, value in samples:
        d = dict(labels)
        if name == metric and all(d.get(k) == v for k, v in (where or {}).items()):
            key = d.get(label, "") if label else ""
            out[key] = out.get(key, 0) + int(value)
    return out


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    return {tuple(sorted(x["metric"].items())): int(float(x["value"][1])) for x in body["data"]["result"]}


def wait_until(what, probe, want, seconds=30):
    deadline = time.monotonic() + seconds
    got = None
    while time.monotonic() < deadline:
        got = probe()
        if got == want:
            break
        time.sleep(0.5)
    check(what, got, want)


def expected_series(meshtel, scenario):
    """`meshtel labels` for a scenario: {metric: [labels in order]} of its samples."""
    text = subprocess.run([meshtel, "labels", "--scenario", "-"], input=json.dumps(scenario), check=True,
                          capture_output=True, text=True).stdout
    out = {}
    for name, labels, _ in parse(text):
        out.setdefault(name, []).append(labels)
    return out


def scenario(direction, protocol, code=None):
    outbound = direction == "outbound"
    s = {
        "direction": direction,
        "local": CLIENT_NODE if outbound else SERVER_NODE,
        "peer": SERVER_NODE if outbound else CLIENT_NODE,
        "protocol": protocol,
        "tls": {"local_san": em.CLIENT_SPIFFE if outbound else em.SERVER_SPIFFE,
                "peer_san": em.SERVER_SPIFFE if outbound else em.CLIENT_SPIFFE},
        "cluster": {"name": (em.OUT_HTTP if outbound else em.IN_HTTP) if protocol == "http"
                    else (em.OUT_TCP if outbound else em.IN_TCP), "metadata": em.SERVICES},
    }
    if protocol == "http":
        s["request"] = {"method": "GET", "path": "/", "response_code": int(code), "duration_ms": 1,
                        "request_bytes": 100, "response_bytes": 100}
        s["route"] = {"name": "default"}
    else:
        s["connection"] = {"sent_bytes": 1, "received_bytes": 1}
    return s


def check_labels(who, samples, meshtel, direction, codes, tcp=True):
    """Every istio_requests_total and (with `tcp`) istio_tcp_connections_opened_total series
    of `who` has exactly the labels, in order, that `meshtel labels` gives for the scenario."""
    wanted = []
    for code in codes:
        exp = expected_series(meshtel, scenario(direction, "http", code))
        wanted += [("istio_requests_total", labels) for labels in exp["istio_requests_total"]]
    exp = expected_series(meshtel, scenario(direction, "tcp"))
    wanted += [("istio_tcp_connections_opened_total", labels) for labels in exp["istio_tcp_connections_opened_total"]]
    for metric in ("istio_requests_total", "istio_tcp_connections_opened_total")[:2 if tcp else 1]:
        got = sorted(labels for name, labels, _ in samples if name == metric)
        want = sorted(labels for name, labels in wanted if name == metric)
        if got == want:
            print(f"  ok   {who} {metric}: {len(got)} series, labels and order equal to `meshtel labels`", flush=True)
            continue
        fail(f"{who} {metric} labels differ from `meshtel labels`")
        for labels in got:
            print(f"    got  {labels}")
        for labels in want:
            print(f"    want {labels}")


def check_buckets(who, samples, meshtel, direction):
    """Envoy's istio_request_duration_milliseconds buckets are the plugin's (Istio's)."""
    def bounds(series):
        return sorted({float(dict(labels)["le"]) for labels in series if dict(labels).get("le") not in (None, "+Inf")})
    exp = expected_series(meshtel, scenario(direction, "http", 200))
    want = bounds(exp["istio_request_duration_milliseconds_bucket"])
    got = bounds(labels for name, labels, _ in samples if name == "istio_request_duration_milliseconds_bucket")
    check(f"{who} istio_request_duration_milliseconds bucket bounds", got, want)


# ---------------------------------------------------------------------------------------
# Phases


def prometheus_config(work, client_admin, server_admin):
    path = work / "prometheus.yml"
    path.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: client
    metrics_path: /stats/prometheus
    static_configs: [{{targets: ["{client_admin}"]}}]
  - job_name: server
    metrics_path: /stats/prometheus
    static_configs: [{{targets: ["{server_admin}"]}}]
""")
    return path


def by_job(prometheus, expr, label):
    return {dict(k).get("job", "") + ("/" + dict(k).get(label, "") if label else ""): v
            for k, v in query(prometheus, expr).items()}


def phase_mesh(procs, args):
    print(f"\n=== two Envoys ({'without' if args.no_meshtel else 'with'} the meshtel module), scraped by Prometheus ===", flush=True)
    m = mesh(procs, "mesh", args, [])
    prom_port = em.free_port()
    prom = f"http://127.0.0.1:{prom_port}"
    procs.start("prometheus", ["prometheus", f"--config.file={prometheus_config(procs.work, m['client_admin'], m['server_admin'])}",
                               f"--storage.tsdb.path={procs.work / 'prom-data'}",
                               f"--web.listen-address=127.0.0.1:{prom_port}"])
    codes, conns, tcp_bytes = drive(m["client_http"], m["client_tcp"])
    total = sum(codes.values())

    # Envoy's own statistics, with or without the module. Envoy's default tag extraction
    # cuts `outbound|9080||ratings.default.svc.cluster.local` at its first dot, moving the
    # rest into the metric name.
    native = {f"client/{c}": n for c, n in codes.items()} | {f"server/{c}": n for c, n in codes.items()}
    wait_until("Prometheus: Envoy's upstream requests by job and code",
               lambda: by_job(prom, 'sum by (job, envoy_response_code) ({__name__=~"envoy_cluster(_default_svc_cluster_local)?_upstream_rq",'
                                 ' envoy_cluster_name=~"(outbound|inbound)\\\\|9080\\\\|.*"})', "envoy_response_code"),
               native)
    wait_until("Prometheus: Envoy's TCP proxy connections by job",
               lambda: by_job(prom, 'sum by (job) (envoy_tcp_downstream_cx_total{envoy_tcp_prefix=~"(outbound|inbound)_tcp"})', None),
               {"client": conns, "server": conns})
    # Envoy counts the bytes its connections read: on the server those include the client
    # sidecar's prefix frame, on the client (plaintext from the application) they do not.
    wait_until("Prometheus: the client Envoy's TCP proxy bytes from the application",
               lambda: by_job(prom, 'sum by (job) (envoy_tcp_downstream_cx_rx_bytes_total{envoy_tcp_prefix="outbound_tcp"})', None),
               {"client": tcp_bytes})
    if args.no_meshtel:
        return
    reporters = {f"client/source/{c}": n for c, n in codes.items()} | {
        f"server/destination/{c}": n for c, n in codes.items()}
    wait_until("Prometheus: istio_requests_total by job, reporter and response_code",
               lambda: {k: v for k, v in query_rs(prom).items()}, reporters)
    for metric, want in (("istio_tcp_connections_opened_total", conns), ("istio_tcp_connections_closed_total", conns),
                         ("istio_tcp_sent_bytes_total", tcp_bytes), ("istio_tcp_received_bytes_total", tcp_bytes)):
        wait_until(f"Prometheus: {metric} by job",
                   lambda metric=metric: by_job(prom, f"sum by (job) ({metric})", None),
                   {"client": want, "server": want})
    wait_until("Prometheus: istio_request_duration_milliseconds_count by job",
               lambda: by_job(prom, "sum by (job) (istio_request_duration_milliseconds_count)", None),
               {"client": total, "server": total})
    for who, direction in (("client", "outbound"), ("server", "inbound")):
        samples = scrape(f"http://{m[who + '_admin']}/stats/prometheus")
        check_labels(f"client Envoy ({direction})" if who == "client" else f"server Envoy ({direction})",
                     samples, args.meshtel, direction, codes)
        check_buckets(f"{who} Envoy", samples, args.meshtel, direction)
    print_request_lines(m)


def query_rs(prom):
    out = {}
    for k, v in query(prom, "sum by (job, reporter, response_code) (istio_requests_total)").items():
        d = dict(k)
        out[f"{d.get('job')}/{d.get('reporter')}/{d.get('response_code')}"] = v
    return out


def print_request_lines(m):
    """Envoy's own exposition lines for the 202s, for the record."""
    for who in ("client", "server"):
        with urllib.request.urlopen(f"http://{m[who + '_admin']}/stats/prometheus", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("istio_requests_total{") and 'response_code="202"' in line:
                    print(f"  {who} Envoy: {line}")


def phase_native(procs, args):
    """The meshtel-tower pair under the same traffic: the baseline the Envoys must equal."""
    print("\n=== baseline: the meshtel-tower sidecar pair, the same traffic ===", flush=True)
    t = demo(procs, "native", args, [])
    codes, conns, tcp_bytes = drive(t["client_http"], t["client_tcp"])
    for who, url, reporter, direction in (("tower client", t["client_metrics"], "source", "outbound"),
                                          ("tower server", t["server_metrics"], "destination", "inbound")):
        wait_until(f"{who}: istio_requests_total{{reporter={reporter!r}}} by response_code",
                   lambda url=url, reporter=reporter: sum_by(scrape(url), "istio_requests_total", "response_code",
                                                             {"reporter": reporter}), codes)
        wait_until(f"{who}: TCP connections closed and bytes received",
                   lambda url=url: (sum_by(scrape(url), "istio_tcp_connections_closed_total", None).get("", 0),
                                    sum_by(scrape(url), "istio_tcp_received_bytes_total", None).get("", 0)),
                   (conns, tcp_bytes))
        check_labels(who, scrape(url), args.meshtel, direction, codes)


def phase_interop(procs, args):
    print("\n=== interop: Envoy client -> meshtel-tower server; meshtel-tower client -> Envoy server ===", flush=True)
    pki = procs.work / "interop-pki"
    em.make_pki(pki)
    envoy_server = mesh(procs, "interop-envoy-server", args, ["--pki-dir", str(pki)])
    tower = demo(procs, "interop-tower", args, ["--pki-from", str(pki), "--upstream", envoy_server["server_mtls"],
                                                "--exchange-timeout", f"{INTEROP_EXCHANGE_TIMEOUT_S}s"])
    envoy_client = mesh(procs, "interop-envoy-client", args,
                        ["--pki-dir", str(pki), "--client-upstream", tower["server_plain"]])
    tower_server = lambda: scrape(tower["server_metrics"])  # noqa: E731
    tower_client = lambda: scrape(tower["client_metrics"])  # noqa: E731
    envoy_c = lambda: scrape(f"http://{envoy_client['client_admin']}/stats/prometheus")  # noqa: E731
    envoy_s = lambda: scrape(f"http://{envoy_server['server_admin']}/stats/prometheus")  # noqa: E731

    print("-- Envoy client sidecar -> meshtel-tower server sidecar", flush=True)
    codes, conns, nbytes = drive(envoy_client["client_http"], envoy_client["client_tcp"])
    wait_until("tower server: the Envoy client's peer header found on every request, its frame on every connection",
               lambda: nonzero(sum_by(tower_server(), "meshtel_demo_peer_exchange_total", "outcome")),
               {"header_found": sum(codes.values()), "frame_found": conns})
    for who, probe, reporter, direction in (("Envoy client", envoy_c, "source", "outbound"),
                                            ("tower server", tower_server, "destination", "inbound")):
        recorded(who, probe, reporter, codes, conns, nbytes)
        check_labels(who, probe(), args.meshtel, direction, codes)

    print("-- meshtel-tower client sidecar -> Envoy server sidecar", flush=True)
    # proxy-wasm gives a network filter no way to write toward the downstream unprompted: the
    # Envoy server's frame goes ahead of the first bytes from its upstream. The tower client
    # does not wait for it (`PeerExchange::start`, as Istio's own filter): it writes its frame,
    # forwards the application's bytes, and takes the server's frame off the first response
    # bytes, resolving the connection's peer then. Both sides find the peer and record the
    # same traffic with `meshtel labels`' labels; the echoed bytes come back intact.
    codes, conns, nbytes = drive(tower["client_http"], tower["client_tcp"])
    wait_until("tower client: the Envoy server's peer header found on every response, its frame on every connection",
               lambda: nonzero(sum_by(tower_client(), "meshtel_demo_peer_exchange_total", "outcome")),
               {"header_found": sum(codes.values()), "frame_found": conns})
    for who, probe, reporter, direction in (("tower client", tower_client, "source", "outbound"),
                                            ("Envoy server", envoy_s, "destination", "inbound")):
        recorded(who, probe, reporter, codes, conns, nbytes)
        check_labels(who, probe(), args.meshtel, direction, codes)


def recorded(who, probe, reporter, codes, conns, nbytes):
    """`who` recorded exactly the clients' requests by code, and `conns` TCP connections
    closed with `nbytes` application bytes received."""
    wait_until(f"{who}: istio_requests_total{{reporter={reporter!r}}} by response_code",
               lambda: sum_by(probe(), "istio_requests_total", "response_code", {"reporter": reporter}), codes)
    wait_until(f"{who}: TCP connections closed and bytes received",
               lambda: (sum_by(probe(), "istio_tcp_connections_closed_total", None).get("", 0),
                        sum_by(probe(), "istio_tcp_received_bytes_total", None).get("", 0)),
               (conns, nbytes))


def nonzero(counts):
    return {k: v for k, v in counts.items() if v}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meshtel", default=str(ROOT / "target/release/meshtel"))
    p.add_argument("--no-meshtel", action="store_true", help="Envoy without the module: Envoy's own counters only")
    p.add_argument("--phase", choices=["native", "mesh", "interop", "all"], default="all")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="e2e-envoy-"))
    procs = Procs(work)
    started = time.monotonic()
    try:
        if args.phase in ("native", "all"):
            phase_native(procs, args)
            procs.stop()
        if args.phase in ("mesh", "all"):
            phase_mesh(procs, args)
            procs.stop()
        if args.phase in ("interop", "all"):
            if args.no_meshtel:
                # Without the module the Envoys exchange nothing: the tower side's frame would
                # reach the application.
                print("\ninterop skipped: it needs the module")
            else:
                phase_interop(procs, args)
    finally:
        procs.stop()
    print(f"\nelapsed {time.monotonic() - started:.1f} s", flush=True)
    if FAILURES:
        for name in sorted(p.name for p in work.glob("*.log")):
            print(f"--- {name} (last lines):\n{(work / name).read_text(errors='replace')[-2500:]}", file=sys.stderr)
        sys.exit(f"{len(FAILURES)} check(s) failed")
    print("envoy end-to-end: all checks passed")


if __name__ == "__main__":
    main()
