//! `smf_proposals`: proposed changes to the memory graph awaiting approval, with the
//! edges they would touch and how they were resolved.
//!
//! SQLite stores `affected_edges` as a JSON array of hyphenated UUIDs (see
//! `l2_insights`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "smf_proposals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "Text")]
    pub trigger_type: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub proposed_action: Json,
    /// PostgreSQL `uuid[]`.
    pub affected_edges: Vec<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub reasoning: String,
    #[sea_orm(column_type = "Text")]
    pub approval_level: String,
    #[sea_orm(column_type = "Text")]
    pub status: String,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub resolved_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolved_by: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub project_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
