//! Bookkeeping of the tool itself (SPEC §4.4): `backfill_anomalies`,
//! `backfill_runs`, `backfill_journal`, with their indexes.
//!
//! Partial unique keys: one open anomaly per (`table_name`, `row_id`, `kind`), one
//! `running` run per `command` (each database makes them its way: see
//! `dialect::PartialUnique`). An anomalies table adopted from the source system gets
//! the columns it lacks (`kind`, `run_id`, `last_seen_at`); if it holds two open
//! anomalies for the same row and kind, `up` refuses with a sentence naming the fix
//! before it makes the unique key.

use sea_orm_migration::prelude::*;

use crate::ANOMALIES_OPEN_INDEX;
use crate::column::{
    bigint, bigint_null, bigserial_id, flag, foreign_key, index, jsonb, now, timestamp_null,
    varchar, varchar_null,
};
use crate::dialect::{PartialUnique, SchemaDialect};
use crate::object::SchemaObject;
use crate::ownership::{
    OwnedMigration, create_indexes, create_missing, create_steps, create_table,
};

/// `kind` given to anomalies recorded before the column existed.
const LEGACY_KIND: &str = "legacy";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, dialect: &dyn SchemaDialect) -> Result<(), DbErr> {
        for table in [backfill_anomalies(), backfill_runs(), backfill_journal()] {
            create_table(manager, self, table).await?;
        }
        adopt_anomalies(manager, self, dialect).await?;

        if !manager
            .has_index(BackfillAnomalies::Table.to_string(), ANOMALIES_OPEN_INDEX)
            .await?
        {
            refuse_duplicate_open_anomalies(manager, dialect.anomalies_open_predicate()).await?;
        }
        for key in [PartialUnique::OpenAnomaly, PartialUnique::RunningRun] {
            create_steps(manager, self, dialect.partial_unique(key)).await?;
        }
        let indexes = [
            index(BackfillAnomalies::Table, [BackfillAnomalies::Kind]),
            index(
                BackfillJournal::Table,
                [BackfillJournal::RunId, BackfillJournal::TableName],
            ),
        ];
        create_indexes(manager, self, indexes).await
    }
}

#[derive(DeriveIden)]
enum BackfillAnomalies {
    Table,
    Id,
    TableName,
    RowId,
    Kind,
    IssueDescription,
    Resolved,
    RunId,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum BackfillRuns {
    Table,
    Id,
    Command,
    Arguments,
    Status,
    StartedAt,
    FinishedAt,
    HeartbeatAt,
    Pid,
    Host,
    Counters,
    Checkpoints,
}

#[derive(DeriveIden)]
enum BackfillJournal {
    Table,
    Id,
    RunId,
    TableName,
    BatchNo,
    Changes,
    CreatedAt,
}

fn backfill_anomalies() -> TableCreateStatement {
    Table::create()
        .table(BackfillAnomalies::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillAnomalies::Id))
        .col(varchar(BackfillAnomalies::TableName, 100))
        .col(varchar_null(BackfillAnomalies::RowId, 100))
        .col(varchar(BackfillAnomalies::Kind, 50))
        // TEXT on every database: a description is a sentence.
        .col(
            ColumnDef::new(BackfillAnomalies::IssueDescription)
                .text()
                .not_null(),
        )
        .col(flag(BackfillAnomalies::Resolved))
        .col(bigint_null(BackfillAnomalies::RunId))
        .col(now(BackfillAnomalies::CreatedAt))
        .col(now(BackfillAnomalies::LastSeenAt))
        .take()
}

/// Adds to an anomalies table created elsewhere the columns it lacks.
async fn adopt_anomalies(
    manager: &SchemaManager<'_>,
    migration: &Migration,
    dialect: &dyn SchemaDialect,
) -> Result<(), DbErr> {
    let kind = varchar(BackfillAnomalies::Kind, 50)
        .default(LEGACY_KIND)
        .take();
    for column in [kind, bigint_null(BackfillAnomalies::RunId)] {
        create_missing(
            manager,
            migration,
            &[SchemaObject::column(
                BackfillAnomalies::Table.to_string(),
                column.get_column_name(),
            )],
            add_column(manager, column),
        )
        .await?;
    }
    // Every row's value is set from `created_at` right after (the default may be a
    // constant where the database takes no other on a new column).
    let last_seen_at = now(BackfillAnomalies::LastSeenAt)
        .default(dialect.added_timestamp_default())
        .take();
    let add_and_fill = async {
        add_column(manager, last_seen_at).await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(BackfillAnomalies::Table)
                    .value(
                        BackfillAnomalies::LastSeenAt,
                        Expr::col(BackfillAnomalies::CreatedAt)
                            .if_null(Expr::col(BackfillAnomalies::LastSeenAt)),
                    )
                    .take(),
            )
            .await
    };
    create_missing(
        manager,
        migration,
        &[SchemaObject::column(
            BackfillAnomalies::Table.to_string(),
            BackfillAnomalies::LastSeenAt.to_string(),
        )],
        add_and_fill,
    )
    .await
}

/// Fails with a sentence naming the fix when an adopted anomalies table holds two
/// open anomalies for the same row and kind, which the unique index would refuse
/// with a less helpful message.
async fn refuse_duplicate_open_anomalies(
    manager: &SchemaManager<'_>,
    open_predicate: &'static str,
) -> Result<(), DbErr> {
    let groups = Query::select()
        .expr(Expr::val(1))
        .from(BackfillAnomalies::Table)
        .and_where(Expr::cust(open_predicate))
        .and_where(Expr::col(BackfillAnomalies::RowId).is_not_null())
        .group_by_columns([
            BackfillAnomalies::TableName,
            BackfillAnomalies::RowId,
            BackfillAnomalies::Kind,
        ])
        .and_having(Func::count(Expr::col(BackfillAnomalies::Id)).gt(1))
        .take();
    let count = Query::select()
        .expr_as(Func::count(Expr::val(1)), Alias::new("duplicates"))
        .from_subquery(groups, Alias::new("duplicate_groups"))
        .take();
    let duplicates: i64 = match manager.get_connection().query_one(&count).await? {
        Some(row) => row.try_get("", "duplicates")?,
        None => 0,
    };
    if duplicates > 0 {
        return Err(DbErr::Migration(format!(
            "backfill_anomalies holds {duplicates} groups of open anomalies with the same \
             (table_name, row_id, kind); resolve all but one of each, then run up again"
        )));
    }
    Ok(())
}

async fn add_column(manager: &SchemaManager<'_>, column: ColumnDef) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(BackfillAnomalies::Table)
                .add_column(column)
                .take(),
        )
        .await
}

fn backfill_runs() -> TableCreateStatement {
    Table::create()
        .table(BackfillRuns::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillRuns::Id))
        .col(varchar(BackfillRuns::Command, 50))
        .col(jsonb(BackfillRuns::Arguments))
        // running | paused | throttled | interrupted | cancelled | failed | done | rolled_back
        .col(varchar(BackfillRuns::Status, 20))
        .col(now(BackfillRuns::StartedAt))
        .col(timestamp_null(BackfillRuns::FinishedAt))
        .col(now(BackfillRuns::HeartbeatAt))
        .col(ColumnDef::new(BackfillRuns::Pid).integer().not_null())
        .col(varchar(BackfillRuns::Host, 255))
        .col(jsonb(BackfillRuns::Counters))
        .col(jsonb(BackfillRuns::Checkpoints))
        .take()
}

fn backfill_journal() -> TableCreateStatement {
    Table::create()
        .table(BackfillJournal::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillJournal::Id))
        .col(bigint(BackfillJournal::RunId))
        .col(varchar(BackfillJournal::TableName, 100))
        .col(bigint(BackfillJournal::BatchNo))
        // {"old": value, "keys": [row ids]}: the rows one statement changed, and the
        // value they held before.
        .col(jsonb(BackfillJournal::Changes))
        .col(now(BackfillJournal::CreatedAt))
        .foreign_key(&mut foreign_key(
            BackfillJournal::Table,
            BackfillJournal::RunId,
            BackfillRuns::Table,
            BackfillRuns::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}
