//! MySQL 8.0 and MariaDB 10.6+: session settings on every connection, lock waits in
//! whole seconds, uuids as `BINARY(16)`, arrays as JSON, id lists bound as one JSON
//! value under `JSON_TABLE`, and a journal written without `UPDATE … RETURNING`.
//!
//! Every connection runs with `ANSI_QUOTES` (so `"name"` is an identifier, as in the
//! SQL the databases share) and `READ COMMITTED`: under `REPEATABLE READ` a batch's
//! range read would take gap locks that block the application's inserts into the range.

mod catalog;
mod dialect;
mod health;
mod writes;

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, sqlx,
};

use super::session::{probe_server, sqlx_error};
use super::{BulkLoad, ConnectSettings, Failure, ProbeFailure, Session};

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
    match sqlx_error(err)? {
        sqlx::Error::Database(db) => Some(
            db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?
                .number(),
        ),
        _ => None,
    }
}

#[async_trait]
impl Session for Mysql {
    fn name(&self) -> &'static str {
        "MySQL"
    }

    fn url_schemes(&self) -> &'static [&'static str] {
        &["mysql"]
    }

    fn statement_kind(&self) -> DatabaseBackend {
        DatabaseBackend::MySql
    }

    fn configure(&self, options: &mut ConnectOptions) {
        // A batch writing, the next one read ahead, and room for the ledger.
        options
            .max_connections(4)
            .map_sqlx_mysql_pool_opts(|pool| pool.after_connect(|conn, _| session_setup(conn)));
    }

    async fn probe(&self, url: &str, settings: &ConnectSettings) -> Result<(), ProbeFailure> {
        probe_server::<sqlx::MySqlConnection>(url, settings.timeout).await
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

    fn batch_setup(&self, lock_timeout: Duration) -> Option<String> {
        // Session-wide and in whole seconds: every batch sets it again, rounded up so
        // that a sub-second timeout still waits a little rather than not at all.
        let secs = lock_timeout.as_secs_f64().ceil().max(1.0) as u64;
        Some(format!("SET SESSION innodb_lock_wait_timeout = {secs}"))
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
}

/// Multi-row INSERTs; an explicit id moves AUTO_INCREMENT past it, so nothing follows
/// a seed.
impl BulkLoad for Mysql {}
