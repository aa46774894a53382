//! An index of `backfill_anomalies` by when each was last seen, newest first being how
//! `anomalies` and the console list them: with 100,000 anomalies the list reads the
//! index's end instead of sorting the table.

use sea_orm_migration::prelude::*;

use crate::column::index;
use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_missing};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, _: &dyn SchemaDialect) -> Result<(), DbErr> {
        let (object, statement) = index(
            BackfillAnomalies::Table,
            [BackfillAnomalies::LastSeenAt, BackfillAnomalies::Id],
        );
        create_missing(manager, self, &[object], manager.create_index(statement)).await
    }
}

#[derive(DeriveIden)]
enum BackfillAnomalies {
    Table,
    Id,
    LastSeenAt,
}
