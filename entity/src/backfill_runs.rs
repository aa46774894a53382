//! `backfill_runs`: one row per backfill run: command, arguments, timing, status,
//! counters and per-table checkpoints for `--resume`. At most one run per command
//! is `running` (partial unique index `uq_backfill_runs_running`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfill_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub command: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub arguments: Json,
    /// `running`, `paused`, `throttled`, `interrupted`, `cancelled`, `failed`, `done` or
    /// `rolled_back` (`completed` in runs recorded before `done`).
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub status: String,
    pub started_at: DateTimeWithTimeZone,
    pub finished_at: Option<DateTimeWithTimeZone>,
    /// Refreshed while the run is alive, so a stale `running` row can be told apart.
    pub heartbeat_at: DateTimeWithTimeZone,
    pub pid: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub host: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub counters: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub checkpoints: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::backfill_journal::Entity")]
    BackfillJournal,
}

impl Related<super::backfill_journal::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BackfillJournal.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
