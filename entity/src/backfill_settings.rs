//! `backfill_settings`: the settings of a run changed while it works, oldest first
//! (see the migration that creates it).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfill_settings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    /// `batch-size`, `batch-time`, `sleep`, `max-lag`, `max-load` or `window`.
    #[sea_orm(column_type = "String(StringLen::N(30))")]
    pub setting: String,
    /// The value before the change; NULL when the run did not record it.
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub old_value: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub new_value: String,
    /// `user@host` of whoever changed it.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub changed_by: String,
    pub changed_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
