//! `POST /v1/positions`: real devices (or gateways) send JSON lines, one position each; the
//! answer comes once Kafka has them, so a device can resend on failure.
//!
//! The body is read as a stream, chunk by chunk, and handed to Kafka in batches of
//! [`BATCH_LINES`] while the rest is still arriving: memory per request is one line plus one
//! batch, whatever the body's size. The body is bounded by `--max-body-bytes` and each line by
//! [`MAX_LINE_BYTES`]; past a bound the intake stops reading and answers what it did with the
//! lines before it (they are produced, never dropped) and why it stopped.
//!
//! Unless the intake is open (`--ingest-auth none`), a request needs a device key
//! (`Authorization: Bearer <key>`, see [`crate::keys`]): without a known one it is answered 401
//! before its body is read; a key limited to vehicle-id prefixes has the other vehicles'
//! lines rejected (`vehicle_not_allowed`); a key past its rate is stopped at the line where its
//! tokens ran out, answered 429 with `Retry-After`, the lines before it produced.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::BytesMut;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::{admit, count_unparsable, Batch, NotDelivered};
use crate::keys::{Allowance, Device, IntakeAuth, Unauthorized};
use crate::metrics::Metrics;
use crate::model::Position;
use crate::validate::{Limits, Reject};
use crate::wall_clock_ms;

/// The source name in metrics.
pub const SOURCE: &str = "http";

/// The default of `--max-body-bytes`: 16 MiB, about 100 000 positions of ~160 bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The longest line read: a position is ~160 bytes, so a longer line is not one, and reading
/// it whole would let one line take the memory the streaming avoids.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Positions handed to Kafka at a time while the body streams in.
pub const BATCH_LINES: usize = 2048;

/// The default of `--delivery-wait-secs`: how long a batch waits for Kafka's acknowledgement.
pub const DEFAULT_DELIVERY_WAIT_SECS: u64 = 5;

/// How much longer than a batch's deadline the request waits for the producer loop's answer
/// (which may be busy with another source's batch) before answering itself.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// After a refusal, how long the rest of the body is read and discarded, so the client (still
/// sending) gets the answer instead of a connection reset.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the intake needs to handle a request.
#[derive(Debug, Clone)]
pub struct Intake {
    /// Where admitted positions go.
    pub batches: mpsc::Sender<Batch>,
    /// Validation bounds.
    pub limits: Limits,
    /// Counters.
    pub metrics: Metrics,
    /// The largest body read; the lines past it are refused with 413.
    pub max_body_bytes: usize,
    /// How long each batch waits for Kafka's acknowledgement before the request is answered 503.
    pub delivery_wait: Duration,
    /// Who may post.
    pub auth: IntakeAuth,
}

/// Why the intake stopped reading a body before its end (or Kafka did not take it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is longer than `--max-body-bytes`.
    #[error("the body is longer than --max-body-bytes ({limit_bytes} bytes): lines from {line} on were not read; send them in another request")]
    BodyTooLarge {
        /// The limit.
        limit_bytes: usize,
        /// The first line not read whole (1-based).
        line: usize,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line {line} is longer than {limit_bytes} bytes, so it is not a position: it and the lines after it were not read")]
    LineTooLong {
        /// The line (1-based).
        line: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// A line that is not UTF-8 text.
    #[error("line {line} is not UTF-8 text: it and the lines after it were not read")]
    InvalidUtf8 {
        /// The line (1-based).
        line: usize,
    },
    /// The body broke off (the client went away or sent a broken chunk).
    #[error("the body broke off in line {line}: it and the lines after it were not read")]
    BodyUnreadable {
        /// The line being read (1-based).
        line: usize,
    },
    /// The device key's rate limit was reached.
    #[error("the device key's rate limit is reached at line {line}: it and the lines after it were not read; send them again after {retry_after_s} s")]
    RateLimited {
        /// The first line not taken (1-based).
        line: usize,
        /// When the key may send again, seconds.
        retry_after_s: u64,
    },
}

impl Refusal {
    /// The status that answers it: 413 for the body limit, 429 for the rate limit, 400 for
    /// the rest.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable label for clients and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::BodyTooLarge { .. } => "body_too_large",
            Refusal::LineTooLong { .. } => "line_too_long",
            Refusal::InvalidUtf8 { .. } => "invalid_utf8",
            Refusal::BodyUnreadable { .. } => "body_unreadable",
            Refusal::RateLimited { .. } => "rate_limited",
        }
    }

    fn detail(&self) -> RefusalDetail {
        let (line, limit_bytes) = match *self {
            Refusal::BodyTooLarge { limit_bytes, line } => (line, Some(limit_bytes)),
            Refusal::LineTooLong { line, limit_bytes } => (line, Some(limit_bytes)),
            Refusal::InvalidUtf8 { line }
            | Refusal::BodyUnreadable { line }
            | Refusal::RateLimited { line, .. } => (line, None),
        };
        RefusalDetail {
            reason: self.label(),
            line,
            limit_bytes,
            message: self.to_string(),
        }
    }
}

/// The `error` of an answer: why lines from `line` on were not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalDetail {
    /// `body_too_large`, `line_too_long`, `invalid_utf8`, `body_unreadable`, `rate_limited`,
    /// `kafka_backlog` or `kafka_unavailable`; before the body is read (401) `missing_key`,
    /// `unknown_key`, `revoked_key` or `no_keys`.
    pub reason: &'static str,
    /// The first line not taken (1-based); 0 when it is not about a line.
    pub line: usize,
    /// The bound that was reached, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<usize>,
    /// The same, for a person.
    pub message: String,
}

/// The answer to a post.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntakeReport {
    /// Positions accepted and acknowledged by Kafka.
    pub accepted: usize,
    /// Lines read and refused, by reason.
    pub rejected: BTreeMap<&'static str, usize>,
    /// Lines read (accepted, rejected or empty), all before [`Self::error`]'s line.
    pub lines_read: usize,
    /// Why the intake stopped before the end of the body, or Kafka did not take every position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RefusalDetail>,
}

/// Splits a body arriving in chunks into lines without holding more than one incomplete line,
/// and enforces the body and line limits.
#[derive(Debug)]
pub struct LineReader {
    pending: BytesMut,
    /// Bytes of `pending` already searched for a newline.
    scanned: usize,
    /// Bytes taken from the body so far (at most the limit).
    body_bytes: usize,
    /// The number of the next line (1-based).
    next_line: usize,
    max_body_bytes: usize,
    max_line_bytes: usize,
    /// Whether the body went past the limit (the rest of the chunk was not kept).
    over_limit: bool,
}

impl LineReader {
    /// A reader bounded by `max_body_bytes` for the body and `max_line_bytes` per line.
    pub fn new(max_body_bytes: usize, max_line_bytes: usize) -> Self {
        Self {
            pending: BytesMut::new(),
            scanned: 0,
            body_bytes: 0,
            next_line: 1,
            max_body_bytes,
            max_line_bytes,
            over_limit: false,
        }
    }

    /// Lines returned so far.
    pub fn lines_read(&self) -> usize {
        self.next_line - 1
    }

    /// The number of the line being read.
    pub fn current_line(&self) -> usize {
        self.next_line
    }

    /// Takes a chunk of the body, keeping only what fits under the body limit.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.over_limit {
            return;
        }
        let room = self.max_body_bytes - self.body_bytes;
        let kept = chunk.len().min(room);
        self.pending.extend_from_slice(&chunk[..kept]);
        self.body_bytes += kept;
        self.over_limit = kept < chunk.len();
    }

    /// The next complete line (without its `\n`) with its number; `Ok(None)` when more of the
    /// body is needed; an error once a limit stops the reading.
    pub fn next_line(&mut self) -> Result<Option<(usize, BytesMut)>, Refusal> {
        let newline = memchr::memchr(b'\n', &self.pending[self.scanned..]);
        match newline {
            Some(at) => {
                let end = self.scanned + at;
                self.scanned = 0;
                let mut line = self.pending.split_to(end + 1);
                line.truncate(end);
                self.take(line).map(Some)
            }
            None => {
                self.scanned = self.pending.len();
                if self.pending.len() > self.max_line_bytes {
                    Err(self.too_long())
                } else if self.over_limit {
                    Err(Refusal::BodyTooLarge {
                        limit_bytes: self.max_body_bytes,
                        line: self.next_line,
                    })
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// At the end of the body: the last line if it had no `\n`.
    pub fn finish(&mut self) -> Result<Option<(usize, BytesMut)>, Refusal> {
        if let Some(line) = self.next_line()? {
            return Ok(Some(line));
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let line = self.pending.split();
        self.scanned = 0;
        self.take(line).map(Some)
    }

    fn take(&mut self, line: BytesMut) -> Result<(usize, BytesMut), Refusal> {
        if line.len() > self.max_line_bytes {
            return Err(self.too_long());
        }
        let number = self.next_line;
        self.next_line += 1;
        Ok((number, line))
    }

    fn too_long(&self) -> Refusal {
        Refusal::LineTooLong {
            line: self.next_line,
            limit_bytes: self.max_line_bytes,
        }
    }
}

/// Parses one line: a position, nothing (blank), a reject, or a refusal (not text).
pub fn parse_line(number: usize, line: &[u8]) -> Result<Option<Result<Position, Reject>>, Refusal> {
    let text = std::str::from_utf8(line)
        .map_err(|_| Refusal::InvalidUtf8 { line: number })?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    // The common shape without serde's generic machinery; serde_json decides everything else.
    let position = match super::position_line::parse(text) {
        Some(position) => Ok(position),
        None => serde_json::from_str::<Position>(text).map_err(|_| Reject::Malformed),
    };
    Ok(Some(position))
}

/// The route, to merge into the ingest HTTP server.
pub fn router(intake: Intake) -> Router {
    Router::new()
        .route("/v1/positions", post(receive))
        .with_state(intake)
}

/// One request's positions on their way to Kafka: batches sent, and their acknowledgements.
struct Delivery<'a> {
    intake: &'a Intake,
    report: IntakeReport,
    parsed: Vec<Position>,
    /// Per batch sent: its size, its first line, its deadline and the answer to wait for.
    acks: Vec<Pending>,
    /// The first line of the next batch.
    next_line: usize,
    /// Set once a batch could not even be queued in time: later batches are not sent.
    given_up: bool,
}

/// A batch handed to the producer loop, awaiting its answer.
struct Pending {
    count: usize,
    first_line: usize,
    deliver_by: tokio::time::Instant,
    /// `None` for a batch that was never queued (so never produced).
    answer: Option<oneshot::Receiver<Result<(), NotDelivered>>>,
}

/// Why a request's positions were not all accepted: the first batch not acknowledged.
struct Undelivered {
    first_line: usize,
    why: NotDelivered,
}

impl Delivery<'_> {
    /// Counts a line read and turned away.
    fn reject(&mut self, reject: Reject) {
        count_unparsable(&self.intake.metrics, SOURCE, reject);
        *self.report.rejected.entry(reject.label()).or_default() += 1;
    }

    /// Validates the parsed positions (lines up to `last_line`) and hands the valid ones to the
    /// producer.
    async fn send(&mut self, last_line: usize) {
        let first_line = std::mem::replace(&mut self.next_line, last_line + 1);
        if self.parsed.is_empty() {
            return;
        }
        let parsed = std::mem::replace(&mut self.parsed, Vec::with_capacity(BATCH_LINES));
        let now_ms = wall_clock_ms();
        let (admitted, invalid) = admit(
            parsed,
            SOURCE,
            &self.intake.limits,
            now_ms,
            &self.intake.metrics,
        );
        for reject in invalid {
            *self.report.rejected.entry(reject.label()).or_default() += 1;
        }
        if admitted.is_empty() {
            return;
        }
        let count = admitted.len();
        let (delivered, answer) = oneshot::channel();
        let deliver_by = tokio::time::Instant::now() + self.intake.delivery_wait;
        let batch = Batch {
            source: SOURCE,
            positions: admitted,
            delivered: Some(delivered),
            deliver_by: Some(deliver_by),
        };
        // A closed channel drops `delivered`, which the wait below reports as not acknowledged;
        // a batch not queued by its deadline is dropped here, never produced, and so are the
        // request's later ones.
        let queued = if self.given_up {
            false
        } else {
            match tokio::time::timeout_at(deliver_by, self.intake.batches.send(batch)).await {
                Ok(Ok(())) => true,
                // Ingest is stopping: `answer` reports it (its sender is gone with the batch).
                Ok(Err(_)) => true,
                Err(_) => false,
            }
        };
        self.given_up = !queued;
        self.acks.push(Pending {
            count,
            first_line,
            deliver_by,
            answer: queued.then_some(answer),
        });
    }

    /// Waits for every batch, each until its deadline at most; the positions of the
    /// acknowledged ones are accepted. Returns the first batch not acknowledged.
    async fn wait(&mut self) -> Option<Undelivered> {
        let mut failure = None;
        for pending in self.acks.drain(..) {
            let outcome = match pending.answer {
                None => Err(NotDelivered::TimedOut),
                Some(answer) => {
                    match tokio::time::timeout_at(pending.deliver_by + ANSWER_MARGIN, answer).await
                    {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(_)) => Err(NotDelivered::Failed("ingest is shutting down".into())),
                        Err(_) => Err(NotDelivered::TimedOut),
                    }
                }
            };
            match outcome {
                // Batches are acknowledged in order (each waits for everything before it), so
                // the accepted positions are those before the first failed batch.
                Ok(()) if failure.is_none() => self.report.accepted += pending.count,
                Ok(()) => {}
                Err(why) => {
                    failure.get_or_insert(Undelivered {
                        first_line: pending.first_line,
                        why,
                    });
                }
            }
        }
        failure
    }
}

/// The 401 of a request without a usable device key; its body is not read.
fn unauthorized(refusal: &Unauthorized) -> Response {
    tracing::debug!(%refusal, "intake request refused");
    let report = IntakeReport {
        error: Some(RefusalDetail {
            reason: refusal.label(),
            line: 0,
            limit_bytes: None,
            message: refusal.to_string(),
        }),
        ..IntakeReport::default()
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(report),
    )
        .into_response()
}

async fn receive(State(intake): State<Intake>, headers: HeaderMap, body: Body) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let device = match intake.auth.authenticate(authorization) {
        Ok(device) => device,
        Err(refusal) => return unauthorized(&refusal),
    };
    let mut allowance = Allowance::new(device.clone());
    let mut chunks = body.into_data_stream();
    let mut reader = LineReader::new(intake.max_body_bytes, MAX_LINE_BYTES);
    let mut delivery = Delivery {
        intake: &intake,
        report: IntakeReport::default(),
        parsed: Vec::with_capacity(BATCH_LINES),
        acks: Vec::new(),
        next_line: 1,
        given_up: false,
    };
    let mut refusal = None;
    'body: loop {
        let end = match chunks.next().await {
            Some(Ok(chunk)) => {
                reader.push(&chunk);
                false
            }
            Some(Err(err)) => {
                tracing::debug!(error = %err, "request body broke off");
                refusal = Some(Refusal::BodyUnreadable {
                    line: reader.current_line(),
                });
                break 'body;
            }
            None => true,
        };
        loop {
            let line = if end {
                reader.finish()
            } else {
                reader.next_line()
            };
            let parsed = match line {
                Ok(Some((number, line))) => parse_line(number, &line)
                    .and_then(|parsed| charge(&mut allowance, number, parsed)),
                Ok(None) => break,
                Err(stop) => Err(stop),
            };
            match parsed {
                Ok(Some(Ok(position))) if permitted(&device, &position) => {
                    delivery.parsed.push(position)
                }
                Ok(Some(Ok(_))) => delivery.reject(Reject::VehicleNotAllowed),
                Ok(Some(Err(reject))) => delivery.reject(reject),
                Ok(None) => {}
                Err(stop) => {
                    refusal = Some(stop);
                    break 'body;
                }
            }
            if delivery.parsed.len() >= BATCH_LINES {
                delivery.send(reader.lines_read()).await;
            }
        }
        if end {
            break;
        }
    }
    // The lines before a refusal are produced like any others.
    delivery.send(reader.lines_read()).await;
    delivery.report.lines_read = reader.lines_read();
    if let Some(refusal) = refusal {
        tracing::info!(%refusal, accepted_before = reader.lines_read(), "request body refused");
        drain(&mut chunks).await;
    }
    let failure = delivery.wait().await;
    let mut report = delivery.report;
    if let Some(device) = &device {
        device.accepted(report.accepted);
    }
    if let Some(Undelivered { first_line, why }) = failure {
        let accepted = report.accepted;
        let (reason, message) = match why {
            NotDelivered::TimedOut => (
                "kafka_backlog",
                format!(
                    "Kafka did not acknowledge the positions from line {first_line} on within \
                     --delivery-wait-secs ({wait} s): the broker is refusing producers (the \
                     embedded `cartrack-worker broker` does while a partition holds more than its \
                     --max-backlog-bytes not yet consumed) or not answering. The {accepted} \
                     positions before line {first_line} are accepted; those from line \
                     {first_line} on may still be written (at least once): resend them after \
                     Retry-After seconds (a position written twice is one history document, \
                     `<vehicle>-<timestamp>`, and `process` skips the repeat)",
                    wait = intake.delivery_wait.as_secs()
                ),
            ),
            NotDelivered::Failed(error) => (
                "kafka_unavailable",
                format!(
                    "Kafka did not acknowledge the positions from line {first_line} on ({error}): \
                     the {accepted} positions before it are accepted; resend from line {first_line}"
                ),
            ),
        };
        tracing::warn!(
            reason,
            first_line,
            accepted,
            "positions not acknowledged by Kafka"
        );
        report.error = Some(RefusalDetail {
            reason,
            line: first_line,
            limit_bytes: None,
            message,
        });
        let retry_after = intake.delivery_wait.as_secs().max(1).to_string();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry_after)],
            Json(report),
        )
            .into_response();
    }
    match refusal {
        Some(refusal @ Refusal::RateLimited { retry_after_s, .. }) => {
            report.error = Some(refusal.detail());
            let retry_after = retry_after_s.to_string();
            (
                refusal.status(),
                [(header::RETRY_AFTER, retry_after)],
                Json(report),
            )
                .into_response()
        }
        Some(refusal) => {
            report.error = Some(refusal.detail());
            (refusal.status(), Json(report)).into_response()
        }
        None => (StatusCode::OK, Json(report)).into_response(),
    }
}

/// Takes a token for a line that holds something (a position or a reject) from the request's
/// allowance: past the key's rate, the line is refused.
fn charge(
    allowance: &mut Allowance,
    line: usize,
    parsed: Option<Result<Position, Reject>>,
) -> Result<Option<Result<Position, Reject>>, Refusal> {
    if parsed.is_some() {
        allowance
            .take_one()
            .map_err(|retry_after_s| Refusal::RateLimited {
                line,
                retry_after_s,
            })?;
    }
    Ok(parsed)
}

/// Whether the device's key may send `position` (any position when the intake is open).
fn permitted(device: &Option<Device>, position: &Position) -> bool {
    device
        .as_ref()
        .is_none_or(|device| device.allows(&position.vehicle_id))
}

/// Reads and discards the rest of a refused body for at most [`DRAIN_TIMEOUT`].
async fn drain(chunks: &mut axum::body::BodyDataStream) {
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(Ok(_)) = chunks.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves the intake on 127.0.0.1 with a fake producer that acknowledges batches with
    /// `outcome`; returns the address and the batches it received.
    async fn serve(
        outcome: Result<(), NotDelivered>,
        max_body_bytes: usize,
    ) -> (String, mpsc::UnboundedReceiver<Vec<Position>>) {
        serve_answering(usize::MAX, outcome, max_body_bytes).await
    }

    /// Like [`serve`], but only the first `answered` batches get an answer; the fake producer
    /// keeps the others pending forever, like a producer loop stuck on a refusing broker.
    async fn serve_answering(
        answered: usize,
        outcome: Result<(), NotDelivered>,
        max_body_bytes: usize,
    ) -> (String, mpsc::UnboundedReceiver<Vec<Position>>) {
        serve_with(answered, outcome, max_body_bytes, IntakeAuth::Open).await
    }

    /// Like [`serve_answering`], with `auth` deciding who may post.
    async fn serve_with(
        answered: usize,
        outcome: Result<(), NotDelivered>,
        max_body_bytes: usize,
        auth: IntakeAuth,
    ) -> (String, mpsc::UnboundedReceiver<Vec<Position>>) {
        let (batches, mut incoming) = mpsc::channel::<Batch>(4);
        let (seen, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut unanswered = Vec::new();
            let mut answers = 0;
            while let Some(batch) = incoming.recv().await {
                let _ = seen.send(batch.positions);
                if let Some(delivered) = batch.delivered {
                    if answers < answered {
                        answers += 1;
                        let _ = delivered.send(outcome.clone());
                    } else {
                        unanswered.push(delivered);
                    }
                }
            }
        });
        (listen_with(batches, max_body_bytes, auth).await, received)
    }

    /// Serves an open intake handing its batches to `batches`, with a 1 s delivery wait; its
    /// address.
    async fn listen(batches: mpsc::Sender<Batch>, max_body_bytes: usize) -> String {
        listen_with(batches, max_body_bytes, IntakeAuth::Open).await
    }

    async fn listen_with(
        batches: mpsc::Sender<Batch>,
        max_body_bytes: usize,
        auth: IntakeAuth,
    ) -> String {
        let intake = Intake {
            batches,
            limits: Limits::default(),
            metrics: Metrics::new("ingest", &[]),
            max_body_bytes,
            delivery_wait: Duration::from_secs(1),
            auth,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router(intake)).await });
        address
    }

    /// POSTs `body` to the intake at `address`.
    async fn post(address: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("http://{address}/v1/positions"))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `count` position lines of vehicles `v0`, `v1`, ... at `now`.
    fn position_lines(count: usize, now: i64) -> String {
        (0..count)
            .map(|vehicle| position_line(vehicle, now))
            .collect()
    }

    fn position_line(vehicle: usize, now: i64) -> String {
        format!(
            "{{\"vehicle_id\":\"v{vehicle}\",\"timestamp_ms\":{now},\"lat\":40.7,\"lon\":-73.9}}\n"
        )
    }

    fn body() -> String {
        let now = wall_clock_ms();
        format!(
            "{{\"vehicle_id\":\"a\",\"timestamp_ms\":{now},\"lat\":40.7,\"lon\":-73.9}}\nnope\n{{\"vehicle_id\":\"b\",\"timestamp_ms\":{now},\"lat\":91,\"lon\":-73.9}}\n"
        )
    }

    /// Every vehicle id the fake producer received so far.
    fn produced(received: &mut mpsc::UnboundedReceiver<Vec<Position>>) -> Vec<String> {
        let mut ids = Vec::new();
        while let Ok(batch) = received.try_recv() {
            ids.extend(batch.into_iter().map(|p| p.vehicle_id));
        }
        ids
    }

    /// An intake with keys `k-nyc` (vehicles `nyc-*`, 5 positions then 1 per 100 s), `k-any`
    /// and `k-old` (revoked); its address, what it produced, and its metrics.
    async fn serve_keyed() -> (String, mpsc::UnboundedReceiver<Vec<Position>>, Metrics) {
        use crate::keys::{hash_hex, hash_key, KeyRing, KeyStore};
        let entry = |name: &str, key: &str, extra: &str| {
            format!(
                "[[keys]]\nname = \"{name}\"\nsha256 = \"{}\"\n{extra}\n",
                hash_hex(&hash_key(key))
            )
        };
        let text = entry(
            "nyc",
            "k-nyc",
            "vehicle_prefixes = [\"nyc-\"]\nrate_per_second = 0.01\nburst = 5",
        ) + &entry("any", "k-any", "")
            + &entry("old", "k-old", "revoked = true");
        let (metrics, auth_metrics) = Metrics::with_intake_auth("ingest", &[]);
        let store = KeyStore::new(KeyRing::parse(&text).unwrap(), auth_metrics);
        let (address, received) = serve_with(
            usize::MAX,
            Ok(()),
            DEFAULT_MAX_BODY_BYTES,
            IntakeAuth::Keys(store),
        )
        .await;
        (address, received, metrics)
    }

    async fn post_with_key(address: &str, key: Option<&str>, body: String) -> reqwest::Response {
        let request = reqwest::Client::new()
            .post(format!("http://{address}/v1/positions"))
            .body(body);
        let request = match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        request.send().await.unwrap()
    }

    #[tokio::test]
    async fn without_a_known_key_nothing_is_read_and_the_refusal_is_counted() {
        let (address, mut received, metrics) = serve_keyed().await;
        let body = position_lines(3, wall_clock_ms());
        for (key, reason) in [
            (None, "missing_key"),
            (Some("k-typo"), "unknown_key"),
            (Some("k-old"), "revoked_key"),
        ] {
            let response = post_with_key(&address, key, body.clone()).await;
            assert_eq!(response.status(), 401, "{key:?}");
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
            let report: serde_json::Value = response.json().await.unwrap();
            assert_eq!(report["error"]["reason"], reason, "{report}");
            assert_eq!(report["lines_read"], 0, "{report}");
            let counted =
                format!("cartrack_ingest_intake_auth_refused_total{{reason=\"{reason}\"}} 1");
            assert!(metrics.render().contains(&counted), "{counted}");
        }
        let response = post_with_key(&address, Some("k-any"), body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(produced(&mut received), ["v0", "v1", "v2"]);
        assert!(metrics
            .render()
            .contains("cartrack_ingest_intake_accepted_total{key=\"any\"} 3"));
    }

    #[tokio::test]
    async fn a_key_sends_only_its_vehicles_and_only_at_its_rate() {
        let (address, mut received, metrics) = serve_keyed().await;
        let now = wall_clock_ms();
        let line = |vehicle: &str| {
            format!("{{\"vehicle_id\":\"{vehicle}\",\"timestamp_ms\":{now},\"lat\":40.7,\"lon\":-73.9}}\n")
        };
        // Lines 1-5 take the burst (one of them another fleet's vehicle); line 6 is refused.
        let body: String = [
            "nyc-1", "bos-1", "nyc-2", "nyc-3", "nyc-4", "nyc-5", "nyc-6",
        ]
        .into_iter()
        .map(line)
        .collect();
        let response = post_with_key(&address, Some("k-nyc"), body).await;
        assert_eq!(response.status(), 429);
        let retry_after: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=100).contains(&retry_after), "{retry_after}");
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 4, "{report}");
        assert_eq!(report["rejected"]["vehicle_not_allowed"], 1, "{report}");
        assert_eq!(report["error"]["reason"], "rate_limited", "{report}");
        assert_eq!(report["error"]["line"], 6, "{report}");
        assert_eq!(
            produced(&mut received),
            ["nyc-1", "nyc-2", "nyc-3", "nyc-4"]
        );
        // The bucket is empty: the next request is refused at its first line.
        let response = post_with_key(&address, Some("k-nyc"), line("nyc-6")).await;
        assert_eq!(response.status(), 429);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 0, "{report}");
        assert_eq!(report["error"]["line"], 1, "{report}");
        assert!(metrics
            .render()
            .contains("cartrack_ingest_intake_rate_limited_total{key=\"nyc\"} 2"));
    }

    #[tokio::test]
    async fn answers_with_counts_once_kafka_has_the_positions() {
        let (address, mut received) = serve(Ok(()), DEFAULT_MAX_BODY_BYTES).await;
        let response = post(&address, body()).await;
        assert_eq!(response.status(), 200);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 1);
        assert_eq!(report["lines_read"], 3);
        assert_eq!(report["rejected"]["malformed"], 1);
        assert_eq!(report["rejected"]["latitude_out_of_range"], 1);
        assert!(report.get("error").is_none(), "{report}");
        assert_eq!(produced(&mut received), ["a"]);
    }

    #[tokio::test]
    async fn answers_503_with_json_when_kafka_does_not_acknowledge() {
        let (address, _received) = serve(
            Err(NotDelivered::Failed("broker down".into())),
            DEFAULT_MAX_BODY_BYTES,
        )
        .await;
        let response = post(&address, body()).await;
        assert_eq!(response.status(), 503);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 0);
        assert_eq!(report["error"]["reason"], "kafka_unavailable");
        assert_eq!(report["error"]["line"], 1);
    }

    #[tokio::test]
    async fn a_producer_loop_that_takes_no_batch_gets_a_bounded_503_and_nothing_more_is_queued() {
        // Nobody reads the channel (a producer loop stuck on another source's full queue).
        let (batches, mut incoming) = mpsc::channel::<Batch>(2);
        let address = listen(batches, DEFAULT_MAX_BODY_BYTES).await;
        let now = wall_clock_ms();
        let total = 6 * BATCH_LINES;
        let body = position_lines(total, now);
        let started = std::time::Instant::now();
        let response = post(&address, body).await;
        let waited = started.elapsed();
        assert_eq!(response.status(), 503);
        assert!(waited < Duration::from_secs(6), "{waited:?}");
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 0, "{report}");
        assert_eq!(report["lines_read"], total, "{report}");
        assert_eq!(report["error"]["reason"], "kafka_backlog", "{report}");
        assert_eq!(report["error"]["line"], 1, "{report}");
        // Two batches fit the channel; the third timed out, and the rest were not offered.
        let mut queued = 0;
        while incoming.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, 2);
    }

    #[tokio::test]
    async fn a_batch_not_acknowledged_in_time_gets_a_bounded_503_with_retry_after() {
        let (address, mut received) = serve_answering(1, Ok(()), DEFAULT_MAX_BODY_BYTES).await;
        let now = wall_clock_ms();
        let total = BATCH_LINES + 952;
        let body = position_lines(total, now);
        let started = std::time::Instant::now();
        let response = post(&address, body).await;
        let waited = started.elapsed();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        // The wait (1 s) plus the margin for the producer loop's answer, and no more.
        assert!(waited >= Duration::from_secs(1), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], BATCH_LINES, "{report}");
        assert_eq!(report["lines_read"], total, "{report}");
        assert_eq!(report["error"]["reason"], "kafka_backlog");
        assert_eq!(report["error"]["line"], BATCH_LINES + 1);
        let message = report["error"]["message"].as_str().unwrap();
        assert!(message.contains("--max-backlog-bytes"), "{message}");
        assert_eq!(produced(&mut received).len(), total);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_gets_413_and_the_lines_before_it_are_produced() {
        let now = wall_clock_ms();
        let line = position_line(0, now).len(); // Every line is as long (one-digit ids).
        let (address, mut received) = serve(Ok(()), 5 * line + line / 2).await;
        let body = position_lines(9, now);
        let response = post(&address, body).await;
        assert_eq!(response.status(), 413);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 5, "{report}");
        assert_eq!(report["lines_read"], 5, "{report}");
        assert_eq!(report["error"]["reason"], "body_too_large");
        assert_eq!(report["error"]["line"], 6);
        assert_eq!(report["error"]["limit_bytes"], 5 * line + line / 2);
        assert_eq!(produced(&mut received), ["v0", "v1", "v2", "v3", "v4"]);
    }

    #[tokio::test]
    async fn a_line_that_is_not_text_gets_400_naming_it_after_the_lines_before_are_produced() {
        let now = wall_clock_ms();
        let mut body = Vec::new();
        body.extend_from_slice(position_line(1, now).as_bytes());
        body.extend_from_slice(b"nope\n");
        body.extend_from_slice(b"{\"vehicle_id\":\"\xff\"}\n");
        body.extend_from_slice(position_line(2, now).as_bytes());
        let (address, mut received) = serve(Ok(()), DEFAULT_MAX_BODY_BYTES).await;
        let response = post(&address, body).await;
        assert_eq!(response.status(), 400);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["accepted"], 1, "{report}");
        assert_eq!(report["rejected"]["malformed"], 1, "{report}");
        assert_eq!(report["error"]["reason"], "invalid_utf8");
        assert_eq!(report["error"]["line"], 3);
        assert_eq!(produced(&mut received), ["v1"]);
    }

    /// Batches reach the producer while the body is still arriving: the intake does not wait
    /// for the whole body.
    #[tokio::test]
    async fn a_body_is_produced_while_it_streams_in() {
        let now = wall_clock_ms();
        let (address, mut received) = serve(Ok(()), DEFAULT_MAX_BODY_BYTES).await;
        let first: String = (0..BATCH_LINES)
            .map(|v| position_line(v % 10, now))
            .collect();
        let last = position_line(7, now);
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /v1/positions HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            first.len() + last.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(first.as_bytes()).await.unwrap();
        // The first batch is produced before the last line is even sent.
        let batch = tokio::time::timeout(Duration::from_secs(20), received.recv())
            .await
            .expect("no batch produced while the body was still open")
            .unwrap();
        assert_eq!(batch.len(), BATCH_LINES);
        stream.write_all(last.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let report: serde_json::Value =
            serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(report["accepted"], BATCH_LINES + 1);
        assert_eq!(produced(&mut received), ["v7"]);
    }

    fn read_all(
        reader: &mut LineReader,
        chunks: &[&[u8]],
    ) -> (Vec<(usize, String)>, Option<Refusal>) {
        let mut lines = Vec::new();
        let mut collect = |line: Result<Option<(usize, BytesMut)>, Refusal>| match line {
            Ok(Some((number, text))) => {
                lines.push((number, String::from_utf8(text.to_vec()).unwrap()));
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(refusal) => Err(refusal),
        };
        for chunk in chunks {
            reader.push(chunk);
            loop {
                match collect(reader.next_line()) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(refusal) => return (lines, Some(refusal)),
                }
            }
        }
        loop {
            match collect(reader.finish()) {
                Ok(true) => {}
                Ok(false) => return (lines, None),
                Err(refusal) => return (lines, Some(refusal)),
            }
        }
    }

    #[test]
    fn lines_are_the_same_wherever_the_chunks_split() {
        let body = b"ab\n\ncde\r\nf";
        let expected: Vec<(usize, String)> = vec![
            (1, "ab".into()),
            (2, String::new()),
            (3, "cde\r".into()),
            (4, "f".into()),
        ];
        for split in 0..=body.len() {
            let (head, tail) = body.split_at(split);
            let (lines, refusal) = read_all(&mut LineReader::new(100, 100), &[head, tail]);
            assert_eq!(lines, expected, "split at {split}");
            assert_eq!(refusal, None);
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(read_all(&mut LineReader::new(100, 100), &bytes).0, expected);
    }

    #[test]
    fn the_body_limit_keeps_the_lines_that_end_within_it() {
        // 12 bytes: "aa\n" and "bb\n" end within 8; "cc" is cut.
        let (lines, refusal) = read_all(&mut LineReader::new(8, 100), &[b"aa\nbb\ncc\ndd\n"]);
        assert_eq!(lines, [(1, "aa".into()), (2, "bb".into())]);
        assert_eq!(
            refusal,
            Some(Refusal::BodyTooLarge {
                limit_bytes: 8,
                line: 3
            })
        );
        // Exactly at the limit is within it.
        let (lines, refusal) = read_all(&mut LineReader::new(6, 100), &[b"aa\n", b"bb\n"]);
        assert_eq!(lines.len(), 2);
        assert_eq!(refusal, None);
    }

    #[test]
    fn a_line_over_the_line_limit_is_refused_by_number_before_it_ends() {
        let (lines, refusal) = read_all(
            &mut LineReader::new(1000, 4),
            &[b"ok\nfive5", b"more and more"],
        );
        assert_eq!(lines, [(1, "ok".into())]);
        assert_eq!(
            refusal,
            Some(Refusal::LineTooLong {
                line: 2,
                limit_bytes: 4
            })
        );
    }

    #[test]
    fn parses_json_lines_and_rejects_bad_ones() {
        let line = br#"{"vehicle_id":"b","timestamp_ms":2,"lat":1,"lon":2,"speed_mps":3.5}"#;
        let position = parse_line(1, line).unwrap().unwrap().unwrap();
        assert_eq!(position.speed_mps, Some(3.5));
        assert_eq!(parse_line(2, b"  ").unwrap(), None);
        assert_eq!(
            parse_line(3, b"{not json}").unwrap(),
            Some(Err(Reject::Malformed))
        );
        assert_eq!(
            parse_line(4, b"\xff").unwrap_err(),
            Refusal::InvalidUtf8 { line: 4 }
        );
    }
}
