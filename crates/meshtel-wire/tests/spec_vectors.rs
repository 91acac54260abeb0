//! Every example of `docs/reference/wire.md`, byte for byte.

use meshtel_wire::baggage::{BaggageOrder, baggage_string, parse_baggage, parse_ztunnel_baggage};
use meshtel_wire::frame::{
    FrameConfig, FrameDecoder, FrameErrorKind, OversizePolicy, Status, decode_frame, encode_frame,
};
use meshtel_wire::header::{HeaderError, decode_peer_header, encode_peer_header};
use meshtel_wire::proto::{Kind, Reason, Struct, StructView, Value, encode_struct};
use meshtel_wire::workload::{NodeId, WorkloadMetadata, WorkloadType, WorkloadView};
use sha2::{Digest, Sha256};

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.split_whitespace().collect();
    hex::decode(clean).expect("hex")
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn json_struct(json: &str) -> Struct {
    serde_json::from_str(json).expect("json")
}

fn value_bytes(v: Value) -> Vec<u8> {
    // A one-entry struct {"k": v}; the Value is after `0a len 0a 01 6b 12 len`.
    let mut s = Struct::new();
    s.insert("k", v);
    encode_struct(&s)[7..].to_vec()
}

#[test]
fn single_values_3_2() {
    assert_eq!(value_bytes(Value::Null), hex("08 00"));
    assert_eq!(value_bytes(Value::Number(0.0)), hex("11 00 00 00 00 00 00 00 00"));
    assert_eq!(value_bytes(Value::Number(1.5)), hex("11 00 00 00 00 00 00 f8 3f"));
    assert_eq!(value_bytes(Value::Bool(false)), hex("20 00"));
    assert_eq!(value_bytes(Value::Bool(true)), hex("20 01"));
    assert_eq!(value_bytes(Value::String(String::new())), hex("1a 00"));
    assert_eq!(value_bytes(Value::Struct(Struct::new())), hex("2a 00"));
    assert_eq!(value_bytes(Value::List(vec![])), hex("32 00"));
    assert_eq!(value_bytes(Value::Unset), Vec::<u8>::new());
}

#[test]
fn reader_rules_3_4() {
    let dup = hex("0a 08 0a 01 61 12 03 1a 01 31 0a 08 0a 01 61 12 03 1a 01 32");
    assert_eq!(StructView::parse(&dup).unwrap().get("a").unwrap().as_str(), Some("2"));
    let unknown = hex("10 05 0a 08 0a 01 61 12 03 1a 01 31");
    assert_eq!(
        StructView::parse(&unknown).unwrap().get("a").unwrap().as_str(),
        Some("1")
    );
    // A known field number with an unexpected wire type is an unknown field
    // (prost rejects this; the reference runtime skips it).
    let wrong_type = hex("08 05 0a 08 0a 01 61 12 03 1a 01 31");
    assert_eq!(
        StructView::parse(&wrong_type).unwrap().get("a").unwrap().as_str(),
        Some("1")
    );
    // Groups are skipped; a stray end-group is an error.
    let group = hex("1b 08 01 1c 0a 08 0a 01 61 12 03 1a 01 31");
    assert_eq!(StructView::parse(&group).unwrap().get("a").unwrap().as_str(), Some("1"));
    assert_eq!(
        StructView::parse(&hex("1c")).unwrap_err().reason,
        Reason::UnexpectedEndGroup
    );
    assert_eq!(
        StructView::parse(&hex("1b 08 01")).unwrap_err().reason,
        Reason::UnterminatedGroup
    );
    assert_eq!(
        StructView::parse(&hex("0e")).unwrap_err().reason,
        Reason::InvalidWireType
    );
    assert_eq!(
        StructView::parse(&hex("02 00")).unwrap_err().reason,
        Reason::FieldNumberZero
    );
    // Invalid UTF-8 in a string value: `1a 01 ff` inside {"a": ...}.
    let bad = hex("0a 08 0a 01 61 12 03 1a 01 ff");
    let err = StructView::parse(&bad).unwrap_err();
    assert_eq!((err.offset, err.reason), (9, Reason::InvalidUtf8));
}

#[test]
fn merges_singular_message_fields() {
    // Entry "a" with two `value` fields, each a struct_value: they merge.
    let bytes = hex("0a 19 0a 01 61 12 09 2a 07 0a 05 0a 01 78 12 00 12 09 2a 07 0a 05 0a 01 79 12 00");
    let view = StructView::parse(&bytes).unwrap();
    let inner = view.get("a").unwrap().as_struct().unwrap();
    let keys: Vec<_> = inner.entries().map(|e| e.key()).collect();
    assert_eq!(keys, ["x", "y"]);
    // A string value after a struct value replaces it.
    let bytes = hex("0a 13 0a 01 61 12 09 2a 07 0a 05 0a 01 78 12 00 12 03 1a 01 7a");
    assert_eq!(StructView::parse(&bytes).unwrap().get("a").unwrap().as_str(), Some("z"));
}

#[test]
fn all_six_kinds_3_5() {
    let expected = hex("0a 07 0a 01 62 12 02 20 01
         0a 0e 0a 01 64 12 09 11 00 00 00 00 00 00 f8 3f
         0a 17 0a 01 6c 12 12 32 10 0a 09 11 00 00 00 00 00 00 f0 3f 0a 03 1a 01 78
         0a 07 0a 01 6e 12 02 08 00
         0a 09 0a 01 73 12 04 1a 02 68 69
         0a 07 0a 01 74 12 02 2a 00");
    assert_eq!(expected.len(), 79);
    let s = json_struct(r#"{"b": true, "d": 1.5, "l": [1, "x"], "n": null, "s": "hi", "t": {}}"#);
    assert_eq!(encode_struct(&s), expected);
    let view = StructView::parse(&expected).unwrap();
    assert!(matches!(view.get("b").unwrap().kind(), Kind::Bool(true)));
    assert!(matches!(view.get("d").unwrap().kind(), Kind::Number(n) if n == 1.5));
    let list: Vec<_> = view
        .get("l")
        .unwrap()
        .as_list()
        .unwrap()
        .iter()
        .map(|v| v.kind())
        .collect();
    assert!(matches!(list[..], [Kind::Number(n), Kind::String("x")] if n == 1.0));
    assert!(matches!(view.get("n").unwrap().kind(), Kind::Null));
    assert!(view.get("t").unwrap().as_struct().unwrap().is_empty());
    assert_eq!(Struct::from_view(&view), s);
}

#[test]
fn empty_struct_frame_4_1() {
    let frame = encode_frame(&Struct::new(), "", &FrameConfig::default()).unwrap();
    // Our encoder always writes the record key; the 52-byte frame of §4.1 is an
    // Any wrapping an empty outer Struct, which decodes as NoPeer.
    let mut empty = hex("3d 23 04 67 00 00 00 2c 0a 2a");
    empty.extend_from_slice(b"type.googleapis.com/google.protobuf.Struct");
    assert_eq!(empty.len(), 52);
    assert!(matches!(
        decode_frame(&empty, &FrameConfig::default()),
        Ok(Status::NoPeer { id: None, consumed: 52 })
    ));
    assert!(matches!(
        decode_frame(&frame, &FrameConfig::default()),
        Ok(Status::Frame { .. })
    ));
}

fn example_a_record() -> Struct {
    WorkloadMetadata::from_node_metadata(&json_struct(r#"{"NAMESPACE": "ns", "WORKLOAD_NAME": "w"}"#), &[]).to_struct()
}

const EXAMPLE_B_NODE: &str = r#"{"NAME": "ratings-v1-5f8d", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1",
 "CLUSTER_ID": "Kubernetes",
 "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
 "LABELS": {"app": "ratings", "version": "v1", "pod-template-hash": "5f8d",
            "service.istio.io/canonical-name": "ratings",
            "service.istio.io/canonical-revision": "v1"},
 "ISTIO_VERSION": "1.24.0", "MESH_ID": "cluster.local"}"#;
const EXAMPLE_B_ID: &str = "sidecar~10.1.2.3~ratings-v1-5f8d.default~default.svc.cluster.local";

#[test]
fn example_a_4_2() {
    let frame = encode_frame(&example_a_record(), "a~b~c~d", &FrameConfig::default()).unwrap();
    assert_eq!(frame.len(), 177);
    assert_eq!(
        sha256(&frame),
        "2ee55643c14366d11ef28df8c29adc4e9a915532cacf1a1a102fd3a6e0dd36d5"
    );
    let Ok(Status::Frame {
        metadata: fused,
        metadata_struct: peer,
        id,
        consumed,
    }) = decode_frame(&frame, &FrameConfig::default())
    else {
        panic!()
    };
    assert_eq!((id, consumed), (Some("a~b~c~d"), 177));
    let record = WorkloadView::from_struct(peer);
    assert_eq!((record.namespace, record.workload, record.name), ("ns", "w", ""));
    assert_eq!(
        WorkloadMetadata::from_view(&fused, &[]),
        WorkloadMetadata::from_view(&record, &[])
    );
}

#[test]
fn example_b_4_3() {
    let node = WorkloadMetadata::from_node_metadata(&json_struct(EXAMPLE_B_NODE), &[]);
    let frame = encode_frame(&node.to_struct(), EXAMPLE_B_ID, &FrameConfig::default()).unwrap();
    assert_eq!(frame.len(), 517);
    assert_eq!(&frame[4..8], &[0x00, 0x00, 0x01, 0xfd]);
    assert_eq!(
        sha256(&frame),
        "416f9cb9ddc3113d2bd2b64055a852eafcb1f31806445c253459ca420f5486d9"
    );
    let Ok(Status::Frame {
        metadata_struct: peer,
        id,
        ..
    }) = decode_frame(&frame, &FrameConfig::default())
    else {
        panic!()
    };
    assert_eq!(id, Some(EXAMPLE_B_ID));
    let r = WorkloadView::from_struct(peer);
    assert_eq!(r.workload_type, WorkloadType::Deployment);
    assert_eq!(
        (r.service, r.revision, r.app, r.version),
        ("ratings", "v1", "ratings", "v1")
    );
    assert_eq!(WorkloadMetadata::from_view(&r, &[]), node);
}

const HEADER_B: &str = "ChoKCkNMVVNURVJfSUQSDBoKS3ViZXJuZXRlcwqLAQoGTEFCRUxTEoABKn4KEAoDYXBwEgkaB3JhdGluZ3MKLAofc2VydmljZS5pc3Rpby5pby9jYW5vbmljYWwtbmFtZRIJGgdyYXRpbmdzCisKI3NlcnZpY2UuaXN0aW8uaW8vY2Fub25pY2FsLXJldmlzaW9uEgQaAnYxCg8KB3ZlcnNpb24SBBoCdjEKGQoETkFNRRIRGg9yYXRpbmdzLXYxLTVmOGQKFgoJTkFNRVNQQUNFEgkaB2RlZmF1bHQKTgoFT1dORVISRRpDa3ViZXJuZXRlczovL2FwaXMvYXBwcy92MS9uYW1lc3BhY2VzL2RlZmF1bHQvZGVwbG95bWVudHMvcmF0aW5ncy12MQodCg1XT1JLTE9BRF9OQU1FEgwaCnJhdGluZ3MtdjE=";

#[test]
fn headers_6_1() {
    let node = WorkloadMetadata::from_node_metadata(&json_struct(EXAMPLE_B_NODE), &[]);
    let header = encode_peer_header(&node.to_struct());
    assert_eq!(header.len(), 444);
    assert_eq!(header, HEADER_B);
    for value in [HEADER_B, HEADER_B.trim_end_matches('=')] {
        let mut buf = [0u8; 512];
        let view = decode_peer_header(value.as_bytes(), &mut buf).unwrap();
        assert_eq!(WorkloadMetadata::from_view(&WorkloadView::from_struct(view), &[]), node);
        assert_eq!(
            sha256(&buf[..332]),
            "618c9e1bbee12c43b960c522091b737a62634e86c3b858456196a5e101bfab35"
        );
    }
    assert_eq!(
        encode_peer_header(&example_a_record()),
        "CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw=="
    );
    let mut buf = [0u8; 16];
    assert_eq!(decode_peer_header(b"", &mut buf).unwrap_err(), HeaderError::Empty);
    assert!(matches!(
        decode_peer_header(b"-_-_", &mut buf),
        Err(HeaderError::Base64(_))
    ));
}

#[test]
fn baggage_emission_7_2() {
    let v1 = r#"{"NAME": "productpage-v1-84975bc778-pxz2w", "NAMESPACE": "default",
 "CLUSTER_ID": "client-cluster", "WORKLOAD_NAME": "productpage-v1",
 "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
 "LABELS": {"app": "productpage", "pod-template-hash": "84975bc778", "version": "v1",
            "service.istio.io/canonical-name": "productpage-v1",
            "service.istio.io/canonical-revision": "version-1", "role": "client"},
 "MESH_ID": "mesh", "SERVICE_ACCOUNT": "bookinfo-productpage", "ISTIO_VERSION": "1.5-dev"}"#;
    let v2 = r#"{"NAMESPACE": "default", "CLUSTER_ID": "cluster", "WORKLOAD_NAME": "workload",
 "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/workload",
 "LABELS": {"service.istio.io/canonical-name": "workload-service",
            "service.istio.io/canonical-revision": "v1"}}"#;
    let cases = [
        (
            v1,
            "k8s.deployment.name=productpage-v1,service.name=productpage-v1,app.name=productpage,service.version=version-1,app.version=v1,k8s.namespace.name=default,k8s.cluster.name=client-cluster,k8s.instance.name=productpage-v1-84975bc778-pxz2w",
        ),
        (
            v2,
            "k8s.deployment.name=workload,service.name=workload-service,service.version=v1,k8s.namespace.name=default,k8s.cluster.name=cluster",
        ),
        (
            EXAMPLE_B_NODE,
            "k8s.deployment.name=ratings-v1,service.name=ratings,service.version=v1,k8s.namespace.name=default,k8s.cluster.name=Kubernetes,k8s.instance.name=ratings-v1-5f8d",
        ),
        (
            r#"{"NAMESPACE": "ns", "WORKLOAD_NAME": "w"}"#,
            "k8s.pod.name=w,k8s.namespace.name=ns",
        ),
        ("{}", ""),
    ];
    for (node, expected) in cases {
        let record = WorkloadMetadata::from_node_metadata(&json_struct(node), &[]);
        assert_eq!(baggage_string(&record.as_view(), BaggageOrder::Istio), expected);
    }
}

#[test]
fn baggage_parse_7_3() {
    let r = parse_baggage("k8s.pod.name=foo-pod-435,k8s.cluster.name=my-cluster,k8s.namespace.name=test,k8s.instance.name=foo-instance-435,service.name=foo-service,service.version=v1beta2").unwrap();
    assert_eq!(r.workload_type, WorkloadType::Pod);
    assert_eq!(
        (r.workload, r.name, r.namespace, r.cluster),
        ("foo-pod-435", "foo-instance-435", "test", "my-cluster")
    );
    assert_eq!(
        (r.service, r.revision, r.app, r.version),
        ("foo-service", "v1beta2", "foo-service", "v1beta2")
    );

    let r = parse_baggage("k8s.deployment.name=foo,k8s.cluster.name=my-cluster,k8s.namespace.name=default,service.name=foo-service,service.version=v1alpha3,app.name=foo-app,app.version=latest").unwrap();
    assert_eq!((r.workload_type, r.workload), (WorkloadType::Deployment, "foo"));
    assert_eq!(
        (r.service, r.revision, r.app, r.version),
        ("foo-service", "v1alpha3", "foo-app", "latest")
    );

    let r = parse_baggage("app.name=foo-app,app.version=latest").unwrap();
    assert_eq!(
        (r.service, r.revision, r.app, r.version),
        ("foo-app", "latest", "foo-app", "latest")
    );

    let r = parse_baggage("k8s.namespace.name=default").unwrap();
    assert_eq!(r.namespace, "default");
    let mut cleared = r;
    cleared.namespace = "";
    assert!(cleared.is_empty());

    // No trimming, second `=` drops the rest, property suffix kept.
    assert!(parse_baggage(" k8s.namespace.name=x").is_err());
    assert_eq!(parse_baggage("k8s.namespace.name=a=b").unwrap().namespace, "a");
    assert_eq!(parse_baggage("service.name=foo;p").unwrap().service, "foo;p");
    assert_eq!(
        parse_baggage("k8s.namespace.name=a,k8s.namespace.name=b")
            .unwrap()
            .namespace,
        "b"
    );
    assert!(parse_baggage(&"x".repeat(8 * 1024 + 1)).is_err());
}

#[test]
fn ztunnel_baggage_7_4() {
    let bytes = encode_struct(&json_struct(
        r#"{"CLUSTER_ID": "K1", "NAMESPACE": "NS1", "WORKLOAD_NAME": "N1",
                "OWNER": "kubernetes://apis/apps/v1/namespaces/NS1/deployments/N1",
                "LABELS": {"service.istio.io/canonical-name": "N2", "service.istio.io/canonical-revision": "V1", "app": "A"}}"#,
    ));
    let record = WorkloadView::from_struct(StructView::parse(&bytes).unwrap());
    let z = baggage_string(&record, BaggageOrder::Ztunnel);
    assert_eq!(
        z,
        "k8s.cluster.name=K1,k8s.namespace.name=NS1,k8s.deployment.name=N1,service.name=N2,service.version=V1"
    );
    let parsed = parse_ztunnel_baggage([z.as_str()]).unwrap();
    assert_eq!(
        (
            parsed.cluster,
            parsed.namespace,
            parsed.workload,
            parsed.service,
            parsed.revision
        ),
        ("K1", "NS1", "N1", "N2", "V1")
    );
    // Both parsers read both orders.
    let proxy = parse_baggage(&z).unwrap();
    assert_eq!((proxy.workload, proxy.service, proxy.app), ("N1", "N2", "N2"));
    // An empty value clears; app.* is ignored; non-visible ASCII is an error.
    let cleared = parse_ztunnel_baggage([
        "k8s.namespace.name=a,app.name=x",
        "k8s.namespace.name=,k8s.cluster.name=c",
    ])
    .unwrap();
    assert_eq!((cleared.namespace, cleared.app, cleared.cluster), ("", "", "c"));
    assert!(parse_ztunnel_baggage(["k8s.cluster.name=\u{7f}"]).is_err());
}

#[test]
fn owner_endpoint_and_node_id_2() {
    let t = WorkloadType::from_owner;
    assert_eq!(
        t(
            "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
            "ratings-v1"
        ),
        WorkloadType::Deployment
    );
    assert_eq!(
        t(
            "kubernetes://apis/batch/v1/namespaces/default/cronjobs/hellocron",
            "hellocron"
        ),
        WorkloadType::CronJob
    );
    assert_eq!(
        t("kubernetes://apis/apps/v1/namespaces/default/daemonsets/hello", "hello"),
        WorkloadType::Unknown
    );
    assert_eq!(t("x", "long-name"), WorkloadType::Unknown);
    for none in ["", "a;b", "a;;;b", "a;b;c;d"] {
        assert!(WorkloadView::from_endpoint_metadata(none).is_none(), "{none}");
    }
    let r = WorkloadView::from_endpoint_metadata("foo-pod;default;foo-service;v1;my-cluster;extra").unwrap();
    assert_eq!(
        (r.workload, r.namespace, r.service, r.revision, r.cluster),
        ("foo-pod", "default", "foo-service", "v1", "my-cluster")
    );
    assert_eq!(r.workload_type, WorkloadType::Unknown);
    assert!(NodeId::parse("a~b~c").is_none());
    assert!(NodeId::parse("a~b~c~d~e").is_none());
}

#[test]
fn reading_rules_1_1_and_writing_1_2() {
    // Non-string values read as "", LABELS not a struct reads as empty,
    // W12 precedence, job OWNER re-synthesised with apps/v1.
    let node = json_struct(
        r#"{"NAME": 5, "NAMESPACE": "ns", "WORKLOAD_NAME": "j", "OWNER": "kubernetes://apis/batch/v1/namespaces/ns/jobs/j",
            "LABELS": {"app.kubernetes.io/name": "", "app": "legacy", "app.kubernetes.io/version": "v2", "version": "v1", "extra": "e"}}"#,
    );
    let r = WorkloadMetadata::from_node_metadata(&node, &["extra", "missing"]);
    assert_eq!(
        (r.name.as_str(), r.app.as_str(), r.version.as_str()),
        ("", "legacy", "v2")
    );
    assert_eq!(r.workload_type, WorkloadType::Job);
    let written = r.to_struct();
    assert_eq!(
        written.get("OWNER").and_then(Value::as_str),
        Some("kubernetes://apis/apps/v1/namespaces/ns/jobs/j")
    );
    let labels = written.get("LABELS").and_then(Value::as_struct).unwrap();
    let keys: Vec<_> = labels.fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["app", "extra", "version"]);
    let lower = r.to_lowercase_struct();
    assert_eq!(lower.get("type").and_then(Value::as_str), Some("job"));
    assert!(lower.get("name").is_none());

    let not_struct = json_struct(r#"{"LABELS": "x", "NAMESPACE": "ns"}"#);
    let r = WorkloadMetadata::from_node_metadata(&not_struct, &[]);
    assert_eq!(r.app, "");
    assert!(r.to_struct().get("LABELS").is_some());
}

#[test]
fn decoder_outcomes_4_5() {
    let config = FrameConfig::default();
    let frame = encode_frame(&example_a_record(), "a~b~c~d", &config).unwrap();

    // NotAFrame at the first mismatching byte, nothing consumed.
    let mut d = FrameDecoder::new(config);
    assert!(matches!(d.decode(b"\x3d\x23\x05"), Ok(Status::NotAFrame)));
    assert!(matches!(d.decode(b"anything"), Ok(Status::Finished)));
    assert!(matches!(FrameDecoder::new(config).decode(b"G"), Ok(Status::NotAFrame)));

    // NeedMore says how many bytes at least.
    assert!(matches!(
        FrameDecoder::new(config).decode(&frame[..3]),
        Ok(Status::NeedMore { needed: 5 })
    ));
    assert!(matches!(
        FrameDecoder::new(config).decode(&frame[..10]),
        Ok(Status::NeedMore { needed: 167 })
    ));

    // Short magic prefix at end of stream passes through; longer is truncated.
    assert!(matches!(
        FrameDecoder::new(config).finish(&frame[..3]),
        Ok(Status::NotAFrame)
    ));
    let err = FrameDecoder::new(config).finish(&frame[..100]).unwrap_err();
    assert_eq!(
        (err.kind, err.consumed),
        (FrameErrorKind::Truncated { have: 100, need: 177 }, 100)
    );

    // Oversize, skip policy: header and payload discarded as they arrive.
    let mut big = vec![0x3d, 0x23, 0x04, 0x67, 0x00, 0x01, 0x00, 0x01];
    big.extend(std::iter::repeat_n(0xaa, 10));
    let mut d = FrameDecoder::new(config);
    let err = d.decode(&big).unwrap_err();
    assert_eq!(
        err.kind,
        FrameErrorKind::TooLarge {
            declared: 65_537,
            max: 65_536
        }
    );
    assert_eq!(err.consumed, 18);
    let mut rest = vec![0xaa; 65_527];
    rest.extend_from_slice(b"app");
    assert!(matches!(
        d.decode(&rest),
        Ok(Status::Skip {
            consumed: 65_527,
            remaining: 0
        })
    ));
    assert!(d.is_finished());
    // Close policy: only the header is consumed.
    let err = FrameDecoder::new(config.with_oversize(OversizePolicy::Close))
        .decode(&big)
        .unwrap_err();
    assert_eq!(err.consumed, 8);

    // Malformed payload: consumed, offset from the frame start.
    let mut bad = vec![0x3d, 0x23, 0x04, 0x67, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x05, b'x'];
    let err = decode_frame(&bad, &config).unwrap_err();
    assert!(matches!(err.kind, FrameErrorKind::Malformed(e) if (e.offset, e.reason) == (8, Reason::Truncated)));
    assert_eq!(err.consumed, 10);
    bad.truncate(8);

    // Wrong type URL.
    let mut wrong = vec![0x3d, 0x23, 0x04, 0x67, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x03];
    wrong.extend_from_slice(b"a/b");
    assert_eq!(
        decode_frame(&wrong, &config).unwrap_err().kind,
        FrameErrorKind::UnexpectedTypeUrl
    );

    // Depth limit: 33 nested structs under the record key.
    let mut deep = Value::Struct(Struct::new());
    for _ in 0..32 {
        let mut s = Struct::new();
        s.insert("d", deep);
        deep = Value::Struct(s);
    }
    let mut record = Struct::new();
    record.insert("LABELS", deep);
    let deep_frame = encode_frame(&record, "", &config).unwrap();
    let err = decode_frame(&deep_frame, &config).unwrap_err();
    assert!(matches!(err.kind, FrameErrorKind::Malformed(e) if e.reason == Reason::TooDeep));
}
