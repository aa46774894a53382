//! `backfill_ranges`: the key ranges a run's tables are cut into, claimed by its
//! workers under a lease on the database's clock (see the migration that creates it).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfill_ranges")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    /// The table or phase the range belongs to.
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub unit: String,
    pub phase: i32,
    /// The key the range starts after; NULL: from the start.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub lower_key: Option<String>,
    /// The range's last key; NULL: to the end of the table, rows inserted later included.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub upper_key: Option<String>,
    pub done: bool,
    /// `host:pid/worker` of the worker that claimed it last.
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub owner: Option<String>,
    /// How many times the range was claimed: a batch commits only under its epoch.
    pub epoch: i64,
    /// When the lease runs out, in milliseconds since 1970 on the database's clock.
    pub lease_until: Option<i64>,
    pub split_wanted: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub checkpoint: Json,
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
