use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The default cap on one record: 64 MiB.
///
/// tokio-util caps its length-delimited frames at 8 MiB; an OFFERS event on a cluster of
/// thousands of agents can be larger than that, so the default is more generous. A cap is still
/// needed: without one, a corrupt length header would make the decoder buffer without bound.
pub const DEFAULT_MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// A `u64` has at most 20 decimal digits; a longer header cannot be a length.
const MAX_HEADER_DIGITS: usize = 20;

/// Why a RecordIO stream could not be decoded or a record could not be encoded.
///
/// Every variant but [`RecordIoError::Io`] means the stream is corrupt from this point on: the
/// record boundaries are lost, so the only recovery is a new connection.
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    /// The length header holds something other than decimal digits.
    #[error(
        "invalid RecordIO length header {header:?}: expected decimal digits followed by '\\n'"
    )]
    InvalidLength {
        /// The offending header, lossily decoded, at most 20 bytes of it.
        header: String,
    },
    /// The length header is `0`: a RecordIO record carries at least one byte.
    #[error("RecordIO record of length 0: every record must carry at least one byte")]
    ZeroLength,
    /// The length header has more digits than any `u64`, or its value does not fit one.
    #[error("RecordIO length header overflows a 64-bit length (more than {MAX_HEADER_DIGITS} digits or > u64::MAX)")]
    LengthOverflow,
    /// The record is longer than the codec's configured maximum.
    #[error("RecordIO record of {len} bytes exceeds the maximum of {max} bytes; raise the codec's max record length if this is legitimate")]
    RecordTooLarge {
        /// The declared length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended in the middle of a header or a record.
    #[error(
        "RecordIO stream ended inside a record: {buffered} bytes buffered, {expected} expected"
    )]
    Truncated {
        /// Bytes received for the unfinished header or record.
        buffered: usize,
        /// Bytes the record declared (0 while still in the header).
        expected: usize,
    },
    /// Reading the underlying transport failed.
    #[error("I/O error under the RecordIO stream: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the decoder is inside the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// Reading the decimal length and its terminating newline.
    Header,
    /// The header said `len`; waiting for that many bytes.
    Body { len: usize },
}

/// Streaming RecordIO decoder and encoder with a cap on record length.
#[derive(Debug, Clone)]
pub struct RecordIoCodec {
    state: DecodeState,
    max_record_len: usize,
}

impl Default for RecordIoCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_LEN)
    }
}

impl RecordIoCodec {
    /// A codec that rejects records longer than `max_record_len` bytes.
    pub fn new(max_record_len: usize) -> Self {
        Self {
            state: DecodeState::Header,
            max_record_len,
        }
    }

    /// The configured cap on one record's length.
    pub fn max_record_len(&self) -> usize {
        self.max_record_len
    }

    /// Parses a complete header (without its newline) into a record length.
    fn parse_length(&self, header: &[u8]) -> Result<usize, RecordIoError> {
        if header.is_empty() || !header.iter().all(u8::is_ascii_digit) {
            return Err(invalid_header(header));
        }
        let len = header.iter().try_fold(0u64, |acc, digit| {
            acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        });
        let len = len.ok_or(RecordIoError::LengthOverflow)?;
        if len == 0 {
            return Err(RecordIoError::ZeroLength);
        }
        match usize::try_from(len) {
            Ok(len) if len <= self.max_record_len => Ok(len),
            _ => Err(RecordIoError::RecordTooLarge {
                len,
                max: self.max_record_len,
            }),
        }
    }
}

fn invalid_header(header: &[u8]) -> RecordIoError {
    let shown = &header[..header.len().min(MAX_HEADER_DIGITS)];
    RecordIoError::InvalidLength {
        header: String::from_utf8_lossy(shown).into_owned(),
    }
}

impl Decoder for RecordIoCodec {
    type Item = Bytes;
    type Error = RecordIoError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        if let DecodeState::Header = self.state {
            let scan = &src[..src.len().min(MAX_HEADER_DIGITS + 1)];
            let Some(newline) = scan.iter().position(|&b| b == b'\n') else {
                // Fail fast on garbage rather than waiting for a newline that may never come.
                if !scan.iter().all(u8::is_ascii_digit) {
                    return Err(invalid_header(scan));
                }
                if scan.len() > MAX_HEADER_DIGITS {
                    return Err(RecordIoError::LengthOverflow);
                }
                return Ok(None);
            };
            let len = self.parse_length(&scan[..newline])?;
            src.advance(newline + 1);
            src.reserve(len.saturating_sub(src.len()));
            self.state = DecodeState::Body { len };
        }
        let DecodeState::Body { len } = self.state else {
            return Ok(None);
        };
        if src.len() < len {
            return Ok(None);
        }
        self.state = DecodeState::Header;
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        if let Some(record) = self.decode(src)? {
            return Ok(Some(record));
        }
        match self.state {
            DecodeState::Header if src.is_empty() => Ok(None),
            DecodeState::Header => Err(RecordIoError::Truncated {
                buffered: src.len(),
                expected: 0,
            }),
            DecodeState::Body { len } => Err(RecordIoError::Truncated {
                buffered: src.len(),
                expected: len,
            }),
        }
    }
}

impl Encoder<&[u8]> for RecordIoCodec {
    type Error = RecordIoError;

    fn encode(&mut self, record: &[u8], dst: &mut BytesMut) -> Result<(), RecordIoError> {
        if record.is_empty() {
            return Err(RecordIoError::ZeroLength);
        }
        if record.len() > self.max_record_len {
            return Err(RecordIoError::RecordTooLarge {
                len: record.len() as u64,
                max: self.max_record_len,
            });
        }
        let header = record.len().to_string();
        dst.reserve(header.len() + 1 + record.len());
        dst.put_slice(header.as_bytes());
        dst.put_u8(b'\n');
        dst.put_slice(record);
        Ok(())
    }
}

impl Encoder<Bytes> for RecordIoCodec {
    type Error = RecordIoError;

    fn encode(&mut self, record: Bytes, dst: &mut BytesMut) -> Result<(), RecordIoError> {
        self.encode(&record[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut RecordIoCodec, input: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(record) = codec.decode_eof(&mut buf)? {
            out.push(record);
        }
        Ok(out)
    }

    #[test]
    fn decodes_several_records_from_one_chunk() {
        let mut codec = RecordIoCodec::default();
        let records = decode_all(&mut codec, b"5\nhello1\n!3\nabc").unwrap();
        assert_eq!(records, vec!["hello", "!", "abc"]);
    }

    #[test]
    fn waits_for_more_bytes_at_every_split_point() {
        let input = b"11\nhello world2\nhi";
        for split in 0..input.len() {
            let mut codec = RecordIoCodec::default();
            let mut buf = BytesMut::from(&input[..split]);
            let mut out = Vec::new();
            while let Some(r) = codec.decode(&mut buf).unwrap() {
                out.push(r);
            }
            buf.extend_from_slice(&input[split..]);
            while let Some(r) = codec.decode_eof(&mut buf).unwrap() {
                out.push(r);
            }
            assert_eq!(out, vec!["hello world", "hi"], "split at {split}");
        }
    }

    #[test]
    fn rejects_zero_length() {
        let err = decode_all(&mut RecordIoCodec::default(), b"0\n").unwrap_err();
        assert!(matches!(err, RecordIoError::ZeroLength), "{err}");
    }

    #[test]
    fn rejects_non_digit_header_before_newline_arrives() {
        let mut codec = RecordIoCodec::default();
        let err = codec.decode(&mut BytesMut::from(&b"1x"[..])).unwrap_err();
        assert!(matches!(err, RecordIoError::InvalidLength { .. }), "{err}");
    }

    #[test]
    fn rejects_empty_and_signed_headers() {
        for input in [&b"\nabc"[..], b"-1\na", b"+1\na", b" 1\na"] {
            let err = decode_all(&mut RecordIoCodec::default(), input).unwrap_err();
            assert!(
                matches!(err, RecordIoError::InvalidLength { .. }),
                "{input:?}: {err}"
            );
        }
    }

    #[test]
    fn rejects_overflowing_headers() {
        let twenty_one_digits = b"123456789012345678901";
        let err = decode_all(&mut RecordIoCodec::default(), twenty_one_digits).unwrap_err();
        assert!(matches!(err, RecordIoError::LengthOverflow), "{err}");
        let above_u64 = b"99999999999999999999\n";
        let err = decode_all(&mut RecordIoCodec::default(), above_u64).unwrap_err();
        assert!(matches!(err, RecordIoError::LengthOverflow), "{err}");
    }

    #[test]
    fn rejects_records_over_the_cap_without_buffering_them() {
        let mut codec = RecordIoCodec::new(4);
        let err = codec.decode(&mut BytesMut::from(&b"5\n"[..])).unwrap_err();
        assert!(
            matches!(err, RecordIoError::RecordTooLarge { len: 5, max: 4 }),
            "{err}"
        );
        let mut dst = BytesMut::new();
        let err = codec.encode(&b"hello"[..], &mut dst).unwrap_err();
        assert!(matches!(err, RecordIoError::RecordTooLarge { .. }), "{err}");
    }

    #[test]
    fn reports_truncation_at_eof() {
        let err = decode_all(&mut RecordIoCodec::default(), b"5\nhel").unwrap_err();
        assert!(
            matches!(
                err,
                RecordIoError::Truncated {
                    buffered: 3,
                    expected: 5
                }
            ),
            "{err}"
        );
        let err = decode_all(&mut RecordIoCodec::default(), b"12").unwrap_err();
        assert!(
            matches!(err, RecordIoError::Truncated { expected: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn encodes_length_newline_bytes() {
        let mut dst = BytesMut::new();
        let mut codec = RecordIoCodec::default();
        codec.encode(&b"hello"[..], &mut dst).unwrap();
        codec
            .encode(Bytes::from_static(b"0123456789"), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"5\nhello10\n0123456789");
        assert!(matches!(
            codec.encode(&b""[..], &mut dst),
            Err(RecordIoError::ZeroLength)
        ));
    }
}
