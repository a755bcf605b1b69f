//! Every refusal of the API, as a status and a `{"error": "..."}` body.

use axum::extract::rejection::PathRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::deploy::PLAN_ACTIONS;
use super::{ANSWER_TIMEOUT, MAX_BODY, POD_ACTIONS};
use crate::driver::{AskError, RequestError};

/// Why a request was not served; its message is the body's `error`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// A mutating request without the configured token.
    #[error("missing or wrong `Authorization: Bearer <token>`")]
    Unauthorized,
    /// No route matched the path.
    #[error("no such endpoint; see GET /, /v1/health, /v1/state, /v1/cluster, /v1/map, /v1/page-config, /v1/plan, /v1/plans[/deploy|recovery], /v1/configs[/{{id}}], /v1/state/frameworkId, /v1/debug/offers, /v1/autoscale, /v1/report/utilisation, /metrics, POST /v1/uninstall, POST /v1/autoscale/{{group}}/resume, POST /v1/plans/deploy/<action>, PUT /v1/config, PUT /v1/groups/{{group}}/count, POST /v1/pods/{{slot}}/restart|replace")]
    NoSuchEndpoint,
    /// `GET /v1/state/frameworkId` with none stored: the uninstall finished (what DC/OS's
    /// Cosmos reads as "ready to be removed"), or the scheduler never registered.
    #[error("no framework id is stored: uninstalled, or never registered")]
    NoFrameworkId,
    /// Under `/vendor/`, a file the page does not have.
    #[error("no such page asset")]
    NoSuchAsset,
    /// `/v1/pods/{slot}/<action>` with an action that does not exist, whatever the method.
    #[error("no pod action {0:?}; actions: {POD_ACTIONS}")]
    NoSuchPodAction(String),
    /// A known path asked with a method it does not serve (axum adds `Allow`).
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// A path parameter that does not decode (invalid percent-encoding).
    #[error("{}", .0.body_text())]
    BadPath(#[from] PathRejection),
    /// A body that is not what the endpoint takes; the message says what it takes.
    #[error("{0}")]
    BadBody(String),
    /// A body over [`MAX_BODY`]: the client's size, not its syntax.
    #[error("body larger than the limit of {MAX_BODY} bytes (64 KiB)")]
    BodyTooLarge,
    /// `PUT /v1/config` with a config that cannot run; every reason, one per line.
    #[error("the config was refused, nothing changed:\n{}", .0.join("\n"))]
    InvalidConfig(Vec<String>),
    /// `GET /v1/configs/{id}` of a version not kept.
    #[error("no config version {0}; GET /v1/configs lists the kept ones")]
    NoSuchConfig(u32),
    /// `POST /v1/plans/deploy/<action>` with an action that does not exist.
    #[error("no plan action {0:?}; actions: {PLAN_ACTIONS}")]
    NoSuchPlanAction(String),
    /// The driver refused the request (no such group or pod, count too large).
    #[error(transparent)]
    Refused(#[from] RequestError),
    /// The driver's loop has stopped: the scheduler is shutting down or its loop failed.
    #[error("the scheduler's driver is not running")]
    DriverGone,
    /// The driver's loop did not answer within [`ANSWER_TIMEOUT`] (busy, or stalled): a read,
    /// or a write that never got into its queue.
    #[error("the scheduler's loop did not answer in time ({} s)", ANSWER_TIMEOUT.as_secs())]
    TimedOut,
    /// As [`Self::TimedOut`] for a write already queued: the loop may still apply it.
    #[error("the scheduler's loop did not answer in time ({} s); the change is queued and may still take effect (see GET /v1/state)", ANSWER_TIMEOUT.as_secs())]
    TimedOutQueued,
    /// The master did not give the page its view of the cluster.
    #[error("{0}")]
    Upstream(String),
}

impl From<AskError> for ApiError {
    fn from(err: AskError) -> Self {
        match err {
            AskError::Refused(refused) => Self::Refused(refused),
            AskError::Gone => Self::DriverGone,
            AskError::TimedOut => Self::TimedOut,
            AskError::TimedOutQueued => Self::TimedOutQueued,
        }
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NoSuchEndpoint
            | Self::NoSuchAsset
            | Self::NoSuchPodAction(_)
            | Self::NoSuchConfig(_)
            | Self::NoSuchPlanAction(_)
            | Self::NoFrameworkId => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadPath(rejection) => rejection.status(),
            Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::InvalidConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Refused(RequestError::UnknownGroup { .. } | RequestError::NoSuchPod(_)) => {
                StatusCode::NOT_FOUND
            }
            Self::Refused(RequestError::CountTooLarge(_)) => StatusCode::BAD_REQUEST,
            Self::Refused(
                RequestError::NoDeployment
                | RequestError::NoRollback(_)
                | RequestError::NotAutoscaled { .. }
                | RequestError::Uninstalling,
            ) => StatusCode::CONFLICT,
            Self::DriverGone | Self::TimedOut | Self::TimedOutQueued => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct ErrorBody {
            error: String,
        }
        let status = self.status();
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
