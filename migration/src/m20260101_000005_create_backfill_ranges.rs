//! `backfill_ranges`: the key ranges a run's tables are cut into, which its workers
//! claim under a lease (SPEC §5.9). A range is `lower_key < key <= upper_key` of one
//! unit (a table, or a phase) of the run; `upper_key` NULL is open-ended, so rows
//! inserted during the run are still covered. `epoch` counts the claims: a worker's
//! batch commits only while the range still has the epoch it claimed and its lease
//! (`lease_until`, milliseconds on the database's clock) has not run out.

use sea_orm_migration::prelude::*;

use crate::column::{bigserial_id, index};
use crate::ownership::{create_missing, create_table, drop_created};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, self, backfill_ranges()).await?;
        let (object, statement) = index(
            BackfillRanges::Table,
            [BackfillRanges::RunId, BackfillRanges::Done],
        );
        create_missing(manager, self, &[object], manager.create_index(statement)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_created(manager, self).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
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
    let key = |name| ColumnDef::new(name).string_len(100).null().take();
    let flag = |name| {
        ColumnDef::new(name)
            .boolean()
            .not_null()
            .default(false)
            .take()
    };
    Table::create()
        .table(BackfillRanges::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillRanges::Id))
        .col(
            ColumnDef::new(BackfillRanges::RunId)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillRanges::Unit)
                .string_len(100)
                .not_null(),
        )
        // Ranges of a later phase are claimed only once every earlier one is done.
        .col(ColumnDef::new(BackfillRanges::Phase).integer().not_null())
        .col(key(BackfillRanges::LowerKey))
        .col(key(BackfillRanges::UpperKey))
        .col(flag(BackfillRanges::Done))
        // `host:pid/worker` of the worker that claimed it last.
        .col(ColumnDef::new(BackfillRanges::Owner).string_len(255).null())
        .col(
            ColumnDef::new(BackfillRanges::Epoch)
                .big_integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new(BackfillRanges::LeaseUntil)
                .big_integer()
                .null(),
        )
        // An idle worker asks the owner to give away the second half of what is left.
        .col(flag(BackfillRanges::SplitWanted))
        // Where the walk of the range stands (cursor, deferred ranges, counters).
        .col(
            ColumnDef::new(BackfillRanges::Checkpoint)
                .json_binary()
                .not_null(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_backfill_ranges_run_id")
                .from(BackfillRanges::Table, BackfillRanges::RunId)
                .to(BackfillRuns::Table, BackfillRuns::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}
