//! `--rollback`: restores exactly what one run changed, rows and the guard on
//! `project_id` alike. Each table the run walked is restored in one transaction: the
//! guard it has now (a check the run validated, a column it made NOT NULL) is lifted,
//! the rows the journal names are given their old values back where they still hold
//! the `'io'` the run wrote (rows the application changed since stay as they are), and
//! the guard the run found is put back (`NOT VALID` where it was not validated; see
//! `guard`). `--dry-run` counts what it would restore, per table, and changes nothing.
//! Reads journals of both forms a run has written (`{old, keys}`, and the older `[row,
//! old]` pairs).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use entity::{backfill_journal, backfill_runs};
use migration::{LEGACY_PROJECT_ID, MEMORY_TABLES, PROJECT_ID_COLUMN};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::guard::{self, Guard};
use super::{COMMAND, ProjectIdRecord, holding, identity_of, select_tables};
use crate::backend::{Db, Failure, Key, KeyKind, MAX_BINDS, db_message};
use crate::engine::RetryPolicy;
use crate::error::{Unavailable, UsageError};
use crate::ledger::{self, RunStatus};

/// What `--rollback` restored (or, with `--dry-run`, would restore), per table.
#[derive(Debug, Serialize)]
pub struct RollbackSummary {
    pub run_id: i64,
    pub dry_run: bool,
    pub tables: Vec<TableRestore>,
    pub restored: u64,
    pub left_alone: u64,
}

/// One table's part of a rollback.
#[derive(Debug, Serialize)]
pub struct TableRestore {
    pub table: &'static str,
    /// Rows given their old value back.
    pub restored: u64,
    /// Rows the run changed that hold something else than its `'io'` by now.
    pub left_alone: u64,
    /// The guard on `project_id` as the run found it, and as the rollback leaves it.
    pub guard: Guard,
    /// The guard as the rollback found it, when it differed and was put back.
    pub guard_replaced: Option<Guard>,
}

/// Restores what run `run` (the latest `backfill-project-id` run when none) changed,
/// or with `dry_run` counts what it would. A batch waits at most `lock_timeout` for a
/// table's lock before it tries again.
pub async fn rollback(
    db: &Db,
    run: Option<i64>,
    dry_run: bool,
    lock_timeout: Duration,
) -> Result<RollbackSummary> {
    let run = run_to_undo(db, run).await?;
    let record: Option<ProjectIdRecord> = serde_json::from_value(run.arguments.clone()).ok();
    let tables = match &record {
        Some(record) => select_tables(&record.tables)?,
        None => MEMORY_TABLES.to_vec(),
    };
    let mut summary = RollbackSummary {
        run_id: run.id,
        dry_run,
        tables: Vec::new(),
        restored: 0,
        left_alone: 0,
    };
    let retry = RetryPolicy::default();
    for table in tables {
        let before = record
            .as_ref()
            .and_then(|record| record.guards.get(table).copied())
            .unwrap_or(Guard::MIGRATED);
        let mut failures = 0;
        let restore = loop {
            let restored = restore_table(db, run.id, table, before, dry_run, lock_timeout).await;
            match restored {
                Err(err)
                    if err
                        .downcast_ref::<sea_orm::DbErr>()
                        .is_some_and(|err| db.classify(err) == Failure::Transient)
                        && retry.may_retry(failures + 1) =>
                {
                    failures += 1;
                    tracing::info!("{table}: waited too long for its lock ({err:#}); trying again");
                    tokio::time::sleep(retry.wait(failures)).await;
                }
                done => break done?,
            }
        };
        if let Some(restore) = restore {
            summary.restored += restore.restored;
            summary.left_alone += restore.left_alone;
            summary.tables.push(restore);
        }
    }
    if summary.tables.is_empty() {
        bail!(UsageError::new(format!(
            "run {} changed nothing that could be rolled back: nothing was changed",
            run.id
        )));
    }
    if !dry_run {
        backfill_runs::Entity::update_many()
            .col_expr(
                backfill_runs::Column::Status,
                Expr::value(RunStatus::RolledBack.as_str()),
            )
            .filter(backfill_runs::Column::Id.eq(run.id))
            .exec(db)
            .await
            .context("could not record the rollback in backfill_runs")?;
    }
    Ok(summary)
}

/// The run `--rollback` undoes: `run`, or the latest `backfill-project-id` run. Never
/// one rolled back already (its rows may hold a later run's `'io'` by now, which is
/// not this run's to undo), nor one whose process is still at work.
async fn run_to_undo(db: &Db, run: Option<i64>) -> Result<backfill_runs::Model> {
    let found = match run {
        Some(id) => ledger::find(db, id).await?,
        None => backfill_runs::Entity::find()
            .filter(backfill_runs::Column::Command.eq(COMMAND))
            .filter(backfill_runs::Column::Status.ne(RunStatus::RolledBack.as_str()))
            .order_by_desc(backfill_runs::Column::Id)
            .one(db)
            .await
            .context("could not read backfill_runs")?
            .ok_or_else(|| UsageError::new(format!("there is no `{COMMAND}` run to roll back")))?,
    };
    let id = found.id;
    if found.command != COMMAND {
        bail!(UsageError::new(format!(
            "run {id} is a `{}` run, not a `{COMMAND}` run: nothing was changed",
            found.command
        )));
    }
    if found.status == RunStatus::RolledBack.as_str() {
        bail!(UsageError::new(format!(
            "run {id} was already rolled back: nothing was changed"
        )));
    }
    if RunStatus::LIVE.contains(&found.status.as_str())
        && ledger::is_alive(&found.host, found.pid, found.heartbeat_at)
    {
        bail!(Unavailable::new(format!(
            "run {id} is still {} (pid {} on {}): stop it with `backfill runs cancel {id}`, then roll it back",
            found.status, found.pid, found.host
        )));
    }
    Ok(found)
}

/// Restores `table` as run `run_id` found it, in one transaction (see the module
/// doc); `None` when the run changed nothing there.
async fn restore_table(
    db: &Db,
    run_id: i64,
    table: &'static str,
    before: Guard,
    dry_run: bool,
    lock_timeout: Duration,
) -> Result<Option<TableRestore>> {
    let now = guard::guard_of(db, db.connection(), table).await?;
    let identity = identity_of(table);
    let mut restores_null = false;
    let entries = each_journal_entry(db, run_id, table, async |entry| {
        restores_null |= decode_changes(&entry.changes, identity.kind)?
            .iter()
            .any(|(old, _)| old.is_none());
        Ok(())
    })
    .await?;
    if entries == 0 && now == before {
        return Ok(None);
    }
    // The guard the run left is lifted where it changed, or where it would refuse
    // the NULLs coming back.
    let lift = now != before || (restores_null && now.forbids_null());
    let mut restore = TableRestore {
        table,
        restored: 0,
        left_alone: 0,
        guard: before,
        guard_replaced: lift.then_some(now),
    };
    let txn = db.begin_batch(lock_timeout).await?;
    let hold = db
        .backend()
        .hold_while_lifted(table)
        .filter(|_| lift && !dry_run);
    if let Some((lock, _)) = &hold {
        txn.execute_unprepared(lock).await?;
    }
    let restored = async {
        if lift && !dry_run {
            guard::lift(db, &txn, table, now).await?;
        }
        each_journal_entry(&txn, run_id, table, async |entry| {
            for (old, keys) in decode_changes(&entry.changes, identity.kind)? {
                for chunk in keys.chunks(MAX_BINDS) {
                    let holding_io = holding(identity, db.backend(), chunk, LEGACY_PROJECT_ID);
                    let done = match dry_run {
                        true => count(&txn, table, holding_io).await?,
                        false => {
                            let update = Query::update()
                                .table(Alias::new(table))
                                .value(Alias::new(PROJECT_ID_COLUMN), old.as_deref())
                                .and_where(holding_io)
                                .to_owned();
                            txn.execute(&update).await?.rows_affected()
                        }
                    };
                    restore.restored += done;
                    restore.left_alone += chunk.len() as u64 - done;
                }
            }
            Ok(())
        })
        .await?;
        if lift && !dry_run {
            guard::put_back(db, &txn, table, before).await?;
        }
        anyhow::Ok(())
    }
    .await;
    if let Some((_, release)) = &hold {
        // Whatever happened: the lock must not stay with a connection of the pool.
        if let Err(err) = txn.execute_unprepared(release).await {
            tracing::warn!("{table}: could not release its lock ({})", db_message(&err));
        }
    }
    match restored {
        Ok(()) if !dry_run => txn.commit().await?,
        Ok(()) => txn.rollback().await?,
        Err(err) => {
            let _ = txn.rollback().await;
            return Err(err.context(format!(
                "could not restore `{table}`; nothing of it was changed"
            )));
        }
    }
    Ok(Some(restore))
}

/// How many rows `rows` selects in `table`.
async fn count(txn: &DatabaseTransaction, table: &str, rows: Expr) -> Result<u64> {
    let query = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(Alias::new(table))
        .and_where(rows)
        .to_owned();
    let row = txn.query_one(&query).await?;
    Ok(row.map_or(Ok(0), |row| row.try_get_by_index::<i64>(0))? as u64)
}

/// Journal entries read per page.
const JOURNAL_PAGE: u64 = 100;

/// Calls `visit` on every journal entry of run `run_id` for `table`, newest first,
/// reading the journal in keyset pages (never a whole run at once); returns how many
/// there were.
async fn each_journal_entry(
    db: &impl ConnectionTrait,
    run_id: i64,
    table: &str,
    mut visit: impl AsyncFnMut(backfill_journal::Model) -> Result<()>,
) -> Result<u64> {
    let mut before = None;
    let mut seen = 0;
    loop {
        let mut page = backfill_journal::Entity::find()
            .filter(backfill_journal::Column::RunId.eq(run_id))
            .filter(backfill_journal::Column::TableName.eq(table))
            .order_by_desc(backfill_journal::Column::Id)
            .limit(JOURNAL_PAGE);
        if let Some(before) = before {
            page = page.filter(backfill_journal::Column::Id.lt(before));
        }
        let page = page
            .all(db)
            .await
            .context("could not read backfill_journal")?;
        let Some(last) = page.last() else {
            return Ok(seen);
        };
        before = Some(last.id);
        seen += page.len() as u64;
        for entry in page {
            visit(entry).await?;
        }
    }
}

/// A journal entry's `changes`: the rows one statement set to 'io', by primary key,
/// and the value they all held before; or, as journals written before this form
/// hold them, `[row, old]` pairs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JournaledChanges {
    Rows { old: Option<String>, keys: Vec<Key> },
    Pairs(Vec<(String, Option<String>)>),
}

/// An entry's rows grouped by the value they held.
fn decode_changes(
    json: &serde_json::Value,
    kind: KeyKind,
) -> Result<Vec<(Option<String>, Vec<Key>)>> {
    let changes = JournaledChanges::deserialize(json).context("a journal entry is unreadable")?;
    Ok(match changes {
        JournaledChanges::Rows { old, keys } => vec![(old, keys)],
        JournaledChanges::Pairs(pairs) => {
            let mut by_old: BTreeMap<Option<String>, Vec<Key>> = BTreeMap::new();
            for (key, old) in pairs {
                let key = match (kind, key.parse::<i64>()) {
                    (KeyKind::Integer, Ok(v)) => Key::Int(v),
                    _ => Key::Text(key),
                };
                by_old.entry(old).or_default().push(key);
            }
            by_old.into_iter().collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_journal_forms() {
        let rows = serde_json::json!({"old": null, "keys": [3, 5]});
        assert_eq!(
            decode_changes(&rows, KeyKind::Integer).unwrap(),
            vec![(None, vec![Key::Int(3), Key::Int(5)])]
        );
        let pairs = serde_json::json!([["7", null], ["8", "I/O"], ["9", null]]);
        assert_eq!(
            decode_changes(&pairs, KeyKind::Integer).unwrap(),
            vec![
                (None, vec![Key::Int(7), Key::Int(9)]),
                (Some("I/O".to_string()), vec![Key::Int(8)]),
            ]
        );
        let uuid = "0e6f1d2c-8a4b-4c3d-9e8f-7a6b5c4d3e2f";
        let pairs = serde_json::json!([[uuid, "default"]]);
        assert_eq!(
            decode_changes(&pairs, KeyKind::Uuid).unwrap(),
            vec![(Some("default".to_string()), vec![Key::Text(uuid.into())])]
        );
        assert!(decode_changes(&serde_json::json!({"keys": "x"}), KeyKind::Integer).is_err());
    }
}
