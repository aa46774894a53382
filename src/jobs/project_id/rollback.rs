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
use migration::{LEGACY_PROJECT_ID, MEMORY_TABLES, PROJECT_ID_COLUMN};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::Deserialize;

use super::guard::{self, Guard};
use super::{COMMAND, ProjectIdRecord, holding, identity_of, select_tables};
use crate::backend::{Db, Failure, Key, KeyKind, MAX_BINDS, db_message};
use crate::engine::RetryPolicy;
use crate::error::UsageError;
use crate::jobs::undo::{self, GuardRestore, RollbackSummary, TableRestore};

/// Restores what run `run` (the latest `backfill-project-id` run when none) changed,
/// or with `dry_run` counts what it would. A batch waits at most `lock_timeout` for a
/// table's lock before it tries again.
pub async fn rollback(
    db: &Db,
    run: Option<i64>,
    dry_run: bool,
    lock_timeout: Duration,
) -> Result<RollbackSummary> {
    let run = undo::run_to_undo(db, COMMAND, run).await?;
    let record: Option<ProjectIdRecord> = serde_json::from_value(run.arguments.clone()).ok();
    let tables = match &record {
        Some(record) => select_tables(&record.tables)?,
        None => MEMORY_TABLES.to_vec(),
    };
    let mut summary = RollbackSummary::new(run.id, dry_run);
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
            summary.add(restore);
        }
    }
    if summary.tables.is_empty() {
        bail!(UsageError::new(format!(
            "run {} changed nothing that could be rolled back: nothing was changed",
            run.id
        )));
    }
    if !dry_run {
        undo::mark_rolled_back(db, run.id).await?;
    }
    Ok(summary)
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
    let entries = undo::each_journal_entry(db, run_id, table, async |entry| {
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
        guard: lift.then(|| GuardRestore {
            found: now.describe(),
            put_back: before.describe(),
        }),
        ..TableRestore::new(table)
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
        undo::each_journal_entry(&txn, run_id, table, async |entry| {
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
