//! A run's key ranges in `backfill_ranges` (SPEC §5.9): recording a run's first
//! ranges (where to cut them is `cut`'s), claiming one (`FOR UPDATE SKIP LOCKED`, under
//! a lease on the database's clock), asking busy workers to split theirs, freeing those
//! of dead processes, and reading where they stand. What a worker does with the range
//! it holds is `lease`'s.

use std::collections::BTreeMap;
use std::time::Duration;

use entity::backfill_ranges::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockBehavior, LockType, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::EngineSettings;
use super::counters::Counters;
use super::cut::{self, Bound};
use super::lease::RangeLease;
use super::state::Checkpoint;
use super::walk::{Key, KeyKind, TableWalk};
use crate::backend::{self, Backend};
use crate::ledger;

/// One unit of a run's work: a table walked by `walk` (or a phase walking one), whose
/// ranges are claimed only once every range of an earlier phase is done.
#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub name: &'static str,
    pub walk: TableWalk,
    pub phase: i32,
}

/// The ranges of one run, as its workers claim them.
#[derive(Debug, Clone)]
pub struct RangeQueue {
    pub(super) db: DatabaseConnection,
    pub(super) run_id: i64,
    lease: Duration,
    lock_timeout: Duration,
    /// A range is split only while it still spans about this many rows.
    pub(super) min_split: u64,
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

/// How many of a unit's ranges are done, held by a worker, and left.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RangeTally {
    pub done: u64,
    pub in_progress: u64,
    pub left: u64,
}

/// One range as `runs --run ID` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RangeState {
    pub id: i64,
    pub unit: String,
    pub after: Option<String>,
    pub upto: Option<String>,
    pub done: bool,
    /// The worker holding it, while its lease runs.
    pub worker: Option<String>,
    pub checkpoint: Checkpoint,
}

impl RangeQueue {
    /// The ranges of run `run_id`, leased and split as `engine` says.
    pub fn new(db: &DatabaseConnection, run_id: i64, engine: &EngineSettings) -> Self {
        Self {
            db: db.clone(),
            run_id,
            lease: engine.lease,
            lock_timeout: engine.lock_timeout,
            min_split: Ord::max(engine.batch_size.saturating_mul(2), 2),
        }
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    fn lease_millis(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// `lease_until` of a lease taken or renewed now.
    pub(super) fn lease_end(&self, backend: &dyn Backend) -> SimpleExpr {
        backend.clock_millis().add(self.lease_millis())
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
        // Each unit's ranges, as (lower, upper, checkpoint).
        let mut cuts = Vec::new();
        for unit in units {
            let (bounds, start) = match legacy.get(unit.name) {
                Some(checkpoint) => (Vec::new(), checkpoint.clone()),
                None => (
                    cut::bounds(&self.db, unit.walk, pieces).await?,
                    Checkpoint::default(),
                ),
            };
            let mut ranges = Vec::new();
            let mut lower: Bound = None;
            for upper in bounds.into_iter().map(Some).chain([None]) {
                let mut checkpoint = start.clone();
                checkpoint.after = checkpoint.after.or_else(|| lower.clone());
                ranges.push((lower, upper.clone(), checkpoint));
                lower = upper;
            }
            cuts.push((unit, ranges.into_iter()));
        }
        // Recorded in turns, a range of each unit at a time: claims go in id order, so
        // workers of one phase start on different tables, rather than all on one
        // table, where their updates would contend for its pages.
        let txn = self.db.begin().await?;
        loop {
            let mut recorded = false;
            for (unit, ranges) in &mut cuts {
                if let Some((lower, upper, checkpoint)) = ranges.next() {
                    self.insert(&txn, unit.name, unit.phase, lower, upper, &checkpoint)
                        .await?;
                    recorded = true;
                }
            }
            if !recorded {
                break;
            }
        }
        txn.commit().await
    }

    pub(super) async fn insert(
        &self,
        conn: &impl ConnectionTrait,
        unit: &str,
        phase: i32,
        lower: Bound,
        upper: Bound,
        checkpoint: &Checkpoint,
    ) -> Result<(), DbErr> {
        let range = backfill_ranges::ActiveModel {
            run_id: Set(self.run_id),
            unit: Set(unit.to_string()),
            phase: Set(phase),
            lower_key: Set(lower.map(|key| key.to_string())),
            upper_key: Set(upper.map(|key| key.to_string())),
            done: Set(checkpoint.done),
            owner: Set(None),
            epoch: Set(0),
            lease_until: Set(None),
            split_wanted: Set(false),
            checkpoint: Set(to_json(checkpoint)?),
            ..Default::default()
        };
        backfill_ranges::Entity::insert(range).exec(conn).await?;
        Ok(())
    }

    /// Claims the first range of the earliest unfinished phase that no live lease
    /// holds, for `owner`, under a new epoch.
    pub async fn claim(&self, owner: &str, units: &[Unit]) -> Result<Claim, DbErr> {
        let backend = backend::of(&self.db);
        // As a batch's: its commit need not wait for the disk (a claim lost in a crash
        // leaves the range free).
        let txn = backend::begin_batch(&self.db, self.lock_timeout).await?;
        let phases = Query::select()
            .expr(Func::count(Expr::col(Column::Id)))
            .expr(Func::min(Expr::col(Column::Phase)))
            .from(backfill_ranges::Entity)
            .and_where(Expr::col(Column::RunId).eq(self.run_id))
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
        let free = backfill_ranges::Entity::find()
            .filter(Column::RunId.eq(self.run_id))
            .filter(Column::Done.eq(false))
            .filter(Column::Phase.eq(phase))
            .filter(
                Expr::col(Column::LeaseUntil)
                    .is_null()
                    .or(Expr::col(Column::LeaseUntil).lt(backend.clock_millis())),
            )
            .order_by_asc(Column::Id)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?;
        let Some(range) = free else {
            txn.commit().await?;
            return Ok(Claim::Wait {
                phase: Some(phase),
                unfinished: unfinished as u64,
            });
        };
        let epoch = range.epoch + 1;
        // The epoch in the `WHERE` keeps the claim right where the database has no
        // row locks to skip (SQLite): of two claims of one range, one changes it.
        let claimed = backfill_ranges::Entity::update_many()
            .col_expr(Column::Owner, Expr::value(owner))
            .col_expr(Column::Epoch, Expr::value(epoch))
            .col_expr(Column::LeaseUntil, self.lease_end(backend))
            .col_expr(Column::SplitWanted, Expr::value(false))
            .filter(Column::Id.eq(range.id))
            .filter(Column::Epoch.eq(range.epoch))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        if claimed.rows_affected != 1 {
            return Ok(Claim::Wait {
                phase: Some(phase),
                unfinished: unfinished as u64,
            });
        }
        let unit = units
            .iter()
            .find(|unit| unit.name == range.unit)
            .copied()
            .ok_or_else(|| {
                DbErr::Custom(format!(
                    "run {} has a range of `{}`, which this command does not walk",
                    self.run_id, range.unit
                ))
            })?;
        let mut checkpoint: Checkpoint = from_json(range.checkpoint)?;
        let lower = parse_key(range.lower_key.as_deref(), unit.walk.kind)?;
        checkpoint.after = checkpoint.after.or(lower);
        checkpoint.upto = parse_key(range.upper_key.as_deref(), unit.walk.kind)?;
        Ok(Claim::Range(Box::new(RangeLease::new(
            self.clone(),
            range.id,
            epoch,
            unit,
            checkpoint,
        ))))
    }

    async fn is_cut(&self) -> Result<bool, DbErr> {
        Ok(backfill_ranges::Entity::find()
            .filter(Column::RunId.eq(self.run_id))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Asks every worker holding a range of `phase` to give the second half of what
    /// is left of it away at its next batch, where that half is still large.
    pub async fn want_split(&self, phase: i32) -> Result<(), DbErr> {
        let backend = backend::of(&self.db);
        let held = Query::select()
            .column(Column::Id)
            .from(backfill_ranges::Entity)
            .and_where(Expr::col(Column::RunId).eq(self.run_id))
            .and_where(Expr::col(Column::Done).eq(false))
            .and_where(Expr::col(Column::Phase).eq(phase))
            .and_where(Expr::col(Column::SplitWanted).eq(false))
            .and_where(Expr::col(Column::LeaseUntil).gte(backend.clock_millis()))
            .to_owned();
        let mut ids = Vec::new();
        for row in self.db.query_all(&held).await? {
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
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Frees the ranges held by processes of this host that are gone (killed), so a
    /// resumed run need not wait out their leases.
    pub async fn release_dead(&self) -> Result<(), DbErr> {
        let held = backfill_ranges::Entity::find()
            .filter(Column::RunId.eq(self.run_id))
            .filter(Column::Done.eq(false))
            .filter(Column::Owner.is_not_null())
            .all(&self.db)
            .await?;
        for range in held {
            let gone = range
                .owner
                .as_deref()
                .and_then(parse_owner)
                .is_some_and(|(host, pid)| ledger::is_gone(host, pid));
            if gone {
                release(&self.db, range.id, range.epoch).await?;
            }
        }
        Ok(())
    }

    /// Each unit's counters, summed over its ranges: what every worker of the run
    /// committed, in whatever process.
    pub async fn totals(&self) -> Result<BTreeMap<String, (Counters, RangeTally)>, DbErr> {
        let mut totals: BTreeMap<String, (Counters, RangeTally)> = BTreeMap::new();
        for range in states(&self.db, self.run_id).await? {
            let (counters, tally) = totals.entry(range.unit.clone()).or_default();
            counters.add(&range.checkpoint.counters);
            tally.count(&range);
        }
        Ok(totals)
    }
}

impl RangeTally {
    pub fn total(&self) -> u64 {
        self.done + self.in_progress + self.left
    }

    pub fn add(&mut self, other: &RangeTally) {
        self.done += other.done;
        self.in_progress += other.in_progress;
        self.left += other.left;
    }

    /// Counts `range` as done, held by a worker, or left.
    pub fn count(&mut self, range: &RangeState) {
        match (range.done, &range.worker) {
            (true, _) => self.done += 1,
            (false, Some(_)) => self.in_progress += 1,
            (false, None) => self.left += 1,
        }
    }
}

/// The ranges of run `run_id` in the order they were cut, each with the worker whose
/// lease on it still runs.
pub async fn states(db: &DatabaseConnection, run_id: i64) -> Result<Vec<RangeState>, DbErr> {
    let backend = backend::of(db);
    let now = Query::select().expr(backend.clock_millis()).to_owned();
    let now: i64 = match db.query_one(&now).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    let ranges = backfill_ranges::Entity::find()
        .filter(Column::RunId.eq(run_id))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    ranges
        .into_iter()
        .map(|range| {
            let leased = range.lease_until.is_some_and(|until| until >= now);
            Ok(RangeState {
                id: range.id,
                unit: range.unit,
                after: range.lower_key,
                upto: range.upper_key,
                done: range.done,
                worker: range.owner.filter(|_| leased && !range.done),
                checkpoint: from_json(range.checkpoint)?,
            })
        })
        .collect()
}

pub(super) async fn release(db: &impl ConnectionTrait, id: i64, epoch: i64) -> Result<(), DbErr> {
    backfill_ranges::Entity::update_many()
        .col_expr(Column::Owner, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::Epoch.eq(epoch))
        .exec(db)
        .await?;
    Ok(())
}

/// The name a worker claims ranges under: `host:pid/number`.
pub fn owner_name(worker: u32) -> String {
    format!("{}:{}/{worker}", ledger::host_name(), std::process::id())
}

/// The host and pid of an owner named by `owner_name`.
fn parse_owner(owner: &str) -> Option<(&str, i32)> {
    let (process, _worker) = owner.rsplit_once('/')?;
    let (host, pid) = process.rsplit_once(':')?;
    Some((host, pid.parse().ok()?))
}

fn parse_key(text: Option<&str>, kind: KeyKind) -> Result<Option<Key>, DbErr> {
    text.map(|text| match kind {
        KeyKind::Integer => text.parse().map(Key::Int).map_err(|_| {
            DbErr::Custom(format!("backfill_ranges holds `{text}` as an integer key"))
        }),
        KeyKind::Uuid => Ok(Key::Text(text.to_string())),
    })
    .transpose()
}

pub(super) fn to_json(checkpoint: &Checkpoint) -> Result<serde_json::Value, DbErr> {
    serde_json::to_value(checkpoint).map_err(|err| DbErr::Json(err.to_string()))
}

fn from_json(value: serde_json::Value) -> Result<Checkpoint, DbErr> {
    serde_json::from_value(value).map_err(|err| DbErr::Json(err.to_string()))
}
