#!/usr/bin/env python3
"""Generates crates/meshtel-wire/tests/data/struct_vectors.json.

Each case is a JSON object and the deterministic serialization of the
google.protobuf.Struct it maps to, produced by the `protobuf` package's
pure-Python runtime (the upb runtime orders prefix keys differently; see
docs/reference/wire.md §3.3). The test `struct_vectors` checks that meshtel-wire's encoder
produces the same bytes and its views read them back.

Usage: pip install protobuf && python3 scripts/gen_struct_vectors.py
"""

import json
import os
import random
import sys

os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"

from google.protobuf import struct_pb2  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

assert api_implementation.Type() == "python", api_implementation.Type()

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "meshtel-wire", "tests", "data", "struct_vectors.json")

FIXED = [
    ("empty", {}),
    ("six_kinds", {"b": True, "d": 1.5, "l": [1, "x"], "n": None, "s": "hi", "t": {}}),
    ("prefix_keys", {"NAMESPACE": "ns", "NAME": "n", "x-envoy-peer-metadata-id": "id", "x-envoy-peer-metadata": {}}),
    ("defaults_are_emitted", {"": "", "f": False, "z": 0, "e": {}, "l": []}),
    ("numbers", {"neg": -1.25, "negzero": -0.0, "big": 1e300, "tiny": 5e-324, "int": 9007199254740993, "max": 1.7976931348623157e308}),
    ("unicode", {"ключ": "значение", "é": "e\u0301", "😀": "emoji", "a\u0000b": "nul", "Z": "upper", "a": "lower"}),
    ("nested", {"LABELS": {"app": "ratings", "version": "v1", "deep": {"deeper": {"deepest": [[], [{}], [None, True]]}}}}),
    ("long_strings", {"k" * 200: "v" * 300, "short": "x" * 127, "edge": "y" * 128}),
    (
        "node_metadata",
        {
            "NAME": "ratings-v1-5f8d",
            "NAMESPACE": "default",
            "WORKLOAD_NAME": "ratings-v1",
            "CLUSTER_ID": "Kubernetes",
            "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
            "LABELS": {
                "app": "ratings",
                "version": "v1",
                "service.istio.io/canonical-name": "ratings",
                "service.istio.io/canonical-revision": "v1",
            },
            "PLATFORM_METADATA": {"gcp_project": "p", "gcp_zone": "z"},
            "ISTIO_VERSION": "1.24.0",
        },
    ),
]


def random_value(rng, depth):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1.0, -3.5, 1e-7, 123456789.125, rng.uniform(-1e9, 1e9)])
    if kind in (3, 4):
        return random_string(rng)
    if kind in (5, 6):
        return {random_string(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def random_string(rng):
    alphabet = "abcAB_-./~0é€😀 "
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))


def main():
    rng = random.Random(20261130)
    cases = list(FIXED)
    for i in range(100):
        cases.append((f"random_{i:03}", {random_string(rng): random_value(rng, 1) for _ in range(rng.randrange(8))}))
    out = []
    for name, obj in cases:
        s = struct_pb2.Struct()
        s.update(obj)
        data = s.SerializeToString(deterministic=True)
        out.append({"name": name, "json": obj, "hex": data.hex()})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
