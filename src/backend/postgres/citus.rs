//! What differs on a Citus coordinator (SPEC §5.13), found in its catalog: each
//! table's layout (`pg_dist_partition`), lock waits on every node of the cluster
//! (`citus_lock_waits`, where the coordinator's `pg_locks` shows none of the
//! workers'), and a distributed table's row estimate summed over its shards (the
//! coordinator's own copy of the table is empty). A table distributed by its key is
//! walked a shard at a time: its shards, and a read of one run on the node holding it.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use super::SESSION_NAME;
use super::replication::{STANDBY_FIELDS, STANDBY_SOURCE, standby};
use crate::backend::{Layout, Standby};

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

/// The standbys of every worker node, each named with its node (the coordinator's own
/// are read as on plain PostgreSQL): a worker's standby falling behind holds a run as
/// the coordinator's does. A node that cannot be asked is left out, as a standby
/// still starting is.
pub(super) async fn worker_standbys(db: &DatabaseConnection) -> Result<Vec<Standby>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT nodename || ':' || nodeport, result FROM run_command_on_workers($1) WHERE success",
            [format!(
                "SELECT coalesce(json_agg(json_build_array({STANDBY_FIELDS})), '[]') {STANDBY_SOURCE}"
            )
            .into()],
        ))
        .await?;
    let mut standbys = Vec::new();
    for row in rows {
        let node: String = row.try_get_by_index(0)?;
        let result: String = row.try_get_by_index(1)?;
        let read: Vec<(String, Option<f64>, i64, i64)> =
            serde_json::from_str(&result).map_err(|err| {
                DbErr::Custom(format!(
                    "node {node} listed its standbys as {result:?}: {err}"
                ))
            })?;
        standbys.extend(read.into_iter().map(|(name, lag, replayed, behind)| {
            standby(format!("{name} of {node}"), lag, replayed, behind)
        }));
    }
    Ok(standbys)
}

/// The planner's row estimate of a distributed or reference table: its shards'
/// `reltuples`, summed over those analyzed, read with one command per node (a command
/// per shard took 116 ms for 32 shards, and every walk of a range asks). A reference
/// table's one shard has a copy on every node: the largest count is its. `None` for a
/// table Citus does not manage (the coordinator's own `pg_class` knows it); `Some(None)`
/// for one whose shards were never analyzed.
pub(super) async fn row_estimate(db: &DatabaseConnection, table: &str) -> Option<Option<u64>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH command AS ( \
                 SELECT format($$SELECT sum(reltuples) FILTER (WHERE reltuples >= 0)::bigint \
                                 FROM pg_class WHERE oid IN (SELECT to_regclass(name) FROM unnest(%L::text[]) name)$$, \
                               array_agg(shard_name(logicalrelid, shardid))) AS text \
                 FROM pg_dist_shard WHERE logicalrelid = to_regclass($1)), \
             nodes AS ( \
                 SELECT result::bigint AS tuples FROM command, run_command_on_all_nodes(command.text) \
                 WHERE success AND result <> '') \
             SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)), \
                    (SELECT CASE WHEN (SELECT partmethod FROM pg_dist_partition \
                                       WHERE logicalrelid = to_regclass($1)) = 'n' \
                                 THEN max(tuples) ELSE sum(tuples) END FROM nodes)::bigint",
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

/// The shards of `table` when Citus spreads it by the hash of `column`, in hash order;
/// none when it is laid out otherwise.
pub(super) async fn shards_by(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
) -> Result<Vec<i64>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_partition p USING (logicalrelid) \
             WHERE p.logicalrelid = to_regclass($1) AND p.partmethod = 'h' \
               AND column_to_column_name(p.logicalrelid, p.partkey) = $2 \
             ORDER BY s.shardminvalue::bigint",
            [table.into(), column.into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get_by_index(0)).collect()
}

/// Runs `query` (of one value) on the node holding `shard`, with `placeholder` (a table
/// name in it) replaced by the shard's table there, and returns its value as text. One
/// `master_run_on_worker` call: the tool needs no connection of its own to a worker.
pub(super) async fn run_on_shard(
    db: &DatabaseConnection,
    shard: i64,
    query: &str,
    placeholder: &str,
) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT r.success, r.result \
             FROM pg_dist_shard s \
             JOIN pg_dist_placement pl USING (shardid) \
             JOIN pg_dist_node n ON n.groupid = pl.groupid \
             CROSS JOIN LATERAL master_run_on_worker(ARRAY[n.nodename], ARRAY[n.nodeport], \
                 ARRAY[replace($2, $3, shard_name(s.logicalrelid, s.shardid))], false) r \
             WHERE s.shardid = $1 AND n.isactive AND n.noderole = 'primary' \
             LIMIT 1",
            [shard.into(), query.into(), placeholder.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("Citus knows no node holding shard {shard}")))?;
    let success: bool = row.try_get_by_index(0)?;
    let result: String = row.try_get_by_index(1)?;
    if !success {
        return Err(DbErr::Custom(format!(
            "reading shard {shard} on its node failed: {result}"
        )));
    }
    Ok(result)
}

/// The unique and foreign keys of `table` that leave out `column`, which Citus cannot
/// hold once the table is distributed by it, each with the statement that drops it.
pub(super) async fn keys_without(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
) -> Result<Vec<(String, String)>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH distribution AS ( \
                 SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2) \
             SELECT conname::text, format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) \
             FROM pg_constraint \
             WHERE conrelid = to_regclass($1) AND contype IN ('u', 'f') \
               AND NOT (SELECT attnum FROM distribution) = ANY (conkey) \
             UNION ALL \
             SELECT i.relname::text, format('DROP INDEX %s', x.indexrelid::regclass) \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             WHERE x.indrelid = to_regclass($1) AND x.indisunique AND NOT x.indisprimary \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
               AND NOT (SELECT attnum FROM distribution) = ANY (x.indkey::int2[]) \
             ORDER BY 1",
            [table.into(), column.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Distributes `table` by the hash of `column` (its rows, if any, move to the shards).
pub(super) async fn distribute(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT create_distributed_table($1, $2)",
        [table.into(), column.into()],
    ))
    .await?;
    Ok(())
}

/// The cluster's nodes: the coordinator (if it is in the metadata) and the active
/// primary workers, as (host, port).
struct Nodes {
    coordinator: Option<(String, i32)>,
    workers: Vec<(String, i32)>,
}

async fn nodes(db: &DatabaseConnection) -> Result<Nodes, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT nodename, nodeport, groupid = 0 FROM pg_dist_node \
             WHERE isactive AND noderole = 'primary' ORDER BY nodeid",
        ))
        .await?;
    let mut nodes = Nodes {
        coordinator: None,
        workers: Vec::new(),
    };
    for row in rows {
        let node = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        if row.try_get_by_index(2)? {
            nodes.coordinator = Some(node);
        } else {
            nodes.workers.push(node);
        }
    }
    Ok(nodes)
}

/// Runs `command` on each of `workers`, in the database of `db`'s session there;
/// the first failure is the error.
async fn run_on_workers(
    db: &DatabaseConnection,
    workers: &[(String, i32)],
    command: &str,
) -> Result<(), DbErr> {
    for (host, port) in workers {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT success, result FROM master_run_on_worker(ARRAY[$1], ARRAY[$2], ARRAY[$3], false)",
                [host.clone().into(), (*port).into(), command.into()],
            ))
            .await?;
        if let Some(row) = row
            && !row.try_get_by_index::<bool>(0)?
        {
            let result: String = row.try_get_by_index(1)?;
            return Err(DbErr::Custom(format!("{host}:{port}: {result}")));
        }
    }
    Ok(())
}

/// Makes the scratch database `name` (already created on the coordinator, `scratch` a
/// connection to it) a cluster like `db`'s: the database on every worker, Citus in
/// each, the workers registered. The migrations are then checked on Citus itself.
pub(super) async fn spread_scratch(
    db: &DatabaseConnection,
    scratch: &DatabaseConnection,
    name: &str,
) -> Result<(), DbErr> {
    let nodes = nodes(db).await?;
    run_on_workers(db, &nodes.workers, &format!("CREATE DATABASE \"{name}\"")).await?;
    scratch
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS citus")
        .await?;
    // From the scratch database's session, a worker is reached in its scratch database.
    run_on_workers(
        scratch,
        &nodes.workers,
        "CREATE EXTENSION IF NOT EXISTS citus",
    )
    .await?;
    let registrations = nodes
        .coordinator
        .iter()
        .map(|node| ("citus_set_coordinator_host", node))
        .chain(nodes.workers.iter().map(|node| ("citus_add_node", node)));
    for (register, (host, port)) in registrations {
        scratch
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                format!("SELECT {register}($1, $2)"),
                [host.clone().into(), (*port).into()],
            ))
            .await?;
    }
    Ok(())
}

/// Drops the scratch database `name` on every worker (the coordinator's is dropped as
/// on plain PostgreSQL).
pub(super) async fn drop_scratch_on_workers(
    db: &DatabaseConnection,
    name: &str,
) -> Result<(), DbErr> {
    let nodes = nodes(db).await?;
    run_on_workers(
        db,
        &nodes.workers,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await
}
