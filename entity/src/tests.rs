//! `tests`: one row per test of the test-management API. `data` holds the raw
//! payload (JSON text) whose feature list `backfill-features` turns into
//! `test_features` rows.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tests")]
pub struct Model {
    /// The API's id, never generated here.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub customer_id: i64,
    pub product_id: i64,
    /// Raw API payload: `{"features":[…]}` or `{"exploratory_test":{"features":[…]}}`.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    #[sea_orm(column_type = "Text")]
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub title: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub testing_type: Option<String>,
    pub start_at: Option<DateTimeWithTimeZone>,
    pub end_at: Option<DateTimeWithTimeZone>,
    pub synced_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::bugs::Entity")]
    Bugs,
    #[sea_orm(has_many = "super::test_features::Entity")]
    TestFeatures,
}

impl Related<super::bugs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Bugs.def()
    }
}

impl Related<super::test_features::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestFeatures.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
