//! The indexes and foreign keys of a table, read from the database's own catalog:
//! what adoption compares a table created elsewhere against (`ownership`), and what
//! `migrate check` compares a database against the migrations' own result.
//!
//! Keys are compared by what they cover (columns, uniqueness, the referenced table
//! and columns), never by name: a table created elsewhere names its keys its own way
//! (`nodes_label_name_key`).

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};

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

/// PostgreSQL: the column names of an `int2[]` of attribute numbers, in order.
const PG_COLUMN_NAMES: &str = "array_to_string(ARRAY(SELECT a.attname::text \
     FROM unnest({keys}) WITH ORDINALITY AS k(attnum, ord) \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.attnum \
     ORDER BY k.ord), ',')";

fn pg_column_names(keys: &str, relation: &str) -> String {
    PG_COLUMN_NAMES
        .replace("{keys}", keys)
        .replace("{relation}", relation)
}

/// The indexes of `table` (in the current schema on PostgreSQL, the current database on
/// MySQL), primary key aside.
pub async fn indexes<C: ConnectionTrait>(db: &C, table: &str) -> Result<Vec<IndexInfo>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT i.relname::text AS name, ix.indisunique AS is_unique, {} AS columns \
             FROM pg_catalog.pg_index ix JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
             WHERE ix.indrelid = to_regclass(quote_ident($1)) AND NOT ix.indisprimary \
             ORDER BY 1",
            pg_column_names("ix.indkey::int2[]", "ix.indrelid")
        ),
        DbBackend::MySql => {
            "SELECT CAST(index_name AS CHAR) AS name, MIN(non_unique) = 0 AS is_unique, \
             CAST(GROUP_CONCAT(column_name ORDER BY seq_in_index) AS CHAR) AS columns \
             FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name <> 'PRIMARY' \
             GROUP BY index_name ORDER BY 1"
                .to_string()
        }
        _ => "SELECT il.name AS name, il.\"unique\" = 1 AS is_unique, \
              (SELECT group_concat(ii.name, ',') FROM pragma_index_info(il.name) ii) AS columns \
              FROM pragma_index_list(?) il WHERE il.origin <> 'pk' ORDER BY 1"
            .to_string(),
    };
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

/// The foreign keys of `table` (in the current schema on PostgreSQL).
pub async fn foreign_keys<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<Vec<ForeignKeyInfo>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT c.conname::text AS name, {} AS columns, r.relname::text AS referenced_table, \
             {} AS referenced_columns \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.confrelid \
             WHERE c.contype = 'f' AND c.conrelid = to_regclass(quote_ident($1)) ORDER BY 1",
            pg_column_names("c.conkey", "c.conrelid"),
            pg_column_names("c.confkey", "c.confrelid")
        ),
        DbBackend::MySql => "SELECT CAST(constraint_name AS CHAR) AS name, \
             CAST(GROUP_CONCAT(column_name ORDER BY ordinal_position) AS CHAR) AS columns, \
             CAST(referenced_table_name AS CHAR) AS referenced_table, \
             CAST(GROUP_CONCAT(referenced_column_name ORDER BY ordinal_position) AS CHAR) AS referenced_columns \
             FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND table_name = ? AND referenced_table_name IS NOT NULL \
             GROUP BY constraint_name, referenced_table_name ORDER BY 1"
            .to_string(),
        // One row per key: its column pairs, in order.
        _ => "SELECT '' AS name, group_concat(\"from\", ',') AS columns, \
              \"table\" AS referenced_table, coalesce(group_concat(\"to\", ','), '') AS referenced_columns \
              FROM (SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq) GROUP BY id ORDER BY id"
            .to_string(),
    };
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
