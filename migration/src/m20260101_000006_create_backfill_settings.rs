//! `backfill_settings`: the history of a run's settings changed while it works (SPEC
//! §5.10: `runs set ID K=V…` and the console). One row per setting changed: which,
//! from what to what (as text, the way `runs set` takes it), who changed it and when.
//! Every process of the run reads the rows after the last one it took before its next
//! batch, so the table is both the history and the channel.

use sea_orm_migration::prelude::*;

use crate::column::{bigint, bigserial_id, foreign_key, index, now, varchar, varchar_null};
use crate::dialect::SchemaDialect;
use crate::ownership::{OwnedMigration, create_indexes, create_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, _: &dyn SchemaDialect) -> Result<(), DbErr> {
        create_table(manager, self, backfill_settings()).await?;
        let by_run = index(BackfillSettings::Table, [BackfillSettings::RunId]);
        create_indexes(manager, self, [by_run]).await
    }
}

#[derive(DeriveIden)]
enum BackfillSettings {
    Table,
    Id,
    RunId,
    Setting,
    OldValue,
    NewValue,
    ChangedBy,
    ChangedAt,
}

#[derive(DeriveIden)]
enum BackfillRuns {
    Table,
    Id,
}

fn backfill_settings() -> TableCreateStatement {
    Table::create()
        .table(BackfillSettings::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillSettings::Id))
        .col(bigint(BackfillSettings::RunId))
        .col(varchar(BackfillSettings::Setting, 30))
        // NULL: the run did not record the value it started with.
        .col(varchar_null(BackfillSettings::OldValue, 255))
        .col(varchar(BackfillSettings::NewValue, 255))
        // `user@host` of the process that made the change, or the console's caller.
        .col(varchar(BackfillSettings::ChangedBy, 255))
        .col(now(BackfillSettings::ChangedAt))
        .foreign_key(&mut foreign_key(
            BackfillSettings::Table,
            BackfillSettings::RunId,
            BackfillRuns::Table,
            BackfillRuns::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}
