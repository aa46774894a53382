//! The two backfills and `work`: the pace flags resolved into [`EngineSettings`], the
//! run flags into each job's settings, and `--rollback` to the job's undo.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::NO_SUMMARY;
use crate::backend::Db;
use crate::cli::{FeaturesArgs, GlobalOpts, PaceOpts, ProjectIdArgs, RunOpts, WorkArgs};
use crate::engine::{
    Cancel, EngineSettings, HealthLimits, ProgressBoard, ProgressDisplay, RetryPolicy,
};
use crate::error::{Outcome, UsageError};
use crate::jobs::features::{self, FeaturesSettings};
use crate::jobs::project_id::{self, ProjectIdSettings};
use crate::jobs::run::{self, Run};
use crate::ledger::Resume;
use crate::metrics::Metrics;
use crate::notify::Targets;
use crate::report::Reporter;
use crate::{backend, validate};

/// The pause between batches of `backfill-project-id` when `--sleep` is not given
/// (`backfill-features` has none).
const PROJECT_ID_SLEEP: Duration = Duration::from_millis(100);

/// Engine settings from the pace flags; connects to the replicas to watch and starts
/// the metrics server when asked.
async fn engine_settings(
    db: &Db,
    global: &GlobalOpts,
    pace: &PaceOpts,
    dry_run: bool,
    batch_size: u64,
    default_sleep: Duration,
) -> Result<EngineSettings> {
    let replica_urls: Vec<_> = pace
        .replica_urls
        .iter()
        .map(backend::DatabaseUrl::new)
        .collect();
    let replicas = backend::connect_replicas(db, &replica_urls).await?;
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
        replicas,
        metrics,
        window: pace.window.clone(),
        notify: Targets::default(),
    })
}

/// Engine settings of a backfill: its pace flags, and where its status changes are
/// told.
async fn run_engine_settings(
    db: &Db,
    global: &GlobalOpts,
    run: &RunOpts,
    batch_size: u64,
    default_sleep: Duration,
) -> Result<EngineSettings> {
    let engine = engine_settings(
        db,
        global,
        &run.pace,
        run.dry_run,
        batch_size,
        default_sleep,
    )
    .await?;
    Ok(EngineSettings {
        notify: Targets {
            urls: run.notify.clone(),
            console: run.console_url.clone(),
        },
        ..engine
    })
}

pub(super) async fn backfill_features(
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
        engine: run_engine_settings(db, global, &args.run, args.batch_size, Duration::ZERO).await?,
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

pub(super) async fn backfill_project_id(
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
        engine: run_engine_settings(db, global, &args.run, args.batch_size, PROJECT_ID_SLEEP)
            .await?,
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

/// `work --run ID`: this process's workers join a run started anywhere, until no range
/// of it is left.
pub(super) async fn work(
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
    let engine = engine_settings(db, global, &args.pace, false, 1, default_sleep).await?;
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
