//! `l0_raw`: the raw conversation log, one row per utterance of a session.
//!
//! SQLite stores `intentions` as JSON text (see `l2_insights`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "l0_raw")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "Text")]
    pub session_id: String,
    #[sea_orm(column_type = "Text")]
    pub speaker: String,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub timestamp: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    /// A short label (`VARCHAR(20)`), not a number.
    #[sea_orm(column_type = "String(StringLen::N(20))", nullable)]
    pub energy: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub state: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub location: Option<String>,
    /// PostgreSQL `text[]`; a JSON array (text) on SQLite, as the other arrays.
    pub intentions: Option<Vec<String>>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub project_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
