//! What can go wrong: at startup ([`ServeError`], the command's exit code) and per request
//! ([`ApiError`], a 4xx or 5xx answer naming what is wrong and where).

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use relearn_store::StoreError;
use relearn_train::inference::InferenceError;

/// Why the server cannot start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store is missing, damaged, or names no such run.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run has no checkpoint yet.
    #[error("run \"{run}\" has no checkpoint in the store at {store}{}", runs_hint(.runs))]
    NoCheckpoint {
        /// The run asked for.
        run: String,
        /// The store.
        store: PathBuf,
        /// The store's runs.
        runs: Vec<String>,
    },
    /// The serving (or shadow) checkpoint cannot be loaded or verified.
    #[error("cannot serve {reference}: {source}")]
    Load {
        /// The reference (run name or REF).
        reference: String,
        /// Why.
        #[source]
        source: Box<InferenceError>,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The prediction log cannot be opened or written.
    #[error("prediction log {}: {source}", path.display())]
    Log {
        /// The log file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Setting(String),
    /// The runtime failed.
    #[error("server runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl ServeError {
    /// Whether the error is the user's (exit code 2): a missing run or store, a damaged
    /// checkpoint found at startup, an address in use, a bad setting.
    pub fn is_user_error(&self) -> bool {
        match self {
            ServeError::Store(e) => e.is_user_error() || e.is_corruption(),
            ServeError::NoCheckpoint { .. }
            | ServeError::Load { .. }
            | ServeError::Bind { .. }
            | ServeError::Setting(_) => true,
            ServeError::Log { .. } | ServeError::Runtime(_) => false,
        }
    }
}

/// ", its runs: a, b" or a hint that the store has none.
fn runs_hint(runs: &[String]) -> String {
    if runs.is_empty() {
        "; the store has no runs: train one with `relearn run --config FILE`".to_string()
    } else {
        format!("; its runs: {}", runs.join(", "))
    }
}

/// A request that gets no predictions: its status and what is wrong, answered as
/// `{"error": {"status": 422, "message": "..."}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What is wrong and where (row, column), and how to fix it.
    pub message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the body cannot be parsed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: the body parses, but its rows do not fit the model.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 413: too large a body, or too many rows.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 503: the server cannot answer now (the prediction log failed, or it is stopping).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"status": self.status.as_u16(), "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::reply::json_response(self.status, &self.body())
    }
}
