//! Dispatch: one function per subcommand turns the parsed flags into typed settings
//! (resolved here, once), calls the library module that does the work, and hands its
//! summary to `report`. Nothing past this module sees clap. The backfills (and `work`)
//! and `migrate` have a file each.

mod backfills;
mod migrate;

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::backend::{ConnectSettings, DatabaseUrl, Db};
use crate::cli::{
    AnomaliesAction, AnomaliesArgs, Cli, Command, DemoArgs, GlobalOpts, RunsAction, RunsArgs,
    SeedArgs, ServeArgs, ValidateArgs,
};
use crate::console::{self, ConsoleSettings};
use crate::engine::Cancel;
use crate::error::{Outcome, UsageError};
use crate::report::{Format, Reporter, Stdout};
use crate::runs::Control;
use crate::seed::SeedSettings;
use crate::{anomalies, backend, demo, runs, seed, validate};

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
        Command::Migrate(args) => migrate::run(db, &args, reporter).await,
        Command::Seed(args) => {
            let started = Instant::now();
            backend::require_writable(db).await?;
            let summary = seed::run(db, &seed_settings(&args)).await?;
            reporter
                .seed(&summary, started.elapsed())
                .context(NO_SUMMARY)?;
            Ok(Outcome::Passed)
        }
        Command::BackfillFeatures(args) => {
            backfills::backfill_features(db, global, &args, reporter).await
        }
        Command::BackfillProjectId(args) => {
            backfills::backfill_project_id(db, global, &args, reporter).await
        }
        Command::Validate(args) => run_validate(db, &args, reporter).await,
        Command::Anomalies(args) => run_anomalies(db, &args, reporter).await,
        Command::Runs(args) => run_runs(db, &args, reporter).await,
        Command::Work(args) => backfills::work(db, global, &args, reporter).await,
        Command::Serve(args) => run_serve(db, &args).await,
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

async fn run_validate(
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
            let filter = anomalies::AnomalyFilter {
                table: args.table.as_deref(),
                kind,
                run: None,
                include_resolved: args.all,
                limit: args.limit,
            };
            let listed = anomalies::list(db, &filter).await?;
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
    let (id, control) = match &args.action {
        None => {
            let listed = runs::list(db, args.run_id, args.all).await?;
            reporter.runs(&listed).context(NO_SUMMARY)?;
            return Ok(Outcome::Passed);
        }
        Some(RunsAction::Pause { id }) => (*id, Control::Pause),
        Some(RunsAction::Continue { id }) => (*id, Control::Continue),
        Some(RunsAction::Cancel { id }) => (*id, Control::Cancel),
        Some(RunsAction::Abandon { id }) => (*id, Control::Abandon),
        Some(RunsAction::Set { id, settings }) => {
            backend::require_schema(db, &[("backfill_settings", &[])]).await?;
            let changes =
                crate::settings::change(db, *id, settings, &crate::settings::changed_by()).await?;
            reporter
                .settings_changed(*id, &changes)
                .context(NO_SUMMARY)?;
            return Ok(Outcome::Passed);
        }
    };
    let status = runs::control(db, id, control).await?;
    reporter.controlled(id, status).context(NO_SUMMARY)?;
    Ok(Outcome::Passed)
}

async fn run_serve(db: &Db, args: &ServeArgs) -> Result<Outcome> {
    backend::require_schema(
        db,
        &[
            ("backfill_runs", &[]),
            ("backfill_ranges", &[]),
            ("backfill_anomalies", &[]),
            ("backfill_settings", &[]),
            ("backfill_samples", &[]),
        ],
    )
    .await?;
    let settings = ConsoleSettings {
        addr: args.addr.clone(),
        read_only: args.read_only,
        token: match args.read_only {
            true => None,
            false => Some(args.token.clone().unwrap_or_else(console::new_token)),
        },
    };
    console::serve(db, settings, Cancel::on_signals()).await?;
    Ok(Outcome::Passed)
}
