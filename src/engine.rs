//! The batch engine both backfills run on: walk a table in primary-key order
//! (`KeysetWalker`, never OFFSET), and for each batch, in one short transaction, let the
//! job plan its writes, write them in bulk, isolate rows the database rejects (bisecting
//! under savepoints), journal what changed, log anomalies, and save the checkpoint. Between
//! batches it throttles, draws progress and honours Ctrl-C. A job supplies only what is
//! its own: which columns it reads, what it writes, and how.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use entity::backfill_journal;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement, Value};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, EntityTrait, QueryResult, TransactionTrait,
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

    /// `key >= first AND key <= last`: a batch's rows, or part of them.
    pub fn between(&self, backend: DatabaseBackend, first: &Key, last: &Key) -> Expr {
        let col = || Expr::col(Alias::new(self.key));
        col()
            .gte(first.to_value(self.kind, backend))
            .and(col().lte(last.to_value(self.kind, backend)))
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
    /// `upto`), in key order. A primary-key range scan: the same cost for the first
    /// batch and the last.
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
            .expr(self.key_expr(backend))
            .exprs(columns)
            .from(Alias::new(self.table))
            .order_by(Alias::new(self.key), Order::Asc)
            .limit(limit);
        for condition in self.range(backend, after, upto) {
            query.and_where(condition);
        }
        query
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

/// What a bulk write changed. `changes` are journaled for rollback: (row key, old value).
#[derive(Debug, Default)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
    pub normalized: u64,
    pub changes: Vec<(String, Option<String>)>,
    /// Anomalies only the write could see (old values it replaced).
    pub anomalies: Vec<Anomaly>,
}

impl Written {
    fn absorb(&mut self, other: Written) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.normalized += other.normalized;
        self.changes.extend(other.changes);
    }
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

    /// What is read besides the key (index 0), in order.
    fn columns(&self, backend: DatabaseBackend) -> Vec<Expr>;

    fn decode(&self, row: &QueryResult, backend: DatabaseBackend) -> Result<Self::Row, DbErr>;

    /// Decides a batch's writes, reading what it needs in `txn`. Counts unchanged and
    /// skipped rows and notes anomalies in `plan`.
    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        rows: Vec<(Key, Self::Row)>,
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
        loop {
            let started = Instant::now();
            match self
                .batch(job, walk, unit, &state, Cursor::Main, &mut counters)
                .await?
            {
                Step::Exhausted => break,
                Step::Deferred(range) => {
                    // Saved with the next batch's checkpoint; until then a crash just
                    // walks this range again.
                    state.after = Some(range.upto.clone());
                    state.deferred.push(range);
                }
                Step::Advanced { next, rows } => {
                    state = next;
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
                .batch(job, walk, unit, &state, Cursor::Deferred, &mut counters)
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

    /// One batch at `cursor`, retried on transient errors.
    async fn batch<J: BatchJob>(
        &mut self,
        job: &J,
        walk: TableWalk,
        unit: &str,
        state: &WalkState,
        cursor: Cursor,
        counters: &mut Counters,
    ) -> Result<Step> {
        let (after, _) = state.range(cursor);
        let from = || {
            after
                .map(ToString::to_string)
                .unwrap_or_else(|| "the start".into())
        };
        let mut attempt = 0;
        let mut last_upto = None;
        loop {
            attempt += 1;
            match self
                .try_batch(job, walk, unit, state, cursor, counters, &mut last_upto)
                .await
            {
                Ok(step) => return Ok(step),
                Err(err) if db::is_transient(&err) && attempt < self.settings.attempts => {
                    let wait = backoff(attempt);
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

    #[allow(clippy::too_many_arguments)]
    async fn try_batch<J: BatchJob>(
        &mut self,
        job: &J,
        walk: TableWalk,
        unit: &str,
        state: &WalkState,
        cursor: Cursor,
        counters: &mut Counters,
        last_upto: &mut Option<Key>,
    ) -> Result<Step, DbErr> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await?;
        if backend == DatabaseBackend::Postgres {
            // Bounded lock waits keep application traffic moving: a batch that would
            // queue behind (and in front of) application locks gives up and retries.
            let ms = self.settings.lock_timeout.as_millis();
            txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{ms}ms'"))
                .await?;
        }
        let (after, upto) = state.range(cursor);
        let query = walk.select(
            backend,
            job.columns(backend),
            after,
            upto,
            self.settings.batch_size,
        );
        let rows = txn.query_all(&query).await?;
        let Some(last) = rows.last() else {
            txn.rollback().await?;
            return Ok(Step::Exhausted);
        };
        let batch_upto = walk.read_key(last)?;
        *last_upto = Some(batch_upto.clone());
        let row_count = rows.len() as u64;
        let mut decoded = Vec::with_capacity(rows.len());
        for row in &rows {
            decoded.push((walk.read_key(row)?, job.decode(row, backend)?));
        }
        drop(rows);

        let mut plan = BatchPlan::default();
        plan.counters.processed = row_count;
        let writes = job.plan(&txn, decoded, &mut plan).await?;
        let written = isolate(job, &txn, writes, &mut plan.anomalies).await?;

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
            let run_id = self.run_id();
            if let Some(run_id) = run_id.filter(|_| !written.changes.is_empty()) {
                journal(
                    &txn,
                    run_id,
                    walk.table,
                    counters.batches + 1,
                    written.changes,
                )
                .await?;
            }
            plan.anomalies.flush(&txn, run_id).await?;
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
        Ok(Step::Advanced {
            next,
            rows: row_count,
        })
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
                "{prefix:>20} [{bar:30}] {pos}/{len} rows  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
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

enum Step {
    Advanced { next: WalkState, rows: u64 },
    Deferred(Deferred),
    Exhausted,
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

/// Writes `writes`; when the database rejects the statement, splits it in halves under
/// savepoints until the rejected rows stand alone, logs each as `row_rejected` with
/// the database's message, and keeps every other row. The happy path costs one
/// savepoint per batch.
async fn isolate<J: BatchJob>(
    job: &J,
    txn: &DatabaseTransaction,
    writes: Vec<J::Write>,
    anomalies: &mut AnomalyLog,
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
                for anomaly in &done.anomalies {
                    anomalies.note(
                        anomaly.table,
                        &anomaly.row_id,
                        anomaly.kind,
                        anomaly.description.clone(),
                    );
                }
                written.absorb(done);
            }
            Err(err) if db::is_transient(&err) || db::is_connection_lost(&err) => return Err(err),
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
                        Split::Row(table, row) => {
                            anomalies.note(
                                table,
                                row,
                                AnomalyKind::RowRejected,
                                db::db_message(&err),
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(written)
}

async fn journal(
    txn: &DatabaseTransaction,
    run_id: i64,
    table: &str,
    batch_no: u64,
    changes: Vec<(String, Option<String>)>,
) -> Result<(), DbErr> {
    let model = backfill_journal::ActiveModel {
        run_id: Set(run_id),
        table_name: Set(table.to_string()),
        batch_no: Set(batch_no as i64),
        changes: Set(serde_json::to_value(changes).map_err(|e| DbErr::Json(e.to_string()))?),
        created_at: Set(Utc::now().fixed_offset()),
        ..Default::default()
    };
    backfill_journal::Entity::insert(model)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
