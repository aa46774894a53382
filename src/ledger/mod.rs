//! The run ledger: one `backfill_runs` row per run, holding its settings and status;
//! its checkpoints are those of its ranges (`backfill_ranges`, kept by the engine),
//! written in the same transaction as the batch they describe, so after a crash the
//! ledger and the data agree and `--resume` picks up exactly where the last committed
//! batches ended. A live run fences off a second run of the same command; `work --run
//! ID` joins one. The ledger knows nothing of the engine: the engine reads and moves a
//! live run's row through `live`.
//!
//! | module | owns |
//! |---|---|
//! | `status` | `RunStatus` and `Request` |
//! | `live` | a live run's row between batches: requests, heartbeat, holds, dead runs |
//! | `process` | which process works a run, and whether it is still there |

mod live;
mod process;
mod status;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, Utc};
use entity::backfill_runs::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Db, db_message};
use crate::error::{Unavailable, UsageError};

pub use live::{heartbeat, move_status, requested, rows_done};
pub use process::{host_name, is_alive, is_gone};
pub use status::{Request, Resume, RunStatus};

use live::{retire_dead_runs, unfinished};

/// A run in progress, as recorded in `backfill_runs`.
#[derive(Debug)]
pub struct RunLedger {
    pub id: i64,
    /// The settings the run was started with, as stored (a resumed run keeps them).
    settings: serde_json::Value,
    /// What a run recorded before ranges existed had checkpointed per table
    /// (`backfill_runs.checkpoints`); resumed from.
    legacy: serde_json::Value,
    /// Joined from another process: the process that started the run cuts its ranges.
    joined: bool,
}

impl RunLedger {
    /// The ledger of a run of `command`: none in a dry run (nothing is recorded), the
    /// stopped run `resume` names, else a new run recording `settings`.
    pub async fn open(
        db: &Db,
        command: &str,
        settings: &impl Serialize,
        dry_run: bool,
        resume: Option<Resume>,
    ) -> Result<Option<Self>> {
        Ok(match (dry_run, resume) {
            (true, _) => None,
            (false, Some(resume)) => Some(Self::resume(db, command, resume).await?),
            (false, None) => Some(Self::start(db, command, settings).await?),
        })
    }

    /// Records a new run of `command`, refusing while another live run of it exists
    /// (exit 75) or a stopped one still owes work (exit 2, naming both ways on).
    async fn start(db: &Db, command: &str, settings: &impl Serialize) -> Result<Self> {
        retire_dead_runs(db, command).await?;
        if let Some(stopped) = unfinished(db, command).await? {
            bail!(UsageError::new(format!(
                "run {id} of `{command}` is {status} with work left: continue it with `backfill {command} --resume --run {id}`, or give it up with `backfill runs abandon {id}` (its journal stays, so `--rollback --run {id}` still undoes it)",
                id = stopped.id,
                status = stopped.status,
            )));
        }
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
            Unavailable::new(format!(
                "another `{command}` run started at the same moment ({}): let it finish, then run again",
                db_message(&err)
            ))
        })?;
        Ok(Self {
            id: inserted.id,
            settings,
            legacy: serde_json::Value::Null,
            joined: false,
        })
    }

    /// Takes over a stopped run of `command` (interrupted, cancelled, failed, or
    /// running in a process that no longer exists) with its checkpoints: the one
    /// `resume` names, or the latest.
    async fn resume(db: &Db, command: &str, resume: Resume) -> Result<Self> {
        retire_dead_runs(db, command).await?;
        let run = match resume {
            Resume::Run(id) => {
                let run = find(db, id).await?;
                if run.command != command {
                    bail!(UsageError::new(format!(
                        "run {id} is a `{}` run, not a `{command}` run: nothing was changed",
                        run.command
                    )));
                }
                if RunStatus::LIVE.contains(&run.status.as_str()) {
                    bail!(taken_meanwhile(command, id));
                }
                if !run.status.parse().is_ok_and(RunStatus::is_resumable) {
                    bail!(UsageError::new(format!(
                        "run {id} is {}, so there is nothing to resume: only an interrupted, cancelled or failed run can be",
                        run.status
                    )));
                }
                run
            }
            Resume::Latest => match unfinished(db, command).await? {
                Some(run) => run,
                None => {
                    // Another process may have resumed the run between the two reads:
                    // that one is refused as busy, not as missing.
                    retire_dead_runs(db, command).await?;
                    bail!(UsageError::new(format!(
                        "there is no stopped `{command}` run to resume: run it without --resume (it is safe to run again)"
                    )))
                }
            },
        };
        let legacy = run.checkpoints.clone();
        let now = Utc::now().fixed_offset();
        // Taken over only while still stopped: of two processes resuming the same run
        // at once, one gets it and the other is refused.
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
            .filter(Column::Status.is_in(RunStatus::RESUMABLE))
            .exec(db)
            .await
            .map_err(|err| {
                Unavailable::new(format!(
                    "another `{command}` run is in progress ({}): let it finish first",
                    db_message(&err)
                ))
            })?;
        if taken.rows_affected != 1 {
            bail!(taken_meanwhile(command, run.id));
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
    pub async fn join(db: &Db, id: i64) -> Result<Option<(String, Self)>> {
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
            legacy: serde_json::Value::Null,
            joined: true,
        };
        Ok(Some((run.command, ledger)))
    }

    /// Whether this process joined the run (`work --run ID`) rather than started or
    /// resumed it: the process that started it cuts its ranges.
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// The per-table checkpoints a run recorded before ranges existed kept.
    pub fn legacy_checkpoints<T: DeserializeOwned + Default>(&self) -> Result<T> {
        if self.legacy.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.legacy.clone())
            .with_context(|| format!("run {} has unreadable checkpoints", self.id))
    }

    /// The run's record as stored: its settings, the values of those it may change
    /// when it started, its `--notify` URLs.
    pub fn recorded(&self) -> &serde_json::Value {
        &self.settings
    }

    /// The settings the run was started with.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.settings.clone())
            .with_context(|| format!("run {} does not record its settings", self.id))
    }

    /// Records that the run stopped early with `status` (interrupted or failed), for
    /// `--resume`; whether it did. Best effort: the reason it stopped is what to
    /// report. A run stopped by `runs cancel` stays cancelled.
    pub async fn stopped(&self, db: &Db, status: RunStatus) -> bool {
        backfill_runs::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(
                Column::FinishedAt,
                Expr::value(Some(Utc::now().fixed_offset())),
            )
            .filter(Column::Id.eq(self.id))
            .filter(Column::Status.ne(RunStatus::Cancelled.as_str()))
            .exec(db)
            .await
            .is_ok_and(|moved| moved.rows_affected == 1)
    }

    /// Closes the run with `status` and its final summary.
    pub async fn finish(&self, db: &Db, status: RunStatus, summary: &impl Serialize) -> Result<()> {
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

/// Run `id` of `command` turned live between reading and taking it: another process
/// resumed it at the same moment (exit 75).
fn taken_meanwhile(command: &str, id: i64) -> Unavailable {
    Unavailable::new(format!(
        "run {id} of `{command}` was resumed by another process at the same moment: let it finish"
    ))
}

/// Run `id`, or the sentence saying there is none.
pub async fn find(db: &Db, id: i64) -> Result<backfill_runs::Model> {
    let run = backfill_runs::Entity::find_by_id(id)
        .one(db)
        .await
        .context("could not read backfill_runs")?;
    match run {
        Some(run) => Ok(run),
        None => bail!(UsageError::new(format!("there is no run {id}"))),
    }
}
