//! `backfill-features` end to end (SPEC §5.4): test payloads crafted row by row or
//! seeded by the thousand, the real binary run on them, and the `test_features` rows,
//! bug attributions and anomalies it leaves read back.

mod dry_run;
mod rollback;
mod rules;
mod runs;

use crate::support::Db;
use entity::test_features;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::support::*;

/// A well-formed feature of a test payload.
fn feature(id: i64, feature_id: i64) -> Value {
    json!({ "id": id, "feature_id": feature_id, "title": format!("F{id}"), "user_stories": ["story"] })
}

/// `backfill-features` with `flags`, in JSON: its exit code and summary.
fn backfill_features(tdb: &TestDb, flags: &[&str]) -> (i32, Value) {
    tdb.run_json(&[&["backfill-features"][..], flags].concat())
}

async fn all_features(db: &Db) -> Vec<test_features::Model> {
    test_features::Entity::find()
        .order_by_asc(test_features::Column::Id)
        .all(db)
        .await
        .expect("read test_features")
}

/// Every anomaly as (table, row, kind), in that order.
async fn anomaly_kinds(db: &Db) -> Vec<(String, String, String)> {
    let rows = texts(
        db,
        "SELECT table_name || '|' || row_id || '|' || kind FROM backfill_anomalies ORDER BY table_name, row_id, kind",
    )
    .await;
    rows.into_iter()
        .map(|r| {
            let r = r.expect("row");
            let parts: Vec<&str> = r.split('|').collect();
            (parts[0].into(), parts[1].into(), parts[2].into())
        })
        .collect()
}
