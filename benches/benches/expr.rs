//! `expr`: meshtel-expr against the `cel` crate on equivalent expressions and the same
//! values. CEL has no `|`; Istio's documentation writes `has(x) ? x : default` instead.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use meshtel_expr::{Dialect, Manifest, Program, SlotBag, Value, ValueType};
use serde_json::json;

const LABEL_DEFAULT: (&str, &str) = (
    r#"source.labels["app"] | "unknown""#,
    r#"has(source.labels.app) ? source.labels.app : "unknown""#,
);

const REPORTER_CONDITIONAL: (&str, &str) = (
    r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#,
    r#"(has(context.reporter.kind) ? context.reporter.kind : "inbound") == "outbound" ? "client" : "server""#,
);

/// The native-equivalent default label set of `docs/reference/telemetry.md` §10.3, as the
/// plugin uses it.
const ISTIO_DEFAULT_LABELS: [&str; 25] = meshtel::DEFAULT_EXPRESSIONS;

/// The Istio vocabulary plus the attributes the stats layer adds
/// (`docs/reference/telemetry.md` §10.2).
fn stats_manifest() -> Manifest {
    meshtel::manifest()
}

const SOURCE_LABELS: [(&str, &str); 3] = [("app", "productpage"), ("version", "v1"), ("pod-template-hash", "5f8d")];

fn cel_context() -> cel::Context<'static, 'static> {
    let mut ctx = cel::Context::default();
    ctx.add_variable(
        "source",
        json!({"labels": {"app": "productpage", "version": "v1", "pod-template-hash": "5f8d"}}),
    )
    .unwrap();
    ctx.add_variable("context", json!({"reporter": {"kind": "outbound"}}))
        .unwrap();
    ctx
}

/// The CEL label forms of Istio's documentation, the same text through both engines.
const CEL_FORMS: [(&str, &str); 5] = [
    ("cel_label_default", r#"has(request.host) ? request.host : "unknown""#),
    ("cel_absent_default", r#"has(request.path) ? request.path : "unknown""#),
    ("cel_header", "request.headers['x-user']"),
    ("cel_peer", "filter_state.upstream_peer.app"),
    ("cel_string_code", "string(response.code)"),
];

const REQUEST_HEADERS: [(&str, &str); 3] = [
    ("x-user", "bob"),
    (":authority", "reviews:9080"),
    ("user-agent", "curl/8"),
];

/// The same bag for both: Envoy's attributes, the peer object as Istio 1.24 names it.
fn cel_bags() -> (SlotBag<'static>, cel::Context<'static, 'static>) {
    let manifest = Manifest::envoy();
    let mut bag = SlotBag::new(&manifest);
    bag.set_named(&manifest, "request.host", Value::str("reviews:9080"));
    bag.set_named(&manifest, "request.headers", Value::StringMap(&REQUEST_HEADERS));
    bag.set_named(&manifest, "response.code", Value::Int64(200));
    bag.set_named(&manifest, "filter_state.upstream_peer.app", Value::str("reviews"));
    let mut ctx = cel::Context::default();
    ctx.add_variable(
        "request",
        json!({"host": "reviews:9080", "headers": {"x-user": "bob", ":authority": "reviews:9080", "user-agent": "curl/8"}}),
    )
    .unwrap();
    ctx.add_variable("response", json!({"code": 200})).unwrap();
    ctx.add_variable("filter_state", json!({"upstream_peer": {"app": "reviews"}}))
        .unwrap();
    (bag, ctx)
}

fn cel_evaluation(c: &mut Criterion) {
    let manifest = Manifest::envoy();
    let (bag, ctx) = cel_bags();
    for (name, source) in CEL_FORMS {
        let program = Program::compile(Dialect::Cel, source, &manifest).unwrap();
        let theirs = cel::Program::compile(source).unwrap();
        // Same answer first.
        let mut ours = String::new();
        program.write_text(&program.evaluate(&bag).unwrap(), &mut ours).unwrap();
        assert_eq!(
            theirs.execute(&ctx).unwrap(),
            cel::Value::from(ours.as_str()),
            "{source}"
        );
        let mut group = c.benchmark_group(format!("expr/{name}"));
        group.bench_function("meshtel", |b| {
            b.iter(|| black_box(program.evaluate(black_box(&bag)).is_ok()));
        });
        group.bench_function("cel", |b| {
            b.iter(|| black_box(theirs.execute(black_box(&ctx)).is_ok()));
        });
        group.finish();
    }
}

fn cel_compile(c: &mut Criterion) {
    let manifest = Manifest::envoy();
    let source = CEL_FORMS[0].1;
    let mut group = c.benchmark_group("expr/cel_compile");
    group.bench_function("meshtel", |b| {
        b.iter(|| Program::compile(Dialect::Cel, black_box(source), &manifest).unwrap());
    });
    group.bench_function("cel", |b| {
        b.iter(|| cel::Program::compile(black_box(source)).unwrap());
    });
    group.finish();
}

fn evaluation(c: &mut Criterion) {
    let manifest = Manifest::istio();
    let mut bag = SlotBag::new(&manifest);
    bag.set_named(&manifest, "source.labels", Value::StringMap(&SOURCE_LABELS));
    bag.set_named(&manifest, "context.reporter.kind", Value::str("outbound"));
    let ctx = cel_context();
    for (name, (ours, theirs)) in [
        ("label_default", LABEL_DEFAULT),
        ("reporter_conditional", REPORTER_CONDITIONAL),
    ] {
        let program = Program::compile(Dialect::Mixer, ours, &manifest).unwrap();
        let cel_program = cel::Program::compile(theirs).unwrap();
        // Same answer first.
        let expected = program.evaluate(&bag).unwrap().to_string();
        assert_eq!(cel_program.execute(&ctx).unwrap(), cel::Value::from(expected.as_str()));
        let mut group = c.benchmark_group(format!("expr/{name}"));
        group.bench_function("meshtel", |b| {
            b.iter(|| black_box(program.evaluate(black_box(&bag)).is_ok()));
        });
        group.bench_function("cel", |b| {
            b.iter(|| black_box(cel_program.execute(black_box(&ctx)).is_ok()));
        });
        group.finish();
    }
}

fn compile(c: &mut Criterion) {
    let manifest = Manifest::istio();
    let mut group = c.benchmark_group("expr/compile");
    group.bench_function("meshtel", |b| {
        b.iter(|| Program::compile(Dialect::Mixer, black_box(LABEL_DEFAULT.0), &manifest).unwrap());
    });
    group.bench_function("cel", |b| {
        b.iter(|| cel::Program::compile(black_box(LABEL_DEFAULT.1)).unwrap());
    });
    group.finish();
}

fn mixer_bench(c: &mut Criterion) {
    // Mixer's own benchmark expression and bag (`ExprBench/ok_1st` of the conformance cases).
    let manifest: Manifest = [("ai", ValueType::Int64), ("ar", ValueType::StringMap)]
        .into_iter()
        .collect();
    let program = Program::compile(Dialect::Mixer, r#"ai == 20 || ar["foo"] == "bar""#, &manifest).unwrap();
    let ar = [("foo", "bar")];
    let mut bag = SlotBag::new(&manifest);
    bag.set_named(&manifest, "ai", Value::Int64(20));
    bag.set_named(&manifest, "ar", Value::StringMap(&ar));
    assert_eq!(program.evaluate(&bag).unwrap(), Value::Bool(true));
    c.bench_function("expr/mixer_bench/meshtel", |b| {
        b.iter(|| black_box(program.evaluate(black_box(&bag)).is_ok()));
    });
}

fn istio_default_labels(c: &mut Criterion) {
    let manifest = stats_manifest();
    let programs: Vec<Program> = ISTIO_DEFAULT_LABELS
        .iter()
        .map(|s| Program::compile(Dialect::Mixer, s, &manifest).unwrap())
        .collect();
    let labels = [("app", "reviews"), ("version", "v2")];
    let mut bag = SlotBag::new(&manifest);
    for (name, value) in [
        ("context.reporter.kind", Value::str("inbound")),
        ("source.workload.name", Value::str("productpage-v1")),
        ("source.workload.namespace", Value::str("default")),
        (
            "source.principal",
            Value::str("spiffe://cluster.local/ns/default/sa/bookinfo-productpage"),
        ),
        ("source.labels", Value::StringMap(&SOURCE_LABELS)),
        ("source.canonical_service", Value::str("productpage")),
        ("source.canonical_revision", Value::str("v1")),
        ("source.cluster_id", Value::str("Kubernetes")),
        ("destination.workload.name", Value::str("reviews-v2")),
        ("destination.workload.namespace", Value::str("default")),
        (
            "destination.principal",
            Value::str("spiffe://cluster.local/ns/default/sa/bookinfo-reviews"),
        ),
        ("destination.labels", Value::StringMap(&labels)),
        (
            "destination.service.host",
            Value::str("reviews.default.svc.cluster.local"),
        ),
        ("destination.service.name", Value::str("reviews")),
        ("destination.service.namespace", Value::str("default")),
        ("destination.canonical_service", Value::str("reviews")),
        ("destination.canonical_revision", Value::str("v2")),
        ("destination.cluster_id", Value::str("Kubernetes")),
        ("context.protocol", Value::str("http")),
        ("response.code", Value::Int64(200)),
        ("connection.mtls", Value::Bool(true)),
    ] {
        assert!(bag.set_named(&manifest, name, value), "{name}");
    }
    c.bench_function("expr/istio_default_labels/meshtel", |b| {
        b.iter(|| {
            for p in &programs {
                black_box(p.evaluate(black_box(&bag)).is_ok());
            }
        });
    });
}

criterion_group!(
    benches,
    evaluation,
    compile,
    cel_evaluation,
    cel_compile,
    mixer_bench,
    istio_default_labels
);
criterion_main!(benches);
