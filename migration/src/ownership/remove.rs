//! `down`'s side: drop what `up` recorded as created, and nothing else.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use super::{MIGRATION_OBJECTS_TABLE, MigrationObjects};
use crate::object::SchemaObject;

/// `down` of `migration`: drops what its `up` recorded as created, newest first, and
/// nothing else.
pub(crate) async fn drop_created(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
) -> Result<(), DbErr> {
    if !manager.has_table(MIGRATION_OBJECTS_TABLE).await? {
        return Ok(());
    }
    let db = manager.get_connection();
    let of_migration = Expr::col(MigrationObjects::Migration).eq(migration.name());
    let objects = created_by(db, migration.name()).await?;
    // What lives on a table the migration created goes with the table: dropped on its
    // own first, an index could be refused (MySQL keeps the one a foreign key uses).
    let created_tables: Vec<String> = objects
        .iter()
        .filter_map(|object| match object {
            SchemaObject::Table(table) => Some(table.clone()),
            _ => None,
        })
        .collect();
    for object in objects {
        let (_, table, _) = object.parts();
        if matches!(object, SchemaObject::Table(_)) || !created_tables.iter().any(|t| t == table) {
            object.drop(manager).await?;
        }
    }
    manager
        .exec_stmt(
            Query::delete()
                .from_table(MigrationObjects::Table)
                .and_where(of_migration)
                .take(),
        )
        .await?;
    let left = db
        .query_one(
            &Query::select()
                .expr(Expr::val(1))
                .from(MigrationObjects::Table)
                .limit(1)
                .take(),
        )
        .await?;
    if left.is_none() {
        manager
            .drop_table(Table::drop().table(MigrationObjects::Table).take())
            .await?;
    }
    Ok(())
}

/// What `migration`'s `up` recorded as created, newest first: what its `down` drops
/// (so what `migrate down` names before it asks). Nothing when no record is kept.
pub async fn created_by(
    db: &impl ConnectionTrait,
    migration: &str,
) -> Result<Vec<SchemaObject>, DbErr> {
    let rows = db
        .query_all(
            &Query::select()
                .columns([
                    MigrationObjects::Kind,
                    MigrationObjects::TableName,
                    MigrationObjects::ObjectName,
                ])
                .from(MigrationObjects::Table)
                .and_where(Expr::col(MigrationObjects::Migration).eq(migration))
                .order_by(MigrationObjects::Id, Order::Desc)
                .take(),
        )
        .await;
    // No record table: a schema migrated before it existed, whose `down` keeps all.
    let Ok(rows) = rows else {
        return Ok(Vec::new());
    };
    let mut objects = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("", &MigrationObjects::Kind.to_string())?;
        objects.push(SchemaObject::from_parts(
            &kind,
            row.try_get("", &MigrationObjects::TableName.to_string())?,
            row.try_get("", &MigrationObjects::ObjectName.to_string())?,
        )?);
    }
    Ok(objects)
}
