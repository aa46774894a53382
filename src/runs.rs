//! The run ledger: one `backfill_runs` row per run, holding its arguments, status and
//! per-table checkpoints. Checkpoints are written in the same transaction as the batch
//! they describe, so after a crash the ledger and the data agree, and `--resume` picks
//! up exactly where the last committed batch ended. A live run also fences off a second
//! process of the same command.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, Utc};
use entity::backfill_runs::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use crate::engine::{Counters, Deferred, Key};
use crate::error::UsageError;

/// A run whose heartbeat is older than this is taken for dead even if its process
/// cannot be checked (it ran on another host).
const STALE_AFTER_SECS: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    Interrupted,
    RolledBack,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::RolledBack => "rolled_back",
        }
    }
}

/// Where one unit of work (a table, or a phase) stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last key of the last committed batch.
    pub after: Option<Key>,
    /// Ranges that met locks, still owed a later pass.
    #[serde(default)]
    pub deferred: Vec<Deferred>,
    pub done: bool,
    pub counters: Counters,
}

pub type Checkpoints = BTreeMap<String, Checkpoint>;

/// A run in progress, as recorded in `backfill_runs`.
#[derive(Debug)]
pub struct RunLedger {
    pub id: i64,
    /// The arguments the run was started with (a resumed run keeps them).
    pub arguments: serde_json::Value,
    checkpoints: Checkpoints,
}

impl RunLedger {
    /// Records a new run of `command`, refusing while another live run of it exists.
    pub async fn start(
        db: &DatabaseConnection,
        command: &str,
        arguments: serde_json::Value,
    ) -> Result<Self> {
        retire_dead_runs(db, command).await?;
        let now = Utc::now().fixed_offset();
        let model = backfill_runs::ActiveModel {
            command: Set(command.to_string()),
            arguments: Set(arguments.clone()),
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
            anyhow::Error::from(UsageError::new(format!(
                "another `{command}` run started at the same moment ({}): let it finish, then run again",
                crate::db::db_message(&err)
            )))
        })?;
        Ok(Self {
            id: inserted.id,
            arguments,
            checkpoints: Checkpoints::new(),
        })
    }

    /// Takes over the latest unfinished run of `command` (interrupted, failed, or
    /// running in a process that no longer exists) with its checkpoints.
    pub async fn resume(db: &DatabaseConnection, command: &str) -> Result<Self> {
        retire_dead_runs(db, command).await?;
        let run = backfill_runs::Entity::find()
            .filter(Column::Command.eq(command))
            .order_by_desc(Column::Id)
            .one(db)
            .await
            .context("could not read backfill_runs")?;
        let Some(run) = run.filter(|r| {
            r.status == RunStatus::Interrupted.as_str() || r.status == RunStatus::Failed.as_str()
        }) else {
            bail!(UsageError::new(format!(
                "there is no interrupted `{command}` run to resume: run it without --resume (it is safe to run again)"
            )));
        };
        let checkpoints: Checkpoints = serde_json::from_value(run.checkpoints.clone())
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
            .filter(
                Column::Status.is_in([RunStatus::Interrupted.as_str(), RunStatus::Failed.as_str()]),
            )
            .exec(db)
            .await
            .map_err(|err| {
                anyhow::Error::from(UsageError::new(format!(
                    "another `{command}` run is in progress ({}): let it finish first",
                    crate::db::db_message(&err)
                )))
            })?;
        if taken.rows_affected != 1 {
            bail!(UsageError::new(format!(
                "run {} of `{command}` was resumed by another process at the same moment: let it finish",
                run.id
            )));
        }
        Ok(Self {
            id: run.id,
            arguments: run.arguments,
            checkpoints,
        })
    }

    pub fn checkpoint_of(&self, unit: &str) -> Checkpoint {
        self.checkpoints.get(unit).cloned().unwrap_or_default()
    }

    /// Records `checkpoint` for `unit` inside the batch's transaction `txn`.
    pub async fn save(
        &mut self,
        txn: &impl ConnectionTrait,
        unit: &str,
        checkpoint: Checkpoint,
    ) -> Result<(), DbErr> {
        self.checkpoints.insert(unit.to_string(), checkpoint);
        let json =
            serde_json::to_value(&self.checkpoints).map_err(|err| DbErr::Json(err.to_string()))?;
        backfill_runs::Entity::update_many()
            .col_expr(Column::Checkpoints, Expr::value(json))
            .col_expr(Column::HeartbeatAt, Expr::value(Utc::now().fixed_offset()))
            .filter(Column::Id.eq(self.id))
            .exec(txn)
            .await?;
        Ok(())
    }

    /// Closes the run with `status` and its final counters.
    pub async fn finish(
        &self,
        db: &DatabaseConnection,
        status: RunStatus,
        counters: serde_json::Value,
    ) -> Result<()> {
        backfill_runs::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(Column::Counters, Expr::value(counters))
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

/// Marks runs of `command` whose process is gone as interrupted, and refuses when a
/// live one exists.
async fn retire_dead_runs(db: &DatabaseConnection, command: &str) -> Result<()> {
    let running = backfill_runs::Entity::find()
        .filter(Column::Command.eq(command))
        .filter(Column::Status.eq(RunStatus::Running.as_str()))
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
            .filter(Column::Status.eq(RunStatus::Running.as_str()))
            .exec(db)
            .await
            .context("could not update backfill_runs")?;
    }
    Ok(())
}

fn is_alive(host: &str, pid: i32, heartbeat: DateTime<FixedOffset>) -> bool {
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

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
