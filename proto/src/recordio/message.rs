use std::marker::PhantomData;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::{RecordIoCodec, RecordIoError};

/// Why a stream of protobuf records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MessageCodecError {
    /// The RecordIO framing is broken; the stream must be dropped.
    #[error(transparent)]
    Framing(#[from] RecordIoError),
    /// A record was framed correctly but is not a valid protobuf message of the expected type.
    /// The framing is intact, so a caller may skip the record, but a peer that sends one is
    /// usually speaking another API version.
    #[error("RecordIO record is not a valid {message}: {source}")]
    Decode {
        /// The expected message type.
        message: &'static str,
        /// What prost reported.
        source: prost::DecodeError,
    },
}

impl From<std::io::Error> for MessageCodecError {
    fn from(err: std::io::Error) -> Self {
        Self::Framing(RecordIoError::Io(err))
    }
}

/// RecordIO-framed protobuf messages of one type `M`: the scheduler's and executor's event
/// streams (`M` = `Event`), or what the dev cluster writes into them.
#[derive(Debug)]
pub struct MessageCodec<M> {
    framing: RecordIoCodec,
    message: PhantomData<fn() -> M>,
}

impl<M> Clone for MessageCodec<M> {
    fn clone(&self) -> Self {
        Self::with_framing(self.framing.clone())
    }
}

impl<M> Default for MessageCodec<M> {
    fn default() -> Self {
        Self::with_framing(RecordIoCodec::default())
    }
}

impl<M> MessageCodec<M> {
    /// A codec over the given framing (and so its record-length cap).
    pub fn with_framing(framing: RecordIoCodec) -> Self {
        Self {
            framing,
            message: PhantomData,
        }
    }
}

impl<M: prost::Message + Default> MessageCodec<M> {
    fn parse(record: Option<bytes::Bytes>) -> Result<Option<M>, MessageCodecError> {
        record
            .map(|bytes| {
                M::decode(bytes).map_err(|source| MessageCodecError::Decode {
                    message: std::any::type_name::<M>(),
                    source,
                })
            })
            .transpose()
    }
}

impl<M: prost::Message + Default> Decoder for MessageCodec<M> {
    type Item = M;
    type Error = MessageCodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<M>, MessageCodecError> {
        Self::parse(self.framing.decode(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<M>, MessageCodecError> {
        Self::parse(self.framing.decode_eof(src)?)
    }
}

impl<M: prost::Message> Encoder<&M> for MessageCodec<M> {
    type Error = MessageCodecError;

    fn encode(&mut self, message: &M, dst: &mut BytesMut) -> Result<(), MessageCodecError> {
        Ok(self.framing.encode(&message.encode_to_vec()[..], dst)?)
    }
}
