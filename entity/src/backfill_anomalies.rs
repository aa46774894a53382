//! `backfill_anomalies`: rows a backfill could not attribute or the database
//! rejected, kept for review. At most one open anomaly exists per
//! (`table_name`, `row_id`, `kind`) (partial unique index
//! `uq_backfill_anomalies_open`); a re-run refreshes `last_seen_at` instead of
//! adding a twin.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfill_anomalies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub table_name: String,
    /// Primary key of the offending row as text; NULL when the row has none.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub row_id: Option<String>,
    /// Machine-readable code: `invalid_json`, `missing_id`, `invalid_field`,
    /// `duplicate_id`, `cross_tenant`, `dangling_reference`, `legacy_alias`,
    /// `row_rejected`, …
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub issue_description: String,
    pub resolved: bool,
    /// The `backfill_runs` row that last saw the anomaly (no foreign key: an
    /// anomaly outlives the run bookkeeping).
    pub run_id: Option<i64>,
    pub created_at: DateTimeWithTimeZone,
    pub last_seen_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
