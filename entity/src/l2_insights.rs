//! `l2_insights`: consolidated insights of the agent memory, each with its
//! embedding and the ids of the raw entries it was distilled from.
//!
//! SQLite stores `embedding` and `source_ids` as JSON text; SeaORM binds `Vec<T>`
//! only on PostgreSQL, so on SQLite read and write those two columns as text.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "l2_insights")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// PostgreSQL `real[]` (the vector extension is not assumed).
    pub embedding: Vec<f32>,
    /// PostgreSQL `integer[]`.
    pub source_ids: Vec<i32>,
    pub created_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub io_category: Option<String>,
    pub is_identity: Option<bool>,
    #[sea_orm(column_type = "Text", nullable)]
    pub source_file: Option<String>,
    pub memory_strength: Option<f64>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub project_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::nodes::Entity")]
    Nodes,
    #[sea_orm(has_many = "super::l2_insight_history::Entity")]
    L2InsightHistory,
}

impl Related<super::nodes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Nodes.def()
    }
}

impl Related<super::l2_insight_history::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::L2InsightHistory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
