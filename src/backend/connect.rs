//! Connecting, and the checks every command makes before it writes anything: the
//! tables and columns it touches exist, and the database accepts writes. Each refusal
//! is one sentence and exit 2.

use std::time::Duration;

use anyhow::{Result, bail};
use sea_orm::{ConnectOptions, Database};
use sea_orm_migration::SchemaManager;

use super::{BACKENDS, Backend, ConnectSettings, DatabaseUrl, Db, ProbeFailure, db_message};
use crate::error::{Unavailable, UsageError};

/// The database a URL names, or the sentence that refuses it.
fn backend_for(url: &DatabaseUrl) -> Result<&'static dyn Backend> {
    let scheme = url.scheme();
    match BACKENDS
        .into_iter()
        .find(|backend| backend.url_schemes().contains(&scheme))
    {
        Some(backend) => Ok(backend),
        None => bail!(UsageError::new(format!(
            "unsupported database URL `{url}`: use sqlite://FILE?mode=rwc, postgres://USER@HOST/DB or mysql://USER:PASSWORD@HOST:3306/DB (MariaDB too)"
        ))),
    }
}

/// Connects to `url`, refusing unsupported schemes and refused logins (exit 2) and
/// unreachable servers (exit 75) in one sentence, with connections enough for `settings.workers` workers where
/// the database takes parallel writers.
pub async fn connect(url: &DatabaseUrl, settings: &ConnectSettings) -> Result<Db> {
    let backend = backend_for(url)?;
    let schema = migration::dialect::of(backend.statement_kind())?;
    match backend.probe(url.as_str(), settings).await {
        Ok(()) => {}
        Err(ProbeFailure::Unreachable(reason)) => {
            bail!(Unavailable::new(format!("cannot reach `{url}`: {reason}")))
        }
        Err(ProbeFailure::Refused(reason)) => {
            bail!(UsageError::new(format!(
                "cannot connect to `{url}`: {reason}"
            )))
        }
    }
    let mut options = ConnectOptions::new(url.as_str());
    options
        .sqlx_logging(std::env::var_os("BACKFILL_SQL_LOG").is_some())
        .connect_timeout(settings.timeout)
        .acquire_timeout(Duration::from_secs(30));
    backend.configure(&mut options);
    if settings.workers > 1 && backend.writes_in_parallel() {
        let wanted = 2 * settings.workers + 2;
        options.max_connections(options.get_max_connections().unwrap_or(0).max(wanted));
    }
    let conn = Database::connect(options).await.map_err(|err| {
        UsageError::new(format!("cannot connect to `{url}`: {}", db_message(&err)))
    })?;
    Ok(Db::new(conn, backend, schema, url.clone(), *settings))
}

/// A server replicating from a run's database, watched on its own connection
/// (`--replica-url`) between batches.
#[derive(Clone, Debug)]
pub struct Replica {
    /// `HOST:PORT`, as the run's holds name it.
    pub name: String,
    pub db: Db,
}

/// Connects to each replica of `db` given with `--replica-url`: refused (exit 2) where
/// the database's standbys are read from the primary, for a URL of another kind of
/// database or a server that replicates from nowhere; exit 75 for one unreachable.
/// Nothing has been written when it refuses.
pub async fn connect_replicas(db: &Db, urls: &[DatabaseUrl]) -> Result<Vec<Replica>> {
    if urls.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.backend();
    if !backend.watches_replicas_by_url() {
        bail!(UsageError::new(format!(
            "--replica-url watches MySQL/MariaDB replicas; {} is watched without it (PostgreSQL's standbys are read on the primary), so leave it out: nothing was written",
            backend.name()
        )));
    }
    let settings = ConnectSettings {
        workers: 1,
        ..db.settings()
    };
    let mut replicas = Vec::with_capacity(urls.len());
    for url in urls {
        if backend_for(url)?.name() != backend.name() {
            bail!(UsageError::new(format!(
                "--replica-url `{url}` is not a {} URL like the database's: nothing was written",
                backend.name()
            )));
        }
        let replica = connect(url, &settings).await?;
        let name = url.server();
        let status = backend
            .observe_replica(db, &replica, &name)
            .await
            .map_err(|err| {
                UsageError::new(format!(
                    "cannot read the replication status of `{url}`: {}: nothing was written",
                    db_message(&err)
                ))
            })?;
        if status.is_none() {
            bail!(UsageError::new(format!(
                "`{url}` is no replica (it shows no replication status): give --replica-url the replicas of the database the run writes to; nothing was written"
            )));
        }
        replicas.push(Replica { name, db: replica });
    }
    Ok(replicas)
}

/// Tables and the columns of them a command needs (none listed: the table is enough).
pub type Schema = Vec<(&'static str, &'static [&'static str])>;

/// Fails with exit 2 and the fix when a table of `schema` is missing, or lacks one of
/// the columns it is listed with.
pub async fn require_schema(db: &Db, schema: &[(&str, &[&str])]) -> Result<()> {
    let manager = SchemaManager::new(db.connection());
    for (table, columns) in schema {
        if !manager.has_table(*table).await? {
            bail!(UsageError::new(format!(
                "table `{table}` does not exist in this database: run `backfill migrate up` first"
            )));
        }
        for column in *columns {
            if !manager.has_column(*table, *column).await? {
                bail!(UsageError::new(format!(
                    "table `{table}` has no column `{column}`: run `backfill migrate up` first"
                )));
            }
        }
    }
    Ok(())
}

/// Refuses to write to a database that only allows reading, before anything is written.
pub async fn require_writable(db: &Db) -> Result<()> {
    if db.backend().is_read_only(db).await? {
        bail!(UsageError::new(
            "the database is read-only (a read-only file, a read-only transaction mode, or a user without write privileges): nothing was written"
        ));
    }
    Ok(())
}
