//! The exchange over in-memory streams: both roles, every split of the frame, hostile
//! peers, timeouts, resets; the application bytes arrive exactly once, in order. Both modes:
//! `PeerExchange::run` (settled before the stream is handed over) and the client mode
//! `PeerExchange::start` (settled by the stream's reads).

mod common;

use std::io;
use std::time::Duration;

use common::*;
use meshtel_tokio::{ExchangeError, Exchanged, Peer, PeerExchange, PeerOutcome, PeerStream, Rejection, Role, Started};
use meshtel_wire::frame::{FrameConfig, FrameErrorKind, MAGIC, OversizePolicy};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, duplex};

const APP: &[u8] = b"GET /ratings HTTP/1.1\r\nhost: ratings\r\n\r\n";

/// Whether `outcome` found `metadata` with node id `id`.
fn found(outcome: &PeerOutcome, metadata: &meshtel_wire::workload::WorkloadMetadata, id: &str) -> bool {
    matches!(outcome, PeerOutcome::Found(Peer { metadata: m, id: Some(i), .. }) if m == metadata && i == id)
}

fn found_client(outcome: &PeerOutcome) -> bool {
    found(outcome, &client_record(), CLIENT_ID)
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Writes `chunks` to `w` one by one, letting the reader run between them, then shuts down.
async fn feed<W: AsyncWrite + Unpin>(w: &mut W, chunks: &[&[u8]]) {
    for chunk in chunks {
        w.write_all(chunk).await.unwrap();
        w.flush().await.unwrap();
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
    w.shutdown().await.unwrap();
}

/// Runs `role` against a raw peer that writes `chunks` then shuts down; the outcome, the
/// application bytes read afterwards (to the end), and the bytes the raw peer received.
async fn against_raw(exchange: &PeerExchange, role: Role, chunks: &[&[u8]]) -> (PeerOutcome, Vec<u8>, Vec<u8>) {
    let (ours, mut theirs) = duplex(1 << 20);
    let run = exchange.run(role, ours, MXC);
    let (result, ()) = tokio::join!(run, feed(&mut theirs, chunks));
    let Exchanged {
        outcome, mut stream, ..
    } = result.unwrap();
    let mut app = Vec::new();
    stream.read_to_end(&mut app).await.unwrap();
    drop(stream);
    let mut received = Vec::new();
    theirs.read_to_end(&mut received).await.unwrap();
    (outcome, app, received)
}

fn client_wire() -> Vec<u8> {
    let mut wire = client_exchange().local_frame().to_vec();
    wire.extend_from_slice(APP);
    wire
}

#[tokio::test]
async fn both_ends_find_each_other_then_carry_application_bytes() {
    let (a, b) = duplex(1 << 16);
    let (client, server) = (client_exchange(), server_exchange());
    let (c, s) = tokio::try_join!(client.run(Role::Client, a, MXC), server.run(Role::Server, b, MXC)).unwrap();
    assert!(found(&c.outcome, &server_record(), SERVER_ID), "{:?}", c.outcome);
    assert!(found_client(&s.outcome), "{:?}", s.outcome);
    let (mut c, mut s) = (c.stream, s.stream);
    c.write_all(APP).await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, APP);
}

#[tokio::test]
async fn tiny_buffers_do_not_deadlock_when_both_write_first() {
    // Each frame is far larger than the 7-byte pipe: both sides must read while writing.
    let (a, b) = duplex(7);
    let (client, server) = (client_exchange(), server_exchange());
    let (c, s) = tokio::try_join!(client.run(Role::Client, a, MXC), server.run(Role::Server, b, MXC)).unwrap();
    assert!(c.outcome.is_found() && s.outcome.is_found());
}

#[test]
fn every_two_chunk_split_of_frame_and_data_both_roles() {
    let wire = client_wire();
    let exchange = server_exchange();
    block_on(async {
        for role in [Role::Client, Role::Server] {
            for at in 0..=wire.len() {
                let (outcome, app, received) = against_raw(&exchange, role, &[&wire[..at], &wire[at..]]).await;
                assert!(found_client(&outcome), "{role} split at {at}: {outcome:?}");
                assert_eq!(app, APP, "{role} split at {at}");
                assert_eq!(received, exchange.local_frame(), "{role}: the local frame, once");
            }
        }
    });
}

#[tokio::test]
async fn byte_by_byte() {
    let wire = client_wire();
    let chunks: Vec<&[u8]> = wire.chunks(1).collect();
    let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &chunks).await;
    assert!(found_client(&outcome), "{outcome:?}");
    assert_eq!(app, APP);

    // The exchange really saw one byte per read.
    let (ours, mut theirs) = duplex(1 << 16);
    let exchange = server_exchange();
    let (done, ()) = tokio::join!(
        exchange.run(Role::Server, Faulty::new(ours, None, None), MXC),
        feed(&mut theirs, &chunks[..client_exchange().local_frame().len()])
    );
    let done = done.unwrap();
    assert!(found_client(&done.outcome));
    assert_eq!(done.stream.get_ref().reads, client_exchange().local_frame().len());
}

#[tokio::test]
async fn application_bytes_instead_of_a_frame_pass_untouched() {
    for wire in [
        APP,
        &[0x3d, 0x23, 0xff, 1, 2, 3][..],
        &[0x3d, 0x23, 0x04, 0x66, 0, 0, 0, 0, 9][..],
    ] {
        for at in 0..=wire.len() {
            let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[&wire[..at], &wire[at..]]).await;
            assert_eq!(outcome, PeerOutcome::NotAFrame, "{wire:?} at {at}");
            assert_eq!(app, wire, "{wire:?} at {at}");
        }
    }
}

#[tokio::test]
async fn garbage_after_a_frame_is_application_data() {
    let mut wire = client_exchange().local_frame().to_vec();
    let garbage = [0x3d, 0x23, 0x04, 0x67, 0xff, 0xff, 0xff, 0xff, 0];
    wire.extend_from_slice(&garbage);
    let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[&wire]).await;
    assert!(found_client(&outcome), "{outcome:?}");
    assert_eq!(app, garbage, "a second frame is not inspected");
}

#[tokio::test]
async fn end_of_stream_before_or_inside_the_magic_is_not_a_frame() {
    for wire in [&[][..], &MAGIC[..1], &MAGIC[..3]] {
        let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[wire]).await;
        assert_eq!(outcome, PeerOutcome::NotAFrame, "{wire:?}");
        assert_eq!(app, wire, "short tails pass through");
    }
}

#[tokio::test]
async fn truncated_frame_then_end_of_stream_is_rejected_and_nothing_leaks() {
    let frame = client_exchange().local_frame().to_vec();
    for at in [4, 7, 8, 9, frame.len() - 1] {
        let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[&frame[..at]]).await;
        let need = if at < 8 { 8 } else { frame.len() };
        assert_eq!(
            outcome,
            PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::Truncated { have: at, need })),
            "cut at {at}"
        );
        assert!(app.is_empty(), "cut at {at}: {app:?}");
    }
}

/// A frame header declaring `declared` bytes, `declared` bytes of payload, then `APP`.
fn oversize_wire(declared: u32) -> Vec<u8> {
    let mut wire = MAGIC.to_vec();
    wire.extend_from_slice(&declared.to_be_bytes());
    wire.extend((0..declared).map(|i| i as u8));
    wire.extend_from_slice(APP);
    wire
}

#[tokio::test]
async fn oversize_frame_is_skipped_without_buffering_and_the_rest_passes() {
    let declared = 100_000;
    let wire = oversize_wire(declared);
    let too_large = PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::TooLarge { declared, max: 65536 }));
    for at in [3, 8, 9, 5000, 8 + declared as usize, wire.len() - 1] {
        let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[&wire[..at], &wire[at..]]).await;
        assert_eq!(outcome, too_large, "split at {at}");
        assert_eq!(app, APP, "split at {at}");
    }
    // The stream ends inside the skipped payload: the first rejection stands, nothing leaks.
    let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[&wire[..50_000]]).await;
    assert_eq!(outcome, too_large);
    assert!(app.is_empty());
}

#[tokio::test]
async fn oversize_frame_under_close_policy_is_reported_at_the_header() {
    let exchange = server_exchange().with_frame_config(FrameConfig::default().with_oversize(OversizePolicy::Close));
    let wire = oversize_wire(70_000);
    let (ours, mut theirs) = duplex(1 << 20);
    theirs.write_all(&wire[..8]).await.unwrap();
    let done = exchange.run(Role::Server, ours, MXC).await.unwrap();
    assert_eq!(
        done.outcome,
        PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::TooLarge {
            declared: 70_000,
            max: 65536
        }))
    );
}

#[tokio::test]
async fn malformed_frame_is_dropped_and_following_bytes_pass() {
    let mut wire = MAGIC.to_vec();
    wire.extend_from_slice(&4u32.to_be_bytes());
    wire.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    wire.extend_from_slice(APP);
    let (outcome, app, _) = against_raw(&server_exchange(), Role::Client, &[&wire]).await;
    assert!(
        matches!(
            outcome,
            PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::Malformed(_)))
        ),
        "{outcome:?}"
    );
    assert_eq!(app, APP);
}

#[tokio::test]
async fn frame_without_peer_metadata_is_no_peer() {
    // `docs/reference/wire.md` §4.1: an `Any` wrapping an empty Struct.
    let mut wire = vec![0x3d, 0x23, 0x04, 0x67, 0x00, 0x00, 0x00, 0x2c, 0x0a, 0x2a];
    wire.extend_from_slice(b"type.googleapis.com/google.protobuf.Struct");
    assert_eq!(wire.len(), 52);
    wire.extend_from_slice(APP);
    for at in 0..=wire.len() {
        let (outcome, app, _) = against_raw(&server_exchange(), Role::Server, &[&wire[..at], &wire[at..]]).await;
        assert_eq!(outcome, PeerOutcome::NoPeer { id: None }, "split at {at}");
        assert_eq!(app, APP, "split at {at}");
    }
}

#[tokio::test]
async fn exchange_does_not_run_without_the_alpn() {
    for alpn in [None, Some(&b"istio"[..]), Some(&b"h2"[..])] {
        let (ours, mut theirs) = duplex(1024);
        theirs.write_all(APP).await.unwrap();
        theirs.shutdown().await.unwrap();
        let done = client_exchange().run(Role::Client, ours, alpn).await.unwrap();
        assert_eq!(done.outcome, PeerOutcome::Disabled);
        let mut stream = done.stream;
        let mut app = Vec::new();
        stream.read_to_end(&mut app).await.unwrap();
        assert_eq!(app, APP);
        stream.shutdown().await.unwrap();
        let mut received = Vec::new();
        theirs.read_to_end(&mut received).await.unwrap();
        assert!(received.is_empty(), "no frame written");
    }
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out() {
    let exchange = server_exchange().with_timeout(Some(Duration::from_secs(3)));
    let (ours, _theirs) = duplex(1 << 16);
    let started = tokio::time::Instant::now();
    let done = exchange.run(Role::Server, ours, MXC).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(
        done.outcome,
        PeerOutcome::Rejected(Rejection::TimedOut {
            after: Duration::from_secs(3),
            received: 0,
            sent: exchange.local_frame().len(),
        })
    );
}

#[tokio::test(start_paused = true)]
async fn stalled_partial_frame_times_out_and_is_not_replayed() {
    let exchange = server_exchange().with_timeout(Some(Duration::from_secs(3)));
    let (ours, mut theirs) = duplex(1 << 16);
    theirs.write_all(&client_exchange().local_frame()[..20]).await.unwrap();
    let done = exchange.run(Role::Server, ours, MXC).await.unwrap();
    assert!(
        matches!(
            done.outcome,
            PeerOutcome::Rejected(Rejection::TimedOut { received: 20, .. })
        ),
        "{:?}",
        done.outcome
    );
    assert!(done.stream.buffered().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_times_out_the_write() {
    // A 16-byte pipe nobody drains: the local frame cannot be written.
    let exchange = server_exchange().with_timeout(Some(Duration::from_secs(1)));
    let (ours, mut theirs) = duplex(16);
    theirs.write_all(&client_exchange().local_frame()[..16]).await.unwrap();
    let done = exchange.run(Role::Server, ours, MXC).await.unwrap();
    assert!(
        matches!(
            done.outcome,
            PeerOutcome::Rejected(Rejection::TimedOut { sent: 16, .. })
        ),
        "{:?}",
        done.outcome
    );
}

#[tokio::test]
async fn reset_while_reading_is_a_typed_read_error() {
    let (ours, mut theirs) = duplex(1 << 16);
    theirs.write_all(&client_exchange().local_frame()[..30]).await.unwrap();
    let faulty = Faulty::new(ours, Some(30), None);
    let err = server_exchange().run(Role::Server, faulty, MXC).await.unwrap_err();
    match &err {
        ExchangeError::Read { role, received, source } => {
            assert_eq!(
                (*role, *received, source.kind()),
                (Role::Server, 30, io::ErrorKind::ConnectionReset)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "server-side peer exchange: reading the peer's metadata frame failed after 30 bytes"
    );
}

#[tokio::test]
async fn reset_while_writing_is_a_typed_write_error() {
    let (ours, _theirs) = duplex(1 << 16);
    let faulty = Faulty::new(ours, None, Some(10));
    let exchange = client_exchange();
    let err = exchange.run(Role::Client, faulty, MXC).await.unwrap_err();
    match err {
        ExchangeError::Write {
            role,
            written,
            len,
            source,
        } => {
            assert_eq!((role, written, len), (Role::Client, 10, exchange.local_frame().len()));
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn peer_gone_is_a_write_error() {
    let (ours, theirs) = duplex(16);
    drop(theirs);
    let err = client_exchange().run(Role::Client, ours, MXC).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Write { written: 0, .. }), "{err:?}");
}

#[tokio::test]
async fn dropped_peer_task_mid_frame_ends_the_stream() {
    // The peer's task writes half its frame and is aborted: its end is dropped, so the
    // stream ends inside the frame.
    let (ours, mut theirs) = duplex(1 << 16);
    let half = client_exchange().local_frame()[..40].to_vec();
    let task = tokio::spawn(async move {
        theirs.write_all(&half).await.unwrap();
        std::future::pending::<()>().await;
        drop(theirs);
    });
    tokio::task::yield_now().await;
    let exchange = server_exchange();
    let run = exchange.run(Role::Server, ours, MXC);
    let abort = async {
        tokio::task::yield_now().await;
        task.abort();
    };
    let (done, ()) = tokio::join!(run, abort);
    let done = done.unwrap();
    assert!(
        matches!(
            done.outcome,
            PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::Truncated { have: 40, .. }))
        ),
        "{:?}",
        done.outcome
    );
}

#[tokio::test]
async fn a_large_frame_grows_the_buffer_and_keeps_its_labels() {
    // 40 labels of 500 bytes: a frame of about 20 KiB, ten times the first read.
    let names: Vec<String> = (0..40).map(|i| format!("label-{i:02}")).collect();
    let mut big = client_record();
    for name in &names {
        big.labels.insert(name.clone(), "x".repeat(500));
    }
    let sender = PeerExchange::for_workload(&big, CLIENT_ID).unwrap();
    assert!(sender.local_frame().len() > 20_000);
    let receiver = server_exchange().with_additional_labels(names.iter().cloned());
    let mut wire = sender.local_frame().to_vec();
    wire.extend_from_slice(APP);
    for at in [1, 2047, 2048, 2049, 10_000, wire.len() - APP.len(), wire.len() - 1] {
        let (outcome, app, _) = against_raw(&receiver, Role::Server, &[&wire[..at], &wire[at..]]).await;
        assert!(found(&outcome, &big, CLIENT_ID), "split at {at}");
        assert_eq!(app, APP, "split at {at}");
    }
}

#[tokio::test]
async fn small_application_reads_see_every_byte_once_in_order() {
    let mut wire = client_exchange().local_frame().to_vec();
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    wire.extend_from_slice(&data);
    let (ours, mut theirs) = duplex(1 << 20);
    theirs.write_all(&wire).await.unwrap();
    theirs.shutdown().await.unwrap();
    let done = server_exchange().run(Role::Server, ours, MXC).await.unwrap();
    assert!(found_client(&done.outcome), "{:?}", done.outcome);
    assert!(!done.stream.buffered().is_empty(), "the exchange read past the frame");
    let mut stream = done.stream;
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, data);
}

fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=len, 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_splits_give_the_same_outcome_and_bytes(cuts in splits(client_wire().len()), server in any::<bool>()) {
        let wire = client_wire();
        let mut chunks = Vec::new();
        let mut from = 0;
        for &cut in &cuts {
            chunks.push(&wire[from..cut]);
            from = cut;
        }
        chunks.push(&wire[from..]);
        let role = if server { Role::Server } else { Role::Client };
        let (outcome, app, _) = block_on(against_raw(&server_exchange(), role, &chunks));
        prop_assert!(found_client(&outcome), "{outcome:?}");
        prop_assert_eq!(app, APP);
    }
}

/// What a multi-threaded runtime needs to move a connection between threads.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Exchanged<DuplexStream>>();
    is_send::<Started<DuplexStream>>();
};

/// What the sans-IO decoder says about a whole stream (the oracle): the outcome's kind and
/// the application bytes.
fn oracle(input: &[u8]) -> (&'static str, Vec<u8>) {
    use meshtel_wire::frame::{Status, decode_frame};
    match decode_frame(input, &FrameConfig::default()) {
        Ok(Status::NotAFrame) => ("not_a_frame", input.to_vec()),
        Ok(Status::Frame { consumed, .. }) => ("found", input[consumed..].to_vec()),
        Ok(Status::NoPeer { consumed, .. }) => ("no_peer", input[consumed..].to_vec()),
        Ok(other) => panic!("a fresh decoder at end of stream: {other:?}"),
        Err(e) => {
            let kind = match e.kind {
                FrameErrorKind::TooLarge { .. } => "too_large",
                FrameErrorKind::Truncated { .. } => "truncated",
                _ => "malformed",
            };
            (kind, input[e.consumed()..].to_vec())
        }
    }
}

fn kind(outcome: &PeerOutcome) -> &'static str {
    match outcome {
        PeerOutcome::Found(_) => "found",
        PeerOutcome::NoPeer { .. } => "no_peer",
        PeerOutcome::NotAFrame => "not_a_frame",
        PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::TooLarge { .. })) => "too_large",
        PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::Truncated { .. })) => "truncated",
        PeerOutcome::Rejected(Rejection::Frame(_)) => "malformed",
        other => panic!("{other:?}"),
    }
}

/// Hostile streams: random bytes; the magic, a small or oversize length and random payload;
/// a valid frame cut anywhere; each followed by random bytes.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let tail = proptest::collection::vec(any::<u8>(), 0..64);
    let random = proptest::collection::vec(any::<u8>(), 0..64).boxed();
    let headed = (
        prop_oneof![0u32..200, 65_537u32..70_000],
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(len, payload)| {
            let mut v = MAGIC.to_vec();
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&payload);
            v
        })
        .boxed();
    let cut = (0..=client_wire().len())
        .prop_map(|at| {
            client_exchange()
                .local_frame()
                .iter()
                .copied()
                .take(at)
                .collect::<Vec<u8>>()
        })
        .boxed();
    (prop_oneof![random, headed, cut], tail).prop_map(|(mut head, tail)| {
        head.extend_from_slice(&tail);
        head
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_streams_agree_with_the_sans_io_decoder_whatever_the_splits(
        input in hostile(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for &cut in &cuts {
            chunks.push(&input[from..cut]);
            from = cut;
        }
        chunks.push(&input[from..]);
        let (outcome, app, _) = block_on(against_raw(&server_exchange(), Role::Server, &chunks));
        let (want_kind, want_app) = oracle(&input);
        prop_assert_eq!(kind(&outcome), want_kind, "{:?}", outcome);
        prop_assert_eq!(&app, &want_app);
        let (outcome, app, _) = block_on(against_raw_lazy(&client_exchange(), &chunks));
        prop_assert_eq!(kind(&outcome), want_kind, "client mode: {:?}", outcome);
        prop_assert_eq!(app, want_app, "client mode");
    }
}

// ---------------------------------------------------------------------------------------
// Client mode: `PeerExchange::start` does not wait for the peer's frame.

/// Starts the client mode against a raw peer that writes `chunks` then shuts down; the
/// outcome (the stream's and the handle's, which must agree), the application bytes read to
/// the end, and the bytes the raw peer received.
async fn against_raw_lazy(exchange: &PeerExchange, chunks: &[&[u8]]) -> (PeerOutcome, Vec<u8>, Vec<u8>) {
    let (ours, mut theirs) = duplex(1 << 20);
    let Started { mut stream, peer, .. } = exchange.start(Role::Client, ours, MXC).await.unwrap();
    let read = async {
        let mut app = Vec::new();
        stream.read_to_end(&mut app).await.unwrap();
        app
    };
    let (app, ()) = tokio::join!(read, feed(&mut theirs, chunks));
    let outcome = stream.outcome().cloned().expect("settled at the end of the stream");
    drop(stream);
    assert_eq!(peer.await.as_ref(), Some(&outcome), "the handle agrees with the stream");
    let mut received = Vec::new();
    theirs.read_to_end(&mut received).await.unwrap();
    (outcome, app, received)
}

/// The server's frame and its first response bytes, as the Envoy module sends them.
fn server_response() -> Vec<u8> {
    let mut wire = server_exchange().local_frame().to_vec();
    wire.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    wire
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

#[tokio::test]
async fn client_mode_completes_before_the_server_speaks_and_finds_it_in_the_response() {
    let (ours, mut theirs) = duplex(1 << 16);
    let client = client_exchange();
    // Nothing from the server yet: a `run` would wait here until its timeout.
    let Started { mut stream, peer, .. } = client.start(Role::Client, ours, MXC).await.unwrap();
    assert_eq!(stream.outcome(), None);
    stream.write_all(APP).await.unwrap();

    // The server (a proxy-wasm filter) hears the client's frame and request first, and sends
    // its frame only in front of its first response bytes, in one write.
    let mut request = vec![0; client.local_frame().len() + APP.len()];
    theirs.read_exact(&mut request).await.unwrap();
    assert_eq!(&request[..client.local_frame().len()], client.local_frame());
    assert_eq!(&request[client.local_frame().len()..], APP);
    theirs.write_all(&server_response()).await.unwrap();
    theirs.shutdown().await.unwrap();

    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, RESPONSE);
    let outcome = peer.await.unwrap();
    assert!(found(&outcome, &server_record(), SERVER_ID), "{outcome:?}");
    assert_eq!(stream.outcome(), Some(&outcome));
}

#[test]
fn client_mode_every_two_chunk_split_of_the_servers_frame_and_response() {
    let wire = server_response();
    let exchange = client_exchange();
    block_on(async {
        for at in 0..=wire.len() {
            let (outcome, app, received) = against_raw_lazy(&exchange, &[&wire[..at], &wire[at..]]).await;
            assert!(
                found(&outcome, &server_record(), SERVER_ID),
                "split at {at}: {outcome:?}"
            );
            assert_eq!(app, RESPONSE, "split at {at}");
            assert_eq!(received, exchange.local_frame(), "the local frame, once");
        }
    });
}

#[tokio::test]
async fn client_mode_byte_by_byte() {
    let wire = server_response();
    let chunks: Vec<&[u8]> = wire.chunks(1).collect();
    let (outcome, app, _) = against_raw_lazy(&client_exchange(), &chunks).await;
    assert!(found(&outcome, &server_record(), SERVER_ID), "{outcome:?}");
    assert_eq!(app, RESPONSE);
}

#[tokio::test]
async fn client_mode_small_reads_see_every_byte_once_in_order() {
    let wire = server_response();
    let (ours, mut theirs) = duplex(1 << 16);
    theirs.write_all(&wire).await.unwrap();
    theirs.shutdown().await.unwrap();
    let Started { mut stream, .. } = client_exchange().start(Role::Client, ours, MXC).await.unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 3];
    loop {
        let n = stream.read(&mut byte).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&byte[..n]);
    }
    assert_eq!(got, RESPONSE);
}

#[tokio::test]
async fn client_mode_with_a_native_server_over_a_tiny_pipe() {
    // Both write first over a 7-byte pipe: the client reads the server's frame while it
    // writes its own, so neither blocks the other.
    let (a, b) = duplex(7);
    let (client, server) = (client_exchange(), server_exchange());
    let (c, s) = tokio::try_join!(client.start(Role::Client, a, MXC), server.run(Role::Server, b, MXC)).unwrap();
    assert!(found_client(&s.outcome), "{:?}", s.outcome);
    let (mut c, mut s) = (c.stream, s.stream);
    let echo = async {
        let mut buf = vec![0; APP.len()];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    };
    let ask = async {
        c.write_all(APP).await.unwrap();
        let mut buf = vec![0; APP.len()];
        c.read_exact(&mut buf).await.unwrap();
        buf
    };
    let ((), got) = tokio::join!(echo, ask);
    assert_eq!(got, APP);
    let outcome = c.outcome().unwrap();
    assert!(found(outcome, &server_record(), SERVER_ID), "{outcome:?}");
}

#[tokio::test]
async fn client_mode_passes_a_non_frame_through_untouched() {
    let (outcome, app, _) = against_raw_lazy(&client_exchange(), &[b"\x3d\x23hello", b" world"]).await;
    assert_eq!(outcome, PeerOutcome::NotAFrame);
    assert_eq!(app, b"\x3d\x23hello world");
    let (outcome, app, _) = against_raw_lazy(&client_exchange(), &[]).await;
    assert_eq!((outcome, app), (PeerOutcome::NotAFrame, Vec::new()));
}

#[tokio::test]
async fn client_mode_drops_a_malformed_frame_and_passes_what_follows() {
    let mut wire = MAGIC.to_vec();
    wire.extend_from_slice(&4u32.to_be_bytes());
    wire.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    wire.extend_from_slice(RESPONSE);
    let (outcome, app, _) = against_raw_lazy(&client_exchange(), &[&wire[..5], &wire[5..]]).await;
    assert!(
        matches!(
            outcome,
            PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::Malformed(_)))
        ),
        "{outcome:?}"
    );
    assert_eq!(app, RESPONSE);
}

#[tokio::test]
async fn client_mode_skips_an_oversize_frame_as_it_arrives() {
    let declared = 100_000;
    let wire = oversize_wire(declared);
    let too_large = PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::TooLarge { declared, max: 65536 }));
    for at in [3, 9, 50_000, wire.len() - 1] {
        let (outcome, app, _) = against_raw_lazy(&client_exchange(), &[&wire[..at], &wire[at..]]).await;
        assert_eq!(outcome, too_large, "split at {at}");
        assert_eq!(app, APP, "split at {at}");
    }
}

#[tokio::test]
async fn client_mode_refuses_reads_after_an_oversize_frame_under_the_close_policy() {
    let exchange = client_exchange().with_frame_config(FrameConfig::default().with_oversize(OversizePolicy::Close));
    let (ours, mut theirs) = duplex(1 << 16);
    let Started { mut stream, peer, .. } = exchange.start(Role::Client, ours, MXC).await.unwrap();
    theirs.write_all(&oversize_wire(70_000)[..8]).await.unwrap();
    let err = stream.read(&mut [0; 64]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().starts_with("client-side peer exchange"), "{err}");
    assert!(matches!(
        peer.await,
        Some(PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::TooLarge {
            declared: 70_000,
            ..
        })))
    ));
}

#[tokio::test]
async fn client_mode_truncated_frame_is_rejected_and_nothing_leaks() {
    let wire = server_response();
    let (outcome, app, _) = against_raw_lazy(&client_exchange(), &[&wire[..40]]).await;
    assert!(
        matches!(
            outcome,
            PeerOutcome::Rejected(Rejection::Frame(FrameErrorKind::Truncated { have: 40, .. }))
        ),
        "{outcome:?}"
    );
    assert!(app.is_empty());
}

#[tokio::test]
async fn client_mode_without_the_alpn_writes_nothing() {
    let (ours, mut theirs) = duplex(1 << 16);
    let Started { mut stream, peer, .. } = client_exchange().start(Role::Client, ours, Some(b"h2")).await.unwrap();
    assert_eq!(peer.await, Some(PeerOutcome::Disabled));
    theirs.write_all(&server_response()).await.unwrap();
    drop(theirs);
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, server_response(), "no exchange: every byte is the application's");
}

#[tokio::test(start_paused = true)]
async fn client_mode_times_out_a_write_nobody_reads() {
    let exchange = client_exchange().with_timeout(Some(Duration::from_secs(1)));
    let (ours, _theirs) = duplex(16);
    let started = tokio::time::Instant::now();
    let err = exchange.start(Role::Client, ours, MXC).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    match err {
        ExchangeError::Write {
            role,
            written,
            len,
            source,
        } => {
            assert_eq!((role, written, len), (Role::Client, 16, exchange.local_frame().len()));
            assert_eq!(source.kind(), io::ErrorKind::TimedOut);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn client_mode_read_error_inside_the_frame_keeps_its_kind() {
    let (ours, mut theirs) = duplex(1 << 16);
    let faulty = Faulty::new(ours, Some(30), None);
    let Started { mut stream, peer, .. } = client_exchange().start(Role::Client, faulty, MXC).await.unwrap();
    theirs.write_all(&server_response()[..30]).await.unwrap();
    let err = stream.read(&mut [0; 64]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(
        err.to_string(),
        "client-side peer exchange: reading the peer's metadata frame failed after 30 bytes"
    );
    assert_eq!(stream.outcome(), None);
    drop(stream);
    assert_eq!(peer.await, None, "dropped before the outcome was known");
}

#[tokio::test]
async fn client_mode_poll_peer_keeps_the_bytes_for_the_application() {
    let (ours, mut theirs) = duplex(1 << 16);
    let Started { mut stream, .. } = client_exchange().start(Role::Client, ours, MXC).await.unwrap();
    theirs.write_all(&server_response()).await.unwrap();
    let outcome = std::future::poll_fn(|cx| PeerStream::poll_peer(&mut stream, cx))
        .await
        .unwrap();
    assert!(found(&outcome, &server_record(), SERVER_ID), "{outcome:?}");
    assert_eq!(stream.buffered(), RESPONSE);
    let mut got = vec![0; RESPONSE.len()];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(got, RESPONSE);
}

// ---------------------------------------------------------------------------------------
// Client mode: the peer's frame is bounded in time once it has begun.

#[tokio::test(start_paused = true)]
async fn client_mode_a_stalled_partial_frame_times_out_and_the_reads_fail() {
    let exchange = client_exchange().with_timeout(Some(Duration::from_secs(3)));
    let (ours, mut theirs) = duplex(1 << 16);
    let Started { mut stream, peer, .. } = exchange.start(Role::Client, ours, MXC).await.unwrap();
    theirs.write_all(&server_response()[..20]).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut [0; 64]))
        .await
        .expect("the frame's deadline ends the read")
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(err.to_string().starts_with("client-side peer exchange: "), "{err}");
    let want = PeerOutcome::Rejected(Rejection::TimedOut {
        after: Duration::from_secs(3),
        received: 20,
        sent: exchange.local_frame().len(),
    });
    assert_eq!(stream.outcome(), Some(&want));
    assert_eq!(peer.await, Some(want));
    // The partial frame is not the application's, and the reads keep failing even when the
    // rest arrives.
    assert!(stream.buffered().is_empty());
    theirs.write_all(&server_response()[20..]).await.unwrap();
    assert_eq!(
        stream.read(&mut [0; 64]).await.unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
}

#[tokio::test(start_paused = true)]
async fn client_mode_waits_for_the_first_byte_as_long_as_the_application_does() {
    let exchange = client_exchange().with_timeout(Some(Duration::from_secs(3)));
    let (ours, mut theirs) = duplex(1 << 16);
    let Started { mut stream, peer, .. } = exchange.start(Role::Client, ours, MXC).await.unwrap();
    let answer = async {
        // A slow server: silent for a minute, then its frame in two parts 2 s apart (within
        // the timeout once begun), then the response.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let wire = server_response();
        theirs.write_all(&wire[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        theirs.write_all(&wire[10..]).await.unwrap();
        theirs.shutdown().await.unwrap();
    };
    let read = async {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        got
    };
    let ((), got) = tokio::join!(answer, read);
    assert_eq!(got, RESPONSE);
    assert!(found(&peer.await.unwrap(), &server_record(), SERVER_ID));
}

#[tokio::test(start_paused = true)]
async fn client_mode_without_a_timeout_holds_a_partial_frame_until_the_rest_arrives() {
    let exchange = client_exchange().with_timeout(None);
    let (ours, mut theirs) = duplex(1 << 16);
    let Started { mut stream, .. } = exchange.start(Role::Client, ours, MXC).await.unwrap();
    let wire = server_response();
    theirs.write_all(&wire[..20]).await.unwrap();
    let mut buf = [0; 64];
    let pending = tokio::time::timeout(Duration::from_secs(3600), stream.read(&mut buf)).await;
    assert!(pending.is_err(), "no deadline without a timeout");
    assert_eq!(stream.outcome(), None);
    theirs.write_all(&wire[20..]).await.unwrap();
    theirs.shutdown().await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, RESPONSE);
}
