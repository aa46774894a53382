//! `project_id VARCHAR(50) DEFAULT 'io'` on the eleven memory tables, with the check
//! `check_<table>_project_id_not_null` (SPEC §4.3): a `NOT VALID` constraint on
//! PostgreSQL, two triggers on SQLite (see `project_id`).
//!
//! A table that already has the column keeps it as it is (its rows may still hold
//! NULL; filling them is `backfill-project-id`'s job), and an existing check is not
//! touched. Adding the column with a constant default fills existing rows with
//! `'io'` without rewriting the table (PostgreSQL 11+, SQLite).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::project_id::{drop_project_id_check, ensure_project_id_check};
use crate::{LEGACY_PROJECT_ID, MEMORY_TABLES, PROJECT_ID_COLUMN};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in MEMORY_TABLES {
            if !manager.has_column(table, PROJECT_ID_COLUMN).await? {
                let column = ColumnDef::new(Alias::new(PROJECT_ID_COLUMN))
                    .string_len(50)
                    .null()
                    .default(LEGACY_PROJECT_ID)
                    .take();
                let mut alter = Table::alter();
                alter.table(Alias::new(table));
                // SQLite has no ADD COLUMN IF NOT EXISTS; the probe above covers it.
                match manager.get_database_backend() {
                    DbBackend::Sqlite => alter.add_column(column),
                    _ => alter.add_column_if_not_exists(column),
                };
                manager.alter_table(alter).await?;
            }
            ensure_project_id_check(manager.get_connection(), table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in MEMORY_TABLES.into_iter().rev() {
            if !manager.has_table(table).await? {
                continue;
            }
            // Triggers first: SQLite refuses to drop a column a trigger refers to.
            drop_project_id_check(manager.get_connection(), table).await?;
            if manager.has_column(table, PROJECT_ID_COLUMN).await? {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .drop_column(Alias::new(PROJECT_ID_COLUMN))
                            .take(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
