//! A worker's lease on one range, the store of its walk's checkpoints: the fence every
//! batch's checkpoint passes in the batch's own transaction (the range's epoch, and a
//! lease not run out), the split of the range when an idle worker asked for one,
//! renewal while the walk holds, and release.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use entity::backfill_ranges::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
};

use super::cut;
use super::ranges::{RangeQueue, Unit, release, to_json};
use super::state::{Checkpoint, CheckpointStore, Request, Saved};
use super::walk::{Key, KeyKind};
use crate::backend;
use crate::ledger::{self, RunStatus};

/// How often a worker's lease moves the run's heartbeat (which tells a live run from a
/// dead one), at most.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// A worker's lease on one range: the walk's checkpoint store.
pub struct RangeLease {
    queue: RangeQueue,
    id: i64,
    /// The epoch it was claimed under: its writes commit only while the range has it.
    epoch: i64,
    pub unit: Unit,
    /// The last checkpoint saved.
    checkpoint: Checkpoint,
    heartbeat: Option<Instant>,
}

impl RangeLease {
    pub(super) fn new(
        queue: RangeQueue,
        id: i64,
        epoch: i64,
        unit: Unit,
        checkpoint: Checkpoint,
    ) -> Self {
        Self {
            queue,
            id,
            epoch,
            unit,
            checkpoint,
            heartbeat: None,
        }
    }

    /// Gives the range back (after Ctrl-C, a cancel or a failure), so another worker
    /// can take it at once rather than after the lease. Best effort: the lease runs
    /// out anyway.
    pub async fn release(&self) {
        if let Err(err) = release(&self.queue.db, self.id, self.epoch).await {
            tracing::debug!(
                "could not give range {} back ({}); its lease runs out",
                self.id,
                backend::db_message(&err)
            );
        }
    }

    /// Where to cut what is left of the range in two, if it is still large.
    async fn split_point(
        &self,
        txn: &DatabaseTransaction,
        checkpoint: &Checkpoint,
    ) -> Result<Option<Key>, DbErr> {
        let walk = self.unit.walk;
        let (after, upto) = (checkpoint.after.as_ref(), checkpoint.upto.as_ref());
        match walk.kind {
            KeyKind::Uuid => {
                let rows = backend::of(txn)
                    .row_estimate(&self.queue.db, walk.table)
                    .await;
                Ok(cut::uuid_midpoint(after, upto, rows, self.queue.min_split))
            }
            KeyKind::Integer => {
                cut::int_midpoint(txn, walk, after, upto, self.queue.min_split).await
            }
        }
    }
}

#[async_trait]
impl CheckpointStore for RangeLease {
    fn run_id(&self) -> i64 {
        self.queue.run_id
    }

    fn checkpoint(&self) -> Checkpoint {
        self.checkpoint.clone()
    }

    async fn save(
        &mut self,
        txn: &DatabaseTransaction,
        mut checkpoint: Checkpoint,
    ) -> Result<Saved, DbErr> {
        let backend = backend::of(txn);
        // Locks the range for the rest of the batch's transaction, if this worker
        // still holds it: a claim skips it, a split request waits for the commit.
        let held = Query::select()
            .column(Column::SplitWanted)
            .from(backfill_ranges::Entity)
            .and_where(Expr::col(Column::Id).eq(self.id))
            .and_where(Expr::col(Column::Epoch).eq(self.epoch))
            .and_where(Expr::col(Column::LeaseUntil).gte(backend.clock_millis()))
            .lock(LockType::Update)
            .to_owned();
        let Some(row) = txn.query_one(&held).await? else {
            return Ok(Saved::LeaseLost);
        };
        let split_wanted: bool = row.try_get_by_index(0)?;
        let mut saved = Saved::Kept;
        if split_wanted
            && !checkpoint.done
            && let Some(at) = self.split_point(txn, &checkpoint).await?
        {
            let rest = Checkpoint {
                after: Some(at.clone()),
                upto: checkpoint.upto.clone(),
                ..Checkpoint::default()
            };
            self.queue
                .insert(
                    txn,
                    self.unit.name,
                    self.unit.phase,
                    Some(at.clone()),
                    rest.upto.clone(),
                    &rest,
                )
                .await?;
            tracing::info!(
                "{}: range {} now ends at {at}; an idle worker takes the rest",
                self.unit.name,
                self.id
            );
            checkpoint.upto = Some(at.clone());
            saved = Saved::Split(at);
        }
        // The fence: the same epoch, and a lease that has not run out.
        let kept = backfill_ranges::Entity::update_many()
            .col_expr(Column::Checkpoint, Expr::value(to_json(&checkpoint)?))
            .col_expr(Column::Done, Expr::value(checkpoint.done))
            .col_expr(
                Column::UpperKey,
                Expr::value(checkpoint.upto.as_ref().map(ToString::to_string)),
            )
            .col_expr(Column::SplitWanted, Expr::value(false))
            .col_expr(Column::LeaseUntil, self.queue.lease_end(backend))
            .filter(Column::Id.eq(self.id))
            .filter(Column::Epoch.eq(self.epoch))
            .filter(Expr::col(Column::LeaseUntil).gte(backend.clock_millis()))
            .exec(txn)
            .await?;
        if kept.rows_affected != 1 {
            return Ok(Saved::LeaseLost);
        }
        self.checkpoint = checkpoint;
        Ok(saved)
    }

    async fn requested(&mut self, db: &DatabaseConnection) -> Result<Request, DbErr> {
        let beat = self
            .heartbeat
            .is_none_or(|at| at.elapsed() >= HEARTBEAT_EVERY);
        if beat {
            // Best effort, like the status below: on MySQL the run's row is share-locked
            // by every batch that journals (a foreign key), and InnoDB may pick this
            // update as the victim of a deadlock with them.
            if let Err(err) = ledger::heartbeat(db, self.queue.run_id).await {
                tracing::debug!(
                    "could not move the heartbeat ({})",
                    backend::db_message(&err)
                );
            }
            self.heartbeat = Some(Instant::now());
        }
        ledger::requested(db, self.queue.run_id).await
    }

    async fn hold(&mut self, db: &DatabaseConnection, held: Option<String>) -> Result<(), DbErr> {
        let backend = backend::of(db);
        let going_on = held.is_none();
        self.checkpoint.progress.held = held;
        // Renewed while the walk holds, which may last longer than the lease.
        backfill_ranges::Entity::update_many()
            .col_expr(Column::Checkpoint, Expr::value(to_json(&self.checkpoint)?))
            .col_expr(Column::LeaseUntil, self.queue.lease_end(backend))
            .filter(Column::Id.eq(self.id))
            .filter(Column::Epoch.eq(self.epoch))
            .filter(Expr::col(Column::LeaseUntil).gte(backend.clock_millis()))
            .exec(db)
            .await?;
        let (from, to) = match going_on {
            false => (RunStatus::Running, RunStatus::Throttled),
            true => (RunStatus::Throttled, RunStatus::Running),
        };
        if let Err(err) = ledger::move_status(db, self.queue.run_id, from, to).await {
            tracing::debug!(
                "could not show the run {} ({})",
                to.as_str(),
                backend::db_message(&err)
            );
        }
        Ok(())
    }
}
