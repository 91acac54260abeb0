#!/usr/bin/env python3
"""Deterministic generator of the CEL differential-test corpus (Envoy attribute
vocabulary), in reference.py's input format: one JSON object a line,

    {"id": "<category>.<n>.<bag>", "expr": "...", "attrs": {"request.host": "a", ...}}

Usage:  python3 generate.py [--seed N] [--count N] > corpus.jsonl

--count is the number of distinct expressions (default 3000: every hand-written
case, then random expressions over the attribute vocabulary up to the count); each is paired with
1-3 attribute bags (one line per bag): expressions that read no attribute get one
empty bag; the others get bags holding only the attributes they can read (plus
their namespace's whole vocabulary when they read a namespace as a whole), some of
them absent. Non-JSON values use reference.py's tags: {"$uint": "7"},
{"$timestamp": "..."}, {"$duration": "1.5s"}, {"$bytes": "..."}, {"$double": 1.0}.

Needs only the Python standard library; the same seed gives the same bytes.
"""

import argparse
import json
import random
import re
import sys

# ----------------------------------------------------------------------------
# Envoy's attribute vocabulary: name -> (cel type, typical values, edge values)
# ----------------------------------------------------------------------------


def _u(n):
    return {"$uint": str(n)}


def _ts(s):
    return {"$timestamp": s}


def _dur(s):
    return {"$duration": s}


HEADERS_POOL = {
    "x-user": ["bob", "alice", "", "Bob Smith", "émile"],
    "user-agent": ["curl/8.4.0", "Amazon-Route53-Health-Check-Service (ref 1)",
                   "Mozilla/5.0", "kube-probe/1.29"],
    "content-type": ["application/json", "text/html; charset=utf-8", "application/grpc"],
    "x-forwarded-for": ["10.0.0.1", "10.0.0.1, 192.0.2.7"],
    "x-request-id": ["3f1c6a52-0d5e-4b8e-9a4e-2b7f9f0d1a11"],
    "x-b3-sampled": ["1", "0"],
    ":authority": ["reviews:9080", "example.com"],
    "x-envoy-attempt-count": ["1", "3"],
    "x-api-version": ["v1", "v1beta3", "2"],
}

RESP_HEADERS_POOL = {
    "content-type": ["application/json", "text/plain"],
    "server": ["envoy", "istio-envoy"],
    "grpc-status": ["0", "14"],
    "x-envoy-upstream-service-time": ["12", "0"],
    "content-length": ["0", "1024"],
}

LABELS_POOL = {
    "app": ["reviews", "ratings", ""],
    "version": ["v1", "v2", "v3"],
    "security.istio.io/tlsMode": ["istio"],
    "service.istio.io/canonical-name": ["reviews"],
}

VOCAB = {
    "request.host": ("string", ["reviews.default.svc.cluster.local", "example.com",
                                "productpage:9080"],
                     ["", "EXAMPLE.com", "xn--bcher-kva.example", "bücher.example",
                      "a" * 40, "host with space"]),
    "request.path": ("string", ["/reviews/123?v=1", "/productpage", "/api/v1beta3/items"],
                     ["", "/", "/reviews/", "/%2e%2e/etc", "/reviews/12?a=1&b=2#frag"]),
    "request.url_path": ("string", ["/reviews/123", "/productpage", "/api/v1beta3/items"],
                         ["", "/", "/reviews/", "/reviews/a-b", "/reviews/ünï", "/v1beta3"]),
    "request.method": ("string", ["GET", "POST"], ["", "get", "PATCH", "CONNECT", "HEAD"]),
    "request.scheme": ("string", ["http", "https"], [""]),
    "request.protocol": ("string", ["HTTP/1.1", "HTTP/2"], ["HTTP/3", ""]),
    "request.query": ("string", ["v=1", ""], ["a=1&a=2", "q=%20x"]),
    "request.id": ("string", ["3f1c6a52-0d5e-4b8e-9a4e-2b7f9f0d1a11"], [""]),
    "request.referer": ("string", ["https://example.com/"], [""]),
    "request.useragent": ("string", ["curl/8.4.0", "Mozilla/5.0"],
                          ["Amazon-Route53-Health-Check-Service (ref 1)", "", "kube-probe/1.29"]),
    "request.headers": ("map", None, None),  # generated from HEADERS_POOL
    "request.size": ("int", [0, 512, 1024], [-1, 9223372036854775807, 1 << 31]),
    "request.total_size": ("int", [700, 2048], [0]),
    "request.time": ("timestamp", [_ts("2024-01-02T03:04:05.123Z"), _ts("2024-06-15T12:00:00Z")],
                     [_ts("1970-01-01T00:00:00Z"), _ts("2024-03-10T10:30:00Z"),
                      _ts("2024-11-03T09:30:00Z"), _ts("2024-02-29T23:59:59.999999999Z"),
                      _ts("0001-01-01T00:00:00Z"), _ts("9999-12-31T23:59:59.999999999Z"),
                      _ts("1969-12-31T23:59:59.5Z"), _ts("2023-12-31T23:30:00Z")]),
    "request.duration": ("duration", [_dur("0.012s"), _dur("1.5s")],
                         [_dur("0s"), _dur("0.000000001s"), _dur("3600s"), _dur("-1s"),
                          _dur("315576000000s")]),
    "response.code": ("int", [200, 404, 503], [0, 100, 399, 400, 499, 500, 599, 600, -1]),
    "response.code_details": ("string", ["via_upstream"], ["", "upstream_reset_before_response_started{connection_failure}"]),
    "response.flags": ("int", [0, 16], [1, 4096, 9223372036854775807]),
    "response.grpc_status": ("int", [0, 14], [2, 16, -1]),
    "response.headers": ("map", None, None),
    "response.size": ("int", [0, 1024], [9223372036854775807]),
    "response.total_size": ("int", [1200], [0]),
    "connection.mtls": ("bool", [True, False], []),
    "connection.id": ("uint", [_u(7), _u(42)], [_u(0), _u(9223372036854775807),
                                               _u(9223372036854775808), _u(18446744073709551615)]),
    "connection.requested_server_name": ("string", ["outbound_.9080_._.reviews.default.svc.cluster.local"],
                                         ["", "example.com"]),
    "connection.tls_version": ("string", ["TLSv1.3"], ["TLSv1.2", ""]),
    "connection.termination_details": ("string", ["local_reset"], [""]),
    "source.address": ("string", ["10.1.2.3:50000", "[::1]:8080"], ["", "unix:/tmp/sock"]),
    "source.port": ("int", [50000, 8080], [0, 65535, -1]),
    "destination.address": ("string", ["10.4.5.6:9080"], ["", "[fe80::1]:80"]),
    "destination.port": ("int", [9080, 443], [0, 65535, 80]),
    "upstream.address": ("string", ["10.7.8.9:9080"], [""]),
    "upstream.port": ("int", [9080], [0, 65535]),
    "upstream.local_address": ("string", ["10.0.0.5:40000"], [""]),
    "upstream.transport_failure_reason": ("string", [""], ["TLS error: 268435581"]),
    "xds.cluster_name": ("string", ["outbound|9080||reviews.default.svc.cluster.local"],
                         ["", "inbound|9080||", "BlackHoleCluster", "PassthroughCluster"]),
    "xds.route_name": ("string", ["default"], ["", "reviews.default.svc.cluster.local:9080"]),
    "filter_state.upstream_peer.app": ("string", ["reviews"], ["", "ratings"]),
    "filter_state.upstream_peer.namespace": ("string", ["default"], ["", "istio-system"]),
    "filter_state.upstream_peer.workload": ("string", ["reviews-v1"], ["", "ratings-v1"]),
    "filter_state.upstream_peer.labels": ("map", None, None),
    "filter_state.downstream_peer.app": ("string", ["productpage"], [""]),
    "filter_state.downstream_peer.namespace": ("string", ["default"], [""]),
}

NAMESPACES = ("request", "response", "source", "destination", "connection",
              "upstream", "xds", "filter_state")


def _map_value(rng, pool, edge):
    keys = sorted(pool)
    if edge and rng.random() < 0.3:
        return {}
    chosen = [k for k in keys if rng.random() < 0.6]
    return {k: rng.choice(pool[k]) for k in chosen}


def attr_value(rng, name, edge):
    typ, typical, edges = VOCAB[name]
    if typ == "map":
        pool = {"request.headers": HEADERS_POOL, "response.headers": RESP_HEADERS_POOL,
                "filter_state.upstream_peer.labels": LABELS_POOL}[name]
        return _map_value(rng, pool, edge)
    if edge and edges:
        return rng.choice(edges)
    return rng.choice(typical)


_CHAIN = re.compile(r"(?<![\w.'\"])(" + "|".join(NAMESPACES) + r")((?:\s*\.\s*[A-Za-z_]\w*)*)")


def referenced_attrs(expr):
    """Vocabulary attributes an expression may read (textual, generous)."""
    out = set()
    for m in _CHAIN.finditer(expr):
        chain = m.group(1) + re.sub(r"\s+", "", m.group(2))
        for name in VOCAB:
            if name.startswith(chain + ".") or name == chain or chain.startswith(name + "."):
                out.add(name)
    return sorted(out)


def bags_for(rng, expr, nbags=None):
    names = referenced_attrs(expr)
    if not names:
        return [{}]
    n = nbags if nbags is not None else rng.choice([1, 2, 2, 3, 3])
    bags = []
    for i in range(n):
        bag = {}
        for name in names:
            if i == 0:
                bag[name] = attr_value(rng, name, edge=False)
            elif i == 1:
                if rng.random() < 0.85:
                    bag[name] = attr_value(rng, name, edge=True)
            else:
                if rng.random() < 0.5:
                    bag[name] = attr_value(rng, name, edge=rng.random() < 0.5)
        bags.append(bag)
    return bags


# ----------------------------------------------------------------------------
# Expression sources, by category. Each returns a list of expression strings (or
# (expr, nbags) pairs).
# ----------------------------------------------------------------------------

ISTIO_DOCS = [
    "request.host",
    "string(destination.port)",
    'has(request.host) ? request.host : "unknown"',
    "response.code >= 400",
    "connection.mtls && request.url_path.contains('v1beta3')",
    '!has(request.useragent) || !(request.useragent.startsWith("Amazon-Route53-Health-Check-Service"))',
    "filter_state.upstream_peer.app",
    "request.url_path.matches('^/reviews/[[:alnum:]]*$')",
]


def cat_istio(rng):
    out = [(e, 3) for e in ISTIO_DOCS]
    out += [(e, 3) for e in [
        "has(request.useragent)",
        "request.headers['x-user']",
        "has(request.headers['x-user'])",
        "'x-user' in request.headers",
        "'x-user' in request.headers ? request.headers['x-user'] : 'anonymous'",
        "response.code >= 400 && response.code < 500",
        "response.code / 100 == 5",
        "string(response.code)",
        "string(source.port) + ':' + string(destination.port)",
        "connection.mtls ? 'mtls' : 'plaintext'",
        "has(filter_state.upstream_peer.app) ? filter_state.upstream_peer.app : 'unknown'",
        "filter_state.upstream_peer.labels['version']",
        "filter_state.upstream_peer.namespace + '/' + filter_state.upstream_peer.workload",
        "xds.cluster_name.startsWith('outbound|')",
        "xds.cluster_name.split('|')",
        "request.method == 'GET' || request.method == 'HEAD'",
        "request.method in ['GET', 'HEAD', 'OPTIONS']",
        "request.size > 1024",
        "request.duration > duration('1s')",
        "request.time.getHours()",
        "request.time.getDayOfWeek('America/Los_Angeles')",
        "request.url_path.endsWith('/')",
        "size(request.headers)",
        "request.headers.exists(k, k.startsWith('x-'))",
        "response.grpc_status != 0",
        "response.flags != 0",
        "connection.id",
        "connection.id == 7",
        "connection.id == 7u",
        "connection.id > 0",
        "string(connection.id)",
        "connection.requested_server_name",
        "source.address.startsWith('10.')",
        "upstream.port == destination.port",
        "request",
        "filter_state",
        "filter_state.upstream_peer",
        "response.headers['content-type'].contains('json')",
        "response.code == 200u",
        "response.code == 200.0",
        "request.host.matches('^[a-z.]+$')",
        "request.path.contains('?') ? request.path.split('?')[0] : request.path",
    ]]
    return out


INT_LITS = ["0", "1", "-1", "42", "007", "9223372036854775807", "-9223372036854775808",
            "9223372036854775808", "-9223372036854775809", "0x0", "0x10", "0xFF", "0xff",
            "0x7fffffffffffffff", "0x8000000000000000", "-0x8000000000000000", "0XFF",
            "0x", "0xg", "1_000", "00", "-0", "- 1", "-(1)"]
UINT_LITS = ["0u", "1u", "1U", "42u", "18446744073709551615u", "18446744073709551616u",
             "0xFFu", "0xffffffffffffffffu", "0x10000000000000000u", "-1u", "-0u", "1uu", "1 u"]
DOUBLE_LITS = ["0.0", "1.0", "-1.0", ".5", "-.5", "0.5", "1e3", "1E3", "1e+3", "1e-3", "1.5e3",
               ".5e1", "1e308", "1e309", "-1e309", "4.9e-324", "1e-400", "0.1", "123.456",
               "3.141592653589793", "1.", "1.e3", "1e", "1e+", "01.5", "1.5u", "0x1.5",
               "1.0.0", "-0.0", "2.5e-3", "9007199254740993.0"]
STRING_LITS = [
    "''", '""', "'a'", '"a"', "'it''s'", "'a\"b'", '"a\'b"', "'''triple'''", '"""triple"""',
    "'''multi\nline'''", '"""with "quotes" inside"""', "'''a'b'''", "r'raw\\n'", 'r"raw\\d"',
    "R'\\x41'", "r'''raw\\ntriple'''", 'R"""raw"""', "'\\a\\b\\f\\n\\r\\t\\v'",
    "'\\\\'", "'\\''", '"\\""', "'\\`'", "'\\?'", "'\\x41'", "'\\X41'", "'\\x4'", "'\\xg1'",
    "'\\u00e9'", "'\\u00E9'", "'\\u0041\\u0042'", "'\\U0001F600'", "'\\U0010FFFF'",
    "'\\U00110000'", "'\\ud800'", "'\\udfff'", "'\\u12'", "'\\101'", "'\\000'", "'\\377'",
    "'\\400'", "'\\0'", "'\\08'", "'\\8'", "'\\q'", "'\\ '", "'é'", "'日本語'", "'😀'",
    "'a\nb'", "'unterminated", "\"mixed'", "'tab\there'", "'''\\''''", "'\\\\n'",
]
BYTES_LITS = [
    "b''", 'b""', "b'abc'", "B'abc'", "b'\\x00\\xff'", "b'\\377'", "b'\\000'", "b'é'",
    "b'\\u00e9'", "b'\\U0001F600'", "b'''triple'''", "br'\\x41'", "rb'\\x41'", "Rb'x'",
    "bR'x'", "b'\\n\\t'", "b'😀'", "b'\\X7f'", "b'\\400'",
]
MISC_LITS = ["true", "false", "null", "True", "NULL", "[]", "{}", "[1, 2, 3]", "[1, 'a', 2u, 1.5, b'x', null, true, [], {}]",
             "{'a': 1}", "{1: 'a'}", "{true: 1}", "{1u: 2}", "[1,]", "{'a': 1,}", "[,]", "{,}", "[1,,2]"]


def cat_literals(rng):
    out = []
    for group in (INT_LITS, UINT_LITS, DOUBLE_LITS, STRING_LITS, BYTES_LITS, MISC_LITS):
        out += group
    # literals in context: type(), size(), comparisons
    for lit in ["0x10", ".5", "1e3", "1u", "0xFFu", "r'\\n'", "'\\101'", "b'\\377'", "'''a'''",
                "'\\U0001F600'", "b'é'", "'é'", "-9223372036854775808", "1e309"]:
        out += [f"type({lit})", f"[{lit}]", f"{lit} == {lit}"]
    for lit in ["'\\U0001F600'", "'é'", "b'é'", "'\\000'", "r'\\n'", "'''a\nb'''", "''", "b''"]:
        out.append(f"size({lit})")
    return out


BINOPS = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in"]
OPERANDS = ["1", "2", "3", "0", "-1", "1u", "2u", "0u", "1.5", "2.0", "0.0", "'a'", "'b'",
            "b'a'", "true", "false", "null", "[1]", "[1, 2]", "{'a': 1}", "1/0",
            "response.code", "request.size", "connection.id", "request.host", "request.time",
            "request.duration", "duration('1s')", "timestamp('2024-01-01T00:00:00Z')"]


def cat_operators(rng):
    out = []
    # every operator on a spread of operand pairs
    for op in BINOPS:
        pairs = set()
        while len(pairs) < 10:
            pairs.add((rng.choice(OPERANDS), rng.choice(OPERANDS)))
        for a, b in sorted(pairs):
            out.append(f"{a} {op} {b}")
    # precedence mixes, no parentheses
    for _ in range(80):
        n = rng.randint(3, 5)
        parts = [rng.choice(["1", "2", "3", "4", "5", "0", "true", "false", "1u", "2.5", "'x'",
                             "response.code", "[1, 2]"])]
        for _ in range(n - 1):
            parts.append(rng.choice(BINOPS))
            parts.append(rng.choice(["1", "2", "3", "4", "5", "0", "true", "false", "1u", "2.5",
                                     "'x'", "response.code", "[1, 2]", "!true", "-2"]))
        out.append(" ".join(parts))
    out += [
        "1 + 2 * 3", "(1 + 2) * 3", "1 - 2 - 3", "1 - (2 - 3)", "8 / 4 / 2", "8 / (4 / 2)",
        "7 % 4 % 2", "2 * 3 % 4", "1 + 2 == 3", "1 < 2 == true", "true == 1 < 2", "1 < 2 < 3",
        "1 == 1 == true", "true && false || true", "true || false && false",
        "!true || true", "!(true || true)", "-1 * -1", "- -1", "-1 - -1", "1 in [1] == true",
        "1 in [1] in [true]", "1 + 2 in [3]", "[1] + [2] == [1, 2]", "'a' + 'b' + 'c'",
        "'a' + 1", "1 + 'a'", "b'a' + b'b'", "[1] + 1", "{'a': 1} + {'b': 2}", "null + null",
        "true + true", "1 ? 2 : 3 ? 4 : 5", "true ? 1 : 2 + 3", "false ? 1 : 2 + 3",
        "(true ? 1 : 2) + 3", "true || false ? 'y' : 'n'", "1 == 1 ? 'y' : 'n'",
        "!1 == 1", "-'a'", "--1", "---1", "!!true", "!!!true", "!-1", "-!true",
        "-(-9223372036854775807 - 1)", "--9223372036854775808", "-(9223372036854775807)",
        "- 9223372036854775808", "-  9223372036854775808", "-(9223372036854775808)",
        "--9223372036854775807", "-(-9223372036854775808)", "-(-(-9223372036854775808))",
        "-0x8000000000000000", "-1u", "-(1u)", "-1.5", "--1.5", "-(0.0)", "-duration('1s')",
        "!null", "!'true'", "!(1 == 1)", "!!(1 == 1)",
    ]
    return out


def cat_ternary(rng):
    out = ["true ? 1 : 2", "false ? 1 : 2", "true ? 'a' : 1", "null ? 1 : 2", "1 ? 1 : 2",
           "'' ? 1 : 2", "1/0 == 0 ? 1 : 2", "true ? 1 : 1/0", "false ? 1/0 : 2",
           "true ? false ? 1 : 2 : 3", "false ? 1 : true ? 2 : 3", "false ? 1 : false ? 2 : 3",
           "(true ? false : true) ? 1 : 2", "true ? (false ? 1 : 2) : 3",
           "true ? 1 : 2 ? 3 : 4", "true ?: 1", "true ? 1", "? 1 : 2", "true ? 1 : ",
           "has(request.host) ? request.host : has(request.path) ? request.path : 'none'",
           "response.code >= 500 ? 'server' : response.code >= 400 ? 'client' : 'ok'",
           "connection.mtls ? connection.id : 0u", "connection.mtls ? 1 : 'no'",
           "[1, 2][0] == 1 ? [1] : {}", "true ? null : 1", "(1 < 2 ? 3 : 4) * 2",
           "1 < 2 ? 3 : 4 * 2", "true && false ? 1 : 2", "false || true ? 1 : 2",
           "!true ? 1 : 2", "true ? true ? true ? 1 : 2 : 3 : 4"]
    for _ in range(40):
        c = rng.choice(["true", "false", "response.code == 200", "has(request.host)", "1 == 1u",
                        "connection.mtls", "null", "1/0 > 0", "'a' < 'b'"])
        a = rng.choice(["1", "'x'", "2u", "1.5", "null", "[1]", "request.host", "1/0"])
        b = rng.choice(["2", "'y'", "3u", "2.5", "{}", "request.path", "0 % 0"])
        d = rng.choice(["", " ? 9 : 10"])
        out.append(f"{c} ? {a} : {b}{d}")
    return out


def cat_in(rng):
    return [
        "1 in [1, 2]", "3 in [1, 2]", "1 in []", "1u in [1]", "1.0 in [1]", "1 in [1.0]",
        "1 in [1u]", "'a' in ['a']", "'a' in ['A']", "null in [null]", "[1] in [[1]]",
        "{} in [{}]", "true in [1]", "1 in [true]", "'a' in {'a': 1}", "'b' in {'a': 1}",
        "1 in {1: 'a'}", "1u in {1: 'a'}", "1.0 in {1: 'a'}", "1.5 in {1: 'a'}",
        "1 in {1u: 'a'}", "true in {true: 1}", "1 in {true: 1}", "'a' in {1: 'a'}",
        "null in {'a': 1}", "[] in {'a': 1}", "'a' in 'abc'", "1 in 1", "1 in null",
        "'x-user' in request.headers", "'X-User' in request.headers",
        "'host' in request", "'nope' in request", "'app' in filter_state.upstream_peer",
        "'upstream_peer' in filter_state", "request.method in ['GET', 'POST']",
        "response.code in [200, 201, 204]", "response.code in [200u, 404u]",
        "response.code in [200.0, 404.0]", "connection.id in [7, 42]",
        "connection.id in [7u, 42u]", "'version' in filter_state.upstream_peer.labels",
        "1/0 in [1]", "1 in [1/0]", "1 in [1, 1/0]", "2 in [1, 1/0]",
        "1 in {1: 1/0}", "'a' in {'a': 1}.a", "0.0/0.0 in [0.0/0.0]",
        "9223372036854775807 in [9223372036854775807u]", "18446744073709551615u in [-1]",
        "1 in [1, 2] && 2 in [1, 2]", "!(1 in [2])", "!1 in [2]",
    ]


def cat_collections(rng):
    return [
        "[1, 2, 3]", "[[1], [2, [3]]]", "[1, 'a', null]", "[1/0]", "[1, 1/0][0]",
        "{'a': 1, 'b': 2}", "{'a': 1, 'a': 2}", "{1: 'a', 1: 'b'}", "{1: 'a', 1u: 'b'}",
        "{1: 'a', 1.0: 'b'}", "{1: 'a', true: 'b'}", "{true: 'a', false: 'b'}",
        "{'a': 1, 1: 'a', 1u: 'b', true: 'c'}", "{1.5: 'a'}", "{null: 1}", "{[1]: 1}",
        "{{}: 1}", "{b'a': 1}", "{duration('1s'): 1}", "{'a': {'b': {'c': 1}}}",
        "{'a': [1, {'b': 2u}]}", "{-1: 'neg', 9223372036854775807: 'max', 18446744073709551615u: 'umax'}",
        "{'a': 1/0}", "{1/0: 1}", "{'k' + 'ey': 1}", "{request.host: 1}", "{response.code: 'x'}",
        "{connection.id: 'id'}", "[request.host, request.path]", "{'a': 1} == {'a': 1}",
        "{'a': 1, 'b': 2} == {'b': 2, 'a': 1}", "{'a': 1} == {'a': 1, 'b': 2}",
        "[1, 2] == [2, 1]", "[1, [2]] == [1, [2.0]]", "{1: 'a'} == {1u: 'a'}",
        "{1: 'a'} == {1.0: 'a'}", "[1] == [1u]", "[] == {}", "[null] == [null]",
        "[0.0/0.0] == [0.0/0.0]", "{'a': 0.0/0.0} == {'a': 0.0/0.0}",
        "size([1, 2, 3])", "size({})", "[1, 2, 3][1]", "{'a': 1}['a']", "{'a': 1}.a",
        "[1, 2] + [3]", "[] + []", "[1] + ['a']", "{'a': 1}.size()", "[[]].size()",
        "type([1])", "type({'a': 1})", "type([1]) == list", "type({}) == map",
        "dyn([1, 2])", "[dyn(1), dyn('a')]", "{'x': [1, 2]}.x[1]",
    ]


def cat_indexing(rng):
    return [
        "[1, 2][0]", "[1, 2][1]", "[1, 2][2]", "[1, 2][-1]", "[1, 2][1u]", "[1, 2][0u]",
        "[1, 2][1.0]", "[1, 2][1.5]", "[1, 2][-0.0]", "[1, 2][18446744073709551615u]",
        "[1, 2][9223372036854775807]", "[1, 2][-9223372036854775808]", "[1, 2]['0']",
        "[1, 2][true]", "[1, 2][null]", "[][0]", "[[1, 2]][0][1]", "[1, 2][1/0]",
        "[1, 1/0][0]", "{'a': 1}['b']", "{'a': 1}[1]", "{1: 'a'}[1u]", "{1: 'a'}[1.0]",
        "{1: 'a'}[1.5]", "{1u: 'a'}[1]", "{1: 'a'}[true]", "{true: 'a'}[1]", "{'a': 1}[null]",
        "{'a': 1}[[1]]", "{}['a']", "'abc'[0]", "b'abc'[0]", "1[0]", "null[0]", "null.a",
        "{'a': {'b': 1}}['a']['b']", "{'a': {'b': 1}}.a.b", "{'a': {'b': 1}}.a.c",
        "{'a': {'b': 1}}.c.b", "{'a': 1}.a.b", "request['host']", "request.host",
        "request['headers']['x-user']", "request.headers['x-user']", "request.headers.x",
        "request.headers['X-User']", "request.headers['nope']", "request.headers[1]",
        "request.nope", "request.nope.deeper", "response.headers['server']",
        "filter_state.upstream_peer.app", "filter_state['upstream_peer']['app']",
        "filter_state.upstream_peer.labels['app']", "filter_state.upstream_peer.labels.app",
        "filter_state.upstream_peer.labels['security.istio.io/tlsMode']",
        "filter_state.upstream_peer.nope", "filter_state.nope.app",
        "filter_state.downstream_peer.app", "request.host.x", "request.host[0]",
        "response.code.x", "response.code[0]", ".request.host", "request . host",
        "request.\nhost", "nosuch.attr", "nosuch", "request.headers['x-user'].size()",
        "connection.id.value", "request.time.seconds",
    ]


def cat_has(rng):
    return [
        "has(request.host)", "has(request.nope)", "has(request.headers)",
        "has(request.headers.x)", "has(request.headers['x-user'])", "has(request['host'])",
        "has(request)", "has(nosuch.x)", "has(nosuch)", "has(request.host.x)",
        "has(response.code.x)", "has(filter_state.upstream_peer)",
        "has(filter_state.upstream_peer.app)", "has(filter_state.upstream_peer.labels)",
        "has(filter_state.upstream_peer.labels.app)", "has(filter_state.upstream_peer.nope)",
        "has(filter_state.upstream_peer.nope.x)", "has(filter_state.nope.app)",
        "has(filter_state.nope)", "has(connection.mtls)", "has(connection.id)",
        "has({'a': 1}.a)", "has({'a': 1}.b)", "has({'a': {'b': 1}}.a.b)",
        "has({'a': {'b': 1}}.x.b)", "has({1: 2}.a)", "has([1].a)", "has(1.a)", "has(null.a)",
        "has('a'.size)", "has(request.host) && request.host != ''",
        "!has(request.host)", "has(request.host) || has(request.path)",
        "has(request.host, request.path)", "has()", "has(1)", "has(request.headers['x'])",
        "has(.request.host)", "has(request.time)", "has(request.time.seconds)",
        "has(xds.cluster_name)", "has(upstream.port)", "has(source.address)",
        "has(response.headers.server)", "has(dyn(request).host)",
        "[request].exists(r, has(r.host))", "has(request.x) ? request.x : 'default'",
    ]


MACRO_RANGES = ["[1, 2, 3]", "[]", "[0, 1]", "[1, 'a', null]", "{'a': 1, 'b': 2}", "{}",
                "[[1], [2, 3]]", "request.headers", "filter_state.upstream_peer.labels",
                "[1u, 2u]", "[1.5, -0.5]", "['x', 'yy', '']", "[true, false]"]
MACRO_BODIES = ["x > 1", "x == 1", "x != null", "1 / x > 0", "size(x) > 0", "x", "true",
                "x < 'b'", "x == 'a'", "type(x) == int", "x in [1, 'a']"]


def cat_macros(rng):
    out = []
    for _ in range(100):
        rng_s = rng.choice(MACRO_RANGES)
        m = rng.choice(["all", "exists", "exists_one", "map", "map3", "filter"])
        body = rng.choice(MACRO_BODIES)
        if m == "map3":
            out.append(f"{rng_s}.map(x, {body}, {rng.choice(['x', 'x * 2', 'string(x)', '[x]'])})")
        elif m == "map":
            out.append(f"{rng_s}.map(x, {rng.choice(['x', 'x * 2', body, 'string(x)', '[x, x]'])})")
        else:
            out.append(f"{rng_s}.{m}(x, {body})")
    out += [
        "[1, 2, 3].all(x, x > 0)", "[1, 2, 3].exists(x, x > 2)", "[1, 2, 3].exists_one(x, x > 1)",
        "[1, 2, 3].exists_one(x, x == 2)", "[1, 2, 3].map(x, x * x)", "[1, 2, 3].map(x, x > 1, x)",
        "[1, 2, 3].filter(x, x % 2 == 1)", "[1, 0].all(x, 1 / x > 0)", "[0, 1].all(x, 1 / x > 0)",
        "[1, 0].exists(x, 1 / x > 0)", "[0, 1].exists(x, 1 / x > 0)", "[0, 0].exists(x, 1 / x > 0)",
        "[0].exists_one(x, 1 / x > 0)", "[0, 1].map(x, 1 / x)", "[0, 1].filter(x, 1 / x > 0)",
        "[1, 2].all(x, x)", "[1, 'a'].all(x, x == 1)", "[1, 'a'].exists(x, x == 'a')",
        "{'a': 1, 'b': 2}.all(k, k != '')", "{'a': 1, 'b': 2}.map(k, k + 'x')",
        "{'a': 1, 'b': 2}.filter(k, k == 'a')", "{1: 'a', 2: 'b'}.map(k, k * 10)",
        "[1, 2].map(x, [1, 2].map(y, x * y))", "[1, 2].map(x, [3].map(x, x))",
        "[[1, 2], [3]].map(l, l.map(x, x + 1))", "[1, 2].exists(x, [3].exists(x, x == 3))",
        "request.headers.all(k, k == k.lowerAscii())", "request.headers.exists(k, k == 'x-user')",
        "request.headers.filter(k, k.startsWith('x-'))", "request.headers.map(k, request.headers[k])",
        "filter_state.upstream_peer.labels.exists_one(k, k == 'app')",
        "[request.host, request.path].all(s, s != '')",
        "[1, 2].all(request, request > 0)", "[1, 2].map(request, request.host)",
        "1.all(x, true)", "'abc'.all(x, true)", "null.exists(x, true)", "[1].all(x)",
        "[1].all(1, true)", "[1].all(x.y, true)", "[1].map(x, 1, 2, 3)", "[1].filter(x)",
        "[1].exists_one()", "[1].all(x, true, false)", "all([1], x, true)", "exists(x, true)",
        "[1, 2].map(x, x).map(y, y * 2)", "[3, 1, 2].filter(x, x > 1).size()",
        "[1, 2, 3].exists(x, x == 2) && [1, 2, 3].all(x, x > 0)",
        "[1, 2].map(x, x / 0)", "[].all(x, 1/0)", "[].exists(x, 1/0)", "[].map(x, 1/0)",
        "[1].map(x, 1/0 == 1 || true)", "[true, 1/0 == 1].all(x, x)",
        "[false, 1/0 == 1].all(x, x)", "[true, 1/0 == 1].exists(x, x)",
        "[1/0 == 1, true].exists(x, x)", "[1/0 == 1, false].exists(x, x)",
        "[1, 2].exists_one(x, 1/x == 1)", "[1, 2, 3].map(x, x, x)",
        "[1, 2, 3].map(x, x > 1, 1/0)", "[0, 1, 2].map(x, x > 0, 10 / x)",
        "[1,2,3].exists(__result__, true)", "[1,2].map(x, __result__)",
    ]
    return out


REGEXES = [r"\d+", r"^\d+$", r"[[:alnum:]]+", r"^[[:alnum:]]*$", r"[[:alpha:]]", r"[[:digit:]]",
           r"[[:space:]]", r"[[:upper:]]", r"[[:punct:]]", r"\w+", r"\W", r"\s", r"\S+", r"^/reviews/",
           r"v1beta3", r"^$", r".*", r"^.+$", r"(?i)get", r"a|b", r"(a)(b)?", r"\pL+", r"\p{Greek}",
           r"[^a-z]", r"\bfoo\b", r"x{2,3}", r"^\d{3}$", r"\.", r"[.]", r"é", r"\x41", r"\u00e9",
           # invalid for RE2
           r"(", r"[", r"*", r"a**", "\\", r"(?P<n>x)", r"(a)\1", r"(?=a)", r"(?!a)", r"(?<=a)b",
           r"a{1001}", r"a{2,1}", r"[z-a]", r"\Z", r"\p{Nope}", r"[[:nope:]]", r"(?i", r"\8"]
SUBJECTS = ["'abc123'", "'GET'", "'get'", "''", "'/reviews/abc'", "'/reviews/a-b'", "'v1beta3'",
            "'héllo'", "'αβγ'", "'a b'", "'foo bar'", "'xx'", "'123'", "'A'", "request.url_path",
            "request.host", "request.method", "request.headers['user-agent']"]


def _cel_str(s):
    # a single-quoted CEL string literal for a regex source (escape \ and ')
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cat_strings(rng):
    out = []
    for r in REGEXES:
        for subj in rng.sample(SUBJECTS, 3):
            out.append(f"{subj}.matches({_cel_str(r)})")
        out.append(f"'abc'.matches(r'{r}')" if "'" not in r and not r.endswith("\\") else
                   f"'abc'.matches({_cel_str(r)})")
    out += [
        "matches('abc', 'b')", "'abc'.matches(1)", "1.matches('1')", "'abc'.matches()",
        "'abc'.matches('a', 'b')", "b'abc'.matches('a')",
        "'x'.matches('(((((((((((((((a|b)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*')",
        "'aaaa'.matches('(a{100}){10}')",
    ]
    fn_args = ["''", "'a'", "'abc'", "'ABC'", "'é'", "'😀'", "'bc'", "'abcd'", "request.host",
               "request.url_path", "1", "null", "b'a'"]
    for fn in ["contains", "startsWith", "endsWith"]:
        for _ in range(22):
            a, b = rng.choice(fn_args), rng.choice(fn_args)
            out.append(f"{a}.{fn}({b})")
        out += [f"{fn}('abc', 'a')", f"'abc'.{fn}()", f"'abc'.{fn}('a', 'b')"]
    out += [
        "size('')", "size('abc')", "size('héllo')", "size('😀')", "size('日本語')",
        "size(b'')", "size(b'abc')", "size(b'é')", "size([1, 2])", "size({'a': 1})",
        "size(1)", "size(null)", "size()", "size('a', 'b')", "'abc'.size()", "b'ab'.size()",
        "[1].size()", "{'a': 1}.size()", "1.size()", "size(request.host)",
        "size(request.headers)", "size(request)", "request.host.size()",
        "size(filter_state.upstream_peer.labels)", "size(filter_state)",
        "'abc' + 'def'", "'' + ''", "'a' + null", "'é' + '😀'", "request.host + request.path",
        "'a' < 'b'", "'a' < 'B'", "'é' > 'z'", "'abc' < 'abd'", "'' < 'a'", "'a' <= 'a'",
        "b'a' < b'b'", "b'\\xff' > b'a'", "'a' == b'a'", "'a' == 'a'", "'a' != 'A'",
        "'\\u00e9' == 'é'", "'e\\u0301' == 'é'", "r'\\n' == '\\\\n'", "'''a''' == \"a\"",
        "'abc'.lowerAscii()", "'a,b'.split(',')", "'abc'.substring(1)", "'abc'.charAt(0)",
        "'  a '.trim()", "'abc'.indexOf('b')", "'abc'.replace('b', 'x')", "'ABC'.upperAscii()",
        "'%s'.format(['a'])", "['a', 'b'].join(',')", "'abc'.reverse()", "'a'.contains(\"\")",
    ]
    return out


CONV_ARGS = {
    "int": ["1", "-1", "1u", "18446744073709551615u", "9223372036854775807u", "9223372036854775808u",
            "1.5", "-1.5", "1.9999", "-0.5", "1e19", "-1e19", "9.223372036854775807e18",
            "9223372036854774784.0", "-9223372036854775808.0", "-9.223372036854777e18",
            "0.0/0.0", "1.0/0.0", "-1.0/0.0", "'1'", "'-1'", "'+1'", "' 1'", "'1 '", "'1e3'",
            "'0x10'", "'1.0'", "''", "'9223372036854775807'", "'9223372036854775808'",
            "'-9223372036854775808'", "'١٢'", "true", "false", "null", "timestamp(0)",
            "timestamp('2024-01-02T03:04:05Z')", "timestamp('1969-12-31T23:59:59.5Z')",
            "duration('1s')", "b'1'", "[1]", "int(1)", "request.time", "response.code"],
    "uint": ["1", "-1", "0", "9223372036854775807", "1u", "1.5", "-0.5", "-1.0", "1e19", "1.8446744073709552e19",
             "1.844674407370955e19", "18446744073709549568.0", "0.0/0.0", "1.0/0.0", "'1'", "'1u'",
             "'-1'", "'18446744073709551615'", "'18446744073709551616'", "'0x10'", "''", "true",
             "null", "duration('1s')", "timestamp(0)", "connection.id", "response.code"],
    "double": ["1", "-1", "9223372036854775807", "1u", "18446744073709551615u", "1.5", "'1.5'",
               "'1e3'", "'1E3'", "'.5'", "'5.'", "'0x10'", "'0x1p4'", "'inf'", "'-inf'", "'Infinity'",
               "'nan'", "'NaN'", "'-nan'", "'1e400'", "'-1e400'", "'1e-400'", "' 1'", "'1 '", "''",
               "'1,5'", "'1_0'", "true", "null", "duration('1s')", "timestamp(0)", "b'1'"],
    "string": ["1", "-1", "1u", "18446744073709551615u", "1.0", "1.5", "-0.0", "0.1", "1e6", "1e-7",
               "100.0", "123456.0", "1234567.0", "1e15", "1e16", "1e21", "123456789.0", "0.000123",
               "1.0/3.0", "2.0/3.0", "1e100", "5e-324", "1.7976931348623157e308",
               "0.30000000000000004", "9007199254740993.0", "1.0/0.0", "-1.0/0.0", "0.0/0.0",
               "true", "false", "null", "'a'", "b'abc'", "b'\\xff'", "b'\\xc3\\xa9'", "[1]", "{}",
               "type(1)", "int", "duration('1.5s')", "duration('0s')", "duration('3600s')",
               "duration('1ns')", "duration('-0.5s')", "duration('1.000000001s')", "duration('1m')",
               "duration('100000s')", "duration('0.1s')", "duration('-315576000000s')",
               "timestamp(0)", "timestamp('2024-01-02T03:04:05.120Z')",
               "timestamp('2024-01-02T03:04:05.123456789Z')", "timestamp('0001-01-01T00:00:00Z')",
               "timestamp('2024-01-02T03:04:05+05:30')", "timestamp('2024-01-02T03:04:05.1Z')",
               "destination.port", "connection.id", "request.time", "request.duration",
               "connection.mtls", "request.host"],
    "bytes": ["'abc'", "''", "'é'", "'\\xff'", "'😀'", "b'abc'", "1", "null", "[1]", "request.host"],
    "bool": ["true", "'true'", "'false'", "'TRUE'", "'FALSE'", "'True'", "'False'", "'t'", "'f'",
             "'T'", "'F'", "'1'", "'0'", "'yes'", "'no'", "'tRuE'", "''", "' true'", "1", "0",
             "null", "1.0", "connection.mtls"],
    "timestamp": ["'2024-01-02T03:04:05Z'", "'2024-01-02T03:04:05.123Z'", "'2024-01-02T03:04:05.123456789Z'",
                  "'2024-01-02T03:04:05.1234567891Z'", "'2024-01-02T03:04:05+05:30'",
                  "'2024-01-02T03:04:05-08:00'", "'2024-01-02T03:04:05'", "'2024-01-02 03:04:05Z'",
                  "'2024-01-02t03:04:05z'", "'2024-01-02'", "'2024-13-01T00:00:00Z'",
                  "'2024-02-30T00:00:00Z'", "'2023-02-29T00:00:00Z'", "'2024-02-29T00:00:00Z'",
                  "'2024-01-01T24:00:00Z'", "'2024-01-01T23:59:60Z'", "'0001-01-01T00:00:00Z'",
                  "'0000-01-01T00:00:00Z'", "'9999-12-31T23:59:59.999999999Z'", "'10000-01-01T00:00:00Z'",
                  "'1969-12-31T23:59:59Z'", "''", "'now'", "0", "1", "-1", "1704164645",
                  "253402300799", "253402300800", "-62135596800", "-62135596801", "1u", "1.5",
                  "timestamp(0)", "duration('1s')", "null", "request.time"],
    "duration": ["'1s'", "'1.5s'", "'-1.5s'", "'0s'", "'0'", "'1'", "'1.5'", "''", "'1ms'", "'1us'",
                 "'1µs'", "'1ns'", "'1m'", "'1h'", "'1h30m'", "'1h30m15.5s'", "'1d'", "'1w'",
                 "'-0s'", "'+1s'", "'1S'", "'1 s'", "' 1s'", "'.5s'", "'5.s'", "'1e3s'",
                 "'315576000000s'", "'315576000001s'", "'-315576000000s'", "'87660000h'",
                 "'87660001h'", "'1.0000000001s'", "'2562047h47m16.854775807s'",
                 "'9223372036854775807ns'", "'9223372036854775808ns'", "1", "1.5", "null",
                 "duration('1s')", "timestamp(0)", "request.duration"],
    "dyn": ["1", "1u", "1.5", "'a'", "null", "[1]", "{'a': 1}", "request.host", "dyn(1)", "1/0"],
    "type": ["1", "1u", "1.5", "'a'", "b'a'", "true", "null", "[1]", "{'a': 1}", "timestamp(0)",
             "duration('1s')", "int", "type(1)", "dyn(1)", "1/0", "request", "request.headers",
             "connection.id", "request.time", "request.duration", "connection.mtls",
             "google.protobuf.Timestamp", "google.protobuf.Int64Value{value: 1}"],
}


def cat_conversions(rng):
    out = []
    for fn, args in CONV_ARGS.items():
        out += [f"{fn}({a})" for a in args]
        out += [f"{fn}()", f"{fn}(1, 2)"]
    out += [
        "type(1) == int", "type(1u) == uint", "type(1.0) == double", "type('') == string",
        "type(b'') == bytes", "type(true) == bool", "type(null) == null_type",
        "type([]) == list", "type({}) == map", "type(type) == type", "type(int) == type",
        "type(timestamp(0)) == google.protobuf.Timestamp",
        "type(duration('1s')) == google.protobuf.Duration", "type(1) == type(1u)",
        "type(1) == 'int'", "int == int", "int != uint", "int", "uint", "double", "string",
        "bytes", "bool", "list", "map", "null_type", "type", "google.protobuf.Timestamp",
        "google.protobuf.Duration", "dyn", "int(int(int(1)))", "double(int(1.5))",
        "uint(int(-0.5))", "int(double(9223372036854775807))", "int(uint(1)) == 1",
        "string(int('42')) == '42'", "double(string(0.1)) == 0.1", "bytes(string(b'abc'))",
        "timestamp(string(timestamp(0)))", "duration(string(duration('1.5s')))",
        "int(timestamp(int(timestamp('2024-01-02T03:04:05Z'))))",
        "google.protobuf.Int64Value{value: 1}", "google.protobuf.UInt64Value{value: 1u}",
        "google.protobuf.DoubleValue{value: 1.5}", "google.protobuf.StringValue{value: 'a'}",
        "google.protobuf.BoolValue{value: true}", "google.protobuf.Timestamp{seconds: 1}",
        "google.protobuf.Duration{seconds: 1, nanos: 500000000}", "google.protobuf.Int64Value{}",
        "google.protobuf.Struct{fields: {'a': google.protobuf.Value{number_value: 1.0}}}",
        "google.protobuf.Value{string_value: 'a'}", "google.protobuf.ListValue{}",
        "google.protobuf.Nope{}", "Nope{a: 1}",
    ]
    return out


NUMS = ["0", "1", "-1", "2", "0u", "1u", "2u", "0.0", "-0.0", "1.0", "0.5", "-1.0", "1.5",
        "9223372036854775807", "-9223372036854775808", "18446744073709551615u",
        "9223372036854775807u", "9223372036854775808u", "9.223372036854775807e18",
        "1.8446744073709552e19", "-9.223372036854775808e18", "0.0/0.0", "1.0/0.0", "-1.0/0.0",
        "9007199254740993", "9007199254740992.0", "response.code", "connection.id", "source.port"]
CMP_OPS = ["==", "!=", "<", "<=", ">", ">="]


def cat_numeric_compare(rng):
    out = ["1 == 1.0", "1u < 2", "dyn(18446744073709551615u) > 9223372036854775807",
           "1 == 1u", "1u == 1.0", "-1 < 0u", "0u > -1", "1.5 > 1", "1.5 > 1u",
           "9223372036854775807 < 9223372036854775808u", "9223372036854775807 == 9.223372036854775807e18",
           "9007199254740993 == 9007199254740992.0", "9007199254740993 > 9007199254740992.0",
           "18446744073709551615u == 1.8446744073709552e19", "-0.0 == 0", "0.0/0.0 == 0.0/0.0",
           "0.0/0.0 != 0.0/0.0", "0.0/0.0 < 1", "0.0/0.0 > 1", "1.0/0.0 > 9223372036854775807",
           "-1.0/0.0 < -9223372036854775808", "dyn(1) == dyn(1.0)", "dyn(1) < dyn(2u)",
           "[1, 2u, 3.0] == [1.0, 2, 3u]", "{'a': 1} == {'a': 1.0}", "1 == '1'", "1 == null",
           "null == 0", "true == 1", "'a' == b'a'", "[1] == [1, 1]", "1 < 'a'", "1 < true",
           "1 < null", "null < null", "true < false", "false < true", "[1] < [2]", "{} < {}",
           "timestamp(0) < timestamp(1)", "duration('1s') < duration('2s')", "timestamp(0) < 1",
           "duration('1s') == 1", "response.code == 200u", "response.code == 200.0",
           "response.code > 199.5", "connection.id == 7", "connection.id < 8.5",
           "connection.id > -1", "source.port == destination.port", "response.code != 404u"]
    pairs = set()
    while len(pairs) < 120:
        pairs.add((rng.choice(NUMS), rng.choice(CMP_OPS), rng.choice(NUMS)))
    for a, op, b in sorted(pairs):
        wrap = rng.random() < 0.25
        out.append(f"dyn({a}) {op} dyn({b})" if wrap else f"{a} {op} {b}")
    return out


def cat_arith(rng):
    out = ["9223372036854775807 + 1", "-9223372036854775808 - 1", "9223372036854775807 * 2",
           "-9223372036854775808 * -1", "-9223372036854775808 / -1", "-9223372036854775808 % -1",
           "-(-9223372036854775808)", "4611686018427387904 * 2", "4611686018427387904 * -2",
           "18446744073709551615u + 1u", "0u - 1u", "9223372036854775808u * 2u",
           "18446744073709551615u * 1u", "1 / 0", "1 % 0", "0 / 0", "0 % 0", "1u / 0u",
           "1u % 0u", "1.0 / 0.0", "-1.0 / 0.0", "0.0 / 0.0", "1.0 % 2.0", "1 / 0.0",
           "7 / 2", "-7 / 2", "7 / -2", "-7 / -2", "7 % 3", "-7 % 3", "7 % -3", "-7 % -3",
           "7u / 2u", "7u % 3u", "1 + 1u", "1u + 1", "1 + 1.0", "1.0 + 1u", "1u - 2u",
           "0.1 + 0.2", "0.1 + 0.2 == 0.3", "1e308 * 10.0", "-1e308 * 10.0", "5e-324 / 2.0",
           "1.0 / 3.0", "2.0 / 3.0 * 3.0", "10.0 - 0.1", "1.5 * 2", "3 * 1.5", "-(1.0/0.0)",
           "(0.0/0.0) * 0.0", "1.0 * -0.0", "0.0 * -1.0", "'a' * 2", "[1] * 2", "true + 1",
           "null + 1", "response.code + 1", "response.code * 1000000000000", "request.size + 1",
           "request.size * 2", "connection.id + 1u", "connection.id + 1", "connection.id * 2u",
           "connection.id - 1u", "source.port - destination.port", "response.code / 0",
           "response.code % 100", "request.size / request.total_size",
           "9223372036854775807 + 1 > 0 || true", "true || 9223372036854775807 + 1 > 0",
           "1 / 0 == 0 && false", "false && 1 / 0 == 0"]
    for _ in range(60):
        a = rng.choice(NUMS[:20] + ["3", "-3", "7u", "2.5", "-7"])
        b = rng.choice(NUMS[:20] + ["3", "-3", "7u", "2.5", "-7"])
        out.append(f"{a} {rng.choice(['+', '-', '*', '/', '%'])} {b}")
    return out


LOGIC_OPERANDS = {"t": "true", "f": "false", "e": "1/0 == 0", "n": "'str'", "N": "null",
                  "i": "1", "m": "request.nope", "h": "has(request.host)",
                  "E": "[1][5] == 1"}


def cat_logic(rng):
    out = []
    keys = list(LOGIC_OPERANDS)
    for op in ["&&", "||"]:
        for a in keys:
            for b in keys:
                out.append(f"{LOGIC_OPERANDS[a]} {op} {LOGIC_OPERANDS[b]}")
    for _ in range(50):
        n = rng.randint(3, 4)
        parts = [LOGIC_OPERANDS[rng.choice(keys)]]
        for _ in range(n - 1):
            parts.append(rng.choice(["&&", "||"]))
            if rng.random() < 0.2:
                parts.append("!" + rng.choice(["true", "false", "(1/0 == 0)"]))
            else:
                parts.append(LOGIC_OPERANDS[rng.choice(keys)])
        out.append(" ".join(parts))
    out += ["!(1/0 == 0)", "!(1/0 == 0) || true", "(1/0 == 0 || true) && (false || 1/0 == 0)",
            "(1/0 == 0 && false) || true", "1/0 == 0 && 'a'", "'a' && 1/0 == 0",
            "'a' && false", "false && 'a'", "'a' || 'b'", "null || true", "true && null",
            "1/0 == 0 || 2/0 == 0", "2/0 == 0 || 1/0 == 0", "request.nope || true",
            "request.nope && false", "request.nope == 'x' || response.code == 200",
            "response.code == 200 || request.nope == 'x'"]
    return out


ZONES = [None, "UTC", "America/Los_Angeles", "+05:30", "-08:00", "Asia/Kolkata",
         "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kathmandu", "Mars/Olympus",
         "", "utc", "Z", "+25:00", "05:30", "+5:30", "-00:45", "+0530", "GMT", "EST",
         "America/New_York", "local"]
TS_LITS = ["timestamp('2024-01-02T03:04:05.123Z')", "timestamp('2024-03-10T10:30:00Z')",
           "timestamp('2024-11-03T08:30:00Z')", "timestamp('2024-02-29T23:59:59.999Z')",
           "timestamp('2023-12-31T23:30:00Z')", "timestamp('1969-12-31T23:59:59.5Z')",
           "timestamp('0001-01-01T00:00:00Z')", "timestamp('9999-12-31T23:59:59.999999999Z')",
           "timestamp(0)", "request.time"]
TS_ACCESSORS = ["getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate",
                "getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds"]
DUR_LITS = ["duration('3723.5s')", "duration('-3723.5s')", "duration('0s')", "duration('1ns')",
            "duration('59.999s')", "duration('315576000000s')", "request.duration"]
DUR_ACCESSORS = ["getHours", "getMinutes", "getSeconds", "getMilliseconds"]


def cat_time(rng):
    out = []
    for _ in range(120):
        ts = rng.choice(TS_LITS)
        acc = rng.choice(TS_ACCESSORS)
        z = rng.choice(ZONES)
        out.append(f"{ts}.{acc}()" if z is None else f"{ts}.{acc}('{z}')")
    for d in DUR_LITS:
        for acc in DUR_ACCESSORS:
            out.append(f"{d}.{acc}()")
    out += [f"duration('1s').getHours('UTC')", "timestamp(0).getHours(1)",
            "timestamp(0).getHours('UTC', 'x')", "getHours(timestamp(0))", "1.getHours()",
            "timestamp(0).getMicroseconds()", "duration('1s').getDays()"]
    out += [
        "timestamp('2024-01-02T03:04:05Z') - timestamp('2024-01-01T00:00:00Z')",
        "timestamp('2024-01-01T00:00:00Z') - timestamp('2024-01-02T03:04:05Z')",
        "timestamp('2024-01-01T00:00:00Z') + duration('1h')",
        "duration('1h') + timestamp('2024-01-01T00:00:00Z')",
        "timestamp('2024-01-01T00:00:00Z') - duration('1.5s')",
        "duration('1s') - timestamp(0)", "timestamp(0) + timestamp(0)",
        "timestamp('9999-12-31T23:59:59Z') + duration('1s')",
        "timestamp('0001-01-01T00:00:00Z') - duration('1ns')",
        "timestamp('9999-12-31T23:59:59Z') - timestamp('0001-01-01T00:00:00Z')",
        "duration('1s') + duration('500ms')", "duration('1s') - duration('2s')",
        "duration('315576000000s') + duration('1s')", "duration('-315576000000s') - duration('1s')",
        "duration('1s') * 2", "duration('1s') / 2", "-duration('1s')", "duration('1s') + 1",
        "timestamp(0) == timestamp('1970-01-01T00:00:00Z')", "timestamp(0) < timestamp(1)",
        "duration('60s') == duration('1m')", "duration('1s') < duration('999ms')",
        "duration('1s') == duration('1000ms')", "timestamp(0) == 0",
        "request.time > timestamp('2024-01-01T00:00:00Z')", "request.time - request.time",
        "request.time + request.duration", "request.time - request.duration",
        "request.duration > duration('100ms')", "request.duration + request.duration",
        "request.time.getFullYear() == 2024", "int(request.time)", "string(request.time)",
        "string(request.duration)", "type(request.time)", "type(request.duration)",
        "timestamp(int(request.time))", "request.time < timestamp(0)",
        "timestamp('2024-01-02T03:04:05.999999999Z').getMilliseconds()",
        "timestamp('1969-12-31T23:59:59.999Z').getMilliseconds()",
        "timestamp('1969-12-31T23:59:59.999Z').getSeconds()",
        "duration('-1.5s').getSeconds()", "duration('-1.5s').getMilliseconds()",
        "duration('1.9999s').getMilliseconds()", "duration('90m').getHours()",
        "duration('-90m').getMinutes()",
    ]
    for z in ["UTC", "America/Los_Angeles", "+05:30", "Mars/Olympus", "-08:00", ""]:
        out.append(f"timestamp('2024-03-10T10:30:00Z').getHours('{z}') - timestamp('2024-03-10T09:30:00Z').getHours('{z}')")
    return out


SYNTAX = [
    "", " ", "(", ")", "(1", "1)", "((1)", "[1", "1]", "{'a': 1", "{'a' 1}", "{'a':}", "{:1}",
    "[1 2]", "1 +", "+ 1", "* 2", "1 ++ 2", "1 2", "1..2", "1.", "1.e", ".", "..", "a.", ".a.",
    "a..b", "0XFF", "0x", "0b101", "0o17", "1_000", "1e", "1e+", "1.5.5", "1u2", "1ul",
    "rb''", "Rb''", "bb''", "ur''", "u''", "f''", "'\\0'", "\"\\0\"", "'\\08'", "'\\x'", "'\\u'",
    "'\\U'", "'\\u00'", "'\\U0000'", "'a", "'''a''", "\"a", "'\n'", "b'\\u0041'",
    "true false", "null null", "!", "-", "!!", "a ? b", "a ? b :", "a : b", "? :",
    "&&", "||", "a &&", "|| b", "a & b", "a | b", "a ^ b", "~a", "a = 1", "a == = 1",
    "a === 1", "a !== 1", "a <> 1", "a => 1", "a =< 1", "a => b", "1 !in [1]", "not true",
    "a and b", "a or b", "if", "else", "for", "function", "let", "var", "void", "while",
    "import", "package", "namespace", "as", "break", "const", "continue", "in", "loop",
    "return", "if == 1", "true.in", "request.in", "request.if", "{'a': 1}.in",
    "null.null", "a.true", "a.null", "in(1)", "has", "has(", "has(a.b", "has(a.b))",
    "f(", "f(1,", "f(1,)", "f(,)", "f(1 2)", "a.f(", "[1, 2,,]", "{'a': 1,, 'b': 2}",
    "{1, 2}", "{'a'}", "[:]", "a[", "a[]", "a[1", "a[1]]", "a.()", "a.1", "a.'b'",
    "1 . x", "a b c", "#", "$", "@", "a@b", "`a`", "a\\b", "'a' 'b'", "//", "// comment",
    "1 // comment", "/* c */ 1", "1 /* c */", "\t1\n", "\r\n1", "1\n+\n2", "\u00a01",
    "é", "αβ", "_", "_a", "a_", "__", "a$", "1a", "a-b", "request.headers.x-user",
    "request.headers[x-user]", "Nope{", "Nope{a 1}", "Nope{a: }", ".Nope{}", "a.b{c: 1}",
    "{a: 1}", "(1, 2)", "()", "[]]", "{}}", "((((((((((1))))))))))",
    "(" * 31 + "1" + ")" * 31, "(" * 32 + "1" + ")" * 32, "(" * 33 + "1" + ")" * 33,
    "[" * 31 + "1" + "]" * 31, "[" * 32 + "1" + "]" * 32, "-" * 40 + "1", "!" * 41 + "true",
    " + ".join(["1"] * 31), " + ".join(["1"] * 32), " + ".join(["1"] * 33),
    " && ".join(["true"] * 40), "a" + ".b" * 31, "a" + ".b" * 32, "a" + "[0]" * 32,
    "'a' +", "1 ? 2 : 3 :", "x.all(", "[1].all(x,", "[1].map(x, y, z, w)",
    "1 == 1 == 1", "true ? 1 : 2 : 3", "'\\ud83d\\ude00'",
]


def cat_syntax(rng):
    return list(SYNTAX)


# ----------------------------------------------------------------------------
# Random expressions over the attribute vocabulary.
# ----------------------------------------------------------------------------

STR_ATTRS = [n for n, (t, _, _) in VOCAB.items() if t == "string"]
INT_ATTRS = [n for n, (t, _, _) in VOCAB.items() if t == "int"]
STR_LEAVES = ["'GET'", "'/reviews'", "'x'", "''", "'é'", "\"v1\"", "'outbound|'", "'10.'"]
HDR_KEYS = sorted(HEADERS_POOL) + ["nope", "X-User"]
IN_COLLS = ["request.headers", '["GET", "POST"]', "filter_state.upstream_peer.labels", '{"a": 1}']
HDR_BODIES = ['k.startsWith("x-")', "size(k) > 4", 'request.headers[k] != ""']


class RandExpr:
    def __init__(self, rng):
        self.rng = rng

    def p(self, s):
        return f"({s})" if self.rng.random() < 0.3 else s

    def int_(self, d):
        r = self.rng
        if d <= 0 or r.random() < 0.35:
            return r.choice(INT_ATTRS + ["0", "1", "200", "400", "-1", "1024", "9223372036854775807"])
        k = r.randint(0, 6)
        if k == 0:
            return f"{self.p(self.int_(d - 1))} {r.choice(['+', '-', '*', '/', '%'])} {self.p(self.int_(d - 1))}"
        if k == 1:
            return f"size({self.str_(d - 1)})"
        if k == 2:
            return f"int({r.choice([self.str_(d - 1), self.dbl(d - 1), 'connection.id'])})"
        if k == 3:
            return f"{self.bool_(d - 1)} ? {self.int_(d - 1)} : {self.int_(d - 1)}"
        if k == 4:
            return f"-{self.p(self.int_(d - 1))}"
        if k == 5:
            return f"request.time.{r.choice(TS_ACCESSORS)}({r.choice(['', repr('UTC'), repr('America/Los_Angeles'), repr('+05:30')])})"
        return f"size({r.choice(['request.headers', 'filter_state.upstream_peer.labels', '[1, 2]'])})"

    def dbl(self, d):
        r = self.rng
        if d <= 0 or r.random() < 0.4:
            return r.choice(["1.5", "0.0", "-2.5", "1e3", ".5", "double(response.code)",
                             "double(connection.id)"])
        return f"{self.p(self.dbl(d - 1))} {r.choice(['+', '-', '*', '/'])} {self.p(self.dbl(d - 1))}"

    def str_(self, d):
        r = self.rng
        if d <= 0 or r.random() < 0.35:
            return r.choice(STR_ATTRS + STR_LEAVES + [f"request.headers['{r.choice(HDR_KEYS)}']"])
        k = r.randint(0, 3)
        if k == 0:
            return f"{self.p(self.str_(d - 1))} + {self.p(self.str_(d - 1))}"
        if k == 1:
            return f"string({r.choice([self.int_(d - 1), self.dbl(d - 1), 'connection.id', 'request.duration', 'request.time', 'connection.mtls'])})"
        if k == 2:
            return f"{self.bool_(d - 1)} ? {self.str_(d - 1)} : {self.str_(d - 1)}"
        return f"filter_state.upstream_peer.labels['{r.choice(sorted(LABELS_POOL) + ['nope'])}']"

    def bool_(self, d):
        r = self.rng
        if d <= 0 or r.random() < 0.2:
            a = r.choice(STR_ATTRS + [n for n in VOCAB if "." in n])
            return r.choice(["true", "false", "connection.mtls", f"has({a})"])
        k = r.randint(0, 8)
        if k == 0:
            return f"{self.p(self.bool_(d - 1))} {r.choice(['&&', '||'])} {self.p(self.bool_(d - 1))}"
        if k == 1:
            return f"!{self.p(self.bool_(d - 1))}"
        if k == 2:
            return f"{self.int_(d - 1)} {r.choice(CMP_OPS)} {r.choice([self.int_(d - 1), '200u', '2.5', 'connection.id'])}"
        if k == 3:
            return f"{self.str_(d - 1)} {r.choice(CMP_OPS)} {self.str_(d - 1)}"
        if k == 4:
            fn = r.choice(["contains", "startsWith", "endsWith"])
            return f"{self.str_(d - 1)}.{fn}({self.str_(d - 1)})"
        if k == 5:
            return f"{self.str_(d - 1)}.matches({_cel_str(r.choice(REGEXES[:33]))})"
        if k == 6:
            coll = r.choice(IN_COLLS)
            return f"{self.str_(d - 1)} in {coll}"
        if k == 7:
            m, body = r.choice(["exists", "all", "exists_one"]), r.choice(HDR_BODIES)
            return f"request.headers.{m}(k, {body})"
        return f"request.time {r.choice(CMP_OPS)} timestamp('2024-03-10T10:00:00Z') || request.duration {r.choice(CMP_OPS)} duration('1s')"

    def any_(self, d):
        return self.rng.choice([self.int_, self.str_, self.bool_, self.bool_, self.dbl])(d)


def cat_random(rng, n):
    g = RandExpr(rng)
    return [g.any_(rng.randint(1, 4)) for _ in range(n)]


# ----------------------------------------------------------------------------

CATEGORIES = [
    ("istio", cat_istio), ("lit", cat_literals), ("op", cat_operators), ("tern", cat_ternary),
    ("in", cat_in), ("coll", cat_collections), ("idx", cat_indexing), ("has", cat_has),
    ("macro", cat_macros), ("str", cat_strings), ("conv", cat_conversions),
    ("numcmp", cat_numeric_compare), ("arith", cat_arith), ("logic", cat_logic),
    ("time", cat_time), ("syntax", cat_syntax),
]


_MAP_RANGE = re.compile(r"(\}|request\.headers|response\.headers|labels|request|filter_state|"
                        r"upstream_peer)\s*\.\s*(map|filter)\s*\(")


def iterates_map(expr):
    """A list built by map()/filter() over a map: its order is cel-cpp's map
    iteration order, which differs between processes (reference.py sorts it)."""
    return bool(_MAP_RANGE.search(expr))


def generate(seed, count):
    rng = random.Random(seed)
    seen = set()
    items = []  # (category, expr, nbags)

    def add(cat, e):
        nb = None
        if isinstance(e, tuple):
            e, nb = e
        if e in seen:
            return
        seen.add(e)
        items.append((cat, e, nb))

    for cat, fn in CATEGORIES:
        for e in fn(rng):
            add(cat, e)
    tries = 0
    while len(items) < count and tries < 100 * count:
        tries += 1
        add("rand", cat_random(rng, 1)[0])
    lines = []
    counters = {}
    for cat, e, nb in items:
        counters[cat] = counters.get(cat, 0) + 1
        for b, bag in enumerate(bags_for(rng, e, nb)):
            line = {"id": f"{cat}.{counters[cat]}.{b}", "expr": e, "attrs": bag}
            if iterates_map(e):
                line["unordered"] = True
            lines.append(line)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--count", type=int, default=3000)
    a = ap.parse_args()
    out = sys.stdout
    for line in generate(a.seed, a.count):
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
