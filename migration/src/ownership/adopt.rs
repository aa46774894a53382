//! Creating a table, or completing one created elsewhere with the keys it lacks.
//! Keys are compared by what they cover, never by name (see `catalog`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use super::create_missing;
use crate::catalog::{self, ForeignKeyInfo, IndexInfo};
use crate::dialect;
use crate::object::SchemaObject;

/// Creates the table of `statement`; or, when the table exists (created elsewhere),
/// adds the unique keys, indexes and foreign keys of `statement` it lacks, where the
/// database can add them to an existing table (see the dialect's `add_foreign_key`).
/// Whatever is added is recorded as created by `migration`.
pub(crate) async fn create_table(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    statement: TableCreateStatement,
) -> Result<(), DbErr> {
    let Some(TableRef::Table(TableName(_, table), _)) = statement.get_table_name() else {
        return Err(DbErr::Migration(
            "BUG: a CREATE TABLE statement without a table name".into(),
        ));
    };
    let table = &table.to_string();
    let object = SchemaObject::table(table);
    if !object.exists(manager).await? {
        return create_missing(
            manager,
            migration,
            &[object],
            manager.create_table(statement),
        )
        .await;
    }
    let db = manager.get_connection();
    let existing = catalog::indexes(db, table).await?;
    for index in statement.get_indexes() {
        let spec = index.get_index_spec();
        let wanted = IndexInfo {
            name: spec.get_name().unwrap_or_default().to_string(),
            columns: spec.get_column_names(),
            unique: index.is_unique_key(),
        };
        if existing.iter().any(|found| found.serves_as(&wanted))
            || !has_columns(manager, table, &wanted.columns).await?
        {
            continue;
        }
        let mut create = index.clone();
        create.table(Alias::new(table.as_str())).if_not_exists();
        create_missing(
            manager,
            migration,
            &[SchemaObject::index(table, &wanted.name)],
            manager.create_index(create),
        )
        .await
        .map_err(|err| cannot_adopt(table, &wanted.name, &wanted.columns, err))?;
    }
    add_foreign_keys(manager, migration, table, &statement).await
}

/// Adds to the existing `table` the foreign keys of `statement` it lacks.
async fn add_foreign_keys(
    manager: &SchemaManager<'_>,
    migration: &impl MigrationName,
    table: &str,
    statement: &TableCreateStatement,
) -> Result<(), DbErr> {
    let dialect = dialect::of(manager.get_database_backend())?;
    let db = manager.get_connection();
    let existing = catalog::foreign_keys(db, table).await?;
    for key in statement.get_foreign_key_create_stmts() {
        let Some(steps) = dialect.add_foreign_key(table, key) else {
            return Ok(()); // the database cannot add one to an existing table
        };
        let spec = key.get_foreign_key();
        let wanted = ForeignKeyInfo {
            name: spec.get_name().unwrap_or_default().to_string(),
            columns: spec.get_columns(),
            referenced_table: match spec.get_ref_table() {
                Some(TableRef::Table(TableName(_, name), _)) => name.to_string(),
                _ => String::new(),
            },
            referenced_columns: spec.get_ref_columns(),
        };
        if existing.iter().any(|found| found.serves_as(&wanted))
            || !has_columns(manager, table, &wanted.columns).await?
        {
            continue;
        }
        create_missing(
            manager,
            migration,
            &[SchemaObject::constraint(table, &wanted.name)],
            async {
                for step in &steps {
                    db.execute_unprepared(step).await?;
                }
                Ok(())
            },
        )
        .await
        .map_err(|err| cannot_adopt(table, &wanted.name, &wanted.columns, err))?;
    }
    Ok(())
}

/// Whether `table` has all of `columns`. A key over a column the table lacks is not
/// added: the missing column is the drift `migrate check` reports.
async fn has_columns(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: &[String],
) -> Result<bool, DbErr> {
    for column in columns {
        if !manager.has_column(table, column).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The one sentence for a key that cannot be added to an adopted table.
fn cannot_adopt(table: &str, key: &str, columns: &[String], err: DbErr) -> DbErr {
    DbErr::Migration(format!(
        "cannot add {key} on ({}) to `{table}`, a table created elsewhere (do rows break \
         it? fix them, then run up again): {err}",
        columns.join(", ")
    ))
}
