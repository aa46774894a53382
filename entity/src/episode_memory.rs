//! `episode_memory`: past queries with the reward they earned and the agent's
//! reflection on them, embedded for recall.
//!
//! SQLite stores `embedding` as JSON text (see `l2_insights`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "episode_memory")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "Text")]
    pub query: String,
    pub reward: f64,
    #[sea_orm(column_type = "Text")]
    pub reflection: String,
    /// PostgreSQL `real[]`.
    pub embedding: Vec<f32>,
    pub created_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub project_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
