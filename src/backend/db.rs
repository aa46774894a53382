//! The handle every command works through: a connection and the database behind it,
//! resolved once from the URL when connecting, and the URL it came from (to create a
//! scratch database beside it, and to name it with its password redacted).

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};

use migration::SchemaDialect;

use super::session::classify;
use super::{Backend, Failure};

/// How long connecting may take before a server counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to connect: within how long, for how many workers sharing the pool, and
/// whether a database file may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectSettings {
    pub timeout: Duration,
    /// Workers of this process that write at once (each writes a batch on one
    /// connection while it reads the next on another).
    pub workers: u32,
    /// Whether connecting may create the database (an embedded file); a command that
    /// only reads never does.
    pub creates: bool,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            timeout: CONNECT_TIMEOUT,
            workers: 1,
            creates: true,
        }
    }
}

/// A database URL as given: shown only with its password redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL as given, password included, for the driver only.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scheme, which names the database (`postgres`, `sqlite`, …).
    pub fn scheme(&self) -> &str {
        self.0.split(':').next().unwrap_or_default()
    }

    /// The server it names, `HOST:PORT` (the port where given), to name it in a message
    /// without its user or database; the redacted URL where it has no host.
    pub fn server(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(parsed) => match (parsed.host_str(), parsed.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_string(),
                (None, _) => self.to_string(),
            },
            Err(_) => self.to_string(),
        }
    }

    /// The URL of database `name` on the same server.
    pub fn beside(&self, name: &str) -> Result<DatabaseUrl> {
        let mut parsed = url::Url::parse(&self.0).context("the database URL is not a valid URL")?;
        parsed.set_path(&format!("/{name}"));
        Ok(Self(parsed.to_string()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&migration::redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A pool of connections to one database, with what differs about that database.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    backend: &'static dyn Backend,
    /// How the migrations spell this database's schema.
    schema: &'static dyn SchemaDialect,
    url: DatabaseUrl,
    settings: ConnectSettings,
}

impl Db {
    pub(super) fn new(
        conn: DatabaseConnection,
        backend: &'static dyn Backend,
        schema: &'static dyn SchemaDialect,
        url: DatabaseUrl,
        settings: ConnectSettings,
    ) -> Self {
        Self {
            conn,
            backend,
            schema,
            url,
            settings,
        }
    }

    /// What differs about this database.
    pub fn backend(&self) -> &'static dyn Backend {
        self.backend
    }

    /// How the migrations spell this database's schema (the open-anomaly predicate an
    /// upsert repeats, the `project_id` check).
    pub fn schema(&self) -> &'static dyn SchemaDialect {
        self.schema
    }

    /// The connection itself, for what takes SeaORM's own type (the migrator).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// How this handle was connected.
    pub fn settings(&self) -> ConnectSettings {
        self.settings
    }

    /// What `err`, met on this database, means for the batch that met it.
    pub fn classify(&self, err: &DbErr) -> Failure {
        classify(self.backend, err)
    }

    /// Opens a batch's transaction, set up as the database wants (bounded lock waits).
    pub async fn begin_batch(&self, lock_timeout: Duration) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.conn.begin().await?;
        if let Some(setup) = self.backend.batch_setup(lock_timeout) {
            txn.execute_unprepared(&setup).await?;
        }
        Ok(txn)
    }

    /// Closes the pool. Closing SQLite checkpoints its WAL into the database file, so
    /// the file alone is complete once a command is done.
    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Db({} at {})", self.backend.name(), self.url)
    }
}

impl Deref for Db {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

/// A `Db` is a connection wherever SeaORM takes one (`.one(db)`, `.exec(db)`).
#[async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.conn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.conn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.conn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.conn.query_all_raw(stmt).await
    }
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
