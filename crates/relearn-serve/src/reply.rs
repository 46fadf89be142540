//! JSON answers.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A JSON answer with `status`.
pub fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).expect("JSON serialises");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
