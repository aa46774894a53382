//! MySQL's view of itself: `Threads_running` less the run's own, transactions in
//! `LOCK WAIT`, and InnoDB's sampled row estimate. A primary does not know how far its
//! replicas have replayed.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use super::Mysql;
use crate::backend::{Health, Observation};

#[async_trait]
impl Health for Mysql {
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
}
