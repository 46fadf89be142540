//! What `GET /metrics` reports, in Prometheus text: requests by route and status, rows,
//! errors, prediction latency, the model being served, swaps, the prediction log's
//! commits, and the shadow challenger's outcomes and agreement.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A metric's labels.
type Labels = Vec<(String, String)>;

/// The server's metrics. Cheap to clone: every clone counts into the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// Every metric, and the registry that names them.
struct Inner {
    registry: Registry,
    requests: Family<Labels, Counter>,
    rows: Counter,
    errors: Family<Labels, Counter>,
    latency: Histogram,
    model: Family<Labels, Gauge>,
    swaps: Counter,
    swap_failures: Counter,
    log_commits: Counter,
    log_rows: Counter,
    log_failures: Counter,
    shadow: Family<Labels, Counter>,
    shadow_rows: Counter,
    shadow_agreed: Counter,
    shadow_agreement: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric, all at zero.
    pub fn new() -> Metrics {
        let mut inner = Inner {
            registry: Registry::with_prefix("relearn"),
            requests: Family::default(),
            rows: Counter::default(),
            errors: Family::default(),
            // 50 µs to about 26 s.
            latency: Histogram::new(exponential_buckets(0.00005, 2.0, 20)),
            model: Family::default(),
            swaps: Counter::default(),
            swap_failures: Counter::default(),
            log_commits: Counter::default(),
            log_rows: Counter::default(),
            log_failures: Counter::default(),
            shadow: Family::default(),
            shadow_rows: Counter::default(),
            shadow_agreed: Counter::default(),
            shadow_agreement: Gauge::default(),
        };
        inner.register();
        Metrics(Arc::new(inner))
    }

    /// The metrics in Prometheus text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.0.registry).expect("writing to a String cannot fail");
        text
    }

    /// A request to `route` answered with `status`.
    pub fn request(&self, route: &str, status: u16) {
        self.0
            .requests
            .get_or_create(&vec![
                ("route".to_string(), route.to_string()),
                ("status".to_string(), status.to_string()),
            ])
            .inc();
    }

    /// A predict request answered after `seconds`, with `rows` predictions.
    pub fn predicted(&self, rows: u64, seconds: f64) {
        self.0.rows.inc_by(rows);
        self.0.latency.observe(seconds);
    }

    /// A predict request refused, of `kind` (its status code's reason).
    pub fn refused(&self, kind: &str) {
        self.0
            .errors
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .inc();
    }

    /// The served checkpoint changed from `old` (if any) to `new` of `run`.
    pub fn serving(&self, run: &str, old: Option<&str>, new: &str) {
        let labels = |id: &str| {
            vec![
                ("id".to_string(), id.to_string()),
                ("run".to_string(), run.to_string()),
            ]
        };
        if let Some(old) = old {
            self.0.model.remove(&labels(old));
            self.0.swaps.inc();
        }
        self.0.model.get_or_create(&labels(new)).set(1);
    }

    /// A checkpoint failed to load or verify.
    pub fn swap_failed(&self) {
        self.0.swap_failures.inc();
    }

    /// A group commit of `rows` records, successful or not.
    pub fn log_committed<E>(&self, rows: u64, result: &Result<(), E>) {
        match result {
            Ok(()) => {
                self.0.log_commits.inc();
                self.0.log_rows.inc_by(rows);
            }
            Err(_) => {
                self.0.log_failures.inc();
            }
        }
    }

    /// A shadow request's `outcome`.
    pub fn shadow(&self, outcome: &str) {
        self.0
            .shadow
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }

    /// The shadow answered `rows` rows in time, `agreed` of them with the served class.
    pub fn shadow_compared(&self, rows: u64, agreed: u64) {
        self.0.shadow_rows.inc_by(rows);
        self.0.shadow_agreed.inc_by(agreed);
        let total = self.0.shadow_rows.get();
        if total > 0 {
            self.0
                .shadow_agreement
                .set(self.0.shadow_agreed.get() as f64 / total as f64);
        }
    }
}

impl Inner {
    /// Names every metric in the registry, with its help text.
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            self.requests.clone(),
        );
        r.register(
            "predicted_rows",
            "Rows answered with a prediction",
            self.rows.clone(),
        );
        r.register(
            "request_errors",
            "Requests refused, by kind",
            self.errors.clone(),
        );
        r.register(
            "predict_duration_seconds",
            "Time from a predict request's arrival to its answer (prediction log commit included)",
            self.latency.clone(),
        );
        r.register(
            "model_info",
            "The checkpoint being served (1) with its id and run",
            self.model.clone(),
        );
        r.register(
            "model_swaps",
            "Times the served checkpoint changed",
            self.swaps.clone(),
        );
        r.register(
            "model_swap_failures",
            "Checkpoints a followed ref moved to that failed to load or verify (never served)",
            self.swap_failures.clone(),
        );
        r.register(
            "log_commits",
            "Group commits of the prediction log",
            self.log_commits.clone(),
        );
        r.register(
            "log_rows",
            "Records committed to the prediction log",
            self.log_rows.clone(),
        );
        r.register(
            "log_failures",
            "Group commits of the prediction log that failed",
            self.log_failures.clone(),
        );
        r.register(
            "shadow_requests",
            "Requests sampled for the shadow challenger, by outcome (answered, timeout, error, busy)",
            self.shadow.clone(),
        );
        r.register(
            "shadow_rows",
            "Rows the shadow challenger answered in time",
            self.shadow_rows.clone(),
        );
        r.register(
            "shadow_agreed_rows",
            "Rows where the shadow challenger predicted the same class as the served model",
            self.shadow_agreed.clone(),
        );
        r.register(
            "shadow_agreement",
            "shadow_agreed_rows / shadow_rows (classification)",
            self.shadow_agreement.clone(),
        );
    }
}
