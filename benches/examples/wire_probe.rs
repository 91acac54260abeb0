//! A steady loop over one decode path of `wire`, for profilers that count
//! (callgrind, `perf record`): `cargo run --release -p meshtel-benches
//! --example wire_probe -- frame|header|frame-non-ascii [iterations]`.
//! Criterion gives the times; this gives where they go.

use std::hint::black_box;

use meshtel_benches::{frame, frame_non_ascii, header};
use meshtel_wire::frame::{FrameConfig, FrameDecoder, Status};
use meshtel_wire::header::decode_peer_metadata;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "frame".into());
    let iterations: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let decode_frame = |frame: &[u8]| {
        let mut decoder = FrameDecoder::new(FrameConfig::default());
        let Ok(Status::Frame { metadata: r, .. }) = decoder.decode(black_box(frame)) else {
            panic!("the bench frame decodes")
        };
        black_box((r.name, r.namespace, r.workload, r.app));
    };
    match path.as_str() {
        "frame" => {
            let frame = frame();
            (0..iterations).for_each(|_| decode_frame(&frame));
        }
        "frame-non-ascii" => {
            let frame = frame_non_ascii();
            (0..iterations).for_each(|_| decode_frame(&frame));
        }
        "header" => {
            let header = header();
            let mut buf = [0u8; 1024];
            for _ in 0..iterations {
                let (r, _) = decode_peer_metadata(black_box(header.as_bytes()), &mut buf).expect("header");
                black_box((r.name, r.namespace, r.workload, r.app));
            }
        }
        other => panic!("unknown path {other:?}: frame, frame-non-ascii or header"),
    }
}
