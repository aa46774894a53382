//! The column and index definitions the migrations build their tables from.
//!
//! A column whose type differs between databases (UUIDs, arrays, keyed and long text)
//! takes its type from the dialect; everything else (`jsonb`, `timestamptz`, identity
//! columns, …) is left to sea-query, which already maps it per database. A helper
//! is named after its type; it is NOT NULL unless its name ends in `_null`, except
//! `array` (the caller says) and `created_at` (unsaid, as in the adopted tables).

use sea_orm_migration::prelude::*;

use crate::dialect::SchemaDialect;
use crate::object::SchemaObject;

/// `integer` auto-increment primary key: an identity column on PostgreSQL,
/// `integer PRIMARY KEY AUTOINCREMENT` on SQLite.
pub(crate) fn serial_id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
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

/// A NOT NULL UUID column, its value given by the rows' writer.
pub(crate) fn uuid(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().take()
}

/// A NOT NULL text column that a unique key covers.
pub(crate) fn key_text(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    ColumnDef::new_with_type(name, dialect.key_text_type())
        .not_null()
        .take()
}

/// A NOT NULL text column (long text: it may hold megabytes).
pub(crate) fn text(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    ColumnDef::new_with_type(name, dialect.long_text_type())
        .not_null()
        .take()
}

/// A nullable text column (long text: it may hold megabytes).
pub(crate) fn text_null(dialect: &dyn SchemaDialect, name: impl IntoIden) -> ColumnDef {
    ColumnDef::new_with_type(name, dialect.long_text_type())
        .null()
        .take()
}

/// A NOT NULL `VARCHAR(len)`.
pub(crate) fn varchar(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().take()
}

/// A nullable `VARCHAR(len)`.
pub(crate) fn varchar_null(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).null().take()
}

/// A NOT NULL `INTEGER`.
pub(crate) fn integer(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().take()
}

pub(crate) fn integer_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).integer().null().take()
}

/// A NOT NULL `BIGINT`.
pub(crate) fn bigint(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().take()
}

pub(crate) fn bigint_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().take()
}

pub(crate) fn double(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).double().not_null().take()
}

pub(crate) fn double_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).double().null().take()
}

/// `BOOLEAN NOT NULL DEFAULT false`.
pub(crate) fn flag(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(false)
        .take()
}

pub(crate) fn jsonb(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).json_binary().not_null().take()
}

pub(crate) fn jsonb_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).json_binary().null().take()
}

pub(crate) fn timestamp_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// A `timestamptz` column that defaults to the current time; its nullability is left
/// unsaid, as in the tables this schema adopts.
pub(crate) fn created_at(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .default(Expr::current_timestamp())
        .take()
}

/// A NOT NULL timestamp that defaults to the time of the insert.
pub(crate) fn now(name: impl IntoIden) -> ColumnDef {
    created_at(name).not_null().take()
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

/// A unique key of a new table over `columns`, named `uq_<table>_<columns>`.
pub(crate) fn unique_key<C: IntoIden>(
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let columns: Vec<DynIden> = columns.into_iter().map(IntoIden::into_iden).collect();
    let column_names: Vec<String> = columns.iter().map(ToString::to_string).collect();
    let mut key = Index::create();
    key.name(format!(
        "uq_{}_{}",
        table.into_iden(),
        column_names.join("_")
    ))
    .unique();
    for column in columns {
        key.col(column);
    }
    key
}

/// A foreign key from `table.column` to `referenced.referenced_column`, named
/// `fk_<table>_<column>`.
pub(crate) fn foreign_key(
    table: impl IntoIden,
    column: impl IntoIden,
    referenced: impl IntoIden,
    referenced_column: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    let (table, column) = (table.into_iden(), column.into_iden());
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(referenced, referenced_column)
        .on_delete(on_delete)
        .take()
}
