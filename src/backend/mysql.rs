//! MySQL 8.0 and MariaDB 10.6+: session settings on every connection, lock waits in
//! whole seconds, uuids as `BINARY(16)`, arrays as JSON, id lists bound as one JSON
//! value under `JSON_TABLE`, and a journal written without `UPDATE … RETURNING`.
//!
//! Every connection runs with `ANSI_QUOTES` (so `"name"` is an identifier, as in the
//! SQL the backends share) and `READ COMMITTED`: under `REPEATABLE READ` a batch's
//! range read would take gap locks that block the application's inserts into the range.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::{
    Alias, ColumnRef, ColumnType, Expr, ExprTrait, Func, LockType, MysqlQueryBuilder, OnConflict,
    Query, UpdateStatement, Value,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, Statement, sqlx,
};

use super::connect::CONNECT_TIMEOUT;
use super::{
    Backend, BulkRows, Changed, Failure, JournaledUpdate, shared::array_as_json,
    shared::create_database_beside, shared::drop_project_id_triggers, shared::journal_insert,
    shared::load_inserts, shared::multi_row_inserts,
};
use crate::engine::{KeyKind, Observation};

pub struct Mysql;

/// Run on every new connection (see the module's comment). sqlx has already added
/// `PIPES_AS_CONCAT`, set the time zone to UTC and the character set to utf8mb4.
fn session_setup(
    conn: &mut sqlx::MySqlConnection,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        sqlx::query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
            .execute(&mut *conn)
            .await?;
        sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
}

/// The MySQL error number of `err`, if it is a database error.
fn mysql_error_number(err: &DbErr) -> Option<u16> {
    match super::sqlx_error(err)? {
        sqlx::Error::Database(db) => Some(
            db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?
                .number(),
        ),
        _ => None,
    }
}

#[async_trait]
impl Backend for Mysql {
    fn configure(&self, options: &mut ConnectOptions) {
        // A batch writing, the next one read ahead, and room for the ledger.
        options
            .max_connections(4)
            .map_sqlx_mysql_pool_opts(|pool| pool.after_connect(|conn, _| session_setup(conn)));
    }

    async fn probe(&self, url: &str) -> std::result::Result<(), String> {
        use sqlx::Connection;
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::MySqlConnection::connect(url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Ok(())
            }
            Ok(Err(sqlx::Error::Database(db))) => Err(db.message().to_string()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!(
                "no answer within {} seconds",
                CONNECT_TIMEOUT.as_secs()
            )),
        }
    }

    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64> {
        // InnoDB's sampled estimate, kept in the data dictionary.
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                "SELECT CAST(table_rows AS SIGNED) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                [table.into()],
            ))
            .await
            .ok()??;
        let estimate = row.try_get_by_index::<Option<i64>>(0).ok()??;
        u64::try_from(estimate).ok()
    }

    async fn observe_health(
        &self,
        db: &DatabaseConnection,
        _table: &str,
    ) -> Result<Observation, DbErr> {
        // A primary does not know how far its replicas have replayed (that is read on
        // each replica); what it shows is its own load and the transactions waiting on
        // a row lock.
        let threads = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::MySql,
                "SELECT CAST(variable_value AS SIGNED) FROM information_schema.global_status \
                 WHERE variable_name = 'THREADS_RUNNING'",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get_by_index::<i64>(0).ok());
        let waiters = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::MySql,
                "SELECT COUNT(*) FROM information_schema.innodb_trx \
                 WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id <> CONNECTION_ID()",
            ))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        Ok(Observation {
            standbys: Vec::new(),
            lock_waiters: u64::try_from(waiters).unwrap_or(0),
            // This session's own statement is one of the running threads.
            threads_running: threads.map(|t| u64::try_from(t - 1).unwrap_or(0)),
        })
    }

    async fn is_read_only(&self, db: &DatabaseConnection) -> Result<bool, DbErr> {
        // MariaDB before 11.1 calls the session variable `tx_read_only`.
        let mut flags = None;
        for variable in ["transaction_read_only", "tx_read_only"] {
            let sql = format!("SELECT @@global.read_only OR @@session.{variable}");
            if let Ok(row) = db
                .query_one_raw(Statement::from_string(DatabaseBackend::MySql, sql))
                .await
            {
                flags = row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?;
                break;
            }
        }
        if flags.is_some_and(|v| v != 0) {
            return Ok(true);
        }
        // A user granted only SELECT: an update of no row is refused for the
        // privilege before it runs (a table that does not exist says nothing).
        for table in ["backfill_runs", "tests"] {
            let probe = format!("UPDATE \"{table}\" SET id = id WHERE 1 = 0");
            match db.execute_unprepared(&probe).await {
                Ok(_) => return Ok(false),
                Err(err) if mysql_error_number(&err) == Some(1142) => return Ok(true),
                Err(_) => continue,
            }
        }
        Ok(false)
    }

    async fn prepare_new_database(&self, _db: &DatabaseConnection) -> Result<(), DbErr> {
        Ok(())
    }

    fn batch_setup(&self, lock_timeout: Duration) -> Option<String> {
        // Session-wide and in whole seconds: every batch sets it again, rounded up so
        // that a sub-second timeout still waits a little rather than not at all.
        let secs = lock_timeout.as_secs_f64().ceil().max(1.0) as u64;
        Some(format!("SET SESSION innodb_lock_wait_timeout = {secs}"))
    }

    fn reads_in_transaction(&self) -> bool {
        true
    }

    fn classify_error(&self, err: &dyn sqlx::error::DatabaseError) -> Option<Failure> {
        // The SQLSTATE is HY000 for most of these: the error number tells them apart.
        let number = err
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?
            .number();
        Some(match number {
            // lock wait timeout (which leaves the transaction open: the batch's
            // transaction is rolled back before the retry), deadlock
            1205 | 1213 => Failure::Transient,
            // server shutting down, connection killed, gone away, lost
            1053 | 1927 | 2006 | 2013 | 4031 => Failure::ConnectionLost,
            // disk full, table full, out of space writing a file
            1021 | 1114 | 3 => Failure::DiskFull,
            // --read-only, read-only transaction, super-read-only
            1290 | 1792 | 1836 => Failure::ReadOnly,
            _ => Failure::Rejected,
        })
    }

    fn bigint(&self, value: Expr) -> Expr {
        value.cast_as(Alias::new("SIGNED"))
    }

    fn uuid_as_text(&self, column: Expr) -> Expr {
        // BINARY(16) back to the hyphenated lower-case text: hyphens go in after the
        // 8th, 12th, 16th and 20th hex digit (counted in the text as it grows).
        let hex: Expr = Func::cust("HEX").arg(column).into();
        let text = [9, 14, 19, 24].into_iter().fold(hex, |text, at| {
            Func::cust("INSERT")
                .args([text, Expr::val(at), Expr::val(0), Expr::val("-")])
                .into()
        });
        Func::lower(text).into()
    }

    fn max_uuid_text(&self, column: Expr) -> Expr {
        // Hex digits and hyphens at fixed places compare as the bytes they spell.
        Func::max(column).into()
    }

    fn stored_value(&self, value: Value) -> Value {
        array_as_json(value)
    }

    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        Expr::col(column).in_subquery(
            Query::select()
                .column(Alias::new("id"))
                .from_function(
                    Func::cust(Alias::new("JSON_TABLE"))
                        .arg(list)
                        .arg(Expr::cust("'$[*]' COLUMNS (id BIGINT PATH '$')")),
                    Alias::new("ids"),
                )
                .to_owned(),
        )
    }

    // Text that is not JSON would make JSON_EXTRACT fail the query: match the text.
    fn lists_features(&self) -> &'static str {
        r#"(t.data REGEXP '"features"[[:space:]]*:[[:space:]]*\\[[[:space:]]*[^][:space:]]')"#
    }

    fn names_test_feature(&self) -> &'static str {
        r#"(b.raw_data REGEXP '"test_feature"[[:space:]]*:[[:space:]]*\\{')"#
    }

    fn not_null_query(&self, table: &str, column: &str) -> Option<Statement> {
        Some(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT is_nullable = 'NO' FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
            [table.into(), column.into()],
        ))
    }

    async fn promote_not_null(
        &self,
        txn: &DatabaseTransaction,
        table: &str,
    ) -> Result<Vec<String>, DbErr> {
        // MODIFY restates the whole column: its own type, character set and collation
        // (an adopted column may differ from the migration's), NOT NULL and the
        // spec's default. In place, without a table copy and without blocking writes;
        // then the column guards itself and the triggers go.
        let column = migration::PROJECT_ID_COLUMN;
        let found = txn
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                "SELECT CAST(column_type AS CHAR), CAST(character_set_name AS CHAR), \
                 CAST(collation_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
                [table.into(), column.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("`{table}` has no column `{column}`")))?;
        let column_type: String = found.try_get_by_index(0)?;
        let charset = match (
            found.try_get_by_index::<Option<String>>(1)?,
            found.try_get_by_index::<Option<String>>(2)?,
        ) {
            (Some(set), Some(collation)) => format!(" CHARACTER SET {set} COLLATE {collation}"),
            _ => String::new(),
        };
        let mut statements = vec![format!(
            "ALTER TABLE \"{table}\" MODIFY \"{column}\" {column_type}{charset} NOT NULL \
             DEFAULT '{owner}', ALGORITHM=INPLACE, LOCK=NONE",
            owner = migration::LEGACY_PROJECT_ID,
        )];
        statements.extend(drop_project_id_triggers(table));
        Ok(statements)
    }

    fn columns_query(&self, table: &str) -> Statement {
        Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT CAST(column_name AS CHAR), CAST(LOWER(data_type) AS CHAR), is_nullable = 'YES' \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            [table.into()],
        )
    }

    /// `actual` is the `data_type` (`bigint`, `varchar`, `longtext`…).
    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool {
        let text = matches!(
            actual,
            "varchar" | "char" | "text" | "mediumtext" | "longtext" | "tinytext"
        );
        match expected {
            ColumnType::BigInteger => actual == "bigint",
            ColumnType::Integer => matches!(actual, "int" | "bigint"),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => text,
            ColumnType::Boolean => matches!(actual, "tinyint" | "bit"),
            ColumnType::Float | ColumnType::Double => {
                matches!(actual, "float" | "double" | "decimal")
            }
            // MariaDB's JSON is LONGTEXT with a json_valid check.
            ColumnType::Json | ColumnType::JsonBinary | ColumnType::Array(_) => {
                actual == "json" || actual == "longtext"
            }
            ColumnType::Uuid => matches!(actual, "binary" | "uuid"),
            ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
                matches!(actual, "timestamp" | "datetime")
            }
            _ => true,
        }
    }

    fn stands_for_embedding(&self, _column: &str, _actual: &str) -> bool {
        false
    }

    fn missing_foreign_key_hint(&self) -> &'static str {
        ""
    }

    async fn create_scratch(
        &self,
        db: &DatabaseConnection,
        url: &str,
        name: &str,
    ) -> anyhow::Result<DatabaseConnection> {
        create_database_beside(db, url, name, "the user needs CREATE").await
    }

    async fn drop_scratch(&self, db: &DatabaseConnection, name: &str) -> anyhow::Result<()> {
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .with_context(|| format!("could not drop the scratch database {name}"))?;
        Ok(())
    }

    fn walks_uuid_tables_by_rowid(&self) -> bool {
        // InnoDB keeps rows in primary-key order: the uuid order is the physical one.
        false
    }

    fn open_anomaly_predicate(&self) -> &'static str {
        migration::ANOMALIES_OPEN_PREDICATE_SQLITE
    }

    async fn run_update(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        target: Expr,
        update: UpdateStatement,
        key: Expr,
        return_keys: bool,
    ) -> Result<Changed, DbErr> {
        // No `UPDATE … RETURNING`: the keys are read under the row locks the update
        // then takes over, so they are the rows it changes.
        let keys = if return_keys {
            let locked = Query::select()
                .expr(key)
                .from(Alias::new(table))
                .and_where(target)
                .lock(LockType::Update)
                .to_owned();
            Some(txn.query_all(&locked).await?)
        } else {
            None
        };
        let count = txn.execute(&update).await?.rows_affected();
        Ok(match keys {
            Some(keys) => Changed::Keys(keys),
            None => Changed::Count(count),
        })
    }

    async fn set_by_key(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        pairs: &[(i64, i64)],
    ) -> Result<(), DbErr> {
        // No `UPDATE … FROM (VALUES …)`: the pairs are bound as one JSON array under
        // JSON_TABLE, so every batch uses the one prepared statement.
        let list = serde_json::to_string(pairs).map_err(|err| DbErr::Custom(err.to_string()))?;
        let sql = format!(
            "UPDATE \"{table}\" JOIN JSON_TABLE(?, '$[*]' COLUMNS \
             (pair_key BIGINT PATH '$[0]', pair_value BIGINT PATH '$[1]')) AS pairs \
             ON \"{table}\".\"{key}\" = pairs.pair_key SET \"{table}\".\"{column}\" = pairs.pair_value"
        );
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            sql,
            [list.into()],
        ))
        .await?;
        Ok(())
    }

    fn guarded_upsert(
        &self,
        table: &'static str,
        key: &'static str,
        columns: &[&'static str],
        guard: &'static str,
    ) -> OnConflict {
        // `ON DUPLICATE KEY UPDATE` has no `WHERE`: each column keeps its stored value
        // unless the guard matches. The guard itself is never assigned, since the
        // assignments run left to right and a later one would compare the new value.
        let mut upsert = OnConflict::column(Alias::new(key));
        upsert.values(columns.iter().map(|column| {
            (
                Alias::new(*column),
                Expr::cust(format!(
                    "IF(\"{table}\".\"{guard}\" = VALUES(\"{guard}\"), VALUES(\"{column}\"), \"{table}\".\"{column}\")"
                )),
            )
        }));
        upsert
    }

    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        // No `UPDATE … RETURNING`, so two statements: the journal row is inserted from
        // the target rows, read `FOR UPDATE` (nobody changes them before the update),
        // then the update joins the keys that row journaled, so a row inserted into the
        // range in between is neither journaled nor changed.
        let key = entry.identity.key_expr(self);
        let changes = Func::cust("JSON_OBJECT")
            .arg("old")
            .arg(entry.old)
            .arg("keys")
            .arg(Func::cust("JSON_ARRAYAGG").arg(key.clone()));
        let journal = journal_insert(
            &entry,
            changes,
            Alias::new(entry.table),
            entry.target.clone(),
        )?;
        let (sql, values) = journal.build(MysqlQueryBuilder);
        let locked = format!("{sql} FOR UPDATE");
        let journaled = txn
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                locked,
                values,
            ))
            .await?
            .rows_affected();
        if journaled == 0 {
            return Ok(if entry.return_keys {
                Changed::Keys(Vec::new())
            } else {
                Changed::Count(0)
            });
        }
        let (row_key, matches) = match entry.identity.kind {
            KeyKind::Integer => ("BIGINT", "journaled.row_key"),
            KeyKind::Uuid => ("CHAR(36)", "UNHEX(REPLACE(journaled.row_key, '-', ''))"),
        };
        let keys = format!(
            "SELECT k.row_key FROM backfill_journal j, \
             JSON_TABLE(j.changes, '$.keys[*]' COLUMNS (row_key {row_key} PATH '$')) AS k \
             WHERE j.id = LAST_INSERT_ID()"
        );
        let (sql, values) = entry.update.build(MysqlQueryBuilder);
        let prefix = format!("UPDATE `{}` ", entry.table);
        let Some(rest) = sql.strip_prefix(&prefix) else {
            return Err(DbErr::Custom(format!(
                "BUG: an update of `{}` rendered as {sql}",
                entry.table
            )));
        };
        let joined = format!(
            "{prefix}JOIN ({keys}) AS journaled ON `{}`.`{}` = {matches} {rest}",
            entry.table, entry.identity.key
        );
        let changed = txn
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                joined,
                values,
            ))
            .await?
            .rows_affected();
        if !entry.return_keys {
            return Ok(Changed::Count(changed));
        }
        // The journaled keys, as `key_expr` selects them (a uuid as its text).
        let keys = txn
            .query_all_raw(Statement::from_string(DatabaseBackend::MySql, keys))
            .await?;
        Ok(Changed::Keys(keys))
    }

    fn encode_bulk(
        &self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> anyhow::Result<BulkRows> {
        Ok(multi_row_inserts(
            self,
            DatabaseBackend::MySql,
            table,
            columns,
            rows,
        ))
    }

    async fn load_bulk(&self, db: &DatabaseConnection, rows: BulkRows) -> anyhow::Result<()> {
        load_inserts(db, rows).await
    }

    fn clock_millis(&self) -> Expr {
        Expr::cust("CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)")
    }

    fn writes_in_parallel(&self) -> bool {
        true
    }

    fn lift_project_id_guard(&self, table: &str) -> Vec<String> {
        drop_project_id_triggers(table)
    }

    fn after_seed(&self, _serial_tables: &[&str]) -> Vec<String> {
        // An explicit id moves AUTO_INCREMENT past it.
        Vec::new()
    }
}
