//! What differs between databases, in one place. Each backend is one file implementing
//! [`Backend`]; the rest of the tool asks [`of`] for a connection's backend and never
//! matches on the database kind itself, so a new backend does not compile until each
//! of its methods is written. `connect` holds connecting and the checks every command
//! makes before it writes (tables and columns present, database writable); `shared` the
//! pieces several backends build their methods from.

mod connect;
mod mysql;
mod postgres;
mod shared;
mod sqlite;

use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;

use crate::engine::{Observation, TableWalk};
use sea_orm::sea_query::{
    Alias, ColumnRef, ColumnType, Expr, ExprTrait, IntoIden, OnConflict, Query, TableRef,
    UpdateStatement, Value, ValueTuple,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, QueryResult, RuntimeErr, Statement, TransactionTrait, sqlx,
};

pub use connect::{
    connect, connect_for_workers, require_columns, require_tables, require_writable,
};
pub use mysql::Mysql;
pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// Bound values per statement, under SQLite's 32766 and PostgreSQL's and MySQL's 65535.
pub const MAX_BINDS: usize = 30_000;

/// What a failed statement means for the batch that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// "Not now": a lock wait that hit the lock timeout, a deadlock, a serialization
    /// failure, a busy file. The batch is rolled back whole and tried again; bisecting
    /// would blame innocent rows.
    Transient,
    /// The connection itself is gone: no row is to blame.
    ConnectionLost,
    /// The database's storage is full.
    DiskFull,
    /// The database only allows reading.
    ReadOnly,
    /// The database refused the rows themselves (a constraint, a trigger, a type).
    Rejected,
}

/// An update whose changed rows are journaled in `backfill_journal`, in the same
/// transaction, as `{"old": old, "keys": [key, …]}`.
pub struct JournaledUpdate<'a> {
    pub run_id: i64,
    /// The batch the update belongs to.
    pub batch: u64,
    pub table: &'static str,
    /// The rows to change; every one of them holds `old`.
    pub target: Expr,
    /// The value every changed row held.
    pub old: Option<&'a str>,
    /// The update itself, its `WHERE` being `target`.
    pub update: UpdateStatement,
    /// The primary key that names a changed row.
    pub identity: TableWalk,
    /// Whether the changed keys are wanted back (else only their count).
    pub return_keys: bool,
}

/// What an update changed: how many rows, or which (one key per row, at index 0).
pub enum Changed {
    Count(u64),
    Keys(Vec<QueryResult>),
}

/// Rows of one table encoded for the fastest bulk load its backend has (`seed`). The
/// encoding is CPU work, done beside the database's work on the chunk before.
pub struct BulkRows {
    pub table: String,
    pub(crate) body: BulkBody,
}

pub(crate) enum BulkBody {
    /// `COPY … FROM STDIN` and its CSV.
    Copy { statement: String, csv: String },
    /// Multi-row INSERTs, run in one transaction.
    Inserts(Vec<Statement>),
}

/// Everything about a database that is not the same on every backend.
#[async_trait]
pub trait Backend: Send + Sync {
    // --- connecting -------------------------------------------------------------

    /// Pool size, per-connection settings and driver options.
    fn configure(&self, options: &mut ConnectOptions);

    /// One plain connection before the pool is built, so that an unreachable server is
    /// reported at once with its reason (a pool retries, then only says "timed out").
    async fn probe(&self, url: &str) -> Result<(), String>;

    /// Whether the database refuses writes (a read-only file or transaction mode).
    async fn is_read_only(&self, db: &DatabaseConnection) -> Result<bool, DbErr>;

    /// Settings a database gets when the migrations create it from nothing (an
    /// existing database keeps its own).
    async fn prepare_new_database(&self, db: &DatabaseConnection) -> Result<(), DbErr>;

    // --- transactions and errors -----------------------------------------------

    /// Statements that open a batch's transaction: bounded lock waits, commit mode.
    fn batch_setup(&self, lock_timeout: Duration) -> Option<String>;

    /// Whether a batch's read runs in a transaction of its own (with the lock waits
    /// of a write); where there are no lock waits to bound, one SELECT is enough.
    fn reads_in_transaction(&self) -> bool;

    /// What a database error means for a batch (`None`: not a database error the
    /// backend recognises).
    fn classify_error(&self, err: &dyn sqlx::error::DatabaseError) -> Option<Failure>;

    // --- keys and values --------------------------------------------------------

    /// `value` as a 64-bit integer (SERIAL and BIGSERIAL keys read alike; a SUM reads
    /// as an integer).
    fn bigint(&self, value: Expr) -> Expr {
        value.cast_as(Alias::new("BIGINT"))
    }

    /// A uuid key as selected, so that it reads back as its hyphenated text.
    fn uuid_as_text(&self, column: Expr) -> Expr;

    /// The greatest of the uuid texts `column`, ordered as the uuids are.
    fn max_uuid_text(&self, column: Expr) -> Expr;

    /// A value as this backend stores it (SQLite keeps uuids and arrays as text).
    fn stored_value(&self, value: Value) -> Value;

    /// `column IN (ids)` with the whole list bound as one value: one prepared statement
    /// serves every batch, whatever its size, and never meets the bind limits.
    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr;

    // --- payloads ---------------------------------------------------------------

    /// A text column as the backfills read it: as bytes where TEXT may hold bytes that
    /// are not UTF-8 (reading such a value as a string would fail its whole batch).
    /// Where the server refuses text that is not valid in its encoding, as it is.
    fn text_as_read(&self, column: Expr) -> Expr {
        column
    }

    /// Reads a column selected with [`Backend::text_as_read`].
    fn read_text(&self, row: &QueryResult, index: usize) -> Result<Option<Vec<u8>>, DbErr> {
        Ok(row
            .try_get_by_index::<Option<String>>(index)?
            .map(String::into_bytes))
    }

    /// Rows whose text `column` may not be valid UTF-8, for a closer look (`None` where
    /// text is always valid UTF-8). Any value outside printable ASCII qualifies.
    fn maybe_not_utf8(&self, _column: &str) -> Option<Expr> {
        None
    }

    /// SQL predicate over `tests t`: the payload lists at least one feature.
    fn lists_features(&self) -> &'static str;

    /// SQL predicate over `bugs b`: the payload names a test feature.
    fn names_test_feature(&self) -> &'static str;

    // --- catalog ----------------------------------------------------------------

    /// A query of one boolean row: is `table.column` declared NOT NULL? `None` where
    /// the tool never makes a column NOT NULL.
    fn not_null_query(&self, table: &str, column: &str) -> Option<Statement>;

    /// Statements that make `table.project_id` NOT NULL once its check holds for every
    /// row, and retire the check; none where the check stays the guard.
    async fn promote_not_null(
        &self,
        txn: &DatabaseTransaction,
        table: &str,
    ) -> Result<Vec<String>, DbErr>;

    /// The catalog query of `table`'s columns: name, type name (lower case), nullable.
    fn columns_query(&self, table: &str) -> Statement;

    /// Whether a column of type `actual` (as `columns_query` names it) holds the
    /// entity's `expected` type.
    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool;

    /// Whether a column stands for the entities' `embedding` float array in another
    /// type the tool accepts there (it never reads embeddings): pgvector's `vector`.
    fn stands_for_embedding(&self, column: &str, actual: &str) -> bool;

    /// What a missing foreign key report adds about fixing it ("" when `migrate up`
    /// adds it).
    fn missing_foreign_key_hint(&self) -> &'static str;

    /// A throwaway database named `name` beside the one `url` names (`migrate check`).
    async fn create_scratch(
        &self,
        db: &DatabaseConnection,
        url: &str,
        name: &str,
    ) -> Result<DatabaseConnection>;

    /// Removes the scratch database `name`.
    async fn drop_scratch(&self, db: &DatabaseConnection, name: &str) -> Result<()>;

    /// Whether tables keyed by uuid are walked in `rowid` order (their physical
    /// order: in uuid order a batch would touch a different page for nearly every row).
    fn walks_uuid_tables_by_rowid(&self) -> bool;

    /// The predicate of the partial unique index on open anomalies, spelled as the
    /// migration spells it (an upsert repeats it).
    fn open_anomaly_predicate(&self) -> &'static str;

    // --- pacing -----------------------------------------------------------------

    /// The database's own estimate of the rows in `table`, for `runs` (cheap: never
    /// a count). `None` when it has none.
    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64>;

    /// What the database shows of its health for a walk of `table`: standbys and
    /// their replay, other sessions waiting on locks that involve `table`, load.
    async fn observe_health(
        &self,
        db: &DatabaseConnection,
        table: &str,
    ) -> Result<Observation, DbErr>;

    // --- writes -----------------------------------------------------------------

    /// Sets `column` to the second of each pair on the row of `table` whose `key` is
    /// the first: one `UPDATE … FROM (VALUES (key, value), …)`, a join on the primary
    /// key, per chunk of pairs.
    async fn set_by_key(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        pairs: &[(i64, i64)],
    ) -> Result<(), DbErr> {
        let list = Alias::new("pairs");
        for chunk in pairs.chunks(MAX_BINDS / 2) {
            let values = chunk
                .iter()
                .map(|(key, value)| ValueTuple::Two((*key).into(), (*value).into()))
                .collect();
            let update = Query::update()
                .table(Alias::new(table))
                .value(
                    Alias::new(column),
                    Expr::col((list.clone(), Alias::new("column2"))),
                )
                .from(TableRef::ValuesList(values, list.clone().into_iden()))
                .and_where(
                    Expr::col((Alias::new(table), Alias::new(key)))
                        .equals((list.clone(), Alias::new("column1"))),
                )
                .to_owned();
            txn.execute(&update).await?;
        }
        Ok(())
    }

    /// The `ON CONFLICT (key)` clause of an upsert into `table` that updates `columns`
    /// from the incoming row, except where the stored row's `guard` differs from the
    /// incoming one: such a row is left as it is.
    fn guarded_upsert(
        &self,
        table: &'static str,
        key: &'static str,
        columns: &[&'static str],
        guard: &'static str,
    ) -> OnConflict {
        OnConflict::column(Alias::new(key))
            .update_columns(columns.iter().map(|c| Alias::new(*c)))
            .action_and_where(
                Expr::col((Alias::new(table), Alias::new(guard)))
                    .equals((Alias::new("excluded"), Alias::new(guard))),
            )
            .to_owned()
    }

    /// Runs `update` (of `table`, its `WHERE` being `target`), returning the changed
    /// keys (`key`, as selected) when asked for.
    async fn run_update(
        &self,
        txn: &DatabaseTransaction,
        _table: &'static str,
        _target: Expr,
        mut update: UpdateStatement,
        key: Expr,
        return_keys: bool,
    ) -> Result<Changed, DbErr> {
        if return_keys {
            update.returning(Query::returning().expr(key));
            Ok(Changed::Keys(txn.query_all(&update).await?))
        } else {
            Ok(Changed::Count(txn.execute(&update).await?.rows_affected()))
        }
    }

    /// Runs the update and journals exactly the rows it changed, in `txn`.
    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        update: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr>;

    // --- bulk loading (seed) ------------------------------------------------------

    /// Encodes rows (each its values, in `columns` order) for [`Backend::load_bulk`].
    fn encode_bulk(
        &self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<BulkRows>;

    /// Writes rows encoded by [`Backend::encode_bulk`] in one transaction.
    async fn load_bulk(&self, db: &DatabaseConnection, rows: BulkRows) -> Result<()>;

    /// Whether two connections may write at once (bulk loads, a run's workers):
    /// SQLite takes one writer at a time.
    fn writes_in_parallel(&self) -> bool;

    // --- many workers -------------------------------------------------------------

    /// The database's clock now, in milliseconds since 1970 (BIGINT): leases are kept
    /// on it, so workers on hosts whose clocks differ still agree.
    fn clock_millis(&self) -> Expr;

    /// The database's histogram of an integer `column` of `table`, its bounds in
    /// order, to cut a table's key space into ranges of about as many rows each
    /// without reading it. `None` when it keeps none.
    async fn key_histogram(
        &self,
        _db: &DatabaseConnection,
        _table: &str,
        _column: &str,
    ) -> Option<Vec<i64>> {
        None
    }

    /// Statements that lift a memory table's NOT NULL guard on `project_id`, for
    /// writing legacy rows (`seed`); `migration::ensure_project_id_check` restores it.
    fn lift_project_id_guard(&self, table: &str) -> Vec<String>;

    /// Statements after a seed: make every loaded row durable, and move the sequences
    /// of tables given explicit ids past them.
    fn after_seed(&self, serial_tables: &[&str]) -> Vec<String>;
}

/// The backend of `conn`. `connect` refuses every scheme without a backend, so only
/// the backends named here ever reach it.
pub fn of(conn: &impl ConnectionTrait) -> &'static dyn Backend {
    match conn.get_database_backend() {
        DatabaseBackend::Sqlite => &Sqlite,
        DatabaseBackend::Postgres => &Postgres,
        DatabaseBackend::MySql => &Mysql,
        other => unreachable!("BUG: connect accepted a {other:?} database, which has no backend"),
    }
}

/// The database's own message for an error, without SeaORM's wrapping.
pub fn db_message(err: &DbErr) -> String {
    match sqlx_error(err) {
        Some(sqlx::Error::Database(db)) => db.message().to_string(),
        Some(other) => other.to_string(),
        None => err.to_string(),
    }
}

pub(super) fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

/// What `err`, met on `conn`'s backend, means for the batch that met it.
pub fn classify(backend: &dyn Backend, err: &DbErr) -> Failure {
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return Failure::ConnectionLost;
    }
    match sqlx_error(err) {
        Some(sqlx::Error::PoolTimedOut) => Failure::Transient,
        Some(sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Protocol(_)) => {
            Failure::ConnectionLost
        }
        Some(sqlx::Error::Database(db)) => backend
            .classify_error(db.as_ref())
            .unwrap_or(Failure::Rejected),
        _ => Failure::Rejected,
    }
}

/// Opens a batch's transaction, set up as its backend wants (bounded lock waits).
pub async fn begin_batch(
    db: &DatabaseConnection,
    lock_timeout: Duration,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if let Some(setup) = of(db).batch_setup(lock_timeout) {
        txn.execute_unprepared(&setup).await?;
    }
    Ok(txn)
}

/// The boolean a one-row query returns; false when it returns no row.
pub async fn query_flag(conn: &impl ConnectionTrait, query: Statement) -> Result<bool, DbErr> {
    Ok(conn
        .query_one_raw(query)
        .await?
        .map(|row| row.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false))
}
