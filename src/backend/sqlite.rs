//! SQLite: one writer, no lock waits to bound, TEXT that may hold any bytes, uuids and
//! arrays stored as text, and ids bound as one JSON array under `json_each`.

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, ColumnRef, ColumnType, Expr, ExprTrait, Func, Query, Value};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, QueryResult, Statement, sqlx,
};

use crate::engine::Observation;

use super::{
    Backend, BulkRows, Changed, Failure, JournaledUpdate, db_message, shared::array_as_json,
    shared::drop_project_id_triggers, shared::journal_insert, shared::load_inserts,
    shared::multi_row_inserts,
};

/// Rows a connection's worker thread may send ahead of the task reading them (sqlx's
/// default is 50): a default batch in one go.
const ROW_BUFFER: usize = 1024;

pub struct Sqlite;

#[async_trait]
impl Backend for Sqlite {
    fn configure(&self, options: &mut ConnectOptions) {
        // Two: a batch writes on one while the next batch is read on the other. An
        // SQLite connection lives in this process and cannot drop, so it is not pinged
        // (a round trip to its worker thread) each time it is taken from the pool.
        // sqlx turns foreign keys on for every connection.
        options
            .max_connections(2)
            .test_before_acquire(false)
            .map_sqlx_sqlite_opts(|sqlite| sqlite.row_buffer_size(ROW_BUFFER))
            .map_sqlx_sqlite_pool_opts(|pool| pool.after_connect(|conn, _| tune_connection(conn)));
    }

    async fn probe(&self, _url: &str) -> std::result::Result<(), String> {
        // A file, not a server: opening it is the probe.
        Ok(())
    }

    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64> {
        // The largest rowid: one step down the table's b-tree, close to the row count
        // of a table that is appended to.
        let query = format!("SELECT max(rowid) FROM \"{table}\"");
        let row = db
            .query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, query))
            .await
            .ok()??;
        row.try_get_by_index::<Option<i64>>(0)
            .ok()?
            .map(|rows| u64::try_from(rows).unwrap_or(0))
    }

    async fn observe_health(
        &self,
        _db: &DatabaseConnection,
        _table: &str,
    ) -> Result<Observation, DbErr> {
        // An embedded file has no standbys, and its lock waits are the busy timeout's.
        Ok(Observation::default())
    }

    async fn is_read_only(&self, db: &DatabaseConnection) -> Result<bool, DbErr> {
        // SQLite reports read-only-ness only when a write is tried: create a table in a
        // transaction that is always rolled back. A busy file is not read-only.
        let probe = db
            .execute_unprepared(
                "BEGIN; CREATE TABLE main.backfill_write_probe (x INTEGER); ROLLBACK;",
            )
            .await;
        if probe.is_err() {
            let _ = db.execute_unprepared("ROLLBACK").await;
        }
        Ok(probe.is_err_and(|err| {
            let message = db_message(&err).to_lowercase();
            message.contains("readonly")
                || message.contains("read-only")
                || message.contains("query_only")
        }))
    }

    async fn prepare_new_database(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let tables = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COUNT(*) FROM sqlite_master",
            ))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        if tables == 0 {
            // WAL, what a live database with readers beside a writer wants. The
            // connections opened before this one keep FULL, which is only slower.
            db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
                .await?;
        }
        Ok(())
    }

    fn batch_setup(&self, _lock_timeout: Duration) -> Option<String> {
        // One writer at a time: a busy file is retried, not waited for under a timeout.
        None
    }

    fn reads_in_transaction(&self) -> bool {
        false
    }

    fn classify_error(&self, err: &dyn sqlx::error::DatabaseError) -> Option<Failure> {
        // Primary result codes are the low byte of the extended ones.
        let primary = err.code()?.parse::<i32>().ok()? & 0xff;
        Some(match primary {
            5 | 6 => Failure::Transient,   // SQLITE_BUSY, SQLITE_LOCKED
            8 => Failure::ReadOnly,        // SQLITE_READONLY
            13 => Failure::DiskFull,       // SQLITE_FULL
            10 => Failure::ConnectionLost, // SQLITE_IOERR: the file is gone or unreadable
            _ => Failure::Rejected,
        })
    }

    fn uuid_as_text(&self, column: Expr) -> Expr {
        // Stored as its hyphenated text already.
        column
    }

    fn max_uuid_text(&self, column: Expr) -> Expr {
        Func::max(column).into()
    }

    fn stored_value(&self, value: Value) -> Value {
        match value {
            Value::Uuid(uuid) => Value::String(uuid.map(|u| u.hyphenated().to_string())),
            other => array_as_json(other),
        }
    }

    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let each = Query::select()
            .column(Alias::new("value"))
            .from_function(
                Func::cust(Alias::new("json_each")).arg(list),
                Alias::new("ids"),
            )
            .to_owned();
        Expr::col(column).in_subquery(each)
    }

    fn text_as_read(&self, column: Expr) -> Expr {
        column.cast_as(Alias::new("BLOB"))
    }

    fn read_text(&self, row: &QueryResult, index: usize) -> Result<Option<Vec<u8>>, DbErr> {
        row.try_get_by_index::<Option<Vec<u8>>>(index)
    }

    fn maybe_not_utf8(&self, column: &str) -> Option<Expr> {
        // TEXT takes any bytes. GLOB reads a stray byte as U+FFFD, outside ' '..'~'.
        Some(Expr::cust(format!("(\"{column}\" GLOB '*[^ -~]*')")))
    }

    fn lists_features(&self) -> &'static str {
        "(json_valid(t.data) AND COALESCE(json_array_length(t.data, '$.features'), \
         json_array_length(t.data, '$.exploratory_test.features'), 0) > 0)"
    }

    fn names_test_feature(&self) -> &'static str {
        "(json_valid(b.raw_data) AND json_type(b.raw_data, '$.test_feature') IS 'object')"
    }

    fn not_null_query(&self, _table: &str, _column: &str) -> Option<Statement> {
        // SQLite cannot make a column NOT NULL in place; its triggers do the work.
        None
    }

    async fn promote_not_null(
        &self,
        _txn: &DatabaseTransaction,
        _table: &str,
    ) -> Result<Vec<String>, DbErr> {
        Ok(Vec::new())
    }

    fn columns_query(&self, table: &str) -> Statement {
        Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT name, lower(type), \"notnull\" = 0 AND pk = 0 FROM pragma_table_info(?)",
            [table.into()],
        )
    }

    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool {
        // SQLite keeps any value in any column; what matters is the affinity its
        // declared type gives (https://www.sqlite.org/datatype3.html §3.1).
        let text = ["char", "clob", "text"].iter().any(|t| actual.contains(t));
        match expected {
            ColumnType::BigInteger | ColumnType::Integer => actual.contains("int"),
            ColumnType::Boolean => actual.contains("bool") || actual.contains("int"),
            ColumnType::Float | ColumnType::Double => {
                ["real", "floa", "doub"].iter().any(|t| actual.contains(t))
            }
            ColumnType::String(_)
            | ColumnType::Text
            | ColumnType::Char(_)
            | ColumnType::Json
            | ColumnType::JsonBinary
            | ColumnType::Uuid
            | ColumnType::Array(_) => text,
            ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
                text || actual.contains("time") || actual.contains("date")
            }
            _ => true,
        }
    }

    fn stands_for_embedding(&self, _column: &str, _actual: &str) -> bool {
        false
    }

    fn missing_foreign_key_hint(&self) -> &'static str {
        " (SQLite cannot add one to an existing table: rebuild the table to get it)"
    }

    async fn create_scratch(
        &self,
        _db: &DatabaseConnection,
        _url: &str,
        name: &str,
    ) -> anyhow::Result<DatabaseConnection> {
        let path = std::env::temp_dir().join(format!("{name}.db"));
        super::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    async fn drop_scratch(&self, _db: &DatabaseConnection, name: &str) -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Ok(())
    }

    fn walks_uuid_tables_by_rowid(&self) -> bool {
        true
    }

    fn open_anomaly_predicate(&self) -> &'static str {
        migration::ANOMALIES_OPEN_PREDICATE_SQLITE
    }

    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        // No statement here both updates and inserts, but the single writer keeps the
        // rows still between the journal's `INSERT … SELECT` and the update.
        let changes = Func::cust("json_object")
            .arg("old")
            .arg(entry.old)
            .arg("keys")
            .arg(Func::cust("json_group_array").arg(entry.identity.key_expr(self)));
        let journal = journal_insert(
            &entry,
            changes,
            Alias::new(entry.table),
            entry.target.clone(),
        )?;
        txn.execute(&journal).await?;
        self.run_update(
            txn,
            entry.table,
            entry.target,
            entry.update,
            entry.identity.key_expr(self),
            entry.return_keys,
        )
        .await
    }

    fn encode_bulk(
        &self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> anyhow::Result<BulkRows> {
        Ok(multi_row_inserts(
            self,
            DatabaseBackend::Sqlite,
            table,
            columns,
            rows,
        ))
    }

    async fn load_bulk(&self, db: &DatabaseConnection, rows: BulkRows) -> anyhow::Result<()> {
        load_inserts(db, rows).await
    }

    fn clock_millis(&self) -> Expr {
        Expr::cust("CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)")
    }

    fn writes_in_parallel(&self) -> bool {
        // One writer at a time.
        false
    }

    fn lift_project_id_guard(&self, table: &str) -> Vec<String> {
        drop_project_id_triggers(table)
    }

    fn after_seed(&self, _serial_tables: &[&str]) -> Vec<String> {
        // Every chunk committed durably, and an explicit rowid moves AUTOINCREMENT on.
        Vec::new()
    }
}

/// `"a", "b", …` for column names (ours, never user input).
pub(super) fn quoted_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run on every new connection. Statement and savepoint journals stay in memory
/// (`temp_store`), where every multi-row statement (and each savepoint of a batch
/// written again to isolate a rejected row) would otherwise create, write and delete a
/// temporary file. A 32 MiB page cache (SQLite's default is 2 MiB) keeps the index
/// pages a batch's inserts land on. In WAL mode `synchronous = NORMAL` cannot corrupt
/// the file; a power cut can only lose the last commits, and each batch's checkpoint is
/// in its own commit, so a resumed run redoes exactly those. It saves an fsync per
/// batch. The WAL is copied back into the file every 10,000 pages (40 MiB) rather than
/// every 1,000: short batches would otherwise copy the same index pages over and over.
/// Under a rollback journal `synchronous` stays FULL.
fn tune_connection(
    conn: &mut sqlx::SqliteConnection,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let mut pragmas = vec!["PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -32768"];
        if mode == "wal" {
            pragmas.extend([
                "PRAGMA synchronous = NORMAL",
                "PRAGMA wal_autocheckpoint = 10000",
            ]);
        }
        for pragma in pragmas {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
        Ok(())
    })
}
