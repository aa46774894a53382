//! What a backfill supplies to the engine per batch (`BatchJob`: what it reads and
//! writes), the units of work a run is cut into (`Unit`), and the values a batch passes
//! through: read (`Batch`), planned (`BatchPlan`), written (`Written`), and, when the
//! database rejects a write, taken apart (`Split`).

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseTransaction, DbErr, QueryResult};

use super::counters::Counters;
use crate::anomalies::{Anomaly, AnomalyLog};
use crate::backend::{Key, TableKey};

/// One unit of a run's work: a table walked by `key` (or a phase walking one), whose
/// ranges are claimed only once every range of an earlier phase is done.
#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub name: &'static str,
    pub key: TableKey,
    pub phase: i32,
}

/// What a bulk write changed.
#[derive(Debug, Default)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
    pub normalized: u64,
    /// Anomalies only the write could see: old values it replaced, rows rejected.
    pub anomalies: Vec<Anomaly>,
}

impl Written {
    pub(super) fn absorb(&mut self, other: Written) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.normalized += other.normalized;
        self.anomalies.extend(other.anomalies);
    }
}

/// What the engine reads of each batch for its job.
pub enum Reads {
    /// Every row's key and these columns after it (decoded by `BatchJob::decode`).
    Rows(Vec<Expr>),
    /// Only the key range, and the sum over its rows of each of these expressions
    /// (say, 1 for a row that needs work, else 0): one row per batch, for a job whose
    /// writes are statements over the range. Nothing per row crosses the connection.
    Range(Vec<Expr>),
}

/// One batch as read: the `count` rows with `after < key <= upto`, in key order, and
/// what the job asked to read of them.
pub struct Batch<R> {
    /// The batch's position in its table's walk, from 1.
    pub number: u64,
    pub after: Option<Key>,
    pub upto: Key,
    /// Read on one shard: the condition that keeps a statement over the batch's rows
    /// on that shard (a write over its key range alone would lock every shard).
    pub on_shard: Option<Arc<Expr>>,
    pub count: u64,
    /// The rows read, with their keys (empty for `Reads::Range`).
    pub rows: Vec<(Key, R)>,
    /// The sums asked for by `Reads::Range`, in order.
    pub sums: Vec<i64>,
}

/// A rejected write taken apart (see `BatchJob::split`).
pub enum Split<W> {
    Halves(W, W),
    Row(&'static str, String),
}

/// The planning side of a batch: counters a job sets while planning, and its anomalies.
#[derive(Debug, Default)]
pub struct BatchPlan {
    pub counters: Counters,
    pub anomalies: AnomalyLog,
}

/// What a backfill supplies to the engine.
#[allow(async_fn_in_trait)]
pub trait BatchJob {
    /// A row as read from the walked table.
    type Row;
    /// One unit of writing; a rejected one is isolated alone.
    type Write;

    /// What is read of each batch.
    fn reads(&self) -> Reads;

    /// A row read with `Reads::Rows`; the key is at index 0.
    fn decode(&self, row: &QueryResult) -> Result<Self::Row, DbErr>;

    /// Decides a batch's writes, reading what it needs in `txn`. Counts unchanged and
    /// skipped rows and notes anomalies in `plan`.
    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        batch: Batch<Self::Row>,
        plan: &mut BatchPlan,
    ) -> Result<Vec<Self::Write>, DbErr>;

    /// Writes `writes` in bulk statements.
    async fn write(
        &self,
        txn: &DatabaseTransaction,
        writes: &[Self::Write],
    ) -> Result<Written, DbErr>;

    /// A write the database rejected, taken apart: a write that covers several rows
    /// (a key range) splits in two; one row is logged as rejected, by table and key.
    async fn split(
        &self,
        txn: &DatabaseTransaction,
        write: Self::Write,
    ) -> Result<Split<Self::Write>, DbErr>;
}
