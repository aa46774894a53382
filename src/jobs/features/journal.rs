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
/// columns, in hex. The journal keeps it, not the row the run wrote, which would double
/// what a batch writes; it is all an undo needs to tell a row is still exactly as the
/// run wrote it. The row is taken apart whole, so a column added to the entity does not
/// compile until it is hashed too.
pub(super) fn fingerprint(row: &test_features::Model) -> String {
    let test_features::Model {
        id,
        customer_id,
        test_id,
        feature_id,
        title,
        description,
        howtofind,
        user_stories,
        enable_default,
        enable_content,
        enable_visual,
    } = row;
    let mut hash = Sha256::new();
    for number in [id, customer_id, test_id, feature_id] {
        hash.update(number.to_le_bytes());
    }
    // Each text after its length and whether it is there, so that no two rows run
    // together into the same bytes.
    for text in [
        Some(title),
        description.as_ref(),
        howtofind.as_ref(),
        Some(user_stories),
    ] {
        match text {
            None => hash.update([0]),
            Some(text) => {
                hash.update([1]);
                hash.update((text.len() as u64).to_le_bytes());
                hash.update(text.as_bytes());
            }
        }
    }
    hash.update([*enable_default, *enable_content, *enable_visual].map(u8::from));
    let digest = hash.finalize();
    let mut hex = String::with_capacity(32);
    for byte in &digest[..16] {
        hex.push(HEX_DIGITS[usize::from(byte >> 4)]);
        hex.push(HEX_DIGITS[usize::from(byte & 0xf)]);
    }
    hex
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(title: &str, description: Option<&str>) -> test_features::Model {
        test_features::Model {
            id: 10,
            customer_id: 7,
            test_id: 1,
            feature_id: 3,
            title: title.to_string(),
            description: description.map(str::to_string),
            howtofind: None,
            user_stories: "[]".to_string(),
            enable_default: true,
            enable_content: false,
            enable_visual: false,
        }
    }

    #[test]
    fn texts_never_run_together() {
        assert_ne!(
            fingerprint(&row("ab", Some("c"))),
            fingerprint(&row("a", Some("bc")))
        );
        assert_ne!(
            fingerprint(&row("a", None)),
            fingerprint(&row("a", Some("")))
        );
    }

    /// A journal outlives the binary that wrote it: the same row must give the same
    /// fingerprint in every release, or an undo would leave every row alone.
    #[test]
    fn the_fingerprint_of_a_row_never_changes() {
        assert_eq!(
            fingerprint(&row("Login", Some("d"))),
            "b15a25fd73471677c7b64f953cb1f014"
        );
    }
}
