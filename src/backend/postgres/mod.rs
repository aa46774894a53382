//! PostgreSQL: bounded lock waits per batch, native uuid and array types, ids bound as
//! one `bigint[]`, a journal written by the update's own statement, `COPY` for seeds.
//! A Citus coordinator is PostgreSQL with what `citus` says differs.

mod bulk;
mod catalog;
mod citus;
mod dialect;
mod health;
mod replication;
mod writes;

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, sqlx,
};

use super::session::probe_server;
use super::{ConnectSettings, Failure, ProbeFailure, Session};

pub struct Postgres;

/// The `application_name` of the tool's sessions, so that its health checks can tell
/// its own sessions from the application's.
const SESSION_NAME: &str = "backfill";

#[async_trait]
impl Session for Postgres {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn url_schemes(&self) -> &'static [&'static str] {
        &["postgres", "postgresql"]
    }

    fn statement_kind(&self) -> DatabaseBackend {
        DatabaseBackend::Postgres
    }

    fn configure(&self, options: &mut ConnectOptions) {
        // A batch writing, the next one read ahead, and room for the ledger.
        options
            .max_connections(4)
            .set_application_name(SESSION_NAME);
    }

    async fn probe(&self, url: &str, settings: &ConnectSettings) -> Result<(), ProbeFailure> {
        probe_server::<sqlx::PgConnection>(url, settings.timeout).await
    }

    async fn is_read_only(&self, db: &DatabaseConnection) -> Result<bool, DbErr> {
        let row = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SHOW transaction_read_only",
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get_by_index::<String>(0))
            .transpose()?
            .is_some_and(|v| v == "on"))
    }

    fn batch_setup(&self, lock_timeout: Duration) -> Option<String> {
        // Bounded lock waits keep application traffic moving: a batch that would
        // queue behind (and in front of) application locks gives up and retries.
        // A batch's commit need not wait for its WAL flush: the batch, its journal and
        // its checkpoint commit together, so a server crash can only lose the last few
        // batches whole, and --resume redoes them. The run's final status commits
        // synchronously, which flushes every batch before it.
        // On a Citus coordinator the settings must reach the worker nodes, where a
        // distributed table's rows are locked: `propagate_set_commands` comes first,
        // so that the SET LOCALs after it are sent along. Plain PostgreSQL takes it as
        // a placeholder setting and ignores it.
        let ms = lock_timeout.as_millis();
        Some(format!(
            "SET LOCAL citus.propagate_set_commands = 'local'; \
             SET LOCAL lock_timeout = '{ms}ms'; SET LOCAL synchronous_commit = off"
        ))
    }

    fn classify_error(&self, err: &dyn sqlx::error::DatabaseError) -> Option<Failure> {
        Some(match err.code()?.as_ref() {
            // lock_not_available, serialization_failure, deadlock_detected
            "55P03" | "40001" | "40P01" => Failure::Transient,
            // admin_shutdown (pg_terminate_backend) and the connection exceptions
            "57P01" => Failure::ConnectionLost,
            code if code.starts_with("08") => Failure::ConnectionLost,
            // disk_full, insufficient_resources
            "53100" | "53000" => Failure::DiskFull,
            // read_only_sql_transaction
            "25006" => Failure::ReadOnly,
            _ => Failure::Rejected,
        })
    }
}
