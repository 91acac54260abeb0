//! Two endpoints stepped in memory over a simulated connection, in the
//! manner of quinn-proto's `Pair`: each side writes its frame then
//! application bytes, the network delivers them in arbitrary pieces, and
//! each side must learn the other's record and pass every application byte
//! through, whichever side writes first.

use meshtel_wire::exchange::{Exchange, PeerOutcome, Received};
use meshtel_wire::frame::{FrameConfig, encode_frame};
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::{WorkloadMetadata, WorkloadView};
use proptest::prelude::*;

/// One side: its exchange, what it still has to send, what it has received
/// and holds, and what it learned.
struct Endpoint<'f> {
    exchange: Exchange<'f>,
    outbox: Vec<u8>,
    app_to_send: Vec<u8>,
    held: Vec<u8>,
    app_received: Vec<u8>,
    peer: Option<Result<(WorkloadMetadata, Option<String>), String>>,
}

impl<'f> Endpoint<'f> {
    fn new(alpn: Option<&[u8]>, frame: &'f [u8], app: &[u8]) -> Self {
        Self {
            exchange: Exchange::new(alpn, frame, FrameConfig::default()),
            outbox: Vec::new(),
            app_to_send: app.to_vec(),
            held: Vec::new(),
            app_received: Vec::new(),
            peer: None,
        }
    }

    /// A write event: the frame first (once), then application bytes.
    fn write(&mut self) {
        if let Some(frame) = self.exchange.poll_transmit() {
            self.outbox.extend_from_slice(frame);
        }
        self.outbox.append(&mut self.app_to_send);
    }

    fn receive(&mut self, bytes: &[u8], eof: bool) {
        // The first read event also triggers our own write.
        self.write();
        self.held.extend_from_slice(bytes);
        loop {
            let verdict = if eof {
                self.exchange.on_end_of_stream(&self.held)
            } else {
                self.exchange.on_received(&self.held)
            };
            match verdict {
                Received::NeedMore => return,
                Received::Passthrough => {
                    self.app_received.append(&mut self.held);
                    return;
                }
                Received::Discard { consume } => {
                    self.held.drain(..consume);
                    if self.held.is_empty() {
                        return;
                    }
                }
                Received::Done { consume, outcome } => {
                    self.peer = Some(match outcome {
                        PeerOutcome::Found {
                            metadata: record,
                            metadata_struct: peer,
                            id,
                        } => Ok((
                            {
                                let two_pass = WorkloadMetadata::from_view(&WorkloadView::from_struct(peer), &[]);
                                assert_eq!(WorkloadMetadata::from_view(&record, &[]), two_pass);
                                two_pass
                            },
                            id.map(String::from),
                        )),
                        other => Err(format!("{other:?}")),
                    });
                    self.held.drain(..consume);
                    if self.exchange.is_finished() {
                        self.app_received.append(&mut self.held);
                        return;
                    }
                }
                _ => unreachable!(),
            }
        }
    }
}

fn node(workload: &str) -> WorkloadMetadata {
    let mut node = Struct::new();
    node.insert("NAMESPACE", "default");
    node.insert("WORKLOAD_NAME", workload);
    node.insert(
        "OWNER",
        format!("kubernetes://apis/apps/v1/namespaces/default/deployments/{workload}"),
    );
    WorkloadMetadata::from_node_metadata(&node, &[])
}

/// Steps both sides until quiet, delivering at most `chunk` bytes a step.
fn run(client: &mut Endpoint<'_>, server: &mut Endpoint<'_>, chunks: &[usize], server_first: bool) {
    if server_first {
        server.write();
    } else {
        client.write();
    }
    let mut chunks = chunks.iter().cycle();
    for _ in 0..10_000 {
        if client.outbox.is_empty() && server.outbox.is_empty() {
            break;
        }
        let n = (*chunks.next().unwrap()).min(client.outbox.len());
        let bytes: Vec<u8> = client.outbox.drain(..n).collect();
        server.receive(&bytes, false);
        let n = (*chunks.next().unwrap()).min(server.outbox.len());
        let bytes: Vec<u8> = server.outbox.drain(..n).collect();
        client.receive(&bytes, false);
    }
}

proptest! {
    #[test]
    fn both_sides_learn_each_other(
        chunks in prop::collection::vec(1usize..40, 1..8),
        server_first in any::<bool>(),
        request in prop::collection::vec(any::<u8>(), 0..64),
        response in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let (c, s) = (node("client"), node("server"));
        let client_frame = encode_frame(&c.to_struct(), "client-id", &FrameConfig::default()).unwrap();
        let server_frame = encode_frame(&s.to_struct(), "server-id", &FrameConfig::default()).unwrap();
        let alpn = Some(b"istio-peer-exchange".as_slice());
        let mut client = Endpoint::new(alpn, &client_frame, &request);
        let mut server = Endpoint::new(alpn, &server_frame, &response);
        run(&mut client, &mut server, &chunks, server_first);
        prop_assert_eq!(server.peer.clone().unwrap().unwrap(), (c, Some("client-id".into())));
        prop_assert_eq!(client.peer.clone().unwrap().unwrap(), (s, Some("server-id".into())));
        prop_assert_eq!(&server.app_received, &request);
        prop_assert_eq!(&client.app_received, &response);
    }
}

#[test]
fn without_the_alpn_nothing_is_exchanged() {
    let frame = encode_frame(&node("c").to_struct(), "id", &FrameConfig::default()).unwrap();
    let mut client = Endpoint::new(Some(b"istio"), &frame, b"GET / HTTP/1.1\r\n\r\n");
    let mut server = Endpoint::new(None, &frame, b"HTTP/1.1 200 OK\r\n\r\n");
    run(&mut client, &mut server, &[5], false);
    assert!(client.peer.is_none() && server.peer.is_none());
    assert_eq!(server.app_received, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(client.app_received, b"HTTP/1.1 200 OK\r\n\r\n");
}

#[test]
fn a_peer_without_a_frame_is_application_data() {
    let frame = encode_frame(&node("s").to_struct(), "id", &FrameConfig::default()).unwrap();
    let mut server = Endpoint::new(Some(b"istio-peer-exchange"), &frame, b"");
    server.receive(b"\x3d\x23", false);
    assert!(server.peer.is_none() && server.app_received.is_empty());
    server.receive(b"\x00garbage", false);
    assert_eq!(server.peer.as_ref().unwrap().as_ref().unwrap_err(), "NotAFrame");
    assert_eq!(server.app_received, b"\x3d\x23\x00garbage");
}

#[test]
fn truncated_and_oversize_frames_are_rejected_without_losing_bytes() {
    let frame = encode_frame(&node("s").to_struct(), "id", &FrameConfig::default()).unwrap();
    let mut server = Endpoint::new(Some(b"istio-peer-exchange"), &frame, b"");
    server.receive(&frame[..20], true);
    assert!(
        server
            .peer
            .as_ref()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .contains("Truncated")
    );

    // Oversize: 70 000 declared bytes skipped as they arrive, then data.
    let mut server = Endpoint::new(Some(b"istio-peer-exchange"), &frame, b"");
    let mut hostile = vec![0x3d, 0x23, 0x04, 0x67];
    hostile.extend_from_slice(&70_000u32.to_be_bytes());
    hostile.extend(std::iter::repeat_n(0u8, 70_000));
    hostile.extend_from_slice(b"after");
    for chunk in hostile.chunks(4096) {
        server.receive(chunk, false);
        assert!(server.held.len() <= 4096, "oversize payload must not be buffered");
    }
    assert!(server.peer.as_ref().unwrap().as_ref().unwrap_err().contains("TooLarge"));
    assert_eq!(server.app_received, b"after");
}
