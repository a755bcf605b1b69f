//! RecordIO, the framing of Mesos v1 event streams (`docs/recordio.md`):
//! `<decimal length>\n<bytes>`, repeated.
//!
//! HTTP chunk boundaries mean nothing to it: a record may span chunks and one chunk may hold
//! many records, so decoding is a streaming state machine in the shape of tokio-util's
//! [`Decoder`](tokio_util::codec::Decoder): `Ok(None)` asks for more bytes, `Err` means the
//! stream is corrupt and must be dropped.
//!
//! [`RecordIoCodec`] frames raw bytes; [`MessageCodec`] adds protobuf on top, which is what the
//! scheduler and executor clients read and what the dev cluster writes.

mod framing;
mod message;

pub use framing::{RecordIoCodec, RecordIoError, DEFAULT_MAX_RECORD_LEN};
pub use message::{MessageCodec, MessageCodecError};
