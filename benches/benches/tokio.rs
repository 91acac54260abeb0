//! `tokio`: the full TCP prefix exchange, both roles over an in-memory duplex pair on a
//! current-thread runtime, against the same bytes moved over the same pair without the
//! exchange logic (each side writes its frame and reads the peer's, undecoded).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshtel_benches::{ADDITIONAL_LABELS, frame};
use meshtel_tokio::{PeerExchange, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

const MXC: Option<&[u8]> = Some(b"istio-peer-exchange");
/// The duplex pipe's capacity each way: larger than a frame, as a socket buffer is.
const PIPE: usize = 4096;

/// One side of the baseline: write `frame`, read as many bytes back.
async fn bare_side(mut s: DuplexStream, frame: &[u8]) -> DuplexStream {
    let mut peer = vec![0u8; frame.len()];
    s.write_all(frame).await.unwrap();
    s.read_exact(&mut peer).await.unwrap();
    black_box(&peer);
    s
}

fn exchange(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let frame = frame();
    let ex = PeerExchange::new(frame.clone()).with_additional_labels(ADDITIONAL_LABELS.iter().copied());
    let mut group = c.benchmark_group("tokio/exchange");
    group.throughput(Throughput::Bytes(2 * frame.len() as u64));
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (a, z) = duplex(PIPE);
                let (client, server) = tokio::join!(ex.run(Role::Client, a, MXC), ex.run(Role::Server, z, MXC));
                let (client, server) = (client.unwrap(), server.unwrap());
                assert!(client.outcome.is_found() && server.outcome.is_found());
                black_box((client, server))
            })
        });
    });
    group.bench_function("bare", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (a, z) = duplex(PIPE);
                black_box(tokio::join!(bare_side(a, &frame), bare_side(z, &frame)))
            })
        });
    });
    group.finish();
}

criterion_group!(benches, exchange);
criterion_main!(benches);
