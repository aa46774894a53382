//! Dispatch: one function per subcommand turns the parsed flags into settings, calls the
//! library module that does the work, and hands its summary to `report`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::cli::{
    AnomaliesAction, AnomaliesArgs, Cli, Command, FeaturesArgs, GlobalOpts, ProjectIdArgs, RunOpts,
    ValidateArgs,
};
use crate::engine::{EngineSettings, install_interrupt_handler};
use crate::error::{Outcome, UsageError};
use crate::report::Reporter;
use crate::{anomalies, db, demo, features, migrate, project_id, seed, validate};

/// The tables each command reads or writes; missing ones are an exit-2 error before
/// anything is written.
const ANALYTICS_TABLES: [&str; 4] = ["tests", "bugs", "test_features", "backfill_anomalies"];
const BOOKKEEPING_TABLES: [&str; 3] = ["backfill_anomalies", "backfill_runs", "backfill_journal"];

pub async fn run(cli: Cli) -> Result<Outcome> {
    let global = cli.global;
    let reporter = Reporter::new(global.format);
    if let Command::Demo(args) = &cli.command {
        return demo::run(args, &global, &reporter).await;
    }
    let url = global.database_url().to_string();
    let db = db::connect(&url).await?;
    let outcome = dispatch(cli.command, &db, &url, &global, &reporter).await;
    // Closing checkpoints SQLite's WAL into the database file, so the file alone is
    // complete once the command is done (a copy of it needs no -wal beside it).
    db.close().await.ok();
    outcome
}

async fn dispatch(
    command: Command,
    db: &DatabaseConnection,
    url: &str,
    global: &GlobalOpts,
    reporter: &Reporter,
) -> Result<Outcome> {
    match command {
        Command::Migrate(args) => {
            let (report, outcome) = migrate::run(db, url, &args.action).await?;
            reporter.migrate(&report);
            Ok(outcome)
        }
        Command::Seed(args) => {
            db::require_writable(db).await?;
            let summary = seed::run(db, &args).await?;
            reporter.seed(&summary);
            Ok(Outcome::Passed)
        }
        Command::BackfillFeatures(args) => backfill_features(db, global, &args, reporter).await,
        Command::BackfillProjectId(args) => backfill_project_id(db, global, &args, reporter).await,
        Command::Validate(args) => run_validate(db, &args, reporter).await,
        Command::Anomalies(args) => run_anomalies(db, &args, reporter).await,
        Command::Demo(_) => unreachable!("BUG: demo is dispatched above"),
    }
}

/// Engine settings from the shared run flags.
fn engine_settings(
    global: &GlobalOpts,
    run: &RunOpts,
    batch_size: u64,
    default_sleep: Duration,
) -> EngineSettings {
    EngineSettings {
        batch_size,
        sleep: run.sleep.unwrap_or(default_sleep),
        lock_timeout: run.lock_timeout,
        dry_run: run.dry_run,
        progress: !global.no_progress && !global.quiet && std::io::stderr().is_terminal(),
        attempts: 5,
    }
}

pub async fn backfill_features(
    db: &DatabaseConnection,
    global: &GlobalOpts,
    args: &FeaturesArgs,
    reporter: &Reporter,
) -> Result<Outcome> {
    db::require_tables(db, &ANALYTICS_TABLES).await?;
    db::require_tables(db, &BOOKKEEPING_TABLES).await?;
    if !args.run.dry_run {
        db::require_writable(db).await?;
    }
    install_interrupt_handler();
    let settings = engine_settings(global, &args.run, args.batch_size, Duration::ZERO);
    let arguments = json!({ "batch_size": args.batch_size, "validate": !args.run.no_validate });
    let (summary, outcome) = features::run(
        db,
        settings,
        args.run.resume,
        !args.run.no_validate,
        arguments,
    )
    .await?;
    reporter.features(&summary);
    Ok(outcome)
}

pub async fn backfill_project_id(
    db: &DatabaseConnection,
    global: &GlobalOpts,
    args: &ProjectIdArgs,
    reporter: &Reporter,
) -> Result<Outcome> {
    let tables = project_id::select_tables(&args.tables)?;
    db::require_tables(db, &tables).await?;
    db::require_tables(db, &BOOKKEEPING_TABLES).await?;
    if !args.run.dry_run {
        db::require_writable(db).await?;
    }
    if args.rollback {
        let summary = project_id::rollback(db, args.run_id).await?;
        reporter.rollback(&summary);
        return Ok(Outcome::Passed);
    }
    if args.validate_only {
        let (summary, outcome) =
            project_id::validate_only(db, &tables, args.promote_not_null).await?;
        reporter.project_id(&summary);
        return Ok(outcome);
    }
    install_interrupt_handler();
    let settings = engine_settings(
        global,
        &args.run,
        args.batch_size,
        Duration::from_millis(100),
    );
    let options = project_id::ProjectIdOptions {
        tables: tables.clone(),
        resume: args.run.resume,
        validate: !args.run.no_validate,
        promote_not_null: args.promote_not_null,
    };
    let arguments = json!({ "batch_size": args.batch_size, "tables": tables });
    let (summary, outcome) = project_id::run(db, settings, &options, arguments).await?;
    reporter.project_id(&summary);
    Ok(outcome)
}

pub async fn run_validate(
    db: &DatabaseConnection,
    args: &ValidateArgs,
    reporter: &Reporter,
) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.threshold) {
        anyhow::bail!(UsageError::new(format!(
            "--threshold must be between 0 and 1 (got {})",
            args.threshold
        )));
    }
    db::require_tables(db, &["tests", "bugs", "test_features"]).await?;
    db::require_tables(db, &migration::MEMORY_TABLES).await?;
    let (report, outcome) = validate::run(db, args.threshold, args.by_customer).await?;
    reporter.validate(&report);
    Ok(outcome)
}

async fn run_anomalies(
    db: &DatabaseConnection,
    args: &AnomaliesArgs,
    reporter: &Reporter,
) -> Result<Outcome> {
    db::require_tables(db, &["backfill_anomalies"]).await?;
    match &args.action {
        Some(AnomaliesAction::Resolve { ids }) => {
            let resolved = anomalies::resolve(db, ids).await?;
            reporter.resolved(resolved);
        }
        None => {
            let listed = anomalies::list(
                db,
                args.table.as_deref(),
                args.kind.as_deref(),
                args.all,
                args.limit,
            )
            .await?;
            reporter.anomalies(&listed);
        }
    }
    Ok(Outcome::Passed)
}
