"""Checks the demo's OTLP pushes against its own registries (called by e2e-otlp.sh).

Waits for the demo's load to finish, then until the OTLP receiver's latest accepted snapshot
of each sidecar (keyed by the resource's service.instance.id) equals the sidecar's text
exposition: every counter, gauge and histogram family (the registries' own meshtel_metrics_*
self-observation aside, which moves with every render), every series' attributes, every
value, histogram count, sum, explicit bounds and per-bucket counts; sums cumulative and
monotonic. Also checks the resource attributes. With --faults, prints what the fault run did:
the receiver's counts, the pusher's own meshtel_push_* health and the demo's memory.
"""

import argparse
import json
import math
import os
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
RESOURCES = {
    "client": {"service.name": "productpage-v1", "k8s.pod.name": "productpage-v1-84975bc778-pxz2w"},
    "server": {"service.name": "ratings-v1", "k8s.pod.name": "ratings-v1-5f8d"},
}


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def frozen(d):
    return tuple(sorted(d.items()))


def expected(text):
    """{(name, attributes): point} from a text exposition, in the receiver's terms."""
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name.startswith("meshtel_metrics_"):
            continue
        if fam.type == "counter":
            for s in fam.samples:
                if s.name.endswith("_total"):
                    out[(fam.name, frozen(s.labels))] = {"kind": "sum", "value": s.value}
        elif fam.type == "gauge":
            for s in fam.samples:
                out[(fam.name, frozen(s.labels))] = {"kind": "gauge", "value": s.value}
        elif fam.type == "histogram":
            series = {}
            for s in fam.samples:
                labels = {k: v for k, v in s.labels.items() if k != "le"}
                h = series.setdefault(frozen(labels), {"kind": "histogram", "le": {}, "count": 0, "sum": 0.0})
                if s.name.endswith("_bucket"):
                    h["le"][float(s.labels["le"])] = s.value
                elif s.name.endswith("_count"):
                    h["count"] = s.value
                elif s.name.endswith("_sum"):
                    h["sum"] = s.value
            for key, h in series.items():
                cumulative = sorted(h.pop("le").items())
                h["bounds"] = [le for le, _ in cumulative if le != math.inf]
                h["bucket_counts"] = [c - (cumulative[i - 1][1] if i else 0) for i, (_, c) in enumerate(cumulative)]
                out[(fam.name, key)] = h
    return out


def received(snapshot):
    """{(name, attributes): point} from the receiver's snapshot of one resource."""
    out = {}
    for name, m in snapshot["metrics"].items():
        if name.startswith("meshtel_metrics_"):
            continue
        for p in m["points"]:
            key = (name, frozen({k: str(v) for k, v in p["attributes"].items()}))
            if p["kind"] == "sum":
                assert p["monotonic"] and p["temporality"] == CUMULATIVE, (name, p)
                out[key] = {"kind": "sum", "value": float(p["value"])}
            elif p["kind"] == "gauge":
                out[key] = {"kind": "gauge", "value": float(p["value"])}
            elif p["kind"] == "histogram":
                assert p["temporality"] == CUMULATIVE, (name, p)
                out[key] = {"kind": "histogram", "count": float(p["count"]), "sum": p["sum"],
                            "bounds": p["bounds"], "bucket_counts": [float(c) for c in p["bucket_counts"]]}
            else:
                out[key] = p
    return out


def diff(want, got):
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [(k, want[k], got[k]) for k in want if k in got and want[k] != got[k]]
    return missing, extra, wrong


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--receiver", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--demo-pid", type=int, required=True)
    ap.add_argument("--faults", action="store_true")
    args = ap.parse_args()

    rss = [rss_kib(args.demo_pid)]
    deadline = time.time() + 120
    while not os.path.exists(args.truth):
        if time.time() > deadline:
            sys.exit("the demo's load did not finish")
        rss.append(rss_kib(args.demo_pid))
        time.sleep(0.2)
    with open(args.truth) as f:
        truth = json.load(f)
    want = {side: expected(fetch(f"{args.metrics}/{side}/metrics")) for side in ("client", "server")}

    last = None
    deadline = time.time() + 60
    while True:
        rss.append(rss_kib(args.demo_pid))
        state = json.loads(fetch(f"{args.receiver}/state"))
        snapshots = state["snapshots"]
        results = {side: diff(want[side], received(snapshots[side])) if side in snapshots else None
                   for side in want}
        if all(r is not None and not any(r) for r in results.values()):
            break
        last = results
        if time.time() > deadline:
            for side, r in (last or {}).items():
                if r is None:
                    print(f"{side}: no accepted snapshot", file=sys.stderr)
                    continue
                missing, extra, wrong = r
                print(f"{side}: {len(missing)} missing, {len(extra)} extra, {len(wrong)} different", file=sys.stderr)
                for item in (missing[:3], extra[:3], wrong[:3]):
                    for x in item:
                        print(f"  {x}", file=sys.stderr)
            sys.exit("the receiver's latest snapshot never matched the registries")
        time.sleep(0.5)

    for side in ("client", "server"):
        resource = snapshots[side]["resource"]
        for k, v in RESOURCES[side].items():
            assert resource.get(k) == v, (side, k, resource)
        kinds = {}
        for point in want[side].values():
            kinds[point["kind"]] = kinds.get(point["kind"], 0) + 1
        families = len({name for name, _ in want[side]})
        print(f"OTLP {side}: resource {resource}")
        print(f"  latest accepted snapshot == registry: {families} families, "
              f"{sum(kinds.values())} points ({kinds}), every attribute and value")
    requests = sum(c["calls"] for c in truth.get("grpc", {}).get("calls", {}).values())
    mesh = sum(truth["mesh_requests"].values())
    client = received(snapshots["client"])
    got = sum(p["value"] for (name, _), p in client.items() if name == "istio_requests")
    assert got == mesh + requests, (got, mesh, requests)
    print(f"  istio_requests (client, OTLP) = {got:g} = {mesh} HTTP + {requests} gRPC from the load generator")

    counts = state["counts"]
    assert counts["decode_errors"] == 0 and counts["bad_requests"] == 0, counts
    print(f"receiver: {counts}")
    health = fetch(f"{args.metrics}/push/metrics")
    figures = [l for l in health.splitlines() if l.startswith("meshtel_push_") and not l.endswith(" 0")
               and "_bucket" not in l]
    if args.faults:
        assert counts["503"] > 0 and counts["timeout"] > 0 and counts["drop"] > 0, counts
        for reason in ("server_error", "timeout", "transport"):
            assert any(f'reason="{reason}"' in l for l in figures), (reason, figures)
        print("fault run: the pusher's own health (non-zero series):")
        for line in figures:
            print(f"  {line}")
        print(f"fault run: demo RSS {min(rss) / 1024:.1f}..{max(rss) / 1024:.1f} MiB over {len(rss)} samples; "
              "no increment lost (the final accepted snapshot equals the registries)")
    print("OTLP end-to-end check passed" + (" (with faults)" if args.faults else ""))


if __name__ == "__main__":
    main()
