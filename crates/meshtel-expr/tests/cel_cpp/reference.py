#!/usr/bin/env python3
"""Reference CEL evaluator for meshtel-expr's differential tests: Google's cel-cpp,
through the PyPI package `cel-expr-python` (module `cel_expr_python.cel`).

Reads JSON lines on stdin, writes exactly one JSON line per input line on stdout.
See README.md beside this file for the input format, the output format and the
normalisation rules; the short version:

  in:  {"expr": "request.host", "attrs": {"request.host": "a"}, "id": 7}
       (optional "unordered": true: a list result is sorted, see README)
  out: {"id": 7, "ok": true, "type": "string", "value": "a"}
       {"ok": false, "stage": "parse"|"eval"|"input"|"crash"|"timeout"|"internal",
        "code": "INVALID_ARGUMENT", "error": "<cel-cpp message>"}

Expressions are compiled with `disable_check=True` (parse only, no type checker),
which is how Envoy runs CEL. The eight Envoy attribute namespaces are always bound,
as (possibly empty) maps.

Isolation: by default the real work happens in a child process
(`reference.py --worker`); if cel-cpp crashes or hangs on a line, this process
reports that line as stage "crash"/"timeout" and starts a new child, so the output
always has one line per input line. `--in-process` skips the child (debugging).
"""

import base64
import json
import math
import os
import re
import select
import subprocess
import sys

NAMESPACES = ("request", "response", "source", "destination", "connection",
              "upstream", "xds", "filter_state")

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

DEFAULT_TIMEOUT_S = 20.0


class InputError(Exception):
    pass


def dumps(obj):
    # ASCII-only output: any stray surrogate or odd byte in a message survives as an
    # escape instead of breaking the UTF-8 writer.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


_CODE_RE = re.compile(r"^([A-Z][A-Z_]+): ")


def err(stage, message, ident=None):
    out = {}
    if ident is not None:
        out["id"] = ident
    out["ok"] = False
    out["stage"] = stage
    m = _CODE_RE.match(message)
    if m:
        out["code"] = m.group(1)
    out["error"] = message
    return out


# ----------------------------------------------------------------------------
# Input: typed JSON values -> Python values that cel-expr-python converts to the
# right CEL types.
# ----------------------------------------------------------------------------

class _Proto:
    """Lazily imported protobuf well-known types (uint, timestamp, duration inputs)."""
    mods = None

    @classmethod
    def get(cls):
        if cls.mods is None:
            from google.protobuf import duration_pb2, timestamp_pb2, wrappers_pb2
            cls.mods = (wrappers_pb2, timestamp_pb2, duration_pb2)
        return cls.mods


def _int_of(x, what):
    if isinstance(x, bool):
        raise InputError(f"{what}: expected a decimal string or an integer, got a bool")
    if isinstance(x, int):
        return x
    if isinstance(x, str) and re.fullmatch(r"[+-]?[0-9]+", x.strip()):
        return int(x.strip())
    raise InputError(f"{what}: expected a decimal string or an integer, got {x!r}")


_DOUBLE_WORDS = {"nan": math.nan, "+nan": math.nan, "-nan": math.nan,
                 "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
                 "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}


def decode_value(v, where):
    if v is None or isinstance(v, (bool, str, float)):
        return v
    if isinstance(v, int):
        if not INT64_MIN <= v <= INT64_MAX:
            raise InputError(f"{where}: JSON integer {v} is outside int64; "
                             "use {\"$uint\": \"...\"} for uint values")
        return v
    if isinstance(v, list):
        return [decode_value(x, f"{where}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, dict):
        if len(v) == 1:
            (tag, x), = v.items()
            if tag.startswith("$"):
                return decode_tagged(tag, x, where)
        return {k: decode_value(x, f"{where}.{k}") for k, x in v.items()}
    raise InputError(f"{where}: unsupported JSON value {v!r}")


def decode_tagged(tag, x, where):
    wrappers_pb2, timestamp_pb2, duration_pb2 = _Proto.get()
    if tag == "$uint":
        n = _int_of(x, f"{where} $uint")
        if not 0 <= n <= UINT64_MAX:
            raise InputError(f"{where}: $uint {n} is outside uint64")
        # A uint64 wrapper message becomes a plain CEL uint (cel-cpp unwraps
        # wrapper types); a bare Python int would become an int.
        return wrappers_pb2.UInt64Value(value=n)
    if tag == "$int":
        n = _int_of(x, f"{where} $int")
        if not INT64_MIN <= n <= INT64_MAX:
            raise InputError(f"{where}: $int {n} is outside int64")
        return n
    if tag == "$double":
        if isinstance(x, bool):
            raise InputError(f"{where}: $double expects a number or a string")
        if isinstance(x, (int, float)):
            return float(x)
        if isinstance(x, str):
            w = x.strip().lower()
            if w in _DOUBLE_WORDS:
                return _DOUBLE_WORDS[w]
            try:
                return float(x)
            except ValueError:
                pass
        raise InputError(f"{where}: bad $double {x!r}")
    if tag == "$bytes":
        if not isinstance(x, str):
            raise InputError(f"{where}: $bytes expects a base64 string")
        try:
            return base64.b64decode(x, validate=True)
        except Exception as e:  # binascii.Error
            raise InputError(f"{where}: bad base64 in $bytes: {e}")
    if tag == "$timestamp":
        if not isinstance(x, str):
            raise InputError(f"{where}: $timestamp expects an RFC 3339 string")
        t = timestamp_pb2.Timestamp()
        try:
            t.FromJsonString(x)
        except Exception as e:
            raise InputError(f"{where}: bad $timestamp {x!r}: {e}")
        return t
    if tag == "$duration":
        if not isinstance(x, str):
            raise InputError(f"{where}: $duration expects a string like \"1.5s\"")
        d = duration_pb2.Duration()
        try:
            d.FromJsonString(x)
        except Exception as e:
            raise InputError(f"{where}: bad $duration {x!r}: {e}")
        return d
    if tag == "$map":
        # [[key, value], ...] for maps whose keys are not strings (int/bool keys),
        # or whose only string key starts with '$'.
        if not isinstance(x, list):
            raise InputError(f"{where}: $map expects a list of [key, value] pairs")
        out = {}
        for i, pair in enumerate(x):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise InputError(f"{where}: $map entry {i} is not a [key, value] pair")
            k = decode_value(pair[0], f"{where} $map key {i}")
            if not isinstance(k, (str, int, bool)):
                raise InputError(f"{where}: $map key {i}: only string, int and bool keys "
                                 "can be given (a Python dict cannot hold a uint key)")
            if k in out:
                raise InputError(f"{where}: $map key {i} ({k!r}) repeats or collides with "
                                 "another key in a Python dict (true == 1)")
            out[k] = decode_value(pair[1], f"{where} $map value {i}")
        return out
    raise InputError(f"{where}: unknown tag {tag!r}")


def build_activation(attrs):
    """Flat dotted Envoy attribute names -> nested namespace maps."""
    act = {ns: {} for ns in NAMESPACES}
    if attrs is None:
        return act
    if not isinstance(attrs, dict):
        raise InputError("attrs must be a JSON object")
    # Shorter names first, so that "a.b" = {...} and "a.b.c" = 1 merge either way.
    for name in sorted(attrs, key=lambda n: n.count(".")):
        parts = name.split(".")
        if any(p == "" for p in parts):
            raise InputError(f"attribute name {name!r} has an empty segment")
        value = decode_value(attrs[name], name)
        node = act
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            elif not isinstance(nxt, dict):
                raise InputError(f"attribute {name!r}: {'.'.join(parts[:i + 1])} "
                                 "is already bound to a non-map value")
            node = nxt
        last = parts[-1]
        if last in node:
            if isinstance(node[last], dict) and isinstance(value, dict) and \
                    not set(node[last]) & set(value):
                node[last].update(value)
                continue
            raise InputError(f"attribute {name!r} is bound twice")
        node[last] = value
    return act


# ----------------------------------------------------------------------------
# Output: cel Value -> normalised JSON.
# ----------------------------------------------------------------------------

def norm_double(f):
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return repr(f)  # shortest round-trip form: 1.0, 0.1, 1e+100, -0.0, 5e-324


_TS_RE = re.compile(r"^(-?\d+)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def norm_timestamp(val):
    s = str(val)  # cel-cpp debug form, keeps nanoseconds: 2024-01-02T03:04:05.123456789Z
    m = _TS_RE.match(s)
    if m:
        y, mo, d, h, mi, se, frac = m.groups()
        frac = (frac or "").ljust(9, "0")
        return f"{int(y):04d}-{mo}-{d}T{h}:{mi}:{se}.{frac}Z"
    dt = val.value()  # datetime, microseconds only
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond * 1000:09d}Z"


_DUR_PART = re.compile(r"(\d+(?:\.\d*)?)(h|ms|us|µs|ns|m|s)")
_UNIT_NS = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6,
            "us": 10**3, "µs": 10**3, "ns": 1}


def _parse_absl_duration(s):
    """absl::FormatDuration text ("1h30m", "-1.5s", "0", "1ns") -> nanoseconds."""
    from fractions import Fraction
    if s == "0":
        return 0
    neg = s.startswith("-")
    body = s[1:] if neg else s
    pos, total = 0, Fraction(0)
    for m in _DUR_PART.finditer(body):
        if m.start() != pos:
            return None
        total += Fraction(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(body) or pos == 0 or total.denominator != 1:
        return None
    return -int(total) if neg else int(total)


def norm_duration(val):
    ns = _parse_absl_duration(str(val))
    if ns is None:
        td = val.value()
        ns = (td.days * 86400 + td.seconds) * 10**9 + td.microseconds * 1000
    sign = "-" if ns < 0 else ""
    a = abs(ns)
    return f"{sign}{a // 10**9}.{a % 10**9:09d}s"


def norm_type_value(val):
    s = str(val)  # int, uint, list<dyn>, map<dyn, dyn>, null_type, google.protobuf.Timestamp
    return re.sub(r"<.*>$", "", s)


def cel_string_literal(s):
    out = ['"']
    for c in s:
        out.append(c if (c.isascii() and c.isalnum()) else f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


def cel_key_literal(nk):
    t, v = nk["type"], nk["value"]
    if t == "int":
        return v
    if t == "uint":
        return v + "u"
    if t == "bool":
        return "true" if v else "false"
    if t == "string":
        return cel_string_literal(v)
    raise RuntimeError(f"unexpected map key type {t}")


def key_text(norm):
    return json.dumps(norm, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


class Normaliser:
    def __init__(self, env, data):
        self.env = env
        self.data = data

    def reeval(self, src):
        e = self.env.compile(src, disable_check=True)
        r = e.eval(data=self.data)
        if r.type().name() == "ERROR":
            raise RuntimeError(f"re-evaluation of {src!r} failed: {r.value()}")
        return r

    def norm(self, val, path):
        t = val.type().name()
        if t == "INT":
            return {"type": "int", "value": str(val.value())}
        if t == "UINT":
            return {"type": "uint", "value": str(val.value())}
        if t == "DOUBLE":
            return {"type": "double", "value": norm_double(val.value())}
        if t == "STRING":
            return {"type": "string", "value": val.value()}
        if t == "BYTES":
            return {"type": "bytes", "value": base64.b64encode(bytes(val.value())).decode()}
        if t == "BOOL":
            return {"type": "bool", "value": bool(val.value())}
        if t == "NULL":
            return {"type": "null_type", "value": None}
        if t == "TIMESTAMP":
            return {"type": "google.protobuf.Timestamp", "value": norm_timestamp(val)}
        if t == "DURATION":
            return {"type": "google.protobuf.Duration", "value": norm_duration(val)}
        if t == "TYPE":
            return {"type": "type", "value": norm_type_value(val)}
        if t.startswith("LIST"):
            items = val.value()
            return {"type": "list",
                    "value": [self.norm(x, f"({path})[{i}]") for i, x in enumerate(items)]}
        if t.startswith("MAP"):
            return {"type": "map", "value": self.norm_map(val, path)}
        if t == "ERROR":
            raise RuntimeError(f"error value inside a result: {val.value()}")
        # Anything else (a protobuf message type, unknown, optional): its name and
        # cel-cpp's debug text.
        return {"type": t, "value": str(val)}

    def norm_map(self, val, path):
        d = val.value()
        pairs = []
        if all(isinstance(k, str) for k in d):
            # String keys: the Python dict is exact.
            for k, x in d.items():
                pairs.append([{"type": "string", "value": k},
                              self.norm(x, f"({path})[{cel_string_literal(k)}]")])
        else:
            # int/uint/bool keys collapse in a Python dict (1 == 1u == true) and lose
            # their CEL type: ask cel-cpp for the typed keys, then look each value up
            # by its typed key (cel-cpp's lookup is exact-type first, so {1: a, 1u: b}
            # gives a for [1] and b for [1u]). Positions are not used: a map's
            # iteration order can differ between two evaluations of the same literal.
            keys = self.reeval(f"[{path}].map(zz_m, zz_m.map(zz_k, zz_k))[0]").value()
            for k in keys:
                nk = self.norm(k, None)
                vpath = f"({path})[{cel_key_literal(nk)}]"
                pairs.append([nk, self.norm(self.reeval(vpath), vpath)])
        pairs.sort(key=lambda p: key_text(p[0]))
        return pairs


# ----------------------------------------------------------------------------
# One line.
# ----------------------------------------------------------------------------

_ENV = None


def get_env():
    global _ENV
    if _ENV is None:
        from cel_expr_python import cel
        _ENV = cel.NewEnv()
    return _ENV


def process_text(text):
    try:
        obj = json.loads(text)
    except Exception as e:
        return err("input", f"not JSON: {e}")
    ident = obj.get("id") if isinstance(obj, dict) else None
    try:
        if not isinstance(obj, dict):
            raise InputError("a line must be a JSON object")
        expr = obj.get("expr")
        if not isinstance(expr, str):
            raise InputError("\"expr\" must be a string")
        data = build_activation(obj.get("attrs"))
    except InputError as e:
        return err("input", str(e), ident)
    except Exception as e:
        return err("input", f"{type(e).__name__}: {e}", ident)

    env = get_env()
    try:
        compiled = env.compile(expr, disable_check=True)
    except Exception as e:
        return err("parse", str(e), ident)
    try:
        r = compiled.eval(data=data)
    except Exception as e:
        # e.g. ALREADY_EXISTS for a map literal with a repeated key is raised, not
        # returned as an error value.
        return err("eval", str(e), ident)
    try:
        t = r.type().name()
        if t == "ERROR":
            return err("eval", str(r.value()), ident)
        if t == "UNKNOWN":
            return err("eval", f"UNKNOWN value: {r}", ident)
        n = Normaliser(env, data).norm(r, "(\n" + expr + "\n)")
        if obj.get("unordered") is True and n["type"] == "list":
            # A list built by iterating a map (e.g. {..}.map(k, ..)): cel-cpp's map
            # iteration order changes from one process to the next, so sort it.
            n["value"] = sorted(n["value"], key=key_text)
            n["unordered"] = True
    except Exception as e:
        return err("internal", f"normalising the result: {type(e).__name__}: {e}", ident)
    out = {}
    if ident is not None:
        out["id"] = ident
    out["ok"] = True
    out.update(n)
    return out


def process_bytes(raw):
    """Any input line (bytes, without its newline) -> one output line (str)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return dumps(err("input", f"line is not UTF-8: {e}"))
    try:
        return dumps(process_text(text))
    except BaseException as e:  # never let a line escape without an answer
        if isinstance(e, KeyboardInterrupt):
            raise
        try:
            return dumps(err("internal", f"{type(e).__name__}: {e}"))
        except Exception:
            return dumps({"ok": False, "stage": "internal", "error": "unprintable error"})


def _strip_nl(raw):
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw


def worker_main():
    sys.setrecursionlimit(20000)
    inp, out = sys.stdin.buffer, sys.stdout
    for raw in iter(inp.readline, b""):
        out.write(process_bytes(_strip_nl(raw)) + "\n")
        out.flush()


class Worker:
    def __init__(self):
        import tempfile
        self.err = tempfile.TemporaryFile()  # a file, so a chatty child never blocks
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)
        self.buf = b""

    def ask(self, raw, timeout):
        """-> (reply line or None, failure description)."""
        try:
            self.p.stdin.write(raw + b"\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            return None, f"worker died before the line was sent: {e}"
        fd = self.p.stdout.fileno()
        import time
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "timeout"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None, "eof"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace"), None

    def kill(self):
        try:
            self.p.kill()
        except Exception:
            pass
        try:
            self.p.wait(timeout=5)
        except Exception:
            pass
        try:
            self.err.seek(0)
            tail = self.err.read()[-400:].decode("utf-8", "replace")
            self.err.close()
        except Exception:
            tail = ""
        return self.p.returncode, tail


def supervisor_main(timeout):
    out = sys.stdout
    worker = None
    for raw in iter(sys.stdin.buffer.readline, b""):
        raw = _strip_nl(raw)
        if b"\n" in raw or b"\r" in raw:  # cannot happen after readline; belt and braces
            out.write(dumps(err("input", "line contains a carriage return")) + "\n")
            out.flush()
            continue
        if worker is None:
            worker = Worker()
        reply, why = worker.ask(raw, timeout)
        if reply is None:
            ident = None
            try:
                o = json.loads(raw.decode("utf-8"))
                ident = o.get("id") if isinstance(o, dict) else None
            except Exception:
                pass
            rc, tail = worker.kill()
            worker = None
            if why == "timeout":
                reply = dumps(err("timeout", f"no answer within {timeout}s", ident))
            else:
                reply = dumps(err("crash", f"cel-cpp worker exited (status {rc}); "
                                           f"stderr tail: {tail.strip()}", ident))
        out.write(reply + "\n")
        out.flush()
    if worker is not None:
        try:
            worker.p.stdin.close()
            worker.p.wait(timeout=10)
        except Exception:
            worker.kill()


def main(argv):
    if "--worker" in argv:
        worker_main()
        return
    if "--in-process" in argv:
        worker_main()
        return
    timeout = DEFAULT_TIMEOUT_S
    for a in argv:
        if a.startswith("--timeout="):
            timeout = float(a.split("=", 1)[1])
    supervisor_main(timeout)


if __name__ == "__main__":
    main(sys.argv[1:])
