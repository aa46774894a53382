//! Where a walk stands: its checkpoint (saved in each batch's transaction through a
//! [`CheckpointStore`], a worker's lease on a range of `backfill_ranges`), the ranges
//! deferred to a later pass, and which part of the walk the next batch reads.

use async_trait::async_trait;
use sea_orm::{DatabaseTransaction, DbErr};
use serde::{Deserialize, Serialize};

use super::counters::Counters;
use super::history::Sample;
use crate::backend::Key;
use crate::ledger::Request;
use crate::settings::Setting;

/// A key range whose batch could not take its locks in time, for a later pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    pub after: Option<Key>,
    pub upto: Key,
}

/// Where the walk of one range of a unit of work (a table, or a phase) stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last key of the last committed batch.
    pub after: Option<Key>,
    /// The range's last key; none: to the end of the table. Kept in its own column
    /// (`upper_key`), since a split moves it.
    #[serde(skip)]
    pub upto: Option<Key>,
    /// The shard the range walks, where the table is spread over a cluster's shards by
    /// its key (Citus): the range's keys are that shard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<i64>,
    /// Ranges that met locks, still owed a later pass.
    #[serde(default)]
    pub deferred: Vec<Deferred>,
    pub done: bool,
    pub counters: Counters,
    /// How the walk is going, for `runs`: not needed to resume.
    #[serde(default)]
    pub progress: Progress,
}

/// How a walk is going, as `runs` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Rows the walk expects in all: the database's estimate, raised when the walk
    /// passes it.
    pub estimate: Option<u64>,
    /// Rows per second since this worker took the range up.
    pub rate: Option<f64>,
    /// The size of the next batch.
    pub batch_size: Option<u64>,
    /// Why the walk holds, while it does.
    pub held: Option<String>,
}

/// What became of a checkpoint handed to [`CheckpointStore::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Kept,
    /// Kept, and the range now ends at this key: an idle worker took the rest.
    Split(Key),
    /// The worker no longer holds the range (its lease ran out and another worker
    /// claimed it): the batch must roll back.
    LeaseLost,
}

/// Where a walk keeps its checkpoint, and where requests to its run are read.
#[async_trait]
pub trait CheckpointStore: Send {
    /// The run the checkpoints belong to (anomalies name it).
    fn run_id(&self) -> i64;
    /// Where the walk starts: the range's checkpoint and bounds.
    fn checkpoint(&self) -> Checkpoint;
    /// Records `checkpoint` inside the batch's transaction `txn`, if the walk still
    /// holds its range.
    async fn save(
        &mut self,
        txn: &DatabaseTransaction,
        checkpoint: Checkpoint,
    ) -> Result<Saved, DbErr>;

    /// What is asked of the run now; a store nobody else can reach says go.
    async fn requested(&mut self) -> Result<Request, DbErr> {
        Ok(Request::Go)
    }

    /// The changes of the run's settings recorded after change `after`, each with its
    /// id (`runs set`, the console); a store nobody else can reach has none.
    async fn changes_after(&mut self, _after: i64) -> Result<Vec<(i64, Setting)>, DbErr> {
        Ok(Vec::new())
    }

    /// Keeps `sample` of the walk of `unit`'s history, outside any batch; a store nobody
    /// else can read keeps none.
    async fn sample(&mut self, _unit: &str, _sample: Sample) -> Result<(), DbErr> {
        Ok(())
    }

    /// Records, outside any batch, that the walk holds (and why) or goes on: the run is
    /// shown as throttled while it holds, and the lease is renewed.
    async fn hold(&mut self, _held: Option<String>) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Where a walk stands: the main walk's last key and its end, and the ranges deferred
/// for a later pass. Saved in each batch's checkpoint, so a resumed run owes nothing.
#[derive(Debug, Clone)]
pub(super) struct Position {
    pub after: Option<Key>,
    pub upto: Option<Key>,
    pub shard: Option<i64>,
    pub deferred: Vec<Deferred>,
}

/// What the next batch reads: keys after `after` up to `upto`, of `shard` where the
/// range walks one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span<'a> {
    pub after: Option<&'a Key>,
    pub upto: Option<&'a Key>,
    pub shard: Option<i64>,
}

impl Position {
    /// What the next batch at `cursor` reads.
    pub fn span(&self, cursor: Cursor) -> Span<'_> {
        let (after, upto) = match (cursor, self.deferred.first()) {
            (Cursor::Deferred, Some(range)) => (range.after.as_ref(), Some(&range.upto)),
            _ => (self.after.as_ref(), self.upto.as_ref()),
        };
        Span {
            after,
            upto,
            shard: self.shard,
        }
    }

    /// This state with `cursor` moved past `upto`.
    pub fn advanced(&self, cursor: Cursor, upto: Key) -> Position {
        let mut next = self.clone();
        match (cursor, next.deferred.first_mut()) {
            (Cursor::Deferred, Some(range)) => range.after = Some(upto),
            _ => next.after = Some(upto),
        }
        next
    }
}

/// Which part of the walk a batch reads: the main walk, or the first deferred range.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cursor {
    Main,
    Deferred,
}
