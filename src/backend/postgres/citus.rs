//! What differs on a Citus coordinator (SPEC §5.13), found in its catalog: each
//! table's layout (`pg_dist_partition`), lock waits on every node of the cluster
//! (`citus_lock_waits`, where the coordinator's `pg_locks` shows none of the
//! workers'), and a distributed table's row estimate summed over its shards (the
//! coordinator's own copy of the table is empty).

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use super::SESSION_NAME;
use crate::backend::Layout;

/// Whether the database is a Citus coordinator (or a worker with the metadata): the
/// extension is installed.
pub(super) async fn installed(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false))
}

/// How Citus lays `table` out: hash-distributed by a column, a reference table, or
/// neither (a table of the coordinator's own, or a Citus local table).
pub(super) async fn layout(db: &DatabaseConnection, table: &str) -> Result<Layout, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT partmethod::text, repmodel::text, \
                    CASE WHEN partmethod = 'h' \
                         THEN column_to_column_name(logicalrelid, partkey) END \
             FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)",
            [table.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(Layout::Local);
    };
    let method: String = row.try_get_by_index(0)?;
    let replication: String = row.try_get_by_index(1)?;
    Ok(match (method.as_str(), replication.as_str()) {
        ("h", _) => Layout::Distributed {
            column: row.try_get_by_index(2)?,
        },
        ("n", "t") => Layout::Reference,
        _ => Layout::Local,
    })
}

/// Sessions waiting on a lock anywhere in the cluster, but the tool's own: a batch
/// that waits on another worker's shard lock is not the application waiting.
/// `citus_lock_waits` names statements, not tables, so every wait counts.
pub(super) async fn lock_waiters(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT count(*) FROM citus_lock_waits w \
             WHERE NOT EXISTS (SELECT 1 FROM citus_stat_activity a \
                               WHERE a.global_pid = w.waiting_gpid \
                                 AND NOT a.is_worker_query AND a.application_name = $1)",
            [SESSION_NAME.into()],
        ))
        .await?;
    let waiters = row
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    Ok(u64::try_from(waiters).unwrap_or(0))
}

/// The planner's row estimate of a distributed or reference table: its shards'
/// `reltuples`, each read on a node that holds it, summed over those analyzed. `None`
/// for a table Citus does not manage (the coordinator's own `pg_class` knows it);
/// `Some(None)` for one whose shards were never analyzed.
pub(super) async fn row_estimate(db: &DatabaseConnection, table: &str) -> Option<Option<u64>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH shards AS ( \
                 SELECT result::bigint AS tuples FROM run_command_on_shards($1, \
                     $$SELECT reltuples::bigint FROM pg_class WHERE oid = '%s'::regclass$$) \
                 WHERE success) \
             SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)), \
                    (SELECT sum(tuples) FROM shards WHERE tuples >= 0)::bigint",
            [table.into()],
        ))
        .await
        .ok()??;
    if !row.try_get_by_index::<bool>(0).ok()? {
        return None;
    }
    let estimate: Option<i64> = row.try_get_by_index(1).ok()?;
    Some(estimate.and_then(|estimate| u64::try_from(estimate).ok()))
}
