//! The flags of the two backfills and of `work`: what a run is (`RunOpts`), how this
//! process's workers pace it (`PaceOpts`), and each backfill's own.

use std::time::Duration;

use clap::Args;

use super::duration::{parse_duration, parse_lease};

/// Flags shared by both backfills.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    /// Report exactly what a run would change; nothing is written (anomalies included).
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the validation step at the end.
    #[arg(long)]
    pub no_validate: bool,
    /// Continue the latest interrupted run of this command from its checkpoints. The run
    /// keeps what it was started on (its tables, its phases); the pace (--batch-size,
    /// --sleep, --lock-timeout) and --no-validate are taken from this command line.
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    #[command(flatten)]
    pub pace: PaceOpts,
}

/// How this process's workers work a run: both backfills and `work` take these.
#[derive(Debug, Clone, Args)]
pub struct PaceOpts {
    /// Workers in this process, each walking its own key ranges of the run at once
    /// (`work --run ID` adds more from anywhere). SQLite takes one writer at a time:
    /// there one worker writes, whatever N is.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// How long a worker's claim on a range lasts without a commit: a worker killed
    /// (or stopped) holds its range this long before another takes it over.
    #[arg(long, value_name = "DURATION", value_parser = parse_lease, default_value = "30s")]
    pub lease: Duration,
    /// Pause between batches, to leave room for application traffic: seconds (0.1) or
    /// a number with a unit (500ms, 2s, 1m). Default: 0 for backfill-features, 100ms
    /// for backfill-project-id.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sleep: Option<Duration>,
    /// PostgreSQL only: how long one batch may wait for a row lock before it is
    /// retried: seconds (0.1) or a number with a unit (500ms, 2s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub lock_timeout: Duration,
    /// Size batches to take about this long each: the size starts at --batch-size,
    /// grows gently, shrinks at once after a slow batch or a lock timeout, and stays
    /// between 10 and 100,000 rows. Without it every batch has --batch-size rows.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub batch_time: Option<Duration>,
    /// Hold between batches while a standby's replication lag is over this (a standby
    /// whose replay stands still while behind counts as lagging).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub max_lag: Duration,
    /// MySQL/MariaDB: hold between batches while more threads than this are running.
    #[arg(long, value_name = "THREADS", default_value_t = 25)]
    pub max_load: u64,
    /// Serve Prometheus metrics of the run at http://HOST:PORT/ while it works.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub run: RunOpts,
    /// Tests (phase 1) or bugs (phase 2) per batch transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ProjectIdArgs {
    #[command(flatten)]
    pub run: RunOpts,
    /// Rows per batch transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
    /// Only these tables (repeatable); names outside the eleven are refused.
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Only validate the check constraints (PostgreSQL) or triggers (SQLite).
    #[arg(long, conflicts_with_all = ["dry_run", "rollback", "resume"])]
    pub validate_only: bool,
    /// Restore what a run changed (the latest run, or the one given with --run).
    #[arg(long, conflicts_with_all = ["dry_run", "resume"])]
    pub rollback: bool,
    /// The run to roll back (see `backfill_runs.id`).
    #[arg(long = "run", requires = "rollback")]
    pub run_id: Option<i64>,
    /// PostgreSQL only: after validation, make project_id NOT NULL using the validated
    /// check, then drop the check.
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
