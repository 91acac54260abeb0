//! protobuf's JSON mapping of `Struct` views, and records as JSON.

use meshtel_wire::proto::{Kind, StructView, ValueView};
use meshtel_wire::workload::WorkloadView;
use serde_json::{Map, Value as Json};

/// A Struct as a JSON object. A repeated key keeps its last value, as
/// protobuf does.
pub(crate) fn struct_json(view: &StructView<'_>) -> Json {
    let mut map = Map::new();
    for entry in view.entries() {
        map.insert(entry.key().to_owned(), value_json(&entry.value()));
    }
    Json::Object(map)
}

fn value_json(view: &ValueView<'_>) -> Json {
    match view.kind() {
        // protobuf's JSON mapping spells non-finite doubles as strings.
        Kind::Number(n) if n.is_nan() => Json::from("NaN"),
        Kind::Number(n) if n.is_infinite() => Json::from(if n > 0.0 { "Infinity" } else { "-Infinity" }),
        Kind::Number(n) => Json::from(n),
        Kind::String(s) => Json::from(s),
        Kind::Bool(b) => Json::from(b),
        Kind::Struct(s) => struct_json(&s),
        Kind::List(l) => Json::Array(l.iter().map(|v| value_json(&v)).collect()),
        // Null, unset, and kinds a later version adds (no JSON spelling here).
        _ => Json::Null,
    }
}

/// A peer record with the field names of `docs/reference/wire.md` §1.
pub(crate) fn record_json(r: &WorkloadView<'_>) -> Json {
    serde_json::json!({
        "name": r.name,
        "namespace": r.namespace,
        "workload": r.workload,
        "type": r.workload_type.as_str(),
        "cluster": r.cluster,
        "identity": r.identity,
        "service": r.service,
        "revision": r.revision,
        "app": r.app,
        "version": r.version,
        "region": r.region,
        "availability_zone": r.availability_zone,
    })
}
