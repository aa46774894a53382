//! PostgreSQL's view of itself: standbys from `pg_stat_replication` (positions, not
//! only `replay_lag`), sessions waiting on locks that involve the walked table, the
//! planner's row estimate and the key's histogram from `pg_stats`; on a Citus
//! coordinator, lock waits, standbys and estimates of the whole cluster (`citus`).

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use super::replication::{STANDBY_FIELDS, STANDBY_SOURCE, standby};
use super::{Postgres, SESSION_NAME, citus};
use crate::backend::{Health, Observation};

#[async_trait]
impl Health for Postgres {
    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64> {
        if citus::installed(db).await.ok()?
            && let Some(estimate) = citus::row_estimate(db, table).await
        {
            return estimate;
        }
        // The planner's estimate; -1 for a table never vacuumed or analyzed.
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
                [table.into()],
            ))
            .await
            .ok()??;
        let estimate = row.try_get_by_index::<i64>(0).ok()?;
        (estimate >= 0).then_some(estimate as u64)
    }

    async fn observe_health(
        &self,
        db: &DatabaseConnection,
        table: &str,
    ) -> Result<Observation, DbErr> {
        // Replay position and distance, not only `replay_lag`: that is refreshed only
        // when replay moves, so a stopped replay keeps showing its last small lag. A
        // role without `pg_monitor` sees no positions of other roles' standbys: those
        // (and standbys still starting) are left out rather than taken for stopped.
        let mut standbys = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                format!("SELECT {STANDBY_FIELDS} {STANDBY_SOURCE}"),
            ))
            .await?
            .iter()
            .map(|row| {
                Ok(standby(
                    row.try_get_by_index(0)?,
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                    row.try_get_by_index(3)?,
                ))
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        let waiters = if citus::installed(db).await? {
            standbys.extend(citus::worker_standbys(db).await?);
            citus::lock_waiters(db).await?
        } else {
            table_lock_waiters(db, table).await?
        };
        Ok(Observation {
            standbys,
            lock_waiters: waiters,
            threads_running: None,
        })
    }

    async fn key_histogram(
        &self,
        db: &DatabaseConnection,
        table: &str,
        column: &str,
    ) -> Option<Vec<i64>> {
        // `histogram_bounds` cuts the column's values (those not among the most common
        // ones, which a key has none of) into buckets of equal counts, from ANALYZE.
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT histogram_bounds::text FROM pg_stats \
                 WHERE schemaname = current_schema() AND tablename = $1 AND attname = $2",
                [table.into(), column.into()],
            ))
            .await
            .ok()??;
        let bounds: String = row.try_get_by_index(0).ok()?;
        bounds
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|bound| bound.trim().parse::<i64>().ok())
            .collect()
    }
}

/// Sessions waiting on locks that involve `table`, but the tool's own (named
/// [`SESSION_NAME`]): a worker's batch waiting on an application's lock is no
/// application waiting. A session blocked on a row lock waits on a transaction id,
/// which names no table: it is tied to the table by the locks it holds there, or by
/// the locks its blockers hold there.
async fn table_lock_waiters(db: &DatabaseConnection, table: &str) -> Result<u64, DbErr> {
    let waiters = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT count(*) FROM pg_stat_activity a \
             WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid() \
               AND a.application_name IS DISTINCT FROM $2 \
               AND EXISTS (SELECT 1 FROM pg_locks l \
                           WHERE l.relation = to_regclass($1) \
                             AND (l.pid = a.pid OR l.pid = ANY (pg_blocking_pids(a.pid))))",
            [table.into(), SESSION_NAME.into()],
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    Ok(u64::try_from(waiters).unwrap_or(0))
}
