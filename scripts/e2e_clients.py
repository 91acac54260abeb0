#!/usr/bin/env python3
"""Third-party clients through a running `meshtel demo --serve --requests 0 --connections 0`.

Reads the demo's --endpoints file, drives

- h2load (nghttp2, HTTP/2 over cleartext with prior knowledge) and hey (HTTP/1.1) to the
  client sidecar's HTTP listener, each at its own response code, so that every count can be
  told apart in the metrics;
- Python grpcio: grpc.health.v1.Health/Check (grpcio-health-checking) and the demo service
  meshtel.demo.v1.Echo (unary and the three streaming kinds, statuses chosen per call)
  through the same listener;

then scrapes both sidecars' metrics and requires istio_requests_total to equal, exactly,
what the clients themselves reported: by response code for HTTP, by grpc_response_status
for gRPC, on the client sidecar (reporter="source") and the server sidecar
(reporter="destination"); and istio_request_messages_total / istio_response_messages_total
to equal the messages grpcio sent and received. Exits non-zero on any difference.
"""

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        samples.append((name, labels, float(value)))
    return samples


def requests_by(samples, protocol, label):
    out = {}
    for name, labels, value in samples:
        if name == "istio_requests_total" and labels.get("request_protocol") == protocol:
            out[labels[label]] = out.get(labels[label], 0) + int(value)
    return out


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def h2load(base, path, n, code_class):
    out = run(["h2load", "-n", str(n), "-c", "4", "-m", "8", f"{base}{path}"])
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    proto = re.search(r"Application protocol: (\S+)", out)
    if not (done and codes):
        sys.exit(f"h2load output not understood:\n{out}")
    by_class = dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, codes.groups())))
    print(f"  h2load {path}: {done.group(3)} done, {done.group(5)} failed, {by_class}, protocol {proto and proto.group(1)}")
    if proto and proto.group(1) != "h2c":
        sys.exit(f"h2load did not speak h2c: {proto.group(1)}")
    return by_class[code_class]


def hey(base, path, n):
    out = run(["hey", "-n", str(n), "-c", "5", f"{base}{path}"])
    dist = dict((code, int(count)) for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    if "Error distribution" in out:
        print(out)
    print(f"  hey {path}: status code distribution {dist}")
    return dist


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def echo_request(message="", count=0, status=0):
    """meshtel.demo.v1.EchoRequest (proto/echo.proto), encoded by hand."""
    b = b""
    if message:
        m = message.encode()
        b += b"\x0a" + varint(len(m)) + m
    if count:
        b += b"\x10" + varint(count)
    if status:
        b += b"\x18" + varint(status)
    return b


def grpc_calls(target, rounds):
    """Health checks and Echo calls; returns ({status: calls}, messages sent, received)."""
    calls, sent, received = {}, 0, 0

    def note(code):
        calls[str(code)] = calls.get(str(code), 0) + 1

    ident = lambda b: b  # noqa: E731
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        say = channel.unary_unary("/meshtel.demo.v1.Echo/Say", request_serializer=ident, response_deserializer=ident)
        expand = channel.unary_stream("/meshtel.demo.v1.Echo/Expand", request_serializer=ident, response_deserializer=ident)
        collect = channel.stream_unary("/meshtel.demo.v1.Echo/Collect", request_serializer=ident, response_deserializer=ident)
        chat = channel.stream_stream("/meshtel.demo.v1.Echo/Chat", request_serializer=ident, response_deserializer=ident)
        statuses = [0, 3, 0, 9, 0, 14]
        for i in range(rounds):
            status = statuses[i % len(statuses)]
            # Health: the server's overall health, and a service it does not know (NOT_FOUND).
            try:
                r = health.Check(health_pb2.HealthCheckRequest(service=""))
                assert r.status == health_pb2.HealthCheckResponse.SERVING, r
                note(0)
                received += 1
            except grpc.RpcError as e:
                note(e.code().value[0])
            sent += 1
            if i % 3 == 0:
                try:
                    health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
                    note(0)
                    received += 1
                except grpc.RpcError as e:
                    note(e.code().value[0])
                sent += 1
            try:
                say(echo_request(f"say {i}", 0, status))
                note(0)
                received += 1
            except grpc.RpcError as e:
                note(e.code().value[0])
            sent += 1
            stream = expand(echo_request(f"expand {i}", 4, status))
            sent += 1
            try:
                for _ in stream:
                    received += 1
                note(0)
            except grpc.RpcError as e:
                note(e.code().value[0])
            reqs = [echo_request(f"collect {i}.{k}", 0, status if k == 1 else 0) for k in range(3)]
            sent += len(reqs)
            try:
                collect(iter(reqs))
                note(0)
                received += 1
            except grpc.RpcError as e:
                note(e.code().value[0])
            reqs = [echo_request(f"chat {i}.{k}", 2, status if k == 2 else 0) for k in range(4)]
            sent += len(reqs)
            stream = chat(iter(reqs))
            try:
                for _ in stream:
                    received += 1
                note(0)
            except grpc.RpcError as e:
                note(e.code().value[0])
    return calls, sent, received


def messages(samples):
    """(istio_request_messages_total, istio_response_messages_total) summed over a scrape."""
    req = sum(v for n, _, v in samples if n == "istio_request_messages_total")
    resp = sum(v for n, _, v in samples if n == "istio_response_messages_total")
    return req, resp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--h2load-requests", type=int, default=400)
    ap.add_argument("--hey-requests", type=int, default=300)
    ap.add_argument("--grpc-rounds", type=int, default=12)
    args = ap.parse_args()
    with open(args.endpoints) as f:
        ep = json.load(f)
    base = f"http://{ep['client_http']}"

    before = {side: scrape(ep[f"{side}_metrics"]) for side in ("client", "server")}
    if any(requests_by(s, p, "response_code") for s in before.values() for p in ("http", "grpc")):
        sys.exit("the sidecars have recorded requests already: start the demo with --requests 0")

    expected_http = {}
    n200 = h2load(base, "/bytes/512", args.h2load_requests, "2xx")
    n503 = h2load(base, "/status/503", args.h2load_requests // 4, "5xx")
    expected_http["200"] = n200
    expected_http["503"] = n503
    for code, n in hey(base, "/status/202", args.hey_requests).items():
        expected_http[code] = expected_http.get(code, 0) + n
    grpc_expected, sent, received = grpc_calls(ep["client_grpc"], args.grpc_rounds)
    print(f"  grpcio: calls by status {dict(sorted(grpc_expected.items()))}, {sent} messages sent, {received} received")

    failures = 0
    deadline = time.time() + 20
    while True:
        got = {side: scrape(ep[f"{side}_metrics"]) for side in ("client", "server")}
        results = []
        for side, reporter in (("client", "source"), ("server", "destination")):
            http = requests_by(got[side], "http", "response_code")
            grpcs = requests_by(got[side], "grpc", "grpc_response_status")
            results.append((side, reporter, http, grpcs))
        ok = all(h == expected_http and g == grpc_expected for _, _, h, g in results)
        ok = ok and all(messages(got[side]) == (sent, received) for side in ("client", "server"))
        if ok or time.time() > deadline:
            break
        time.sleep(0.5)

    print()
    print(f"{'sidecar':<8} {'protocol':<6} {'status':>6} {'clients':>8} {'metrics':>8}")
    for side, reporter, http, grpcs in results:
        for proto, want, have in (("http", expected_http, http), ("grpc", grpc_expected, grpcs)):
            for key in sorted(set(want) | set(have), key=int):
                w, h = want.get(key, 0), have.get(key, 0)
                mark = "" if w == h else "   MISMATCH"
                failures += w != h
                print(f"{side:<8} {proto:<6} {key:>6} {w:>8} {h:>8}{mark}")
        req, resp = messages(got[side])
        mark = "" if (req, resp) == (sent, received) else "   MISMATCH"
        failures += (req, resp) != (sent, received)
        print(f"{side:<8} grpc messages: clients sent {sent}, received {received}; metrics {req:g}/{resp:g}{mark}")
    total = sum(expected_http.values()) + sum(grpc_expected.values())
    if failures:
        sys.exit(f"third-party clients vs metrics: {failures} mismatches")
    print(f"third-party clients vs metrics: {total} requests, every count equal on both sidecars")


if __name__ == "__main__":
    main()
