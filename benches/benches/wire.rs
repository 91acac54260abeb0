//! `wire`: meshtel-wire against prost (and the base64 crate) on the same
//! realistic node-metadata frame.

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshtel_benches::{NODE_ID, frame, frame_non_ascii, header, prost_outer, record};
use meshtel_wire::frame::{FrameConfig, FrameDecoder, Status, encode_frame};
use meshtel_wire::header::decode_peer_metadata;
use prost::Message;
use prost_types::value::Kind;

/// The four fields every decode bench reads.
type Reads<'a> = (&'a str, &'a str, &'a str, &'a str);

fn prost_reads(s: &prost_types::Struct) -> Reads<'_> {
    fn str_of<'s>(s: &'s prost_types::Struct, k: &str) -> &'s str {
        match s.fields.get(k).and_then(|v| v.kind.as_ref()) {
            Some(Kind::StringValue(v)) => v.as_str(),
            _ => "",
        }
    }
    // Not a closure: the returned borrow must outlive the call.
    fn labels(s: &prost_types::Struct) -> Option<&prost_types::Struct> {
        match s.fields.get("LABELS")?.kind.as_ref()? {
            Kind::StructValue(l) => Some(l),
            _ => None,
        }
    }
    let app = labels(s).map_or("", |l| str_of(l, "app"));
    (
        str_of(s, "NAME"),
        str_of(s, "NAMESPACE"),
        str_of(s, "WORKLOAD_NAME"),
        app,
    )
}

fn prost_peer(outer: &prost_types::Struct) -> Option<&prost_types::Struct> {
    match outer.fields.get(meshtel_wire::header::PEER_METADATA)?.kind.as_ref()? {
        Kind::StructValue(s) => Some(s),
        _ => None,
    }
}

fn decode_frame(c: &mut Criterion) {
    decode_frame_group(c, "wire/decode_frame", &frame());
    // The same record with accented label values: the ASCII fast path falls
    // back to checking each string.
    decode_frame_group(c, "wire/decode_frame_non_ascii", &frame_non_ascii());
}

fn decode_frame_group(c: &mut Criterion, name: &str, frame: &[u8]) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new(FrameConfig::default());
            let Ok(Status::Frame { metadata: r, .. }) = decoder.decode(black_box(frame)) else {
                unreachable!()
            };
            black_box((r.name, r.namespace, r.workload, r.app));
        });
    });
    group.bench_function("prost", |b| {
        b.iter(|| {
            let bytes = black_box(frame);
            assert_eq!(bytes[..4], meshtel_wire::frame::MAGIC);
            let any = prost_types::Any::decode(&bytes[8..]).expect("any");
            let outer = prost_types::Struct::decode(any.value.as_slice()).expect("struct");
            let peer = prost_peer(&outer).expect("peer");
            let reads = prost_reads(peer);
            black_box(reads);
        });
    });
    group.finish();
}

fn decode_header(c: &mut Criterion) {
    let header = header();
    let mut group = c.benchmark_group("wire/decode_header");
    group.throughput(Throughput::Bytes(header.len() as u64));
    // A proxy keeps one scratch buffer per worker.
    let mut buf = [0u8; 1024];
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            let (r, _) = decode_peer_metadata(black_box(header.as_bytes()), &mut buf).expect("header");
            black_box((r.name, r.namespace, r.workload, r.app));
        });
    });
    group.bench_function("prost", |b| {
        b.iter(|| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(black_box(header.as_bytes()))
                .expect("b64");
            let peer = prost_types::Struct::decode(bytes.as_slice()).expect("struct");
            black_box(prost_reads(&peer));
        });
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let record = record();
    let outer = prost_outer();
    let mut group = c.benchmark_group("wire/encode_frame");
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            black_box(encode_frame(black_box(&record), black_box(NODE_ID), &FrameConfig::default()).expect("frame"))
        });
    });
    group.bench_function("prost", |b| {
        b.iter(|| {
            let any = prost_types::Any {
                type_url: meshtel_wire::proto::STRUCT_TYPE_URL.into(),
                value: black_box(&outer).encode_to_vec(),
            };
            let mut frame = Vec::with_capacity(8 + any.encoded_len());
            frame.extend_from_slice(&meshtel_wire::frame::MAGIC);
            frame.extend_from_slice(&(any.encoded_len() as u32).to_be_bytes());
            any.encode(&mut frame).expect("capacity");
            black_box(frame)
        });
    });
    group.finish();
}

fn base64_decode(c: &mut Criterion) {
    let header = header();
    let mut group = c.benchmark_group("wire/base64_decode");
    group.throughput(Throughput::Bytes(header.len() as u64));
    let mut buf = [0u8; 1024];
    group.bench_function("meshtel", |b| {
        b.iter(|| {
            let bytes = meshtel_wire::header::decode_peer_header_bytes(black_box(header.as_bytes()), &mut buf);
            black_box(bytes.expect("b64").len())
        });
    });
    group.bench_function("base64", |b| {
        b.iter(|| {
            black_box(
                base64::engine::general_purpose::STANDARD
                    .decode_slice(black_box(header.as_bytes()), &mut buf)
                    .expect("b64"),
            )
        });
    });
    group.finish();
}

criterion_group!(wire, decode_frame, decode_header, encode, base64_decode);
criterion_main!(wire);
