//! Indexes of `backfill_anomalies` for how `anomalies` and the console list them: by
//! when each was last seen (newest first), so that a list of 100,000 reads the index's
//! end instead of sorting the table, and by run (a run's own anomalies).

use sea_orm_migration::prelude::*;

use crate::column::index;
use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, _: &dyn SchemaDialect) -> Result<(), DbErr> {
        let by_last_seen = index(
            BackfillAnomalies::Table,
            [BackfillAnomalies::LastSeenAt, BackfillAnomalies::Id],
        );
        let by_run = index(BackfillAnomalies::Table, [BackfillAnomalies::RunId]);
        create_indexes(manager, self, [by_last_seen, by_run]).await
    }
}

#[derive(DeriveIden)]
enum BackfillAnomalies {
    Table,
    Id,
    LastSeenAt,
    RunId,
}
