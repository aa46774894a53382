//! The run ledger: one `backfill_runs` row per run, holding its settings and status;
//! its checkpoints are those of its ranges (`backfill_ranges`, see
//! `engine::ranges`), written in the same transaction as the batch they describe, so
//! after a crash the ledger and the data agree and `--resume` picks up exactly where
//! the last committed batches ended. A live run fences off a second run of the same
//! command; `work --run ID` joins one.

use std::collections::BTreeMap;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, Utc};
use entity::backfill_runs::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::db_message;
use crate::engine::{Checkpoint, EngineSettings, RangeQueue, Request, Unit};
use crate::error::{UsageError, is_interruption};

/// A run whose heartbeat is older than this is taken for dead even if its process
/// cannot be checked (it ran on another host).
const STALE_AFTER_SECS: i64 = 600;

/// Where a run stands, as `backfill_runs.status` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    /// Asked to wait by `runs pause`.
    Paused,
    /// Holding while the database is unhealthy.
    Throttled,
    Interrupted,
    /// Stopped by `runs cancel`; resumable.
    Cancelled,
    Failed,
    Done,
    RolledBack,
}

impl RunStatus {
    pub const ALL: [RunStatus; 8] = [
        Self::Running,
        Self::Paused,
        Self::Throttled,
        Self::Interrupted,
        Self::Cancelled,
        Self::Failed,
        Self::Done,
        Self::RolledBack,
    ];

    /// The states of a run whose process is at work (or waiting at a batch's end).
    pub const LIVE: [&'static str; 3] = ["running", "paused", "throttled"];

    /// The states of a run that has nothing left to do (`completed`: `done` as runs
    /// recorded before it spelled it).
    pub const FINISHED: [&'static str; 3] = ["done", "completed", "rolled_back"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Throttled => "throttled",
            Self::Interrupted => "interrupted",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Done => "done",
            Self::RolledBack => "rolled_back",
        }
    }

    /// Whether a run in this state can be continued with `--resume`.
    fn is_resumable(self) -> bool {
        matches!(self, Self::Interrupted | Self::Cancelled | Self::Failed)
    }
}

impl FromStr for RunStatus {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        // Runs recorded before `done` was the word for it.
        if text == "completed" {
            return Ok(Self::Done);
        }
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UsageError::new(format!("`{text}` is not a run status")))
    }
}

/// Per-table checkpoints, as runs recorded before ranges kept them in
/// `backfill_runs.checkpoints`.
pub type Checkpoints = BTreeMap<String, Checkpoint>;

/// A run in progress, as recorded in `backfill_runs`.
#[derive(Debug)]
pub struct RunLedger {
    pub id: i64,
    /// The settings the run was started with, as stored (a resumed run keeps them).
    settings: serde_json::Value,
    /// What a run recorded before ranges existed had checkpointed; resumed from.
    legacy: Checkpoints,
    /// Joined from another process: the process that started the run cuts its ranges.
    joined: bool,
}

impl RunLedger {
    /// The ledger of a run of `command`: none in a dry run (nothing is recorded), the
    /// latest unfinished run when resuming, else a new run recording `settings`.
    pub async fn open(
        db: &DatabaseConnection,
        command: &str,
        settings: &impl Serialize,
        dry_run: bool,
        resume: bool,
    ) -> Result<Option<Self>> {
        Ok(match (dry_run, resume) {
            (true, _) => None,
            (false, true) => Some(Self::resume(db, command).await?),
            (false, false) => Some(Self::start(db, command, settings).await?),
        })
    }

    /// Records a new run of `command`, refusing while another live run of it exists.
    async fn start(
        db: &DatabaseConnection,
        command: &str,
        settings: &impl Serialize,
    ) -> Result<Self> {
        retire_dead_runs(db, command).await?;
        let settings = serde_json::to_value(settings)?;
        let now = Utc::now().fixed_offset();
        let model = backfill_runs::ActiveModel {
            command: Set(command.to_string()),
            arguments: Set(settings.clone()),
            status: Set(RunStatus::Running.as_str().to_string()),
            started_at: Set(now),
            finished_at: Set(None),
            heartbeat_at: Set(now),
            pid: Set(std::process::id() as i32),
            host: Set(host_name()),
            counters: Set(serde_json::json!({})),
            checkpoints: Set(serde_json::json!({})),
            ..Default::default()
        };
        let inserted = model.insert(db).await.map_err(|err| {
            // The partial unique index on running runs closes the race between two
            // processes that both found no live run.
            UsageError::new(format!(
                "another `{command}` run started at the same moment ({}): let it finish, then run again",
                db_message(&err)
            ))
        })?;
        Ok(Self {
            id: inserted.id,
            settings,
            legacy: Checkpoints::new(),
            joined: false,
        })
    }

    /// Takes over the latest unfinished run of `command` (interrupted, failed, or
    /// running in a process that no longer exists) with its checkpoints.
    async fn resume(db: &DatabaseConnection, command: &str) -> Result<Self> {
        retire_dead_runs(db, command).await?;
        let run = backfill_runs::Entity::find()
            .filter(Column::Command.eq(command))
            .order_by_desc(Column::Id)
            .one(db)
            .await
            .context("could not read backfill_runs")?;
        let Some(run) = run.filter(|r| r.status.parse().is_ok_and(RunStatus::is_resumable)) else {
            bail!(UsageError::new(format!(
                "there is no interrupted `{command}` run to resume: run it without --resume (it is safe to run again)"
            )));
        };
        let legacy: Checkpoints = serde_json::from_value(run.checkpoints.clone())
            .with_context(|| format!("run {} has unreadable checkpoints", run.id))?;
        let now = Utc::now().fixed_offset();
        // Taken over only while still unfinished: of two processes resuming the same
        // run at once, one gets it and the other is refused.
        let taken = backfill_runs::Entity::update_many()
            .col_expr(Column::Status, Expr::value(RunStatus::Running.as_str()))
            .col_expr(Column::Pid, Expr::value(std::process::id() as i32))
            .col_expr(Column::Host, Expr::value(host_name()))
            .col_expr(Column::HeartbeatAt, Expr::value(now))
            .col_expr(
                Column::FinishedAt,
                Expr::value(Option::<DateTime<FixedOffset>>::None),
            )
            .filter(Column::Id.eq(run.id))
            .filter(Column::Status.is_in([
                RunStatus::Interrupted.as_str(),
                RunStatus::Cancelled.as_str(),
                RunStatus::Failed.as_str(),
            ]))
            .exec(db)
            .await
            .map_err(|err| {
                UsageError::new(format!(
                    "another `{command}` run is in progress ({}): let it finish first",
                    db_message(&err)
                ))
            })?;
        if taken.rows_affected != 1 {
            bail!(UsageError::new(format!(
                "run {} of `{command}` was resumed by another process at the same moment: let it finish",
                run.id
            )));
        }
        Ok(Self {
            id: run.id,
            settings: run.arguments,
            legacy,
            joined: false,
        })
    }

    /// Joins live run `id` of `command` from another process (`work --run ID`); `None`
    /// when it is done and nothing is left to join.
    pub async fn join(db: &DatabaseConnection, id: i64) -> Result<Option<(String, Self)>> {
        let run = find(db, id).await?;
        if RunStatus::FINISHED.contains(&run.status.as_str()) {
            return Ok(None);
        }
        if !RunStatus::LIVE.contains(&run.status.as_str()) {
            bail!(UsageError::new(format!(
                "run {id} is {}: continue it with `backfill {} --resume`, then join it",
                run.status, run.command
            )));
        }
        let ledger = Self {
            id: run.id,
            settings: run.arguments,
            legacy: Checkpoints::new(),
            joined: true,
        };
        Ok(Some((run.command, ledger)))
    }

    /// The run's ranges for the workers of this process, cut for `units` first by the
    /// process that started or resumed the run, if they are not yet.
    pub async fn ranges(
        &self,
        db: &DatabaseConnection,
        engine: &EngineSettings,
        units: &[Unit],
    ) -> Result<RangeQueue> {
        let queue = RangeQueue::new(db, self.id, engine);
        // A range per worker of each table: every range started costs a read that
        // overlaps nothing; workers that finish early split the ranges still large.
        let pieces = u64::from(engine.workers);
        if !self.joined {
            queue
                .ensure_cut(units, pieces, &self.legacy)
                .await
                .with_context(|| format!("could not cut run {} into ranges", self.id))?;
        }
        queue
            .release_dead()
            .await
            .with_context(|| format!("could not read the ranges of run {}", self.id))?;
        Ok(queue)
    }

    /// The settings the run was started with.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.settings.clone())
            .with_context(|| format!("run {} does not record its settings", self.id))
    }

    /// Closes the run with `status` and its final summary.
    pub async fn finish(
        &self,
        db: &DatabaseConnection,
        status: RunStatus,
        summary: &impl Serialize,
    ) -> Result<()> {
        backfill_runs::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(
                Column::Counters,
                Expr::value(serde_json::to_value(summary)?),
            )
            .col_expr(
                Column::FinishedAt,
                Expr::value(Some(Utc::now().fixed_offset())),
            )
            .filter(Column::Id.eq(self.id))
            .exec(db)
            .await
            .with_context(|| format!("could not record the end of run {}", self.id))?;
        Ok(())
    }
}

/// What a run's walk ended with, recorded: on an error the run is closed as
/// interrupted or failed (so `--resume` finds it) and the error is returned.
pub async fn settle<T>(
    db: &DatabaseConnection,
    ledger: Option<&RunLedger>,
    walked: Result<T>,
) -> Result<T> {
    let err = match walked {
        Ok(done) => return Ok(done),
        Err(err) => err,
    };
    if let Some(ledger) = ledger {
        let status = if is_interruption(&err) {
            RunStatus::Interrupted
        } else {
            RunStatus::Failed
        };
        // Best effort: the error that stopped the run is the one to report. A run
        // stopped by `runs cancel` stays cancelled.
        let _ = backfill_runs::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(
                Column::FinishedAt,
                Expr::value(Some(Utc::now().fixed_offset())),
            )
            .filter(Column::Id.eq(ledger.id))
            .filter(Column::Status.ne(RunStatus::Cancelled.as_str()))
            .exec(db)
            .await;
    }
    Err(err)
}

/// Run `id`, or the sentence saying there is none.
pub async fn find(db: &DatabaseConnection, id: i64) -> Result<backfill_runs::Model> {
    let run = backfill_runs::Entity::find_by_id(id)
        .one(db)
        .await
        .context("could not read backfill_runs")?;
    match run {
        Some(run) => Ok(run),
        None => bail!(UsageError::new(format!("there is no run {id}"))),
    }
}

/// What is asked of run `id` now, by `runs pause|continue|cancel` from anywhere.
pub async fn requested(db: &DatabaseConnection, id: i64) -> Result<Request, DbErr> {
    let status = backfill_runs::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|run| run.status);
    Ok(match status.as_deref().map(str::parse) {
        Some(Ok(RunStatus::Paused)) => Request::Pause,
        Some(Ok(RunStatus::Cancelled)) => Request::Cancel,
        _ => Request::Go,
    })
}

/// Moves run `id`'s heartbeat: it is alive.
pub async fn heartbeat(db: &DatabaseConnection, id: i64) -> Result<(), DbErr> {
    backfill_runs::Entity::update_many()
        .col_expr(Column::HeartbeatAt, Expr::value(Utc::now().fixed_offset()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts run `id` in `to` if it is in `from`: only a running run becomes throttled and
/// back, so a pause or a cancel from another process is never overwritten.
pub async fn move_status(
    db: &DatabaseConnection,
    id: i64,
    from: RunStatus,
    to: RunStatus,
) -> Result<(), DbErr> {
    backfill_runs::Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks runs of `command` whose process is gone as interrupted, and refuses when a
/// live one exists.
async fn retire_dead_runs(db: &DatabaseConnection, command: &str) -> Result<()> {
    let running = backfill_runs::Entity::find()
        .filter(Column::Command.eq(command))
        .filter(Column::Status.is_in(RunStatus::LIVE))
        .all(db)
        .await
        .context("could not read backfill_runs")?;
    for run in running {
        if is_alive(&run.host, run.pid, run.heartbeat_at) {
            bail!(UsageError::new(format!(
                "run {} of `{command}` is still in progress (pid {} on {}): wait for it to finish",
                run.id, run.pid, run.host
            )));
        }
        backfill_runs::Entity::update_many()
            .col_expr(Column::Status, Expr::value(RunStatus::Interrupted.as_str()))
            .filter(Column::Id.eq(run.id))
            .filter(Column::Status.is_in(RunStatus::LIVE))
            .exec(db)
            .await
            .context("could not update backfill_runs")?;
    }
    Ok(())
}

pub(crate) fn is_alive(host: &str, pid: i32, heartbeat: DateTime<FixedOffset>) -> bool {
    let age = Utc::now().signed_duration_since(heartbeat).num_seconds();
    if age > STALE_AFTER_SECS {
        return false;
    }
    if host == host_name() {
        return pid as u32 != std::process::id()
            && std::path::Path::new(&format!("/proc/{pid}")).exists();
    }
    true
}

/// Whether process `pid` of `host` is known to be gone: it ran on this host and is
/// no longer there.
pub(crate) fn is_gone(host: &str, pid: i32) -> bool {
    host == host_name()
        && pid as u32 != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
        }
        assert!("finished".parse::<RunStatus>().is_err());
        assert!(RunStatus::Interrupted.is_resumable());
        assert!(!RunStatus::Done.is_resumable());
        assert!(RunStatus::Cancelled.is_resumable());
        assert_eq!("completed".parse::<RunStatus>().unwrap(), RunStatus::Done);
    }
}
