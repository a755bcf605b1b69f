//! Fuzzes the RecordIO decoder: the first byte picks the record cap and the chunk size, the rest
//! is the stream. Any input must give records or an error, never a panic, and every record must
//! respect the cap.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mesos_proto::recordio::RecordIoCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, stream)) = data.split_first() else {
        return;
    };
    let max = usize::from(knob) * 4 + 1;
    let chunk = usize::from(knob % 17) + 1;
    let mut codec = RecordIoCodec::new(max);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(record)) => assert!(!record.is_empty() && record.len() <= max),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(record)) = codec.decode_eof(&mut buf) {
        assert!(!record.is_empty() && record.len() <= max);
    }
});
