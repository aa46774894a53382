//! `backfill_ranges`: the key ranges a run's tables are cut into, which its workers
//! claim under a lease (SPEC §5.9). A range is `lower_key < key <= upper_key` of one
//! unit (a table, or a phase) of the run; `upper_key` NULL is open-ended, so rows
//! inserted during the run are still covered. `epoch` counts the claims: a worker's
//! batch commits only while the range still has the epoch it claimed and its lease
//! (`lease_until`, milliseconds on the database's clock) has not run out.

use sea_orm_migration::prelude::*;

use crate::column::{
    bigint, bigint_null, bigserial_id, flag, foreign_key, index, jsonb, varchar, varchar_null,
};
use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_indexes, create_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, _: &dyn SchemaDialect) -> Result<(), DbErr> {
        create_table(manager, self, backfill_ranges()).await?;
        let by_run = index(
            BackfillRanges::Table,
            [BackfillRanges::RunId, BackfillRanges::Done],
        );
        create_indexes(manager, self, [by_run]).await
    }
}

#[derive(DeriveIden)]
enum BackfillRanges {
    Table,
    Id,
    RunId,
    Unit,
    Phase,
    LowerKey,
    UpperKey,
    Done,
    Owner,
    Epoch,
    LeaseUntil,
    SplitWanted,
    Checkpoint,
}

#[derive(DeriveIden)]
enum BackfillRuns {
    Table,
    Id,
}

fn backfill_ranges() -> TableCreateStatement {
    Table::create()
        .table(BackfillRanges::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillRanges::Id))
        .col(bigint(BackfillRanges::RunId))
        .col(varchar(BackfillRanges::Unit, 100))
        // Ranges of a later phase are claimed only once every earlier one is done.
        .col(ColumnDef::new(BackfillRanges::Phase).integer().not_null())
        .col(varchar_null(BackfillRanges::LowerKey, 100))
        .col(varchar_null(BackfillRanges::UpperKey, 100))
        .col(flag(BackfillRanges::Done))
        // `host:pid/worker` of the worker that claimed it last.
        .col(varchar_null(BackfillRanges::Owner, 255))
        .col(bigint(BackfillRanges::Epoch).default(0))
        .col(bigint_null(BackfillRanges::LeaseUntil))
        // An idle worker asks the owner to give away the second half of what is left.
        .col(flag(BackfillRanges::SplitWanted))
        // Where the walk of the range stands (cursor, deferred ranges, counters).
        .col(jsonb(BackfillRanges::Checkpoint))
        .foreign_key(&mut foreign_key(
            BackfillRanges::Table,
            BackfillRanges::RunId,
            BackfillRuns::Table,
            BackfillRuns::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}
