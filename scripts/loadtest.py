#!/usr/bin/env python3
"""The load test (run through scripts/loadtest.sh; docs/performance.md). Not a timed test:
it measures and prints, and fails only when a run fails.

The same h2load load (h2c to the client sidecar's HTTP listener: fixed requests,
connections and concurrent streams, one path, after a warm-up of its own) through

  (a) two Envoys, mTLS between them, no meshtel (scripts/envoy-mesh.sh --no-meshtel),
  (b) the same two Envoys with the meshtel proxy-wasm module (scripts/envoy-mesh.sh),
  (c) the meshtel-tower sidecar pair (`meshtel demo --serve`),

each against the same HTTP backend (the demo's, hyper); one row each: requests per second,
the p50 and p99 of the per-request times h2load logs (--log-file), and the CPU time (user +
system) the setup's processes (sidecars and backend) spent per request during the measured
run, which other load on the machine moves far less than throughput. Goals: (b) at least
90% of (a)'s throughput, (c) at least (a)'s.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from e2e_envoy import Procs, demo, mesh


def h2load(url, requests, connections, streams, log=None):
    cmd = ["h2load", "-n", str(requests), "-c", str(connections), "-m", str(streams)]
    if log:
        cmd.append(f"--log-file={log}")
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    if not done or not rps or int(done.group(4)) != requests:
        sys.exit(f"h2load did not complete every request:\n{out}")
    return float(rps.group(1))


def percentiles(log):
    """p50 and p99 in milliseconds of h2load's per-request log (third column: microseconds)."""
    times = sorted(int(line.split("\t")[2]) for line in Path(log).read_text().splitlines() if line)
    q = statistics.quantiles(times, n=100, method="inclusive")
    return q[49] / 1000, q[98] / 1000


def cpu_seconds(root):
    """User + system CPU time of process `root` and all its descendants (sidecars, backends)."""
    parents, ticks = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def measure(args, work, name, client_http, root):
    url = f"http://{client_http}{args.path}"
    h2load(url, args.warmup, args.connections, args.streams)
    log = work / f"{name}.tsv"
    before = cpu_seconds(root)
    rps = h2load(url, args.requests, args.connections, args.streams, log)
    cpu_us = (cpu_seconds(root) - before) * 1e6 / args.requests
    p50, p99 = percentiles(log)
    print(f"  {name}: {rps:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, {cpu_us:.0f} µs CPU/request", flush=True)
    return rps, p50, p99, cpu_us


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meshtel", required=True)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--streams", type=int, default=16)
    p.add_argument("--path", default="/bytes/512")
    p.add_argument("--out", help="also write the table (Markdown) here")
    args = p.parse_args()
    args.no_meshtel = False
    work = Path(tempfile.mkdtemp(prefix="loadtest-"))
    procs = Procs(work)
    rows = []
    rows_spec = [
        ("(a) Envoy pair, mTLS, no meshtel", lambda: mesh(procs, "a", args_with(args, True), [])),
        ("(b) Envoy pair, mTLS, meshtel module", lambda: mesh(procs, "b", args_with(args, False), [])),
        ("(c) meshtel-tower sidecar pair", lambda: demo(procs, "c", args, [])),
    ]
    try:
        for label, start in rows_spec:
            endpoints = start()
            root = procs.procs[-1][1].pid
            rows.append((label, *measure(args, work, label[:3].strip("()"), endpoints["client_http"], root)))
            procs.stop()
    finally:
        procs.stop()
    base = rows[0][1]
    lines = [
        f"h2load -n {args.requests} -c {args.connections} -m {args.streams} (h2c) to {args.path}, "
        f"after {args.warmup} warm-up requests",
        "",
        "| setup | req/s | vs (a) | p50 ms | p99 ms | CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, rps, p50, p99, cpu_us in rows:
        lines.append(f"| {label} | {rps:.0f} | {100 * rps / base:.0f}% | {p50:.2f} | {p99:.2f} | {cpu_us:.0f} |")
    b, c = rows[1][1], rows[2][1]
    lines += ["", f"goals: (b) >= 90% of (a): {'met' if b >= 0.9 * base else 'NOT met'} ({100 * b / base:.0f}%); "
              f"(c) >= (a): {'met' if c >= base else 'NOT met'} ({100 * c / base:.0f}%)"]
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        Path(args.out).write_text(table + "\n")


def args_with(args, no_meshtel):
    copy = argparse.Namespace(**vars(args))
    copy.no_meshtel = no_meshtel
    return copy


if __name__ == "__main__":
    main()
