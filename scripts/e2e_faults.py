#!/usr/bin/env python3
"""A bounded fault run against a running `meshtel demo --serve` (see e2e-faults.sh).

For --seconds, at once:
- load: hey (HTTP/1.1) and h2load (h2c) at the client sidecar, gRPC calls (grpcio);
- resets: HTTP/1.1 clients that reset (RST, SO_LINGER 0) in the middle of a 1 MiB response,
  TCP clients through the client sidecar reset mid-echo, gRPC Chat streams cancelled after
  a few replies;
- hostile peers, at the server sidecar's port, the client sidecar's HTTP listener and the
  metrics listener:
  garbage bytes, half-sent HTTP/1.1 heads, an HTTP/2 preface and nothing more, connections
  that send nothing at all, a TLS record of junk, and mTLS peers (with the mesh's own client
  certificate, --pki-dir) that negotiate istio-peer-exchange and then stall the exchange.
  Each must be closed by the sidecar within its timeout plus a grace period.

Then requires: the demo process alive, both metrics endpoints answering, a normal HTTP
request and a gRPC health check still served, the peak RSS under --rss-limit-mb, every
hostile connection closed by the sidecar, the timeouts counted
(meshtel_demo_timeouts_total), and istio_tcp_connections_opened_total equal to
istio_tcp_connections_closed_total on both sidecars once the load has stopped.
"""

import argparse
import json
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVER_DNS = "ratings.default.svc.cluster.local"


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            head, value = line.rsplit(" ", 1)
            name, _, rest = head.partition("{")
            out.append((name, dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest)), float(value)))
    return out


def total(samples, metric, **match):
    return sum(v for n, l, v in samples if n == metric and all(l.get(k) == w for k, w in match.items()))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reset(sock):
    """Closes with a TCP RST."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n


def closed_by_peer(sock, within):
    """Waits until the other end closes `sock` (EOF or reset): whether it did within `within` s."""
    sock.settimeout(within)
    deadline = time.time() + within
    try:
        while time.time() < deadline:
            data = sock.recv(65536)
            if not data:
                return True
        return False
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except (socket.timeout, TimeoutError):
        return False
    finally:
        sock.close()


def hostile(kind, target, tls_ctx, grace):
    """One hostile connection of `kind`: whether the sidecar closed it in time."""
    s = socket.create_connection(target, timeout=5)
    if kind == "garbage":
        s.sendall(os.urandom(random.randint(1, 4096)))
    elif kind == "half_head":
        s.sendall(b"GET /status/200 HTTP/1.1\r\nHost: ratings\r\nX-Slow: ")
    elif kind == "h2_preface":
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    elif kind == "silent":
        pass
    elif kind == "tls_junk":
        s.sendall(b"\x16\x03\x01\x00\x40" + os.urandom(64))
    elif kind == "stalled_exchange":
        try:
            s = tls_ctx.wrap_socket(s, server_hostname=SERVER_DNS)
        except (ssl.SSLError, OSError):
            return True
        if s.selected_alpn_protocol() != "istio-peer-exchange":
            raise SystemExit(f"ALPN {s.selected_alpn_protocol()!r}, not istio-peer-exchange")
        # The server sidecar's frame arrives; ours never does.
    return closed_by_peer(s, grace)


HOSTILE_KINDS = ["garbage", "half_head", "h2_preface", "silent", "tls_junk", "stalled_exchange"]


def hostile_loop(stop, kind, ep, tls_ctx, grace, stats):
    """Hostile connections of one kind, in turn at each listener it applies to."""
    names = ["server_plain"] if kind in ("tls_junk", "stalled_exchange") else ["server_plain", "client_http", "metrics"]
    while not stop.is_set():
        for name in names:
            if stop.is_set():
                return
            try:
                ok = hostile(kind, addr(ep[name]), tls_ctx, grace)
            except OSError:
                ok = True
            stats.add(f"hostile {kind} -> {name}")
            if not ok:
                stats.add(f"NOT CLOSED {kind} -> {name}")


def http_reset_loop(stop, ep, stats):
    while not stop.is_set():
        s = socket.create_connection(addr(ep["client_http"]), timeout=5)
        s.sendall(b"GET /bytes/1048576 HTTP/1.1\r\nHost: ratings\r\n\r\n")
        try:
            s.recv(random.randint(100, 20000))
        except OSError:
            pass
        reset(s)
        stats.add("http reset mid-response")


def tcp_loop(stop, ep, stats):
    while not stop.is_set():
        s = socket.create_connection(addr(ep["client_tcp"]), timeout=10)
        payload = os.urandom(random.randint(1, 8192))
        s.sendall(payload)
        if random.random() < 0.5:
            try:
                s.recv(random.randint(1, len(payload)))
            except OSError:
                pass
            reset(s)
            stats.add("tcp reset mid-echo")
        else:
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.shutdown(socket.SHUT_WR)
            s.close()
            stats.add("tcp echoed" if got == payload else "TCP ECHO MISMATCH")


def grpc_loop(stop, ep, stats):
    ident = lambda b: b  # noqa: E731
    with grpc.insecure_channel(ep["client_grpc"]) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        chat = channel.stream_stream("/meshtel.demo.v1.Echo/Chat", request_serializer=ident, response_deserializer=ident)
        while not stop.is_set():
            try:
                health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
                stats.add("grpc health ok")
            except grpc.RpcError as e:
                stats.add(f"grpc health {e.code().name}")

            def requests():
                for _ in range(1000):
                    yield b"\x0a\x02hi\x10\x05"
                    time.sleep(0.001)

            call = chat(requests())
            try:
                for i, _ in enumerate(call):
                    if i == 7:
                        call.cancel()
                        break
            except grpc.RpcError:
                pass
            stats.add("grpc chat cancelled")


def tls_context(pki):
    def pem(der_file, kind):
        with open(os.path.join(pki, der_file), "rb") as f:
            der = f.read()
        import base64

        body = base64.encodebytes(der).decode()
        return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n"

    tmp = tempfile.mkdtemp()
    chain = os.path.join(tmp, "client.pem")
    with open(chain, "w") as f:
        f.write(pem("client.der", "CERTIFICATE"))
        f.write(pem("client.key.der", "PRIVATE KEY"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pem("ca.der", "CERTIFICATE"))
    ctx.load_cert_chain(chain)
    ctx.set_alpn_protocols(["istio-peer-exchange", "istio"])
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--pki-dir", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--grace", type=float, default=5, help="timeout plus this: a hostile peer must be closed by then")
    ap.add_argument("--rss-limit-mb", type=float, default=256)
    args = ap.parse_args()
    with open(args.endpoints) as f:
        ep = json.load(f)
    tls_ctx = tls_context(args.pki_dir)
    stats, stop = Stats(), threading.Event()
    secs = max(1, int(args.seconds))
    base = f"http://{ep['client_http']}"
    tools = [
        subprocess.Popen(["hey", "-z", f"{secs}s", "-c", "4", f"{base}/bytes/2048"], stdout=subprocess.PIPE, text=True),
        subprocess.Popen(["h2load", "-D", str(secs), "-c", "2", "-m", "4", f"{base}/status/200"], stdout=subprocess.PIPE, text=True),
    ]
    loops = [(hostile_loop, (kind, ep, tls_ctx, args.grace, stats)) for kind in HOSTILE_KINDS]
    loops += [(http_reset_loop, (ep, stats)), (tcp_loop, (ep, stats)), (tcp_loop, (ep, stats)), (grpc_loop, (ep, stats))]
    threads = [threading.Thread(target=f, args=(stop, *a), daemon=True) for f, a in loops]
    for t in threads:
        t.start()
    peak = 0
    start = time.time()
    while time.time() - start < args.seconds:
        peak = max(peak, rss_kib(args.pid))
        time.sleep(0.25)
    stop.set()
    for t in threads:
        t.join(args.grace + 15)
    outputs = [p.communicate(timeout=60)[0] for p in tools]
    peak = max(peak, rss_kib(args.pid))

    failures = []
    os.kill(args.pid, 0)  # raises when the demo died
    for label, out in zip(("hey", "h2load"), outputs):
        summary = re.findall(r"\[(\d+)\]\s+(\d+) responses", out) if label == "hey" else re.findall(r"requests: .*", out)
        print(f"{label}: {summary}")
    print("fault run:")
    for key in sorted(stats.counts):
        print(f"  {key}: {stats.counts[key]}")
        if key.startswith(("NOT CLOSED", "TCP ECHO MISMATCH")):
            failures.append(f"{key}: {stats.counts[key]}")
    with urllib.request.urlopen(f"{base}/status/200", timeout=10) as r:
        assert r.status == 200
    with grpc.insecure_channel(ep["client_grpc"]) as channel:
        r = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
    print("after the faults: an HTTP request and a gRPC health check still served")
    print(f"peak RSS of the demo process (both sidecars and the backends; the load tools run apart): {peak / 1024:.1f} MiB (limit {args.rss_limit_mb:g})")
    if peak / 1024 > args.rss_limit_mb:
        failures.append(f"peak RSS {peak / 1024:.1f} MiB over {args.rss_limit_mb} MiB")

    deadline = time.time() + 20
    while True:
        samples = {side: scrape(ep[f"{side}_metrics"]) for side in ("client", "server")}
        tcp = {
            side: (total(s, "istio_tcp_connections_opened_total"), total(s, "istio_tcp_connections_closed_total"))
            for side, s in samples.items()
        }
        if all(o == c for o, c in tcp.values()) or time.time() > deadline:
            break
        time.sleep(0.5)
    for side, (opened, closed) in tcp.items():
        print(f"{side}: istio_tcp_connections_opened_total {opened:g}, closed {closed:g}")
        if opened != closed:
            failures.append(f"{side}: {opened:g} TCP connections opened, {closed:g} closed")
    for side, s in samples.items():
        by = {l["reason"]: int(v) for n, l, v in s if n == "meshtel_demo_timeouts_total"}
        print(f"{side}: meshtel_demo_timeouts_total {by}")
    server = {l["reason"]: v for n, l, v in samples["server"] if n == "meshtel_demo_timeouts_total"}
    client = {l["reason"]: v for n, l, v in samples["client"] if n == "meshtel_demo_timeouts_total"}
    for side, by, reason in (("server", server, "exchange"), ("server", server, "handshake"),
                             ("server", server, "header_read"), ("client", client, "header_read"),
                             ("client", client, "idle")):
        if by.get(reason, 0) == 0:
            failures.append(f"{side}: no {reason} timeout counted")
    if failures:
        sys.exit("fault run FAILED:\n  " + "\n  ".join(failures))
    print("fault run passed: no sidecar died, RSS bounded, every hostile peer closed, TCP opened == closed")


if __name__ == "__main__":
    main()
