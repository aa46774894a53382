//! What a `backfill-features` run journals, per written chunk in the batch's own
//! transaction, so that `--rollback` restores exactly what it changed: the
//! `test_features` rows it inserted and the ones it rewrote (each before and after),
//! and each bug's `test_feature_id` before and after attribution.

use chrono::Utc;
use entity::{backfill_journal, test_features};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};

/// What phase 1 wrote to `test_features` in one statement.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct FeatureChanges {
    /// Rows it inserted, as it wrote them.
    pub inserted: Vec<test_features::Model>,
    /// Rows it rewrote, as they were and as it wrote them.
    pub rewritten: Vec<Rewrite>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Rewrite {
    pub old: test_features::Model,
    pub new: test_features::Model,
}

/// What phase 2 set on `bugs` in one statement: `(bug, old test_feature_id, new)`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct BugChanges {
    pub attributed: Vec<(i64, Option<i64>, i64)>,
}

/// Journals `changes` of `table` for run `run_id`'s batch `batch`, in `txn`.
pub(super) async fn record(
    txn: &DatabaseTransaction,
    run_id: i64,
    table: &str,
    batch: u64,
    changes: &impl Serialize,
) -> Result<(), DbErr> {
    let entry = backfill_journal::ActiveModel {
        run_id: Set(run_id),
        table_name: Set(table.to_string()),
        batch_no: Set(batch as i64),
        changes: Set(serde_json::to_value(changes).map_err(|err| DbErr::Json(err.to_string()))?),
        created_at: Set(Utc::now().fixed_offset()),
        ..Default::default()
    };
    backfill_journal::Entity::insert(entry)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
