//! `bugs`: one row per bug reported against a test. `raw_data` holds the raw API
//! payload (JSON text); `backfill-features` sets `test_feature_id` from
//! `raw_data.test_feature.id`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "bugs")]
pub struct Model {
    /// The API's id, never generated here.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub customer_id: i64,
    pub test_id: i64,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub severity: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub status: Option<String>,
    pub known: bool,
    pub reported_at: Option<DateTimeWithTimeZone>,
    /// Raw API payload (JSON text).
    #[sea_orm(column_type = "Text")]
    pub raw_data: String,
    pub synced_at: Option<DateTimeWithTimeZone>,
    /// The test feature the bug was found in; NULL when the payload names none.
    pub test_feature_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tests::Entity",
        from = "Column::TestId",
        to = "super::tests::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Tests,
    #[sea_orm(
        belongs_to = "super::test_features::Entity",
        from = "Column::TestFeatureId",
        to = "super::test_features::Column::Id",
        on_update = "NoAction",
        on_delete = "SetNull"
    )]
    TestFeatures,
}

impl Related<super::tests::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tests.def()
    }
}

impl Related<super::test_features::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestFeatures.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
