//! Criterion benchmarks of the SIP core on two typical messages: an INVITE
//! with an SDP offer and the 200 OK that answers it (`benches/data/`, shared
//! with the Python benchmark).
//!
//! Run with `cargo bench -p drachtio-sip --bench parse`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drachtio_sip::json::JsonForm;
use drachtio_sip::Message;
use std::hint::black_box;

const MESSAGES: [(&str, &[u8]); 2] = [
    ("invite", include_bytes!("data/invite.sip")),
    ("ok200", include_bytes!("data/ok200.sip")),
];

fn parsed(data: &[u8]) -> Message {
    drachtio_sip::parse(data).expect("benchmark message must parse")
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, data) in MESSAGES {
        group.throughput(Throughput::Bytes(data.len() as u64));
        // parse copies the datagram once into a Bytes buffer.
        group.bench_with_input(BenchmarkId::new("parse", name), data, |b, data| {
            b.iter(|| drachtio_sip::parse(black_box(data)).unwrap())
        });
        // parse_bytes shares a buffer the caller already owns: no copy.
        let owned = Bytes::from_static(data);
        group.bench_with_input(BenchmarkId::new("parse_bytes", name), &owned, |b, owned| {
            b.iter(|| drachtio_sip::parse_bytes(black_box(owned.clone())).unwrap())
        });
    }
    group.finish();
}

fn bench_serialize(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize");
    for (name, data) in MESSAGES {
        let msg = parsed(data);
        let mut out = Vec::with_capacity(2 * data.len());
        msg.write_to(&mut out);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_with_input(BenchmarkId::new("write_to", name), &msg, |b, msg| {
            b.iter(|| {
                out.clear();
                black_box(msg).write_to(&mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn bench_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("json");
    for (name, data) in MESSAGES {
        let msg = parsed(data);
        group.throughput(Throughput::Bytes(data.len() as u64));
        // What the control protocol sends: the JSON form written as text,
        // straight from the message (no intermediate serde_json::Value).
        let mut out = Vec::with_capacity(4 * data.len());
        group.bench_with_input(BenchmarkId::new("to_json_text", name), &msg, |b, msg| {
            b.iter(|| {
                out.clear();
                serde_json::to_writer(&mut out, &JsonForm(black_box(msg))).unwrap();
                black_box(out.len())
            })
        });
        // The JSON form as a serde_json::Value (for Rust callers that inspect it).
        group.bench_with_input(BenchmarkId::new("to_json_value", name), &msg, |b, msg| {
            b.iter(|| drachtio_sip::json::to_json(black_box(msg)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_serialize, bench_json);
criterion_main!(benches);
