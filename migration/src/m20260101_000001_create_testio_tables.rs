//! Analytics tables of the test-management cache (SPEC §4.1): `tests`,
//! `test_features`, `bugs`, their foreign keys and indexes.
//!
//! A cache created before the analytics existed has `tests` and `bugs` but neither
//! `test_features` nor `bugs.test_feature_id`: `up` adds what is missing and keeps
//! the rest. `down` removes only what `up` created (see `ownership`).

use sea_orm_migration::prelude::*;

use crate::column::{bigint, flag, foreign_key, index, text, text_null, timestamp_null};
use crate::dialect::SchemaDialect;
use crate::object::SchemaObject;
use crate::ownership::{OwnedMigration, create_indexes, create_missing, create_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl OwnedMigration for Migration {
    async fn up(&self, manager: &SchemaManager, dialect: &dyn SchemaDialect) -> Result<(), DbErr> {
        for table in [tests(dialect), test_features(dialect), bugs(dialect)] {
            create_table(manager, self, table).await?;
        }
        // SQLite cannot add a foreign key with ALTER TABLE … ADD CONSTRAINT, but all
        // databases accept an inline REFERENCES on a nullable new column.
        create_missing(
            manager,
            self,
            &[SchemaObject::column(
                Bugs::Table.to_string(),
                Bugs::TestFeatureId.to_string(),
            )],
            manager.alter_table(
                Table::alter()
                    .table(Bugs::Table)
                    .add_column(test_feature_id())
                    .take(),
            ),
        )
        .await?;

        let indexes = [
            index(Tests::Table, [Tests::CustomerId]),
            index(Tests::Table, [Tests::ProductId]),
            index(TestFeatures::Table, [TestFeatures::CustomerId]),
            index(TestFeatures::Table, [TestFeatures::TestId]),
            index(TestFeatures::Table, [TestFeatures::FeatureId]),
            index(Bugs::Table, [Bugs::CustomerId]),
            index(Bugs::Table, [Bugs::TestId]),
            index(Bugs::Table, [Bugs::TestFeatureId]),
        ];
        create_indexes(manager, self, indexes).await
    }
}

#[derive(DeriveIden)]
enum Tests {
    Table,
    Id,
    CustomerId,
    ProductId,
    Data,
    Status,
    Title,
    TestingType,
    StartAt,
    EndAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum TestFeatures {
    Table,
    Id,
    CustomerId,
    TestId,
    FeatureId,
    Title,
    Description,
    Howtofind,
    UserStories,
    EnableDefault,
    EnableContent,
    EnableVisual,
}

#[derive(DeriveIden)]
enum Bugs {
    Table,
    Id,
    CustomerId,
    TestId,
    Title,
    Severity,
    Status,
    Known,
    ReportedAt,
    RawData,
    SyncedAt,
    TestFeatureId,
}

fn tests(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(Tests::Table)
        .if_not_exists()
        // The API's id: BIGINT, never generated here.
        .col(bigint(Tests::Id).primary_key())
        .col(bigint(Tests::CustomerId))
        .col(bigint(Tests::ProductId))
        .col(text(dialect, Tests::Data))
        .col(text(dialect, Tests::Status))
        .col(text_null(dialect, Tests::Title))
        .col(text_null(dialect, Tests::TestingType))
        .col(timestamp_null(Tests::StartAt))
        .col(timestamp_null(Tests::EndAt))
        .col(timestamp_null(Tests::SyncedAt))
        .take()
}

fn test_features(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(TestFeatures::Table)
        .if_not_exists()
        .col(bigint(TestFeatures::Id).primary_key())
        .col(bigint(TestFeatures::CustomerId))
        .col(bigint(TestFeatures::TestId))
        .col(bigint(TestFeatures::FeatureId))
        .col(text(dialect, TestFeatures::Title))
        .col(text_null(dialect, TestFeatures::Description))
        .col(text_null(dialect, TestFeatures::Howtofind))
        .col(text(dialect, TestFeatures::UserStories).default(dialect.empty_json_array_default()))
        .col(flag(TestFeatures::EnableDefault))
        .col(flag(TestFeatures::EnableContent))
        .col(flag(TestFeatures::EnableVisual))
        .foreign_key(&mut foreign_key(
            TestFeatures::Table,
            TestFeatures::TestId,
            Tests::Table,
            Tests::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}

fn bugs(dialect: &dyn SchemaDialect) -> TableCreateStatement {
    Table::create()
        .table(Bugs::Table)
        .if_not_exists()
        .col(bigint(Bugs::Id).primary_key())
        .col(bigint(Bugs::CustomerId))
        .col(bigint(Bugs::TestId))
        .col(text(dialect, Bugs::Title))
        .col(text_null(dialect, Bugs::Severity))
        .col(text_null(dialect, Bugs::Status))
        .col(flag(Bugs::Known))
        .col(timestamp_null(Bugs::ReportedAt))
        .col(text(dialect, Bugs::RawData))
        .col(timestamp_null(Bugs::SyncedAt))
        .col(test_feature_id())
        .foreign_key(&mut foreign_key(
            Bugs::Table,
            Bugs::TestId,
            Tests::Table,
            Tests::Id,
            ForeignKeyAction::Cascade,
        ))
        .take()
}

/// `bugs.test_feature_id`, with its reference inline so the same definition serves
/// `CREATE TABLE` and `ALTER TABLE … ADD COLUMN` on every database. Deleting a test
/// feature detaches its bugs rather than deleting them.
fn test_feature_id() -> ColumnDef {
    ColumnDef::new(Bugs::TestFeatureId)
        .big_integer()
        .null()
        .extra(format!(
            "CONSTRAINT \"fk_bugs_test_feature_id\" REFERENCES \"{}\" (\"{}\") ON DELETE SET NULL",
            TestFeatures::Table.to_string(),
            TestFeatures::Id.to_string()
        ))
        .take()
}
