//! Property tests of the RecordIO codec: whatever the chunking, decoding gives back exactly the
//! records that were encoded; whatever the bytes, decoding answers records or an error, never a
//! panic.

use bytes::{Bytes, BytesMut};
use mesos_proto::recordio::{RecordIoCodec, RecordIoError};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Feeds `input` to a fresh decoder in chunks cut at `cuts`, then signals end of stream.
fn decode_in_chunks(max: usize, input: &[u8], cuts: &[usize]) -> Result<Vec<Bytes>, RecordIoError> {
    let mut codec = RecordIoCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([input.len()]) {
        buf.extend_from_slice(&input[start..cut.max(start)]);
        start = cut.max(start);
        while let Some(record) = codec.decode(&mut buf)? {
            out.push(record);
        }
    }
    while let Some(record) = codec.decode_eof(&mut buf)? {
        out.push(record);
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn encode_split_decode_roundtrips(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut codec = RecordIoCodec::default();
        let mut wire = BytesMut::new();
        for record in &records {
            codec.encode(&record[..], &mut wire).unwrap();
        }
        let decoded = decode_in_chunks(1 << 20, &wire, &cuts).unwrap();
        let decoded: Vec<Vec<u8>> = decoded.into_iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(decoded, records);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in 1usize..256,
    ) {
        if let Ok(records) = decode_in_chunks(max, &input, &cuts) {
            // Whatever was accepted respects the cap and is non-empty.
            for record in records {
                prop_assert!(!record.is_empty() && record.len() <= max);
            }
        }
    }

    #[test]
    fn digit_heavy_bytes_never_panic(
        input in "[0-9\n]{0,64}[a-z]{0,8}",
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_in_chunks(64, input.as_bytes(), &cuts);
    }
}

#[test]
fn protobuf_messages_roundtrip_through_message_codec() {
    use mesos_proto::recordio::MessageCodec;
    use mesos_proto::v1::scheduler::{event, Event};

    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    };
    let mut codec = MessageCodec::<Event>::default();
    let mut wire = BytesMut::new();
    codec.encode(&heartbeat, &mut wire).unwrap();
    codec.encode(&heartbeat, &mut wire).unwrap();
    assert_eq!(&wire[..4], b"2\n\x08\x08");
    let first = codec.decode(&mut wire).unwrap();
    let second = codec.decode_eof(&mut wire).unwrap();
    assert_eq!(first.as_ref(), Some(&heartbeat));
    assert_eq!(second.as_ref(), Some(&heartbeat));
    assert_eq!(codec.decode_eof(&mut wire).unwrap(), None);
}

#[test]
fn message_codec_reports_undecodable_record() {
    use mesos_proto::recordio::{MessageCodec, MessageCodecError};
    use mesos_proto::v1::scheduler::Event;

    let mut wire = BytesMut::from(&b"2\n\xff\xff"[..]);
    let err = MessageCodec::<Event>::default()
        .decode(&mut wire)
        .unwrap_err();
    assert!(matches!(err, MessageCodecError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("Event"), "{err}");
}
