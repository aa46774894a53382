//! Dispatch: one function per subcommand turns the parsed flags into typed settings
//! (resolved here, once), calls the library module that does the work, and hands its
//! summary to `report`. Nothing past this module sees clap.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::backend::{ConnectSettings, DatabaseUrl, Db};
use crate::cli::{
    AnomaliesAction, AnomaliesArgs, Cli, Command, DemoArgs, FeaturesArgs, GlobalOpts,
    MigrateAction, PaceOpts, ProjectIdArgs, RunOpts, RunsAction, RunsArgs, SeedArgs, ValidateArgs,
    WorkArgs,
};
use crate::engine::{
    Cancel, EngineSettings, HealthLimits, ProgressBoard, ProgressDisplay, RetryPolicy,
};
use crate::error::{Outcome, UsageError};
use crate::jobs::features::{self, FeaturesSettings};
use crate::jobs::project_id::{self, ProjectIdSettings};
use crate::jobs::run::{self, Run};
use crate::ledger::Resume;
use crate::metrics::Metrics;
use crate::migrate::DroppedData;
use crate::report::{Format, Reporter, Stdout};
use crate::runs::Control;
use crate::seed::SeedSettings;
use crate::{anomalies, backend, demo, migrate, runs, seed, validate};

/// The pause between batches of `backfill-project-id` when `--sleep` is not given
/// (`backfill-features` has none).
const PROJECT_ID_SLEEP: Duration = Duration::from_millis(100);

/// The context of a summary that could not be written (stdout closed, say).
const NO_SUMMARY: &str = "could not write the summary to stdout";

pub async fn run(cli: Cli) -> Result<Outcome> {
    let global = cli.global;
    let mut reporter = Reporter::new(global.format, Stdout::default());
    if let Command::Demo(args) = &cli.command {
        return run_demo(args, &global, &mut reporter).await;
    }
    if global.format == Format::Junit && !cli.command.reports_junit() {
        anyhow::bail!(UsageError::new(
            "--format junit is for `validate` and `migrate check`: use text or json here"
        ));
    }
    let url = DatabaseUrl::new(global.database_url());
    let connect = ConnectSettings {
        timeout: global.connect_timeout,
        workers: cli.command.workers(),
        creates: !cli.command.only_reads(),
    };
    let db = backend::connect(&url, &connect).await?;
    let outcome = dispatch(cli.command, &db, &global, &mut reporter).await;
    // Closing checkpoints SQLite's WAL into the database file, so the file alone is
    // complete once the command is done (a copy of it needs no -wal beside it).
    db.close().await.ok();
    outcome
}

async fn dispatch(
    command: Command,
    db: &Db,
    global: &GlobalOpts,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    match command {
        Command::Migrate(args) => {
            let action = migrate_action(&args.action);
            if action.drops_data() {
                let dropped = migrate::data_dropped_by(db, action).await?;
                confirm_drop(db, action, &dropped, args.yes)?;
            }
            let (report, outcome) = migrate::run(db, action).await?;
            reporter.migrate(&report).context(NO_SUMMARY)?;
            Ok(outcome)
        }
        Command::Seed(args) => {
            let started = Instant::now();
            backend::require_writable(db).await?;
            let summary = seed::run(db, &seed_settings(&args)).await?;
            reporter
                .seed(&summary, started.elapsed())
                .context(NO_SUMMARY)?;
            Ok(Outcome::Passed)
        }
        Command::BackfillFeatures(args) => backfill_features(db, global, &args, reporter).await,
        Command::BackfillProjectId(args) => backfill_project_id(db, global, &args, reporter).await,
        Command::Validate(args) => run_validate(db, &args, reporter).await,
        Command::Anomalies(args) => run_anomalies(db, &args, reporter).await,
        Command::Runs(args) => run_runs(db, &args, reporter).await,
        Command::Work(args) => run_work(db, global, &args, reporter).await,
        Command::Demo(_) => unreachable!("BUG: demo is dispatched above"),
    }
}

/// The demo, on its own SQLite file only: a database named by `--database-url` or
/// `DATABASE_URL` is refused rather than ignored, so the demo never runs on one
/// database while the user believes it runs on another.
async fn run_demo(
    args: &DemoArgs,
    global: &GlobalOpts,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    if global.database_url.is_some() {
        anyhow::bail!(UsageError::new(
            "the demo works only on its own SQLite file (--file, default demo.db): unset DATABASE_URL and drop --database-url"
        ));
    }
    let started = Instant::now();
    let summary = demo::run(&args.file).await?;
    reporter
        .demo(&summary, started.elapsed())
        .context(NO_SUMMARY)?;
    Ok(Outcome::Passed)
}

/// Goes on with a migrate command that drops `dropped` only with `--yes`, or when a
/// person at a terminal types `drop`; names the database and the data first. Nothing
/// dropped: nothing to ask.
fn confirm_drop(
    db: &Db,
    action: migrate::Action,
    dropped: &[DroppedData],
    yes: bool,
) -> Result<()> {
    if dropped.is_empty() || yes {
        return Ok(());
    }
    let name = action.name();
    let listed: Vec<String> = dropped.iter().map(ToString::to_string).collect();
    let at_terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if at_terminal {
        let mut stderr = std::io::stderr();
        let _ = writeln!(stderr, "migrate {name} drops data of `{}`:", db.url());
        for data in &listed {
            let _ = writeln!(stderr, "  {data}");
        }
        let _ = write!(stderr, "Type `drop` to go on, anything else to stop: ");
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "drop" {
            return Ok(());
        }
    }
    anyhow::bail!(UsageError::new(format!(
        "migrate {name} would drop data of `{}`: {}; nothing was dropped: add --yes to drop it{}",
        db.url(),
        listed.join(", "),
        if at_terminal {
            ""
        } else {
            " (or answer at a terminal)"
        },
    )))
}

fn migrate_action(action: &MigrateAction) -> migrate::Action {
    match *action {
        MigrateAction::Up { num } => migrate::Action::Up(num),
        MigrateAction::Down { num } => migrate::Action::Down(num),
        MigrateAction::Status => migrate::Action::Status,
        MigrateAction::Fresh => migrate::Action::Fresh,
        MigrateAction::Refresh => migrate::Action::Refresh,
        MigrateAction::Reset => migrate::Action::Reset,
        MigrateAction::Check => migrate::Action::Check,
    }
}

fn seed_settings(args: &SeedArgs) -> SeedSettings {
    SeedSettings {
        seed: args.seed,
        tests: args.tests,
        features_per_test: args.features_per_test,
        bugs_per_test: args.bugs_per_test,
        customers: args.customers,
        memory_rows: args.memory_rows,
        malformed_json: args.malformed_json,
        features_without_id: args.features_without_id,
        bugs_without_feature: args.bugs_without_feature,
        bugs_missing_feature: args.bugs_missing_feature,
        bugs_foreign_feature: args.bugs_foreign_feature,
        null_project_id: args.null_project_id,
        alias_project_id: args.alias_project_id,
        chunk: args.chunk,
    }
}

/// Engine settings from the pace flags; starts the metrics server when asked.
fn engine_settings(
    db: &Db,
    global: &GlobalOpts,
    pace: &PaceOpts,
    dry_run: bool,
    batch_size: u64,
    default_sleep: Duration,
) -> Result<EngineSettings> {
    let metrics = Metrics::default();
    if let Some(addr) = &pace.metrics_addr {
        crate::metrics::serve(addr, metrics.clone())?;
    }
    let workers = if db.backend().writes_in_parallel() || pace.workers == 1 {
        pace.workers
    } else {
        tracing::info!(
            "SQLite takes one writer at a time: one worker writes, whatever --workers says"
        );
        1
    };
    // One bar per worker would draw over each other: `runs` shows many. Where stderr
    // is no terminal, lines in the log tell the same.
    let progress = match (global.quiet, std::io::stderr().is_terminal()) {
        (true, _) => ProgressDisplay::Hidden,
        (false, false) => ProgressDisplay::Lines(pace.progress_every),
        (false, true) if workers == 1 && !global.no_progress => ProgressDisplay::Bar,
        (false, true) => ProgressDisplay::Hidden,
    };
    Ok(EngineSettings {
        batch_size,
        batch_time: pace.batch_time,
        sleep: pace.sleep.unwrap_or(default_sleep),
        lock_timeout: pace.lock_timeout,
        dry_run,
        progress,
        board: ProgressBoard::default(),
        workers,
        lease: pace.lease,
        retry: RetryPolicy::default(),
        health: HealthLimits {
            max_lag: pace.max_lag,
            max_load: pace.max_load,
        },
        metrics,
    })
}

pub async fn backfill_features(
    db: &Db,
    global: &GlobalOpts,
    args: &FeaturesArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    run::require(db, features::schema(), args.run.dry_run).await?;
    if args.run.rollback {
        let summary = features::rollback(db, args.run.run_id, args.run.dry_run).await?;
        reporter.rollback(&summary).context(NO_SUMMARY)?;
        return Ok(Outcome::Passed);
    }
    let settings = FeaturesSettings {
        engine: engine_settings(
            db,
            global,
            &args.run.pace,
            args.run.dry_run,
            args.batch_size,
            Duration::ZERO,
        )?,
        resume: resume_of(&args.run),
        validate: !args.run.no_validate,
    };
    let started = Instant::now();
    let (summary, outcome) = features::run(db, settings, Cancel::on_signals()).await?;
    reporter
        .features(&summary, started.elapsed())
        .context(NO_SUMMARY)?;
    Ok(outcome)
}

pub async fn backfill_project_id(
    db: &Db,
    global: &GlobalOpts,
    args: &ProjectIdArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    let tables = project_id::select_tables(&args.tables)?;
    run::require(db, project_id::schema(&tables), args.run.dry_run).await?;
    if args.promote_not_null && !db.backend().promotes_not_null() {
        anyhow::bail!(UsageError::new(format!(
            "{} cannot make a column NOT NULL in place, so --promote-not-null is refused (its triggers stay the guard): nothing was written",
            db.backend().name()
        )));
    }
    if args.run.rollback {
        let lock_timeout = args.run.pace.lock_timeout;
        let summary =
            project_id::rollback(db, args.run.run_id, args.run.dry_run, lock_timeout).await?;
        reporter.rollback(&summary).context(NO_SUMMARY)?;
        return Ok(Outcome::Passed);
    }
    let started = Instant::now();
    if args.validate_only {
        let states =
            validate::project_id::validate_tables(db, &tables, args.promote_not_null).await?;
        let summary = project_id::ProjectIdSummary::validated(states);
        let outcome = summary.outcome();
        reporter
            .project_id(&summary, started.elapsed())
            .context(NO_SUMMARY)?;
        return Ok(outcome);
    }
    let settings = ProjectIdSettings {
        engine: engine_settings(
            db,
            global,
            &args.run.pace,
            args.run.dry_run,
            args.batch_size,
            PROJECT_ID_SLEEP,
        )?,
        tables,
        resume: resume_of(&args.run),
        validate: !args.run.no_validate,
        promote_not_null: args.promote_not_null,
    };
    let (summary, outcome) = project_id::run(db, settings, Cancel::on_signals()).await?;
    reporter
        .project_id(&summary, started.elapsed())
        .context(NO_SUMMARY)?;
    Ok(outcome)
}

pub async fn run_validate(
    db: &Db,
    args: &ValidateArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.threshold) {
        anyhow::bail!(UsageError::new(format!(
            "--threshold must be between 0 and 1 (got {})",
            args.threshold
        )));
    }
    backend::require_schema(db, &validate::schema()).await?;
    let (report, outcome) = validate::run(db, args.threshold, args.by_customer).await?;
    reporter.validate(&report).context(NO_SUMMARY)?;
    Ok(outcome)
}

async fn run_anomalies(
    db: &Db,
    args: &AnomaliesArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    let kind = args.kind.as_deref().map(str::parse).transpose()?;
    backend::require_schema(db, &[("backfill_anomalies", &[])]).await?;
    match &args.action {
        Some(AnomaliesAction::Resolve { ids }) => {
            let resolved = anomalies::resolve(db, ids).await?;
            reporter.resolved(resolved).context(NO_SUMMARY)?;
        }
        None => {
            let listed =
                anomalies::list(db, args.table.as_deref(), kind, args.all, args.limit).await?;
            reporter.anomalies(&listed).context(NO_SUMMARY)?;
        }
    }
    Ok(Outcome::Passed)
}

async fn run_runs(
    db: &Db,
    args: &RunsArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    backend::require_schema(db, &[("backfill_runs", &[]), ("backfill_ranges", &[])]).await?;
    let (id, control) = match args.action {
        None => {
            let listed = runs::list(db, args.run_id, args.all).await?;
            reporter.runs(&listed).context(NO_SUMMARY)?;
            return Ok(Outcome::Passed);
        }
        Some(RunsAction::Pause { id }) => (id, Control::Pause),
        Some(RunsAction::Continue { id }) => (id, Control::Continue),
        Some(RunsAction::Cancel { id }) => (id, Control::Cancel),
        Some(RunsAction::Abandon { id }) => (id, Control::Abandon),
    };
    let status = runs::control(db, id, control).await?;
    reporter.controlled(id, status).context(NO_SUMMARY)?;
    Ok(Outcome::Passed)
}

/// `work --run ID`: this process's workers join a run started anywhere, until no range
/// of it is left.
async fn run_work(
    db: &Db,
    global: &GlobalOpts,
    args: &WorkArgs,
    reporter: &mut Reporter<impl Write>,
) -> Result<Outcome> {
    run::require(db, Vec::new(), true).await?;
    let commands = [features::COMMAND, project_id::COMMAND];
    let Some(joined) = Run::join(db, args.run_id, &commands).await? else {
        reporter.worked(args.run_id, &[]).context(NO_SUMMARY)?;
        return Ok(Outcome::Passed);
    };
    backend::require_writable(db).await?;
    let default_sleep = match joined.command() {
        project_id::COMMAND => PROJECT_ID_SLEEP,
        _ => Duration::ZERO,
    };
    // The batch size is the run's own; the jobs read it from the ledger.
    let engine = engine_settings(db, global, &args.pace, false, 1, default_sleep)?;
    let cancel = Cancel::on_signals();
    let worked = match joined.command() {
        project_id::COMMAND => project_id::join(db, &joined, engine, cancel).await?,
        _ => features::join(db, &joined, engine, cancel).await?,
    };
    reporter
        .worked(args.run_id, &worked.reports)
        .context(NO_SUMMARY)?;
    Ok(match worked.stopped {
        Some(_) => Outcome::Interrupted(Some(args.run_id)),
        None => Outcome::Passed,
    })
}

/// What `--resume [--run ID]` asks for.
fn resume_of(run: &RunOpts) -> Option<Resume> {
    run.resume
        .then(|| run.run_id.map_or(Resume::Latest, Resume::Run))
}
