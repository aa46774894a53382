//! A live run's row between its batches: what is asked of it, its heartbeat, its
//! status as it holds and goes on, and the runs whose process is gone.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use entity::backfill_runs::Column;
use entity::{backfill_ranges, backfill_runs};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::process::is_alive;
use super::{Request, RunStatus};
use crate::error::Unavailable;

/// What is asked of run `id` now, by `runs pause|continue|cancel` from anywhere.
pub async fn requested(db: &impl ConnectionTrait, id: i64) -> Result<Request, DbErr> {
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
pub async fn heartbeat(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    backfill_runs::Entity::update_many()
        .col_expr(Column::HeartbeatAt, Expr::value(Utc::now().fixed_offset()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts run `id` in `to` if it is in `from`: only a running run becomes throttled and
/// back, so a pause or a cancel from another process is never overwritten. Whether
/// this call moved it.
pub async fn move_status(
    db: &impl ConnectionTrait,
    id: i64,
    from: RunStatus,
    to: RunStatus,
) -> Result<bool, DbErr> {
    let moved = backfill_runs::Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

/// Marks runs of `command` whose process is gone as interrupted, and refuses when a
/// live one exists.
pub(super) async fn retire_dead_runs(db: &impl ConnectionTrait, command: &str) -> Result<()> {
    let running = backfill_runs::Entity::find()
        .filter(Column::Command.eq(command))
        .filter(Column::Status.is_in(RunStatus::LIVE))
        .all(db)
        .await
        .context("could not read backfill_runs")?;
    for run in running {
        if is_alive(&run.host, run.pid, run.heartbeat_at) {
            bail!(Unavailable::new(format!(
                "run {id} of `{command}` is still in progress (pid {} on {}): wait for it to finish, or add workers with `backfill work --run {id}`",
                run.pid,
                run.host,
                id = run.id,
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

/// The latest run of `command` that stopped early and still owes work: interrupted or
/// cancelled, or failed with a range not done. Such a run is resumed or abandoned,
/// never silently left behind by a new run.
pub(super) async fn unfinished(
    db: &impl ConnectionTrait,
    command: &str,
) -> Result<Option<backfill_runs::Model>> {
    let stopped = backfill_runs::Entity::find()
        .filter(Column::Command.eq(command))
        .filter(Column::Status.is_in(RunStatus::RESUMABLE))
        .order_by_desc(Column::Id)
        .all(db)
        .await
        .context("could not read backfill_runs")?;
    for run in stopped {
        if run.status != RunStatus::Failed.as_str() || has_work_left(db, run.id).await? {
            return Ok(Some(run));
        }
    }
    Ok(None)
}

/// The rows run `id`'s ranges have gone through so far, as their checkpoints count them.
pub async fn rows_done(db: &impl ConnectionTrait, id: i64) -> Result<u64, DbErr> {
    use backfill_ranges::Column as Range;
    let ranges = backfill_ranges::Entity::find()
        .filter(Range::RunId.eq(id))
        .all(db)
        .await?;
    Ok(ranges
        .iter()
        .filter_map(|range| range.checkpoint["counters"]["processed"].as_u64())
        .sum())
}

/// Whether run `id` has a range not done (or none cut yet).
async fn has_work_left(db: &impl ConnectionTrait, id: i64) -> Result<bool> {
    use backfill_ranges::Column as Range;
    let ranges = backfill_ranges::Entity::find()
        .filter(Range::RunId.eq(id))
        .all(db)
        .await
        .context("could not read backfill_ranges")?;
    Ok(ranges.is_empty() || ranges.iter().any(|range| !range.done))
}
