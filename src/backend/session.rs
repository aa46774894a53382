//! Sessions and errors: which URLs a database answers, how its connections are set up,
//! whether it takes writes, how a batch's transaction opens, and what its errors mean
//! for the batch that met them.

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{ConnectOptions, DatabaseBackend, DatabaseConnection, DbErr, RuntimeErr, sqlx};

use super::ConnectSettings;

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

/// Why a database did not take a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// Nothing answered, or not in time: worth trying again later.
    Unreachable(String),
    /// It answered and refused: a login, a database name, a file that is no database.
    Refused(String),
}

/// How a database is reached and how its sessions behave.
#[async_trait]
pub trait Session: Send + Sync {
    /// The database's name, as messages call it.
    fn name(&self) -> &'static str;

    /// The URL schemes that name this database (`postgres`, `postgresql`).
    fn url_schemes(&self) -> &'static [&'static str];

    /// The SeaORM backend whose SQL this database speaks (statements are built for it).
    fn statement_kind(&self) -> DatabaseBackend;

    /// Pool size, per-connection settings and driver options.
    fn configure(&self, options: &mut ConnectOptions);

    /// One plain look before the pool is built, so that an unreachable server, a
    /// refused login or a file that is no database is reported at once with its reason
    /// (a pool retries, then only says "timed out").
    async fn probe(&self, url: &str, settings: &ConnectSettings) -> Result<(), ProbeFailure>;

    /// Whether the database refuses writes (a read-only file or transaction mode).
    async fn is_read_only(&self, db: &DatabaseConnection) -> Result<bool, DbErr>;

    /// Settings a database gets when the migrations create it from nothing (an
    /// existing database keeps its own).
    async fn prepare_new_database(&self, _db: &DatabaseConnection) -> Result<(), DbErr> {
        Ok(())
    }

    /// Statements that open a batch's transaction: bounded lock waits, commit mode.
    fn batch_setup(&self, lock_timeout: Duration) -> Option<String>;

    /// Whether a batch's read runs in a transaction of its own (with the lock waits
    /// of a write); where there are no lock waits to bound, one SELECT is enough.
    fn reads_in_transaction(&self) -> bool {
        true
    }

    /// Whether two connections may write at once (bulk loads, a run's workers).
    fn writes_in_parallel(&self) -> bool {
        true
    }

    /// What a database error means for a batch (`None`: not a database error the
    /// backend recognises).
    fn classify_error(&self, err: &dyn sqlx::error::DatabaseError) -> Option<Failure>;
}

/// One connection of type `C` to `url` within `timeout`, closed at once: the probe of a
/// server.
pub(super) async fn probe_server<C: sqlx::Connection>(
    url: &str,
    timeout: Duration,
) -> Result<(), ProbeFailure> {
    match tokio::time::timeout(timeout, C::connect(url)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Database(db))) => Err(ProbeFailure::Refused(db.message().to_string())),
        Ok(Err(err @ (sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut))) => {
            Err(ProbeFailure::Unreachable(err.to_string()))
        }
        Ok(Err(err)) => Err(ProbeFailure::Refused(err.to_string())),
        Err(_) => Err(ProbeFailure::Unreachable(format!(
            "no answer within {} seconds",
            timeout.as_secs_f64()
        ))),
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

/// The driver's error inside `err`, if there is one.
pub(super) fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

/// What `err`, met on a `session` of this database, means for the batch that met it.
pub(super) fn classify(session: &dyn Session, err: &DbErr) -> Failure {
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return Failure::ConnectionLost;
    }
    match sqlx_error(err) {
        Some(sqlx::Error::PoolTimedOut) => Failure::Transient,
        Some(sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Protocol(_)) => {
            Failure::ConnectionLost
        }
        Some(sqlx::Error::Database(db)) => session
            .classify_error(db.as_ref())
            .unwrap_or(Failure::Rejected),
        _ => Failure::Rejected,
    }
}
