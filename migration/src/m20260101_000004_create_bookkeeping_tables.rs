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
use crate::column::{bigserial_id, index, now};
use crate::dialect::{self, PartialUnique, SchemaDialect};
use crate::ownership::{SchemaObject, create_missing, create_steps, create_table, drop_created};

/// `kind` given to anomalies recorded before the column existed.
const LEGACY_KIND: &str = "legacy";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let dialect = dialect::of(manager.get_database_backend())?;
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
        for (object, statement) in [
            index(BackfillAnomalies::Table, [BackfillAnomalies::Kind]),
            index(
                BackfillJournal::Table,
                [BackfillJournal::RunId, BackfillJournal::TableName],
            ),
        ] {
            create_missing(manager, self, &[object], manager.create_index(statement)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Newest first: indexes, the journal (it references the runs), the runs, and
        // the anomalies table or the columns `up` added to an adopted one.
        drop_created(manager, self).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
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
        .col(
            ColumnDef::new(BackfillAnomalies::TableName)
                .string_len(100)
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillAnomalies::RowId)
                .string_len(100)
                .null(),
        )
        .col(
            ColumnDef::new(BackfillAnomalies::Kind)
                .string_len(50)
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillAnomalies::IssueDescription)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillAnomalies::Resolved)
                .boolean()
                .not_null()
                .default(false),
        )
        .col(
            ColumnDef::new(BackfillAnomalies::RunId)
                .big_integer()
                .null(),
        )
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
    let kind = ColumnDef::new(BackfillAnomalies::Kind)
        .string_len(50)
        .not_null()
        .default(LEGACY_KIND)
        .take();
    let run_id = ColumnDef::new(BackfillAnomalies::RunId)
        .big_integer()
        .null()
        .take();
    for column in [kind, run_id] {
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
    let last_seen_at = ColumnDef::new(BackfillAnomalies::LastSeenAt)
        .timestamp_with_time_zone()
        .not_null()
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
        .col(
            ColumnDef::new(BackfillRuns::Command)
                .string_len(50)
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillRuns::Arguments)
                .json_binary()
                .not_null(),
        )
        // running | paused | throttled | interrupted | cancelled | failed | done | rolled_back
        .col(
            ColumnDef::new(BackfillRuns::Status)
                .string_len(20)
                .not_null(),
        )
        .col(now(BackfillRuns::StartedAt))
        .col(
            ColumnDef::new(BackfillRuns::FinishedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(now(BackfillRuns::HeartbeatAt))
        .col(ColumnDef::new(BackfillRuns::Pid).integer().not_null())
        .col(
            ColumnDef::new(BackfillRuns::Host)
                .string_len(255)
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillRuns::Counters)
                .json_binary()
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillRuns::Checkpoints)
                .json_binary()
                .not_null(),
        )
        .take()
}

fn backfill_journal() -> TableCreateStatement {
    Table::create()
        .table(BackfillJournal::Table)
        .if_not_exists()
        .col(bigserial_id(BackfillJournal::Id))
        .col(
            ColumnDef::new(BackfillJournal::RunId)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillJournal::TableName)
                .string_len(100)
                .not_null(),
        )
        .col(
            ColumnDef::new(BackfillJournal::BatchNo)
                .big_integer()
                .not_null(),
        )
        // {"old": value, "keys": [row ids]}: the rows one statement changed, and the
        // value they held before.
        .col(
            ColumnDef::new(BackfillJournal::Changes)
                .json_binary()
                .not_null(),
        )
        .col(now(BackfillJournal::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_backfill_journal_run_id")
                .from(BackfillJournal::Table, BackfillJournal::RunId)
                .to(BackfillRuns::Table, BackfillRuns::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}
