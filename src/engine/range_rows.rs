//! The rows of `backfill_ranges`, one per key range of a run's unit: recording one,
//! giving one back, reading where each stands, and the checkpoint JSON they carry.
//! Claiming them is `claims`'s; a worker's hold on one is `lease`'s.

use entity::backfill_ranges::{self, Column};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::counters::RangeTally;
use super::cut::Bound;
use super::job::Unit;
use super::state::Checkpoint;
use crate::backend::{Db, Key, KeyKind};
use crate::ledger;

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

impl RangeState {
    /// Counts this range in `tally`, as done, held by a worker or left.
    pub fn count_in(&self, tally: &mut RangeTally) {
        tally.count(self.done, self.worker.is_some());
    }
}

/// Records a range `(lower, upper]` of `unit` for run `run_id`, starting at
/// `checkpoint`.
pub(super) async fn insert(
    conn: &impl ConnectionTrait,
    run_id: i64,
    unit: &Unit,
    (lower, upper): (Bound, Bound),
    checkpoint: &Checkpoint,
) -> Result<(), DbErr> {
    let range = backfill_ranges::ActiveModel {
        run_id: Set(run_id),
        unit: Set(unit.name.to_string()),
        phase: Set(unit.phase),
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

/// Gives range `id` back if it is still under `epoch`: free for any worker at once.
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

/// The ranges of run `run_id` in the order they were cut, each with the worker whose
/// lease on it still runs.
pub async fn states(db: &Db, run_id: i64) -> Result<Vec<RangeState>, DbErr> {
    let now = Query::select().expr(db.backend().clock_millis()).to_owned();
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

/// The name a worker claims ranges under: `host:pid/number`.
pub(super) fn owner_name(worker: u32) -> String {
    format!("{}:{}/{worker}", ledger::host_name(), std::process::id())
}

/// The host and pid of an owner named by `owner_name`.
pub(super) fn parse_owner(owner: &str) -> Option<(&str, i32)> {
    let (process, _worker) = owner.rsplit_once('/')?;
    let (host, pid) = process.rsplit_once(':')?;
    Some((host, pid.parse().ok()?))
}

/// A bound as `backfill_ranges` stores it, read back as a key of `kind`.
pub(super) fn parse_bound(text: Option<&str>, kind: KeyKind) -> Result<Bound, DbErr> {
    text.map(|text| {
        Key::parse(text, kind).ok_or_else(|| {
            DbErr::Custom(format!("backfill_ranges holds `{text}` as an integer key"))
        })
    })
    .transpose()
}

pub(super) fn to_json(checkpoint: &Checkpoint) -> Result<serde_json::Value, DbErr> {
    serde_json::to_value(checkpoint).map_err(|err| DbErr::Json(err.to_string()))
}

pub(super) fn from_json(value: serde_json::Value) -> Result<Checkpoint, DbErr> {
    serde_json::from_value(value).map_err(|err| DbErr::Json(err.to_string()))
}
