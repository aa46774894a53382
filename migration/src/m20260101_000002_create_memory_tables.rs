//! The eleven agent-memory tables (SPEC §4.2) with their real columns, foreign keys
//! and unique keys, without `project_id` (added by `m20260101_000003_add_project_id`).
//! A table created elsewhere gets the unique and foreign keys it lacks where the
//! database can add them (see `ownership::create_table`).
//!
//! PostgreSQL gets native `uuid`, `jsonb`, `real[]`, `integer[]` and `uuid[]`;
//! SQLite stores UUIDs as hyphenated text and JSON and arrays as JSON text, MySQL
//! UUIDs as `BINARY(16)` and arrays as `JSON` (see `dialect`). Integer ids are
//! `integer` identity columns on PostgreSQL and `integer PRIMARY KEY AUTOINCREMENT`
//! on SQLite.

mod graph;
mod standalone;

use sea_orm_migration::prelude::*;

use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, dialect: &dyn SchemaDialect) -> Result<(), DbErr> {
        // Parents before the tables that reference them.
        for table in [
            graph::l2_insights(dialect),
            graph::nodes(dialect),
            graph::edges(dialect),
            standalone::working_memory(dialect),
            standalone::episode_memory(dialect),
            standalone::l0_raw(dialect),
            standalone::ground_truth(dialect),
            standalone::stale_memory(dialect),
            standalone::smf_proposals(dialect),
            standalone::ief_feedback(dialect),
            graph::l2_insight_history(dialect),
        ] {
            create_table(manager, self, table).await?;
        }
        Ok(())
    }
}
