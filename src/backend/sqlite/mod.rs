//! SQLite: a file in this process, one writer at a time, no lock waits to bound, TEXT
//! that may hold any bytes, uuids and arrays stored as text.

mod catalog;
mod dialect;
mod health;
mod writes;

use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, sqlx,
};

use sea_orm::sqlx::sqlite::SqliteConnectOptions;

use super::{BulkLoad, ConnectSettings, Failure, ProbeFailure, Session, db_message};

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Rows a connection's worker thread may send ahead of the task reading them (sqlx's
/// default is 50): a default batch in one go.
const ROW_BUFFER: usize = 1024;

pub struct Sqlite;

#[async_trait]
impl Session for Sqlite {
    fn name(&self) -> &'static str {
        "SQLite"
    }

    fn url_schemes(&self) -> &'static [&'static str] {
        &["sqlite"]
    }

    fn statement_kind(&self) -> DatabaseBackend {
        DatabaseBackend::Sqlite
    }

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

    async fn probe(&self, url: &str, settings: &ConnectSettings) -> Result<(), ProbeFailure> {
        // A file, not a server: it must be a SQLite database, or missing (or empty)
        // where the command may create it. Anything else would only fail later, in
        // the pool's retries.
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| ProbeFailure::Refused(err.to_string()))?;
        let path = options.get_filename();
        if path == Path::new(":memory:") {
            return Ok(());
        }
        let mut header = [0u8; 16];
        let read = std::fs::File::open(path).and_then(|mut file| {
            let mut read = 0;
            while read < header.len() {
                match file.read(&mut header[read..])? {
                    0 => break,
                    n => read += n,
                }
            }
            Ok(read)
        });
        match read {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && settings.creates => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Err(ProbeFailure::Refused(format!(
                    "there is no database file `{}`, and this command only reads (`backfill migrate up` creates one)",
                    path.display()
                )))
            }
            Err(err) => Err(ProbeFailure::Refused(format!(
                "cannot open `{}`: {err}",
                path.display()
            ))),
            Ok(0) => Ok(()),
            Ok(_) if header == *SQLITE_HEADER => Ok(()),
            Ok(_) => Err(ProbeFailure::Refused(format!(
                "`{}` is not a SQLite database",
                path.display()
            ))),
        }
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

    fn writes_in_parallel(&self) -> bool {
        // One writer at a time.
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
}

/// Multi-row INSERTs, each chunk committed durably; an explicit rowid moves
/// AUTOINCREMENT on, so nothing follows a seed.
impl BulkLoad for Sqlite {}

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
