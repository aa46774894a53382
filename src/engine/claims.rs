//! A run's key ranges as its workers claim them (SPEC §5.9): recording a run's first
//! ranges (where to cut them is `cut`'s), claiming one (`FOR UPDATE SKIP LOCKED`, under
//! a lease on the database's clock), asking busy workers to split theirs, freeing those
//! of dead processes, and the totals of every range. What a worker does with the range
//! it holds is `lease`'s.

use std::collections::BTreeMap;
use std::time::Duration;

use entity::backfill_ranges::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::EngineSettings;
use super::counters::{Counters, RangeTally};
use super::cut::{self, Bound};
use super::job::Unit;
use super::lease::{LeaseTerms, RangeLease};
use super::range_rows::{self, from_json, parse_bound, parse_owner, release};
use super::state::Checkpoint;
use crate::backend::Db;
use crate::ledger;
use crate::notify::Notifier;

/// The ranges of one run, as its workers claim them.
#[derive(Debug, Clone)]
pub struct RangeQueue {
    terms: LeaseTerms,
    lock_timeout: Duration,
}

/// What a worker finds when it looks for work.
pub enum Claim {
    /// A range, leased to it.
    Range(Box<RangeLease>),
    /// Nothing to claim now: the ranges of the earliest unfinished phase are held by
    /// other workers (or not cut yet); `unfinished` ranges of the run are left in all.
    Wait { phase: Option<i32>, unfinished: u64 },
    /// Every range of the run is done.
    Finished,
}

impl RangeQueue {
    /// The ranges of run `run_id`, leased and split as `engine` says; its holds are
    /// told to `notifier`.
    pub fn new(db: &Db, run_id: i64, engine: &EngineSettings, notifier: Notifier) -> Self {
        Self {
            terms: LeaseTerms {
                db: db.clone(),
                run_id,
                notifier,
                lease: engine.lease,
                min_split: Ord::max(engine.batch_size.saturating_mul(2), 2),
            },
            lock_timeout: engine.lock_timeout,
        }
    }

    pub fn run_id(&self) -> i64 {
        self.terms.run_id
    }

    fn db(&self) -> &Db {
        &self.terms.db
    }

    /// Cuts every unit into ranges of about the same size, `pieces` each (see `cut`),
    /// unless the run has its ranges already. A unit with a checkpoint of its own (a
    /// run recorded before ranges existed, in `legacy`) goes on from it in one range.
    pub async fn ensure_cut(
        &self,
        units: &[Unit],
        pieces: u64,
        legacy: &BTreeMap<String, Checkpoint>,
    ) -> Result<(), DbErr> {
        if self.is_cut().await? {
            return Ok(());
        }
        // Each unit's ranges, as (bounds, checkpoint).
        let mut cuts = Vec::new();
        for unit in units {
            let ranges = match legacy.get(unit.name) {
                Some(checkpoint) => vec![((None, None), checkpoint.clone())],
                None => self.cut(unit, pieces).await?,
            };
            cuts.push((unit, ranges.into_iter()));
        }
        // Recorded in turns, a range of each unit at a time: claims go in id order, so
        // workers of one phase start on different tables, rather than all on one
        // table, where their updates would contend for its pages.
        let txn = self.db().begin().await?;
        loop {
            let mut recorded = false;
            for (unit, ranges) in &mut cuts {
                if let Some((bounds, checkpoint)) = ranges.next() {
                    range_rows::insert(&txn, self.run_id(), unit, bounds, &checkpoint).await?;
                    recorded = true;
                }
            }
            if !recorded {
                break;
            }
        }
        txn.commit().await
    }

    /// `unit`'s ranges, as (bounds, checkpoint): a shard each where the cluster spreads
    /// its table by its key, so that workers on different shards never wait on each
    /// other's shard locks; else `pieces` ranges of about the same size.
    async fn cut(
        &self,
        unit: &Unit,
        pieces: u64,
    ) -> Result<Vec<((Bound, Bound), Checkpoint)>, DbErr> {
        let shards = self.db().backend().shards(self.db(), unit.key).await?;
        if !shards.is_empty() {
            return Ok(shards
                .into_iter()
                .map(|shard| {
                    let checkpoint = Checkpoint {
                        shard: Some(shard),
                        ..Checkpoint::default()
                    };
                    ((None, None), checkpoint)
                })
                .collect());
        }
        let bounds = cut::bounds(self.db(), unit.key, pieces).await?;
        let mut ranges = Vec::new();
        let mut lower: Bound = None;
        for upper in bounds.into_iter().map(Some).chain([None]) {
            let checkpoint = Checkpoint {
                after: lower.clone(),
                ..Checkpoint::default()
            };
            ranges.push(((lower, upper.clone()), checkpoint));
            lower = upper;
        }
        Ok(ranges)
    }

    /// Claims the first range of the earliest unfinished phase that no live lease
    /// holds, for `owner`, under a new epoch.
    pub async fn claim(&self, owner: &str, units: &[Unit]) -> Result<Claim, DbErr> {
        let (db, run_id) = (self.db(), self.run_id());
        // As a batch's: its commit need not wait for the disk (a claim lost in a crash
        // leaves the range free).
        let txn = db.begin_batch(self.lock_timeout).await?;
        let phases = Query::select()
            .expr(Func::count(Expr::col(Column::Id)))
            .expr(Func::min(Expr::col(Column::Phase)))
            .from(backfill_ranges::Entity)
            .and_where(Expr::col(Column::RunId).eq(run_id))
            .and_where(Expr::col(Column::Done).eq(false))
            .to_owned();
        let row = txn.query_one(&phases).await?;
        let unfinished: i64 = row.as_ref().map_or(Ok(0), |r| r.try_get_by_index(0))?;
        let phase: Option<i32> = match row {
            Some(row) if unfinished > 0 => row.try_get_by_index(1)?,
            _ => None,
        };
        let Some(phase) = phase else {
            txn.commit().await?;
            return Ok(match self.is_cut().await? {
                true => Claim::Finished,
                false => Claim::Wait {
                    phase: None,
                    unfinished: 0,
                },
            });
        };
        let wait = Claim::Wait {
            phase: Some(phase),
            unfinished: unfinished as u64,
        };
        let free = backfill_ranges::Entity::find()
            .filter(Column::RunId.eq(run_id))
            .filter(Column::Done.eq(false))
            .filter(Column::Phase.eq(phase))
            .filter(
                Expr::col(Column::LeaseUntil)
                    .is_null()
                    .or(Expr::col(Column::LeaseUntil).lt(db.backend().clock_millis())),
            )
            .order_by_asc(Column::Id)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?;
        let Some(range) = free else {
            txn.commit().await?;
            return Ok(wait);
        };
        let epoch = range.epoch + 1;
        // The epoch in the `WHERE` keeps the claim right where the database has no
        // row locks to skip (SQLite): of two claims of one range, one changes it.
        let claimed = backfill_ranges::Entity::update_many()
            .col_expr(Column::Owner, Expr::value(owner))
            .col_expr(Column::Epoch, Expr::value(epoch))
            .col_expr(Column::LeaseUntil, self.terms.lease_end())
            .col_expr(Column::SplitWanted, Expr::value(false))
            .filter(Column::Id.eq(range.id))
            .filter(Column::Epoch.eq(range.epoch))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        if claimed.rows_affected != 1 {
            return Ok(wait);
        }
        let unit = units
            .iter()
            .find(|unit| unit.name == range.unit)
            .copied()
            .ok_or_else(|| {
                DbErr::Custom(format!(
                    "run {run_id} has a range of `{}`, which this command does not walk",
                    range.unit
                ))
            })?;
        let mut checkpoint: Checkpoint = from_json(range.checkpoint)?;
        let lower = parse_bound(range.lower_key.as_deref(), unit.key.kind)?;
        checkpoint.after = checkpoint.after.or(lower);
        checkpoint.upto = parse_bound(range.upper_key.as_deref(), unit.key.kind)?;
        Ok(Claim::Range(Box::new(RangeLease::new(
            self.terms.clone(),
            range.id,
            epoch,
            unit,
            checkpoint,
        ))))
    }

    async fn is_cut(&self) -> Result<bool, DbErr> {
        Ok(backfill_ranges::Entity::find()
            .filter(Column::RunId.eq(self.run_id()))
            .one(self.db())
            .await?
            .is_some())
    }

    /// Asks every worker holding a range of `phase` to give the second half of what
    /// is left of it away at its next batch, where that half is still large.
    pub async fn want_split(&self, phase: i32) -> Result<(), DbErr> {
        let db = self.db();
        let held = Query::select()
            .column(Column::Id)
            .from(backfill_ranges::Entity)
            .and_where(Expr::col(Column::RunId).eq(self.run_id()))
            .and_where(Expr::col(Column::Done).eq(false))
            .and_where(Expr::col(Column::Phase).eq(phase))
            .and_where(Expr::col(Column::SplitWanted).eq(false))
            .and_where(Expr::col(Column::LeaseUntil).gte(db.backend().clock_millis()))
            .to_owned();
        let mut ids = Vec::new();
        for row in db.query_all(&held).await? {
            ids.push(row.try_get_by_index::<i64>(0)?);
        }
        if ids.is_empty() {
            return Ok(());
        }
        // By primary key, having read the ids without locks: an update that walked the
        // (run_id, done) index would lock its entries before the rows, the reverse of
        // a batch's checkpoint, and InnoDB would find the two deadlocked.
        backfill_ranges::Entity::update_many()
            .col_expr(Column::SplitWanted, Expr::value(true))
            .filter(Column::Id.is_in(ids))
            .filter(Column::Done.eq(false))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Frees the ranges held by processes of this host that are gone (killed), so a
    /// resumed run need not wait out their leases.
    pub async fn release_dead(&self) -> Result<(), DbErr> {
        let held = backfill_ranges::Entity::find()
            .filter(Column::RunId.eq(self.run_id()))
            .filter(Column::Done.eq(false))
            .filter(Column::Owner.is_not_null())
            .all(self.db())
            .await?;
        for range in held {
            let gone = range
                .owner
                .as_deref()
                .and_then(parse_owner)
                .is_some_and(|(host, pid)| ledger::is_gone(host, pid));
            if gone {
                release(self.db(), range.id, range.epoch).await?;
            }
        }
        Ok(())
    }

    /// Each unit's counters, summed over its ranges: what every worker of the run
    /// committed, in whatever process.
    pub async fn totals(&self) -> Result<BTreeMap<String, (Counters, RangeTally)>, DbErr> {
        let mut totals: BTreeMap<String, (Counters, RangeTally)> = BTreeMap::new();
        for range in range_rows::states(self.db(), self.run_id()).await? {
            let (counters, tally) = totals.entry(range.unit.clone()).or_default();
            counters.add(&range.checkpoint.counters);
            range.count_in(tally);
        }
        Ok(totals)
    }
}
