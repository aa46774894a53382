//! Command-line surface: every subcommand is one clap struct here, and every flag's
//! doc comment is its `--help`. Nothing in this module touches a database; `commands`
//! turns these values into calls of the library modules.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::report::Format;

/// The embedded default, used when neither `--database-url` nor `DATABASE_URL` is set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://backfill.db?mode=rwc";

#[derive(Debug, Parser)]
#[command(
    name = "backfill",
    version,
    about = "Batched, resumable, journaled data backfills for SQLite, PostgreSQL and MySQL/MariaDB"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// Database to work on (sqlite://FILE?mode=rwc, postgres://… or mysql://…). Falls back to the
    /// DATABASE_URL environment variable, then to sqlite://backfill.db?mode=rwc.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Summary format on stdout: `text`, or `json` for exactly one JSON object.
    #[arg(long, global = true, default_value = "text")]
    pub format: Format,
    /// More detail in the logs on stderr, which by default show only warnings and
    /// errors: -v the per-table lines, -vv debug detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Never draw progress bars (they are drawn only when stderr is a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

impl GlobalOpts {
    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run or inspect the schema migrations (`migrate check` is the CI gate).
    Migrate(MigrateArgs),
    /// Write a deterministic synthetic dataset, with optional imperfections.
    Seed(SeedArgs),
    /// Migrate, seed, backfill and validate `demo.db`, and explain what happened.
    Demo(DemoArgs),
    /// Turn the features listed in `tests.data` into `test_features` rows and attribute bugs.
    BackfillFeatures(FeaturesArgs),
    /// Fill `project_id` in the eleven memory tables and validate their checks.
    BackfillProjectId(ProjectIdArgs),
    /// Prove coverage: feature, bug-attribution and customer rates, and `project_id` state.
    Validate(ValidateArgs),
    /// List anomalies logged for review, or resolve them.
    Anomalies(AnomaliesArgs),
    /// Show runs and their progress, or pause, continue or cancel one from anywhere.
    Runs(RunsArgs),
    /// Join a run of either backfill from another process or machine with more
    /// workers; exits 0 once no work is left.
    Work(WorkArgs),
}

impl Command {
    /// The workers this process runs (`--workers`): one for every other command.
    pub fn workers(&self) -> u32 {
        match self {
            Self::BackfillFeatures(args) => args.run.pace.workers,
            Self::BackfillProjectId(args) => args.run.pace.workers,
            Self::Work(args) => args.pace.workers,
            _ => 1,
        }
    }
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: MigrateAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations (all, or the next N). Adopts existing schemas.
    Up {
        #[arg(short = 'n', long = "num")]
        num: Option<u32>,
    },
    /// Roll back applied migrations (the last one, or the last N).
    Down {
        #[arg(short = 'n', long = "num", default_value_t = 1)]
        num: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table (DATA IS LOST), then apply all migrations.
    Fresh,
    /// Roll back every migration (DATA IS LOST), then apply them again.
    Refresh,
    /// Roll back every migration (DATA IS LOST).
    Reset,
    /// CI gate: up → down → up on a scratch database of the same backend, schema compared
    /// with the entities; the given database is only read (pending migrations, drift).
    Check,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Seed of the pseudo-random generator: the same seed writes the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of tests.
    #[arg(long, default_value_t = 1000)]
    pub tests: u64,
    /// Features listed in each test's payload.
    #[arg(long, default_value_t = 3)]
    pub features_per_test: u32,
    /// Bugs per test.
    #[arg(long, default_value_t = 3)]
    pub bugs_per_test: u32,
    /// Number of distinct customers.
    #[arg(long, default_value_t = 20)]
    pub customers: u64,
    /// Rows written into each of the eleven memory tables.
    #[arg(long, default_value_t = 1000)]
    pub memory_rows: u64,
    /// Fraction of tests whose payload is malformed JSON.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_json: f64,
    /// Fraction of features that have no `id`.
    #[arg(long, default_value_t = 0.0)]
    pub features_without_id: f64,
    /// Fraction of bugs whose payload names no test feature.
    #[arg(long, default_value_t = 0.0)]
    pub bugs_without_feature: f64,
    /// Fraction of bugs naming a test feature that does not exist.
    #[arg(long, default_value_t = 0.0)]
    pub bugs_missing_feature: f64,
    /// Fraction of bugs naming a test feature of another customer.
    #[arg(long, default_value_t = 0.0)]
    pub bugs_foreign_feature: f64,
    /// Fraction of memory rows whose `project_id` is NULL.
    #[arg(long, default_value_t = 0.0)]
    pub null_project_id: f64,
    /// Fraction of memory rows whose `project_id` is a legacy alias (io:, I/O, ethr, default, blank).
    #[arg(long, default_value_t = 0.0)]
    pub alias_project_id: f64,
    /// Tests (with their bugs) per INSERT transaction.
    #[arg(long, default_value_t = 5_000)]
    pub chunk: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The SQLite file the demo owns and recreates.
    #[arg(long, default_value = "demo.db")]
    pub file: String,
}

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

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Minimum rate that passes, between 0 and 1.
    #[arg(long, default_value_t = crate::validate::DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Break the rates down per customer and name those below the threshold.
    #[arg(long)]
    pub by_customer: bool,
}

#[derive(Debug, Args)]
pub struct AnomaliesArgs {
    #[command(subcommand)]
    pub action: Option<AnomaliesAction>,
    /// Only anomalies of this table.
    #[arg(long)]
    pub table: Option<String>,
    /// Only anomalies of this kind (invalid_json, missing_id, cross_tenant, …); an
    /// unknown kind is refused.
    #[arg(long)]
    pub kind: Option<String>,
    /// Include resolved anomalies.
    #[arg(long)]
    pub all: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 200)]
    pub limit: u64,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    /// The run to join (see `runs`).
    #[arg(long = "run")]
    pub run_id: i64,
    #[command(flatten)]
    pub pace: PaceOpts,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// Only this run.
    #[arg(long = "run")]
    pub run_id: Option<i64>,
    /// Finished runs too.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum RunsAction {
    /// Make the run's processes wait after their batch in flight, holding no lock.
    Pause { id: i64 },
    /// Let a paused run go on.
    Continue { id: i64 },
    /// Stop the run after its batch in flight (its processes exit 130); `--resume`
    /// continues it later.
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum AnomaliesAction {
    /// Mark anomalies resolved.
    Resolve {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

/// The longest pause or lock timeout a flag takes.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// `--lease`: a duration of at least a second, so that a batch has time to commit.
fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = parse_duration(text)?;
    if lease < Duration::from_secs(1) {
        return Err(format!("`{text}` is too short a lease: give at least 1s"));
    }
    Ok(lease)
}

/// A duration flag: a plain number of seconds (`0.1`) or a number with a unit
/// (`500ms`, `2s`, `1m`, read by `humantime`), from 0 to an hour.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(seconds) if (0.0..=MAX_DURATION.as_secs_f64()).contains(&seconds) => {
            Duration::from_secs_f64(seconds)
        }
        // Negative, NaN, infinite or too long: the range sentence below.
        Ok(_) => MAX_DURATION + Duration::from_secs(1),
        Err(_) => humantime::parse_duration(text).map_err(|_| {
            format!(
                "`{text}` is not a duration: give seconds (0.1) or a number with a unit (500ms, 2s, 1m)"
            )
        })?,
    };
    if duration > MAX_DURATION {
        return Err(format!("`{text}` must be between 0 and 3600 seconds (1h)"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_a_unit() {
        for (text, expected) in [
            ("0.1", Duration::from_millis(100)),
            ("0", Duration::ZERO),
            (" 2 ", Duration::from_secs(2)),
            ("3600", MAX_DURATION),
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1m 30s", Duration::from_secs(90)),
            ("1h", MAX_DURATION),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn durations_out_of_bounds_or_unreadable_are_one_sentence() {
        for text in ["-1", "3600.5", "NaN", "inf", "2h", "61m"] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(
                err,
                format!("`{text}` must be between 0 and 3600 seconds (1h)")
            );
        }
        for text in ["5parsecs", "", "ms", "2 fortnights ago", "1.5.2"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("is not a duration"), "{text}: {err}");
            assert!(!err.contains('\n'), "{text}: {err}");
        }
    }
}
