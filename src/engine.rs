//! The batch engine both backfills run on: walk a table in primary-key order
//! (`KeysetWalker`, never OFFSET), and for each batch, in one short transaction, let the
//! job plan its writes, write them in bulk, isolate rows the database rejects (a batch
//! that meets one is rolled back and written again under savepoints, bisected until the
//! rejected rows stand alone), log anomalies, and save the checkpoint. Between batches it
//! throttles, draws progress and honours Ctrl-C. A job supplies only what is its own:
//! what it reads of a batch (its rows, or only its key range), what it writes, and how
//! (including any journal of old values, written by its own statements).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, Value};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, QueryResult,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::anomalies::{Anomaly, AnomalyKind, AnomalyLog};
use crate::db;
use crate::error::Interrupted;
use crate::runs::{Checkpoint, RunLedger};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Catches Ctrl-C: the batch in flight finishes whole, then the run stops (exit 130).
pub fn install_interrupt_handler() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("Ctrl-C: finishing the batch in flight, then stopping");
            INTERRUPTED.store(true, Ordering::SeqCst);
        }
    });
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A primary-key value: integers as they are, uuids as their hyphenated text (the form
/// SQLite stores; PostgreSQL gets a uuid back from `to_value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Int(v) => write!(f, "{v}"),
            Key::Text(v) => f.write_str(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Integer,
    Uuid,
}

impl Key {
    /// The key as a bound value of `kind` on `backend`.
    pub fn to_value(&self, kind: KeyKind, backend: DatabaseBackend) -> Value {
        match (self, kind) {
            (Key::Int(v), _) => Value::BigInt(Some(*v)),
            (Key::Text(text), KeyKind::Uuid) => match uuid::Uuid::parse_str(text) {
                Ok(uuid) => db::stored_value(backend, Value::Uuid(Some(uuid))),
                Err(_) => Value::String(Some(text.clone())),
            },
            (Key::Text(text), KeyKind::Integer) => Value::String(Some(text.clone())),
        }
    }
}

/// The name a batch's read gives its key column.
const BATCH_KEY: &str = "batch_key";

/// A table walked by its primary key.
#[derive(Debug, Clone, Copy)]
pub struct TableWalk {
    pub table: &'static str,
    pub key: &'static str,
    pub kind: KeyKind,
}

impl TableWalk {
    /// The key as selected: integers widened to BIGINT so SERIAL and BIGSERIAL keys read
    /// alike; uuids as text on PostgreSQL.
    pub fn key_expr(&self, backend: DatabaseBackend) -> Expr {
        let col = Expr::col(Alias::new(self.key));
        match (self.kind, backend) {
            (KeyKind::Integer, _) => col.cast_as(Alias::new("BIGINT")),
            (KeyKind::Uuid, DatabaseBackend::Postgres) => col.cast_as(Alias::new("TEXT")),
            (KeyKind::Uuid, _) => col,
        }
    }

    /// The key column qualified by its table, to sort by. A bare `ORDER BY id` would
    /// name the selected `CAST(id AS BIGINT)` on PostgreSQL (an output column called
    /// `id`), which no index serves: every batch would scan and sort the whole table.
    pub fn order_column(&self) -> (Alias, Alias) {
        (Alias::new(self.table), Alias::new(self.key))
    }

    pub fn read_key(&self, row: &QueryResult) -> Result<Key, DbErr> {
        self.read_key_at(row, 0)
    }

    /// The key selected (by `key_expr`) at column `index`.
    pub fn read_key_at(&self, row: &QueryResult, index: usize) -> Result<Key, DbErr> {
        match self.kind {
            KeyKind::Integer => row.try_get_by_index::<i64>(index).map(Key::Int),
            KeyKind::Uuid => row.try_get_by_index::<String>(index).map(Key::Text),
        }
    }

    /// `key > after AND key <= upto`, the range condition of a batch.
    pub fn range(
        &self,
        backend: DatabaseBackend,
        after: Option<&Key>,
        upto: Option<&Key>,
    ) -> Vec<Expr> {
        let col = || Expr::col(Alias::new(self.key));
        let mut conditions = Vec::new();
        if let Some(after) = after {
            conditions.push(col().gt(after.to_value(self.kind, backend)));
        }
        if let Some(upto) = upto {
            conditions.push(col().lte(upto.to_value(self.kind, backend)));
        }
        conditions
    }

    /// The keyset read of one batch: the next `limit` rows after `after` (and not past
    /// `upto`), in key order, the key first (as `batch_key`). A primary-key range scan:
    /// the same cost for the first batch and the last.
    fn select(
        &self,
        backend: DatabaseBackend,
        columns: Vec<Expr>,
        after: Option<&Key>,
        upto: Option<&Key>,
        limit: u64,
    ) -> SelectStatement {
        let mut query = Query::select();
        query
            .expr_as(self.key_expr(backend), Alias::new(BATCH_KEY))
            .exprs(columns)
            .from(Alias::new(self.table))
            .order_by(self.order_column(), Order::Asc)
            .limit(limit);
        for condition in self.range(backend, after, upto) {
            query.and_where(condition);
        }
        query
    }

    /// One batch without reading its rows: a single row holding the number of the next
    /// `limit` rows after `after`, their last key, and the sum of each of `sums` over
    /// them. The same primary-key range scan as `select`, aggregated in the database.
    fn bounds(
        &self,
        backend: DatabaseBackend,
        sums: Vec<Expr>,
        after: Option<&Key>,
        upto: Option<&Key>,
        limit: u64,
    ) -> SelectStatement {
        let key = Alias::new(BATCH_KEY);
        let mut rows = self.select(backend, Vec::new(), after, upto, limit);
        let last = match (self.kind, backend) {
            // PostgreSQL has no max(uuid); the text of a uuid compares bytewise, as
            // the uuid itself does, under the "C" collation.
            (KeyKind::Uuid, DatabaseBackend::Postgres) => {
                Expr::cust_with_expr("MAX($1 COLLATE \"C\")", Expr::col(key.clone()))
            }
            _ => Func::max(Expr::col(key.clone())).into(),
        };
        let mut batch = Query::select();
        batch.expr(Expr::cust("COUNT(*)")).expr(last);
        for (i, sum) in sums.into_iter().enumerate() {
            let column = Alias::new(format!("batch_sum_{i}"));
            rows.expr_as(sum, column.clone());
            batch.expr(Func::sum(Expr::col(column)).cast_as(Alias::new("BIGINT")));
        }
        batch.from_subquery(rows, Alias::new("batch")).to_owned()
    }
}

/// What one unit of work did. Each job reports the fields that mean something for it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    pub processed: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub errors: u64,
    pub anomalies: u64,
    pub rejected: u64,
    pub normalized: u64,
    pub batches: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.processed += other.processed;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.errors += other.errors;
        self.anomalies += other.anomalies;
        self.rejected += other.rejected;
        self.normalized += other.normalized;
        self.batches += other.batches;
    }

    /// More than 5% of processed records errored (SPEC §5: exit 1).
    pub fn too_many_errors(&self) -> bool {
        self.processed > 0 && self.errors * 20 > self.processed
    }
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
    fn absorb(&mut self, other: Written) {
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
    /// The batch's position in its table's walk, from 1 (set when it is written).
    pub number: u64,
    pub after: Option<Key>,
    pub upto: Key,
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
    fn reads(&self, backend: DatabaseBackend) -> Reads;

    /// A row read with `Reads::Rows`; the key is at index 0.
    fn decode(&self, row: &QueryResult, backend: DatabaseBackend) -> Result<Self::Row, DbErr>;

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

/// How the engine paces and guards batches, resolved once from the flags.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub batch_size: u64,
    pub sleep: Duration,
    pub lock_timeout: Duration,
    pub dry_run: bool,
    pub progress: bool,
    /// Attempts of a batch that meets a lock timeout or a busy database before it is
    /// deferred to the end of the table.
    pub attempts: u32,
}

/// The report of one walked table (or phase).
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub unit: String,
    #[serde(flatten)]
    pub counters: Counters,
    /// Mean batch time of the first and the last tenth of the batches, in ms: a flat
    /// cost per batch shows as two close numbers.
    pub first_tenth_batch_ms: Option<f64>,
    pub last_tenth_batch_ms: Option<f64>,
}

/// A key range whose batch could not take its locks in time, for a later pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deferred {
    after: Option<Key>,
    upto: Key,
}

/// Walks tables for one run. Owns the ledger writes; jobs never see the ledger.
pub struct KeysetWalker<'a> {
    db: &'a DatabaseConnection,
    settings: EngineSettings,
    ledger: Option<&'a mut RunLedger>,
}

impl<'a> KeysetWalker<'a> {
    pub fn new(
        db: &'a DatabaseConnection,
        settings: EngineSettings,
        ledger: Option<&'a mut RunLedger>,
    ) -> Self {
        Self {
            db,
            settings,
            ledger,
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    fn run_id(&self) -> Option<i64> {
        self.ledger.as_ref().map(|l| l.id)
    }

    /// Walks `walk` from its checkpoint to the end, batch by batch, under the name `unit`.
    pub async fn run<J: BatchJob>(
        &mut self,
        job: &J,
        walk: TableWalk,
        unit: &str,
    ) -> Result<UnitReport> {
        let checkpoint = self
            .ledger
            .as_ref()
            .map(|l| l.checkpoint_of(unit))
            .unwrap_or_default();
        let mut counters = checkpoint.counters;
        let mut timings = Vec::new();
        if checkpoint.done {
            return Ok(report(unit, counters, &timings));
        }
        let mut state = WalkState {
            after: checkpoint.after,
            deferred: checkpoint.deferred,
        };
        let progress = self.progress_bar(walk, unit, state.after.as_ref()).await;
        let mut ahead: Option<Batch<J::Row>> = None;
        loop {
            let started = Instant::now();
            // A read done ahead is this batch's only if the walk is where it expected.
            let fetched = ahead.take().filter(|read| read.after == state.after);
            match self
                .batch(
                    job,
                    walk,
                    unit,
                    &state,
                    Cursor::Main,
                    &mut counters,
                    fetched,
                )
                .await?
            {
                Step::Exhausted => break,
                Step::Deferred(range) => {
                    // Saved with the next batch's checkpoint; until then a crash just
                    // walks this range again.
                    state.after = Some(range.upto.clone());
                    state.deferred.push(range);
                }
                Step::Advanced { next, rows, read } => {
                    state = next;
                    ahead = read;
                    timings.push(started.elapsed().as_secs_f64() * 1000.0);
                    progress.inc(rows);
                }
            }
            if interrupted() {
                progress.abandon();
                bail!(Interrupted {
                    run_id: self.run_id()
                });
            }
            if !self.settings.sleep.is_zero() {
                tokio::time::sleep(self.settings.sleep).await;
            }
        }
        // The later pass: ranges that met locks, now that the application had time.
        while let Some(range) = state.deferred.first().cloned() {
            match self
                .batch(
                    job,
                    walk,
                    unit,
                    &state,
                    Cursor::Deferred,
                    &mut counters,
                    None,
                )
                .await?
            {
                Step::Advanced { next, .. } => state = next,
                Step::Exhausted => {
                    state.deferred.remove(0);
                }
                Step::Deferred(_) => {
                    self.report_stuck(walk, &range).await?;
                    counters.errors += 1;
                    state.deferred.remove(0);
                }
            }
            if interrupted() {
                bail!(Interrupted {
                    run_id: self.run_id()
                });
            }
        }
        progress.finish_and_clear();
        if let Some(ledger) = self.ledger.as_deref_mut() {
            let txn = self.db.begin().await?;
            let checkpoint = Checkpoint {
                after: state.after,
                deferred: Vec::new(),
                done: true,
                counters,
            };
            ledger.save(&txn, unit, checkpoint).await?;
            txn.commit().await?;
        }
        Ok(report(unit, counters, &timings))
    }

    /// One batch at `cursor`, retried on transient errors. `fetched` is its read, if
    /// done ahead; a retry reads again. A batch the database rejects a row of is rolled
    /// back and written again, isolating (see [`Isolation`]); that is not a retry.
    #[allow(clippy::too_many_arguments)]
    async fn batch<J: BatchJob>(
        &mut self,
        job: &J,
        walk: TableWalk,
        unit: &str,
        state: &WalkState,
        cursor: Cursor,
        counters: &mut Counters,
        mut fetched: Option<Batch<J::Row>>,
    ) -> Result<Step<J::Row>> {
        let (after, _) = state.range(cursor);
        let from = || {
            after
                .map(ToString::to_string)
                .unwrap_or_else(|| "the start".into())
        };
        // Transient failures so far; the batch has `attempts` tries before it is deferred.
        let mut waits = 0;
        let mut last_upto = None;
        let mut isolation = Isolation::Direct;
        loop {
            match self
                .try_batch(
                    job,
                    walk,
                    unit,
                    state,
                    cursor,
                    isolation,
                    counters,
                    &mut last_upto,
                    fetched.take(),
                )
                .await
            {
                Ok(Some(step)) => return Ok(step),
                Ok(None) => isolation = Isolation::Isolating,
                Err(err) if db::is_transient(&err) && waits + 1 < self.settings.attempts => {
                    waits += 1;
                    let wait = backoff(waits);
                    tracing::info!(
                        "{}: batch after {} waited too long for locks ({}); retrying in {:?}",
                        walk.table,
                        from(),
                        db::db_message(&err),
                        wait
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(err) if db::is_transient(&err) => {
                    let Some(upto) = last_upto else {
                        return Err(err)
                            .context(format!("{}: the database stayed busy", walk.table));
                    };
                    tracing::warn!(
                        "{}: rows after {} up to {upto} are locked by another session; deferring them to a later pass",
                        walk.table,
                        from(),
                    );
                    return Ok(Step::Deferred(Deferred {
                        after: after.cloned(),
                        upto,
                    }));
                }
                Err(err) if db::is_connection_lost(&err) => {
                    return Err(err).context(format!(
                        "{}: lost the connection to the database; every committed batch is checkpointed, continue with --resume",
                        walk.table
                    ));
                }
                Err(err) => {
                    return Err(err).context(format!(
                        "{}: a batch failed and was rolled back",
                        walk.table
                    ));
                }
            }
        }
    }

    /// Reads the batch (unless `fetched` holds it), then writes it in one transaction
    /// while the next batch is read ahead on a second connection: on two cores the
    /// read and the write overlap. `None`: a row was rejected on the direct path and
    /// the batch was rolled back, to be written again isolating.
    #[allow(clippy::too_many_arguments)]
    async fn try_batch<J: BatchJob>(
        &mut self,
        job: &J,
        walk: TableWalk,
        unit: &str,
        state: &WalkState,
        cursor: Cursor,
        isolation: Isolation,
        counters: &mut Counters,
        last_upto: &mut Option<Key>,
        fetched: Option<Batch<J::Row>>,
    ) -> Result<Option<Step<J::Row>>, DbErr> {
        let (after, upto) = state.range(cursor);
        let fetched = match fetched {
            Some(fetched) => fetched,
            None => match fetch(self.db, &self.settings, job, walk, after, upto).await? {
                Some(fetched) => fetched,
                None => return Ok(Some(Step::Exhausted)),
            },
        };
        *last_upto = Some(fetched.upto.clone());
        let (db, settings, next_after) = (self.db, self.settings.clone(), fetched.upto.clone());
        // A deferred range is read when its turn comes; only the main walk reads ahead.
        // A failed read ahead is dropped: the next batch then reads for itself.
        let read_ahead = async {
            match cursor {
                Cursor::Main => fetch(db, &settings, job, walk, Some(&next_after), None)
                    .await
                    .ok()
                    .flatten(),
                Cursor::Deferred => None,
            }
        };
        let (written, read) = tokio::join!(
            self.write_batch(job, unit, state, cursor, isolation, counters, fetched),
            read_ahead
        );
        Ok(written?.map(|(next, rows)| Step::Advanced { next, rows, read }))
    }

    /// Plans and writes a batch already read, in one transaction with its anomalies
    /// and checkpoint; returns the walk's next state and the number of rows, or `None`
    /// when a row was rejected on the direct path (the batch is rolled back).
    #[allow(clippy::too_many_arguments)]
    async fn write_batch<J: BatchJob>(
        &mut self,
        job: &J,
        unit: &str,
        state: &WalkState,
        cursor: Cursor,
        isolation: Isolation,
        counters: &mut Counters,
        mut batch: Batch<J::Row>,
    ) -> Result<Option<(WalkState, u64)>, DbErr> {
        let txn = begin_batch(self.db, &self.settings).await?;
        let row_count = batch.count;
        let batch_upto = batch.upto.clone();
        let mut plan = BatchPlan::default();
        plan.counters.processed = row_count;
        batch.number = counters.batches + 1;
        let writes = job.plan(&txn, batch, &mut plan).await?;
        let written = match isolation {
            Isolation::Direct => match job.write(&txn, &writes).await {
                Ok(written) => written,
                Err(err) if is_rejection(&err) => {
                    tracing::debug!(
                        "a row of this batch was rejected ({}); writing it again, isolating",
                        db::db_message(&err)
                    );
                    txn.rollback().await?;
                    return Ok(None);
                }
                Err(err) => return Err(err),
            },
            Isolation::Isolating => isolate(job, &txn, writes).await?,
        };
        for anomaly in &written.anomalies {
            plan.anomalies.note(
                anomaly.table,
                &anomaly.row_id,
                anomaly.kind,
                anomaly.description.clone(),
            );
        }

        let mut batch = plan.counters;
        batch.batches = 1;
        batch.inserted += written.inserted;
        batch.updated += written.updated;
        batch.normalized += written.normalized;
        batch.anomalies += plan.anomalies.len() as u64;
        batch.errors += plan.anomalies.error_count() as u64;
        batch.rejected += plan.anomalies.count_of(AnomalyKind::RowRejected) as u64;

        let next = state.advanced(cursor, batch_upto);
        if self.settings.dry_run {
            // Exact counts, nothing kept: the batch ran for real and is rolled back.
            txn.rollback().await?;
        } else {
            plan.anomalies.flush(&txn, self.run_id()).await?;
            let mut total = *counters;
            total.add(&batch);
            if let Some(ledger) = self.ledger.as_deref_mut() {
                let checkpoint = Checkpoint {
                    after: next.after.clone(),
                    deferred: next.deferred.clone(),
                    done: false,
                    counters: total,
                };
                ledger.save(&txn, unit, checkpoint).await?;
            }
            txn.commit().await?;
        }
        counters.add(&batch);
        Ok(Some((next, row_count)))
    }

    /// A range still locked after the later pass: logged, so the run ends "not done".
    async fn report_stuck(&self, walk: TableWalk, range: &Deferred) -> Result<()> {
        let row = format!(
            "{}..={}",
            range
                .after
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            range.upto
        );
        tracing::error!(
            "{}: rows {row} stayed locked; run again once they are free",
            walk.table
        );
        if self.settings.dry_run {
            return Ok(());
        }
        let mut log = AnomalyLog::default();
        log.note(
            walk.table,
            row,
            AnomalyKind::LockTimeout,
            "these rows stayed locked by another session through every retry; running again finishes them",
        );
        log.flush(self.db, self.run_id()).await?;
        Ok(())
    }

    async fn progress_bar(&self, walk: TableWalk, unit: &str, after: Option<&Key>) -> ProgressBar {
        if !self.settings.progress {
            return ProgressBar::hidden();
        }
        // Counting is a scan, so it is done only when someone watches.
        let backend = self.db.get_database_backend();
        let mut count = Query::select();
        count
            .expr(Expr::col(Alias::new(walk.key)).count())
            .from(Alias::new(walk.table));
        for condition in walk.range(backend, after, None) {
            count.and_where(condition);
        }
        let total = match self.db.query_one(&count).await {
            Ok(Some(row)) => Ord::max(row.try_get_by_index::<i64>(0).unwrap_or(0), 0) as u64,
            _ => 0,
        };
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows  {rate}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", crate::logging::whole_rate)
            .progress_chars("=> "),
        );
        bar.set_prefix(unit.to_string());
        bar
    }
}

/// Where a walk stands: the main walk's last key, and the ranges deferred for a later
/// pass. Saved in each batch's checkpoint, so a resumed run owes nothing.
#[derive(Debug, Clone)]
struct WalkState {
    after: Option<Key>,
    deferred: Vec<Deferred>,
}

/// How a batch's writes are made. A rejected row is rare, and a savepoint costs round
/// trips on every batch, so a batch is first written directly in its transaction; if
/// the database rejects a row, the batch is rolled back whole (PostgreSQL aborts the
/// transaction anyway) and written again `Isolating`.
#[derive(Debug, Clone, Copy)]
enum Isolation {
    Direct,
    /// The writes under savepoints, split until the rejected rows stand alone.
    Isolating,
}

/// Which part of the walk a batch reads: the main walk, or the first deferred range.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    Main,
    Deferred,
}

impl WalkState {
    /// The (after, upto) bounds of the next batch at `cursor`.
    fn range(&self, cursor: Cursor) -> (Option<&Key>, Option<&Key>) {
        match (cursor, self.deferred.first()) {
            (Cursor::Deferred, Some(range)) => (range.after.as_ref(), Some(&range.upto)),
            _ => (self.after.as_ref(), None),
        }
    }

    /// This state with `cursor` moved past `upto`.
    fn advanced(&self, cursor: Cursor, upto: Key) -> WalkState {
        let mut next = self.clone();
        match (cursor, next.deferred.first_mut()) {
            (Cursor::Deferred, Some(range)) => range.after = Some(upto),
            _ => next.after = Some(upto),
        }
        next
    }
}

enum Step<R> {
    /// The batch committed; `read` is the next batch's read, done ahead.
    Advanced {
        next: WalkState,
        rows: u64,
        read: Option<Batch<R>>,
    },
    Deferred(Deferred),
    Exhausted,
}

/// Opens a batch's transaction.
async fn begin_batch(
    db: &DatabaseConnection,
    settings: &EngineSettings,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // Bounded lock waits keep application traffic moving: a batch that would
        // queue behind (and in front of) application locks gives up and retries.
        // A batch's commit need not wait for its WAL flush: the batch, its journal
        // and its checkpoint commit together, so a server crash can only lose the
        // last few batches whole, and --resume redoes them. The run's final status
        // commits synchronously, which flushes every batch before it.
        let ms = settings.lock_timeout.as_millis();
        txn.execute_unprepared(&format!(
            "SET LOCAL lock_timeout = '{ms}ms'; SET LOCAL synchronous_commit = off"
        ))
        .await?;
    }
    Ok(txn)
}

/// Reads the batch after `after` (not past `upto`) in a short transaction of its own,
/// with the same bounded lock waits as a write, then decodes it once that transaction
/// has ended (decoding parses payloads: no snapshot is held for it); `None` when the walk
/// is done.
async fn fetch<J: BatchJob>(
    db: &DatabaseConnection,
    settings: &EngineSettings,
    job: &J,
    walk: TableWalk,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    let backend = db.get_database_backend();
    let limit = settings.batch_size;
    let read = if backend == DatabaseBackend::Postgres {
        let txn = begin_batch(db, settings).await?;
        let read = read_batch(&txn, limit, job, walk, after, upto).await?;
        txn.commit().await?;
        read
    } else {
        // One SELECT is consistent by itself, and SQLite has no lock waits to bound.
        read_batch(db, limit, job, walk, after, upto).await?
    };
    decode_batch(job, walk, backend, after, read)
}

/// A batch as the database returned it: its rows, or the one row of its bounds and the
/// number of sums in it.
enum ReadBatch {
    Rows(Vec<QueryResult>),
    Range(Option<QueryResult>, usize),
}

async fn read_batch<J: BatchJob>(
    conn: &impl ConnectionTrait,
    limit: u64,
    job: &J,
    walk: TableWalk,
    after: Option<&Key>,
    upto: Option<&Key>,
) -> Result<ReadBatch, DbErr> {
    let backend = conn.get_database_backend();
    Ok(match job.reads(backend) {
        Reads::Rows(columns) => ReadBatch::Rows(
            conn.query_all(&walk.select(backend, columns, after, upto, limit))
                .await?,
        ),
        Reads::Range(sums) => {
            let wanted = sums.len();
            let bounds = walk.bounds(backend, sums, after, upto, limit);
            ReadBatch::Range(conn.query_one(&bounds).await?, wanted)
        }
    })
}

fn decode_batch<J: BatchJob>(
    job: &J,
    walk: TableWalk,
    backend: DatabaseBackend,
    after: Option<&Key>,
    read: ReadBatch,
) -> Result<Option<Batch<J::Row>>, DbErr> {
    Ok(match read {
        ReadBatch::Rows(rows) => {
            let mut decoded = Vec::with_capacity(rows.len());
            for row in &rows {
                decoded.push((walk.read_key(row)?, job.decode(row, backend)?));
            }
            match decoded.last() {
                Some((last, _)) => Some(Batch {
                    number: 0,
                    after: after.cloned(),
                    upto: last.clone(),
                    count: decoded.len() as u64,
                    rows: decoded,
                    sums: Vec::new(),
                }),
                None => None,
            }
        }
        ReadBatch::Range(row, wanted) => {
            let count: i64 = row.as_ref().map_or(Ok(0), |r| r.try_get_by_index(0))?;
            match row.filter(|_| count > 0) {
                Some(row) => Some(Batch {
                    number: 0,
                    after: after.cloned(),
                    upto: walk.read_key_at(&row, 1)?,
                    count: count as u64,
                    rows: Vec::new(),
                    sums: (0..wanted)
                        .map(|i| row.try_get_by_index::<i64>(2 + i))
                        .collect::<Result<Vec<i64>, DbErr>>()?,
                }),
                None => None,
            }
        }
    })
}

fn report(unit: &str, counters: Counters, timings: &[f64]) -> UnitReport {
    let tenth = timings.len().div_ceil(10);
    let mean =
        |slice: &[f64]| (!slice.is_empty()).then(|| slice.iter().sum::<f64>() / slice.len() as f64);
    UnitReport {
        unit: unit.to_string(),
        counters,
        first_tenth_batch_ms: mean(&timings[..tenth]),
        last_tenth_batch_ms: mean(&timings[timings.len() - tenth..]),
    }
}

/// Exponential backoff with jitter, capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    let base = Ord::min(100u64 << Ord::min(attempt, 6), 5000);
    let jitter = rand::random::<u64>() % (base / 2 + 1);
    Duration::from_millis(base / 2 + jitter)
}

/// The database refused the rows themselves (a constraint, a trigger, a type): neither
/// "not now" (`db::is_transient`) nor a lost connection, which no row is to blame for.
fn is_rejection(err: &DbErr) -> bool {
    !db::is_transient(err) && !db::is_connection_lost(err)
}

/// Writes `writes` under savepoints; when the database rejects a statement, splits it
/// in halves until the rejected rows stand alone, notes each as `row_rejected` with the
/// database's message (in the returned anomalies), and keeps every other row.
async fn isolate<J: BatchJob>(
    job: &J,
    txn: &DatabaseTransaction,
    writes: Vec<J::Write>,
) -> Result<Written, DbErr> {
    let mut written = Written::default();
    let mut pending = vec![writes];
    while let Some(mut slice) = pending.pop() {
        if slice.is_empty() {
            continue;
        }
        let savepoint = txn.begin().await?;
        match job.write(&savepoint, &slice).await {
            Ok(done) => {
                savepoint.commit().await?;
                written.absorb(done);
            }
            Err(err) if !is_rejection(&err) => return Err(err),
            Err(err) => {
                savepoint.rollback().await?;
                if slice.len() > 1 {
                    let right = slice.split_off(slice.len() / 2);
                    pending.push(right);
                    pending.push(slice);
                } else if let Some(single) = slice.pop() {
                    match job.split(txn, single).await? {
                        Split::Halves(left, right) => {
                            pending.push(vec![right]);
                            pending.push(vec![left]);
                        }
                        Split::Row(table, row_id) => written.anomalies.push(Anomaly {
                            table,
                            row_id,
                            kind: AnomalyKind::RowRejected,
                            description: db::db_message(&err),
                        }),
                    }
                }
            }
        }
    }
    Ok(written)
}
