//! Every case of Mixer's expression test table (`data/mixer/visible.json`, described in
//! `data/mixer/README.md`): value and static type, or the error class.

use std::collections::{BTreeMap, HashMap};

use meshtel_expr::{Dialect, Duration, Manifest, Program, Timestamp, Value, ValueType};
use serde_json::Value as Json;

fn load(name: &str) -> Json {
    let path = format!("{}/tests/data/mixer/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A value of the case format (see `README.md` in the data folder), typed by `ty` for
/// plain strings.
fn value<'m>(
    json: &Json,
    ty: Option<ValueType>,
    maps: &'m [BTreeMap<String, String>],
    next_map: &mut usize,
) -> Value<'m> {
    match json {
        Json::String(s) => {
            let s = s.clone().into();
            match ty {
                Some(ValueType::DnsName) => Value::DnsName(s),
                Some(ValueType::EmailAddress) => Value::EmailAddress(s),
                Some(ValueType::Uri) => Value::Uri(s),
                _ => Value::String(s),
            }
        }
        Json::Bool(b) => Value::Bool(*b),
        Json::Object(o) => {
            let (tag, v) = o.iter().next().unwrap();
            match tag.as_str() {
                "int64" => Value::Int64(v.as_i64().unwrap()),
                "double" => Value::Double(v.as_f64().unwrap()),
                "duration_ns" => Value::Duration(Duration::from_nanos(v.as_i64().unwrap())),
                "timestamp" => Value::Timestamp(v.as_str().unwrap().parse::<Timestamp>().unwrap()),
                "ip" => Value::IpAddress(v.as_str().unwrap().parse().unwrap()),
                "string_map" => {
                    let m = &maps[*next_map];
                    *next_map += 1;
                    Value::StringMap(m)
                }
                other => panic!("unknown tag {other}"),
            }
        }
        other => panic!("unexpected value {other}"),
    }
}

fn collect_maps(json: &Json, out: &mut Vec<BTreeMap<String, String>>) {
    if let Some(m) = json.get("string_map").and_then(Json::as_object) {
        out.push(
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
        );
    }
}

#[test]
fn mixer_conformance() {
    let cases = load("visible.json");
    let manifests: HashMap<String, Manifest> = load("manifests.json")
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, attrs)| {
            let m = attrs
                .as_object()
                .unwrap()
                .iter()
                .map(|(a, t)| (a.as_str(), t.as_str().unwrap().parse().unwrap()))
                .collect();
            (name.clone(), m)
        })
        .collect();
    let (mut passed, mut skipped, mut failures) = (0, 0, Vec::new());
    for case in cases.as_array().unwrap() {
        if case["uses_custom_functions"].as_bool().unwrap() {
            skipped += 1;
            continue;
        }
        let expr = case["expr"].as_str().unwrap();
        let manifest = &manifests[case["manifest"].as_str().unwrap()];
        let attrs = case["attrs"].as_object().unwrap();
        let expect = &case["expect"];
        // Maps first (the bag borrows them), then the bag.
        let mut maps = Vec::new();
        for v in attrs.values() {
            collect_maps(v, &mut maps);
        }
        if let Some(v) = expect.get("value") {
            collect_maps(v, &mut maps);
        }
        let mut next_map = 0;
        let bag: HashMap<&str, Value<'_>> = attrs
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    value(v, manifest.get(k).map(|(_, t)| t), &maps, &mut next_map),
                )
            })
            .collect();
        let line = case["line"].as_u64().unwrap();
        let compiled = Program::compile(Dialect::Mixer, expr, manifest);
        let outcome: Result<(), String> = (|| {
            if expect.get("compile_error").is_some() {
                return match compiled {
                    Err(_) => Ok(()),
                    Ok(p) => Err(format!(
                        "expected a compile error, compiled to type {}",
                        p.result_type()
                    )),
                };
            }
            let program = compiled.map_err(|e| format!("unexpected compile error: {}", e.render(expr)))?;
            let result = program.evaluate(&bag);
            if expect.get("runtime_error_prefix").is_some() {
                return match result {
                    Err(_) => Ok(()),
                    Ok(v) => Err(format!("expected a runtime error, got {v:?}")),
                };
            }
            let got = result.map_err(|e| format!("unexpected runtime error: {e}"))?;
            let want_type: Option<ValueType> = expect.get("type").map(|t| t.as_str().unwrap().parse().unwrap());
            if let Some(t) = want_type
                && program.result_type() != t
            {
                return Err(format!("static type {} != {t}", program.result_type()));
            }
            let want = value(
                &expect["value"],
                want_type.or_else(|| Some(got.value_type())),
                &maps,
                &mut next_map,
            );
            if got != want {
                return Err(format!("got {got:?}, want {want:?}"));
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!("line {line}: {expr}: {why}")),
        }
    }
    println!(
        "mixer conformance: {passed} passed, {skipped} skipped (custom functions), {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed + skipped, 212);
}
