//! A worker's lease on one range, the store of its walk's checkpoints: the fence every
//! batch's checkpoint passes in the batch's own transaction (the range's epoch, and a
//! lease not run out), the split of the range when an idle worker asked for one,
//! renewal while the walk holds, and release.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use entity::backfill_ranges::{self, Column};
use entity::backfill_samples;
use sea_orm::sea_query::{Expr, ExprTrait, LockType, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter,
};

use super::cut;
use super::history::Sample;
use super::job::Unit;
use super::range_rows::{self, release, to_json};
use super::state::{Checkpoint, CheckpointStore, Saved};
use crate::backend::{Db, Key, KeyKind, db_message};
use crate::ledger::{self, Request, RunStatus};
use crate::notify::{Event, Notifier};
use crate::settings::{self, Setting};

/// How often a worker's lease moves the run's heartbeat (which tells a live run from a
/// dead one), at most.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// What every lease on a run's ranges shares: the database, the run, how long a lease
/// lasts without a commit, and how large a range must still be to be split.
#[derive(Debug, Clone)]
pub struct LeaseTerms {
    pub(super) db: Db,
    pub(super) run_id: i64,
    /// Where the run's holds and goings-on are told.
    pub(super) notifier: Notifier,
    pub(super) lease: Duration,
    /// A range is split only while it still spans about this many rows.
    pub(super) min_split: u64,
}

impl LeaseTerms {
    /// `lease_until` of a lease taken or renewed now.
    pub(super) fn lease_end(&self) -> SimpleExpr {
        let millis = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        self.db.backend().clock_millis().add(millis)
    }
}

/// A worker's lease on one range: the walk's checkpoint store.
pub struct RangeLease {
    terms: LeaseTerms,
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
        terms: LeaseTerms,
        id: i64,
        epoch: i64,
        unit: Unit,
        checkpoint: Checkpoint,
    ) -> Self {
        Self {
            terms,
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
        if let Err(err) = release(&self.terms.db, self.id, self.epoch).await {
            tracing::debug!(
                "could not give range {} back ({}); its lease runs out",
                self.id,
                db_message(&err)
            );
        }
    }

    /// Where to cut what is left of the range in two, if it is still large.
    async fn split_point(
        &self,
        txn: &DatabaseTransaction,
        checkpoint: &Checkpoint,
    ) -> Result<Option<Key>, DbErr> {
        let key = self.unit.key;
        let (after, upto) = (checkpoint.after.as_ref(), checkpoint.upto.as_ref());
        let db = &self.terms.db;
        match key.kind {
            KeyKind::Uuid => {
                let rows = db.backend().row_estimate(db, key.table).await;
                Ok(cut::uuid_midpoint(after, upto, rows, self.terms.min_split))
            }
            KeyKind::Integer => {
                cut::int_midpoint(txn, db.backend(), key, after, upto, self.terms.min_split).await
            }
        }
    }

    /// The fence: this range, under this lease's epoch, with the lease not run out.
    fn fenced<Q: QueryFilter>(&self, query: Q) -> Q {
        query
            .filter(Column::Id.eq(self.id))
            .filter(Column::Epoch.eq(self.epoch))
            .filter(Expr::col(Column::LeaseUntil).gte(self.terms.db.backend().clock_millis()))
    }
}

#[async_trait]
impl CheckpointStore for RangeLease {
    fn run_id(&self) -> i64 {
        self.terms.run_id
    }

    fn checkpoint(&self) -> Checkpoint {
        self.checkpoint.clone()
    }

    async fn save(
        &mut self,
        txn: &DatabaseTransaction,
        mut checkpoint: Checkpoint,
    ) -> Result<Saved, DbErr> {
        // Locks the range for the rest of the batch's transaction, if this worker
        // still holds it: a claim skips it, a split request waits for the commit.
        let held = Query::select()
            .column(Column::SplitWanted)
            .from(backfill_ranges::Entity)
            .and_where(Expr::col(Column::Id).eq(self.id))
            .and_where(Expr::col(Column::Epoch).eq(self.epoch))
            .and_where(Expr::col(Column::LeaseUntil).gte(self.terms.db.backend().clock_millis()))
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
                shard: checkpoint.shard,
                ..Checkpoint::default()
            };
            let bounds = (Some(at.clone()), rest.upto.clone());
            range_rows::insert(txn, self.terms.run_id, &self.unit, bounds, &rest).await?;
            tracing::info!(
                "{}: range {} now ends at {at}; an idle worker takes the rest",
                self.unit.name,
                self.id
            );
            checkpoint.upto = Some(at.clone());
            saved = Saved::Split(at);
        }
        let kept = self
            .fenced(backfill_ranges::Entity::update_many())
            .col_expr(Column::Checkpoint, Expr::value(to_json(&checkpoint)?))
            .col_expr(Column::Done, Expr::value(checkpoint.done))
            .col_expr(
                Column::UpperKey,
                Expr::value(checkpoint.upto.as_ref().map(ToString::to_string)),
            )
            .col_expr(Column::SplitWanted, Expr::value(false))
            .col_expr(Column::LeaseUntil, self.terms.lease_end())
            .exec(txn)
            .await?;
        if kept.rows_affected != 1 {
            return Ok(Saved::LeaseLost);
        }
        self.checkpoint = checkpoint;
        Ok(saved)
    }

    async fn requested(&mut self) -> Result<Request, DbErr> {
        let db = &self.terms.db;
        let beat = self
            .heartbeat
            .is_none_or(|at| at.elapsed() >= HEARTBEAT_EVERY);
        if beat {
            // Best effort, like the status below: on MySQL the run's row is share-locked
            // by every batch that journals (a foreign key), and InnoDB may pick this
            // update as the victim of a deadlock with them.
            if let Err(err) = ledger::heartbeat(db, self.terms.run_id).await {
                tracing::debug!("could not move the heartbeat ({})", db_message(&err));
            }
            self.heartbeat = Some(Instant::now());
        }
        ledger::requested(db, self.terms.run_id).await
    }

    async fn changes_after(&mut self, after: i64) -> Result<Vec<(i64, Setting)>, DbErr> {
        settings::changes_after(&self.terms.db, self.terms.run_id, after).await
    }

    async fn sample(&mut self, unit: &str, sample: Sample) -> Result<(), DbErr> {
        backfill_samples::ActiveModel {
            run_id: Set(self.terms.run_id),
            unit: Set(unit.to_string()),
            at_ms: Set(sample.at_ms),
            span_ms: Set(sample.span_ms as f64),
            rows_walked: Set(sample.rows as f64),
            batches: Set(sample.batches as f64),
            busy_ms: Set(sample.busy_ms as f64),
            batch_size: Set(i64::try_from(sample.batch_size).unwrap_or(i64::MAX)),
            ..Default::default()
        }
        .insert(&self.terms.db)
        .await?;
        Ok(())
    }

    async fn hold(&mut self, held: Option<String>) -> Result<(), DbErr> {
        let event = match &held {
            Some(reason) => Event::Held(reason.clone()),
            None => Event::Resumed,
        };
        let going_on = held.is_none();
        self.checkpoint.progress.held = held;
        // Renewed while the walk holds, which may last longer than the lease.
        self.fenced(backfill_ranges::Entity::update_many())
            .col_expr(Column::Checkpoint, Expr::value(to_json(&self.checkpoint)?))
            .col_expr(Column::LeaseUntil, self.terms.lease_end())
            .exec(&self.terms.db)
            .await?;
        let (from, to) = match going_on {
            false => (RunStatus::Running, RunStatus::Throttled),
            true => (RunStatus::Throttled, RunStatus::Running),
        };
        // Of the run's workers, the one that moves its status tells of it.
        match ledger::move_status(&self.terms.db, self.terms.run_id, from, to).await {
            Ok(true) => self.terms.notifier.tell(&self.terms.db, event).await,
            Ok(false) => {}
            Err(err) => tracing::debug!(
                "could not show the run {} ({})",
                to.as_str(),
                db_message(&err)
            ),
        }
        Ok(())
    }
}
