//! `Metered`: exact byte counters, periodic reports, and closed exactly once however the
//! connection ends — read back from the plugin's registry.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use meshtel::{ConnectionFacts, Reporter, TcpRouting};
use meshtel_tokio::{Metered, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

fn routing() -> TcpRouting {
    TcpRouting {
        cluster_name: Some("inbound|9000||".into()),
        ..TcpRouting::default()
    }
}

#[tokio::test]
async fn counts_both_ways_and_closes_once_at_end_of_stream_both_ways() {
    let (registry, meter) = plugin(Reporter::Inbound);
    let (ours, mut peer) = duplex(1 << 16);
    let mut conn = meter.meter(ours, ConnectionFacts::default(), routing());
    conn.resolve(Some(client_record()));
    peer.write_all(&[7; 1000]).await.unwrap();
    peer.shutdown().await.unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), 1000);
    assert!(
        !conn.is_closed(),
        "half-closed: the other direction may still carry bytes"
    );
    conn.write_all(&[1; 333]).await.unwrap();
    conn.shutdown().await.unwrap();
    assert!(conn.is_closed());
    assert_eq!((conn.bytes_sent(), conn.bytes_received()), (333, 1000));
    assert_eq!(total(&registry, CLOSED), 1);
    drop(conn);
    assert_eq!(total(&registry, CLOSED), 1, "not again at drop");
    assert_eq!(total(&registry, OPENED), 1);
    assert_eq!(total(&registry, SENT), 333);
    assert_eq!(total(&registry, RECEIVED), 1000);
    let (labels, _) = &samples(&registry, CLOSED)[0];
    assert!(labels.contains(r#"source_workload="productpage-v1""#), "{labels}");
    assert!(labels.contains(r#"destination_workload="ratings-v1""#), "{labels}");
}

#[tokio::test]
async fn closes_at_drop_without_resolution() {
    let (registry, meter) = plugin(Reporter::Inbound);
    let (ours, mut peer) = duplex(64);
    let mut conn = meter.meter(ours, ConnectionFacts::default(), routing());
    peer.write_all(b"abc").await.unwrap();
    let mut buf = [0; 3];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(total(&registry, OPENED), 0, "nothing before close or resolution");
    drop(conn);
    assert_eq!((total(&registry, OPENED), total(&registry, CLOSED)), (1, 1));
    assert_eq!(total(&registry, RECEIVED), 3);
    assert!(samples(&registry, CLOSED)[0].0.contains(r#"source_workload="unknown""#));
}

#[tokio::test]
async fn a_reset_closes_at_once_with_the_bytes_that_moved() {
    let (registry, meter) = plugin(Reporter::Inbound);
    let (ours, mut peer) = duplex(1 << 16);
    let mut conn = meter.meter(
        Faulty::new(ours, Some(100), None),
        ConnectionFacts::default(),
        routing(),
    );
    conn.resolve(None);
    peer.write_all(&[0; 500]).await.unwrap();
    let mut got = Vec::new();
    let err = conn.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(got.len(), 100);
    assert!(conn.is_closed(), "closed at the error, before drop");
    assert_eq!((total(&registry, CLOSED), total(&registry, RECEIVED)), (1, 100));
    drop(conn);
    assert_eq!(total(&registry, CLOSED), 1);
}

#[tokio::test]
async fn a_failed_write_closes() {
    let (registry, meter) = plugin(Reporter::Outbound);
    let (ours, _peer) = duplex(1 << 16);
    let mut conn = meter.meter(Faulty::new(ours, None, Some(10)), ConnectionFacts::default(), routing());
    assert!(conn.write_all(&[1; 50]).await.is_err());
    assert!(conn.is_closed());
    assert_eq!((total(&registry, CLOSED), total(&registry, SENT)), (1, 10));
}

#[tokio::test]
async fn vectored_writes_are_counted_as_written() {
    let (registry, meter) = plugin(Reporter::Outbound);
    let (ours, mut peer) = duplex(1 << 16);
    let mut conn = meter.meter(ours, ConnectionFacts::default(), routing());
    let bufs = [std::io::IoSlice::new(b"abc"), std::io::IoSlice::new(b"defgh")];
    let mut written = 0;
    while written < 8 {
        // The duplex pipe writes one slice per call: count what each call says it wrote.
        let n = conn.write_vectored(&bufs).await.unwrap();
        assert!(n > 0);
        written += n;
    }
    assert_eq!(conn.bytes_sent(), written as u64);
    drop(conn);
    let mut got = Vec::new();
    peer.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), written);
    assert_eq!(total(&registry, SENT), written as u64);
}

#[tokio::test(start_paused = true)]
async fn idle_reader_reports_every_period() {
    let (registry, meter) = plugin(Reporter::Inbound);
    let (ours, mut peer) = duplex(1 << 16);
    let mut conn = meter.meter(ours, ConnectionFacts::default(), routing());
    conn.resolve(Some(client_record()));
    let reader = tokio::spawn(async move {
        let mut buf = [0; 64];
        while conn.read(&mut buf).await.unwrap() > 0 {}
        conn
    });
    peer.write_all(&[0; 10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert_eq!(
        total(&registry, OPENED),
        1,
        "opened at the first period after resolution"
    );
    assert_eq!(total(&registry, RECEIVED), 10);
    assert_eq!(total(&registry, CLOSED), 0);
    peer.write_all(&[0; 20]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(total(&registry, RECEIVED), 10, "not before the next period");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(total(&registry, RECEIVED), 30, "the second period's delta");
    // Quiet periods and a long idle stretch: still on the grid, no extra counts.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!((total(&registry, OPENED), total(&registry, RECEIVED)), (1, 30));
    peer.shutdown().await.unwrap();
    let conn = reader.await.unwrap();
    drop(conn);
    assert_eq!((total(&registry, OPENED), total(&registry, CLOSED)), (1, 1));
    assert_eq!(total(&registry, RECEIVED), 30);
}

#[tokio::test(start_paused = true)]
async fn writes_report_once_a_deadline_passed() {
    let (registry, meter) = plugin(Reporter::Outbound);
    let (ours, _peer) = duplex(1 << 16);
    let mut conn = meter.meter(ours, ConnectionFacts::default(), routing());
    conn.resolve(None);
    conn.write_all(&[0; 5]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(total(&registry, OPENED), 0, "nobody polled the stream");
    conn.write_all(&[0; 7]).await.unwrap();
    assert_eq!((total(&registry, OPENED), total(&registry, SENT)), (1, 12));
    drop(conn);
    assert_eq!((total(&registry, CLOSED), total(&registry, SENT)), (1, 12));
}

#[tokio::test(start_paused = true)]
async fn no_reporting_period_means_reports_only_at_close() {
    let (registry, meter) = plugin_with(Reporter::Inbound, "tcp_reporting_duration: 0s");
    let (ours, mut peer) = duplex(64);
    let mut conn = meter.meter(ours, ConnectionFacts::default(), routing());
    conn.resolve(None);
    peer.write_all(b"x").await.unwrap();
    let mut b = [0; 1];
    conn.read_exact(&mut b).await.unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(total(&registry, OPENED), 0);
    drop(conn);
    assert_eq!((total(&registry, OPENED), total(&registry, RECEIVED)), (1, 1));
}

/// How one connection of the mix ends.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Clean,
    PeerReset,
    Aborted,
    Panicked,
}

/// Echoes through `conn`, adding every byte that moved to `moved` (one atomic add per
/// completed call, so an abort between calls leaves them equal to what `Metered` saw).
async fn echo<S>(mut conn: Metered<S>, moved: Arc<(AtomicU64, AtomicU64)>, panic_after: Option<u64>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = [0; 256];
    loop {
        let Ok(n) = conn.read(&mut buf).await else { return };
        moved.1.fetch_add(n as u64, Ordering::SeqCst);
        if n == 0 {
            let _ = conn.shutdown().await;
            return;
        }
        assert!(
            panic_after.is_none_or(|p| moved.1.load(Ordering::SeqCst) < p),
            "the test's panic"
        );
        let mut at = 0;
        while at < n {
            let Ok(w) = conn.write(&buf[at..n]).await else { return };
            moved.0.fetch_add(w as u64, Ordering::SeqCst);
            at += w;
        }
    }
}

/// Writes `bytes` to the connection while draining it, then ends its side, or with `stall`
/// keeps the connection open for ever (its task is aborted).
async fn drive_peer(mut peer: DuplexStream, bytes: usize, stall: bool) {
    let data: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
    let (mut r, mut w) = tokio::io::split(&mut peer);
    let write = async {
        for chunk in data.chunks(100) {
            if w.write_all(chunk).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        if stall {
            std::future::pending::<()>().await;
        }
        let _ = w.shutdown().await;
    };
    let read = async {
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink).await;
    };
    tokio::join!(write, read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_equals_closed_and_bytes_match_after_any_mix_of_endings() {
    let (registry, meter) = plugin(Reporter::Inbound);
    let moved = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let endings = [Ending::Clean, Ending::PeerReset, Ending::Aborted, Ending::Panicked];
    let mut tasks = Vec::new();
    let mut peers = Vec::new();
    for i in 0..40 {
        let ending = endings[i % endings.len()];
        let (ours, peer) = duplex(512);
        let budget = matches!(ending, Ending::PeerReset).then_some(150 + i);
        let mut conn = meter.meter(Faulty::new(ours, budget, None), ConnectionFacts::default(), routing());
        if i % 3 != 0 {
            conn.resolve(Some(client_record()));
        }
        let panic_after = matches!(ending, Ending::Panicked).then_some(300);
        tasks.push((ending, tokio::spawn(echo(conn, Arc::clone(&moved), panic_after))));
        let stall = matches!(ending, Ending::Aborted);
        peers.push((stall, tokio::spawn(drive_peer(peer, 1000 + 37 * i, stall))));
    }
    // Let the stalled connections move their bytes, then abort them mid-stream.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (ending, task) in tasks {
        if matches!(ending, Ending::Aborted) {
            task.abort();
        }
        let result = task.await;
        match ending {
            Ending::Clean | Ending::PeerReset => result.unwrap(),
            Ending::Aborted => assert!(result.unwrap_err().is_cancelled(), "aborted mid-stream"),
            Ending::Panicked => assert!(result.unwrap_err().is_panic()),
        }
    }
    for (stall, peer) in peers {
        if stall {
            peer.abort();
        } else {
            peer.await.unwrap();
        }
    }
    assert_eq!(total(&registry, OPENED), 40);
    assert_eq!(total(&registry, CLOSED), 40);
    assert_eq!(total(&registry, SENT), moved.0.load(Ordering::SeqCst));
    assert_eq!(total(&registry, RECEIVED), moved.1.load(Ordering::SeqCst));
    assert!(moved.1.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn exchange_then_meter_counts_only_application_bytes() {
    let (registry, meter) = plugin(Reporter::Inbound);
    let (a, b) = duplex(1 << 16);
    let (client, server) = (client_exchange(), server_exchange());
    let (c, s) = tokio::try_join!(client.run(Role::Client, a, MXC), server.run(Role::Server, b, MXC)).unwrap();
    let mut conn = meter.meter(s.stream, ConnectionFacts::default(), routing());
    conn.resolve(s.outcome.into_peer());
    let mut app = c.stream;
    app.write_all(&[5; 123]).await.unwrap();
    app.shutdown().await.unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    conn.write_all(&[6; 45]).await.unwrap();
    conn.shutdown().await.unwrap();
    assert!(conn.is_closed());
    assert_eq!(got, [5; 123]);
    assert_eq!((total(&registry, RECEIVED), total(&registry, SENT)), (123, 45));
    assert!(
        samples(&registry, OPENED)[0]
            .0
            .contains(r#"source_workload="productpage-v1""#)
    );
}

/// A metered connection can move between a multi-threaded runtime's threads.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Metered<DuplexStream>>();
};
