//! The flags of the two backfills and of `work`: what a run is (`RunOpts`), how this
//! process's workers pace it (`PaceOpts`), and each backfill's own.

use std::time::Duration;

use clap::Args;
use clap::builder::TypedValueParser;

use crate::settings::Window;
use crate::settings::duration::{parse_duration, parse_lease, parse_positive_duration};

/// Flags shared by both backfills.
#[derive(Debug, Clone, Args)]
#[group(id = "run_target", args = ["resume", "rollback"], multiple = false)]
pub struct RunOpts {
    /// Report exactly what a run would change, or with --rollback what it would
    /// restore; nothing is written (anomalies included).
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    /// Skip the validation step at the end.
    #[arg(long)]
    pub no_validate: bool,
    /// Continue a stopped run (interrupted, cancelled or failed) from its checkpoints:
    /// the latest, or the one given with --run. The run keeps what it was started on
    /// (its tables, its phases); the pace (--batch-size, --sleep, --lock-timeout) and
    /// --no-validate are taken from this command line.
    #[arg(long)]
    pub resume: bool,
    /// Restore exactly what a run changed, rows and constraint state (the latest run,
    /// or the one given with --run); with --dry-run, say what would be restored.
    #[arg(long)]
    pub rollback: bool,
    /// The run to resume or roll back (see `backfill runs`).
    #[arg(long = "run", value_name = "ID", requires = "run_target")]
    pub run_id: Option<i64>,
    /// POST one JSON object to this http(s) URL per change of the run's status
    /// (started, held and why, resumed, paused, cancelled, interrupted, failed, done,
    /// rolled back); repeatable. A receiver that fails is retried a few times and never
    /// fails the run. The URLs are recorded with the run, so its every process tells them.
    #[arg(long = "notify", value_name = "URL", value_parser = parse_http_url)]
    pub notify: Vec<String>,
    /// The console's address as the receivers of --notify reach it (`serve`, say
    /// http://localhost:8080 through a tunnel): each notice links to the run's page.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub console_url: Option<String>,
    #[command(flatten)]
    pub pace: PaceOpts,
}

/// How this process's workers work a run: both backfills and `work` take these.
#[derive(Debug, Clone, Args)]
pub struct PaceOpts {
    /// Workers in this process, each walking its own key ranges of the run at once
    /// (`work --run ID` adds more from anywhere). SQLite takes one writer at a time:
    /// there one worker writes, whatever N is.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..=64).map(|n| n as u32))]
    pub workers: u32,
    /// How long a worker's claim on a range lasts without a commit: a worker killed
    /// (or stopped) holds its range this long before another takes it over.
    #[arg(long, value_name = "DURATION", value_parser = parse_lease, default_value = "30s")]
    pub lease: Duration,
    /// Pause between batches, to leave room for application traffic: seconds (0.1) or
    /// a number with a unit (500ms, 2s, 1m). Default: 0 for backfill-features, 100ms
    /// for backfill-project-id.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_duration)]
    pub sleep: Option<Duration>,
    /// PostgreSQL and MySQL/MariaDB: how long one batch may wait for a lock before it
    /// is rolled back and retried (MySQL counts whole seconds, rounded up): seconds
    /// (0.5) or a number with a unit (500ms, 2s). More than zero.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_positive_duration, default_value = "2s")]
    pub lock_timeout: Duration,
    /// Size batches to take about this long each: the size starts at --batch-size,
    /// grows gently, shrinks at once after a slow batch or a lock timeout, and stays
    /// between 10 and 100,000 rows. Without it every batch has --batch-size rows.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_positive_duration)]
    pub batch_time: Option<Duration>,
    /// Hold between batches while a standby's (PostgreSQL) or a --replica-url
    /// replica's (MySQL/MariaDB) replication lag is over this; one whose replay stands
    /// still while behind counts as lagging.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_duration, default_value = "10s")]
    pub max_lag: Duration,
    /// MySQL/MariaDB: a replica of the database to watch (repeatable). The run holds
    /// while its lag is over --max-lag, its executed position stands still behind the
    /// primary's, a replication thread is stopped, or it cannot be read.
    #[arg(long = "replica-url", value_name = "URL")]
    pub replica_urls: Vec<String>,
    /// MySQL/MariaDB: hold between batches while more threads than this are running.
    #[arg(long, value_name = "THREADS", default_value_t = 25, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..).map(|n| n as u64))]
    pub max_load: u64,
    /// Work only in these times of day, HH:MM-HH:MM in this process's local time
    /// (several separated by commas; a span may wrap midnight): outside them the run
    /// holds with reason `window`. `runs set ID window=…` changes it while the run works.
    #[arg(long, value_name = "HH:MM-HH:MM[,…]", value_parser = parse_window)]
    pub window: Option<Window>,
    /// Serve Prometheus metrics of the run at http://HOST:PORT/ while it works
    /// (`:PORT` listens on every interface).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_listen_addr)]
    pub metrics_addr: Option<String>,
    /// Where stderr is not a terminal (CI, nohup, a pod's log): one progress line per
    /// table or phase this often.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_positive_duration, default_value = "30s")]
    pub progress_every: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub run: RunOpts,
    /// Tests (phase 1) or bugs (phase 2) per batch transaction.
    #[arg(long, default_value_t = 500, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..=100_000).map(|n| n as u64))]
    pub batch_size: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ProjectIdArgs {
    #[command(flatten)]
    pub run: RunOpts,
    /// Rows per batch transaction.
    #[arg(long, default_value_t = 5000, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(1..=100_000).map(|n| n as u64))]
    pub batch_size: u64,
    /// Only these tables (repeatable); names outside the eleven are refused.
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Only validate the checks: PostgreSQL's check constraints; on SQLite and
    /// MySQL/MariaDB, no NULL left and both triggers present.
    #[arg(long, conflicts_with_all = ["dry_run", "run_target"])]
    pub validate_only: bool,
    /// PostgreSQL and MySQL/MariaDB: after validation, make project_id NOT NULL (in
    /// place, without a table copy) and drop the check or triggers. SQLite cannot: it
    /// refuses the flag.
    #[arg(long)]
    pub promote_not_null: bool,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    /// The run to join (see `runs`).
    #[arg(long = "run")]
    pub run_id: i64,
    #[command(flatten)]
    pub pace: PaceOpts,
}

fn parse_window(text: &str) -> Result<Window, String> {
    text.parse()
        .map_err(|err: crate::error::UsageError| err.to_string())
}

/// A `--notify` or `--console-url` URL: http or https.
fn parse_http_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(text.to_string()),
        _ => Err(format!(
            "`{text}` is not an http(s) URL: give http://HOST/PATH or https://HOST/PATH"
        )),
    }
}

/// An address to listen on, `HOST:PORT`, or `:PORT` for every interface.
pub(super) fn parse_listen_addr(text: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    let addr = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_string(),
    };
    match addr.to_socket_addrs().map(|mut found| found.next()) {
        Ok(Some(_)) => Ok(addr),
        _ => Err(format!(
            "`{text}` is not an address to listen on: give HOST:PORT, or :PORT for every interface"
        )),
    }
}
