//! The HTTP side: routes, the predict handler, and the server's shared state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use relearn_store::Store;
use relearn_train::inference::Prediction;
use serde_json::json;

use crate::Settings;
use crate::body;
use crate::error::ApiError;
use crate::log::{Appender, Record};
use crate::metrics::Metrics;
use crate::model::ServedModel;
use crate::reply::json_response;
use crate::shadow::Shadow;
use crate::watch::Followed;

/// The request id header, echoed on every answer.
pub const REQUEST_ID: &str = "x-request-id";
/// The header naming the checkpoint that answered.
pub const MODEL_ID: &str = "x-relearn-model";
/// The longest a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What every request shares.
pub struct App {
    /// The store the models come from.
    pub store: Store,
    /// The server's settings.
    pub settings: Settings,
    /// The run's serving checkpoint.
    pub primary: Arc<Followed>,
    /// The challenger, if any.
    pub shadow: Option<Arc<Shadow>>,
    /// The prediction log.
    pub log: Appender,
    /// The metrics.
    pub metrics: Metrics,
    /// Set once shutdown begins: `/readyz` answers 503, the watcher stops.
    pub stopping: Arc<AtomicBool>,
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/predict", post(predict))
        .route("/v1/model", get(model))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(app)
}

async fn not_found(State(app): State<Arc<App>>, uri: axum::http::Uri) -> Response {
    app.metrics.request("other", 404);
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {}: the routes are POST /v1/predict, GET /v1/model, /healthz, /readyz, /metrics",
            uri.path()
        ),
    )
    .into_response()
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.stopping.load(Ordering::Relaxed) {
        return ApiError::unavailable("shutting down").into_response();
    }
    "ready\n".into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn model(State(app): State<Arc<App>>) -> Response {
    app.metrics.request("/v1/model", 200);
    let mut description = app.primary.model.load().describe();
    if let Some(shadow) = &app.shadow {
        let challenger = shadow.followed.model.load();
        description["shadow"] = json!({
            "id": challenger.id,
            "reference": shadow.followed.target.name(),
            "fraction": shadow.fraction,
            "timeout_ms": shadow.timeout.as_millis() as u64,
        });
    }
    json_response(StatusCode::OK, &description)
}

/// `POST /v1/predict`.
async fn predict(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let request_id = match request_id(&headers) {
        Ok(id) => id,
        Err(e) => return app.refused(e, None),
    };
    match app.clone().answer(&request_id, &headers, body).await {
        Ok((rows, mut response)) => {
            app.metrics.request("/v1/predict", 200);
            app.metrics.predicted(rows, started.elapsed().as_secs_f64());
            with_request_id(&mut response, &request_id);
            response
        }
        Err(e) => app.refused(e, Some(&request_id)),
    }
}

impl App {
    /// Predicts the rows of one request, logs them, and answers; returns the rows answered.
    async fn answer(
        self: Arc<Self>,
        request_id: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(u64, Response), ApiError> {
        let bytes = self.read_body(headers, body).await?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let rows = Arc::new(body::read(content_type, &bytes, self.settings.max_rows)?);
        drop(bytes);
        // The model this request started on: it answers every row, whatever swaps meanwhile.
        let model = self.primary.model.load_full();
        let predictions = model.predict(&rows, self.settings.allow_unknown_columns)?;
        let record = Record {
            request_id,
            model: &model,
            predictions: &predictions,
            rows: &rows,
            id_column: self.settings.id_column.as_deref(),
        };
        let n = predictions.len() as u64;
        self.log.commit(record.line(), n).await.map_err(|e| {
            tracing::error!("prediction log: {e}");
            ApiError::unavailable(format!(
                "the prediction log cannot be written ({e}), so no prediction is given"
            ))
        })?;
        let classes = model.classes();
        if let Some(shadow) = self.shadow.as_ref().filter(|s| s.sampled()) {
            let labels = predictions.iter().map(|p| p.label(classes)).collect();
            shadow.spawn(request_id.to_string(), rows, Arc::new(labels));
        }
        let mut response = (
            [(header::CONTENT_TYPE, "application/json")],
            self.answer_body(&model, request_id, &predictions),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&model.id) {
            response.headers_mut().insert(MODEL_ID, value);
        }
        Ok((n, response))
    }

    /// `{"id", "run", "request_id", "predictions": [...]}`, written directly (a JSON tree
    /// of a thousand predictions costs more than predicting them).
    fn answer_body(
        &self,
        model: &ServedModel,
        request_id: &str,
        predictions: &[Prediction],
    ) -> Vec<u8> {
        let json = |s: &str| serde_json::to_string(s).expect("a string serialises");
        let mut out = Vec::with_capacity(256 + predictions.len() * 64);
        out.extend_from_slice(
            format!(
                "{{\"id\":{},\"run\":{},\"request_id\":{},\"predictions\":[",
                json(&model.id),
                json(&self.settings.run),
                json(request_id)
            )
            .as_bytes(),
        );
        for (i, p) in predictions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            model.write_prediction(&mut out, p);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The body, at most `--max-body-bytes` of it (413 beyond).
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<axum::body::Bytes, ApiError> {
        let limit = self.settings.max_body_bytes;
        let too_large = || {
            ApiError::too_large(format!(
                "the body is over {limit} bytes (the server's --max-body-bytes): split the rows \
                 over several requests"
            ))
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        // A client that sends its body slower than this holds a worker's memory, and the
        // shutdown, no longer.
        let read = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect());
        match read.await {
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body took over {} s to arrive: send it at once",
                    BODY_TIMEOUT.as_secs()
                ),
            )),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Ok(Err(e)) => Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
        }
    }

    /// The answer to a refused request, counted.
    fn refused(&self, e: ApiError, request_id: Option<&str>) -> Response {
        let status = e.status;
        self.metrics.request("/v1/predict", status.as_u16());
        self.metrics
            .refused(status.canonical_reason().unwrap_or("error"));
        let mut response = e.into_response();
        if let Some(id) = request_id {
            with_request_id(&mut response, id);
        }
        response
    }
}

/// The request's `X-Request-Id` (1 to 128 visible ASCII characters), or a new random one
/// (128 bits, in hex).
fn request_id(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get(REQUEST_ID) {
        None => Ok(format!("{:032x}", rand::random::<u128>())),
        Some(value) => match value.to_str() {
            Ok(id) if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(id.to_string())
            }
            _ => Err(ApiError::bad_request(
                "X-Request-Id must be 1 to 128 visible ASCII characters (no spaces)",
            )),
        },
    }
}

/// Echoes the request id.
fn with_request_id(response: &mut Response, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
}
