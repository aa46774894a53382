//! `project_id VARCHAR(50) DEFAULT 'io'` on the eleven memory tables, with the check
//! `check_<table>_project_id_not_null` (SPEC §4.3): a `NOT VALID` constraint on
//! PostgreSQL, two triggers on SQLite and MySQL (see `project_id`).
//!
//! A table that already has the column keeps it as it is (its rows may still hold
//! NULL; filling them is `backfill-project-id`'s job), and an existing check is not
//! touched; `down` leaves both in place, removing only what `up` added. Adding the
//! column with a constant default fills existing rows with `'io'` without rewriting
//! the table (PostgreSQL 11+, SQLite). `down` drops newest first: a check's triggers
//! before its column, which SQLite refuses to drop while a trigger refers to it.

use sea_orm_migration::prelude::*;

use crate::column::varchar_null;
use crate::dialect::SchemaDialect;
use crate::object::SchemaObject;
use crate::ownership::{OwnedMigration, create_missing, create_steps};
use crate::{LEGACY_PROJECT_ID, MEMORY_TABLES, PROJECT_ID_COLUMN};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, dialect: &dyn SchemaDialect) -> Result<(), DbErr> {
        for table in MEMORY_TABLES {
            let column = varchar_null(Alias::new(PROJECT_ID_COLUMN), 50)
                .default(LEGACY_PROJECT_ID)
                .take();
            create_missing(
                manager,
                self,
                &[SchemaObject::column(table, PROJECT_ID_COLUMN)],
                manager.alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(column)
                        .take(),
                ),
            )
            .await?;
            create_steps(manager, self, dialect.project_id_check(table)).await?;
        }
        Ok(())
    }
}
