//! `backfill_samples`: a run's history for the console's chart (SPEC §5.12). Each
//! worker's walk sums the batches of an interval into one row: the rows walked (not
//! `rows`, a reserved word of MySQL's), batches, the time they took and the batch size
//! at its end. The interval grows with the walk's age, so
//! a run of days keeps about one row a minute per worker. Times are milliseconds since
//! 1970 (`at_ms`, the interval's end), so that every backend buckets them with integer
//! arithmetic; the sums are doubles, whose SUM is a double on every backend (a bigint's
//! is a numeric on PostgreSQL).

use sea_orm_migration::prelude::*;

use crate::column::{bigint, bigserial_id, double, foreign_key, index, varchar};
use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_indexes, create_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, _: &dyn SchemaDialect) -> Result<(), DbErr> {
        create_table(manager, self, backfill_samples()).await?;
        let by_run = index(
            BackfillSamples::Table,
            [BackfillSamples::RunId, BackfillSamples::AtMs],
        );
        create_indexes(manager, self, [by_run]).await
    }
}

#[derive(DeriveIden)]
enum BackfillSamples {
    Table,
    Id,
    RunId,
    Unit,
    AtMs,
    SpanMs,
    RowsWalked,
    Batches,
    BusyMs,
    BatchSize,
}

#[derive(DeriveIden)]
enum BackfillRuns {
    Table,
    Id,
}

fn backfill_samples() -> TableCreateStatement {
    Table::create()
        .table(BackfillSamples::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillSamples::Id))
        .col(bigint(BackfillSamples::RunId))
        .col(varchar(BackfillSamples::Unit, 100))
        .col(bigint(BackfillSamples::AtMs))
        .col(double(BackfillSamples::SpanMs))
        .col(double(BackfillSamples::RowsWalked))
        .col(double(BackfillSamples::Batches))
        // The time the interval's batches took, summed.
        .col(double(BackfillSamples::BusyMs))
        .col(bigint(BackfillSamples::BatchSize))
        .foreign_key(&mut foreign_key(
            BackfillSamples::Table,
            BackfillSamples::RunId,
            BackfillRuns::Table,
            BackfillRuns::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}
