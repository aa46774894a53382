//! Command-line surface: every subcommand is one clap struct, and every flag's doc
//! comment is its `--help`: here the global flags and the commands that inspect or set
//! up a database, in `backfill_flags` the two backfills and `work` (how a duration is
//! read is `settings::duration`'s). Nothing here touches a database; `commands` turns
//! these values into calls of the library modules.

mod backfill_flags;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::settings::duration::parse_positive_duration;

pub use backfill_flags::{FeaturesArgs, PaceOpts, ProjectIdArgs, RunOpts, WorkArgs};

use crate::report::Format;
use crate::settings::Setting;

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
    /// Summary format on stdout: `text`, `json` for exactly one JSON object (a failure
    /// too: `{"error", "exit_code"}`), or `junit` (JUnit XML; `validate` and `migrate
    /// check` only).
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
    /// How long connecting may take before the database counts as unreachable (exit
    /// 75): seconds or a number with a unit.
    #[arg(long, global = true, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_positive_duration, default_value = "10s")]
    pub connect_timeout: Duration,
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
    /// Show runs and their progress, or pause, continue, cancel, abandon or change the
    /// settings of one from anywhere.
    Runs(RunsArgs),
    /// Join a run of either backfill from another process or machine with more
    /// workers; exits 0 once no work is left.
    Work(WorkArgs),
    /// Serve a web console of the database's runs, to watch and steer them, until
    /// Ctrl-C.
    Serve(ServeArgs),
}

impl Command {
    /// Whether the command only reads the database, so that connecting never creates
    /// one: `validate`, the lists of `anomalies` and `runs`, `migrate status|check`.
    pub fn only_reads(&self) -> bool {
        match self {
            Self::Validate(_) => true,
            Self::Anomalies(args) => args.action.is_none(),
            Self::Runs(args) => args.action.is_none(),
            Self::Serve(args) => args.read_only,
            Self::Migrate(args) => {
                matches!(args.action, MigrateAction::Status | MigrateAction::Check)
            }
            Self::Seed(_)
            | Self::Demo(_)
            | Self::BackfillFeatures(_)
            | Self::BackfillProjectId(_)
            | Self::Work(_) => false,
        }
    }

    /// Whether the command has a JUnit form (`--format junit`): the checks CI runs.
    pub fn reports_junit(&self) -> bool {
        match self {
            Self::Validate(_) => true,
            Self::Migrate(args) => matches!(args.action, MigrateAction::Check),
            _ => false,
        }
    }

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
    /// Go on with `down`, `fresh`, `refresh` or `reset` although they drop tables
    /// holding rows (they name them first); without it a terminal asks, and anything
    /// else is refused with nothing dropped.
    #[arg(long, global = true)]
    pub yes: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations (all, or the next N). Adopts existing schemas.
    Up {
        #[arg(short = 'n', long = "num")]
        num: Option<u32>,
        /// Then, on a Citus coordinator, distribute the memory tables by `id`, dropping
        /// the unique and foreign keys Citus cannot hold on them (named in the output).
        #[arg(long)]
        distribute: bool,
    },
    /// Roll back applied migrations (the last one, or the last N); what they created
    /// goes, so the tables holding rows are named first, as for fresh.
    Down {
        #[arg(short = 'n', long = "num", default_value_t = 1)]
        num: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table of the database (DATA IS LOST: each table holding rows is
    /// named first, and --yes or a typed confirmation is needed), then apply all
    /// migrations.
    Fresh,
    /// Roll back every migration (DATA IS LOST, as for fresh), then apply them again.
    Refresh,
    /// Roll back every migration (DATA IS LOST, as for fresh).
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

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen, HOST:PORT (`:PORT`: every interface). From a laptop, reach a
    /// console on a server through an SSH tunnel rather than opening it to a network.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080", value_parser = backfill_flags::parse_listen_addr)]
    pub addr: String,
    /// No actions: the pages only show.
    #[arg(long)]
    pub read_only: bool,
    /// The token every action must carry; without it one is made up and printed at
    /// start, in the console's link.
    #[arg(
        long,
        env = "BACKFILL_TOKEN",
        hide_env_values = true,
        conflicts_with = "read_only"
    )]
    pub token: Option<String>,
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

#[derive(Debug, Clone, Subcommand)]
pub enum RunsAction {
    /// Make the run's processes wait after their batch in flight, holding no lock.
    Pause { id: i64 },
    /// Let a paused run go on.
    Continue { id: i64 },
    /// Stop the run after its batch in flight (its processes exit 130); `--resume`
    /// continues it later.
    Cancel { id: i64 },
    /// Give up a stopped run (interrupted, cancelled or failed): it ends as
    /// `abandoned` and is never resumed; its journal stays, so `--rollback --run ID`
    /// still undoes what it did.
    Abandon { id: i64 },
    /// Change settings of a run while it works: every process of the run takes them
    /// before its next batch, and `runs --run ID` shows who changed what, when, from
    /// what to what. NAME is batch-size, batch-time (or off), sleep, max-lag,
    /// max-load or window (HH:MM-HH:MM[,…], or off).
    Set {
        id: i64,
        #[arg(required = true, value_name = "NAME=VALUE", value_parser = parse_setting)]
        settings: Vec<Setting>,
    },
}

fn parse_setting(text: &str) -> Result<Setting, String> {
    text.parse()
        .map_err(|err: crate::error::UsageError| err.to_string())
}

#[derive(Debug, Subcommand)]
pub enum AnomaliesAction {
    /// Mark anomalies resolved.
    Resolve {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}
