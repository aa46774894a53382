//! `up`'s side: make what is missing, and record what was made.

use std::future::Future;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use super::MigrationObjects;
use crate::dialect::Step;
use crate::object::SchemaObject;

/// Runs `create` when one of `objects` is missing, and records as created by
/// `migration` each of them that was missing before and exists after.
pub(crate) async fn create_missing<T>(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    objects: &[SchemaObject],
    create: impl Future<Output = Result<T, DbErr>>,
) -> Result<(), DbErr> {
    let mut missing = Vec::new();
    for object in objects {
        if !object.exists(manager).await? {
            missing.push(object);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    create.await?;
    for object in missing {
        if object.exists(manager).await? {
            record(manager, migration.name(), object).await?;
        }
    }
    Ok(())
}

/// Creates each index of `indexes` (as `column::index` makes them) that is missing, and
/// records it as created by `migration`.
pub(crate) async fn create_indexes(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    indexes: impl IntoIterator<Item = (SchemaObject, IndexCreateStatement)>,
) -> Result<(), DbErr> {
    for (object, statement) in indexes {
        create_missing(
            manager,
            migration,
            &[object],
            manager.create_index(statement),
        )
        .await?;
    }
    Ok(())
}

/// Makes each missing object of `steps`, one at a time: on MySQL each commits as it
/// is made, and a run repeated after a failure finds the objects made before it.
pub(crate) async fn create_steps(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    steps: Vec<Step>,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (object, create) in steps {
        create_missing(
            manager,
            migration,
            &[object],
            db.execute_unprepared(&create),
        )
        .await?;
    }
    Ok(())
}

async fn record(
    manager: &SchemaManager<'_>,
    migration: &str,
    object: &SchemaObject,
) -> Result<(), DbErr> {
    let name = |column| ColumnDef::new(column).string_len(100).not_null().take();
    manager
        .create_table(
            Table::create()
                .table(MigrationObjects::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(MigrationObjects::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(name(MigrationObjects::Migration))
                .col(
                    ColumnDef::new(MigrationObjects::Kind)
                        .string_len(20)
                        .not_null(),
                )
                .col(name(MigrationObjects::TableName))
                .col(name(MigrationObjects::ObjectName))
                .take(),
        )
        .await?;
    let (kind, table, name) = object.parts();
    manager
        .exec_stmt(
            Query::insert()
                .into_table(MigrationObjects::Table)
                .columns([
                    MigrationObjects::Migration,
                    MigrationObjects::Kind,
                    MigrationObjects::TableName,
                    MigrationObjects::ObjectName,
                ])
                .values_panic([migration.into(), kind.into(), table.into(), name.into()])
                .take(),
        )
        .await
}
