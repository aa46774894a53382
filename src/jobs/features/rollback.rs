//! `backfill-features --rollback`: restores exactly what one run changed, from its
//! journal. Attribution first (a bug may point at a feature the run inserted): each
//! bug gets its old `test_feature_id` back where it still holds the run's. Then each
//! `test_features` row the run rewrote gets its old values back, and each row it
//! inserted is removed, where the row is still exactly as the run wrote it and (for a
//! removal) no bug points at it; any other row is left alone. One transaction per
//! journal entry. `--dry-run` does the same in one transaction that it rolls back, so
//! its counts are exact (the removals see the bugs set back): it holds the locks of
//! the bugs it would set back until it ends.

use std::collections::HashSet;

use anyhow::{Context, Result, bail};
use entity::{bugs, test_features};
use sea_orm::sea_query::IntoColumnRef;
use sea_orm::{
    ActiveModelTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    TransactionTrait,
};

use super::COMMAND;
use super::journal::{self, BugChanges, FeatureChanges};
use super::stored::load_features;
use crate::backend::{Backend, Db};
use crate::jobs::undo::{self, RollbackSummary, TableRestore};

/// Restores what run `run` (the latest `backfill-features` run when none) changed, or
/// with `dry_run` counts what it would.
pub async fn rollback(db: &Db, run: Option<i64>, dry_run: bool) -> Result<RollbackSummary> {
    let run = undo::run_to_undo(db, COMMAND, run).await?;
    let backend = db.backend();
    // A dry run's one transaction, rolled back at the end.
    let dry = match dry_run {
        true => Some(db.begin().await?),
        false => None,
    };
    let mut bugs = TableRestore::new("bugs");
    let attributions = undo::each_journal_entry(db, run.id, "bugs", async |entry| {
        let changes: BugChanges = serde_json::from_value(entry.changes)
            .context("a journal entry of bugs is unreadable")?;
        let txn = entry_transaction(db, dry.as_ref()).await?;
        let reset = backend
            .reset_by_key(
                txn.get(),
                "bugs",
                "id",
                "test_feature_id",
                &changes.attributed,
            )
            .await?;
        txn.commit().await?;
        bugs.restored += reset;
        bugs.left_alone += changes.attributed.len() as u64 - reset;
        Ok(())
    })
    .await?;
    let mut features = TableRestore::new("test_features");
    let upserts = undo::each_journal_entry(db, run.id, "test_features", async |entry| {
        let changes: FeatureChanges = serde_json::from_value(entry.changes)
            .context("a journal entry of test_features is unreadable")?;
        let txn = entry_transaction(db, dry.as_ref()).await?;
        let (restored, left_alone) = restore_features(txn.get(), backend, changes).await?;
        txn.commit().await?;
        features.restored += restored;
        features.left_alone += left_alone;
        Ok(())
    })
    .await?;
    if let Some(dry) = dry {
        dry.rollback().await?;
    }
    if attributions + upserts == 0 {
        bail!(crate::error::UsageError::new(format!(
            "run {} changed nothing that could be rolled back: nothing was changed",
            run.id
        )));
    }
    let mut summary = RollbackSummary::new(run.id, dry_run);
    summary.add(bugs);
    summary.add(features);
    if !dry_run {
        undo::mark_rolled_back(db, run.id).await?;
    }
    Ok(summary)
}

/// The transaction of one journal entry: its own, or a dry run's one.
enum EntryTransaction<'a> {
    Own(DatabaseTransaction),
    DryRun(&'a DatabaseTransaction),
}

impl EntryTransaction<'_> {
    fn get(&self) -> &DatabaseTransaction {
        match self {
            Self::Own(txn) => txn,
            Self::DryRun(txn) => txn,
        }
    }

    /// Commits the entry's own transaction; a dry run's waits for its end.
    async fn commit(self) -> Result<()> {
        if let Self::Own(txn) = self {
            txn.commit().await?;
        }
        Ok(())
    }
}

async fn entry_transaction<'a>(
    db: &Db,
    dry: Option<&'a DatabaseTransaction>,
) -> Result<EntryTransaction<'a>> {
    Ok(match dry {
        Some(dry) => EntryTransaction::DryRun(dry),
        None => EntryTransaction::Own(db.begin().await?),
    })
}

/// Restores one journal entry of `test_features` in `txn`: (rows restored, rows left
/// alone).
async fn restore_features(
    txn: &DatabaseTransaction,
    backend: &dyn Backend,
    changes: FeatureChanges,
) -> Result<(u64, u64)> {
    let ids = changes
        .inserted
        .iter()
        .map(|(id, _)| *id)
        .chain(changes.rewritten.iter().map(|rewrite| rewrite.old.id));
    let current = load_features(txn, backend, ids, true).await?;
    // Whether row `id` is still exactly as the run wrote it.
    let as_written = |id: i64, written: &str| {
        current
            .get(&id)
            .is_some_and(|row| journal::fingerprint(row) == written)
    };
    let (mut restored, mut left_alone) = (0, 0);
    for rewrite in changes.rewritten {
        if !as_written(rewrite.old.id, &rewrite.new) {
            left_alone += 1;
            continue;
        }
        // Every column set, so the update writes them all back.
        let old = rewrite.old.into_active_model().reset_all();
        test_features::Entity::update(old).exec(txn).await?;
        restored += 1;
    }
    let unchanged: Vec<i64> = changes
        .inserted
        .iter()
        .filter(|(id, written)| as_written(*id, written))
        .map(|(id, _)| *id)
        .collect();
    let referenced: HashSet<i64> = match unchanged.is_empty() {
        true => HashSet::new(),
        false => bugs::Entity::find()
            .select_only()
            .column(bugs::Column::TestFeatureId)
            .filter(backend.in_id_list(bugs::Column::TestFeatureId.into_column_ref(), &unchanged))
            .into_tuple::<Option<i64>>()
            .all(txn)
            .await?
            .into_iter()
            .flatten()
            .collect(),
    };
    let removable: Vec<i64> = unchanged
        .into_iter()
        .filter(|id| !referenced.contains(id))
        .collect();
    if !removable.is_empty() {
        test_features::Entity::delete_many()
            .filter(backend.in_id_list(test_features::Column::Id.into_column_ref(), &removable))
            .exec(txn)
            .await?;
    }
    restored += removable.len() as u64;
    left_alone += changes.inserted.len() as u64 - removable.len() as u64;
    Ok((restored, left_alone))
}
