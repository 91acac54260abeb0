//! The differential test against cel-cpp, the CEL engine Envoy uses: every expression of
//! `tests/cel_cpp/corpus.jsonl` evaluated over its attribute bag must give what cel-cpp gave
//! (`tests/cel_cpp/expected.jsonl`, produced by `tests/cel_cpp/reference.py` through the
//! `cel-expr-python` package, unchecked, with the namespaces as maps, as Envoy evaluates):
//! the same value of the same type, or an error where cel-cpp had one (parse or evaluation;
//! the two engines split those differently for unknown functions, so only "error" is
//! compared). CI regenerates `expected.jsonl` with cel-cpp and fails if it differs from the
//! committed file, so the expectation is cel-cpp's own.

use std::collections::{BTreeMap, HashMap};

use meshtel_expr::{Dialect, Duration, Manifest, Program, Timestamp, Value, ValueType};
use serde_json::{Value as Json, json};

const CORPUS: &str = include_str!("cel_cpp/corpus.jsonl");
const EXPECTED: &str = include_str!("cel_cpp/expected.jsonl");

/// An attribute value of the corpus, owned.
enum Owned {
    Text(String),
    Bytes(Vec<u8>),
    Int(i64),
    Uint(u64),
    Double(f64),
    Bool(bool),
    Timestamp(Timestamp),
    Duration(Duration),
    Map(BTreeMap<String, String>),
}

impl Owned {
    fn decode(json: &Json) -> Option<Self> {
        Some(match json {
            Json::String(s) => Self::Text(s.clone()),
            Json::Bool(b) => Self::Bool(*b),
            Json::Number(n) if n.is_i64() => Self::Int(n.as_i64()?),
            Json::Number(n) => Self::Double(n.as_f64()?),
            Json::Object(o) if o.len() == 1 && o.keys().next()?.starts_with('$') => {
                let (tag, v) = o.iter().next()?;
                match tag.as_str() {
                    "$uint" => Self::Uint(v.as_str()?.parse().ok()?),
                    "$double" => Self::Double(match v {
                        Json::String(s) => s.parse().ok()?,
                        other => other.as_f64()?,
                    }),
                    "$bytes" => Self::Bytes(base64_decode(v.as_str()?)?),
                    "$timestamp" => Self::Timestamp(v.as_str()?.parse().ok()?),
                    "$duration" => Self::Duration(v.as_str()?.parse().ok()?),
                    _ => return None,
                }
            }
            Json::Object(o) => Self::Map(
                o.iter()
                    .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }

    const fn value_type(&self) -> ValueType {
        match self {
            Self::Text(_) => ValueType::String,
            Self::Bytes(_) => ValueType::Bytes,
            Self::Int(_) => ValueType::Int64,
            Self::Uint(_) => ValueType::Uint64,
            Self::Double(_) => ValueType::Double,
            Self::Bool(_) => ValueType::Bool,
            Self::Timestamp(_) => ValueType::Timestamp,
            Self::Duration(_) => ValueType::Duration,
            Self::Map(_) => ValueType::StringMap,
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Self::Text(s) => Value::str(s),
            Self::Bytes(b) => Value::Bytes(b.as_slice().into()),
            Self::Int(v) => Value::Int64(*v),
            Self::Uint(v) => Value::Uint64(*v),
            Self::Double(v) => Value::Double(*v),
            Self::Bool(v) => Value::Bool(*v),
            Self::Timestamp(v) => Value::Timestamp(*v),
            Self::Duration(v) => Value::Duration(*v),
            Self::Map(m) => Value::StringMap(m),
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = bits << 6 | u32::try_from(BASE64.iter().position(|b| *b == c)?).ok()?;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A double of either side's normal form: a number, or `NaN`, `Infinity`, `-Infinity`, or a
/// decimal text.
fn double_of(v: &Json) -> f64 {
    match v {
        Json::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or(f64::NAN),
        },
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

/// Our value in the reference's normal form.
fn normal(v: &Value<'_>) -> Json {
    let typed = |ty: &str, value: Json| json!({"type": ty, "value": value});
    match v {
        Value::Int64(i) => typed("int", json!(i.to_string())),
        Value::Uint64(u) => typed("uint", json!(u.to_string())),
        Value::Double(d) if d.is_nan() => typed("double", json!("NaN")),
        Value::Double(d) if d.is_infinite() => typed("double", json!(if *d > 0.0 { "Infinity" } else { "-Infinity" })),
        Value::Double(d) => typed("double", json!(d)),
        Value::String(s) => typed("string", json!(s)),
        Value::Bytes(b) => typed("bytes", json!(base64_encode(b))),
        Value::Bool(b) => typed("bool", json!(b)),
        Value::Null => typed("null_type", Json::Null),
        Value::Timestamp(t) => {
            let text = t.to_string();
            let text = text.trim_end_matches('Z');
            let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
            typed("google.protobuf.Timestamp", json!(format!("{whole}.{frac:0<9}Z")))
        }
        Value::Duration(d) => {
            let n = d.as_nanos();
            let sign = if n < 0 { "-" } else { "" };
            let m = n.unsigned_abs();
            typed(
                "google.protobuf.Duration",
                json!(format!("{sign}{}.{:09}s", m / 1_000_000_000, m % 1_000_000_000)),
            )
        }
        Value::Type(t) => typed("type", json!(t.cel_name())),
        Value::List(items) => typed("list", Json::Array(items.iter().map(normal).collect())),
        Value::Map(entries) => typed("map", sorted_pairs(entries.iter().map(|(k, v)| (normal(k), normal(v))))),
        Value::StringMap(m) => {
            let mut pairs = Vec::new();
            m.for_each_entry(&mut |k, v| pairs.push((normal(&Value::str(k)), normal(&Value::str(v)))));
            typed("map", sorted_pairs(pairs.into_iter()))
        }
        other => typed("unsupported", json!(other.to_string())),
    }
}

fn sorted_pairs(pairs: impl Iterator<Item = (Json, Json)>) -> Json {
    let mut pairs: Vec<(String, Json, Json)> = pairs.map(|(k, v)| (k.to_string(), k, v)).collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Json::Array(pairs.into_iter().map(|(_, k, v)| json!([k, v])).collect())
}

/// Whether two normal forms agree: doubles by value (NaN equals NaN), unordered lists as
/// multisets.
fn agree(ours: &Json, theirs: &Json, unordered: bool) -> bool {
    match (ours, theirs) {
        (Json::Object(a), Json::Object(b)) if a.get("type") == b.get("type") => {
            let (x, y) = (&a["value"], &b["value"]);
            match a["type"].as_str() {
                Some("double") => {
                    let (ours, theirs) = (double_of(x), double_of(y));
                    (ours.is_nan() && theirs.is_nan()) || ours.to_bits() == theirs.to_bits()
                }
                Some("list") if unordered => {
                    let mut p: Vec<String> = x.as_array().into_iter().flatten().map(Json::to_string).collect();
                    let mut q: Vec<String> = y.as_array().into_iter().flatten().map(Json::to_string).collect();
                    p.sort();
                    q.sort();
                    p == q
                }
                Some("list" | "map") => match (x.as_array(), y.as_array()) {
                    (Some(p), Some(q)) => p.len() == q.len() && p.iter().zip(q).all(|(m, n)| agree(m, n, false)),
                    _ => false,
                },
                _ => x == y,
            }
        }
        (Json::Array(a), Json::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(m, n)| agree(m, n, false)),
        _ => ours == theirs,
    }
}

/// One corpus line run through our engine: `Ok(normal form)` or `Err(message)`.
fn run(line: &Json) -> Result<Json, String> {
    let source = line["expr"].as_str().ok_or("no expr")?;
    let mut manifest = Manifest::envoy();
    let mut owned: Vec<(String, Owned)> = Vec::new();
    for (name, v) in line["attrs"].as_object().into_iter().flatten() {
        let value = Owned::decode(v).ok_or_else(|| format!("cannot decode attribute {name}: {v}"))?;
        if manifest.get(name).is_none_or(|(_, ty)| ty != value.value_type()) {
            manifest.insert(name, value.value_type());
        }
        owned.push((name.clone(), value));
    }
    let program = Program::compile(Dialect::Cel, source, &manifest).map_err(|e| format!("compile: {e}"))?;
    let bag: HashMap<&str, Value<'_>> = owned.iter().map(|(k, v)| (k.as_str(), v.value())).collect();
    let value = program.evaluate(&bag).map_err(|e| format!("eval: {e}"))?;
    Ok(normal(&value))
}

/// The documented differences (`docs/expressions.md`, "CEL: what differs from cel-cpp"): a
/// disagreement is accepted only when it is one of these, named by what each side said.
/// What each side said about a line (ours, then cel-cpp's) to a deviation's test.
type Explains = fn(&str, &str) -> bool;

const DEVIATIONS: [(&str, Explains); 4] = [
    ("protobuf message construction is not supported", |ours, _| {
        ours.contains("message construction is not supported")
    }),
    (
        "string extension functions (split, …) are not supported",
        |ours, _| ours.contains("is not a supported CEL function"),
    ),
    (
        "nesting limits are meshtel's Limits, not cel-cpp's parser recursion limit of 32",
        |ours, theirs| ours.contains("nested deeper") || theirs.contains("max recursion depth"),
    ),
    (
        "durations are int64 nanoseconds (±292 years), not ±10000 years",
        |ours, _| {
            // A duration literal or attribute of eight or more digits of seconds or hours.
            let long = ours
                .split(|c: char| !c.is_ascii_digit())
                .any(|digits| digits.len() >= 8);
            long && (ours.contains("to duration") || ours.contains("$duration"))
        },
    ),
];

#[test]
fn meshtel_agrees_with_cel_cpp_on_the_corpus() {
    let expected: HashMap<String, Json> = EXPECTED
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter_map(|j| Some((j["id"].as_str()?.to_owned(), j)))
        .collect();
    let mut disagreements = Vec::new();
    let mut deviations = [0usize; DEVIATIONS.len()];
    let mut compared = 0;
    for line in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
        let line: Json = serde_json::from_str(line).expect("corpus lines are JSON");
        let id = line["id"].as_str().unwrap_or_default();
        let reference = &expected[id];
        compared += 1;
        let ours = run(&line);
        let unordered = line["unordered"].as_bool().unwrap_or(false);
        let same = match (&ours, reference["ok"].as_bool()) {
            (Ok(v), Some(true)) => agree(v, reference, unordered),
            (Err(_), Some(false)) => true,
            _ => false,
        };
        if same {
            continue;
        }
        let ours = ours.map_or_else(|e| e, |v| v.to_string());
        match DEVIATIONS
            .iter()
            .position(|(_, test)| test(&ours, &reference.to_string()))
        {
            Some(d) => deviations[d] += 1,
            None => disagreements.push(format!(
                "{id}: {}\n  attrs: {}\n  ours:   {ours}\n  cel-cpp: {reference}",
                line["expr"], line["attrs"],
            )),
        }
    }
    assert!(compared > 3000, "the corpus has {compared} lines");
    for ((why, _), n) in DEVIATIONS.iter().zip(deviations) {
        println!("documented deviation, {n} line(s): {why}");
    }
    let deviated: usize = deviations.iter().sum();
    println!(
        "agreement: {} of {compared} lines identical, {deviated} documented deviations, {} unexplained",
        compared - deviated - disagreements.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {compared} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
