//! `relearn serve`: an HTTP server (tokio + axum) that answers predictions with a run's
//! serving checkpoint, follows the run's ref and swaps a newly promoted (or rolled back)
//! checkpoint in without dropping a request, logs every prediction it gives (so that labels
//! arriving later can be joined to it), and can shadow a challenger on a sample of requests.
//!
//! The server only reads the store; the prediction log is the one thing it writes, under
//! `predictions/<run>/` in the store or in a folder of its own. See docs/serving.md.

mod app;
mod body;
mod error;
mod log;
mod metrics;
mod model;
mod reply;
pub mod report;
mod shadow;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use relearn_store::Store;
use relearn_train::inference::recorded_id_column;

pub use app::{MODEL_ID, REQUEST_ID};
pub use error::{ApiError, ServeError};
pub use log::LogSync;

use crate::app::App;
use crate::log::PredictionLog;
use crate::metrics::Metrics;
use crate::model::ServedModel;
use crate::shadow::Shadow;
use crate::watch::{Followed, Target, Watcher};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store.
    pub store: PathBuf,
    /// The run whose serving checkpoint is served.
    pub run: String,
    /// The address to listen on (port 0: any free port, printed at startup).
    pub addr: String,
    /// How often the run's ref (and the shadow's) is looked at.
    pub poll: Duration,
    /// The prediction log's folder; `None`: `predictions/<run>/` in the store.
    pub log_dir: Option<PathBuf>,
    /// How far a prediction is committed before it is answered.
    pub log_sync: LogSync,
    /// A log file is closed and the next one started past this size.
    pub log_segment_bytes: u64,
    /// The column that identifies a row (logged with its prediction).
    pub id_column: Option<String>,
    /// The largest body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// The most rows in one request (413 beyond).
    pub max_rows: usize,
    /// Columns other than the features, target and id column are ignored, not refused.
    pub allow_unknown_columns: bool,
    /// The challenger: its REF, the share of requests it answers, and its timeout.
    pub shadow: Option<ShadowSettings>,
    /// Worker threads of the runtime (0: one per core).
    pub threads: usize,
}

/// The shadow challenger's settings.
#[derive(Debug, Clone)]
pub struct ShadowSettings {
    /// The challenger's REF (followed like the run's ref).
    pub reference: String,
    /// The share of requests it answers, in `[0, 1]`.
    pub fraction: f64,
    /// How long it may take.
    pub timeout: Duration,
}

impl Settings {
    /// The prediction log's folder.
    pub fn log_dir(&self) -> PathBuf {
        self.log_dir
            .clone()
            .unwrap_or_else(|| self.store.join("predictions").join(&self.run))
    }
}

/// Loads the run's serving checkpoint (and the challenger), binds `settings.addr`, calls
/// `ready` with the bound address, and serves until SIGINT or SIGTERM: then it stops
/// accepting, finishes the requests in flight, and commits the prediction log.
pub fn serve(
    mut settings: Settings,
    ready: impl FnOnce(SocketAddr, &Settings),
) -> Result<(), ServeError> {
    let store = Store::open(&settings.store)?;
    let mut primary = load_primary(&store, &settings)?;
    if settings.id_column.is_none() {
        // The run's `data.id`, when it has one, names the logged rows.
        settings.id_column = recorded_id_column(primary.manifest());
        if settings.id_column.is_some() {
            primary = load_primary(&store, &settings)?;
        }
    }
    let shadow = load_shadow(&store, &settings)?;
    // Bound before the log is made: a refused start writes nothing.
    let listener = std::net::TcpListener::bind(&settings.addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| ServeError::Bind {
            addr: settings.addr.clone(),
            source,
        })?;
    let metrics = Metrics::new();
    metrics.serving(&settings.run, None, &primary.id);
    let log = PredictionLog::open(
        &settings.log_dir(),
        settings.log_sync,
        settings.log_segment_bytes,
        metrics.clone(),
    )?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_io().enable_time();
    if settings.threads > 0 {
        runtime.worker_threads(settings.threads);
    }
    let runtime = runtime.build().map_err(ServeError::Runtime)?;
    let shadow = shadow.map(|(followed, s)| {
        Arc::new(Shadow {
            followed: Arc::new(followed),
            fraction: s.fraction,
            timeout: s.timeout,
            busy: Arc::new(tokio::sync::Semaphore::new(1)),
            log: log.appender(),
            metrics: metrics.clone(),
            id_column: settings.id_column.clone(),
        })
    });
    let app = Arc::new(App {
        store,
        primary: Arc::new(Followed::new(Target::Run(settings.run.clone()), primary)),
        shadow,
        log: log.appender(),
        metrics,
        stopping: Default::default(),
        settings,
    });
    let result = runtime.block_on(run_server(app.clone(), listener, ready));
    app.stopping.store(true, Ordering::Relaxed);
    // Requests are done; the shadow job still running, if any, is given its timeout (and
    // then abandoned: the runtime does not wait for it).
    let grace = app.shadow.as_ref().map_or(Duration::ZERO, |s| s.timeout);
    if let Some(shadow) = &app.shadow {
        runtime.block_on(async {
            let _ = tokio::time::timeout(grace, shadow.busy.acquire()).await;
        });
    }
    drop(app);
    runtime.shutdown_timeout(grace);
    log.close();
    result
}

/// The run's serving checkpoint: exit 2 when the run has none or it cannot be loaded.
fn load_primary(store: &Store, settings: &Settings) -> Result<ServedModel, ServeError> {
    let id = match store.run_head(&settings.run)? {
        Some(id) => id,
        None => {
            return Err(ServeError::NoCheckpoint {
                run: settings.run.clone(),
                store: settings.store.clone(),
                runs: store.runs()?,
            });
        }
    };
    ServedModel::load(store, &id, settings.id_column.as_deref()).map_err(|source| {
        ServeError::Load {
            reference: format!("run \"{}\"", settings.run),
            source: Box::new(source),
        }
    })
}

/// The challenger, if one is asked for.
fn load_shadow<'a>(
    store: &Store,
    settings: &'a Settings,
) -> Result<Option<(Followed, &'a ShadowSettings)>, ServeError> {
    let Some(s) = &settings.shadow else {
        return Ok(None);
    };
    if !(0.0..=1.0).contains(&s.fraction) {
        return Err(ServeError::Setting(format!(
            "--shadow-fraction {} is not in [0, 1]",
            s.fraction
        )));
    }
    let load_error = |source| ServeError::Load {
        reference: format!("the shadow \"{}\"", s.reference),
        source: Box::new(source),
    };
    let id = store
        .resolve(&s.reference)
        .map_err(|e| load_error(e.into()))?;
    let model = ServedModel::load(store, &id, settings.id_column.as_deref()).map_err(load_error)?;
    let followed = Followed::new(Target::Reference(s.reference.clone()), model);
    Ok(Some((followed, s)))
}

/// Starts the watcher, and serves on `listener` until a shutdown signal.
async fn run_server(
    app: Arc<App>,
    listener: std::net::TcpListener,
    ready: impl FnOnce(SocketAddr, &Settings),
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Runtime)?;
    let addr = listener.local_addr().map_err(ServeError::Runtime)?;
    let watcher = Watcher {
        store: app.store.clone(),
        run: app.settings.run.clone(),
        id_column: app.settings.id_column.clone(),
        followed: std::iter::once(app.primary.clone())
            .chain(app.shadow.as_ref().map(|s| s.followed.clone()))
            .collect(),
        metrics: app.metrics.clone(),
        stopping: app.stopping.clone(),
        interval: app.settings.poll,
    };
    let watcher = std::thread::Builder::new()
        .name("follow-refs".into())
        .spawn(move || watcher.run())
        .map_err(ServeError::Runtime)?;
    ready(addr, &app.settings);
    let stopping = app.clone();
    let result = axum::serve(listener, app::router(app.clone()))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing the requests in flight");
            stopping.stopping.store(true, Ordering::Relaxed);
        })
        .await
        .map_err(ServeError::Runtime);
    app.stopping.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || watcher.join()).await;
    result
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the server runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
