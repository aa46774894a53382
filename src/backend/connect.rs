//! Connecting, and the checks every command makes before it writes anything: the
//! tables and columns it touches exist, and the database accepts writes. Each refusal
//! is one sentence and exit 2.

use std::time::Duration;

use anyhow::{Result, bail};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::SchemaManager;

use super::{Backend, Mysql, Postgres, Sqlite, db_message, of};
use crate::error::UsageError;

pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The backend a URL names, or the sentence that refuses it.
fn for_url(url: &str) -> Result<&'static dyn Backend> {
    match url.split(':').next().unwrap_or_default() {
        "sqlite" => Ok(&Sqlite),
        "postgres" | "postgresql" => Ok(&Postgres),
        "mysql" => Ok(&Mysql),
        _ => bail!(UsageError::new(format!(
            "unsupported database URL `{}`: use sqlite://FILE?mode=rwc, postgres://USER@HOST/DB or mysql://USER:PASSWORD@HOST:3306/DB (MariaDB too)",
            migration::redact_url(url)
        ))),
    }
}

/// Connects to `url`, refusing unsupported schemes and unreachable servers in one
/// sentence (exit 2).
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    connect_for_workers(url, 1).await
}

/// Connects as `connect` does, with connections enough for `workers` workers (each
/// writes a batch on one while it reads the next on another) where the backend takes
/// parallel writers.
pub async fn connect_for_workers(url: &str, workers: u32) -> Result<DatabaseConnection> {
    let backend = for_url(url)?;
    if let Err(reason) = backend.probe(url).await {
        bail!(UsageError::new(format!(
            "cannot connect to `{}`: {reason}",
            migration::redact_url(url)
        )));
    }
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(std::env::var_os("BACKFILL_SQL_LOG").is_some())
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(30));
    backend.configure(&mut options);
    if workers > 1 && backend.writes_in_parallel() {
        let wanted = 2 * workers + 2;
        options.max_connections(options.get_max_connections().unwrap_or(0).max(wanted));
    }
    Database::connect(options).await.map_err(|err| {
        UsageError::new(format!(
            "cannot connect to `{}`: {}",
            migration::redact_url(url),
            db_message(&err)
        ))
        .into()
    })
}

/// Fails with exit 2 and the fix when one of `tables` is missing.
pub async fn require_tables(db: &DatabaseConnection, tables: &[&str]) -> Result<()> {
    let schema = SchemaManager::new(db);
    for table in tables {
        if !schema.has_table(*table).await? {
            bail!(UsageError::new(format!(
                "table `{table}` does not exist in this database: run `backfill migrate up` first"
            )));
        }
    }
    Ok(())
}

/// Fails with exit 2 and the fix when `table` lacks one of `columns`.
pub async fn require_columns(db: &DatabaseConnection, table: &str, columns: &[&str]) -> Result<()> {
    let schema = SchemaManager::new(db);
    for column in columns {
        if !schema.has_column(table, *column).await? {
            bail!(UsageError::new(format!(
                "table `{table}` has no column `{column}`: run `backfill migrate up` first"
            )));
        }
    }
    Ok(())
}

/// Refuses to write to a database that only allows reading, before anything is written.
pub async fn require_writable(db: &DatabaseConnection) -> Result<()> {
    if of(db).is_read_only(db).await? {
        bail!(UsageError::new(
            "the database is read-only (a read-only file, a read-only transaction mode, or a user without write privileges): nothing was written"
        ));
    }
    Ok(())
}
