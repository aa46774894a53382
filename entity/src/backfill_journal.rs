//! `backfill_journal`: what a run changed, one row per committed batch and table,
//! written in the batch's transaction so `--rollback` can restore exactly that.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfill_journal")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub table_name: String,
    pub batch_no: i64,
    /// What one statement changed, for `--rollback`: for a memory table `{"old":
    /// value, "keys": [row ids]}` (the rows set to 'io', and the value they all held
    /// before); for `test_features` `{"inserted": [rows], "rewritten": [{"old": row,
    /// "new": row}]}`; for `bugs` `{"attributed": [[bug, old, new], …]}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub changes: Json,
    pub created_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::backfill_runs::Entity",
        from = "Column::RunId",
        to = "super::backfill_runs::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    BackfillRuns,
}

impl Related<super::backfill_runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BackfillRuns.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
