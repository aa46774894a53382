//! Indexes of `backfill_anomalies` for how `anomalies` and the console list them: by
//! when each was last seen (newest first), so that a list of 100,000 reads the index's
//! end instead of sorting the table, and by run (a run's own anomalies).

use sea_orm_migration::prelude::*;

use crate::column::index;
use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_missing};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, _: &dyn SchemaDialect) -> Result<(), DbErr> {
        for (object, statement) in [
            index(
                BackfillAnomalies::Table,
                [BackfillAnomalies::LastSeenAt, BackfillAnomalies::Id],
            ),
            index(BackfillAnomalies::Table, [BackfillAnomalies::RunId]),
        ] {
            create_missing(manager, self, &[object], manager.create_index(statement)).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum BackfillAnomalies {
    Table,
    Id,
    LastSeenAt,
    RunId,
}
