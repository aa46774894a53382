//! `test_features` rows as stored: read in bulk by id, for the upsert to compare with
//! what a payload asks for, and for a rollback to compare with what a run wrote.

use std::collections::HashMap;

use entity::test_features;
use sea_orm::sea_query::{Expr, IntoColumnRef, LockType, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use crate::backend::Backend;

/// The stored `test_features` rows of `ids`. Text columns are read as the backend
/// reads payloads and decoded lossily: where TEXT may hold bytes that are not UTF-8,
/// such a row compares as changed and is rewritten from the payload instead of failing
/// its batch (and every retry).
pub(super) async fn load_features(
    txn: &DatabaseTransaction,
    backend: &dyn Backend,
    ids: impl Iterator<Item = i64>,
    lock: bool,
) -> Result<HashMap<i64, test_features::Model>, DbErr> {
    use test_features::Column as C;
    let ids: Vec<i64> = ids.collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let text = |column: C| backend.text_as_read(Expr::col(column));
    let mut query = Query::select()
        .columns([C::Id, C::CustomerId, C::TestId, C::FeatureId])
        .expr(text(C::Title))
        .expr(text(C::Description))
        .expr(text(C::Howtofind))
        .expr(text(C::UserStories))
        .columns([C::EnableDefault, C::EnableContent, C::EnableVisual])
        .from(test_features::Entity)
        .and_where(backend.in_id_list(C::Id.into_column_ref(), &ids))
        .to_owned();
    if lock {
        query.lock(LockType::Update);
    }
    let mut found = HashMap::with_capacity(ids.len());
    for row in txn.query_all(&query).await? {
        let text = |i: usize| {
            backend
                .read_text(&row, i)
                .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        let model = test_features::Model {
            id: row.try_get_by_index(0)?,
            customer_id: row.try_get_by_index(1)?,
            test_id: row.try_get_by_index(2)?,
            feature_id: row.try_get_by_index(3)?,
            title: text(4)?.unwrap_or_default(),
            description: text(5)?,
            howtofind: text(6)?,
            user_stories: text(7)?.unwrap_or_default(),
            enable_default: row.try_get_by_index(8)?,
            enable_content: row.try_get_by_index(9)?,
            enable_visual: row.try_get_by_index(10)?,
        };
        found.insert(model.id, model);
    }
    Ok(found)
}
