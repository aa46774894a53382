//! What a `backfill-features` run journals, per written chunk in the batch's own
//! transaction, so that `--rollback` restores exactly what it changed: the
//! `test_features` rows it inserted and the ones it rewrote (each as it was, and the
//! fingerprint of what it wrote), and each bug's `test_feature_id` before and after
//! attribution.

use chrono::Utc;
use entity::{backfill_journal, test_features};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What phase 1 wrote to `test_features` in one statement.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct FeatureChanges {
    /// Rows it inserted: each id, and the fingerprint of the row it wrote.
    pub inserted: Vec<(i64, String)>,
    /// Rows it rewrote.
    pub rewritten: Vec<Rewrite>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Rewrite {
    /// The row as it was.
    pub old: test_features::Model,
    /// The fingerprint of the row the run wrote over it.
    pub new: String,
}

/// The fingerprint of a `test_features` row: the first 128 bits of the SHA-256 of its
/// JSON, in hex. The journal keeps it, not the row the run wrote, which would double
/// what a batch writes; it is all an undo needs to tell a row is still exactly as the
/// run wrote it. Every column is in it, a column added later included.
pub(super) fn fingerprint(row: &test_features::Model) -> Result<String, DbErr> {
    let json = serde_json::to_vec(row).map_err(|err| DbErr::Json(err.to_string()))?;
    let digest = Sha256::digest(&json);
    let mut hex = String::with_capacity(32);
    for byte in &digest[..16] {
        hex.push(HEX_DIGITS[usize::from(byte >> 4)]);
        hex.push(HEX_DIGITS[usize::from(byte & 0xf)]);
    }
    Ok(hex)
}

const HEX_DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

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
