//! `relearn serve --run NAME`: serve the run's serving checkpoint over HTTP, following its
//! ref (docs/serving.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use relearn_serve::{LogSync, Settings, ShadowSettings};

use super::StoreArg;
use crate::exit::UsageError;

/// Arguments of `relearn serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run whose serving checkpoint (its ref, after gates and rollbacks) is served.
    #[arg(long, value_name = "NAME")]
    run: String,
    /// Address to listen on (port 0: a free port, printed at startup).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    /// How often the run's ref is looked at for a new checkpoint, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    poll_ms: u64,
    /// Folder of the prediction log [default: STORE/predictions/NAME].
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// How far a prediction is committed to the log before it is answered: `write` (the
    /// operating system has it: survives the server being killed) or `fsync` (on disk:
    /// survives a power loss too, at the disk's sync latency; docs/serving.md#speed).
    #[arg(long, value_name = "WHEN", default_value = "write", value_parser = parse_log_sync)]
    log_sync: LogSync,
    /// A log file is closed and the next one started past this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    log_segment_mib: u64,
    /// The column that identifies a row: logged with its prediction, for joining labels.
    #[arg(long, value_name = "COLUMN")]
    id_column: Option<String>,
    /// The largest request body, in bytes (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// The most rows in one request (413 beyond).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_rows: usize,
    /// Ignore columns the model does not know instead of refusing the request (422).
    #[arg(long)]
    allow_unknown_columns: bool,
    /// A challenger checkpoint (any REF, followed like the run's ref) that also answers a
    /// sample of requests, off the response path; its predictions go to the log.
    #[arg(long, value_name = "REF")]
    shadow: Option<String>,
    /// The share of requests the challenger answers, in [0, 1].
    #[arg(long, value_name = "F", default_value_t = 0.1, requires = "shadow")]
    shadow_fraction: f64,
    /// How long the challenger may take per request, in milliseconds; a later answer is
    /// dropped (and counted).
    #[arg(long, value_name = "MS", default_value_t = 1000, requires = "shadow")]
    shadow_timeout_ms: u64,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    store: StoreArg,
}

/// The largest `--max-body-bytes`: a request's cells are addressed with 32-bit offsets.
const MAX_BODY_BYTES: usize = 1 << 30;

/// `--log-sync`'s values.
fn parse_log_sync(s: &str) -> Result<LogSync, String> {
    LogSync::parse(s).ok_or_else(|| {
        let names: Vec<&str> = LogSync::ALL.iter().map(|v| v.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.path();
    // Fails (exit 2) on a missing or damaged store before anything starts.
    super::open_existing(&store)?;
    if args.poll_ms == 0 {
        return Err(UsageError("--poll-ms must be at least 1".into()).into());
    }
    if args.max_body_bytes > MAX_BODY_BYTES {
        return Err(UsageError(format!(
            "--max-body-bytes {} is over {MAX_BODY_BYTES} (1 GiB): split larger batches over several requests",
            args.max_body_bytes
        ))
        .into());
    }
    let settings = Settings {
        store,
        run: args.run,
        addr: args.addr,
        poll: Duration::from_millis(args.poll_ms),
        log_dir: args.log_dir,
        log_sync: args.log_sync,
        log_segment_bytes: args.log_segment_mib.max(1) << 20,
        id_column: args.id_column,
        max_body_bytes: args.max_body_bytes,
        max_rows: args.max_rows.max(1),
        allow_unknown_columns: args.allow_unknown_columns,
        shadow: args.shadow.map(|reference| ShadowSettings {
            reference,
            fraction: args.shadow_fraction,
            timeout: Duration::from_millis(args.shadow_timeout_ms),
        }),
        threads: args.threads,
    };
    relearn_serve::serve(settings, |addr, settings| {
        // The line scripts and tests wait for: the bound address (a port 0 resolved).
        eprintln!(
            "serving run \"{}\" from {} on http://{addr} (prediction log: {}; ref polled every {} ms)",
            settings.run,
            settings.store.display(),
            settings.log_dir().display(),
            settings.poll.as_millis()
        );
        eprintln!("listening on http://{addr}");
    })?;
    Ok(ExitCode::SUCCESS)
}
