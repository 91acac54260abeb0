#!/usr/bin/env python3
"""Validates meshtel-metrics' exposition with independent parsers.

Usage: check_exposition.py DIR   (DIR from `cargo run -p meshtel-metrics --example sample -- DIR`)

Parses DIR/metrics.prom with prometheus_client's Prometheus text parser and
DIR/metrics.om with its OpenMetrics parser (which rejects anything outside
the OpenMetrics grammar), then checks what they read: every hostile label
value comes back exactly, counters and histograms are consistent.
"""

import json
import math
import sys
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_prom


def check(families, expected, fmt):
    by_name = {f.name: f for f in families}
    requests = by_name["sample_requests"]  # both parsers strip _total from counter families
    assert requests.type == "counter", (fmt, requests.type)
    got = [s.labels for s in requests.samples if s.name == "sample_requests_total" and s.labels["reporter"] != "__overflow__"]
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, expected)), (fmt, got, expected)
    overflow = [s for s in requests.samples if s.labels.get("reporter") == "__overflow__"]
    assert len(overflow) == 1 and overflow[0].value == 1, (fmt, overflow)

    for name in ("sample_request_duration_milliseconds", "sample_request_bytes"):
        h = by_name[name]
        assert h.type == "histogram", (fmt, name, h.type)
        series = {}
        for s in h.samples:
            key = json.dumps({k: v for k, v in s.labels.items() if k != "le"}, sort_keys=True)
            series.setdefault(key, {}).setdefault(s.name[len(name):], []).append(s)
        assert len(series) == 9, (fmt, name, len(series))
        for key, parts in series.items():
            buckets = parts["_bucket"]
            les = [float(b.labels["le"]) for b in buckets]
            assert les == sorted(les) and math.isinf(les[-1]), (fmt, name, les)
            counts = [b.value for b in buckets]
            assert counts == sorted(counts), (fmt, name, counts)
            assert counts[-1] == parts["_count"][0].value, (fmt, name, key)
            assert "_sum" in parts
    gauges = {s.labels["kind"]: s.value for s in by_name["sample_ratio"].samples}
    assert gauges["a"] == 0.25 and math.isinf(gauges["b"]), (fmt, gauges)
    inflight = {s.labels["kind"]: s.value for s in by_name["sample_inflight"].samples}
    assert inflight == {"a": -3, "b": 0}, (fmt, inflight)
    truncated = [s for s in by_name["meshtel_metrics_truncated_label_values"].samples if s.labels["group"] == "http"]
    assert truncated[0].value == 1, (fmt, truncated)
    return len(families)


def main():
    d = Path(sys.argv[1])
    expected = json.loads((d / "expected.json").read_text(encoding="utf-8"))
    n_prom = check(list(parse_prom((d / "metrics.prom").read_text(encoding="utf-8"))), expected, "prometheus")
    n_om = check(list(parse_om((d / "metrics.om").read_text(encoding="utf-8"))), expected, "openmetrics")
    print(f"prometheus_client parsed {n_prom} families (Prometheus text) and {n_om} (OpenMetrics); all checks passed")


if __name__ == "__main__":
    main()
