//! The indexes and foreign keys of a table, read from the database's own catalog:
//! what adoption compares a table created elsewhere against (`ownership`), and what
//! `migrate check` compares a database against the migrations' own result.
//!
//! Keys are compared by what they cover (columns, uniqueness, the referenced table
//! and columns), never by name: a table created elsewhere names its keys its own way
//! (`nodes_label_name_key`). Each database's queries are its dialect's.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement};

use crate::dialect;

/// An index other than the primary key's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

impl IndexInfo {
    /// Whether this index serves as `wanted`: the same columns, and unique if
    /// `wanted` is.
    pub fn serves_as(&self, wanted: &IndexInfo) -> bool {
        self.columns == wanted.columns && (self.unique || !wanted.unique)
    }
}

/// A foreign key of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKeyInfo {
    /// Empty on SQLite, which does not keep the names of foreign keys.
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_table: String,
    /// Empty when the key names no columns (it references the primary key).
    pub referenced_columns: Vec<String>,
}

impl ForeignKeyInfo {
    /// Whether this key enforces `wanted`: the same columns and referenced table, and
    /// the same referenced columns where both name them.
    pub fn serves_as(&self, wanted: &ForeignKeyInfo) -> bool {
        self.columns == wanted.columns
            && self.referenced_table == wanted.referenced_table
            && (self.referenced_columns.is_empty()
                || wanted.referenced_columns.is_empty()
                || self.referenced_columns == wanted.referenced_columns)
    }
}

/// The indexes of `table` (in the current schema on PostgreSQL, the current database on
/// MySQL), primary key aside.
pub async fn indexes<C: ConnectionTrait>(db: &C, table: &str) -> Result<Vec<IndexInfo>, DbErr> {
    let sql = dialect::of(db.get_database_backend())?.indexes_query();
    catalog_rows(db, sql, table)
        .await?
        .iter()
        .map(|row| {
            Ok(IndexInfo {
                name: row.try_get("", "name")?,
                columns: split_columns(row, "columns")?,
                unique: row.try_get("", "is_unique")?,
            })
        })
        .collect()
}

/// The foreign keys of `table` (in the current schema on PostgreSQL, the current
/// database on MySQL).
pub async fn foreign_keys<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<Vec<ForeignKeyInfo>, DbErr> {
    let sql = dialect::of(db.get_database_backend())?.foreign_keys_query();
    catalog_rows(db, sql, table)
        .await?
        .iter()
        .map(|row| {
            Ok(ForeignKeyInfo {
                name: row.try_get("", "name")?,
                columns: split_columns(row, "columns")?,
                referenced_table: row.try_get("", "referenced_table")?,
                referenced_columns: split_columns(row, "referenced_columns")?,
            })
        })
        .collect()
}

/// The rows of a catalog query about `table`, its one parameter.
async fn catalog_rows<C: ConnectionTrait>(
    db: &C,
    sql: String,
    table: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [table.into()]);
    db.query_all_raw(statement).await
}

fn split_columns(row: &QueryResult, column: &str) -> Result<Vec<String>, DbErr> {
    let list: Option<String> = row.try_get("", column)?;
    Ok(list
        .unwrap_or_default()
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect())
}
