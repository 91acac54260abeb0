//! The decode paths allocate nothing: proved with a counting global
//! allocator around each path.

#[path = "../../../testing/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

use meshtel_wire::baggage::parse_baggage;
use meshtel_wire::exchange::{Exchange, PeerOutcome, Received};
use meshtel_wire::frame::{FrameConfig, FrameDecoder, Status, encode_frame};
use meshtel_wire::header::{decode_peer_header, encode_peer_header};
use meshtel_wire::proto::{Kind, Struct};
use meshtel_wire::workload::{WorkloadMetadata, WorkloadView};

fn record() -> Struct {
    let mut node = Struct::new();
    node.insert("NAME", "ratings-v1-5f8d");
    node.insert("NAMESPACE", "default");
    node.insert("WORKLOAD_NAME", "ratings-v1");
    node.insert("CLUSTER_ID", "Kubernetes");
    node.insert(
        "OWNER",
        "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
    );
    let labels: Struct = [
        ("app", "ratings"),
        ("version", "v1"),
        ("service.istio.io/canonical-name", "ratings"),
    ]
    .into_iter()
    .collect();
    node.insert("LABELS", labels);
    WorkloadMetadata::from_node_metadata(&node, &[]).to_struct()
}

#[test]
fn frame_decode_and_record_read_allocate_nothing() {
    let frame = encode_frame(
        &record(),
        "sidecar~10.1.2.3~r.default~default.svc.cluster.local",
        &FrameConfig::default(),
    )
    .unwrap();
    let (n, workload) = allocations_in(|| {
        let mut decoder = FrameDecoder::new(FrameConfig::default());
        for end in [3, 9, frame.len() - 1] {
            assert!(matches!(decoder.decode(&frame[..end]), Ok(Status::NeedMore { .. })));
        }
        let Ok(Status::Frame {
            metadata_struct: peer, ..
        }) = decoder.decode(&frame)
        else {
            panic!()
        };
        let r = WorkloadView::from_struct(peer);
        // Walk everything, too.
        for entry in peer.entries() {
            if let Kind::Struct(s) = entry.value().kind() {
                assert!(s.entries().all(|e| !e.key().is_empty()));
            }
        }
        (r.workload, r.app)
    });
    assert_eq!(workload, ("ratings-v1", "ratings"));
    assert_eq!(n, 0, "frame decoding allocated");
}

#[test]
fn header_decode_allocates_nothing() {
    let header = encode_peer_header(&record());
    let (n, namespace) = allocations_in(|| {
        let mut buf = [0u8; 512];
        let peer = decode_peer_header(header.as_bytes(), &mut buf).unwrap();
        WorkloadView::from_struct(peer).namespace.len()
    });
    assert_eq!(namespace, "default".len());
    assert_eq!(n, 0, "header decoding allocated");
}

#[test]
fn baggage_parse_and_handshake_allocate_nothing() {
    let frame = encode_frame(&record(), "id", &FrameConfig::default()).unwrap();
    let (n, ()) = allocations_in(|| {
        let r =
            parse_baggage("k8s.deployment.name=ratings-v1,service.name=ratings,k8s.namespace.name=default").unwrap();
        assert_eq!(r.service, "ratings");
        let mut exchange = Exchange::new(Some(b"istio-peer-exchange"), &frame, FrameConfig::default());
        assert!(exchange.poll_transmit().is_some());
        assert!(matches!(
            exchange.on_received(&frame),
            Received::Done {
                outcome: PeerOutcome::Found { .. },
                ..
            }
        ));
    });
    assert_eq!(n, 0, "baggage or handshake allocated");
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations_in(|| vec![1u8; 10]);
    assert_eq!((n, v.len()), (1, 10));
}
