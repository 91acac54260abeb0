"""An OTLP/HTTP metrics receiver on the official `opentelemetry-proto` package (PyPI), for
scripts/e2e-otlp.sh.

POST /v1/metrics (application/x-protobuf): every request is decoded as an
ExportMetricsServiceRequest (a body that does not decode is answered 400 and counted);
the points of each accepted request replace the receiver's latest snapshot of the resource
it came from (keyed by the resource's `service.instance.id`). GET /state returns that
snapshot and the receiver's counts as JSON.

--faults: a comma-separated schedule applied per resource, request by request, cycling:
`ok`, `503`, `timeout` (hold the request `--hang` seconds, longer than the pusher's timeout,
then answer 503 to nobody) and `drop` (close the connection without an answer). A request
whose fault is not `ok` is not accepted: its points are not stored.
"""

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)


def any_value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def points(metric):
    """The metric's data points as plain dicts."""
    kind = metric.WhichOneof("data")
    out = []
    if kind == "sum":
        for p in metric.sum.data_points:
            out.append({"kind": "sum", "monotonic": metric.sum.is_monotonic,
                        "temporality": metric.sum.aggregation_temporality,
                        "attributes": attrs(p.attributes), "value": p.as_int if p.HasField("as_int") else p.as_double,
                        "start": p.start_time_unix_nano, "time": p.time_unix_nano})
    elif kind == "gauge":
        for p in metric.gauge.data_points:
            out.append({"kind": "gauge", "attributes": attrs(p.attributes),
                        "value": p.as_int if p.HasField("as_int") else p.as_double, "time": p.time_unix_nano})
    elif kind == "histogram":
        for p in metric.histogram.data_points:
            out.append({"kind": "histogram", "temporality": metric.histogram.aggregation_temporality,
                        "attributes": attrs(p.attributes), "count": p.count, "sum": p.sum,
                        "bounds": list(p.explicit_bounds), "bucket_counts": list(p.bucket_counts),
                        "start": p.start_time_unix_nano, "time": p.time_unix_nano})
    elif kind == "exponential_histogram":
        for p in metric.exponential_histogram.data_points:
            out.append({"kind": "exponential_histogram", "attributes": attrs(p.attributes), "count": p.count,
                        "sum": p.sum, "scale": p.scale, "zero_count": p.zero_count,
                        "positive": {"offset": p.positive.offset, "bucket_counts": list(p.positive.bucket_counts)},
                        "negative": {"offset": p.negative.offset, "bucket_counts": list(p.negative.bucket_counts)},
                        "time": p.time_unix_nano})
    return kind, out


class State:
    def __init__(self, faults, hang):
        self.lock = threading.Lock()
        self.faults = faults
        self.hang = hang
        self.snapshots = {}
        self.per_resource = {}
        self.counts = {"requests": 0, "accepted": 0, "decode_errors": 0, "bad_requests": 0,
                       "503": 0, "timeout": 0, "drop": 0, "points": 0, "max_body_bytes": 0}

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fault_for(self, resource):
        with self.lock:
            i = self.per_resource.get(resource, 0)
            self.per_resource[resource] = i + 1
        return self.faults[i % len(self.faults)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="application/x-protobuf"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/state":
            return self.reply(404, b"not found\n", "text/plain")
        with self.state.lock:
            body = json.dumps({"counts": self.state.counts, "snapshots": self.state.snapshots}).encode()
        self.reply(200, body, "application/json")

    def do_POST(self):
        st = self.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        st.count("requests")
        with st.lock:
            st.counts["max_body_bytes"] = max(st.counts["max_body_bytes"], len(body))
        if self.path != "/v1/metrics" or self.headers.get("Content-Type") != "application/x-protobuf":
            st.count("bad_requests")
            return self.reply(400, f"want POST /v1/metrics application/x-protobuf, got {self.path}".encode(), "text/plain")
        request = ExportMetricsServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as e:
            st.count("decode_errors")
            return self.reply(400, f"not an ExportMetricsServiceRequest: {e}".encode(), "text/plain")
        snapshots = {}
        for rm in request.resource_metrics:
            resource = attrs(rm.resource.attributes)
            key = resource.get("service.instance.id", "")
            metrics = snapshots.setdefault(key, {"resource": resource, "scopes": [], "metrics": {}})
            for sm in rm.scope_metrics:
                metrics["scopes"].append(sm.scope.name)
                for m in sm.metrics:
                    kind, pts = points(m)
                    metrics["metrics"].setdefault(m.name, {"kind": kind, "unit": m.unit, "description": m.description,
                                                           "points": []})["points"].extend(pts)
        fault = st.fault_for(",".join(sorted(snapshots)))
        if fault == "503":
            st.count("503")
            return self.reply(503, b"injected 503\n", "text/plain")
        if fault == "timeout":
            st.count("timeout")
            time.sleep(st.hang)
            try:
                self.reply(503, b"too late\n", "text/plain")
            except OSError:
                pass
            self.close_connection = True
            return
        if fault == "drop":
            st.count("drop")
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        with st.lock:
            st.snapshots.update(snapshots)
            st.counts["accepted"] += 1
            st.counts["points"] += sum(len(m["points"]) for s in snapshots.values() for m in s["metrics"].values())
        self.reply(200, ExportMetricsServiceResponse().SerializeToString())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--faults", default="ok")
    ap.add_argument("--hang", type=float, default=1.5)
    args = ap.parse_args()
    faults = args.faults.split(",")
    unknown = [f for f in faults if f not in ("ok", "503", "timeout", "drop")]
    if unknown:
        sys.exit(f"unknown faults {unknown}")
    Handler.state = State(faults, args.hang)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
