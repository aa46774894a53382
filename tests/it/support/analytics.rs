//! Rows of the analytics tables (`tests`, `bugs`) holding the payloads a test writes,
//! and the features such a payload lists.

use crate::support::Db;
use entity::{bugs, tests};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::Value;

/// Inserts a `tests` row with payload `data` (text, or a JSON value).
pub async fn add_test(db: &Db, id: i64, customer: i64, data: impl ToString) {
    tests::Entity::insert(tests::ActiveModel {
        id: Set(id),
        customer_id: Set(customer),
        product_id: Set(1),
        data: Set(data.to_string()),
        status: Set("archived".into()),
        title: Set(None),
        testing_type: Set(None),
        start_at: Set(None),
        end_at: Set(None),
        synced_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .expect("insert test");
}

/// Inserts a `bugs` row of `test` with payload `raw` (text, or a JSON value), not yet
/// attributed.
pub async fn add_bug(db: &Db, id: i64, customer: i64, test: i64, raw: impl ToString) {
    bugs::Entity::insert(bugs::ActiveModel {
        id: Set(id),
        customer_id: Set(customer),
        test_id: Set(test),
        title: Set(format!("bug {id}")),
        severity: Set(None),
        status: Set(None),
        known: Set(false),
        reported_at: Set(None),
        raw_data: Set(raw.to_string()),
        synced_at: Set(None),
        test_feature_id: Set(None),
    })
    .exec_without_returning(db)
    .await
    .expect("insert bug");
}

/// The features a test payload lists, in either of its shapes (`features`, or
/// `exploratory_test.features`); none when that is not a list.
pub fn features_listed(payload: &Value) -> Option<&Vec<Value>> {
    payload
        .get("features")
        .or_else(|| payload.pointer("/exploratory_test/features"))
        .and_then(Value::as_array)
}
