//! The executor's side of the v1 executor HTTP API (`POST /api/v1/executor` on the agent).
//!
//! - [`AgentClient::subscribe`] opens the SUBSCRIBE connection and returns its
//!   [`EventStream`] of RecordIO-framed protobuf events.
//! - [`AgentClient::call`] sends any other call (UPDATE, MESSAGE) on a second, kept-alive
//!   connection and expects `202 Accepted`.
//! - [`Ledger`] keeps what the agent has not acknowledged, for the next SUBSCRIBE;
//!   [`Backoff`] paces re-subscription.
//!
//! With `MESOS_EXECUTOR_AUTHENTICATION_TOKEN` set, every request carries
//! `Authorization: Bearer <token>`, which is what an agent with executor authentication
//! expects. There is no stream id on the executor API.

mod backoff;
mod ledger;

use bytes::{Bytes, BytesMut};
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mesos_proto::http::{EXECUTOR_PATH, PROTOBUF};
use mesos_proto::recordio::{MessageCodec, MessageCodecError};
use mesos_proto::v1::executor::{Call, Event};
use prost::Message;
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

pub use backoff::{resubscribe as resubscribe_schedule, Backoff};
pub use ledger::Ledger;

/// Why talking to the agent failed. Every variant means "this connection is unusable"; the
/// driver decides from `MESOS_CHECKPOINT` whether to retry with backoff or give up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection to `MESOS_AGENT_ENDPOINT` could not be made (agent down or
    /// restarting). Retry after a backoff.
    #[error("cannot connect to the agent at {endpoint}: {source}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The HTTP exchange broke (connection reset, agent closed it). Retry after a backoff.
    #[error("HTTP exchange with the agent failed: {0}")]
    Http(#[from] hyper::Error),
    /// The agent answered with an unexpected status; 4xx means the call itself is wrong
    /// (retrying the same call will not help unless the agent's state changes).
    #[error("the agent answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The response body, which names the problem.
        body: String,
    },
    /// The event stream is not valid RecordIO/protobuf; the connection must be dropped.
    #[error("the agent's event stream is corrupt: {0}")]
    Decode(#[from] MessageCodecError),
    /// The request could not be built (an endpoint that is not a valid authority).
    #[error("cannot build a request to {endpoint}: {source}")]
    Request {
        /// The endpoint used.
        endpoint: String,
        /// What `http` said.
        source: http::Error,
    },
}

/// A client of one agent's executor API.
pub struct AgentClient {
    endpoint: String,
    token: Option<String>,
    caller: Option<SendRequest<Full<Bytes>>>,
}

impl AgentClient {
    /// A client for the agent at `endpoint` (`host:port`), authenticating with `token`.
    pub fn new(endpoint: &str, token: Option<String>) -> Self {
        AgentClient {
            endpoint: endpoint.to_string(),
            token,
            caller: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let stream =
            TcpStream::connect(&self.endpoint)
                .await
                .map_err(|source| ClientError::Connect {
                    endpoint: self.endpoint.clone(),
                    source,
                })?;
        // Small calls on loopback: Nagle would add tens of milliseconds to each UPDATE.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::Http)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "agent connection ended");
            }
        });
        Ok(sender)
    }

    fn request(&self, call: &Call) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut builder = Request::post(format!("http://{}{}", self.endpoint, EXECUTOR_PATH))
            .header(header::HOST, &self.endpoint)
            .header(header::CONTENT_TYPE, PROTOBUF)
            .header(header::ACCEPT, PROTOBUF);
        if let Some(token) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
            .body(Full::new(Bytes::from(call.encode_to_vec())))
            .map_err(|source| ClientError::Request {
                endpoint: self.endpoint.clone(),
                source,
            })
    }

    /// Sends SUBSCRIBE on a new connection and returns the event stream it opens.
    pub async fn subscribe(&self, call: &Call) -> Result<EventStream, ClientError> {
        let mut sender = self.connect().await?;
        let response = sender.send_request(self.request(call)?).await?;
        if response.status() != StatusCode::OK {
            return Err(status_error(response).await);
        }
        Ok(EventStream {
            body: response.into_body(),
            buffer: BytesMut::new(),
            codec: MessageCodec::default(),
        })
    }

    /// Sends a call other than SUBSCRIBE and waits for `202 Accepted`. The connection is kept
    /// for the next call and re-made once if the agent closed it meanwhile.
    pub async fn call(&mut self, call: &Call) -> Result<(), ClientError> {
        let request = self.request(call)?;
        let mut sender = match self.caller.take() {
            Some(sender) if sender.is_ready() => sender,
            _ => self.connect().await?,
        };
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) if error.is_canceled() || error.is_closed() => {
                sender = self.connect().await?;
                sender.send_request(self.request(call)?).await?
            }
            Err(error) => return Err(error.into()),
        };
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(response).await);
        }
        // Drain the (empty) body so the connection can carry the next call.
        let _ = response.into_body().collect().await;
        self.caller = Some(sender);
        Ok(())
    }
}

async fn status_error(response: hyper::Response<Incoming>) -> ClientError {
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(error) => format!("(body unreadable: {error})"),
    };
    ClientError::Status { status, body }
}

/// The events of one SUBSCRIBE connection, decoded as they arrive. HTTP chunk boundaries
/// mean nothing: a record may span chunks and a chunk may hold many records.
pub struct EventStream {
    body: Incoming,
    buffer: BytesMut,
    codec: MessageCodec<Event>,
}

impl EventStream {
    /// The next event; `Ok(None)` when the agent closed the stream cleanly.
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            if let Some(event) = self.codec.decode(&mut self.buffer)? {
                return Ok(Some(event));
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                None => return Ok(self.codec.decode_eof(&mut self.buffer)?),
            }
        }
    }
}
