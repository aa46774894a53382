//! Column and index definitions shared by the migrations.
//!
//! A column whose type differs between databases (UUIDs, arrays, keyed and long text)
//! takes its type from the dialect; everything else (`jsonb`, `timestamptz`, …) is
//! left to sea-query, which already maps it per database.

use crate::dialect::SchemaDialect;
use crate::ownership::SchemaObject;
use sea_orm_migration::prelude::*;

/// A NOT NULL UUID column whose value the database generates by default.
pub(crate) fn generated_uuid(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .uuid()
        .not_null()
        .default(dialect.uuid_default())
        .take()
}

/// An array column of `elem`; its nullability is the caller's to set.
pub(crate) fn array(
    dialect: &dyn SchemaDialect,
    name: impl IntoIden,
    elem: ColumnType,
) -> ColumnDef {
    ColumnDef::new_with_type(name, dialect.array_type(elem))
}

/// A NOT NULL text column that a unique key covers.
pub(crate) fn key_text(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    ColumnDef::new_with_type(name, dialect.key_text_type())
        .not_null()
        .take()
}

/// A text column that may hold megabytes, its nullability the caller's to set.
pub(crate) fn text(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    ColumnDef::new_with_type(name, dialect.long_text_type())
}

/// A `timestamptz` column that defaults to the current time.
pub(crate) fn created_at(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .default(Expr::current_timestamp())
        .take()
}

/// A non-unique index named `idx_<table>_<columns>`, created only if no index of
/// that name exists, with the object it creates.
pub(crate) fn index<T, C>(
    table: T,
    columns: impl IntoIterator<Item = C>,
) -> (SchemaObject, IndexCreateStatement)
where
    T: IntoIden,
    C: IntoIden,
{
    let table = table.into_iden();
    let columns: Vec<DynIden> = columns.into_iter().map(IntoIden::into_iden).collect();
    let column_names: Vec<String> = columns.iter().map(ToString::to_string).collect();
    let name = format!("idx_{table}_{}", column_names.join("_"));
    let object = SchemaObject::index(&table, &name);
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for column in columns {
        index.col(column);
    }
    (object, index)
}

/// `BIGINT` auto-increment primary key (`bigint` identity on PostgreSQL,
/// `integer PRIMARY KEY AUTOINCREMENT` on SQLite).
pub(crate) fn bigserial_id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

/// A NOT NULL timestamp that defaults to the time of the insert.
pub(crate) fn now(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .default(Expr::current_timestamp())
        .take()
}
