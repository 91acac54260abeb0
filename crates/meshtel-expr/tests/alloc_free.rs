//! Evaluating the common label forms allocates nothing: proved with a counting global
//! allocator around each evaluation, for both kinds of bag.

#[path = "../../../testing/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;
use std::collections::HashMap;

use meshtel_expr::{Bag, Dialect, Duration, Manifest, Program, SlotBag, Value};

/// Label forms: attribute, default, map index, conditional, comparison, and the library
/// calls that need no new text.
const LABEL_FORMS: [&str; 16] = [
    r#"source.labels["app"] | "unknown""#,
    r#"destination.service.host | "unknown""#,
    r#"api.protocol | context.protocol | "unknown""#,
    "response.code | 200",
    "connection.mtls | false",
    r#"response.duration | "0ms""#,
    r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#,
    "request.host",
    r#"request.headers["x-request-id"]"#,
    r#"(request.auth.principal | "nobody") == "user1""#,
    "response.code >= 400 && connection.mtls",
    r#"match(request.useragent | "-", "kube-probe*") == false"#,
    r#""^/api/v[0-9]+/".matches(request.url_path | "")"#,
    r#"(request.host | "").endsWith(":8080")"#,
    r#"toLower(request.method | "get")"#, // allocates only when the text changes
    r#"size(request.id | "") + 1"#,
];

fn check_all<B: Bag>(bag: &B, programs: &[Program]) {
    for p in programs {
        // The regex crate builds its per-thread matching cache on a thread's first match;
        // steady-state evaluations are what is measured.
        let _ = p.evaluate(bag);
        let (n, result) = allocations_in(|| p.evaluate(bag).map(|v| v.value_type()));
        assert_eq!(n, 0, "{} allocated {n} times (result {result:?})", p.source());
    }
}

#[test]
fn label_forms_evaluate_without_allocating() {
    let manifest = Manifest::istio();
    let programs: Vec<Program> = LABEL_FORMS
        .iter()
        .map(|s| Program::compile(Dialect::Mixer, s, &manifest).unwrap())
        .collect();
    let labels = [("app", "reviews"), ("version", "v1")];
    let headers = [("x-request-id", "abc"), ("user-agent", "curl/8")];

    // An empty bag: every default taken.
    check_all(&SlotBag::new(&manifest), &programs);

    // A full bag, by id and by name.
    let values = [
        ("source.labels", Value::StringMap(&labels)),
        ("request.headers", Value::StringMap(&headers)),
        (
            "destination.service.host",
            Value::str("reviews.default.svc.cluster.local"),
        ),
        ("context.protocol", Value::str("http")),
        ("context.reporter.kind", Value::str("outbound")),
        ("response.code", Value::Int64(503)),
        ("connection.mtls", Value::Bool(true)),
        ("response.duration", Value::Duration(Duration::from_nanos(19_000_000))),
        ("request.host", Value::str("reviews:8080")),
        ("request.auth.principal", Value::str("user1")),
        ("request.useragent", Value::str("kube-probe/1.29")),
        ("request.url_path", Value::str("/api/v2/users")),
        ("request.method", Value::str("get")),
        ("request.id", Value::str("7f3e")),
    ];
    let mut slots = SlotBag::new(&manifest);
    for (name, v) in &values {
        assert!(slots.set_named(&manifest, name, v.clone()));
    }
    check_all(&slots, &programs);
    let by_name: HashMap<&str, Value<'_>> = values.iter().cloned().collect();
    check_all(&by_name, &programs);

    // A missing-attribute error does not allocate either.
    let strict = Program::compile(Dialect::Mixer, r#"request.auth.principal == "admin""#, &manifest).unwrap();
    let (n, result) = allocations_in(|| strict.evaluate(&SlotBag::new(&manifest)).is_err());
    assert!(result);
    assert_eq!(n, 1, "only the empty SlotBag's own vector allocates");

    // Refilling a bag per request reuses its storage.
    let (n, ()) = allocations_in(|| {
        slots.clear();
        slots.set_named(&manifest, "request.host", Value::str("ratings:9080"));
    });
    assert_eq!(n, 0);
}

/// The CEL label forms of Istio's documentation: attribute reads, `has`, ternaries,
/// indexing, comparisons and the string methods; `string()` of a status code.
const CEL_LABEL_FORMS: [&str; 18] = [
    "request.host",
    r#"has(request.host) ? request.host : "unknown""#,
    "request.headers['x-user']",
    "'x-user' in request.headers ? request.headers['x-user'] : 'anonymous'",
    "filter_state.upstream_peer.app",
    "has(filter_state.upstream_peer) ? filter_state.upstream_peer.namespace : 'unknown'",
    "filter_state.upstream_peer.labels['version']",
    "response.code >= 400",
    "response.code == 200u ? 'ok' : 'error'",
    "connection.mtls && request.url_path.contains('v1beta3')",
    r#"!has(request.useragent) || !(request.useragent.startsWith("Amazon-Route53-Health-Check-Service"))"#,
    "request.url_path.matches('^/reviews/[[:alnum:]]*$')",
    "request.host.endsWith(':9080') && size(request.host) > 3",
    "connection.id > 5u && destination.port == 9080",
    "request.duration > duration('1s')",
    "xds.cluster_name == 'outbound|9080||reviews.default.svc.cluster.local'",
    "string(response.code)",
    "string(connection.id)",
];

#[test]
fn cel_label_forms_evaluate_without_allocating() {
    let manifest = Manifest::envoy();
    let programs: Vec<Program> = CEL_LABEL_FORMS
        .iter()
        .map(|s| Program::compile(Dialect::Cel, s, &manifest).unwrap())
        .collect();
    let headers = [("x-user", "bob"), ("user-agent", "curl/8")];
    let peer_labels = [("app", "reviews"), ("version", "v2")];
    let values = [
        ("request.host", Value::str("reviews:9080")),
        ("request.headers", Value::StringMap(&headers)),
        ("request.url_path", Value::str("/reviews/v1beta3")),
        ("request.duration", Value::Duration(Duration::from_nanos(19_000_000))),
        ("response.code", Value::Int64(503)),
        ("connection.mtls", Value::Bool(true)),
        ("connection.id", Value::Uint64(7)),
        ("destination.port", Value::Int64(9080)),
        ("filter_state.upstream_peer.app", Value::str("reviews")),
        ("filter_state.upstream_peer.namespace", Value::str("default")),
        ("filter_state.upstream_peer.labels", Value::StringMap(&peer_labels)),
        (
            "xds.cluster_name",
            Value::str("outbound|9080||reviews.default.svc.cluster.local"),
        ),
    ];
    let mut slots = SlotBag::new(&manifest);
    for (name, v) in &values {
        assert!(slots.set_named(&manifest, name, v.clone()), "{name}");
    }
    for p in &programs {
        assert!(p.evaluate(&slots).is_ok(), "{}", p.source());
    }
    check_all(&slots, &programs);
    let by_name: HashMap<&str, Value<'_>> = values.iter().cloned().collect();
    check_all(&by_name, &programs);
}
