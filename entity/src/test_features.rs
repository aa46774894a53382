//! `test_features`: the typed form of the features listed in a test's payload, one
//! row per feature, written by `backfill-features`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_features")]
pub struct Model {
    /// The API's id of the feature within the test, never generated here.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// Taken from the test row, never from the payload.
    pub customer_id: i64,
    pub test_id: i64,
    pub feature_id: i64,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub howtofind: Option<String>,
    /// JSON array of strings, as text; `[]` when the payload has none.
    #[sea_orm(column_type = "Text")]
    pub user_stories: String,
    pub enable_default: bool,
    pub enable_content: bool,
    pub enable_visual: bool,
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
    #[sea_orm(has_many = "super::bugs::Entity")]
    Bugs,
}

impl Related<super::tests::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tests.def()
    }
}

impl Related<super::bugs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Bugs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
