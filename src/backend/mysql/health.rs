//! MySQL's view of itself: `Threads_running` less the run's own, transactions waiting
//! on row locks of the walked table, and InnoDB's sampled row estimate; and of each
//! replica given with `--replica-url`: its reported lag, its threads, and its executed
//! position against the primary's.

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult, Statement, Value,
};

use super::Mysql;
use crate::backend::{Health, Observation, Standby};

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
        table: &str,
    ) -> Result<Observation, DbErr> {
        // A primary does not know how far its replicas have replayed (that is read on
        // each replica, `observe_replica`); what it shows is its own load and the
        // transactions waiting on a row lock.
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
        // This session runs the query, so it waits on nothing and counts itself out.
        let waiters = first_answer(db, LOCK_WAITERS, &[table.into()])
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get_by_index::<i64>(0).ok());
        Ok(Observation {
            standbys: Vec::new(),
            lock_waiters: waiters.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            // This session's own statement is one of the running threads.
            threads_running: threads.map(|t| u64::try_from(t - 1).unwrap_or(0)),
        })
    }

    fn watches_replicas_by_url(&self) -> bool {
        true
    }

    async fn observe_replica(
        &self,
        primary: &DatabaseConnection,
        replica: &DatabaseConnection,
        name: &str,
    ) -> Result<Option<Standby>, DbErr> {
        let Some(status) = first_answer(replica, REPLICA_STATUS, &[]).await? else {
            return Ok(None);
        };
        let field = |names: [&str; 2]| names.iter().find_map(|name| text(&status, name));
        let executed = field(["Relay_Master_Log_File", "Relay_Source_Log_File"])
            .zip(field(["Exec_Master_Log_Pos", "Exec_Source_Log_Pos"]))
            .and_then(|(file, pos)| binlog_position(&file, &pos));
        // The primary's own position, beside it: how far behind the replica is even
        // while it reports no lag (its I/O thread behind, say). A user who may not read
        // it leaves the lag the replica reports.
        let written = match first_answer(primary, PRIMARY_STATUS, &[]).await {
            Ok(Some(row)) => text(&row, "File")
                .zip(text(&row, "Position"))
                .and_then(|(file, pos)| binlog_position(&file, &pos)),
            _ => None,
        };
        let running = |names: [&str; 2]| field(names).unwrap_or_default() == "Yes";
        let stopped = if !running(["Slave_SQL_Running", "Replica_SQL_Running"]) {
            Some("its SQL thread is stopped".to_string())
        } else if !running(["Slave_IO_Running", "Replica_IO_Running"]) {
            Some("its I/O thread is not connected to the primary".to_string())
        } else {
            None
        };
        Ok(Some(Standby {
            name: name.to_string(),
            lag: field(["Seconds_Behind_Master", "Seconds_Behind_Source"])
                .and_then(|secs| secs.parse::<u64>().ok())
                .map(Duration::from_secs),
            replayed: executed.unwrap_or(0),
            behind: written
                .zip(executed)
                .map_or(0, |(written, executed)| written.saturating_sub(executed)),
            stopped,
        }))
    }
}

/// Transactions waiting on a row lock of the table bound as `?`: MariaDB's view
/// first, then MySQL 8's (which has no `innodb_locks`). MariaDB quotes the table's
/// name as the session does, and ours quote with `ANSI_QUOTES`.
const LOCK_WAITERS: [&str; 2] = [
    "SELECT COUNT(DISTINCT w.requesting_trx_id) \
     FROM information_schema.innodb_lock_waits w \
     JOIN information_schema.innodb_locks l ON l.lock_id = w.requested_lock_id \
     WHERE REPLACE(l.lock_table, '\"', '`') = CONCAT('`', DATABASE(), '`.`', ?, '`')",
    "SELECT COUNT(DISTINCT w.requesting_engine_transaction_id) \
     FROM performance_schema.data_lock_waits w \
     JOIN performance_schema.data_locks l ON l.engine_lock_id = w.requesting_engine_lock_id \
     WHERE l.object_schema = DATABASE() AND l.object_name = ?",
];

/// A replica's own status, by its name since MySQL 8.0.22 and MariaDB 10.5, then by
/// the name older servers know.
const REPLICA_STATUS: [&str; 2] = ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"];

/// The primary's binary log position, by the name MariaDB and MySQL 8.0 know, then by
/// MySQL 8.4's.
const PRIMARY_STATUS: [&str; 2] = ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"];

/// The first row of `statements`' first, or, where the server does not know that
/// one, of its second (`None`: no row).
async fn first_answer(
    db: &DatabaseConnection,
    [first, second]: [&str; 2],
    values: &[Value],
) -> Result<Option<QueryResult>, DbErr> {
    let ask = |sql: &str| {
        db.query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            sql,
            values.iter().cloned(),
        ))
    };
    match ask(first).await {
        Ok(row) => Ok(row),
        Err(_) => ask(second).await,
    }
}

/// A column of a `SHOW` row as text, whatever type the server gives it.
fn text(row: &QueryResult, column: &str) -> Option<String> {
    if let Ok(value) = row.try_get::<Option<String>>("", column) {
        return value;
    }
    if let Ok(value) = row.try_get::<Option<u64>>("", column) {
        return value.map(|v| v.to_string());
    }
    row.try_get::<Option<i64>>("", column)
        .ok()
        .flatten()
        .map(|v| v.to_string())
}

/// A position in the primary's binary log as one number that grows: the file's
/// sequence number above the offset in it (a file holds at most 4 GiB).
fn binlog_position(file: &str, offset: &str) -> Option<u64> {
    let sequence: u64 = file.rsplit('.').next()?.parse().ok()?;
    let offset: u64 = offset.parse().ok()?;
    Some(
        sequence
            .checked_mul(1 << 32)?
            .saturating_add(offset.min(u32::MAX.into())),
    )
}

#[cfg(test)]
mod tests {
    use super::binlog_position;

    #[test]
    fn a_binlog_position_grows_across_files() {
        let end_of_first = binlog_position("mariadb-bin.000001", "1073741824").unwrap();
        let start_of_second = binlog_position("mariadb-bin.000002", "4").unwrap();
        assert!(start_of_second > end_of_first);
        assert_eq!(
            binlog_position("bin.000002", "900").unwrap()
                - binlog_position("bin.000002", "100").unwrap(),
            800
        );
        assert_eq!(binlog_position("bin", "4"), None);
        assert_eq!(binlog_position("bin.000001", "x"), None);
    }
}
