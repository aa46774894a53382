//! `--rollback`: restores exactly what one run changed, from its journal, on the rows
//! that still hold the `'io'` it wrote (rows the application changed since stay as they
//! are). Refuses, changing nothing, when an old value is NULL and a check or trigger
//! forbids NULL. Reads journals of both forms a run has written (`{old, keys}`, and the
//! older `[row, old]` pairs).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use entity::{backfill_journal, backfill_runs};
use migration::{LEGACY_PROJECT_ID, MEMORY_TABLES, PROJECT_ID_COLUMN, ProjectIdCheck};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{COMMAND, holding, identity_of};
use crate::backend::{Db, Key, KeyKind, MAX_BINDS};
use crate::error::UsageError;
use crate::ledger::RunStatus;
use crate::validate::project_id::{check_state, column_not_null};

/// What `--rollback` restored.
#[derive(Debug, Serialize)]
pub struct RollbackSummary {
    pub run_id: i64,
    pub restored: u64,
    pub left_alone: u64,
}

/// Restores the old values a run journaled, for rows that still hold the `'io'` it
/// wrote (rows the application changed since stay as they are). Refuses, changing
/// nothing, when an old value is NULL and a check or trigger forbids NULL.
pub async fn rollback(db: &Db, run: Option<i64>) -> Result<RollbackSummary> {
    let run_id = match run {
        Some(id) => {
            // A run rolled back already must not be rolled back again: its rows may
            // hold the 'io' of a later run by now, which is not this run's to undo.
            let found = backfill_runs::Entity::find_by_id(id)
                .one(db)
                .await
                .context("could not read backfill_runs")?;
            match found {
                Some(r) if r.command != COMMAND => bail!(UsageError::new(format!(
                    "run {id} is a `{}` run, not a `{COMMAND}` run: nothing was changed",
                    r.command
                ))),
                Some(r) if r.status == RunStatus::RolledBack.as_str() => {
                    bail!(UsageError::new(format!(
                        "run {id} was already rolled back: nothing was changed"
                    )))
                }
                Some(_) => id,
                None => bail!(UsageError::new(format!(
                    "there is no run {id} in backfill_runs: nothing was changed"
                ))),
            }
        }
        None => backfill_runs::Entity::find()
            .filter(backfill_runs::Column::Command.eq(COMMAND))
            .filter(backfill_runs::Column::Status.ne(RunStatus::RolledBack.as_str()))
            .order_by_desc(backfill_runs::Column::Id)
            .one(db)
            .await?
            .map(|r| r.id)
            .ok_or_else(|| UsageError::new(format!("there is no `{COMMAND}` run to roll back")))?,
    };
    // First pass: refuse before anything changes (each table is checked once).
    let mut checked = BTreeSet::new();
    let entries = each_journal_entry(db, run_id, async |entry| {
        let table = known_table(&entry.table_name)?;
        let changes = decode_changes(&entry.changes, identity_of(table).kind)?;
        if changes.iter().any(|(old, _)| old.is_none())
            && checked.insert(table)
            && (check_state(db, table).await? != ProjectIdCheck::Missing
                || column_not_null(db, db.backend(), table).await?)
        {
            bail!(UsageError::new(format!(
                "run {run_id} replaced NULLs in `{table}`, and NULL cannot be restored while {} forbids it: nothing was changed; `backfill migrate down` removes the check if you really need the NULLs back",
                migration::project_id_check_name(table)
            )));
        }
        Ok(())
    })
    .await?;
    if entries == 0 {
        bail!(UsageError::new(format!(
            "run {run_id} changed nothing that could be rolled back"
        )));
    }
    let mut summary = RollbackSummary {
        run_id,
        restored: 0,
        left_alone: 0,
    };
    each_journal_entry(db, run_id, async |entry| {
        let table = known_table(&entry.table_name)?;
        let identity = identity_of(table);
        let txn = db.begin().await?;
        for (old, keys) in decode_changes(&entry.changes, identity.kind)? {
            for chunk in keys.chunks(MAX_BINDS) {
                let update = Query::update()
                    .table(Alias::new(table))
                    .value(Alias::new(PROJECT_ID_COLUMN), old.as_deref())
                    .and_where(holding(identity, db.backend(), chunk, LEGACY_PROJECT_ID))
                    .to_owned();
                let done = txn.execute(&update).await?.rows_affected();
                summary.restored += done;
                summary.left_alone += chunk.len() as u64 - done;
            }
        }
        txn.commit().await?;
        Ok(())
    })
    .await?;
    backfill_runs::Entity::update_many()
        .col_expr(
            backfill_runs::Column::Status,
            Expr::value(RunStatus::RolledBack.as_str()),
        )
        .filter(backfill_runs::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(summary)
}

/// Journal entries read per page.
const JOURNAL_PAGE: u64 = 100;

/// Calls `visit` on every journal entry of run `run_id`, newest first, reading the
/// journal in keyset pages (never a whole run at once); returns how many there were.
async fn each_journal_entry(
    db: &Db,
    run_id: i64,
    mut visit: impl AsyncFnMut(backfill_journal::Model) -> Result<()>,
) -> Result<u64> {
    let mut before = None;
    let mut seen = 0;
    loop {
        let mut page = backfill_journal::Entity::find()
            .filter(backfill_journal::Column::RunId.eq(run_id))
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

fn known_table(name: &str) -> Result<&'static str> {
    MEMORY_TABLES
        .iter()
        .copied()
        .find(|t| *t == name)
        .ok_or_else(|| anyhow::anyhow!("the journal names `{name}`, which is not a memory table"))
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
