//! The `meshtel` binary, end to end.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn meshtel(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshtel"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meshtel");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

const NODE: &str = r#"{"NAMESPACE": "ns", "WORKLOAD_NAME": "w", "ISTIO_VERSION": "1.24.0"}"#;

fn write_node() -> tempfile::TempPath {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(NODE.as_bytes()).unwrap();
    f.into_temp_path()
}

#[test]
fn frame_round_trip_reports_consumed_and_trailing() {
    let node = write_node();
    let out = meshtel(
        &[
            "peer",
            "encode",
            "--json",
            node.to_str().unwrap(),
            "--as",
            "frame",
            "--id",
            "a~b~c~d",
        ],
        b"",
    );
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 177, "wire spec example A");
    let mut stream = out.stdout.clone();
    stream.extend_from_slice(b"app data");
    let decoded = json(&meshtel(&["peer", "decode", "--frame", "-"], &stream));
    assert_eq!(
        decoded,
        serde_json::json!({"metadata": {"LABELS": {}, "NAMESPACE": "ns", "WORKLOAD_NAME": "w"}, "id": "a~b~c~d", "consumed": 177, "trailing": 8})
    );
}

#[test]
fn header_and_baggage() {
    let node = write_node();
    let out = meshtel(
        &["peer", "encode", "--json", node.to_str().unwrap(), "--as", "header"],
        b"",
    );
    let header = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        header.trim(),
        "CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw=="
    );
    let decoded = json(&meshtel(
        &["peer", "decode", "--header", header.trim().trim_end_matches('=')],
        b"",
    ));
    assert_eq!(decoded["NAMESPACE"], "ns");
    let out = meshtel(
        &["peer", "encode", "--json", "-", "--as", "baggage", "--order", "ztunnel"],
        NODE.as_bytes(),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "k8s.namespace.name=ns,k8s.pod.name=w\n"
    );
    let record = json(&meshtel(
        &["baggage", "parse", "k8s.deployment.name=foo,service.name=s"],
        b"",
    ));
    assert_eq!(
        (
            record["type"].as_str(),
            record["workload"].as_str(),
            record["app"].as_str()
        ),
        (Some("deployment"), Some("foo"), Some("s"))
    );
}

#[test]
fn bad_input_fails_with_one_line_naming_the_place() {
    let cases: [(&[&str], &[u8], &str); 5] = [
        (&["peer", "decode", "--header", "QQ="], b"", "offset 2"),
        (&["peer", "decode", "--header", "-_-_"], b"", "offset 0"),
        (&["peer", "decode", "--frame", "-"], b"GET / HTTP/1.1", "byte 0"),
        (
            &["peer", "decode", "--frame", "-"],
            b"\x3d\x23\x04\x67\x00\x00\x00\x02\x0a\x05",
            "byte 8",
        ),
        (&["baggage", "parse", "unknown=1"], b"", "no recognised key"),
    ];
    for (args, stdin, needle) in cases {
        let out = meshtel(args, stdin);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

fn write_json(text: &str) -> tempfile::TempPath {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.into_temp_path()
}

#[test]
fn expr_eval_prints_type_and_value() {
    let attrs = write_json(
        r#"{"source.labels": {"app": "reviews"}, "response.duration": "1h30m", "source.ip": "::ffff:10.1.2.3",
            "request.time": "2015-01-02T16:04:35.120+01:00", "response.code": 503, "connection.mtls": true}"#,
    );
    let a = attrs.to_str().unwrap();
    for (expr, ty, value) in [
        (
            r#"source.labels["app"] | "unknown""#,
            "STRING",
            serde_json::json!("reviews"),
        ),
        ("response.duration", "DURATION", serde_json::json!("1h30m0s")),
        ("source.ip", "IP_ADDRESS", serde_json::json!("10.1.2.3")),
        (
            "request.time",
            "TIMESTAMP",
            serde_json::json!("2015-01-02T15:04:35.12Z"),
        ),
        ("response.code | 200", "INT64", serde_json::json!(503)),
        (
            "connection.mtls && response.code >= 500",
            "BOOL",
            serde_json::json!(true),
        ),
        ("source.labels", "STRING_MAP", serde_json::json!({"app": "reviews"})),
    ] {
        let out = json(&meshtel(
            &["expr", "eval", "--dialect", "mixer", expr, "--attrs", a],
            b"",
        ));
        assert_eq!(out, serde_json::json!({"type": ty, "value": value}), "{expr}");
    }
    // No attributes at all: defaults apply.
    let out = json(&meshtel(
        &[
            "expr",
            "eval",
            "--dialect",
            "mixer",
            r#"conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")"#,
        ],
        b"",
    ));
    assert_eq!(out, serde_json::json!({"type": "STRING", "value": "server"}));
}

#[test]
fn expr_errors_use_exit_codes_1_and_2() {
    let out = meshtel(&["expr", "eval", "--dialect", "mixer", r#"request.host == "x""#], b"");
    assert_eq!(out.status.code(), Some(1));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(body["error"].as_str().unwrap().contains("request.host"), "{body}");

    let out = meshtel(
        &["expr", "eval", "--dialect", "mixer", r#"response.code == "200""#],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        body["compile_error"].as_str().unwrap().contains("type mismatch"),
        "{body}"
    );
    // A caret under the offending part goes to standard error.
    assert!(String::from_utf8_lossy(&out.stderr).contains("^^^^^"));

    let out = meshtel(&["expr", "check", "--dialect", "mixer", "request.host +"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn expr_check_and_custom_manifests() {
    let out = json(&meshtel(
        &[
            "expr",
            "check",
            "--dialect",
            "mixer",
            r#"source.labels["app"] | destination.service.host | "unknown""#,
        ],
        b"",
    ));
    assert_eq!(
        out,
        serde_json::json!({"type": "STRING", "references": ["source.labels", "destination.service.host"]})
    );

    let manifest = write_json(r#"{"ai": "INT64", "ar": "STRING_MAP", "adns": "DNS_NAME"}"#);
    let attrs = write_json(r#"{"ai": 20, "ar": {"foo": "bar"}, "adns": "foo.BAR."}"#);
    let (m, a) = (manifest.to_str().unwrap(), attrs.to_str().unwrap());
    let out = json(&meshtel(
        &[
            "expr",
            "eval",
            "--dialect",
            "mixer",
            r#"ai == 20 || ar["foo"] == "bar""#,
            "--manifest",
            m,
            "--attrs",
            a,
        ],
        b"",
    ));
    assert_eq!(out, serde_json::json!({"type": "BOOL", "value": true}));
    let out = json(&meshtel(
        &[
            "expr",
            "eval",
            "--dialect",
            "mixer",
            r#"adns == dnsName("foo.bar")"#,
            "--manifest",
            m,
            "--attrs",
            a,
        ],
        b"",
    ));
    assert_eq!(out["value"], true);
    // The Istio vocabulary is replaced, not extended.
    let out = meshtel(
        &["expr", "check", "--dialect", "mixer", "request.host", "--manifest", m],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    // A value of the wrong JSON kind is refused with a message.
    let bad = write_json(r#"{"ai": "twenty"}"#);
    let out = meshtel(
        &[
            "expr",
            "eval",
            "--dialect",
            "mixer",
            "ai",
            "--manifest",
            m,
            "--attrs",
            bad.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ai"));
}

fn scenario(path: &str) -> String {
    let full = format!("{}/../../examples/scenarios/{path}", env!("CARGO_MANIFEST_DIR"));
    let out = meshtel(&["labels", "--scenario", &full], b"");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn labels_reproduce_the_spec_sample_line() {
    let text = scenario("client-outbound.json");
    assert!(text.contains(concat!(
        r#"istio_requests_total{reporter="source",source_workload="productpage-v1",source_canonical_service="productpage-v1","#,
        r#"source_canonical_revision="version-1",source_workload_namespace="default",source_principal="unknown","#,
        r#"source_app="productpage",source_version="v1",source_cluster="client-cluster",destination_workload="ratings-v1","#,
        r#"destination_workload_namespace="default",destination_principal="unknown",destination_app="ratings","#,
        r#"destination_version="v1",destination_service="server.default.svc.cluster.local","#,
        r#"destination_canonical_service="ratings",destination_canonical_revision="version-1","#,
        r#"destination_service_name="server",destination_service_namespace="default",destination_cluster="server-cluster","#,
        r#"request_protocol="http",response_code="200",grpc_response_status="",response_flags="-","#,
        r#"connection_security_policy="unknown"} 1"#
    )));
    assert!(text.contains("istio_build{component=\"proxy\",tag=\"1.5-dev\"} 1"));
    assert!(!text.contains("meshtel_metrics_"), "only the plugin's samples");
}

#[test]
fn labels_for_a_tcp_connection_with_config() {
    let text = scenario("server-tcp.json");
    let sent = text
        .lines()
        .find(|l| l.starts_with("istio_tcp_sent_bytes_total{"))
        .unwrap();
    assert!(sent.ends_with("} 5120"), "{sent}");
    assert!(sent.contains("connection_security_policy=\"mutual_tls\""));
    assert!(!sent.contains("source_principal"), "removed by the scenario's config");
    assert!(
        text.lines()
            .any(|l| l.starts_with("istio_tcp_connections_closed_total{") && l.ends_with("} 1"))
    );
}

#[test]
fn labels_reject_unknown_fields_and_read_stdin() {
    let out = meshtel(
        &["labels", "--scenario", "-"],
        br#"{"direction": "outbound", "protocol": "http", "requets": {}}"#,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("requets"));
    let out = meshtel(
        &["labels", "--scenario", "-"],
        br#"{"direction": "inbound", "protocol": "grpc", "request": {"response_code": 200, "request_messages": 3, "response_messages": 4}}"#,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("istio_request_messages_total{") && l.ends_with("} 3")),
        "{text}"
    );
    assert!(
        text.contains("grpc_response_status=\"2\""),
        "HTTP 200 without grpc-status maps to 2"
    );
}

#[test]
fn cel_is_the_default_dialect_with_envoy_attributes() {
    let attrs = write_json(
        r#"{"request.host": "reviews", "request.headers": {"x-user": "bob"}, "response.code": 503, "connection.id": 7}"#,
    );
    let a = attrs.to_str().unwrap();
    let eval = |expr: &str| json(&meshtel(&["expr", "eval", expr, "--attrs", a], b""));
    assert_eq!(
        eval(r#"has(request.host) ? request.host : "unknown""#),
        serde_json::json!({"type": "string", "value": "reviews"})
    );
    assert_eq!(
        eval("request.headers['x-user']"),
        serde_json::json!({"type": "string", "value": "bob"})
    );
    assert_eq!(
        eval("response.code == 503u"),
        serde_json::json!({"type": "bool", "value": true})
    );
    assert_eq!(
        eval("connection.id + 1u"),
        serde_json::json!({"type": "uint", "value": 8})
    );
    assert_eq!(
        eval("[1, 2].map(x, x * 2)"),
        serde_json::json!({"type": "list", "value": [2, 4]})
    );
    assert_eq!(
        eval("duration('90m')"),
        serde_json::json!({"type": "google.protobuf.Duration", "value": "5400s"})
    );
    assert_eq!(
        eval("string(1e6)"),
        serde_json::json!({"type": "string", "value": "1e+06"})
    );
    let out = json(&meshtel(&["expr", "check", "request.headers['x-user']"], b""));
    assert_eq!(
        out,
        serde_json::json!({"type": "string", "references": ["request.headers"]})
    );
    let out = json(&meshtel(&["expr", "check", "dyn(request.host)"], b""));
    assert_eq!(out, serde_json::json!({"type": "dyn", "references": ["request.host"]}));

    // A runtime error exits 1, a syntax error 2, as in the Mixer dialect.
    let out = meshtel(&["expr", "eval", "request.path"], b"");
    assert_eq!(out.status.code(), Some(1));
    let out = meshtel(&["expr", "eval", "request.host | 'x'"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has(a.b) ? a.b"));
}

fn example_telemetry() -> String {
    format!("{}/../../examples/telemetry.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn config_from_telemetry_prints_both_listeners() {
    let file = example_telemetry();
    let out = meshtel(
        &[
            "config",
            "from-telemetry",
            &file,
            "--namespace",
            "shop",
            "--labels",
            "app=cart,version=v1",
        ],
        b"",
    );
    let both = json(&out);
    assert_eq!(
        both["inbound"],
        serde_json::json!({
            "disable_host_header_fallback": true,
            "tcp_reporting_duration": "10s",
            "metrics": [
                {"dimensions": {"request_method": "request.method"}, "name": "requests_total", "tags_to_remove": ["request_host"]},
                {"name": "request_bytes", "drop": true},
            ],
        })
    );
    let outbound = both["outbound"]["metrics"].as_array().unwrap();
    assert_eq!(outbound.len(), 10, "ALL_METRICS for CLIENT: every standard metric");
    assert!(outbound.iter().all(|m| {
        m["tags_to_remove"]
            .as_array()
            .unwrap()
            .contains(&"response_flags".into())
    }));
    // The printed order is the struct's: inbound first, then its fields in upstream order.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.find("\"inbound\"").unwrap() < text.find("\"outbound\"").unwrap());
    assert!(text.find("disable_host_header_fallback").unwrap() < text.find("tcp_reporting_duration").unwrap());
}

#[test]
fn config_from_telemetry_one_direction_and_standard_input() {
    let file = example_telemetry();
    // Another namespace: only the mesh-wide resource, which changes the outbound side only.
    let inbound = json(&meshtel(
        &[
            "config",
            "from-telemetry",
            &file,
            "--namespace",
            "other",
            "--direction",
            "inbound",
        ],
        b"",
    ));
    assert_eq!(
        inbound,
        serde_json::json!({"disable_host_header_fallback": true, "tcp_reporting_duration": "10s"})
    );
    let off = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: telemetry.istio.io/v1alpha1\nkind: Telemetry\nmetadata: {name: off, namespace: shop}\nspec:\n  metrics:\n  - overrides: [{match: {mode: SERVER}, disabled: true}]\n";
    let out = meshtel(
        &[
            "config",
            "from-telemetry",
            "-",
            "--namespace",
            "shop",
            "--direction",
            "inbound",
        ],
        off.as_bytes(),
    );
    assert_eq!(
        json(&out),
        serde_json::Value::Null,
        "no stats filter on the inbound listener"
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "meshtel: -: document 0: skipped v1 Namespace (not a Telemetry)\n"
    );
}

#[test]
fn config_from_telemetry_errors_name_file_document_and_field() {
    let bad = "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: shop}\nspec:\n  metrics:\n  - overrides:\n    - match: {metric: REQUEST_CNT}\n";
    let out = meshtel(
        &["config", "from-telemetry", "-", "--namespace", "shop"],
        bad.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "meshtel: error: -: document 0 (shop/t): spec.metrics[0].overrides[0].match.metric: unknown metric \"REQUEST_CNT\"\n"
    );
    let out = meshtel(
        &[
            "config",
            "from-telemetry",
            "-",
            "--namespace",
            "shop",
            "--labels",
            "app",
        ],
        b"",
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "meshtel: error: --labels: expected key=value, found \"app\"\n"
    );
    let out = meshtel(
        &["config", "from-telemetry", "/nonexistent.yaml", "--namespace", "shop"],
        b"",
    );
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("meshtel: error: reading /nonexistent.yaml: ")
    );
}

#[test]
fn demo_without_load_writes_its_endpoints_and_pki() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints.json");
    let pki = dir.path().join("pki");
    let out = meshtel(
        &[
            "demo",
            "--requests",
            "0",
            "--connections",
            "0",
            "--endpoints",
            endpoints.to_str().unwrap(),
            "--pki-dir",
            pki.to_str().unwrap(),
            "--idle-timeout",
            "500ms",
        ],
        b"",
    );
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 mesh requests, 0 plain requests, 0 TCP connections (0 bytes echoed), 0 gRPC calls"));
    assert!(stdout.contains("limits          header read 10s, idle 500ms, exchange 10s"));
    let ep: serde_json::Value = serde_json::from_slice(&std::fs::read(&endpoints).unwrap()).unwrap();
    for key in [
        "client_http",
        "client_grpc",
        "client_tcp",
        "server_plain",
        "metrics",
        "grpc_backend",
    ] {
        let addr: std::net::SocketAddr = ep[key].as_str().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback(), "{key}");
    }
    assert!(ep["client_metrics"].as_str().unwrap().ends_with("/client/metrics"));
    for file in ["ca.der", "client.der", "client.key.der"] {
        assert!(pki.join(file).metadata().unwrap().len() > 0, "{file}");
    }
}

#[test]
fn demo_rejects_a_bad_duration() {
    let out = meshtel(&["demo", "--header-read-timeout", "soon"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[test]
fn envoy_bootstrap_tags_follow_the_labels_the_plugin_records() {
    let node = write_node();
    let out = meshtel(
        &[
            "envoy",
            "bootstrap",
            "--role",
            "outbound",
            "--node",
            node.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let tags: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("tag_name: "))
        .collect();
    // The label names of `meshtel labels` for an HTTP request, in order, lead the rules.
    let text = scenario("client-outbound.json");
    let line = text.lines().find(|l| l.starts_with("istio_requests_total{")).unwrap();
    let body = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
    let names: Vec<&str> = body.split("\",").map(|kv| kv.split('=').next().unwrap()).collect();
    assert_eq!(&tags[..names.len()], &names[..], "{yaml}");
    assert!(yaml.contains(r"regex: (;\.;reporter=\.=(.*?))(?:;\.;|$)"), "{yaml}");
    assert!(yaml.contains("'@type': type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm"));
    assert!(
        yaml.contains(r#"value: '{"filter":"http","role":"outbound"}'"#),
        "{yaml}"
    );
    assert!(yaml.contains("WORKLOAD_NAME: w"));

    let out = meshtel(
        &["envoy", "bootstrap", "--role", "inbound", "--node", "/nonexistent.json"],
        b"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json"));
}
