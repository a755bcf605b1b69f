//! RecordIO decode throughput: a stream of 1 KiB records fed in 16 KiB chunks, as an HTTP body
//! arrives.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mesos_proto::recordio::RecordIoCodec;
use tokio_util::codec::{Decoder, Encoder};

fn decode_stream(c: &mut Criterion) {
    let mut codec = RecordIoCodec::default();
    let mut wire = BytesMut::new();
    let record = vec![7u8; 1024];
    for _ in 0..4096 {
        codec.encode(&record[..], &mut wire).expect("encodes"); // ok: bench input
    }
    let wire = wire.freeze();
    let mut group = c.benchmark_group("recordio");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("decode_4096x1KiB_in_16KiB_chunks", |b| {
        b.iter(|| {
            let mut codec = RecordIoCodec::default();
            let mut buf = BytesMut::new();
            let mut n = 0;
            for chunk in wire.chunks(16 * 1024) {
                buf.extend_from_slice(chunk);
                while let Ok(Some(_)) = codec.decode(&mut buf) {
                    n += 1;
                }
            }
            assert_eq!(n, 4096);
        })
    });
    group.finish();
}

criterion_group!(benches, decode_stream);
criterion_main!(benches);
