//! `backfill_samples`: a run's history, one row per worker and interval (see the
//! migration that creates it).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfill_samples")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    /// The table or phase walked.
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub unit: String,
    /// The interval's end, in milliseconds since 1970.
    pub at_ms: i64,
    /// The interval's length.
    pub span_ms: f64,
    pub rows_walked: f64,
    pub batches: f64,
    /// The time the interval's batches took, summed.
    pub busy_ms: f64,
    /// The batch size at the interval's end.
    pub batch_size: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
