//! `ground_truth`: queries with the documents judged relevant to them, used to
//! evaluate retrieval; `kappa` is the agreement between the two judges.
//!
//! SQLite stores `expected_docs` as JSON text (see `l2_insights`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "ground_truth")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "Text")]
    pub query: String,
    /// PostgreSQL `integer[]`.
    pub expected_docs: Vec<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub judge1_model: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub judge2_model: Option<String>,
    pub kappa: Option<f64>,
    pub created_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub project_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
